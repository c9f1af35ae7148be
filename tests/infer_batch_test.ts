/**
 * Batched decoding: the {@linkcode StepBatcher} (rounds wait for every active session, single
 * tokens go through `Engine.forwardBatch` where the engine has it, a leaving session or a failing
 * step blocks nobody), `LocalGenerator` with a batch, and `infer --batch N` end to end on the
 * bundled data: byte-identical prediction files to `--batch 1` on cpu and webgpu, and a stopped
 * `--batch 4` run continued to the uninterrupted run's file. Also `serve --batch 2`: two
 * requests decoded at once, answered as one at a time.
 */

import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { writeDemoModel } from "../scripts/demo_model.ts";
import { argmax } from "../infer/engine/engine.ts";
import { isSoftwareAdapter } from "../infer/engine/webgpu/adapter.ts";
import {
  type BatchStep,
  CpuEngine,
  type Engine,
  loadModel,
  LocalGenerator,
  type Session,
  shapeForInstruction,
  StepBatcher,
  webGpuAvailable,
  WorkerGenerator,
} from "../infer/mod.ts";
import { writeRandomModel } from "../infer/testing/mod.ts";
import { NO_EOS_MODEL } from "./_no_eos_model.ts";
import { runServe } from "../infer/cli/mod.ts";
import { loadTokenizer, PromptRenderer, queryOf } from "../templates/mod.ts";
import { runCli, skipNotice, tempDir } from "./_shared.ts";

const DATA = new URL("../data/", import.meta.url).pathname;
const MOD = new URL("../mod.ts", import.meta.url).pathname;
const HAVE_GPU = await webGpuAvailable();
/** Whether the adapter the engine takes computes on the CPU (llvmpipe here). */
const SOFTWARE_GPU = HAVE_GPU &&
  isSoftwareAdapter((await navigator.gpu.requestAdapter({ powerPreference: "high-performance" }))?.info);
if (!HAVE_GPU) skipNotice(import.meta.url, "infer --batch on webgpu", "no WebGPU adapter here");

// ---------------------------------------------------------------------------------------------
// A fake engine: logits a function of the session's tokens, every call recorded.

const VOCAB = 8;

/** The logits after `tokens`: a sum of the tokens picks the top id. */
function fakeLogits(tokens: readonly number[]): Float32Array {
  const l = new Float32Array(VOCAB);
  const top = tokens.reduce((a, b) => a + b, 0) % VOCAB;
  l[top] = 1;
  return l;
}

interface Call {
  readonly kind: "forward" | "greedy" | "batch";
  readonly sessions: readonly number[];
  readonly tokens: readonly number[];
}

/** An engine whose sessions are numbered; `batch` gives it a `forwardBatch`; `fail` fails a token. */
function fakeEngine(options: { batch: boolean; failToken?: number }): { engine: Engine; calls: Call[] } {
  const calls: Call[] = [];
  const ids = new Map<Session, number>();
  let next = 0;
  const append = (s: { tokens: number[] }, t: readonly number[]) => {
    if (t.includes(options.failToken ?? -1)) throw new Error(`token ${options.failToken} fails`);
    s.tokens.push(...t);
    return fakeLogits(s.tokens);
  };
  const engine: Engine = {
    name: "fake",
    spec: {} as Engine["spec"],
    contextSize: 64,
    createSession(): Session {
      const state = { tokens: [] as number[] };
      const session: Session = {
        get tokens() {
          return state.tokens;
        },
        contextSize: 64,
        forward: (t) => {
          calls.push({ kind: "forward", sessions: [ids.get(session)!], tokens: [...t] });
          return Promise.resolve().then(() => append(state, t));
        },
        forwardAll: () => Promise.reject(new Error("not used")),
        forwardGreedy: (t) => {
          calls.push({ kind: "greedy", sessions: [ids.get(session)!], tokens: [...t] });
          return Promise.resolve().then(() => argmax(append(state, t)));
        },
        truncate: (n) => void (state.tokens.length = n),
        reusePrefix: () => 0,
        fork: () => session,
        dispose: () => {},
      };
      ids.set(session, next++);
      return session;
    },
    forwardBatch: options.batch
      ? (steps: readonly BatchStep[]) => {
        calls.push({
          kind: "batch",
          sessions: steps.map((s) => ids.get(s.session)!),
          tokens: steps.map((s) => s.token),
        });
        if (steps.some((s) => s.token === options.failToken)) {
          return Promise.reject(new Error(`token ${options.failToken} fails`));
        }
        return Promise.resolve(steps.map((s) => append(s.session as unknown as { tokens: number[] }, [s.token])));
      }
      : undefined,
    dispose: () => {},
  };
  // forwardBatch appends to a fake session's state through its `tokens` getter (the same array).
  return { engine, calls };
}

