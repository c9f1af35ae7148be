/**
 * Prediction runs: output in input order with `output` set as IEPile writes it, resumption after
 * a real kill (SIGKILL at random moments) with no lost and no duplicated record, torn lines,
 * duplicate inputs, error records and their retry, and the OpenAI-compatible client against a
 * loopback server (retries, Retry-After, timeouts, refusals, request shape).
 */

import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { FatalPredictionError, type Predictor, prepareResume, runPredictions } from "../infer/predict/mod.ts";
import { OpenAiPredictor } from "../infer/predict/openai.ts";
import { closeLongestFit, wellFormed } from "../infer/decode/closing.ts";
import { JsonShapeMatcher, shapeForSchema } from "../infer/constrain/mod.ts";
import { tempDir } from "./_shared.ts";

function testRecords(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    // Records 3 and 7 repeat record 1 exactly (same id and instruction): each must be predicted once per copy.
    const k = i === 3 || i === 7 ? 1 : i;
    lines.push(
      JSON.stringify({
        id: `id${k}`,
        task: "NER",
        instruction: `{"schema": ["p"], "input": "text ${k}"}`,
        label: "[]",
      }),
    );
  }
  return lines.join("\n") + "\n";
}

/** A predictor whose answer is derived from the record, so every output line can be checked. */
const echo = (delay = 0): Predictor => ({
  concurrency: 1,
  predict: async ({ record }) => {
    if (delay) await new Promise((r) => setTimeout(r, delay));
    return { output: `{"p": ["${String(record.id)}"]}`, completionTokens: 3 };
  },
});

function checkComplete(input: string, output: string): void {
  const want = input.trim().split("\n").map((l) => JSON.parse(l));
  const got = output.trim().split("\n").map((l) => JSON.parse(l));
  equal(got.length, want.length, "one output line per input record");
  got.forEach((g, i) => {
    deepEqual(Object.keys(g), ["id", "task", "instruction", "label", "output"]);
    equal(g.id, want[i].id);
    equal(g.instruction, want[i].instruction);
    equal(g.output, `{"p": ["${want[i].id}"]}`);
  });
}

Deno.test("a run writes every record in input order with output last, Python-style", async () => {
  await using tmp = await tempDir();
  const input = testRecords(10);
  await Deno.writeTextFile(`${tmp.dir}/test.json`, input);
  const s = await runPredictions({ input: `${tmp.dir}/test.json`, output: `${tmp.dir}/pred.json`, predictor: echo() });
  equal(s.predicted, 10);
  equal(s.completionTokens, 30);
  const text = await Deno.readTextFile(`${tmp.dir}/pred.json`);
  checkComplete(input, text);
  ok(
    text.startsWith(
      '{"id": "id0", "task": "NER", "instruction": "{\\"schema\\": [\\"p\\"], \\"input\\": \\"text 0\\"}", "label": "[]", "output": ',
    ),
  );
  // An existing output field is replaced in place, as IEPile's inference.py does.
  await Deno.writeTextFile(`${tmp.dir}/with_output.json`, '{"id": "a", "output": "old", "instruction": "i"}\n');
  await runPredictions({ input: `${tmp.dir}/with_output.json`, output: `${tmp.dir}/p2.json`, predictor: echo() });
  equal(
    await Deno.readTextFile(`${tmp.dir}/p2.json`),
    '{"id": "a", "output": "{\\"p\\": [\\"a\\"]}", "instruction": "i"}\n',
  );
});

Deno.test("concurrent predictions finish out of order but are written in input order", async () => {
  await using tmp = await tempDir();
  const input = testRecords(40);
  await Deno.writeTextFile(`${tmp.dir}/test.json`, input);
  let x = 3;
  const predictor: Predictor = {
    concurrency: 6,
    predict: async ({ record }) => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      await new Promise((r) => setTimeout(r, x % 15));
      return { output: `{"p": ["${String(record.id)}"]}` };
    },
  };
  await runPredictions({ input: `${tmp.dir}/test.json`, output: `${tmp.dir}/pred.json`, predictor, flushEvery: 3 });
  checkComplete(input, await Deno.readTextFile(`${tmp.dir}/pred.json`));
});

