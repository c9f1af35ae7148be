/**
 * Python 3.11's `random` module functions the IEPile converter uses — `seed(int)`, `shuffle`,
 * `sample` — drawing the same numbers from the same MT19937 stream, so the same items are
 * picked in the same order.
 *
 * @module
 */

import { MT19937 } from "./mt19937.ts";

/**
 * A `random.Random` seeded like `random.seed(seed)` for a non-negative integer seed.
 *
 * @example
 * ```ts
 * import { PyRandom } from "./py_random.ts";
 * const r = new PyRandom(42);
 * const xs = [1, 2, 3, 4, 5];
 * r.shuffle(xs);
 * // python3 -c 'import random; random.seed(42); x=[1,2,3,4,5]; random.shuffle(x); print(x)'
 * if (xs.join() !== "4,2,3,5,1") throw new Error(xs.join());
 * ```
 */
export class PyRandom {
  readonly #mt: MT19937;

  /**
   * Create a `PyRandom`.
   *
   * @param seed a non-negative integer below 2^53 (Python `random.seed(seed)`)
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
    }
    const key: number[] = [];
    let s = seed;
    do {
      key.push(s % 0x100000000);
      s = Math.floor(s / 0x100000000);
    } while (s > 0);
    this.#mt = MT19937.fromKey(key);
  }

  /**
   * `getrandbits(k)` for 1 ≤ k ≤ 32.
   *
   * @param k number of bits
   * @returns an integer in [0, 2^k)
   *
   * @example
   * ```ts
   * import { PyRandom } from "./py_random.ts";
   * if (new PyRandom(0).getrandbits(1) > 1) throw new Error();
   * ```
   */
  getrandbits(k: number): number {
    if (k < 1 || k > 32) throw new RangeError("getrandbits supports 1..32 bits here");
    return this.#mt.nextUint32() >>> (32 - k);
  }

  /**
   * `_randbelow(n)`: rejection sampling on `n.bit_length()` bits.
   *
   * @param n exclusive upper bound, 1 ≤ n < 2^32
   * @returns an integer in [0, n)
   *
   * @example
   * ```ts
   * import { PyRandom } from "./py_random.ts";
   * if (new PyRandom(1).randbelow(1) !== 0) throw new Error();
   * ```
   */
  randbelow(n: number): number {
    const shift = Math.clz32(n); // getrandbits(n.bit_length())
    const mt = this.#mt;
    let r = mt.nextUint32() >>> shift;
    while (r >= n) r = mt.nextUint32() >>> shift;
    return r;
  }

  /**
   * `random.shuffle(x)` in place.
   *
   * @param x the array to permute
   *
   * @example
   * ```ts
   * import { PyRandom } from "./py_random.ts";
   * const x = ["a"];
   * new PyRandom(3).shuffle(x);
   * if (x[0] !== "a") throw new Error();
   * ```
   */
  shuffle<T>(x: T[]): void {
    for (let i = x.length - 1; i > 0; i--) {
      const j = this.randbelow(i + 1);
      const t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
  }

  /**
   * `random.sample(population, k)`: k distinct positions, in selection order.
   *
   * @param population the sequence to draw from
   * @param k how many, 0 ≤ k ≤ population.length
   * @returns a new array
   *
   * @example
   * ```ts
   * import { PyRandom } from "./py_random.ts";
   * // python3 -c 'import random; random.seed(42); print(random.sample(range(10), 3))'
   * const got = new PyRandom(42).sample([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3);
   * if (got.join() !== "1,0,4") throw new Error(got.join());
   * ```
   */
  sample<T>(population: readonly T[], k: number): T[] {
    return this.#sample(population, k, false);
  }

  /**
   * `sample` from an array the caller gives up: the same draws and result, but `pool` is used as
   * the scratch copy `sample` would make, so its order afterwards is unspecified.
   *
   * @param pool a fresh array to draw from (reordered)
   * @param k how many, 0 ≤ k ≤ pool.length
   * @returns a new array
   *
   * @example
   * ```ts
   * import { PyRandom } from "./py_random.ts";
   * const got = new PyRandom(42).sampleFrom([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3);
   * if (got.join() !== "1,0,4") throw new Error(got.join());
   * ```
   */
  sampleFrom<T>(pool: T[], k: number): T[] {
    return this.#sample(pool, k, true);
  }

  #sample<T>(population: readonly T[], k: number, consume: boolean): T[] {
    const n = population.length;
    if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError("Sample larger than population or is negative");
    const result = new Array<T>(k);
    let setsize = 21;
    if (k > 5) setsize += 4 ** Math.ceil(Math.log(k * 3) / Math.log(4));
    if (n <= setsize) {
      const pool = consume ? population as T[] : population.slice();
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i);
        result[i] = pool[j];
        pool[j] = pool[n - i - 1];
      }
    } else {
      const selected = new Set<number>();
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n);
        while (selected.has(j)) j = this.randbelow(n);
        selected.add(j);
        result[i] = population[j];
      }
    }
    return result;
  }
}
