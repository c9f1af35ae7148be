/**
 * The body of `i8_q6_k` under relaxed SIMD: one interleaved group of 4 `q6_k` rows (in the
 * engine's layout, {@linkcode Q6K_BYTES} a block: levels `u` one byte each, 16 signed scales, `d`)
 * times one token's 8-bit activations (the layout of `quant_i8_wat.ts`).
 *
 * A block is 16 runs of 16 levels `u − 32` (`u` in 0..63), each with a scale `sc`; the
 * activations have one scale `dx` per 32 elements, so two runs share one. Runs go four at a time,
 * a "quad" (runs `4g … 4g + 3`, activation blocks `2g`, `2g + 1`), whose levels the engine holds
 * as 4 vectors, vector `c`'s 32-bit lane k holding run `4g + k`'s elements `4c … 4c + 3`
 * (`infer/engine/wasm/q6k_layout.ts`). The quad's activations are arranged the same way once for
 * the group's 4 rows (the 4×4 transposition of their 32-bit lanes), so for each row:
 *
 *   `Σ_lanes (d · sc · dx) · (Σ u·qx − 32 · Σ qx)`
 *
 * - the bracket of all 4 runs at once, lane k run `4g + k`, by 4 chained
 *   `i32x4.relaxed_dot_i8x16_i7x16_add_s` (`u` in 0..127, so the result is deterministic; x86:
 *   `vpdpbusd`) starting from `−32 · Σ qx` of each run (computed once per quad for the 4 rows): no
 *   sum across lanes. Each lane is an exact integer of at most 16 · 63 · 127 + 32 · 16 · 127 < 2^24
 *   in magnitude, so its conversion to f32 is exact;
 * - times `d · sc · dx` per lane (f32), added to the row's sums.
 *
 * The prompt kernel `p8_q6_k` (`quant_p8_wat.ts`) runs the same body over blocks unpacked once
 * per group, each `d · sc` an f32 ready to load (`UNPACKED_Q6K_BYTES`): held so, a block would
 * take 17% more bytes, and decoding, which reads each block once per token, is bound by the
 * bytes it streams from memory where a prompt's tokens share each read.
 *
 * @module
 */

import { c, i8x16, weightsMemory, xqLoad } from "./wat.ts";
import { lane, Q6K_BYTES, transposed, UNPACKED_Q6K_BYTES, weightsLoad } from "./quant_wat.ts";

const get = (v: string): string => `(local.get ${v})`;

/** The locals this body sets, beyond the kernels' shared ones. */
export const Q6K_I8_LOCALS: string = `(local $NQ v128) (local $DX v128) (local $sc v128)`;

/** `$DX` ← the activation scales of quad `g`'s runs: `dx` of blocks `2g`, `2g`, `2g + 1`, `2g + 1`. */
function quadDx(g: number): string {
  const l = 2 * (g & 1);
  const idx = [l, l, l + 1, l + 1].flatMap((k) => [0, 1, 2, 3].map((i) => 4 * k + i)).join(" ");
  const v = `(v128.load offset=${16 * (g >> 1)} (local.get $xd))`;
  return `(local.set $DX (i8x16.shuffle ${idx} ${v} ${v}))`;
}

/** `acc` + the dot products of the arranged activations `$X0 … $X3` with `levels`, chained. */
function chain(levels: readonly string[], acc: string): string {
  return levels.reduce((a, l, k) => `(i32x4.relaxed_dot_i8x16_i7x16_add_s ${get(`$X${k}`)} ${l} ${a})`, acc);
}

/**
 * Statements for one group of 4 rows and one block, adding each row's product to `$a<r>`.
 * `packed`: the blocks as the engine holds them (row r's at byte `Q6K_BYTES · r` from `$p`,
 * `$d0 … $d3` holding the rows' `d`). `unpacked`: the layout `dq8_q6_k` writes
 * (`UNPACKED_Q6K_BYTES` a row), the same levels with each `d · sc` loaded rather than widened and
 * multiplied, so the sums are the same, bit for bit (`d · sc` is exact in f32 either way).
 *
 * @param source where the levels and scales come from
 * @returns the statements
 *
 * @example
 * ```ts
 * import { q6kRelaxedBody } from "./q6k_i8_wat.ts";
 * const body = q6kRelaxedBody("packed").join("\n");
 * if (!body.includes("i32x4.relaxed_dot_i8x16_i7x16_add_s") || body.includes("i16x8.shr_u")) throw new Error();
 * ```
 */
export function q6kRelaxedBody(source: "packed" | "unpacked"): string[] {
  const unpacked = source === "unpacked";
  const levels = (at: number) => unpacked ? `(v128.load offset=${at} (local.get $p))` : weightsLoad(at);
  // d · sc of the quad's runs, row r's block at `at`.
  const scales = (r: number, at: number, g: number) =>
    unpacked
      ? `(v128.load offset=${at + 256 + 16 * g} (local.get $p))`
      : `(f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s ` +
        `(v128.load8x8_s${weightsMemory()} offset=${at + 256 + 4 * g} (local.get $p)))) ${lane("$hv", r)})`;
  return [0, 1, 2, 3].flatMap((g) => [
    // The quad's activations (run 4g + k in $I<k>) arranged as its levels are: $X<c>, lane k.
    ...[0, 1, 2, 3].map((k) => `(local.set $I${k} ${xqLoad(16 * (4 * g + k))})`),
    ...[0, 1, 2, 3].map((k) => `(local.set $X${k} ${transposed(["$I0", "$I1", "$I2", "$I3"].map(get), k)})`),
    // −32 · Σ qx of each run: Σ qx as the same chained products against 1s, shifted and negated.
    `(local.set $NQ (i32x4.neg (i32x4.shl ${chain([0, 1, 2, 3].map(() => i8x16(1)), "(v128.const i64x2 0 0)")} ${
      c(5)
    })))`,
    quadDx(g),
    ...[0, 1, 2, 3].flatMap((r) => {
      const at = (unpacked ? UNPACKED_Q6K_BYTES : Q6K_BYTES) * r;
      return [
        `(local.set $sc (f32x4.mul ${scales(r, at, g)} ${get("$DX")}))`,
        `(local.set $a${r} (f32x4.add ${get(`$a${r}`)} (f32x4.mul (f32x4.convert_i32x4_s ${
          chain([0, 1, 2, 3].map((k) => levels(at + 64 * g + 16 * k)), get("$NQ"))
        }) ${get("$sc")})))`,
      ];
    }),
  ]);
}