Deno.test("killed at random moments (SIGKILL) and started again: nothing lost, nothing duplicated", async () => {
  await using tmp = await tempDir();
  const input = testRecords(100);
  await Deno.writeTextFile(`${tmp.dir}/test.json`, input);
  const script = `${tmp.dir}/run.ts`;
  const mod = new URL("../infer/predict/run.ts", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { runPredictions } from "${mod}";
const predictor = { concurrency: 3, predict: async ({ record }) => {
  await new Promise((r) => setTimeout(r, 10));
  return { output: '{"p": ["' + record.id + '"]}' };
} };
await runPredictions({ input: Deno.args[0], output: Deno.args[1], predictor, flushEvery: 2 });
`,
  );
  // Kill each run once the file holds one more record than before, a little later each round, so
  // kills land at different points of predicting and writing; until a run completes.
  let kills = 0;
  const countLines = async () =>
    (await Deno.readTextFile(`${tmp.dir}/pred.json`).catch(() => "")).split("\n").length - 1;
  for (let round = 0; round < 40; round++) {
    const target = (await countLines()) + 1;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, `${tmp.dir}/test.json`, `${tmp.dir}/pred.json`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    let exited = false;
    const status = child.status.then((s) => (exited = true, s));
    while (!exited) {
      await new Promise((r) => setTimeout(r, 2));
      if (!exited && (await countLines()) >= target) {
        await new Promise((r) => setTimeout(r, round % 13));
        try {
          child.kill("SIGKILL");
          kills++;
        } catch { /* finished meanwhile */ }
        break;
      }
    }
    if ((await status).success) break;
  }
  console.log(`killed ${kills} times before a run finished`);
  ok(kills > 0, "the run was killed at least once");
  // Whatever the last kill left, one more run completes the file exactly.
  const s = await runPredictions({ input: `${tmp.dir}/test.json`, output: `${tmp.dir}/pred.json`, predictor: echo() });
  equal(s.skipped + s.predicted, 100);
  checkComplete(input, await Deno.readTextFile(`${tmp.dir}/pred.json`));
});

Deno.test("a torn last line is cut off and its record redone", async () => {
  await using tmp = await tempDir();
  const input = testRecords(5);
  await Deno.writeTextFile(`${tmp.dir}/test.json`, input);
  await runPredictions({ input: `${tmp.dir}/test.json`, output: `${tmp.dir}/pred.json`, predictor: echo(), limit: 3 });
  const text = await Deno.readTextFile(`${tmp.dir}/pred.json`);
  const lines = text.trim().split("\n");
  await Deno.writeTextFile(`${tmp.dir}/pred.json`, lines.slice(0, 2).join("\n") + "\n" + lines[2].slice(0, 25));
  const s = await runPredictions({ input: `${tmp.dir}/test.json`, output: `${tmp.dir}/pred.json`, predictor: echo() });
  ok(s.repairedTail);
  equal(s.skipped, 2);
  equal(s.predicted, 3);
  checkComplete(input, await Deno.readTextFile(`${tmp.dir}/pred.json`));
});

Deno.test("failed predictions are written with an error field, counted, and redone with retryErrors", async () => {
  await using tmp = await tempDir();
  const input = testRecords(6);
  await Deno.writeTextFile(`${tmp.dir}/test.json`, input);
  const flaky: Predictor = {
    concurrency: 1,
    predict: ({ record }) => {
      if (record.id === "id2") return Promise.reject(new Error("prompt too long: 900 > 512 tokens"));
      return echo().predict({ record, line: 0 }, new AbortController().signal);
    },
  };
  const s = await runPredictions({ input: `${tmp.dir}/test.json`, output: `${tmp.dir}/pred.json`, predictor: flaky });
  equal(s.errors, 1);
  deepEqual(s.firstError, { line: 3, message: "prompt too long: 900 > 512 tokens" });
  const bad = (await Deno.readTextFile(`${tmp.dir}/pred.json`)).split("\n")[2];
  deepEqual(JSON.parse(bad).error, "prompt too long: 900 > 512 tokens");
  equal(JSON.parse(bad).output, "");
  // Without retryErrors the record counts as done; with it, it is predicted again.
  equal(
    (await runPredictions({ input: `${tmp.dir}/test.json`, output: `${tmp.dir}/pred.json`, predictor: echo() }))
      .predicted,
    0,
  );
  const again = await runPredictions({
    input: `${tmp.dir}/test.json`,
    output: `${tmp.dir}/pred.json`,
    predictor: echo(),
    retryErrors: true,
  });
  equal(again.retried, 1);
  equal(again.predicted, 1);
  const final = (await Deno.readTextFile(`${tmp.dir}/pred.json`)).trim().split("\n").map((l) => JSON.parse(l));
  equal(final.length, 6);
  ok(final.every((r) => r.error === undefined));
});

Deno.test("a fatal predictor error stops the run at once; an output it created and left empty is removed", async () => {
  await using tmp = await tempDir();
  await Deno.writeTextFile(`${tmp.dir}/test.json`, testRecords(10));
  let calls = 0;
  const failAt = (n: number): Predictor => ({
    concurrency: 2,
    predict: ({ record }) => {
      if (++calls >= n) return Promise.reject(new FatalPredictionError("cannot reach the server"));
      return echo().predict({ record, line: 0 }, new AbortController().signal);
    },
  });
  const run = (p: Predictor) =>
    runPredictions({ input: `${tmp.dir}/test.json`, output: `${tmp.dir}/pred.json`, predictor: p });
  await rejects(run(failAt(1)), FatalPredictionError);
  ok(calls <= 2, `${calls} predictions tried`);
  await rejects(Deno.stat(`${tmp.dir}/pred.json`), Deno.errors.NotFound);
  calls = 0;
  await rejects(run(failAt(4)), /cannot reach the server/);
  ok(calls <= 5, `${calls} predictions tried`);
  const kept = (await Deno.readTextFile(`${tmp.dir}/pred.json`)).trim().split("\n");
  ok(kept.length >= 1 && kept.length <= 3 && kept.every((l) => !l.includes('"error"')), "no error records written");
});

Deno.test("beforeFirstWrite runs once, before the first record, and never for a run that writes none", async () => {
  await using tmp = await tempDir();
  await Deno.writeTextFile(`${tmp.dir}/test.json`, testRecords(5));
  const output = `${tmp.dir}/pred.json`;
  const seen: number[] = [];
  const before = async () => {
    seen.push((await Deno.stat(output).catch(() => undefined))?.size ?? -1);
  };
  const run = (predictor: Predictor, limit?: number) =>
    runPredictions({ input: `${tmp.dir}/test.json`, output, predictor, limit, beforeFirstWrite: before });
  const fatal: Predictor = { concurrency: 1, predict: () => Promise.reject(new FatalPredictionError("no server")) };
  await rejects(run(fatal), /no server/);
  deepEqual(seen, [], "a run that failed before its first record");
  await run({ ...echo(), concurrency: 2 }, 3);
  deepEqual(seen, [0], "once, before anything was written");
  await run(echo(), 3);
  deepEqual(seen, [0], "a run with nothing left to do");
  const failing = () => Promise.reject(new Error("cannot write the run file"));
  await rejects(
    runPredictions({ input: `${tmp.dir}/test.json`, output, predictor: echo(), beforeFirstWrite: failing }),
    /cannot write the run file/,
  );
  equal((await Deno.readTextFile(output)).trim().split("\n").length, 3, "nothing written after the hook failed");
  await rejects(
    runPredictions({
      input: `${tmp.dir}/test.json`,
      output: `${tmp.dir}/new.json`,
      predictor: echo(),
      beforeFirstWrite: failing,
    }),
    /cannot write the run file/,
  );
  await rejects(Deno.stat(`${tmp.dir}/new.json`), Deno.errors.NotFound, "no empty output left");
});

Deno.test("output to a function (standard output): every record, in order, no resume", async () => {
  await using tmp = await tempDir();
  const input = testRecords(5);
  await Deno.writeTextFile(`${tmp.dir}/test.json`, input);
  let text = "";
  const s = await runPredictions({ input: `${tmp.dir}/test.json`, output: (t) => text += t, predictor: echo() });
  equal(s.predicted, 5);
  checkComplete(input, text);
  equal([...Deno.readDirSync(tmp.dir)].length, 1, "no file written");
});

Deno.test("OpenAI-compatible client: nothing listening stops at once; a restart mid-run is retried", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const signal = new AbortController().signal;
  const start = performance.now();
  const p = new OpenAiPredictor({ baseUrl: `http://127.0.0.1:${port}/v1`, api: "completions", prompt: () => "q" });
  await rejects(
    p.predict({ record: {}, line: 1 }, signal),
    (e) => e instanceof FatalPredictionError && /cannot reach .*: connection refused; check --base-url/.test(e.message),
  );
  ok(performance.now() - start < 1000, "no retries");
  // Once the server has answered, a refused connection is a restart: retried.
  let calls = 0;
  const refused = () =>
    new TypeError("fetch failed", {
      cause: new Error("client error (Connect): tcp connect error: Connection refused (os error 111)"),
    });
  const fake: typeof fetch = () => {
    calls++;
    if (calls === 2 || calls === 3) return Promise.reject(refused());
    return Promise.resolve(Response.json({ choices: [{ text: "{}", finish_reason: "stop" }] }));
  };
  const q = new OpenAiPredictor({
    baseUrl: "http://x/v1",
    model: "m",
    api: "completions",
    prompt: () => "q",
    fetch: fake,
    backoffMs: 1,
  });
  equal((await q.predict({ record: {}, line: 1 }, signal)).output, "{}");
  equal((await q.predict({ record: {}, line: 2 }, signal)).output, "{}");
  equal(calls, 4);
  // Before any answer, the same error is fatal.
  const first = new OpenAiPredictor({
    baseUrl: "http://x/v1",
    model: "m",
    api: "completions",
    prompt: () => "q",
    fetch: () => Promise.reject(refused()),
    backoffMs: 1,
  });
  await rejects(first.predict({ record: {}, line: 1 }, signal), FatalPredictionError);
});

Deno.test("a malformed prediction file or input line is an error naming the line", async () => {
  await using tmp = await tempDir();
  await Deno.writeTextFile(`${tmp.dir}/pred.json`, "not json\n{}\n");
  await rejects(() => prepareResume(`${tmp.dir}/pred.json`), /pred\.json:1: not a JSON object/);
  await Deno.writeTextFile(`${tmp.dir}/test.json`, '{"id": "1", "instruction": "x"}\n[1]\n');
  await rejects(
    () => runPredictions({ input: `${tmp.dir}/test.json`, output: `${tmp.dir}/p.json`, predictor: echo() }),
    /test\.json:2: a record must be a JSON object/,
  );
});

Deno.test("OpenAI-compatible client against a loopback server", async (t) => {
  const seen: Array<{ path: string; auth: string | null; body: Record<string, unknown> }> = [];
  let mode = "ok";
  let calls = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    calls++;
    const body = req.method === "POST" ? await req.json() : {};
    seen.push({ path, auth: req.headers.get("authorization"), body });
    if (path === "/v1/models") return Response.json({ data: [{ id: "tiny" }] });
    if (mode === "429" && calls < 3) {
      return new Response("slow down", { status: 429, headers: { "retry-after": "0.01" } });
    }
    if (mode === "500") return Response.json({ error: { message: "engine crashed" } }, { status: 500 });
    if (mode === "400") return Response.json({ error: { message: "prompt too long" } }, { status: 400 });
    if (mode === "hang") await new Promise((r) => setTimeout(r, 300));
    const text = `{"p": ["${(body.prompt ?? (body.messages as Array<{ content: string }>)[0].content) as string}"]}`;
    return Response.json(
      path === "/v1/completions"
        ? { choices: [{ text, finish_reason: "stop" }], usage: { prompt_tokens: 4, completion_tokens: 6 } }
        : { choices: [{ message: { role: "assistant", content: text }, finish_reason: "stop" }] },
    );
  });
  const baseUrl = `http://127.0.0.1:${server.addr.port}/v1`;
  const signal = new AbortController().signal;
  const make = (extra: Partial<ConstructorParameters<typeof OpenAiPredictor>[0]> = {}) =>
    new OpenAiPredictor({
      baseUrl,
      apiKey: "k",
      api: "completions",
      prompt: (r) => String(r.id),
      backoffMs: 1,
      retries: 3,
      ...extra,
    });
  try {
    await t.step("completions with the model from /models, the key, and a response_format schema", async () => {
      const p = make({ responseSchema: () => ({ type: "object" }) });
      const out = await p.predict({ record: { id: "x" }, line: 1 }, signal);
      equal(out.output, '{"p": ["x"]}');
      equal(out.promptTokens, 4);
      const post = seen.find((s) => s.path === "/v1/completions")!;
      equal(post.auth, "Bearer k");
      deepEqual(post.body, {
        model: "tiny",
        max_tokens: 300,
        temperature: 0,
        response_format: {
          type: "json_schema",
          json_schema: { name: "ie_answer", strict: true, schema: { type: "object" } },
        },
        prompt: "x",
      });
    });
    await t.step("chat messages", async () => {
      const out = await make({ api: "chat", model: "tiny" }).predict({ record: { id: "y" }, line: 1 }, signal);
      equal(out.output, '{"p": ["y"]}');
      deepEqual(seen.at(-1)!.body.messages, [{ role: "user", content: "y" }]);
    });
    await t.step("429 with Retry-After is retried", async () => {
      mode = "429";
      calls = 0;
      equal((await make({ model: "tiny" }).predict({ record: { id: "z" }, line: 1 }, signal)).output, '{"p": ["z"]}');
      equal(calls, 3);
    });
    await t.step("a 5xx that persists fails after the retries; a 400 fails at once", async () => {
      mode = "500";
      calls = 0;
      await rejects(
        () => make({ model: "tiny" }).predict({ record: { id: "z" }, line: 1 }, signal),
        /HTTP 500: engine crashed \(after 3 retries\)/,
      );
      equal(calls, 4);
      mode = "400";
      calls = 0;
      await rejects(
        () => make({ model: "tiny" }).predict({ record: { id: "z" }, line: 1 }, signal),
        /HTTP 400: prompt too long$/,
      );
      equal(calls, 1);
    });
    await t.step("timeouts are retried, then reported", async () => {
      mode = "hang";
      await rejects(
        () => make({ model: "tiny", timeoutMs: 50, retries: 1 }).predict({ record: { id: "z" }, line: 1 }, signal),
        /timed out \(after 1 retries\)/,
      );
    });
    await t.step("a whole run through the client, 4 requests at a time", async () => {
      mode = "ok";
      await using tmp = await tempDir();
      const input = testRecords(12);
      await Deno.writeTextFile(`${tmp.dir}/test.json`, input);
      const s = await runPredictions({
        input: `${tmp.dir}/test.json`,
        output: `${tmp.dir}/pred.json`,
        predictor: make({ model: "tiny", concurrency: 4 }),
      });
      equal(s.predicted, 12);
      checkComplete(input, await Deno.readTextFile(`${tmp.dir}/pred.json`));
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("a stopped run writes only whole records in order, counts what it wrote, and resumes", async () => {
  await using tmp = await tempDir();
  const input = testRecords(30);
  await Deno.writeTextFile(`${tmp.dir}/test.json`, input);
  const controller = new AbortController();
  let calls = 0;
  const slow: Predictor = {
    concurrency: 3,
    predict: ({ record }, signal) =>
      new Promise((resolve, reject) => {
        if (++calls === 7) setTimeout(() => controller.abort(), 5);
        const t = setTimeout(() => resolve({ output: `{"p": ["${String(record.id)}"]}`, completionTokens: 1 }), 10);
        signal.addEventListener("abort", () => (clearTimeout(t), reject(new Error("stopped"))), { once: true });
      }),
  };
  const s = await runPredictions({
    input: `${tmp.dir}/test.json`,
    output: `${tmp.dir}/pred.json`,
    predictor: slow,
    signal: controller.signal,
  });
  ok(s.interrupted);
  const written = (await Deno.readTextFile(`${tmp.dir}/pred.json`)).trim().split("\n").filter((l) => l !== "");
  equal(s.predicted, written.length, "the summary counts exactly the written records");
  ok(written.length < 30);
  written.forEach((l, i) => equal(JSON.parse(l).id, JSON.parse(input.split("\n")[i]).id));
  const rest = await runPredictions({
    input: `${tmp.dir}/test.json`,
    output: `${tmp.dir}/pred.json`,
    predictor: echo(),
  });
  equal(rest.skipped, written.length);
  checkComplete(input, await Deno.readTextFile(`${tmp.dir}/pred.json`));
  // A signal that is already aborted stops the run before any prediction.
  const none = await runPredictions({
    input: `${tmp.dir}/test.json`,
    output: `${tmp.dir}/other.json`,
    predictor: echo(),
    signal: AbortSignal.abort(),
  });
  equal(none.predicted, 0);
  ok(none.interrupted);
});

Deno.test("resume matches records whose id or fields are numbers Python keeps apart (1.0, big ints, NaN)", async () => {
  await using tmp = await tempDir();
  const lines = [
    '{"id": 2.0, "instruction": "a", "x": NaN}',
    '{"id": 2, "instruction": "a"}',
    '{"id": 12345678901234567890, "instruction": "b"}',
    '{"id": 12345678901234567891, "instruction": "b"}',
  ];
  await Deno.writeTextFile(`${tmp.dir}/test.json`, lines.join("\n") + "\n");
  const predictor: Predictor = { concurrency: 1, predict: () => Promise.resolve({ output: "{}" }) };
  const first = await runPredictions({
    input: `${tmp.dir}/test.json`,
    output: `${tmp.dir}/pred.json`,
    predictor,
    limit: 3,
  });
  equal(first.predicted, 3);
  const again = await runPredictions({ input: `${tmp.dir}/test.json`, output: `${tmp.dir}/pred.json`, predictor });
  equal(again.skipped, 3);
  equal(again.predicted, 1);
  const out = (await Deno.readTextFile(`${tmp.dir}/pred.json`)).trim().split("\n");
  deepEqual(out, lines.map((l) => l.replace(/}$/, ', "output": "{}"}')));
});

Deno.test("a cut answer whose bytes stop fitting the shape (llama.cpp's looser UTF-8) is still closed", () => {
  // llama.cpp's grammar reads a character's length from its first byte and takes the next bytes
  // whatever they are: after the lead byte E4, the quote and "x" are one character to it, and
  // the string goes on. As UTF-8, E4 is ill-formed (U+FFFD) and the quote ends the string, so the
  // "x" after it fits no JSON.
  const m = new JsonShapeMatcher(shapeForSchema("NER", ["person", "place"]));
  const enc = new TextEncoder();
  const raw = new Uint8Array([
    ...enc.encode('{"person": ["ab'),
    0xe4,
    ...enc.encode('"x", "Ann"], "place": ["Oslo"]}'),
  ]);
  equal(m.feed(m.start(), wellFormed(raw)), undefined, "the whole answer does not fit the shape");
  const closed = closeLongestFit(m, wellFormed(raw));
  equal(closed.text, '{"person": ["ab\uFFFD"], "place": []}');
  equal(closed.closing, '], "place": []}');
  // Every cut of it closes into JSON with exactly the asked keys, in well-formed UTF-8.
  const strict = new TextDecoder("utf-8", { fatal: true });
  for (let cut = 0; cut <= raw.length; cut++) {
    const { text } = closeLongestFit(m, wellFormed(raw.subarray(0, cut)));
    strict.decode(enc.encode(text));
    deepEqual(Object.keys(JSON.parse(text)), ["person", "place"], `cut at ${cut}: ${text}`);
  }
});
