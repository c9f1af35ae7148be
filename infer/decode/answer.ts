/**
 * An answer from the generation loop, as every generator gives it: the loop
 * ({@linkcode decodeLoop}) with an answer constraint followed token by token, text streamed in
 * whole characters, a cancel signal read after every token, and an answer the token limit cut
 * closed as bytes. Local engines mask logits with a {@linkcode JsonConstraint}
 * ({@linkcode jsonAnswerConstraint}); llama.cpp enforces a grammar itself and only follows here.
 *
 * @module
 */

import { type JsonConstraint, pickGreedy } from "../constrain/token_constraint.ts";
import { closeAnswer } from "./closing.ts";
import { decodeLoop, type Stepper } from "./decode_loop.ts";
import { isGreedy, type SamplingOptions } from "./sampling.ts";

const enc = new TextEncoder();
/** What {@linkcode pickGreedy} throws when nothing is allowed, and so the masked path too. */
const NO_TOKEN_FITS = "no token fits the answer shape (the vocabulary lacks the needed characters)";

/** A constraint on the answer as the loop follows it. */
export interface AnswerConstraint {
  /**
   * Restrict the next token's logits in place (`-Infinity` forbids a token); absent where the
   * engine enforces the constraint itself (a llama.cpp grammar).
   */
  readonly mask?: (logits: Float32Array, greedy: boolean) => void;
  /**
   * The tokens that may come next, as a bitset (bit `id % 32` of word `id >> 5`), for greedy
   * decoding on an engine that picks the best allowed token itself (`Session.forwardMasked`):
   * that token is the one `mask` leaves with the highest logit. Absent where `mask` is.
   */
  readonly allowedMask?: () => Uint32Array;
  /**
   * Take the chosen token.
   *
   * @param id the token
   * @param ids every generated token so far, `id` last
   * @returns true once the answer is complete (generation stops)
   */
  accept(id: number, ids: readonly number[]): boolean;
  /**
   * The final answer and what closes it.
   *
   * @param ids the generated tokens
   * @param text their text, or the text before a stop text when `cut`
   * @param cut whether a stop text ended the answer
   * @returns the answer's text and the closing it added ("" when none was needed)
   */
  close(ids: readonly number[], text: string, cut: boolean): { text: string; closing: string };
}

/** Options of {@linkcode decodeAnswer}. */
export interface AnswerOptions {
  /** Most tokens to generate. */
  readonly maxNewTokens: number;
  /** Sampling (default greedy). */
  readonly sampling?: SamplingOptions;
  /** Seed of the sampler (default 0). */
  readonly seed?: number;
  /** Ids that end generation (EOS among them). */
  readonly stopIds: readonly number[];
  /** Texts that end generation. */
  readonly stopTexts?: readonly string[];
  /** The text of generated ids. */
  readonly decode: (ids: readonly number[]) => string;
  /** The answer's constraint. */
  readonly constraint?: AnswerConstraint;
  /** Called with each new piece of text (whole characters only). */
  readonly onText?: (delta: string) => void;
  /** Stops generation after the current token; the answer then rejects with its reason. */
  readonly signal?: AbortSignal;
}

/** What {@linkcode decodeAnswer} produced. */
export interface Answer {
  /** The answer text (with the constraint's closing text when the token limit cut it). */
  text: string;
  /** Generated token ids. */
  ids: number[];
  /** `stop`: the answer ended; `length`: the token limit (or context) cut it. */
  finish: "stop" | "length";
  /**
   * Text the constraint added to close a cut-off answer ("" when none was needed): what follows
   * the generated whole characters (so it includes the rest of a character the tokens cut).
   */
  closing: string;
}

/**
 * Generate one answer on a stepper.
 *
 * @param stepper the model
 * @param first the tokens of the first step (the prompt's part not in the model's cache)
 * @param options limits, stops, sampling, constraint, streaming and cancel
 * @returns the answer
 * @throws the signal's reason when it was aborted
 *
 * @example
 * ```ts
 * import { decodeAnswer } from "./answer.ts";
 * const script = [3, 4, 2];
 * let k = 0;
 * let streamed = "";
 * const a = await decodeAnswer({ fits: () => true, step: () => Promise.resolve(script[k++]) }, [1], {
 *   maxNewTokens: 8, stopIds: [2], decode: (ids) => ids.map((i) => "abcde"[i]).join(""), onText: (t) => streamed += t,
 * });
 * if (a.text !== "de" || a.finish !== "stop" || streamed !== "de") throw new Error();
 * ```
 */
