/**
 * The one generation loop: feed tokens to a model step, choose the next token (the engine's
 * own choice, possibly among the tokens a mask allows, or a choice here from its logits, masked
 * by a hook), and stop on a stop id, a stop text, the token limit, the context's end or a
 * callback. Every engine runs it: our sessions ({@linkcode sessionStart}) and llama.cpp (whose
 * step samples by itself).
 *
 * @module
 */

import type { Session } from "../engine/engine.ts";
import { Rng } from "./random.ts";
import { isGreedy, sampleToken, type SamplingOptions } from "./sampling.ts";
import { cutAtStopText } from "./stop_text.ts";

/** A model as the loop drives it: append tokens, learn what comes next. */
export interface Stepper {
  /**
   * Whether the context has room to append `pending` more tokens and choose one after them.
   *
   * @param pending how many tokens the next step appends
   * @returns false when the context is full
   */
  fits(pending: number): boolean;
  /**
   * Append tokens and tell what follows them: the next token's logits (chosen from here), or an
   * id the engine chose itself (its argmax when `greedy`, its argmax over the allowed tokens when
   * it asked `allowed`, or its own sampler's), or `undefined` when it has nothing more to give.
   *
   * @param tokens the tokens to append (the prompt's uncached rest first, then each chosen id)
   * @param greedy the loop would take the argmax of unchanged logits: an id is as good
   * @param allowed given when the loop would take the best token a mask allows (greedy decoding
   *   under a constraint): the mask, as a bitset (bit `id % 32` of word `id >> 5`); a stepper that
   *   calls it returns that token's id (`Session.forwardMasked`), one that ignores it returns logits
   * @returns the logits, the next id, or `undefined`
   */
  step(
    tokens: readonly number[],
    greedy: boolean,
    allowed?: () => Uint32Array,
  ): Promise<Float32Array | number | undefined>;
}

/** Options of {@linkcode decodeLoop}. */
export interface DecodeLoopOptions {
  /** Most tokens to generate (default 256, the reference's default). */
  readonly maxNewTokens?: number;
  /** Sampling; greedy when absent or `temperature` is 0 (the reference's default). */
  readonly sampling?: SamplingOptions;
  /** Seed of the sampling generator (default 0). */
  readonly seed?: number;
  /** Ids that end generation (EOS, single-token stop words); not part of the output. */
  readonly stopIds?: readonly number[];
  /** Texts that end generation; the output is cut before the first one (needs `decode`). */
  readonly stopTexts?: readonly string[];
  /** Text of generated ids (for stop texts and the result's `text`). */
  readonly decode?: (ids: readonly number[]) => string;
  /**
   * Called with the next-token logits before each choice; may change them in place (set
   * `-Infinity` to forbid a token). `generated` holds the ids chosen so far.
   */
  readonly logitsHook?: (logits: Float32Array, generated: readonly number[]) => void;
  /**
   * Greedy decoding only: the tokens that may come next, as a bitset (bit `id % 32` of word
   * `id >> 5`), for a stepper that chooses the best allowed token itself (reading back an id, not
   * the logits). Its choice is taken as it is, so the best allowed token of the logits must be
   * the token `logitsHook` leaves the argmax of (`generated` holds the ids chosen so far).
   */
  readonly greedyMask?: (generated: readonly number[]) => Uint32Array;
  /** Called after each chosen token; return `false` to stop. */
  readonly onToken?: (id: number, generated: readonly number[]) => boolean | void;
}

/** Why generation ended. */
export type StopReason = "eos" | "stop-text" | "length" | "context" | "callback";

/** What {@linkcode decodeLoop} produced. */
export interface DecodeOutcome {
  /**
   * Generated ids, without the stop id; with a stop text, the tokens before it (a token that
   * holds both text and the stop text's start is kept).
   */
  readonly ids: number[];
  /** Their text (with `decode`), cut before a stop text. */
  readonly text?: string;
  /** Why it ended. */
  readonly stop: StopReason;
  /** The id that ended it (EOS or a stop id), when one did. */
  readonly stopId?: number;
  /** Seconds until the first token was chosen (the prompt's step). */
  readonly prefillSeconds: number;
}

/**
 * Run the generation loop on a stepper.
 *
 * @param stepper the model
 * @param first the tokens of the first step (the prompt's part not in the model's cache; at least one)
 * @param options stopping, sampling and hooks
 * @returns the generated ids and why generation ended
 *
 * @example
 * ```ts
 * import { decodeLoop } from "./decode_loop.ts";
 * const script = [3, 4, 2];
 * let k = 0;
 * const g = await decodeLoop({ fits: () => true, step: () => Promise.resolve(script[k++]) }, [1], { stopIds: [2] });
 * if (g.ids.join() !== "3,4" || g.stop !== "eos") throw new Error();
 * ```
 */
