/**
 * Generation on a session: feed the prompt (reusing a cached prefix), then choose tokens one
 * at a time until EOS, a stop word, `maxNewTokens` or the context's end. A logits hook runs at
 * every step (constrained decoding masks tokens there); without one, greedy decoding asks the
 * engine for the argmax only.
 *
 * @module
 */

import type { Session } from "../engine/engine.ts";
import { Rng } from "./random.ts";
import { sampleToken, type SamplingOptions } from "./sampling.ts";

/** Options of {@linkcode generate}. */
export interface GenerateOptions {
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
  /** Called after each chosen token; return `false` to stop. */
  readonly onToken?: (id: number, generated: readonly number[]) => boolean | void;
  /** Reuse the session's cached prefix of the prompt (default true); else start afresh. */
  readonly reusePrefix?: boolean;
}

/** Why generation ended. */
export type StopReason = "eos" | "stop-text" | "length" | "context" | "callback";

/** The result of {@linkcode generate}. */
export interface Generation {
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
  /** Prompt tokens. */
  readonly promptTokens: number;
  /** Prompt tokens found in the cache and not computed again. */
  readonly reusedTokens: number;
  /** Seconds for the prompt (prefill and first token). */
  readonly prefillSeconds: number;
  /** Seconds in all. */
  readonly seconds: number;
}

/**
 * Generate a continuation of a prompt.
 *
 * @param session the session (its cache is reused and extended)
 * @param prompt prompt ids (at least one)
 * @param options stopping, sampling and hooks
 * @returns the generated ids and why generation ended
 *
 * @example
 * ```ts
 * import { CpuEngine, generate, loadModel } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 32, hidden: 16, intermediate: 32, layers: 1, heads: 2 });
 * const session = new CpuEngine(await loadModel(dir)).createSession();
 * const g = await generate(session, [1, 4, 9], { maxNewTokens: 5, stopIds: [] });
 * if (g.ids.length !== 5 || g.stop !== "length") throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function generate(session: Session, prompt: readonly number[], options: GenerateOptions = {}): Promise<
  Generation
> {
  if (prompt.length === 0) throw new RangeError("generate needs a prompt of at least one token");
  const t0 = performance.now();
  const maxNew = options.maxNewTokens ?? 256;
  const stopIds = new Set(options.stopIds ?? []);
  const stopTexts = (options.stopTexts ?? []).filter((s) => s.length > 0);
  if (stopTexts.length > 0 && !options.decode) throw new TypeError("stopTexts need a decode function");
  const greedy = !options.sampling || (options.sampling.temperature ?? 1) <= 0;
  const rng = new Rng(options.seed ?? 0);
  const reused = options.reusePrefix === false ? (session.truncate(0), 0) : session.reusePrefix(prompt);
  const ids: number[] = [];
  let pending: readonly number[] = prompt.slice(reused);
  let prefillSeconds = 0;
  let stop: StopReason = "length";
  let stopId: number | undefined;
  let text: string | undefined;
  while (ids.length < maxNew) {
    if (session.tokens.length + pending.length > session.contextSize) {
      stop = "context";
      break;
    }
    let next: number;
    if (greedy && !options.logitsHook) {
      next = await session.forwardGreedy(pending);
    } else {
      const logits = await session.forward(pending);
      options.logitsHook?.(logits, ids);
      next = greedy ? sampleToken(logits, { temperature: 0 }, rng) : sampleToken(logits, options.sampling!, rng);
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
  return {
    ids,
    text,
    stop,
    stopId,
    promptTokens: prompt.length,
    reusedTokens: reused,
    prefillSeconds,
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * If the text of the generated ids holds a stop text: the text before it, with `ids` shortened
 * in place to the tokens before it (a token holding both text and the stop text's start is kept).
 *
 * @param ids the generated ids (shortened in place when a stop text is found)
 * @param decode the text of ids
 * @param stops the stop texts
 * @returns the text before the first stop text, or `undefined` when none occurs
 *
 * @example
 * ```ts
 * import { cutAtStopText } from "./generate.ts";
 * const ids = [1, 2, 3];
 * const text = cutAtStopText(ids, (xs) => xs.map((x) => ["", "a", "b###", "c"][x]).join(""), ["###"]);
 * if (text !== "ab" || ids.join() !== "1,2") throw new Error();
 * ```
 */
export function cutAtStopText(
  ids: number[],
  decode: (ids: readonly number[]) => string,
  stops: readonly string[],
): string | undefined {
  const decoded = decode(ids);
  const cut = firstStop(decoded, stops);
  if (cut < 0) return undefined;
  while (ids.length > 0 && decode(ids.slice(0, -1)).length >= cut) ids.pop();
  return decoded.slice(0, cut);
}

/**
 * Where the first of several stop texts starts in a text.
 *
 * @param text the generated text
 * @param stops the stop texts
 * @returns the earliest index, or -1 when none occurs
 *
 * @example
 * ```ts
 * import { firstStop } from "./generate.ts";
 * if (firstStop("ab</s>c###", ["###", "</s>"]) !== 2) throw new Error();
 * ```
 */
export function firstStop(text: string, stops: readonly string[]): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}
