/**
 * Choosing the next token from logits: greedy (the reference's default: transformers generates
 * greedily when `do_sample` is unset), or sampling with temperature, top-k and top-p applied in
 * transformers' order, from a seeded generator.
 *
 * @module
 */

import { argmax } from "../engine/engine.ts";
import type { Rng } from "./random.ts";

/** How to choose tokens. */
export interface SamplingOptions {
  /** Divide logits by this before softmax (default 1). `0` means greedy. */
  readonly temperature?: number;
  /** Keep only the `topK` most likely tokens (0 = all; default 0). */
  readonly topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches `topP` (default 1). */
  readonly topP?: number;
}

/**
 * Whether sampling options mean greedy decoding: none given, or a temperature of 0 or less.
 *
 * @param sampling the options (absent: greedy)
 * @returns true when the most likely token is always chosen
 *
 * @example
 * ```ts
 * import { isGreedy } from "./sampling.ts";
 * if (!isGreedy(undefined) || !isGreedy({ temperature: 0 }) || isGreedy({ topK: 5 })) throw new Error();
 * ```
 */
export function isGreedy(sampling: SamplingOptions | undefined): boolean {
  return !sampling || (sampling.temperature ?? 1) <= 0;
}

/**
 * Sample a token: temperature, then top-k, then top-p (each keeping at least one token), then
 * a draw from the renormalized distribution.
 *
 * @param logits next-token logits (entries of -Infinity are never chosen)
 * @param options temperature, top-k, top-p
 * @param rng the seeded generator
 * @returns the chosen id
 *
 * @example
 * ```ts
 * import { Rng, sampleToken } from "../mod.ts";
 * const logits = new Float32Array([0, 5, 1, -Infinity]);
 * if (sampleToken(logits, { topK: 1 }, new Rng(1)) !== 1) throw new Error();
 * if (sampleToken(logits, { temperature: 0 }, new Rng(1)) !== 1) throw new Error();
 * ```
 */
export function sampleToken(logits: Float32Array, options: SamplingOptions, rng: Rng): number {
  const temperature = options.temperature ?? 1;
  if (temperature <= 0) return argmax(logits);
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) if (logits[i] > -Infinity) ids.push(i);
  if (ids.length === 0) throw new RangeError("every token is masked out");
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  let keep = ids.length;
  const topK = options.topK ?? 0;
  if (topK > 0) keep = Math.min(keep, topK);
  const probs = new Float64Array(keep);
  const max = logits[ids[0]] / temperature;
  let sum = 0;
  for (let i = 0; i < keep; i++) sum += probs[i] = Math.exp(logits[ids[i]] / temperature - max);
  for (let i = 0; i < keep; i++) probs[i] /= sum;
  const topP = options.topP ?? 1;
  if (topP < 1) {
    // transformers removes tokens whose ascending cumulative probability is ≤ 1 - topP.
    let tail = 0;
    let cut = keep;
    for (let i = keep - 1; i > 0; i--) {
      tail += probs[i];
      if (tail <= 1 - topP) cut = i;
      else break;
    }
    keep = cut;
    let s = 0;
    for (let i = 0; i < keep; i++) s += probs[i];
    for (let i = 0; i < keep; i++) probs[i] /= s;
  }
  let u = rng.next();
  for (let i = 0; i < keep; i++) {
    u -= probs[i];
    if (u < 0) return ids[i];
  }
  return ids[keep - 1];
}

/**
 * Natural-log probabilities of logits (log-softmax), in double precision.
 *
 * @param logits the logits
 * @returns their log-probabilities
 *
 * @example
 * ```ts
 * import { logSoftmax } from "./sampling.ts";
 * const lp = logSoftmax(new Float32Array([0, 0]));
 * if (Math.abs(lp[0] - Math.log(0.5)) > 1e-12) throw new Error();
 * ```
 */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
  return out;
}
