/**
 * A small seeded random generator (SplitMix32 seeding a xoshiro128** state), for sampling and
 * for the random-weight models of tests and benches. No global state: pass the generator in.
 *
 * @module
 */

/**
 * Seeded pseudo-random numbers.
 *
 * @example
 * ```ts
 * import { Rng } from "./random.ts";
 * const a = new Rng(42), b = new Rng(42);
 * if (a.next() !== b.next()) throw new Error();
 * const x = a.next();
 * if (!(x >= 0 && x < 1)) throw new Error();
 * ```
 */
export class Rng {
  #s = new Uint32Array(4);
  #spare: number | undefined;

  /**
   * A generator from a seed.
   *
   * @param seed any integer; equal seeds give equal sequences
   */
  constructor(seed: number) {
    let z = (Math.trunc(seed) >>> 0) ^ 0x9e3779b9;
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b) >>> 0;
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35) >>> 0;
      this.#s[i] = (t ^ (t >>> 16)) >>> 0;
    }
    if (this.#s.every((x) => x === 0)) this.#s[0] = 1;
  }

  /**
   * The next 32 random bits.
   *
   * @returns an unsigned 32-bit integer
   */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /**
   * A uniform number in [0, 1) with 32 random bits.
   *
   * @returns the number
   */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /**
   * A standard normal number (Box–Muller).
   *
   * @returns the number
   */
  normal(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    const u = 1 - this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
