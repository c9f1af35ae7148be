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
 * Two ways in: `w_at(e)` decodes one element (the embedding lookup, and the reference), and
 * `block_dot(blk, xo)` multiplies a whole block by `x[xo ..]`, reading its scales once (the
 * matrix product).
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

/** `block_dot(blk, xo)`: `Σ_j w[blk, j] · x[xo + j]` over block `blk`, its scales read once. */
const BLOCK_DOT: Readonly<Record<QuantType, string>> = {
  q8_0: `
fn block_dot(blk: u32, xo: u32) -> f32 {
  let b = blk * 34u;
  var s = 0.0;
  for (var j = 0u; j < 32u; j++) { s += sbyte_at(b + 2u + j) * x[xo + j]; }
  return half_at(b) * s;
}`,
  q4_0: `
fn block_dot(blk: u32, xo: u32) -> f32 {
  let b = blk * 18u;
  var s = 0.0;
  for (var j = 0u; j < 16u; j++) {
    let q = byte_at(b + 2u + j);
    s += (f32(q & 15u) - 8.0) * x[xo + j] + (f32(q >> 4u) - 8.0) * x[xo + j + 16u];
  }
  return half_at(b) * s;
}`,
  q5_0: `
fn block_dot(blk: u32, xo: u32) -> f32 {
  let b = blk * 22u;
  let qh = byte_at(b + 2u) | (byte_at(b + 3u) << 8u) | (byte_at(b + 4u) << 16u) | (byte_at(b + 5u) << 24u);
  var s = 0.0;
  for (var j = 0u; j < 16u; j++) {
    let q = byte_at(b + 6u + j);
    let lo = (q & 15u) | (((qh >> j) & 1u) << 4u);
    let hi = (q >> 4u) | (((qh >> (j + 16u)) & 1u) << 4u);
    s += (f32(lo) - 16.0) * x[xo + j] + (f32(hi) - 16.0) * x[xo + j + 16u];
  }
  return half_at(b) * s;
}`,
  q4_k: `
fn block_dot(blk: u32, xo: u32) -> f32 {
  let b = blk * 144u;
  var s = 0.0;
  var m = 0.0;
  for (var g = 0u; g < 4u; g++) {
    let sm0 = k_scale_min(b, 2u * g);
    let sm1 = k_scale_min(b, 2u * g + 1u);
    var q0 = 0.0; var q1 = 0.0; var x0 = 0.0; var x1 = 0.0;
    for (var l = 0u; l < 32u; l++) {
      let q = byte_at(b + 16u + 32u * g + l);
      let xa = x[xo + 64u * g + l];
      let xb = x[xo + 64u * g + 32u + l];
      q0 += f32(q & 15u) * xa; q1 += f32(q >> 4u) * xb; x0 += xa; x1 += xb;
    }
    s += sm0.x * q0 + sm1.x * q1;
    m += sm0.y * x0 + sm1.y * x1;
  }
  return half_at(b) * s - half_at(b + 2u) * m;
}`,
  q5_k: `
fn block_dot(blk: u32, xo: u32) -> f32 {
  let b = blk * 176u;
  var s = 0.0;
  var m = 0.0;
  for (var g = 0u; g < 4u; g++) {
    let sm0 = k_scale_min(b, 2u * g);
    let sm1 = k_scale_min(b, 2u * g + 1u);
    var q0 = 0.0; var q1 = 0.0; var x0 = 0.0; var x1 = 0.0;
    for (var l = 0u; l < 32u; l++) {
      let q = byte_at(b + 48u + 32u * g + l);
      let h = byte_at(b + 16u + l);
      let lo = (q & 15u) | (((h >> (2u * g)) & 1u) << 4u);
      let hi = (q >> 4u) | (((h >> (2u * g + 1u)) & 1u) << 4u);
      let xa = x[xo + 64u * g + l];
      let xb = x[xo + 64u * g + 32u + l];
      q0 += f32(lo) * xa; q1 += f32(hi) * xb; x0 += xa; x1 += xb;
    }
    s += sm0.x * q0 + sm1.x * q1;
    m += sm0.y * x0 + sm1.y * x1;
  }
  return half_at(b) * s - half_at(b + 2u) * m;
}`,
  q6_k: `
fn block_dot(blk: u32, xo: u32) -> f32 {
  let b = blk * 210u;
  var s = 0.0;
  for (var h = 0u; h < 2u; h++) {
    for (var l = 0u; l < 32u; l++) {
      let ql0 = byte_at(b + 64u * h + l);
      let ql1 = byte_at(b + 64u * h + 32u + l);
      let qh = byte_at(b + 128u + 32u * h + l);
      let sc = b + 192u + 8u * h + l / 16u;
      let xi = xo + 128u * h + l;
      s += sbyte_at(sc) * (f32((ql0 & 15u) | ((qh & 3u) << 4u)) - 32.0) * x[xi];
      s += sbyte_at(sc + 2u) * (f32((ql1 & 15u) | (((qh >> 2u) & 3u) << 4u)) - 32.0) * x[xi + 32u];
      s += sbyte_at(sc + 4u) * (f32((ql0 >> 4u) | (((qh >> 4u) & 3u) << 4u)) - 32.0) * x[xi + 64u];
      s += sbyte_at(sc + 6u) * (f32((ql1 >> 4u) | (((qh >> 6u) & 3u) << 4u)) - 32.0) * x[xi + 96u];
    }
  }
  return half_at(b + 208u) * s;
}`,
};

