/**
 * The body of `i8_q6_k` under relaxed SIMD: one interleaved group of 4 `q6_k` rows times one
 * token's 8-bit activations (the layout of `quant_i8_wat.ts`), with every sub-block's scale
 * applied in integers.
 *
 * A `q6_k` block is 16 runs of 16 levels `u − 32` (`u` in 0..63, its low 4 bits in `ql`, its high
 * 2 in `qh`), each with a signed 8-bit scale `sc`, and one f16 `d`; the activations have one
 * scale `dx` per 32 elements, so two runs share one. For activation block `j`, runs `2j` and
 * `2j + 1`:
 *
 *   `d · dx_j · (Σ_run sc · Σ u·qx − 32 · Σ_run sc · Σ qx)`
 *
 * The bracket is an exact integer, built as follows:
 * - `Σ u·qx` in i16 pairs (`i16x8.relaxed_dot_i8x16_i7x16_s`, `u` is in 0..127 so the result is
 *   deterministic; a pair is at most 2 · 63 · 127 = 16,002), then times the run's `sc` in the
 *   same step as the pairs are widened (`i32x4.dot_i16x8_s` against `sc` in every lane; at most
 *   2 · 16,002 · 128 per lane);
 * - `Σ qx` of each run is the same for the group's 4 rows: taken once per block as i16 (at most
 *   16 · 127) and multiplied by the row's 8 scales at once (`i32x4.dot_i16x8_s`, lane j: runs
 *   `2j`, `2j + 1`), times 32.
 *
 * A block's bracket is at most 16 · 16 · 63 · 127 · 128 < 2^31 in magnitude. Four activation
 * blocks' brackets are gathered into one vector (lane j: block j), converted once and scaled by
 * `d · dx`. The i32 → f32 conversion is the only rounding before the f32 sums (relative 2^-24),
 * where the generic path converts each run's sum exactly and rounds in its products instead.
 *
 * Each `ql` and `qh` vector is loaded once per row and block, though 2 and 4 runs read it. The
 * prompt kernel `p8_q6_k` (`quant_p8_wat.ts`) runs the same body over blocks unpacked once per
 * group: the levels `u` one per byte, each scale already in every i16 lane, so a run costs a load
 * where the packed blocks cost the levels' rebuilding and a shuffle.
 *
 * @module
 */

import { c, i8x16, xqLoad } from "./wat.ts";
import { laneSums, q6kLevels, UNPACKED_Q6K_BYTES, weightsLoad } from "./quant_wat.ts";

const zero = "(v128.const i64x2 0 0)";
const get = (v: string): string => `(local.get ${v})`;

/** The locals this body sets, beyond the kernels' shared ones. */
export const Q6K_I8_LOCALS: string =
  `(local $T0 v128) (local $T1 v128) (local $E0 v128) (local $E1 v128) (local $BG0 v128) (local $BG1 v128) ` +
  `(local $QL0 v128) (local $QL1 v128) (local $QL2 v128) (local $QL3 v128) (local $QH0 v128) (local $QH1 v128)`;

/** i16 lane `l` of the local `v` in every lane. */
function splat16(v: string, l: number): string {
  const idx = Array.from({ length: 16 }, (_, i) => 2 * l + (i & 1)).join(" ");
  return `(i8x16.shuffle ${idx} ${get(v)} ${get(v)})`;
}

/**
 * The levels `u` of run `k` (0, 1) of quarter `quad` (0–3) of a half block, from the half's `ql`
 * vectors `$QL0 … $QL3` and `qh` vectors `$QH0`, `$QH1`: elements `32·quad + 16·k …` of the
 * half read `ql[32·(quad & 1) + 16·k …]` and `qh[16·k …]`.
 */
function runLevels(quad: number, k: number): string {
  return q6kLevels(get(`$QL${2 * (quad & 1) + k}`), get(`$QH${k}`), quad);
}

/**
 * Statements for one group of 4 rows and one block, adding each row's product to `$a<r>`.
 * `packed`: the `q6_k` blocks themselves (row r's at byte `210·r` from `$p`), `$d0 … $d3`
 * holding the rows' `d`. `unpacked`: the layout `dq8_q6_k` writes (`UNPACKED_Q6K_BYTES` a row),
 * the same integers and scales loaded rather than rebuilt, so the sums are the same, bit for bit.
 *
 * @param source where the levels and scales come from
 * @returns the statements
 *
 * @example
 * ```ts
 * import { q6kRelaxedBody } from "./q6k_i8_wat.ts";
 * const body = q6kRelaxedBody("packed").join("\n");
 * if (!body.includes("i32x4.dot_i16x8_s") || body.includes("f32x4.convert_i32x4_s (local.get $i)")) throw new Error();
 * ```
 */
