/**
 * The WebAssembly text of the `wasm` engine's prompt kernels for the block formats with
 * activations rounded to 8 bits: `p8_<format>` unpacks each group of 4 rows once
 * (`dq8_<format>`) into a scratch that stays in cache, then multiplies it with every token
 * (`$i8u_<format>` of `quant_i8_wat.ts`), so the levels' unpacking and the scales' decoding are
 * paid once per group rather than once per token:
 * - `q4_k`, `q5_k`: levels one per byte, scale and minimum vectors (the layout `UNPACKED_K` of
 *   `quant_wat.ts`); `q6_k` (relaxed SIMD): its levels as held, each `d · sc` as an f32
 *   (`UNPACKED_Q6K_BYTES`). Each token's sums are those of `i8_<format>`, bit for bit: the same
 *   integers, scales and order of additions. The 128-bit module's `p8_q6_k` is `i8_q6_k`.
 * - `q8_0`, `q4_0`, `q5_0`: the signed levels as i16 and `d` as an f32 (`UNPACKED_LEGACY_BYTES`),
 *   multiplied as the 128-bit `i8_<format>` multiplies them (its sums, bit for bit); with relaxed
 *   SIMD the levels as bytes (`q4_0`, `q5_0`: unsigned as stored, `UNPACKED_LEGACY_I8_BYTES`;
 *   `q8_0`: their magnitudes, then their signs as masks, `UNPACKED_LEGACY_BYTES`), multiplied by
 *   `i32x4.relaxed_dot_i8x16_i7x16_add_s` as the relaxed `i8_<format>` multiplies them (the same
 *   integers in each lane, so its sums, bit for bit).
 *
 * `$i8u_<format>` takes the tokens two at a time (`TILE_TOKENS` of `quant_i8_wat.ts`; `q6_k` one
 * at a time): each step of a block for one token then the other, each token's sums in the same
 * order as alone, so each load of the unpacked block (bounds-checked in code where the engine
 * has no trap handler, as Deno's has not) serves both.
 *
 * @module
 */

import {
  FORMATS,
  groupBlocks,
  QUANT_FORMATS,
  type QuantFormat,
  quantRowBytes,
  UNPACKED_K_BYTES,
  UNPACKED_Q6K_BYTES,
  weightsLoad,
} from "./quant_wat.ts";
import { type DotVariant, mmQuantI8Unpacked, unpackedLegacyLayout } from "./quant_i8_wat.ts";
import { c, lines, scratchGroups } from "./wat.ts";

/** The formats with prompt kernels, in the order the modules hold them: every block format. */
export const P8_FORMATS: readonly QuantFormat[] = QUANT_FORMATS;

/** Bytes of one block of one row unpacked. */
function unpackedBytes(format: QuantFormat, variant: DotVariant): number {
  return format === "q6_k"
    ? UNPACKED_Q6K_BYTES
    : FORMATS[format].size === 32
    ? unpackedLegacyLayout(format, variant).bytes
    : UNPACKED_K_BYTES;
}

/**
 * `$dq8_<format>(src, dst, in)`: the interleaved group of 4 rows at `src` (weights' memory)
 * unpacked at `dst` (the shared memory) in the layout the module doc gives for its format.
 *
 * @param format the block format
 * @param variant how the unpacked bytes will be multiplied (the 32-element blocks' layout)
 * @returns the function's text
 *
 * @example
 * ```ts
 * import { dq8 } from "./quant_p8_wat.ts";
 * if (!dq8("q4_k", "simd").includes("(func $dq8_q4_k")) throw new Error();
 * ```
 */