export async function decodeLoop(
  stepper: Stepper,
  first: readonly number[],
  options: DecodeLoopOptions = {},
): Promise<DecodeOutcome> {
  const t0 = performance.now();
  const maxNew = options.maxNewTokens ?? 256;
  const stopIds = new Set(options.stopIds ?? []);
  const stopTexts = (options.stopTexts ?? []).filter((s) => s.length > 0);
  if (stopTexts.length > 0 && !options.decode) throw new TypeError("stopTexts need a decode function");
  const greedy = isGreedy(options.sampling);
  const rng = new Rng(options.seed ?? 0);
  const ids: number[] = [];
  let pending = first;
  let prefillSeconds = 0;
  let stop: StopReason = "length";
  let stopId: number | undefined;
  let text: string | undefined;
  while (ids.length < maxNew) {
    if (!stepper.fits(pending.length)) {
      stop = "context";
      break;
    }
    const mask = greedy ? options.greedyMask : undefined;
    const out = await stepper.step(pending, greedy && !options.logitsHook, mask && (() => mask(ids)));
    if (out === undefined) break;
    let next: number;
    if (typeof out === "number") next = out;
    else {
      options.logitsHook?.(out, ids);
      next = greedy ? sampleToken(out, { temperature: 0 }, rng) : sampleToken(out, options.sampling!, rng);
    }
    if (ids.length === 0) prefillSeconds = (performance.now() - t0) / 1000;
    if (stopIds.has(next)) {
      stop = "eos";
      stopId = next;
      break;
    }
    ids.push(next);
    pending = [next];
    if (stopTexts.length > 0) {
      const cut = cutAtStopText(ids, options.decode!, stopTexts);
      if (cut !== undefined) {
        text = cut;
        stop = "stop-text";
        break;
      }
    }
    if (options.onToken?.(next, ids) === false) {
      stop = "callback";
      break;
    }
  }
  if (text === undefined && options.decode) text = options.decode(ids);
  return { ids, text, stop, stopId, prefillSeconds };
}

/** Where generation on a session starts: see {@linkcode sessionStart}. */
export interface SessionStart {
  /** The session as a stepper. */
  readonly stepper: Stepper;
  /** The prompt's tokens not in the session's cache: the first step's. */
  readonly first: readonly number[];
  /** Prompt tokens found in the cache and not computed again. */
  readonly reused: number;
}

/**
 * Start generation on a session: keep the cached prefix the prompt shares (or none), and
 * drive the session as a {@linkcode Stepper}, where room is what its context holds, a greedy
 * step asks the engine for the argmax only, and a greedy step under a mask asks for the argmax
 * over the allowed tokens (`Session.forwardMasked`, where the session has it).
 *
 * @param session the session (its cache is reused and extended)
 * @param prompt prompt ids (at least one)
 * @param reusePrefix reuse the session's cached prefix of the prompt (default true); else start afresh
 * @returns the stepper, the first step's tokens and how many were reused
 * @throws {RangeError} for an empty prompt
 * @throws {Error} from a step whose mask allows none of the vocabulary
 *
 * @example
 * ```ts
 * import { CpuEngine, loadModel } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * import { decodeLoop, sessionStart } from "./decode_loop.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 32, hidden: 16, intermediate: 32, layers: 1, heads: 2 });
 * const session = new CpuEngine(await loadModel(dir)).createSession();
 * const { stepper, first } = sessionStart(session, [1, 4, 9]);
 * const g = await decodeLoop(stepper, first, { maxNewTokens: 3 });
 * if (g.ids.length !== 3 || session.tokens.length !== 5) throw new Error();
 * if (sessionStart(session, [1, 4, 7]).reused !== 2) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function sessionStart(session: Session, prompt: readonly number[], reusePrefix = true): SessionStart {
  if (prompt.length === 0) throw new RangeError("generate needs a prompt of at least one token");
  const reused = reusePrefix ? session.reusePrefix(prompt) : (session.truncate(0), 0);
  const stepper: Stepper = {
    fits: (pending) => session.tokens.length + pending <= session.contextSize,
    async step(tokens, greedy, allowed) {
      if (allowed === undefined || session.forwardMasked === undefined) {
        return await (greedy ? session.forwardGreedy(tokens) : session.forward(tokens));
      }
      const id = await session.forwardMasked(tokens, allowed());
      if (id < 0) throw new Error("the mask allows none of the vocabulary's tokens");
      return id;
    },
  };
  return { stepper, first: prompt.slice(reused), reused };
}
