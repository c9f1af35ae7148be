/**
 * Decoding: turning a session's logits into text, one token at a time.
 *
 * Map:
 * - `generate.ts`: {@linkcode generate}, the generation loop on a session (prompt prefill with
 *   a reused prefix, then a token at a time until EOS, a stop word, the length limit or the
 *   context's end), with a logits hook for constrained decoding; stop-text helpers.
 * - `sampling.ts`: the next token from logits: greedy, or temperature / top-k / top-p sampling.
 * - `random.ts`: {@linkcode Rng}, the seeded generator sampling (and the random test models) use.
 *
 * Data enters as a `Session` from `engine/` and prompt token ids, and leaves as a
 * {@linkcode Generation} (the new ids and why it stopped) for `predict/` and `serve/`.
 *
 * @example
 * ```ts
 * import { Rng, sampleToken } from "./mod.ts";
 * const logits = new Float32Array([0, 5, 1]);
 * if (sampleToken(logits, { temperature: 0 }, new Rng(1)) !== 1) throw new Error();
 * ```
 *
 * @module
 */

export {
  cutAtStopText,
  firstStop,
  generate,
  type GenerateOptions,
  type Generation,
  type StopReason,
} from "./generate.ts";
export { logSoftmax, sampleToken, type SamplingOptions } from "./sampling.ts";
export { Rng } from "./random.ts";
