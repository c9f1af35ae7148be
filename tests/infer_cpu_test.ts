/**
 * The CPU engine's arithmetic on a hand-worked one-token case, sessions (incremental decoding,
 * prefix reuse, fork), sampling statistics, and generation's stopping rules on scripted logits.
 * (The engine as a whole is checked against llama.cpp in infer_llamacpp_test.ts.)
 */

import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { CpuEngine, type Engine, generate, loadModel, Rng, sampleToken, type Session } from "../infer/mod.ts";
import { plainTensor, tensorToF32 } from "../infer/formats/mod.ts";
import { writeRandomModel } from "../infer/testing/mod.ts";
import { tempDir } from "./_shared.ts";

Deno.test("one token through one layer, computed here from the formula", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, {
    architecture: "qwen2",
    vocabSize: 6,
    hidden: 4,
    intermediate: 6,
    layers: 1,
    heads: 2,
  });
  const m = await loadModel(tmp.dir);
  const w = m.weights;
  const L = w.layers[0];
  const f = (t: typeof L.wq) => tensorToF32(plainTensor(t));
  const mv = (W: typeof L.wq, x: number[], b?: typeof L.wq) =>
    Array.from(
      { length: W.shape[0] },
      (_, o) => x.reduce((s, xi, i) => s + f(W)[o * W.shape[1] + i] * xi, 0) + (b ? f(b)[o] : 0),
    );
  const rms = (x: number[], g: typeof L.wq) => {
    const r = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length + 1e-6);
    return x.map((v, i) => v / r * f(g)[i]);
  };
  const id = 3;
  const x = Array.from(f(w.embed).subarray(id * 4, id * 4 + 4));
  // With one token, attention is the identity on V (softmax over one key is 1; RoPE at position 0 is the identity).
  const v = mv(L.wv, rms(x, L.attnNorm), L.bv);
  const h = mv(L.wo, v).map((d, i) => x[i] + d);
  const hn = rms(h, L.ffnNorm);
  const g = mv(L.w1, hn);
  const u = mv(L.w3, hn);
  const y = mv(L.w2, g.map((gi, i) => gi / (1 + Math.exp(-gi)) * u[i])).map((d, i) => h[i] + d);
  const want = mv(w.output, rms(y, w.norm));
  const got = await new CpuEngine(m).createSession().forward([id]);
  for (let i = 0; i < 6; i++) ok(Math.abs(got[i] - want[i]) < 1e-5, `${got[i]} vs ${want[i]}`);
});

Deno.test("sessions: incremental decoding, prefix reuse and fork give the same logits", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, {
    architecture: "llama",
    vocabSize: 50,
    hidden: 16,
    intermediate: 32,
    layers: 2,
    heads: 4,
    kvHeads: 2,
  });
  const engine = new CpuEngine(await loadModel(tmp.dir));
  const ids = [1, 4, 9, 16, 25, 36, 49];
  const all = await engine.createSession().forwardAll(ids);
  const s = engine.createSession();
  await s.forward(ids.slice(0, 3));
  for (let i = 3; i < ids.length; i++) deepEqual(await s.forward([ids[i]]), all[i]);
  // Reuse: a prompt sharing 4 tokens keeps them; the whole prompt cached still recomputes the last.
  equal(s.reusePrefix([1, 4, 9, 16, 2, 3]), 4);
  equal(s.tokens.length, 4);
  equal(s.reusePrefix([1, 4, 9, 16]), 3);
  const fork = s.fork();
  deepEqual(await fork.forward([16, 25]), all[4]);
  deepEqual(await s.forward([16, 25]), all[4]);
  s.truncate(0);
  deepEqual(await s.forward(ids), all[ids.length - 1]);
  await rejects(s.forward([50]), /token id 50 outside the vocabulary/);
  const short = engine.createSession({ contextSize: 4 });
  await rejects(short.forward([1, 2, 3, 4, 5]), /context full/);
});

