/**
 * The check every engine's batched step passes: sessions prefilled with prompts of several
 * lengths, stepped together by `forwardBatch` and, as twins, one at a time.
 *
 * @module
 */

import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import type { Engine } from "../infer/mod.ts";

/**
 * Three batched steps (every session but the third sitting the second step out) must give each
 * session its twin's logits bit for bit and the same tokens; a prompt computed after them must
 * too; an empty batch gives nothing, and a session given twice is refused.
 *
 * @param engine the engine (with `forwardBatch`)
 * @param prompt token ids to cut the prompts from
 * @param lengths each session's prompt length
 * @param vocab the vocabulary size (tokens are drawn below it)
 * @param around wraps each batched step (to count its submits, say)
 *
 * @example
 * ```ts
 * import { checkBatchedSteps } from "./_batch_steps.ts";
 * import { loadModel, WasmEngine } from "../infer/mod.ts";
 * import { writeRandomModel } from "../infer/testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 32, hidden: 16, intermediate: 32, layers: 1, heads: 2 });
 * const engine = await WasmEngine.create(await loadModel(dir), { threads: 1 });
 * await checkBatchedSteps(engine, [1, 2, 3, 4], [4, 1, 2], 32);
 * engine.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function checkBatchedSteps(
  engine: Engine,
  prompt: readonly number[],
  lengths: readonly number[],
  vocab: number,
  around: (step: () => Promise<Float32Array[]>) => Promise<Float32Array[]> = (step) => step(),
): Promise<void> {
  const forwardBatch = engine.forwardBatch!.bind(engine);
  const alone = lengths.map(() => engine.createSession());
  const batched = lengths.map(() => engine.createSession());
  try {
    for (const [i, n] of lengths.entries()) {
      await alone[i].forward(prompt.slice(0, n));
      await batched[i].forward(prompt.slice(0, n));
    }
    const next = lengths.map((_, i) => (i * 37 + 3) % vocab);
    for (let step = 0; step < 3; step++) {
      const who = lengths.map((_, i) => i).filter((i) => step !== 1 || i !== 2);
      const got = await around(() => forwardBatch(who.map((i) => ({ session: batched[i], token: next[i] }))));
      equal(got.length, who.length);
      for (const [j, i] of who.entries()) {
        const want = await alone[i].forward([next[i]]);
        ok(got[j].every((v, k) => v === want[k]), `step ${step}, session ${i}`);
        next[i] = (next[i] * 7 + 11) % vocab;
      }
      deepEqual(batched.map((s) => s.tokens), alone.map((s) => s.tokens));
    }
    // A session stepped alone after batched steps goes on from the cache they wrote.
    const last = Math.min(1, lengths.length - 1);
    const want = await alone[last].forwardAll([5 % vocab, 6 % vocab]);
    const got = await batched[last].forwardAll([5 % vocab, 6 % vocab]);
    ok(got.every((row, r) => row.every((v, k) => v === want[r][k])), "a prompt after batched steps");
    deepEqual(await forwardBatch([]), []);
    await rejects(forwardBatch([{ session: batched[0], token: 1 }, { session: batched[0], token: 2 }]), RangeError);
  } finally {
    for (const s of [...alone, ...batched]) s.dispose();
  }
}
