/**
 * Rows of ggml tensor data, in every type of {@linkcode GgmlTypeName}: packed from f32
 * (`quantizeRow`), unpacked to f32 (`dequantizeRow`), and multiplied with an f32 vector in place
 * (`dotRow`, one block at a time, for a CPU engine holding quantized weights). Plain number types
 * (`f32`, `f16`, `bf16`, little-endian) go through the same calls.
 *
 * A "row" is any whole number of blocks: a matrix whose row length is a multiple of its type's
 * block size is stored as its rows one after another, so a whole tensor is a row too.
 *
 * The block formats live in `_quant_blocks_legacy.ts` (`q8_0`, `q4_0`, `q5_0`) and
 * `_quant_blocks_k.ts` (`q4_k`, `q5_k`, `q6_k`); the quantizers follow the rules of ggml's
 * reference (`_ref`) quantizers, so the files written are what llama.cpp's `llama-quantize`
 * would write without an importance matrix, up to float rounding.
 *
 * @module
 */

import { InputError } from "../../io/errors.ts";
import type { BlockCodec } from "./_quant_common.ts";
import { Q4_0, Q5_0, Q8_0 } from "./_quant_blocks_legacy.ts";
import { Q4_K, Q5_K, Q6_K } from "./_quant_blocks_k.ts";
import { fromF32, table16 } from "./dtype.ts";
import { GGML_TYPE_LAYOUTS, type GgmlTypeName } from "./ggml_types.ts";

const CODECS: Readonly<Partial<Record<GgmlTypeName, BlockCodec>>> = {
  q8_0: Q8_0,
  q4_0: Q4_0,
  q5_0: Q5_0,
  q4_k: Q4_K,
  q5_k: Q5_K,
  q6_k: Q6_K,
};

/**
 * Whether a ggml type packs elements into blocks (anything but `f32`, `f16`, `bf16`).
 *
 * @param type the ggml type
 * @returns `true` for the block types
 *
 * @example
 * ```ts
 * import { isQuantized } from "./ggml_quant.ts";
 * if (!isQuantized("q4_k") || isQuantized("bf16")) throw new Error();
 * ```
 */
export function isQuantized(type: GgmlTypeName): boolean {
  return GGML_TYPE_LAYOUTS[type].blockSize > 1;
}

function blocksOf(type: GgmlTypeName, n: number): number {
  const { blockSize } = GGML_TYPE_LAYOUTS[type];
  if (n % blockSize !== 0) {
    throw new InputError(`${type} stores rows in blocks of ${blockSize}; a row of ${n} is not a whole number of them`);
  }
  return n / blockSize;
}

/**
 * Pack f32 values into a ggml type.
 *
 * @param type the ggml type
 * @param x the values (a whole number of the type's blocks)
 * @returns the packed bytes (`ggmlRowBytes(type, x.length)` of them)
 * @throws {InputError} when `x.length` is not a whole number of blocks
 *
 * @example
 * ```ts
 * import { dequantizeRow, quantizeRow } from "./ggml_quant.ts";
 * const x = Float32Array.from({ length: 32 }, (_, i) => (i - 16) / 8); // max |x| 2: d = 2 / 127
 * const b = quantizeRow("q8_0", x);
 * const y = dequantizeRow("q8_0", b, new Float32Array(32));
 * if (b.length !== 34 || Math.abs(y[0] + 2) > 2e-3 || Math.abs(y[31] - 15 / 8) > 1 / 127) throw new Error();
 * ```
 */
export function quantizeRow(type: GgmlTypeName, x: Float32Array): Uint8Array {
  const codec = CODECS[type];
  if (!codec) {
    const v = fromF32(x, type as "f32" | "f16" | "bf16");
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }
  const { blockSize, blockBytes } = GGML_TYPE_LAYOUTS[type];
  const nb = blocksOf(type, x.length);
  const out = new Uint8Array(nb * blockBytes);
  for (let i = 0; i < nb; i++) codec.quantize(x, i * blockSize, out, i * blockBytes);
  return out;
}