Deno.test("StepBatcher: a round waits for every active session; single tokens go through forwardBatch together", async () => {
  const { engine, calls } = fakeEngine({ batch: true });
  const batcher = new StepBatcher(engine);
  const [a, b, c] = [batcher.createSession(), batcher.createSession(), batcher.createSession()];
  a.enter(), b.enter(), c.enter();
  let aDone = false;
  const pa = a.forward([1, 2]).then((l) => (aDone = true, l));
  await new Promise((r) => setTimeout(r, 5));
  equal(aDone, false, "the round waits for b and c");
  const pb = b.forwardGreedy([3]);
  const pc = c.forward([4]);
  const [la, gb, lc] = await Promise.all([pa, pb, pc]);
  deepEqual([...la], [...fakeLogits([1, 2])]);
  equal(gb, argmax(fakeLogits([3])));
  deepEqual([...lc], [...fakeLogits([4])]);
  // The prompt alone, then b and c in one batch.
  deepEqual(calls, [
    { kind: "forward", sessions: [0], tokens: [1, 2] },
    { kind: "batch", sessions: [1, 2], tokens: [3, 4] },
  ]);
  // Next round: all three single tokens together.
  calls.length = 0;
  const r = await Promise.all([a.forwardGreedy([5]), b.forward([6]), c.forwardGreedy([7])]);
  deepEqual(calls, [{ kind: "batch", sessions: [0, 1, 2], tokens: [5, 6, 7] }]);
  equal(r[0], argmax(fakeLogits([1, 2, 5])));
  deepEqual(a.tokens, [1, 2, 5]);
  deepEqual(b.tokens, [3, 6]);
  a.leave(), b.leave(), c.leave();
  equal(batcher.stats.batched, 5);
});

Deno.test("StepBatcher without forwardBatch: the same logits, sessions stepped one at a time with their own calls", async () => {
  const { engine, calls } = fakeEngine({ batch: false });
  const batcher = new StepBatcher(engine);
  const [a, b] = [batcher.createSession(), batcher.createSession()];
  a.enter(), b.enter();
  const [ga, lb] = await Promise.all([a.forwardGreedy([1]), b.forward([2])]);
  equal(ga, argmax(fakeLogits([1])));
  deepEqual([...lb], [...fakeLogits([2])]);
  deepEqual(calls, [
    { kind: "greedy", sessions: [0], tokens: [1] },
    { kind: "forward", sessions: [1], tokens: [2] },
  ]);
  a.leave(), b.leave();
});

Deno.test("StepBatcher: a session leaving with nothing queued, or never stepping, blocks no one", async () => {
  const { engine } = fakeEngine({ batch: true });
  const batcher = new StepBatcher(engine);
  const [a, b] = [batcher.createSession(), batcher.createSession()];
  a.enter(), b.enter();
  const pa = a.forward([1]);
  setTimeout(() => b.leave(), 5); // b never steps (an aborted request) and leaves
  deepEqual([...await pa], [...fakeLogits([1])]);
  // An inactive session's step joins the next round (it enters and leaves around it).
  const lone = batcher.createSession();
  const pl = lone.forward([2, 3]);
  const pa2 = a.forward([4]);
  deepEqual([...await pl], [...fakeLogits([2, 3])]);
  await pa2;
  a.leave();
  equal(batcher.active, 0);
  deepEqual([...await lone.forward([1])], [...fakeLogits([2, 3, 1])], "alone: a round of its own");
  // A session disposed while active leaves too.
  const c = batcher.createSession();
  c.enter();
  c.dispose();
  equal(batcher.active, 0);
});