/**
 * `block_dot_tile(blk, xo, nt) -> array<f32, 4>` per format where one exists: `block_dot` for
 * the first `nt` (at most 4) of 4 tokens whose `x` rows start at `xo`, `xo + k`, `xo + 2k`, … (`p.k`
 * apart), each weight decoded once for all of them. Each token's sum is `block_dot`'s: the same
 * products added in the same order.
 */
const BLOCK_DOT_TILE: Readonly<Partial<Record<QuantType, string>>> = {
  q8_0: `
fn block_dot_tile(blk: u32, xo: u32, nt: u32) -> array<f32, 4> {
  let b = blk * 34u;
  var s = array<f32, 4>();
  for (var j = 0u; j < 32u; j++) {
    let q = sbyte_at(b + 2u + j);
    for (var t = 0u; t < 4u; t++) { if (t < nt) { s[t] += q * x[xo + t * p.k + j]; } }
  }
  let d = half_at(b);
  return array<f32, 4>(d * s[0], d * s[1], d * s[2], d * s[3]);
}`,
  q4_k: `
fn block_dot_tile(blk: u32, xo: u32, nt: u32) -> array<f32, 4> {
  let b = blk * 144u;
  var s = array<f32, 4>();
  var m = array<f32, 4>();
  for (var g = 0u; g < 4u; g++) {
    let sm0 = k_scale_min(b, 2u * g);
    let sm1 = k_scale_min(b, 2u * g + 1u);
    var q0 = array<f32, 4>(); var q1 = array<f32, 4>(); var x0 = array<f32, 4>(); var x1 = array<f32, 4>();
    for (var l = 0u; l < 32u; l++) {
      let q = byte_at(b + 16u + 32u * g + l);
      let lo = f32(q & 15u);
      let hi = f32(q >> 4u);
      for (var t = 0u; t < 4u; t++) {
        if (t < nt) {
          let xa = x[xo + t * p.k + 64u * g + l];
          let xb = x[xo + t * p.k + 64u * g + 32u + l];
          q0[t] += lo * xa; q1[t] += hi * xb; x0[t] += xa; x1[t] += xb;
        }
      }
    }
    for (var t = 0u; t < 4u; t++) {
      s[t] += sm0.x * q0[t] + sm1.x * q1[t];
      m[t] += sm0.y * x0[t] + sm1.y * x1[t];
    }
  }
  let d = half_at(b);
  let dm = half_at(b + 2u);
  return array<f32, 4>(d * s[0] - dm * m[0], d * s[1] - dm * m[1], d * s[2] - dm * m[2], d * s[3] - dm * m[3]);
}`,
  q6_k: `
fn block_dot_tile(blk: u32, xo: u32, nt: u32) -> array<f32, 4> {
  let b = blk * 210u;
  var s = array<f32, 4>();
  for (var h = 0u; h < 2u; h++) {
    for (var l = 0u; l < 32u; l++) {
      let ql0 = byte_at(b + 64u * h + l);
      let ql1 = byte_at(b + 64u * h + 32u + l);
      let qh = byte_at(b + 128u + 32u * h + l);
      let sc = b + 192u + 8u * h + l / 16u;
      let w0 = sbyte_at(sc) * (f32((ql0 & 15u) | ((qh & 3u) << 4u)) - 32.0);
      let w1 = sbyte_at(sc + 2u) * (f32((ql1 & 15u) | (((qh >> 2u) & 3u) << 4u)) - 32.0);
      let w2 = sbyte_at(sc + 4u) * (f32((ql0 >> 4u) | (((qh >> 4u) & 3u) << 4u)) - 32.0);
      let w3 = sbyte_at(sc + 6u) * (f32((ql1 >> 4u) | (((qh >> 6u) & 3u) << 4u)) - 32.0);
      for (var t = 0u; t < 4u; t++) {
        if (t < nt) {
          let xi = xo + t * p.k + 128u * h + l;
          s[t] += w0 * x[xi];
          s[t] += w1 * x[xi + 32u];
          s[t] += w2 * x[xi + 64u];
          s[t] += w3 * x[xi + 96u];
        }
      }
    }
  }
  let d = half_at(b + 208u);
  return array<f32, 4>(d * s[0], d * s[1], d * s[2], d * s[3]);
}`,
};

/**
 * WGSL function `block_dot_tile(blk, xo, nt) -> array<f32, 4>` of a quantized format where it
 * has one (`q8_0`, `q4_k`, `q6_k`): `block_dot` for up to 4 tokens whose `x` rows are `p.k`
 * apart, each weight decoded once for all of them, each token's sum added in `block_dot`'s
 * order. Expects what `block_dot` does, and `p.k`.
 *
 * @param format the quantized format
 * @returns WGSL source, or undefined for a format without one
 *
 * @example
 * ```ts
 * import { quantBlockDotTile } from "./quant_access.ts";
 * if (!quantBlockDotTile("q8_0")?.includes("fn block_dot_tile") || quantBlockDotTile("q5_0")) throw new Error();
 * ```
 */
export function quantBlockDotTile(format: QuantType): string | undefined {
  return BLOCK_DOT_TILE[format];
}

/**
 * WGSL function `block_dot(blk, xo) -> f32` of a quantized format: block `blk` of the bound
 * chunk `w` times `x[xo .. xo + block size]` (`x: array<f32>`, declared by the kernel). Needs
 * {@linkcode quantAccess} in the same module.
 *
 * @param format the quantized format
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { quantBlockDot } from "./quant_access.ts";
 * if (!quantBlockDot("q6_k").includes("fn block_dot")) throw new Error();
 * ```
 */
export function quantBlockDot(format: QuantType): string {
  return BLOCK_DOT[format];
}

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