/**
 * Unpack a row of a ggml type into f32 values.
 *
 * @param type the ggml type
 * @param bytes the packed row: its first `ggmlRowBytes(type, out.length)` bytes are read
 * @param out where the values go; its length is the row's length
 * @returns `out`
 * @throws {InputError} when `out.length` is not a whole number of blocks or `bytes` is too short
 *
 * @example
 * ```ts
 * import { dequantizeRow } from "./ggml_quant.ts";
 * const b = new Uint8Array(18);
 * b[1] = 0x40; // q4_0 d = 2
 * b.fill(0x9a, 2); // every low nibble 10, every high nibble 9
 * const y = dequantizeRow("q4_0", b, new Float32Array(32));
 * if (y[0] !== 2 * (10 - 8) || y[16] !== 2 * (9 - 8)) throw new Error();
 * ```
 */
export function dequantizeRow(type: GgmlTypeName, bytes: Uint8Array, out: Float32Array): Float32Array {
  const { blockSize, blockBytes } = GGML_TYPE_LAYOUTS[type];
  const nb = blocksOf(type, out.length);
  if (bytes.length < nb * blockBytes) {
    throw new InputError(`${type}: ${out.length} values need ${nb * blockBytes} bytes, got ${bytes.length}`);
  }
  const codec = CODECS[type];
  if (codec) {
    for (let i = 0; i < nb; i++) codec.dequantize(bytes, i * blockBytes, out, i * blockSize);
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === "f32") {
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  } else {
    const t = table16(type as "f16" | "bf16");
    for (let i = 0; i < out.length; i++) out[i] = t[view.getUint16(2 * i, true)];
  }
  return out;
}

/**
 * The dot product of a packed row with f32 values, block by block (nothing is unpacked into
 * memory): `Σ row[i] · x[i]` for `i < n`.
 *
 * @param type the row's ggml type
 * @param bytes holds the packed row
 * @param byteOffset where the row starts in `bytes`
 * @param x the f32 vector (its first `n` values are used)
 * @param n the row's length, a whole number of blocks
 * @returns the dot product
 * @throws {InputError} when `n` is not a whole number of blocks
 *
 * @example
 * ```ts
 * import { dequantizeRow, dotRow, quantizeRow } from "./ggml_quant.ts";
 * const w = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i));
 * const x = Float32Array.from({ length: 256 }, (_, i) => Math.cos(i));
 * const packed = quantizeRow("q6_k", w);
 * const y = dequantizeRow("q6_k", packed, new Float32Array(256));
 * const plain = y.reduce((a, v, i) => a + v * x[i], 0);
 * if (Math.abs(dotRow("q6_k", packed, 0, x, 256) - plain) > 1e-5) throw new Error();
 * ```
 */
export function dotRow(type: GgmlTypeName, bytes: Uint8Array, byteOffset: number, x: Float32Array, n: number): number {
  const { blockSize, blockBytes } = GGML_TYPE_LAYOUTS[type];
  const nb = blocksOf(type, n);
  const codec = CODECS[type];
  let s = 0;
  if (codec) {
    for (let i = 0; i < nb; i++) s += codec.dot(bytes, byteOffset + i * blockBytes, x, i * blockSize);
    return s;
  }
  const at = bytes.byteOffset + byteOffset;
  if (type === "f32") {
    const w = at % 4 === 0
      ? new Float32Array(bytes.buffer, at, n)
      : new Float32Array(bytes.slice(byteOffset, byteOffset + 4 * n).buffer);
    for (let i = 0; i < n; i++) s += w[i] * x[i];
    return s;
  }
  const t = table16(type as "f16" | "bf16");
  const h = at % 2 === 0
    ? new Uint16Array(bytes.buffer, at, n)
    : new Uint16Array(bytes.slice(byteOffset, byteOffset + 2 * n).buffer);
  for (let i = 0; i < n; i++) s += t[h[i]] * x[i];
  return s;
}