Deno.test("StepBatcher: a failing step rejects its caller only; a failing batch, the steps in it", async () => {
  {
    const { engine } = fakeEngine({ batch: false, failToken: 6 });
    const batcher = new StepBatcher(engine);
    const [a, b] = [batcher.createSession(), batcher.createSession()];
    a.enter(), b.enter();
    const [ra, rb] = await Promise.allSettled([a.forward([6]), b.forward([2])]);
    equal(ra.status, "rejected");
    equal(rb.status, "fulfilled");
    // The batcher goes on.
    await Promise.all([a.forward([1]), b.forward([1])]);
    a.leave(), b.leave();
  }
  {
    const { engine } = fakeEngine({ batch: true, failToken: 6 });
    const batcher = new StepBatcher(engine);
    const [a, b, c] = [batcher.createSession(), batcher.createSession(), batcher.createSession()];
    a.enter(), b.enter(), c.enter();
    const settled = await Promise.allSettled([a.forward([6]), b.forward([2]), c.forward([1, 1])]);
    deepEqual(settled.map((s) => s.status), ["rejected", "rejected", "fulfilled"]);
    await rejects(Promise.all([a.forward([1]), b.forward([1]), c.forward([6, 6])]), /token 6 fails/);
    a.leave(), b.leave(), c.leave();
  }
});

/** A cpu engine with a `forwardBatch` that steps each session (what the wasm engine will do in one pass). */
function spyBatchEngine(engine: CpuEngine): { engine: Engine; batches: number[] } {
  const batches: number[] = [];
  return {
    batches,
    engine: {
      name: engine.name,
      spec: engine.spec,
      contextSize: engine.contextSize,
      createSession: (o) => engine.createSession(o),
      async forwardBatch(steps) {
        batches.push(steps.length);
        const out: Float32Array[] = [];
        for (const s of steps) out.push(await s.session.forward([s.token]));
        return out;
      },
      dispose: () => engine.dispose(),
    },
  };
}

Deno.test("LocalGenerator with a batch: the answers of batch 1, several records' tokens computed together", async () => {
  await using tmp = await tempDir();
  await Deno.mkdir(`${tmp.dir}/model`);
  await writeDemoModel(`${tmp.dir}/model`);
  await convert(tmp.dir, "NER");
  const tok = await loadTokenizer(`${tmp.dir}/model`);
  const renderer = new PromptRenderer({ template: "llama2_zh", tokenizer: tok, cutoffLen: 512, truncate: "input" });
  const recs = lines(await Deno.readTextFile(`${tmp.dir}/NER_test.json`));
  const requests = recs.map((rec) => {
    const prompt = renderer.render(queryOf(rec)).prompt;
    return {
      promptIds: prompt.ids!,
      maxNewTokens: 24,
      stopIds: prompt.stopIds,
      shape: shapeForInstruction(rec.task, rec.instruction).shape,
    };
  });
  const model = await loadModel(`${tmp.dir}/model`);
  const one = new LocalGenerator(new CpuEngine(model), tok);
  const want = [];
  for (const r of requests) want.push((await one.complete(r)).text);
  await one.close();
  const spy = spyBatchEngine(new CpuEngine(model));
  const four = new LocalGenerator(spy.engine, tok, { batch: 4 });
  const got = await Promise.all(requests.map((r) => four.complete(r)));
  await four.close();
  deepEqual(got.map((r) => r.text), want);
  ok(Math.max(...spy.batches) >= 2, `batches of ${spy.batches.join(",")}`);
});

