/**
 * The 32-element ggml blocks with one f16 scale `d` and no minimum: `q8_0`, `q4_0` and `q5_0`.
 * Each element is `d · q` with `q` a signed integer of 8, 4 or 5 bits; the 4- and 5-bit ones
 * are stored with an offset (`q + 8`, `q + 16`) and element `j` of the block's first half shares
 * a byte of `qs` with element `j + 16`.
 *
 * @module
 */

import { type BlockCodec, f16At, putF16, roundAway } from "./_quant_common.ts";

/** Index of the absolute largest of 32 values from `xo` (the first of equal ones). */
function absMaxAt(x: Float32Array, xo: number): number {
  let at = xo;
  for (let j = 1; j < 32; j++) if (Math.abs(x[xo + j]) > Math.abs(x[at])) at = xo + j;
  return at;
}

/**
 * `q8_0`: `{ d: f16, qs: int8[32] }`, 34 bytes; `y[j] = d · qs[j]`. The quantizer takes
 * `d = max|x| / 127` and rounds `x / d` (ties away from zero).
 *
 * @example
 * ```ts
 * import { Q8_0 } from "./_quant_blocks_legacy.ts";
 * const b = new Uint8Array(34);
 * b[1] = 0x38; // d = 0.5
 * b[2] = 0xfe; // qs[0] = -2
 * const y = new Float32Array(32);
 * Q8_0.dequantize(b, 0, y, 0);
 * if (y[0] !== -1 || y[1] !== 0) throw new Error();
 * ```
 */
export const Q8_0: BlockCodec = {
  dequantize(b, o, y, yo) {
    const d = f16At(b, o);
    for (let j = 0; j < 32; j++) y[yo + j] = d * ((b[o + 2 + j] << 24) >> 24);
  },
  quantize(x, xo, b, o) {
    const amax = Math.abs(x[absMaxAt(x, xo)]);
    const d = Math.fround(amax / 127);
    const id = d ? 1 / d : 0;
    putF16(b, o, d);
    for (let j = 0; j < 32; j++) b[o + 2 + j] = roundAway(x[xo + j] * id);
  },
  dot(b, o, x, xo) {
    let s = 0;
    for (let j = 0; j < 32; j++) s += ((b[o + 2 + j] << 24) >> 24) * x[xo + j];
    return f16At(b, o) * s;
  },
};

/**
 * `q4_0`: `{ d: f16, qs: u8[16] }`, 18 bytes; `y[j] = d · ((qs[j] & 15) − 8)` and
 * `y[j + 16] = d · ((qs[j] >> 4) − 8)`. The quantizer takes `d = max / −8`, `max` the value
 * of largest magnitude with its sign, so that value is stored exactly as `q = −8`.
 *
 * @example
 * ```ts
 * import { Q4_0 } from "./_quant_blocks_legacy.ts";
 * const b = new Uint8Array(18);
 * b[1] = 0x3c; // d = 1
 * b[2] = 0xa3; // qs[0]: low nibble 3 (y[0] = 3 − 8), high nibble 10 (y[16] = 10 − 8)
 * const y = new Float32Array(32);
 * Q4_0.dequantize(b, 0, y, 0);
 * if (y[0] !== -5 || y[16] !== 2 || y[1] !== -8) throw new Error();
 * ```
 */
export const Q4_0: BlockCodec = {
  dequantize(b, o, y, yo) {
    const d = f16At(b, o);
    for (let j = 0; j < 16; j++) {
      const q = b[o + 2 + j];
      y[yo + j] = d * ((q & 15) - 8);
      y[yo + j + 16] = d * ((q >> 4) - 8);
    }
  },
  quantize(x, xo, b, o) {
    const max = x[absMaxAt(x, xo)];
    const d = Math.fround(max / -8);
    const id = d ? 1 / d : 0;
    putF16(b, o, d);
    const level = (v: number) => Math.min(15, Math.trunc(v * id + 8.5));
    for (let j = 0; j < 16; j++) b[o + 2 + j] = level(x[xo + j]) | (level(x[xo + j + 16]) << 4);
  },
  dot(b, o, x, xo) {
    let s = 0;
    let sx = 0;
    for (let j = 0; j < 16; j++) {
      const q = b[o + 2 + j];
      s += (q & 15) * x[xo + j] + (q >> 4) * x[xo + j + 16];
      sx += x[xo + j] + x[xo + j + 16];
    }
    return f16At(b, o) * (s - 8 * sx);
  },
};

/** Bit `j` of q5_0's little-endian `qh` (the 5th bit of element `j`) as 0 or 16. */
function highBit(b: Uint8Array, o: number, j: number): number {
  return ((b[o + 2 + (j >> 3)] >> (j & 7)) & 1) << 4;
}

/**
 * `q5_0`: `{ d: f16, qh: u32, qs: u8[16] }`, 22 bytes; element `j` is
 * `d · ((low 4 bits | bit j of qh · 16) − 16)`, the low bits of `j < 16` in `qs[j] & 15` and of
 * `j ≥ 16` in `qs[j − 16] >> 4`. The quantizer takes `d = max / −16`.
 *
 * @example
 * ```ts
 * import { Q5_0 } from "./_quant_blocks_legacy.ts";
 * const b = new Uint8Array(22);
 * b[1] = 0x3c; // d = 1
 * b[5] = 0x01; // qh bit 24: element 24 has its 5th bit
 * b[6 + 8] = 0x70; // qs[8]: element 8 low bits 0, element 24 low bits 7
 * const y = new Float32Array(32);
 * Q5_0.dequantize(b, 0, y, 0);
 * if (y[8] !== 0 - 16 || y[24] !== 16 + 7 - 16) throw new Error();
 * ```
 */
export const Q5_0: BlockCodec = {
  dequantize(b, o, y, yo) {
    const d = f16At(b, o);
    for (let j = 0; j < 16; j++) {
      const q = b[o + 6 + j];
      y[yo + j] = d * (((q & 15) | highBit(b, o, j)) - 16);
      y[yo + j + 16] = d * (((q >> 4) | highBit(b, o, j + 16)) - 16);
    }
  },
  quantize(x, xo, b, o) {
    const max = x[absMaxAt(x, xo)];
    const d = Math.fround(max / -16);
    const id = d ? 1 / d : 0;
    putF16(b, o, d);
    b.fill(0, o + 2, o + 6);
    const level = (v: number) => Math.min(31, Math.trunc(v * id + 16.5));
    for (let j = 0; j < 16; j++) {
      const q0 = level(x[xo + j]);
      const q1 = level(x[xo + j + 16]);
      b[o + 6 + j] = (q0 & 15) | ((q1 & 15) << 4);
      b[o + 2 + (j >> 3)] |= (q0 >> 4) << (j & 7);
      b[o + 4 + (j >> 3)] |= (q1 >> 4) << (j & 7);
    }
  },
  dot(b, o, x, xo) {
    let s = 0;
    let sx = 0;
    for (let j = 0; j < 16; j++) {
      const q = b[o + 6 + j];
      s += ((q & 15) | highBit(b, o, j)) * x[xo + j] + ((q >> 4) | highBit(b, o, j + 16)) * x[xo + j + 16];
      sx += x[xo + j] + x[xo + j + 16];
    }
    return f16At(b, o) * (s - 16 * sx);
  },
};
