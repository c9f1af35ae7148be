/**
 * Scoring token sequences: the log-probability a model gives each token after its prefix, and
 * the perplexity of a scored span (`exp` of the mean negative log-probability). The prefix before
 * the scored span is computed once without logits; the span in chunks, so memory stays at one
 * chunk of logits whatever the length.
 *
 * @module
 */

import type { Session } from "../engine/engine.ts";

/** Something that gives next-token logits for every position of a sequence. */
export interface SequenceScorer {
  /**
   * Log-probabilities of `ids[from..]`, each after the ids before it.
   *
   * @param ids the sequence
   * @param from the first id to score (≥ 1)
   * @returns one log-probability per scored id
   */
  score(ids: readonly number[], from: number): Promise<number[]>;
}

/**
 * The natural-log probability of `token` under `logits` (log-softmax in double precision).
 *
 * @param logits next-token logits
 * @param token the token
 * @returns `log p(token)`
 *
 * @example
 * ```ts
 * import { tokenLogprob } from "./perplexity.ts";
 * if (Math.abs(tokenLogprob(new Float32Array([0, Math.log(3)]), 1) - Math.log(0.75)) > 1e-7) throw new Error();
 * ```
 */
export function tokenLogprob(logits: ArrayLike<number>, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return logits[token] - max - Math.log(sum);
}

/**
 * Score with an engine session: the session is emptied, the prefix computed in one step, then
 * the scored span in chunks of `chunk` tokens with logits at every position.
 *
 * @param session an engine session (its cache is replaced)
 * @param chunk tokens per step of the scored span (default 64)
 * @returns the scorer
 *
 * @example
 * ```ts
 * import { CpuEngine, loadModel } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * import { sessionScorer } from "./perplexity.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const session = new CpuEngine(await loadModel(dir)).createSession();
 * const lp = await sessionScorer(session, 2).score([1, 2, 3, 4, 5], 1);
 * if (lp.length !== 4 || !lp.every((x) => x < 0)) throw new Error(String(lp));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function sessionScorer(session: Session, chunk = 64): SequenceScorer {
  return {
    async score(ids: readonly number[], from: number): Promise<number[]> {
      if (from < 1 || from > ids.length) throw new RangeError(`scoring from ${from} of ${ids.length} ids`);
      session.truncate(0);
      const out: number[] = [];
      // Logits at position i predict ids[i + 1]: positions from - 1 .. length - 2.
      if (from > 1) await session.forward(ids.slice(0, from - 1));
      for (let i = from - 1; i < ids.length - 1; i += chunk) {
        const end = Math.min(i + chunk, ids.length - 1);
        const logits = await session.forwardAll(ids.slice(i, end));
        for (let j = 0; j < logits.length; j++) out.push(tokenLogprob(logits[j], ids[i + j + 1]));
      }
      return out;
    },
  };
}

/**
 * Perplexity of log-probabilities: `exp(−mean)`; `NaN` for none.
 *
 * @param logprobs natural-log probabilities
 * @returns the perplexity
 *
 * @example
 * ```ts
 * import { perplexityOf } from "./perplexity.ts";
 * if (Math.abs(perplexityOf([Math.log(0.5), Math.log(0.5)]) - 2) > 1e-12) throw new Error();
 * ```
 */
export function perplexityOf(logprobs: readonly number[]): number {
  if (logprobs.length === 0) return NaN;
  let sum = 0;
  for (const x of logprobs) sum += x;
  return Math.exp(-sum / logprobs.length);
}