Deno.test("WorkerGenerator with a batch of 2: requests stream interleaved, answers as alone, a cancel stops one only", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, NO_EOS_MODEL);
  const worker = await WorkerGenerator.start({ model: tmp.dir, contextSize: 256, batch: 2 });
  try {
    equal(worker.batch, 2);
    const requests = [
      { promptIds: [1, 40, 41, 42], maxNewTokens: 24 },
      // Longer than the worker's prompt step: computed in parts.
      { promptIds: Array.from({ length: 150 }, (_, i) => 3 + (i * 37) % 500), maxNewTokens: 24 },
    ];
    const alone = [];
    for (const r of requests) alone.push(await worker.complete(r));
    const order: number[] = [];
    const together = await Promise.all(requests.map((r, i) => worker.complete({ ...r, onText: () => order.push(i) })));
    const answer = (r: { ids: number[]; text: string; finish: string }) => ({ ids: r.ids, text: r.text, f: r.finish });
    deepEqual(together.map(answer), alone.map(answer)); // the cache reused may differ
    const firstOfSecond = order.indexOf(1);
    ok(firstOfSecond >= 0 && firstOfSecond < order.lastIndexOf(0), `interleaved: ${order.join("")}`);
    // A cancel stops its own request; the other runs to its end.
    const stop = new AbortController();
    let deltas = 0;
    const cancelled = worker.complete({
      promptIds: [1, 60],
      maxNewTokens: 200,
      signal: stop.signal,
      onText: () => deltas++ === 2 && stop.abort(new DOMException("client left", "AbortError")),
    });
    const other = worker.complete(requests[0]);
    await rejects(cancelled, (e) => (e as Error).message === "client left");
    deepEqual(answer(await other), answer(alone[0]));
    ok(deltas < 20, `${deltas} deltas after a cancel at the third`);
  } finally {
    await worker.close();
  }
});

// ---------------------------------------------------------------------------------------------
// The CLI on the bundled data.

function lines(text: string): Array<Record<string, string>> {
  return text.trim().split("\n").map((l) => JSON.parse(l));
}

async function convert(dir: string, task: string): Promise<void> {
  const r = await runCli([
    "convert",
    ...["--src_path", `${DATA}${task}/sample.json`, "--schema_path", `${DATA}${task}/schema.json`],
    ...["--tgt_path", `${dir}/${task}_test.json`, "--task", task, "--language", "en", "--split", "test"],
    ...["--split_num", "2", "--quiet"],
  ]);
  equal(r.code, 0, r.stderr);
}

/** The demo model, and the NER, RE and EE test records converted from the bundled data in one file. */
async function setup(dir: string): Promise<string> {
  await Deno.mkdir(`${dir}/model`);
  await writeDemoModel(`${dir}/model`);
  let all = "";
  for (const task of ["NER", "RE", "EE"]) {
    await convert(dir, task);
    all += await Deno.readTextFile(`${dir}/${task}_test.json`);
  }
  await Deno.writeTextFile(`${dir}/test.json`, all);
  return `${dir}/test.json`;
}

/** `infer` on the setup's records; `batch` undefined: the default, chosen from memory (logged unless `quiet`). */
function inferArgs(dir: string, engine: string, output: string, batch: number | undefined, quiet = true): string[] {
  return [
    "infer",
    ...["--model", `${dir}/model`, "--template", "llama2_zh", "--engine", engine],
    ...(batch === undefined ? [] : ["--batch", String(batch)]),
    ...["--input", `${dir}/test.json`, "--output", output, "--max-new-tokens", "40", ...(quiet ? ["--quiet"] : [])],
  ];
}