Deno.test("sampling: seeded, top-k, top-p, masks, and frequencies", async (t) => {
  const logits = Float32Array.from([0.5, 0.3, 0.2], Math.log);
  await t.step("same seed, same draws; other seed, other draws", () => {
    const draw = (seed: number) => {
      const r = new Rng(seed);
      return Array.from({ length: 50 }, () => sampleToken(logits, { temperature: 1 }, r));
    };
    deepEqual(draw(3), draw(3));
    ok(draw(3).join() !== draw(4).join());
  });
  await t.step("top-k 1 and temperature 0 are greedy", () => {
    const r = new Rng(1);
    for (let i = 0; i < 20; i++) equal(sampleToken(logits, { topK: 1 }, r), 0);
    equal(sampleToken(logits, { temperature: 0 }, r), 0);
  });
  await t.step("top-p keeps the smallest head reaching p (transformers' rule)", () => {
    const r = new Rng(2);
    const seen = (topP: number) => new Set(Array.from({ length: 400 }, () => sampleToken(logits, { topP }, r)));
    deepEqual([...seen(0.5)].sort(), [0], "0.5 alone reaches 0.5");
    deepEqual([...seen(0.6)].sort(), [0, 1]);
    deepEqual([...seen(1)].sort(), [0, 1, 2]);
  });
  await t.step("frequencies follow softmax(logits / T)", () => {
    const r = new Rng(9);
    const counts = [0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[sampleToken(logits, { temperature: 1 }, r)]++;
    [0.5, 0.3, 0.2].forEach((p, i) => ok(Math.abs(counts[i] / n - p) < 0.015, `${counts}`));
    // T = 0.5 squares the odds: 25 : 9 : 4.
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[sampleToken(logits, { temperature: 0.5 }, r)]++;
    [25 / 38, 9 / 38, 4 / 38].forEach((p, i) => ok(Math.abs(counts[i] / n - p) < 0.015, `${counts}`));
  });
  await t.step("masked tokens are never drawn", () => {
    const r = new Rng(5);
    const masked = Float32Array.from([0, -Infinity, 0]);
    for (let i = 0; i < 200; i++) ok(sampleToken(masked, {}, r) !== 1);
    throws(() => sampleToken(new Float32Array([-Infinity]), {}, r), /every token is masked/);
  });
});

/** A session that returns scripted logits: at step k, token script[k] is the favourite. */
class ScriptedSession implements Session {
  readonly contextSize: number;
  tokens: number[] = [];
  calls: number[][] = [];
  constructor(readonly script: number[], contextSize = 100, readonly vocab = 10) {
    this.contextSize = contextSize;
  }
  #logits(): Float32Array {
    const k = this.calls.length - 1;
    const l = new Float32Array(this.vocab);
    l[this.script[k] ?? 0] = 5;
    l[(this.script[k] ?? 0) === 9 ? 8 : 9] = 4; // a runner-up for masking tests
    return l;
  }
  forward(t: readonly number[]): Promise<Float32Array> {
    this.calls.push([...t]);
    this.tokens.push(...t);
    return Promise.resolve(this.#logits());
  }
  forwardAll(): Promise<Float32Array[]> {
    throw new Error("unused");
  }
  async forwardGreedy(t: readonly number[]): Promise<number> {
    const l = await this.forward(t);
    return l.indexOf(Math.max(...l));
  }
  truncate(n: number): void {
    this.tokens.length = Math.min(n, this.tokens.length);
  }
  reusePrefix(ids: readonly number[]): number {
    let n = 0;
    while (n < Math.min(this.tokens.length, ids.length - 1) && this.tokens[n] === ids[n]) n++;
    this.truncate(n);
    return n;
  }
  fork(): Session {
    return this;
  }
  dispose(): void {}
}

Deno.test("generation: EOS, stop texts, length, context, hooks", async (t) => {
  const decode = (ids: readonly number[]) => ids.map((i) => "abcdefghij"[i]).join("");
  await t.step("EOS ends it and is not part of the output", async () => {
    const s = new ScriptedSession([3, 4, 2, 5]);
    const g = await generate(s, [1, 1], { stopIds: [2], decode });
    deepEqual(g.ids, [3, 4]);
    equal(g.stop, "eos");
    equal(g.stopId, 2);
    equal(g.text, "de");
    deepEqual(s.calls, [[1, 1], [3], [4]], "the prompt goes in one step, then one token per step");
  });
  await t.step("a stop text cuts the output, even across tokens", async () => {
    const g = await generate(new ScriptedSession([3, 4, 5, 6, 7]), [1], { stopTexts: ["xx", "fg"], decode });
    equal(g.text, "de");
    equal(g.stop, "stop-text");
    deepEqual(g.ids, [3, 4], "the tokens before the stop text");
  });
  await t.step("maxNewTokens and the context's end", async () => {
    const g = await generate(new ScriptedSession([3, 3, 3, 3, 3]), [1], { maxNewTokens: 3 });
    deepEqual(g.ids, [3, 3, 3]);
    equal(g.stop, "length");
    const c = await generate(new ScriptedSession([3, 3, 3, 3, 3], 4), [1, 1], { maxNewTokens: 10 });
    equal(c.stop, "context");
    equal(c.ids.length, 3);
  });
  await t.step("a logits hook masks tokens at every step; onToken can stop", async () => {
    const seen: number[][] = [];
    const g = await generate(new ScriptedSession([3, 3, 3]), [1], {
      maxNewTokens: 3,
      logitsHook: (l, generated) => {
        seen.push([...generated]);
        l[3] = -Infinity; // forbid the favourite: the runner-up (9) wins
      },
    });
    deepEqual(g.ids, [9, 9, 9]);
    deepEqual(seen, [[], [9], [9, 9]]);
    const h = await generate(new ScriptedSession([3, 4, 5]), [1], { onToken: (id) => id !== 4 });
    deepEqual(h.ids, [3, 4]);
    equal(h.stop, "callback");
  });
  await t.step("prefix reuse across prompts", async () => {
    const s = new ScriptedSession([3, 2, 4, 2]);
    await generate(s, [1, 5, 6, 7], { stopIds: [2] });
    const g = await generate(s, [1, 5, 6, 8], { stopIds: [2] });
    equal(g.reusedTokens, 3);
    deepEqual(s.calls[2], [8], "only the new suffix is computed");
  });
});

Deno.test("generation on the CPU engine: reused prefixes give the fresh session's tokens", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, {
    architecture: "baichuan",
    vocabSize: 64,
    hidden: 16,
    intermediate: 32,
    layers: 2,
    heads: 2,
  });
  const engine: Engine = new CpuEngine(await loadModel(tmp.dir));
  const a = [1, 10, 20, 30, 40, 50];
  const b = [1, 10, 20, 30, 41, 51];
  const shared = engine.createSession();
  await generate(shared, a, { maxNewTokens: 6 });
  const reused = await generate(shared, b, { maxNewTokens: 6 });
  const fresh = await generate(engine.createSession(), b, { maxNewTokens: 6 });
  equal(reused.reusedTokens, 4);
  deepEqual(reused.ids, fresh.ids);
  const sampled1 = await generate(engine.createSession(), b, {
    maxNewTokens: 8,
    sampling: { temperature: 0.8, topP: 0.9, topK: 20 },
    seed: 7,
  });
  const sampled2 = await generate(engine.createSession(), b, {
    maxNewTokens: 8,
    sampling: { temperature: 0.8, topP: 0.9, topK: 20 },
    seed: 7,
  });
  deepEqual(sampled1.ids, sampled2.ids, "seeded sampling is reproducible");
});
