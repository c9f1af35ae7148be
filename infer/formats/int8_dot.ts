/**
 * Products of ggml block rows (`q8_0`, `q4_0`, `q5_0`, `q4_k`, `q5_k`, `q6_k`) with activations
 * rounded to 8 bits, in integers (the scheme of llama.cpp's quantized dot products, and of the
 * WebGPU engine's `dot4I8Packed` path and the `wasm` engine's `i8_*` kernels): each block of 32
 * activations gets a scale `dx` and integers `qx = round(x / dx)` (ties to even), and each run
 * of weights with one scale is multiplied by them exactly in integers, then scaled:
 *
 * - `q8_0`, `q4_0`, `q5_0` (blocks of 32): `d · dx · Σ q·qx`, with `q` the signed level
 *   (`q4_0` stores `q + 8`, `q5_0` `q + 16`);
 * - `q4_k`, `q5_k` (sub-blocks of 32, one per activation block):
 *   `d·sc · dx · Σ q·qx − dmin·m · dx · Σ qx`;
 * - `q6_k` (sub-blocks of 16, two per activation block): `d·sc · dx · Σ (q − 32)·qx`.
 *
 * The activation scale is the power of two that puts the block's largest value in `[64, 128)`
 * (128 is stored as 127): where llama.cpp divides by 127, this needs no division, so the GPU,
 * whose division may be off by an ulp or two, rounds every activation exactly as this oracle
 * does. The weight scales `d·sc` are exact in f32 (an f16 times a small integer) and `dx` is a
 * power of two, so a kernel that sums in f32 differs from this only by the order of its sums.
 *
 * @module
 */

import { f16At, nearestInt } from "./_quant_common.ts";
import { minK4, scaleK4 } from "./_quant_blocks_k.ts";

/** The formats with 8-bit activation products. */
export type Int8DotFormat = "q8_0" | "q4_0" | "q5_0" | "q4_k" | "q5_k" | "q6_k";

