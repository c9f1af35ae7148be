/**
 * What the ggml block codecs share: the codec shape, reading and writing an f16 inside a block,
 * and the rounding rules of ggml's reference quantizers. Private to `ggml_quant.ts` and the
 * block files.
 *
 * @module
 */

import { f32ToF16, table16 } from "./dtype.ts";

/**
 * One ggml block format: how a block of `blockSize` elements is read, written, and multiplied
 * with f32 values in place. `b` holds the block at byte `o`; `x`/`y` hold its elements from `xo`/`yo`.
 */
export interface BlockCodec {
  /** Write the block's values to `y` from `yo`. */
  dequantize(b: Uint8Array, o: number, y: Float32Array, yo: number): void;
  /** Pack `blockSize` values of `x` from `xo` into the block at `b[o]`. */
  quantize(x: Float32Array, xo: number, b: Uint8Array, o: number): void;
  /** Σ value·x over the block, without writing its values anywhere. */
  dot(b: Uint8Array, o: number, x: Float32Array, xo: number): number;
}

const F16 = table16("f16");

/**
 * The little-endian f16 at `b[o]` as a number.
 *
 * @param b bytes
 * @param o offset
 * @returns its value
 *
 * @example
 * ```ts
 * import { f16At } from "./_quant_common.ts";
 * if (f16At(new Uint8Array([0x00, 0x3c]), 0) !== 1) throw new Error();
 * ```
 */
export function f16At(b: Uint8Array, o: number): number {
  return F16[b[o] | (b[o + 1] << 8)];
}

/**
 * Store `v` rounded to f16 at `b[o]` (little-endian); returns the value stored.
 *
 * @param b bytes
 * @param o offset
 * @param v the value
 * @returns `v` as f16 rounds it
 *
 * @example
 * ```ts
 * import { putF16 } from "./_quant_common.ts";
 * const b = new Uint8Array(2);
 * if (putF16(b, 0, -2) !== -2 || b[1] !== 0xc0) throw new Error();
 * ```
 */
export function putF16(b: Uint8Array, o: number, v: number): number {
  const h = f32ToF16(v);
  b[o] = h & 0xff;
  b[o + 1] = h >>> 8;
  return F16[h];
}

const ROUNDER = 1.5 * 2 ** 52;

/**
 * Round to the nearest integer, ties to even (the rounding of ggml's `nearest_int`).
 *
 * @param v the number
 * @returns the integer
 *
 * @example
 * ```ts
 * import { nearestInt } from "./_quant_common.ts";
 * if (nearestInt(2.5) !== 2 || nearestInt(3.5) !== 4 || nearestInt(-2.5) !== -2 || nearestInt(1.4) !== 1) throw new Error();
 * ```
 */
export function nearestInt(v: number): number {
  // Adding then subtracting 1.5 · 2^52 leaves no fraction bits: the sum is rounded as the FPU
  // rounds, to nearest with ties to even (exact for |v| < 2^51).
  return v + ROUNDER - ROUNDER;
}

/**
 * Round to the nearest integer, ties away from zero (C's `roundf`).
 *
 * @param v the number
 * @returns the integer
 *
 * @example
 * ```ts
 * import { roundAway } from "./_quant_common.ts";
 * if (roundAway(2.5) !== 3 || roundAway(-2.5) !== -3 || roundAway(-0.4) !== 0) throw new Error();
 * if (roundAway(0.49999999999999994) !== 0 || roundAway(-126.5) !== -127) throw new Error();
 * ```
 */
export function roundAway(v: number): number {
  const t = Math.trunc(v);
  const f = v - t; // exact: the fraction, with v's sign
  return f >= 0.5 ? t + 1 : f <= -0.5 ? t - 1 : t;
}
