/**
 * The interface every engine implements (`cpu`, `webgpu`): sessions that hold a KV cache,
 * take tokens, and give the next-token logits (or only their argmax, which a GPU engine can
 * compute without reading the logits back).
 *
 * @module
 */

import type { ModelSpec } from "../model/model_spec.ts";
import type { BatchRoom } from "./batch_room.ts";

/**
 * One token sequence being computed: its KV cache and the tokens in it.
 *
 * Prefix reuse: {@linkcode Session.reusePrefix} keeps the cached part a new prompt shares with
 * the tokens already computed, so records that share an instruction prefix are prefilled once.
 */
export interface Session {
  /** The tokens whose keys and values are cached, in order. */
  readonly tokens: readonly number[];
  /** The most tokens this session can hold. */
  readonly contextSize: number;
  /**
   * Append tokens and compute; returns the logits for the token after the last one.
   *
   * @param tokens ids to append (at least one)
   * @returns `vocabSize` logits
   */
  forward(tokens: readonly number[]): Promise<Float32Array>;
  /**
   * Append tokens and compute; returns the next-token logits at every appended position.
   *
   * @param tokens ids to append
   * @returns one `vocabSize` array per appended token
   */
  forwardAll(tokens: readonly number[]): Promise<Float32Array[]>;
  /**
   * Append tokens and compute; returns the id with the highest next-token logit (the lowest
   * such id on ties), reading back only that id where the engine can.
   *
   * @param tokens ids to append
   * @returns the greedy next token
   */
  forwardGreedy(tokens: readonly number[]): Promise<number>;
  /**
   * Where the engine has it: append tokens and compute; returns the id with the highest
   * next-token logit among the allowed ones (the lowest such id on ties; NaN logits are never
   * chosen), reading back only that id where the engine can. The choice equals
   * {@linkcode maskedArgmax} over `forward`'s logits, so a constrained greedy answer is the same
   * either way.
   *
   * @param tokens ids to append (at least one)
   * @param mask the allowed ids as a bitset: bit `id % 32` of word `id >> 5` (ids past its end
   *   are not allowed)
   * @returns the best allowed next token, or -1 when the mask allows none of the vocabulary
   */
  forwardMasked?(tokens: readonly number[], mask: Uint32Array): Promise<number>;
  /**
   * Keep the first `length` cached tokens and forget the rest.
   *
   * @param length tokens to keep
   */
  truncate(length: number): void;
  /**
   * Keep the longest cached prefix of `ids`, leaving at least the last id to compute (its
   * logits are needed), and forget the rest.
   *
   * @param ids the next prompt
   * @returns how many leading ids are already cached
   */
  reusePrefix(ids: readonly number[]): number;
  /**
   * A new session with a copy of this one's cache.
   *
   * @returns the copy
   */
  fork(): Session;
  /** Free the session's memory. */
  dispose(): void;
}

/** Options for a new session. */
export interface SessionOptions {
  /** Most tokens the session will hold (default: the engine's context size). */
  readonly contextSize?: number;
}

/** One session's part of a batched step: {@linkcode Engine.forwardBatch}. */
export interface BatchStep {
  /** A session of the engine. */
  readonly session: Session;
  /** The token it appends. */
  readonly token: number;
}

/**
 * The tokens an engine's sessions hold when no context size is given: the model's positions, at
 * most 4096 on the CPU engines and 2048 on WebGPU (which makes each session's cache that long at
 * once).
 *
 * @param spec the model
 * @param engine the engine's kind
 * @returns the context size
 *
 * @example
 * ```ts
 * import { defaultContextSize } from "./engine.ts";
 * if (defaultContextSize({ maxPositions: 32768 }, "webgpu") !== 2048) throw new Error();
 * if (defaultContextSize({ maxPositions: 512 }, "cpu") !== 512) throw new Error();
 * ```
 */
export function defaultContextSize(spec: Pick<ModelSpec, "maxPositions">, engine: "cpu" | "webgpu"): number {
  return Math.min(spec.maxPositions, engine === "cpu" ? 4096 : 2048);
}