for (const engine of ["cpu", "webgpu"]) {
  Deno.test({
    name:
      `infer on ${engine}, its default batch (the most, for this small model): byte-identical prediction files to --batch 1 (greedy, constrained)`,
    ignore: engine === "webgpu" && !HAVE_GPU,
    async fn() {
      await using tmp = await tempDir();
      const input = await setup(tmp.dir);
      const one = await runCli(inferArgs(tmp.dir, engine, `${tmp.dir}/one.json`, 1, false));
      equal(one.code, 0, one.stderr);
      ok(!one.stderr.includes("batch:"), "a batch given is not logged");
      // --verbose: webgpu says which adapter it runs on, with its features and limits.
      const many = await runCli([...inferArgs(tmp.dir, engine, `${tmp.dir}/many.json`, undefined, false), "--verbose"]);
      equal(many.code, 0, many.stderr);
      // The demo model's caches are small: the default is the most (16 on the CPU and on a
      // software adapter). cpu: a record holds at most --cutoff-len 512 + --max-new-tokens 40 + 1
      // tokens; webgpu: its caches are made for the context size, which is that too here.
      const most = engine === "cpu" || SOFTWARE_GPU ? 16 : 32;
      ok(
        new RegExp(
          `(^|\n)batch: up to ${most} records at once \\(the default most; a 553-token cache ` +
            `takes \\d+ (K|M)iB; --batch N sets it\\)\n`,
        ).test(many.stderr),
        many.stderr,
      );
      if (engine === "webgpu") {
        ok(/WebGPU adapter: .*\nfeatures: .*\nlimits: maxBufferSize \d+/.test(many.stderr), many.stderr);
      } else ok(!many.stderr.includes("WebGPU adapter"), many.stderr);
      const want = await Deno.readTextFile(`${tmp.dir}/one.json`);
      equal(await Deno.readTextFile(`${tmp.dir}/many.json`), want);
      equal(lines(want).length, lines(await Deno.readTextFile(input)).length);
      ok(lines(want).length > 16, "more records than the batch: finished ones are replaced");
      // The run file does not record the batch: a run continued with another batch is not refused.
      const again = await runCli(inferArgs(tmp.dir, engine, `${tmp.dir}/many.json`, 3));
      equal(again.code, 0, again.stderr);
      equal(await Deno.readTextFile(`${tmp.dir}/many.json`), want);
    },
  });
}

Deno.test("infer --batch 4 killed part way and run again: the uninterrupted run's file", async () => {
  await using tmp = await tempDir();
  await setup(tmp.dir);
  const args = ["run", "-A", MOD, ...inferArgs(tmp.dir, "cpu", `${tmp.dir}/pred.json`, 4)];
  const countLines = async () =>
    (await Deno.readTextFile(`${tmp.dir}/pred.json`).catch(() => "")).split("\n").length - 1;
  const child = new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "null" }).spawn();
  let exited = false;
  const status = child.status.then((s) => (exited = true, s));
  while (!exited && (await countLines()) < 2) await new Promise((r) => setTimeout(r, 5));
  let killed = false;
  try {
    child.kill("SIGKILL");
    killed = true;
  } catch { /* finished meanwhile */ }
  await status;
  const before = await countLines();
  ok(killed && before >= 2, `killed after ${before} records`);
  const total = lines(await Deno.readTextFile(`${tmp.dir}/test.json`)).length;
  ok(before < total, `stopped part way: ${before} of ${total}`);
  const rest = await runCli(inferArgs(tmp.dir, "cpu", `${tmp.dir}/pred.json`, 4));
  equal(rest.code, 0, rest.stderr);
  const fresh = await runCli(inferArgs(tmp.dir, "cpu", `${tmp.dir}/fresh.json`, 4));
  equal(fresh.code, 0, fresh.stderr);
  equal(await Deno.readTextFile(`${tmp.dir}/pred.json`), await Deno.readTextFile(`${tmp.dir}/fresh.json`));
});

