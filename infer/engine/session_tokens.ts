/**
 * The token bookkeeping every engine's session shares: which tokens its cache holds, keeping a
 * prefix, reusing the longest cached prefix of the next prompt, and the checks before new tokens
 * are computed (room in the context, ids in the vocabulary). Engines keep their caches; this keeps
 * the list and the rules.
 *
 * @module
 */

import { reusableLength } from "./engine.ts";

/**
 * The tokens a session's cache holds, and the rules for changing them.
 *
 * @example
 * ```ts
 * import { SessionTokens } from "./session_tokens.ts";
 * const t = new SessionTokens(8, 100);
 * t.checkAppend([1, 2, 3]);
 * t.push([1, 2, 3]);
 * if (t.reusePrefix([1, 2, 9, 4]) !== 2 || t.ids.length !== 2) throw new Error();
 * let full = false;
 * try { t.checkAppend(new Array(7).fill(1)); } catch { full = true; }
 * if (!full) throw new Error();
 * ```
 */
export class SessionTokens {
  /** The most tokens the session holds. */
  readonly contextSize: number;
  /** Ids are below this. */
  readonly vocabSize: number;
  #ids: number[] = [];

  /**
   * Create an empty list.
   *
   * @param contextSize the most tokens the session holds
   * @param vocabSize ids must be below this
   */
  constructor(contextSize: number, vocabSize: number) {
    this.contextSize = contextSize;
    this.vocabSize = vocabSize;
  }

  /** The cached tokens, in order. */
  get ids(): readonly number[] {
    return this.#ids;
  }

  /**
   * Throw unless `tokens` can be computed next: at least one, room for all, each a vocabulary id.
   *
   * @param tokens the ids to append
   * @throws {RangeError} when the context is full or an id is outside the vocabulary
   * @throws {Error} when `tokens` is empty
   */
  checkAppend(tokens: readonly number[]): void {
    const n = tokens.length;
    if (n === 0) throw new Error("forward needs at least one token");
    const start = this.#ids.length;
    if (start + n > this.contextSize) {
      throw new RangeError(`context full: ${start} + ${n} tokens exceed the session's ${this.contextSize}`);
    }
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= this.vocabSize) {
        throw new RangeError(`token id ${t} outside the vocabulary (0..${this.vocabSize - 1})`);
      }
    }
  }

  /**
   * Record tokens whose keys and values are now cached.
   *
   * @param tokens the ids computed
   */
  push(tokens: readonly number[]): void {
    this.#ids.push(...tokens);
  }

  /**
   * Keep the first `length` tokens and forget the rest.
   *
   * @param length tokens to keep
   */
  truncate(length: number): void {
    if (length < this.#ids.length) this.#ids.length = Math.max(0, length);
  }

  /**
   * Keep the longest cached prefix of `ids`, leaving at least the last id to compute, and forget
   * the rest.
   *
   * @param ids the next prompt
   * @returns how many leading ids are already cached
   */
  reusePrefix(ids: readonly number[]): number {
    const n = reusableLength(this.#ids, ids);
    this.truncate(n);
    return n;
  }

  /**
   * A copy (for a forked session).
   *
   * @returns a list with the same tokens and limits
   */
  copy(): SessionTokens {
    const c = new SessionTokens(this.contextSize, this.vocabSize);
    c.#ids = [...this.#ids];
    return c;
  }

  /** Forget every token. */
  clear(): void {
    this.#ids = [];
  }
}
