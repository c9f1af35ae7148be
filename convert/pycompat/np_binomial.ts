/**
 * numpy's legacy global generator as the IEPile converter uses it: `np.random.seed(42)` then
 * `np.random.binomial(1, p, size).sum()` — the count of kept negative schemas. The legacy
 * `RandomState` stream is frozen by numpy's compatibility policy, so it can be reproduced
 * exactly: MT19937 seeded by `init_genrand`, 53-bit doubles from two outputs, and the
 * inversion algorithm for n·p ≤ 30.
 *
 * @module
 */

import { MT19937 } from "./mt19937.ts";

/**
 * The legacy `RandomState` subset the converter needs.
 *
 * @example
 * ```ts
 * import { NumpyLegacyRandom } from "./np_binomial.ts";
 * const r = new NumpyLegacyRandom(42);
 * // python3 -c 'import numpy as np; np.random.seed(42); print(np.random.binomial(1, 0.5, 10))'
 * // [0 1 1 1 0 0 0 1 1 1]
 * if (r.binomialSum(0.5, 10) !== 6) throw new Error();
 * ```
 */
export class NumpyLegacyRandom {
  readonly #mt: MT19937;
  /** The probability of the last draw, and its constants (`q^n`, the search bound). */
  #lastP = NaN;
  #qn = 0;
  #bound = 0;

  /**
   * Create a `NumpyLegacyRandom`.
   *
   * @param seed `np.random.seed(seed)` for an integer seed in 0..2^32−1
   */
  constructor(seed: number) {
    this.#mt = MT19937.fromSeed(seed);
  }

  /**
   * `random_sample()`: a double in [0, 1) from two 32-bit outputs.
   *
   * @returns the double
   *
   * @example
   * ```ts
   * import { NumpyLegacyRandom } from "./np_binomial.ts";
   * if (new NumpyLegacyRandom(42).nextDouble() !== 0.3745401188473625) throw new Error();
   * ```
   */
  nextDouble(): number {
    const a = this.#mt.nextUint32() >>> 5;
    const b = this.#mt.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /**
   * One draw of `binomial(1, p)`. Every draw consumes at least one double, also for p = 0 or 1.
   *
   * @param p probability in [0, 1]
   * @returns 0 or 1
   *
   * @example
   * ```ts
   * import { NumpyLegacyRandom } from "./np_binomial.ts";
   * if (new NumpyLegacyRandom(7).bernoulli(1) !== 1) throw new Error();
   * ```
   */
  bernoulli(p: number): number {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`binomial probability must be in [0, 1], got ${p}`);
    return p <= 0.5 ? this.#inversion(p) : 1 - this.#inversion(1 - p);
  }

  /**
   * `np.random.binomial(1, p, size).sum()`.
   *
   * @param p probability in [0, 1]
   * @param size number of draws (0 draws nothing)
   * @returns how many draws were 1
   *
   * @example
   * ```ts
   * import { NumpyLegacyRandom } from "./np_binomial.ts";
   * if (new NumpyLegacyRandom(42).binomialSum(1, 4) !== 4) throw new Error();
   * ```
   */
  binomialSum(p: number, size: number): number {
    // p = 0 or 1 (IEPile's default neg_schema is 1): every draw takes one double (two outputs)
    // and its outcome is p, whatever the double.
    if ((p === 0 || p === 1) && size > 0) {
      this.#mt.skip(2 * size);
      return p * size;
    }
    let k = 0;
    for (let i = 0; i < size; i++) k += this.bernoulli(p);
    return k;
  }

  /** numpy's `random_binomial_inversion` for n = 1. */
  #inversion(p: number): number {
    const n = 1;
    const q = 1 - p;
    // The same p comes draw after draw: its constants are computed once.
    if (p !== this.#lastP) {
      this.#lastP = p;
      this.#qn = Math.exp(n * Math.log(q));
      const np = n * p;
      this.#bound = Math.min(n, np + 10 * Math.sqrt(np * q + 1));
    }
    const qn = this.#qn;
    const bound = this.#bound;
    let x = 0;
    let px = qn;
    let u = this.nextDouble();
    while (u > px) {
      x++;
      if (x > bound) {
        x = 0;
        px = qn;
        u = this.nextDouble();
      } else {
        u -= px;
        px = ((n - x + 1) * p * px) / (x * q);
      }
    }
    return x;
  }
}