/** A model ready to run on some hardware. */
export interface Engine {
  /** `cpu` or `webgpu`. */
  readonly name: string;
  /** What the model computes. */
  readonly spec: ModelSpec;
  /** The most tokens a session holds unless it asks for fewer. */
  readonly contextSize: number;
  /**
   * A new, empty session.
   *
   * @param options context size
   * @returns the session
   */
  createSession(options?: SessionOptions): Session;
  /**
   * Where the engine has it: append one token to each of several of its sessions (each at most
   * once) in one pass that reads the weights once for all of them. Each session's logits equal,
   * bit for bit, what its own `forward([token])` would return, so batching never changes an
   * answer. Engines without it step sessions one at a time.
   *
   * @param steps the sessions and their tokens
   * @returns each session's next-token logits, in the order of `steps`
   */
  forwardBatch?(steps: readonly BatchStep[]): Promise<Float32Array[]>;
  /**
   * Where the engine knows it: how many more sessions, each holding up to `tokens` tokens, its
   * memory has room for now, up to the most it batches by default (`infer`'s default `--batch`,
   * `chooseBatch`). Nothing is allocated for them.
   *
   * @param tokens the most tokens each session holds (at most `contextSize`)
   * @returns the count, the most, one session's bytes and the memory that bounded it
   */
  batchRoom?(tokens: number): Promise<BatchRoom>;
  /** Free the engine's memory (weights, device buffers). */
  dispose(): void;
}

/**
 * The longest common prefix of cached tokens and a new prompt that may be reused: at most
 * `ids.length - 1`, since the last prompt token must be computed to get its logits.
 *
 * @param cached tokens in the cache
 * @param ids the new prompt
 * @returns how many tokens to keep
 *
 * @example
 * ```ts
 * import { reusableLength } from "./engine.ts";
 * if (reusableLength([1, 2, 3], [1, 2, 4]) !== 2 || reusableLength([1, 2], [1, 2]) !== 1) throw new Error();
 * ```
 */
export function reusableLength(cached: readonly number[], ids: readonly number[]): number {
  const limit = Math.min(cached.length, ids.length - 1);
  let n = 0;
  while (n < limit && cached[n] === ids[n]) n++;
  return n;
}

/**
 * The index of the largest value (the first on ties), skipping NaN.
 *
 * @param values the values
 * @returns its index (-1 when empty)
 *
 * @example
 * ```ts
 * import { argmax } from "./engine.ts";
 * if (argmax(new Float32Array([1, 3, 3])) !== 1) throw new Error();
 * ```
 */
export function argmax(values: ArrayLike<number>): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (values[i] > bestValue || (best < 0 && values[i] === -Infinity)) {
      best = i;
      bestValue = values[i];
    }
  }
  return best;
}

/**
 * The index of the largest value among those a bitset allows (the first on ties), skipping
 * NaN: what {@linkcode Session.forwardMasked} returns, computed from logits.
 *
 * @param values the values (logits)
 * @param mask the allowed indices: bit `i % 32` of word `i >> 5`; indices past either end are not allowed
 * @returns the index (-1 when none is allowed, or every allowed value is NaN)
 *
 * @example
 * ```ts
 * import { maskedArgmax } from "./engine.ts";
 * const logits = new Float32Array([5, 3, 3, 1]);
 * if (maskedArgmax(logits, new Uint32Array([0b1110])) !== 1) throw new Error("ties: the lower id");
 * if (maskedArgmax(logits, new Uint32Array([0b1000])) !== 3 || maskedArgmax(logits, new Uint32Array(1)) !== -1) {
 *   throw new Error();
 * }
 * ```
 */
export function maskedArgmax(values: ArrayLike<number>, mask: Uint32Array): number {
  let best = -1;
  let bestValue = -Infinity;
  const words = Math.min(mask.length, Math.ceil(values.length / 32));
  for (let w = 0; w < words; w++) {
    for (let bits = mask[w]; bits !== 0; bits &= bits - 1) {
      const i = w * 32 + 31 - Math.clz32(bits & -bits);
      if (i >= values.length) break;
      const v = values[i];
      if (v > bestValue || (best < 0 && v === -Infinity)) {
        best = i;
        bestValue = v;
      }
    }
  }
  return best;
}