export function q6kRelaxedBody(source: "packed" | "unpacked"): string[] {
  // Σ qx of each run (16 of them), shared by the 4 rows: lane m of $T0 (runs 0–7), $T1 (8–15).
  const runSums = [0, 1, 2, 3].flatMap((g) => [
    ...[0, 1, 2, 3].map((j) =>
      `(local.set $I${j} (i32x4.relaxed_dot_i8x16_i7x16_add_s ${xqLoad(16 * (4 * g + j))} ${i8x16(1)} ${zero}))`
    ),
    ...laneSums("i32x4.add", ["$I0", "$I1", "$I2", "$I3"], ["$I0", "$I2"], "$I0"),
    // Runs 4g … 4g + 3 in $I0's lanes; two such vectors narrowed into one of 8 (exact: |Σ qx| < 2^15).
    g & 1
      ? `(local.set $T${g >> 1} (i16x8.narrow_i32x4_s (local.get $BG0) (local.get $I0)))`
      : `(local.set $BG0 (local.get $I0))`,
  ]);
  const unpacked = source === "unpacked";
  const scratch = (at: number) => `(v128.load offset=${at} (local.get $p))`;
  const row = (r: number): string[] => {
    const at = (unpacked ? UNPACKED_Q6K_BYTES : 210) * r;
    // Run m's levels and its scale in every i16 lane.
    const run = (h: number, quad: number, k: number): [string, string] => {
      const m = 8 * h + 2 * quad + k;
      return unpacked
        ? [scratch(at + 16 * m), scratch(at + 256 + 16 * m)]
        : [runLevels(quad, k), splat16(`$E${h}`, 2 * quad + k)];
    };
    return [
      ...(unpacked
        ? [
          `(local.set $E0 ${scratch(at + 512)})`,
          `(local.set $E1 ${scratch(at + 528)})`,
          `(local.set $d${r} (f32.load offset=${at + 544} (local.get $p)))`,
        ]
        : [
          `(local.set $t ${weightsLoad(at + 192)})`,
          `(local.set $E0 (i16x8.extend_low_i8x16_s (local.get $t)))`,
          `(local.set $E1 (i16x8.extend_high_i8x16_s (local.get $t)))`,
        ]),
      // 32 · Σ sc · Σ qx per activation block (lane j: runs 2j, 2j + 1 of the half).
      ...[0, 1].map((h) =>
        `(local.set $BG${h} (i32x4.shl (i32x4.dot_i16x8_s ${get(`$E${h}`)} ${get(`$T${h}`)}) ${c(5)}))`
      ),
      ...[0, 1].flatMap((h) => [
        ...(unpacked ? [] : [
          ...[0, 1, 2, 3].map((k) => `(local.set $QL${k} ${weightsLoad(at + 64 * h + 16 * k)})`),
          ...[0, 1].map((k) => `(local.set $QH${k} ${weightsLoad(at + 128 + 32 * h + 16 * k)})`),
        ]),
        ...[0, 1, 2, 3].map((quad) => {
          const product = (k: number) => {
            const [levels, scale] = run(h, quad, k);
            const m = 8 * h + 2 * quad + k;
            return `(i32x4.dot_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s ${xqLoad(16 * m)} ${levels}) ${scale})`;
          };
          return `(local.set $I${quad} (i32x4.add ${product(0)} ${product(1)}))`;
        }),
        ...laneSums("i32x4.add", ["$I0", "$I1", "$I2", "$I3"], ["$I0", "$I2"], "$I0"),
        `(local.set $a${r} (f32x4.add (local.get $a${r}) (f32x4.mul ` +
        `(f32x4.convert_i32x4_s (i32x4.sub (local.get $I0) (local.get $BG${h}))) ` +
        `(f32x4.mul (f32x4.splat (local.get $d${r})) (v128.load offset=${16 * h} (local.get $xd))))))`,
      ]),
    ];
  };
  return [...runSums, ...[0, 1, 2, 3].flatMap(row)];
}