Deno.test("infer --batch with llamacpp or openai: refused in one line", async () => {
  await using tmp = await tempDir();
  await Deno.writeTextFile(`${tmp.dir}/t.json`, "");
  const r = await runCli([
    "infer",
    ...["--engine", "openai", "--base-url", "http://127.0.0.1:9/v1", "--batch", "4"],
    ...["--input", `${tmp.dir}/t.json`, "--output", `${tmp.dir}/p.json`],
  ]);
  equal(r.code, 2, r.stderr);
  equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  ok(r.stderr.includes("--concurrency"), r.stderr);
});

// ---------------------------------------------------------------------------------------------
// serve --batch 2.

/** POST a streaming completion; calls `onText` per text event; the joined text. */
async function streamed(url: string, body: Record<string, unknown>, onText: () => void): Promise<string> {
  const res = await fetch(`${url}/completions`, { method: "POST", body: JSON.stringify({ ...body, stream: true }) });
  equal(res.status, 200);
  let text = "";
  let buffer = "";
  for await (const piece of res.body!.pipeThrough(new TextDecoderStream())) {
    buffer += piece;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const data = buffer.slice(0, end).replace(/^data: /, "");
      buffer = buffer.slice(end + 2);
      const t = data === "[DONE]" ? "" : JSON.parse(data).choices[0]?.text ?? "";
      if (t !== "") text += t, onText();
    }
  }
  return text;
}

Deno.test("serve --batch 2: two requests decoded at once (their tokens stream interleaved), each answered as alone", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, NO_EOS_MODEL);
  const stop = new AbortController();
  let out = "";
  const started = Promise.withResolvers<string>();
  const code = runServe(
    ["--model", tmp.dir, "--template", "llama2_zh", "--engine", "cpu", "--port", "0", "--batch", "2"],
    { out: (t) => (out += t, out.includes("\n") && started.resolve(out.trim())), err: () => {} },
    stop.signal,
  );
  const url = await Promise.race([started.promise, code.then((c) => `exited ${c}`)]);
  ok(url.startsWith("http"), url);
  const model = tmp.dir.slice(tmp.dir.lastIndexOf("/") + 1);
  try {
    const body = (prompt: string) => ({ model, prompt, max_tokens: 200, temperature: 0 });
    const ask = async (prompt: string) => {
      const res = await fetch(`${url}/completions`, { method: "POST", body: JSON.stringify(body(prompt)) });
      equal(res.status, 200);
      return (await res.json()).choices[0].text as string;
    };
    const prompts = ["Alice met Bob in Paris.", "Rebels hit Homs on Monday."];
    const order: number[] = [];
    const together = await Promise.all(prompts.map((p, i) => streamed(url, body(p), () => order.push(i))));
    const firstOfSecond = order.indexOf(1);
    ok(firstOfSecond >= 0 && firstOfSecond < order.lastIndexOf(0), `interleaved: ${order.join("")}`);
    const alone = [];
    for (const p of prompts) alone.push(await ask(p));
    deepEqual(together, alone);
  } finally {
    stop.abort();
    equal(await code, 0);
  }
});

Deno.test("serve without --batch: as many requests at once as the engine's memory holds (the most here), said in one line", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, NO_EOS_MODEL);
  const stop = new AbortController();
  let out = "", err = "";
  const started = Promise.withResolvers<string>();
  const code = runServe(
    ["--model", tmp.dir, "--template", "llama2_zh", "--engine", "cpu", "--port", "0", "--context-size", "256"],
    { out: (t) => (out += t, out.includes("\n") && started.resolve(out.trim())), err: (t) => (err += t) },
    stop.signal,
  );
  const url = await Promise.race([started.promise, code.then((c) => `exited ${c}`)]);
  stop.abort();
  equal(await code, 0);
  ok(url.startsWith("http"), url);
  // A request may hold the whole context: each cache is counted at 256 tokens.
  ok(
    /\niepile serve: batch: up to 16 requests at once \(the default most; a 256-token cache takes \d+ (K|M)iB;/.test(
      `\n${err}`,
    ),
    err,
  );
});
