/**
 * `WorkerGenerator`: the CPU engine in a Web Worker gives the answers `LocalGenerator` gives on
 * this thread (streamed deltas included), stops a cancelled request before it is done, drops
 * one cancelled while it waits, brings a bad model folder's error back with its location, and
 * leaves nothing running once closed (these tests keep Deno's op and resource sanitizers on).
 */

import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { InputError } from "../io/errors.ts";
import { CpuEngine, loadModel, LocalGenerator, shapeForSchema, WorkerGenerator } from "../infer/mod.ts";
import { writeRandomModel } from "../infer/testing/mod.ts";
import { NO_EOS_MODEL } from "./_no_eos_model.ts";
import { loadTokenizer } from "../templates/mod.ts";
import { tempDir } from "./_shared.ts";

Deno.test("WorkerGenerator: the same answers as LocalGenerator, streamed per token", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, NO_EOS_MODEL);
  const local = new LocalGenerator(new CpuEngine(await loadModel(tmp.dir)), await loadTokenizer(tmp.dir));
  const worker = await WorkerGenerator.start({ model: tmp.dir, contextSize: 256 });
  try {
    equal(worker.contextSize, 256);
    equal(worker.spec.vocabSize, 512);
    equal(worker.engineName, "cpu");
    const shape = shapeForSchema("NER", ["person", "location"]);
    const requests = [
      { promptIds: [1, 40, 41, 42], maxNewTokens: 24 },
      { promptIds: [1, 40, 41, 42], maxNewTokens: 40, shape },
      { promptIds: [1, 50], maxNewTokens: 16, sampling: { temperature: 0.8, topP: 0.9 }, seed: 5 },
      // A prompt longer than the worker's prompt step (computed in several steps there).
      { promptIds: Array.from({ length: 150 }, (_, i) => 3 + (i * 37) % 500), maxNewTokens: 12 },
    ];
    for (const request of requests) {
      const want = await local.complete(request);
      const deltas: string[] = [];
      const got = await worker.complete({ ...request, onText: (t) => deltas.push(t) });
      deepEqual(got, want);
      equal(deltas.join(""), got.text);
      ok(deltas.length > 1, `${deltas.length} deltas`);
    }
  } finally {
    await worker.close();
  }
});

Deno.test("WorkerGenerator: a cancel stops the running request; one cancelled while waiting never runs", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, NO_EOS_MODEL);
  const worker = await WorkerGenerator.start({ model: tmp.dir });
  try {
    const stop = new AbortController();
    let deltas = 0;
    const running = worker.complete({
      promptIds: [1, 40],
      maxNewTokens: 1500,
      signal: stop.signal,
      onText: () => deltas++ === 2 && stop.abort(new DOMException("client left", "AbortError")),
    });
    const waiting = new AbortController();
    const queued = worker.complete({ promptIds: [1, 41], maxNewTokens: 1500, signal: waiting.signal });
    waiting.abort();
    await rejects(running, (e) => (e as Error).message === "client left");
    await rejects(queued, (e) => (e as Error).name === "AbortError");
    ok(deltas < 200, `${deltas} deltas after a cancel at the third`);
    // The engine is free and its session still right: the next answer equals a fresh engine's.
    const next = await worker.complete({ promptIds: [1, 40, 41], maxNewTokens: 8 });
    const fresh = new LocalGenerator(new CpuEngine(await loadModel(tmp.dir)), await loadTokenizer(tmp.dir));
    deepEqual(next.ids, (await fresh.complete({ promptIds: [1, 40, 41], maxNewTokens: 8 })).ids);
  } finally {
    await worker.close();
  }
  await rejects(worker.complete({ promptIds: [1], maxNewTokens: 1 }), /closed/);
});

Deno.test('WorkerGenerator with batch "auto": the worker chooses; with more cancel flags than the batch, a cancel stops one request only', async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, NO_EOS_MODEL);
  const worker = await WorkerGenerator.start({ model: tmp.dir, batch: "auto", sessionTokens: 64 });
  try {
    // A small model: the most on a CPU, each session counted at the tokens asked.
    equal(worker.batch, 16);
    equal(worker.batchChoice?.tokens, 64);
    const stop = new AbortController();
    let deltas = 0;
    const cancelled = worker.complete({
      promptIds: [1, 40],
      maxNewTokens: 1500,
      signal: stop.signal,
      onText: () => deltas++ === 2 && stop.abort(new DOMException("client left", "AbortError")),
    });
    const others = [41, 42, 43].map((t) => worker.complete({ promptIds: [1, t], maxNewTokens: 8 }));
    await rejects(cancelled, (e) => (e as Error).message === "client left");
    ok(deltas < 200, `${deltas} deltas after a cancel at the third`);
    const fresh = new LocalGenerator(new CpuEngine(await loadModel(tmp.dir)), await loadTokenizer(tmp.dir));
    for (const [i, r] of (await Promise.all(others)).entries()) {
      deepEqual(r.ids, (await fresh.complete({ promptIds: [1, 41 + i], maxNewTokens: 8 })).ids);
    }
  } finally {
    await worker.close();
  }
});

Deno.test("WorkerGenerator: a cancel also stops a long prompt part way", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, NO_EOS_MODEL);
  const worker = await WorkerGenerator.start({ model: tmp.dir });
  try {
    // Different first tokens: nothing of one prompt is cached for the other.
    const prompt = (first: number) => [first, ...Array.from({ length: 1800 }, (_, i) => 3 + (i * 37) % 500)];
    let t0 = performance.now();
    await worker.complete({ promptIds: prompt(1), maxNewTokens: 1 });
    const whole = performance.now() - t0;
    const stop = new AbortController();
    t0 = performance.now();
    setTimeout(() => stop.abort(), whole / 10);
    await rejects(worker.complete({ promptIds: prompt(2), maxNewTokens: 1, signal: stop.signal }), {
      name: "AbortError",
    });
    const cancelled = performance.now() - t0;
    ok(
      cancelled < whole / 2,
      `the prompt alone takes ${whole.toFixed(0)} ms; cancelled at a tenth, it ended after ${cancelled.toFixed(0)} ms`,
    );
  } finally {
    await worker.close();
  }
});

Deno.test("WorkerGenerator: a bad model folder fails with the file at fault, and no worker is left", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, NO_EOS_MODEL);
  await Deno.writeTextFile(`${tmp.dir}/config.json`, "{not json");
  await rejects(
    WorkerGenerator.start({ model: tmp.dir }),
    (e) => e instanceof InputError && e.file === `${tmp.dir}/config.json` && /not valid JSON/.test(e.message),
  );
});
