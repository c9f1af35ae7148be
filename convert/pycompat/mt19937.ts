/**
 * The Mersenne Twister MT19937 generator (32-bit outputs) with both seeding procedures:
 * `init_genrand` (numpy's legacy `RandomState.seed(int)`) and `init_by_array` (Python's
 * `random.seed(int)`).
 *
 * @module
 */

const N = 624;
const M = 397;

/**
 * MT19937 state and 32-bit output.
 *
 * @example
 * ```ts
 * import { MT19937 } from "./mt19937.ts";
 * // Reference value: the first output of init_genrand(5489) is 3499211612.
 * if (MT19937.fromSeed(5489).nextUint32() !== 3499211612) throw new Error();
 * ```
 */
export class MT19937 {
  readonly #mt = new Uint32Array(N);
  #index = N;

  private constructor() {}

  /**
   * Seed with `init_genrand(seed)`.
   *
   * @param seed a 32-bit unsigned integer
   * @returns the generator
   *
   * @example
   * ```ts
   * import { MT19937 } from "./mt19937.ts";
   * MT19937.fromSeed(42).nextUint32();
   * ```
   */
  static fromSeed(seed: number): MT19937 {
    const g = new MT19937();
    g.#initGenrand(seed >>> 0);
    return g;
  }

  /**
   * Seed with `init_by_array(key)`.
   *
   * @param key 32-bit words (Python uses the 32-bit chunks of |seed|, low word first)
   * @returns the generator
   *
   * @example
   * ```ts
   * import { MT19937 } from "./mt19937.ts";
   * MT19937.fromKey([42]).nextUint32();
   * ```
   */
  static fromKey(key: readonly number[]): MT19937 {
    const g = new MT19937();
    const mt = g.#mt;
    g.#initGenrand(19650218);
    let i = 1, j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (mt[i] ^ Math.imul(prev, 1664525)) + key[j] + j;
      i++, j++;
      if (i >= N) mt[0] = mt[N - 1], i = 1;
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (mt[i] ^ Math.imul(prev, 1566083941)) - i;
      i++;
      if (i >= N) mt[0] = mt[N - 1], i = 1;
    }
    mt[0] = 0x80000000;
    return g;
  }

  #initGenrand(seed: number): void {
    const mt = this.#mt;
    mt[0] = seed;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = Math.imul(1812433253, prev) + i;
    }
    this.#index = N;
  }

  /**
   * The next 32-bit output (`genrand_int32`).
   *
   * @returns an unsigned 32-bit integer
   *
   * @example
   * ```ts
   * import { MT19937 } from "./mt19937.ts";
   * const x = MT19937.fromSeed(1).nextUint32();
   * if (x < 0 || x > 0xffffffff) throw new Error();
   * ```
   */
  nextUint32(): number {
    if (this.#index >= N) this.#nextBlock();
    let y = this.#mt[this.#index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /**
   * Draw and drop `count` outputs (the stream then continues as after `count` calls of
   * `nextUint32`).
   *
   * @param count how many outputs to pass over
   *
   * @example
   * ```ts
   * import { MT19937 } from "./mt19937.ts";
   * const a = MT19937.fromSeed(1), b = MT19937.fromSeed(1);
   * a.skip(1000);
   * for (let i = 0; i < 1000; i++) b.nextUint32();
   * if (a.nextUint32() !== b.nextUint32()) throw new Error();
   * ```
   */
  skip(count: number): void {
    let left = count;
    while (left > 0) {
      if (this.#index >= N) this.#nextBlock();
      const step = Math.min(left, N - this.#index);
      this.#index += step;
      left -= step;
    }
  }

  /** The next N words, in the reference's three loops (no modulo); outputs are tempered as they are read. */
  #nextBlock(): void {
    const mt = this.#mt;
    let k = 0;
    for (; k < N - M; k++) {
      const y = (mt[k] & 0x80000000) | (mt[k + 1] & 0x7fffffff);
      mt[k] = mt[k + M] ^ (y >>> 1) ^ (-(y & 1) & 0x9908b0df);
    }
    for (; k < N - 1; k++) {
      const y = (mt[k] & 0x80000000) | (mt[k + 1] & 0x7fffffff);
      mt[k] = mt[k + M - N] ^ (y >>> 1) ^ (-(y & 1) & 0x9908b0df);
    }
    const y = (mt[N - 1] & 0x80000000) | (mt[0] & 0x7fffffff);
    mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (-(y & 1) & 0x9908b0df);
    this.#index = 0;
  }
}
