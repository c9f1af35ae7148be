/**
 * Python's `round(x, n)` on floats and the reference's P/R/F1 formula built on it.
 *
 * Python rounds the **exact binary value** of a double half-to-even: `round(0.125, 2)` is
 * `0.12` (0.125 is exact, a tie, the even neighbour wins) while `round(2.675, 2)` is `2.67`
 * (the double nearest to 2.675 lies below it). `Math.round(x * 100) / 100` and `toFixed` get
 * such cases wrong, so the rounding here expands the double into its exact decimal digits.
 *
 * @module
 */

/**
 * Python `round(x, ndigits)` for a float and `ndigits >= 0`.
 *
 * @param x the value
 * @param ndigits decimal places to keep (default 2)
 * @returns the double nearest to `x` rounded half-to-even at `ndigits` places
 *
 * @example
 * ```ts
 * import { pyRound } from "./round.ts";
 * const got = [0.125, 2.675, 66.665, 0.375, -0.125, 28.571428571428573].map((x) => pyRound(x, 2)).join(" ");
 * if (got !== "0.12 2.67 66.67 0.38 -0.12 28.57") throw new Error(got);
 * ```
 */
export function pyRound(x: number, ndigits = 2): number {
  if (!Number.isInteger(ndigits) || ndigits < 0) throw new RangeError("ndigits must be a non-negative integer");
  if (!Number.isFinite(x) || x === 0 || Number.isInteger(x)) return x;
  const { mantissa, exponent } = decompose(Math.abs(x));
  // |x| = mantissa × 2^exponent with exponent < 0 here (x is not an integer), i.e.
  // |x| = mantissa × 5^s / 10^s with s = -exponent: an exact decimal with s fraction digits.
  const s = -exponent;
  if (s <= ndigits) return x;
  const digits = mantissa * 5n ** BigInt(s);
  const div = 10n ** BigInt(s - ndigits);
  let q = digits / div;
  const twice = 2n * (digits % div);
  if (twice > div || (twice === div && (q & 1n) === 1n)) q += 1n;
  const rounded = Number(`${q}e-${ndigits}`);
  return x < 0 ? -rounded : rounded;
}

/** A positive finite double as `mantissa × 2^exponent` with an integer mantissa. */
function decompose(x: number): { mantissa: bigint; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (biased === 0) return { mantissa: frac, exponent: -1074 };
  return { mantissa: frac | (1n << 52n), exponent: biased - 1075 };
}

/** Precision, recall and F1 in percent, rounded as the reference rounds them. */
export interface Prf {
  /** `round(tp / pred × 100, 2)`, 0.0 when nothing was predicted. */
  P: number;
  /** `round(tp / gold × 100, 2)`, 0.0 when there is no gold tuple. */
  R: number;
  /** `round(2·P·R / (P + R), 2)` from the already rounded P and R, 0.0 when P + R = 0. */
  F1: number;
}

/**
 * The reference's micro P/R/F1 from counts: P and R rounded to two places (Python `round`), F1
 * computed from the rounded P and R and rounded again.
 *
 * @param tp matched tuples
 * @param pred predicted tuples
 * @param gold gold tuples
 * @returns P, R and F1 in percent
 *
 * @example
 * ```ts
 * import { prf } from "./round.ts";
 * const { P, R, F1 } = prf(2, 7, 3); // 28.571… → 28.57, 66.666… → 66.67, 2·28.57·66.67/95.24 = 39.99… → 40.0
 * if (P !== 28.57 || R !== 66.67 || F1 !== 40) throw new Error(`${P} ${R} ${F1}`);
 * ```
 */
export function prf(tp: number, pred: number, gold: number): Prf {
  const P = pred === 0 ? 0 : pyRound(tp / pred * 100, 2);
  const R = gold === 0 ? 0 : pyRound(tp / gold * 100, 2);
  const F1 = P + R === 0 ? 0 : pyRound(2 * P * R / (P + R), 2);
  return { P, R, F1 };
}
