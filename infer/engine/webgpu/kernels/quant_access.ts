/**
 * WGSL element access for ggml's quantized block formats, read from the packed blocks as they
 * lie in a GGUF file (bound as `w: array<u32>`, loaded 32 bits at a time and unpacked in the
 * shader; no `shader-f16` needed). Rows are whole blocks, so element `e` of a row-major chunk
 * lies in block `e / block_size` at position `e % block_size`.
 *
 * Block layouts (bytes, little-endian; `d`, `dmin` are IEEE halves):
 * - `q8_0` (32 values, 34 bytes): `d`, `qs[32]` signed; value `d · qs[j]`.
 * - `q4_0` (32, 18): `d`, `qs[16]`; value `j` is the low nibble of `qs[j]` (`j < 16`) or the high
 *   nibble of `qs[j - 16]`, minus 8, times `d`.
 * - `q5_0` (32, 22): `d`, `qh[4]` (bit `j` is value `j`'s fifth bit), `qs[16]` as in `q4_0`;
 *   value `d · (q − 16)`.
 * - `q4_k` (256, 144): `d`, `dmin`, `scales[12]` (eight 6-bit scales and mins), `qs[128]`. Value
 *   `j` is in sub-block `s = 2·(j / 64) + (j % 64) / 32`, nibble of `qs[32·(j / 64) + j % 32]`
 *   (low for the first 32 of each 64); value `d · scale[s] · q − dmin · min[s]`.
 * - `q5_k` (256, 176): as `q4_k` with `qh[32]` before `qs`: bit `s` of `qh[j % 32]` is the fifth bit.
 * - `q6_k` (256, 210): `ql[128]`, `qh[64]`, `scales[16]` signed, `d`. Half `h = j / 128`, quarter
 *   `c = (j % 128) / 32`, `l = j % 32`: low 4 bits from `ql[64h + l + 32·(c % 2)]` (low nibble for
 *   `c < 2`), high 2 bits `(qh[32h + l] >> 2c) & 3`; value `d · scales[8h + l / 16 + 2c] · (q − 32)`.
 *
 * The 6-bit scales of the K formats: for `s < 4`, scale `scales[s] & 63` and min
 * `scales[s + 4] & 63`; for `s ≥ 4`, scale `(scales[s + 4] & 15) | (scales[s − 4] >> 6) << 4` and
 * min `(scales[s + 4] >> 4) | (scales[s] >> 6) << 4`.
 *
 * @module
 */

import type { QuantType } from "../../../formats/ggml_types.ts";

const BYTES = `
fn byte_at(o: u32) -> u32 { return (w[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu; }
fn sbyte_at(o: u32) -> f32 { return f32(bitcast<i32>(byte_at(o) << 24u) >> 24u); }
fn half_at(o: u32) -> f32 { return unpack2x16float(w[o >> 2u] >> ((o & 2u) * 8u)).x; }`;

/** The 6-bit scale and min of sub-block `s` of the K block at byte `b` (scales at `b + 4`). */
const K_SCALES = `
fn k_scale_min(b: u32, s: u32) -> vec2<f32> {
  let o = b + 4u;
  if (s < 4u) { return vec2<f32>(f32(byte_at(o + s) & 63u), f32(byte_at(o + s + 4u) & 63u)); }
  let sc = (byte_at(o + s + 4u) & 15u) | ((byte_at(o + s - 4u) >> 6u) << 4u);
  let m = (byte_at(o + s + 4u) >> 4u) | ((byte_at(o + s) >> 6u) << 4u);
  return vec2<f32>(f32(sc), f32(m));
}`;

const ELEMENT: Readonly<Record<QuantType, string>> = {
  q8_0: `
fn w_at(e: u32) -> f32 {
  let b = (e / 32u) * 34u;
  return half_at(b) * sbyte_at(b + 2u + e % 32u);
}`,
  q4_0: `
fn w_at(e: u32) -> f32 {
  let b = (e / 32u) * 18u;
  let j = e % 32u;
  let byte = byte_at(b + 2u + j % 16u);
  let q = select(byte & 15u, byte >> 4u, j >= 16u);
  return half_at(b) * (f32(q) - 8.0);
}`,
  q5_0: `
fn w_at(e: u32) -> f32 {
  let b = (e / 32u) * 22u;
  let j = e % 32u;
  let byte = byte_at(b + 6u + j % 16u);
  let low = select(byte & 15u, byte >> 4u, j >= 16u);
  let high = (byte_at(b + 2u + j / 8u) >> (j % 8u)) & 1u;
  return half_at(b) * (f32(low | (high << 4u)) - 16.0);
}`,
  q4_k: `${K_SCALES}
fn w_at(e: u32) -> f32 {
  let b = (e / 256u) * 144u;
  let j = e % 256u;
  let g = j / 64u;
  let upper = (j % 64u) / 32u;
  let byte = byte_at(b + 16u + 32u * g + j % 32u);
  let q = select(byte & 15u, byte >> 4u, upper == 1u);
  let sm = k_scale_min(b, 2u * g + upper);
  return half_at(b) * sm.x * f32(q) - half_at(b + 2u) * sm.y;
}`,
  q5_k: `${K_SCALES}
fn w_at(e: u32) -> f32 {
  let b = (e / 256u) * 176u;
  let j = e % 256u;
  let g = j / 64u;
  let upper = (j % 64u) / 32u;
  let s = 2u * g + upper;
  let byte = byte_at(b + 48u + 32u * g + j % 32u);
  let low = select(byte & 15u, byte >> 4u, upper == 1u);
  let high = (byte_at(b + 16u + j % 32u) >> s) & 1u;
  let sm = k_scale_min(b, s);
  return half_at(b) * sm.x * f32(low | (high << 4u)) - half_at(b + 2u) * sm.y;
}`,
  q6_k: `
fn w_at(e: u32) -> f32 {
  let b = (e / 256u) * 210u;
  let j = e % 256u;
  let h = j / 128u;
  let c = (j % 128u) / 32u;
  let l = j % 32u;
  let byte = byte_at(b + 64u * h + l + 32u * (c % 2u));
  let low = select(byte & 15u, byte >> 4u, c >= 2u);
  let high = (byte_at(b + 128u + 32u * h + l) >> (2u * c)) & 3u;
  let scale = sbyte_at(b + 192u + 8u * h + l / 16u + 2u * c);
  return half_at(b + 208u) * scale * (f32(low | (high << 4u)) - 32.0);
}`,
};

/**
 * WGSL functions `w_at(e) -> f32` (element `e` of the bound chunk `w`) and `w_pair(k) ->
 * vec2<f32>` (elements `2k`, `2k + 1`) for a quantized format.
 *
 * @param format the quantized format
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { quantAccess } from "./quant_access.ts";
 * if (!quantAccess("q4_k").includes("k_scale_min")) throw new Error();
 * ```
 */
export function quantAccess(format: QuantType): string {
  return `${BYTES}${ELEMENT[format]}
fn w_pair(k: u32) -> vec2<f32> { return vec2<f32>(w_at(2u * k), w_at(2u * k + 1u)); }`;
}
