/**
 * Decoding: turning a session's logits into text, one token at a time.
 *
 * Map:
 * - `decode_loop.ts`: {@linkcode decodeLoop}, the one generation loop every generator uses (our
 *   engines and llama.cpp): a stepper appends tokens and gives logits or its own choice; the loop
 *   masks, samples, and stops at EOS, a stop id or text, the token limit or the context's end.
 *   `sessionStart` makes a stepper of an engine session (reusing the cached prefix); a greedy
 *   constrained step asks it for the best allowed token (`Session.forwardMasked`), not the logits.
 * - `answer.ts`: {@linkcode decodeAnswer}, an answer on top of the loop: the constraint's
 *   tracking (`jsonAnswerConstraint` masks logits, or gives the allowed tokens as a bitset),
 *   streaming in whole characters, cancelling,
 *   and closing a cut answer as bytes.
 * - `closing.ts`: closing a cut answer as bytes (finishing a cut character first).
 * - `generate.ts`: {@linkcode generate}, the loop on a session, for library users.
 * - `stop_text.ts`: where a stop text cuts the text.
 * - `sampling.ts`: the next token from logits: greedy, or temperature / top-k / top-p sampling.
 * - `random.ts`: {@linkcode Rng}, the seeded generator sampling (and the random test models) use.
 *
 * Data enters as a `Session` from `engine/` (or llama.cpp's evaluation) and prompt token ids,
 * and leaves as a {@linkcode Generation} or an {@linkcode Answer} (the new ids, the text, and why
 * it stopped) for `predict/` and `serve/`.
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
  type Answer,
  type AnswerConstraint,
  type AnswerOptions,
  decodeAnswer,
  jsonAnswerConstraint,
} from "./answer.ts";
export {
  decodeLoop,
  type DecodeLoopOptions,
  type DecodeOutcome,
  type SessionStart,
  sessionStart,
  type Stepper,
  type StopReason,
} from "./decode_loop.ts";
export { generate, type GenerateOptions, type Generation } from "./generate.ts";
export { cutAtStopText, firstStop } from "./stop_text.ts";
export { isGreedy, logSoftmax, sampleToken, type SamplingOptions } from "./sampling.ts";
export { Rng } from "./random.ts";