export async function decodeAnswer(
  stepper: Stepper,
  first: readonly number[],
  options: AnswerOptions,
): Promise<Answer> {
  const { constraint, decode, onText, signal } = options;
  const greedy = isGreedy(options.sampling);
  let emitted = "";
  const g = await decodeLoop(stepper, first, {
    maxNewTokens: options.maxNewTokens,
    sampling: options.sampling,
    seed: options.seed,
    stopIds: options.stopIds,
    stopTexts: options.stopTexts,
    decode,
    logitsHook: constraint?.mask === undefined ? undefined : (logits) => constraint.mask!(logits, greedy),
    greedyMask: constraint?.allowedMask === undefined ? undefined : () => constraint.allowedMask!(),
    onToken: (id, generated) => {
      const done = constraint?.accept(id, generated) ?? false;
      if (onText) {
        const text = decode(generated);
        // Hold back a trailing partial character (U+FFFD) until its last byte arrives.
        const stable = text.endsWith("\uFFFD") ? text.slice(0, -1) : text;
        if (stable.length > emitted.length && stable.startsWith(emitted)) {
          onText(stable.slice(emitted.length));
          emitted = stable;
        }
      }
      if (signal?.aborted) return false;
      return !done; // a complete answer needs no end token
    },
  });
  signal?.throwIfAborted();
  let text = g.text ?? decode(g.ids);
  let closing = "";
  if (constraint !== undefined) ({ text, closing } = constraint.close(g.ids, text, g.stop === "stop-text"));
  if (onText && text.length > emitted.length) onText(text.slice(emitted.length));
  const finish = closing !== "" || g.stop === "length" || g.stop === "context" ? "length" : "stop";
  return { text, ids: g.ids, finish, closing };
}

/**
 * A {@linkcode JsonConstraint} as an answer constraint: it masks logits (greedy: the best
 * allowed token only; sampling: every allowed token keeps its logit), or gives the allowed
 * tokens as a bitset for an engine's masked argmax (the same greedy choice: the allowed token of
 * the highest logit, the lowest id on ties), and a cut-off answer is its bytes and the closing
 * bytes decoded once (the tokens may end inside a character, which the closing finishes; a stop
 * text cuts the answer before the tokens' end).
 *
 * @param constraint the constraint (it takes each chosen token)
 * @param tokenBytes the bytes of tokens (what a constrained answer is, whatever the decoder adds)
 * @returns the answer constraint
 *
 * @example
 * ```ts
 * import { jsonAnswerConstraint } from "./answer.ts";
 * import { ConstraintVocab, JsonConstraint } from "../constrain/token_constraint.ts";
 * const pieces = ["[", '"a'].map((t) => new TextEncoder().encode(t));
 * const vocab = ConstraintVocab.of({ vocabSize: 2, tokenBytes: (i) => pieces[i] });
 * const c = jsonAnswerConstraint(new JsonConstraint(vocab, { kind: "list", item: { kind: "string", span: false } }),
 *   (ids) => new Uint8Array(ids.flatMap((i) => [...pieces[i]])));
 * if (c.allowedMask!()[0] !== 0b01) throw new Error("only [ (id 0) may start, as a bitset for forwardMasked");
 * c.accept(0, [0]);
 * c.accept(1, [0, 1]);
 * if (c.close([0, 1], '["a', false).closing !== '"]') throw new Error();
 * ```
 */
export function jsonAnswerConstraint(
  constraint: JsonConstraint,
  tokenBytes: (ids: readonly number[]) => Uint8Array,
): AnswerConstraint {
  let words: Uint32Array | undefined;
  return {
    allowedMask() {
      const mask = constraint.allowedMask(words);
      words = mask;
      if (!mask.some((w) => w !== 0)) throw new Error(NO_TOKEN_FITS);
      return mask;
    },
    mask(logits, greedy) {
      if (greedy) {
        const id = pickGreedy(logits, constraint);
        logits.fill(-Infinity);
        logits[id] = 0;
      } else {
        const allowed = constraint.allowedIds();
        const keep = new Float32Array(allowed.length);
        allowed.forEach((id, i) => keep[i] = logits[id]);
        logits.fill(-Infinity);
        allowed.forEach((id, i) => logits[id] = keep[i]);
      }
    },
    accept(id) {
      constraint.accept(id);
      return constraint.done;
    },
    close(ids, text, cut) {
      const before = cut ? enc.encode(text) : undefined;
      return closeAnswer(before ?? tokenBytes(ids), constraint.completionBytes(before));
    },
  };
}