export function dq8(format: QuantFormat, variant: DotVariant): string {
  const f = FORMATS[format];
  const bytes = unpackedBytes(format, variant);
  const q6kRow = (r: number): string[] => {
    const at = r * bytes;
    const src = r * f.bytes;
    return [
      ...Array.from(
        { length: 16 },
        (_, k) => `(v128.store offset=${at + 16 * k} (local.get $dst) ${weightsLoad(src + 16 * k)})`,
      ),
      ...f.prep(r, src),
      ...[0, 1, 2, 3].map((k) => `(v128.store offset=${at + 256 + 16 * k} (local.get $dst) (local.get $S${r}${k}))`),
    ];
  };
  const legacyRow = (r: number): string[] => {
    const at = r * bytes;
    const d = `(f32.store offset=${at + unpackedLegacyLayout(format, variant).d} (local.get $dst) (local.get $d${r}))`;
    if (variant === "relaxed") {
      const u = f.units[0];
      if (!u.biased) {
        // q8_0: |level| (the second operand, in 0..127: ggml's quantizers write no −128), its sign as a mask.
        return [
          ...f.prep(r, r * f.bytes),
          ...u.q(r * f.bytes).flatMap((v, k) => [
            `(local.set $q ${v})`,
            `(v128.store offset=${at + 16 * k} (local.get $dst) (i8x16.abs (local.get $q)))`,
            `(v128.store offset=${
              at + 32 + 16 * k
            } (local.get $dst) (i8x16.lt_s (local.get $q) (v128.const i64x2 0 0)))`,
          ]),
          d,
        ];
      }
      return [
        ...f.prep(r, r * f.bytes),
        ...u.biased.u(r * f.bytes).map((v, k) => `(v128.store offset=${at + 16 * k} (local.get $dst) ${v})`),
        d,
      ];
    }
    return [
      ...f.prep(r, r * f.bytes),
      ...f.units[0].q(r * f.bytes).flatMap((v, k) => [
        `(local.set $q ${v})`,
        `(v128.store offset=${at + 32 * k} (local.get $dst) (i16x8.extend_low_i8x16_s (local.get $q)))`,
        `(v128.store offset=${at + 32 * k + 16} (local.get $dst) (i16x8.extend_high_i8x16_s (local.get $q)))`,
      ]),
      d,
    ];
  };
  const row = (r: number): string[] => {
    if (format === "q6_k") return q6kRow(r);
    if (f.size === 32) return legacyRow(r);
    const at = r * bytes;
    return [
      ...f.prep(r, r * f.bytes),
      ...f.units.flatMap((u) =>
        u.q(r * f.bytes).map((v, k) => `(v128.store offset=${at + u.e0 + 16 * k} (local.get $dst) ${v})`)
      ),
      ...[0, 1, 2, 3].map((k) => `(v128.store offset=${at + 256 + 16 * k} (local.get $dst) (local.get $S${r}${k}))`),
    ];
  };
  return groupBlocks(
    format,
    `;; the interleaved group of 4 ${format} rows at src, unpacked at dst (levels and scales ready to use)`,
    `$dq8_${format}`,
    [0, 1, 2, 3].flatMap(row),
    4 * bytes,
  );
}

/**
 * `p8_<format>(w, x, y, in, out, r0, r1, n, scratch)`: `y[t·out + o] = W[o] · x[t]` for rows
 * `r0 ≤ o < r1` and `n` tokens of 8-bit activations (as `i8_<format>` takes them), each group of
 * 4 rows unpacked into `scratch` and multiplied with every token; with the functions it calls
 * (`$dq8_<format>`, `$i8u_<format>`). The scratch holds `in · 5/4` bytes a row (`q6_k`: `in · 5/4`
 * too; `q8_0`, `q4_0`, `q5_0`: `in · 5/2`).
 *
 * @param format the block format
 * @param variant how bytes are multiplied
 * @returns the functions' text
 *
 * @example
 * ```ts
 * import { mmQuantP8 } from "./quant_p8_wat.ts";
 * if (!mmQuantP8("q4_k", "simd").includes(`(export "p8_q4_k")`)) throw new Error();
 * ```
 */
export function mmQuantP8(format: QuantFormat, variant: DotVariant): string {
  const params = `(param $w i32) (param $x i32) (param $y i32) (param $in i32) (param $out i32) ` +
    `(param $r0 i32) (param $r1 i32) (param $n i32) (param $scratch i32)`;
  if (format === "q6_k" && variant !== "relaxed") {
    return lines(
      0,
      `;; y[t·out + o] = W[o] · x[t] for r0 ≤ o < r1, t < n (q6_k: i8_q6_k's products, not unpacked here)`,
      `(func (export "p8_q6_k") ${params}`,
      `  (call $i8_q6_k (local.get $w) (local.get $x) (local.get $y) (local.get $in) (local.get $out) ` +
        `(local.get $r0) (local.get $r1) (local.get $n))`,
      `)`,
    );
  }
  const blocks = `(i32.shr_u (local.get $in) ${c(Math.log2(FORMATS[format].size))})`;
  const unpackedRow = `(i32.mul ${blocks} ${c(unpackedBytes(format, variant))})`;
  return [
    dq8(format, variant),
    mmQuantI8Unpacked(format, variant),
    lines(
      0,
      `;; y[t·out + o] = W[o] · x[t] for r0 ≤ o < r1, t < n (${format} groups unpacked one at a time; 8-bit activations)`,
      `(func (export "p8_${format}") ${params}`,
      lines(
        2,
        ...scratchGroups(
          `(call $dq8_${format} (i32.add (local.get $w) (i32.mul (local.get $o) ${
            quantRowBytes(format)
          })) (local.get $scratch) (local.get $in))`,
          (end) => [
            `;; the unpacked group o at scratch: its matrix "starts" o rows before`,
            `(call $i8u_${format} (i32.sub (local.get $scratch) (i32.mul (local.get $o) ${unpackedRow})) ` +
            `(local.get $x) (local.get $y) (local.get $in) (local.get $out) (local.get $o) ${end} (local.get $n))`,
          ],
        ),
      ),
      `)`,
    ),
  ].join("\n");
}
