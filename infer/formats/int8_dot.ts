/**
 * Products of `q8_0` and `q4_0` weights with activations rounded to 8 bits, in integers (the
 * scheme of llama.cpp's quantized dot products, and of the WebGPU engine's `dot4I8Packed` path):
 * each block of 32 activations gets a scale `dx` and integers `qx = round(x / dx)` (ties to
 * even), and a block's product is `dw · dx · Σ qw·qx`. `q4_0` stores `qw + 8`, so its sum is
 * `Σ (qw + 8)·qx − 8·Σ qx`. The scale is the power of two that puts the block's largest value
 * in `[64, 128)` (128 is stored as 127): where llama.cpp divides by 127, this needs no division,
 * so the GPU, whose division may be off by an ulp or two, rounds every activation exactly as
 * this oracle does.
 *
 * @module
 */

import { f16At, nearestInt } from "./_quant_common.ts";

/** Activations rounded to 8 bits, per block of 32: integers, scales and the integers' sums. */
export interface Int8Activations {
  /** The integers, one per activation. */
  readonly q: Int8Array;
  /** Each block's scale. */
  readonly d: Float32Array;
  /** Each block's sum of integers. */
  readonly sum: Int32Array;
}

/**
 * Round activations to 8 bits per block of 32 (`k` a multiple of 32).
 *
 * @param x the activations
 * @returns integers, scales and sums
 *
 * @example
 * ```ts
 * import { int8Activations } from "./int8_dot.ts";
 * // The largest value, 254, is in [2^7, 2^8): dx = 2^(7 − 6) = 2, and 1 / 2 = 0.5 rounds to 0.
 * const a = int8Activations(new Float32Array(32).map((_, i) => i === 0 ? 254 : 1));
 * if (a.d[0] !== 2 || a.q[0] !== 127 || a.q[1] !== 0 || a.sum[0] !== 127) throw new Error();
 * ```
 */
export function int8Activations(x: Float32Array): Int8Activations {
  const blocks = x.length / 32;
  const q = new Int8Array(x.length), d = new Float32Array(blocks), sum = new Int32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j]));
    const [dx, id] = powerOfTwoScale(amax);
    let s = 0;
    for (let j = 0; j < 32; j++) {
      const v = Math.max(-127, Math.min(127, nearestInt(Math.fround(x[32 * b + j] * id))));
      q[32 * b + j] = v;
      s += v;
    }
    d[b] = dx;
    sum[b] = s;
  }
  return { q, d, sum };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The scale `2^(e − 6)` for a block whose largest magnitude is in `[2^e, 2^(e+1))`, and its
 * inverse, both exact (built from the exponent bits); zero for a block of (near) zeros.
 */
function powerOfTwoScale(amax: number): [number, number] {
  f32[0] = amax;
  const exp = (u32[0] >>> 23) & 0xff;
  if (exp < 7) return [0, 0];
  u32[0] = (exp - 6) << 23;
  const d = f32[0];
  u32[0] = (260 - exp) << 23;
  return [d, f32[0]];
}

/**
 * One row of `q8_0` or `q4_0` blocks times 8-bit activations.
 *
 * @param type the row's format
 * @param bytes the packed blocks
 * @param byteOffset where the row starts
 * @param a the activations
 * @param ao the first activation block to use (`token · k / 32` for a batch of tokens)
 * @param k the row's values (a multiple of 32)
 * @returns the product
 *
 * @example
 * ```ts
 * import { int8Activations, int8DotRow } from "./int8_dot.ts";
 * const row = new Uint8Array(34);
 * row[1] = 0x3c; // d = 1
 * row[2] = 3; // qw[0] = 3
 * const a = int8Activations(new Float32Array(32).fill(127)); // dx = 1, qx = 127
 * if (int8DotRow("q8_0", row, 0, a, 0, 32) !== 3 * 127) throw new Error();
 * ```
 */
export function int8DotRow(
  type: "q8_0" | "q4_0",
  bytes: Uint8Array,
  byteOffset: number,
  a: Int8Activations,
  ao: number,
  k: number,
): number {
  const blockBytes = type === "q8_0" ? 34 : 18;
  const blocks = k / 32;
  let s = 0;
  for (let b = 0; b < blocks; b++) {
    const o = byteOffset + b * blockBytes;
    const qx = 32 * (ao + b);
    let isum = 0;
    if (type === "q8_0") {
      for (let j = 0; j < 32; j++) isum += ((bytes[o + 2 + j] << 24) >> 24) * a.q[qx + j];
    } else {
      for (let j = 0; j < 16; j++) {
        isum += (bytes[o + 2 + j] & 15) * a.q[qx + j] + (bytes[o + 2 + j] >> 4) * a.q[qx + j + 16];
      }
      isum -= 8 * a.sum[ao + b];
    }
    s += Math.fround(f16At(bytes, o) * a.d[ao + b]) * isum;
  }
  return s;
}