/** The formats with 8-bit activation products (as a list, to test a `dtype` against). */
export const INT8_DOT_FORMATS: readonly Int8DotFormat[] = ["q8_0", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k"];

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
 * One row of ggml blocks times 8-bit activations.
 *
 * @param type the row's format
 * @param bytes the packed blocks
 * @param byteOffset where the row starts
 * @param a the activations
 * @param ao the first activation block to use (`token · k / 32` for a batch of tokens)
 * @param k the row's values (a multiple of the format's block size)
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
 * // q4_k: d = dmin = 1, sub-block 0 with scale 2 and minimum 1, element 0's level 3, the others 0:
 * // 2 · 3 · 127 − 1 · (32 · 127)
 * const k4 = new Uint8Array(144);
 * k4[1] = 0x3c;
 * k4[3] = 0x3c;
 * k4[4] = 2;
 * k4[8] = 1;
 * k4[16] = 3;
 * const a256 = int8Activations(new Float32Array(256).fill(127));
 * if (int8DotRow("q4_k", k4, 0, a256, 0, 256) !== 2 * 3 * 127 - 32 * 127) throw new Error();
 * ```
 */
export function int8DotRow(
  type: Int8DotFormat,
  bytes: Uint8Array,
  byteOffset: number,
  a: Int8Activations,
  ao: number,
  k: number,
): number {
  switch (type) {
    case "q4_k":
    case "q5_k":
      return scaleMinRow(type === "q5_k", bytes, byteOffset, a, ao, k);
    case "q6_k":
      return q6kRow(bytes, byteOffset, a, ao, k);
    default:
      return legacyRow(type, bytes, byteOffset, a, ao, k);
  }
}

/** `q8_0`, `q4_0`, `q5_0`: one f16 scale per block of 32, `d · dx · Σ q·qx`. */
function legacyRow(
  type: "q8_0" | "q4_0" | "q5_0",
  bytes: Uint8Array,
  byteOffset: number,
  a: Int8Activations,
  ao: number,
  k: number,
): number {
  const blockBytes = type === "q8_0" ? 34 : type === "q4_0" ? 18 : 22;
  const blocks = k / 32;
  let s = 0;
  for (let b = 0; b < blocks; b++) {
    const o = byteOffset + b * blockBytes;
    const qx = 32 * (ao + b);
    let isum = 0;
    if (type === "q8_0") {
      for (let j = 0; j < 32; j++) isum += ((bytes[o + 2 + j] << 24) >> 24) * a.q[qx + j];
    } else if (type === "q4_0") {
      for (let j = 0; j < 16; j++) {
        isum += (bytes[o + 2 + j] & 15) * a.q[qx + j] + (bytes[o + 2 + j] >> 4) * a.q[qx + j + 16];
      }
      isum -= 8 * a.sum[ao + b];
    } else {
      const qh = bytes[o + 2] | (bytes[o + 3] << 8) | (bytes[o + 4] << 16) | (bytes[o + 5] << 24);
      for (let j = 0; j < 16; j++) {
        const q = bytes[o + 6 + j];
        isum += ((q & 15) | (((qh >>> j) & 1) << 4)) * a.q[qx + j] +
          ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) * a.q[qx + j + 16];
      }
      isum -= 16 * a.sum[ao + b];
    }
    s += Math.fround(f16At(bytes, o) * a.d[ao + b]) * isum;
  }
  return s;
}

/** `q4_k`, `q5_k`: per sub-block of 32, `d·sc · dx · Σ q·qx − dmin·m · dx · Σ qx`. */
function scaleMinRow(
  five: boolean,
  bytes: Uint8Array,
  byteOffset: number,
  a: Int8Activations,
  ao: number,
  k: number,
): number {
  const blockBytes = five ? 176 : 144;
  let s = 0;
  for (let b = 0; b < k / 256; b++) {
    const o = byteOffset + b * blockBytes;
    const d = f16At(bytes, o), dmin = f16At(bytes, o + 2);
    for (let j = 0; j < 8; j++) {
      const ab = ao + 8 * b + j;
      const qx = 32 * ab;
      const qs = o + (five ? 48 : 16) + 32 * (j >> 1);
      const shift = 4 * (j & 1);
      let isum = 0;
      for (let l = 0; l < 32; l++) {
        const high = five ? ((bytes[o + 16 + l] >> j) & 1) << 4 : 0;
        isum += (((bytes[qs + l] >> shift) & 15) | high) * a.q[qx + l];
      }
      s += d * scaleK4(bytes, o + 4, j) * a.d[ab] * isum - dmin * minK4(bytes, o + 4, j) * a.d[ab] * a.sum[ab];
    }
  }
  return s;
}

/** `q6_k`: per sub-block of 16 (two per activation block), `d·sc · dx · Σ (q − 32)·qx`. */
function q6kRow(bytes: Uint8Array, byteOffset: number, a: Int8Activations, ao: number, k: number): number {
  let s = 0;
  for (let b = 0; b < k / 256; b++) {
    const o = byteOffset + b * 210;
    const d = f16At(bytes, o + 208);
    for (let m = 0; m < 16; m++) {
      // element e of the block: half h = e >> 7, quarter i = (e >> 5) & 3, l = e & 31
      const h = m >> 3, i = (m >> 1) & 3;
      const ql = o + 64 * h + 32 * (i & 1), qh = o + 128 + 32 * h;
      const ab = ao + 8 * b + (m >> 1);
      let isum = 0;
      for (let l = 16 * (m & 1); l < 16 * (m & 1) + 16; l++) {
        const q = ((bytes[ql + l] >> (4 * (i >> 1))) & 15) | (((bytes[qh + l] >> (2 * i)) & 3) << 4);
        isum += (q - 32) * a.q[32 * ab + l];
      }
      s += d * ((bytes[o + 192 + m] << 24) >> 24) * a.d[ab] * isum;
    }
  }
  return s;
}
