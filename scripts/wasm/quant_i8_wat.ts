/**
 * The WebAssembly text of the `wasm` engine's products of ggml block rows with activations
 * rounded to 8 bits (`int8Dot`; the oracle is `infer/formats/int8_dot.ts`). The weights are the
 * interleaved groups of 4 rows of `quant_wat.ts`, their levels rebuilt in registers as i8x16 from
 * the same format descriptions; the activations come quantized, per token:
 *
 *   `in` signed bytes `qx`, then `in/32` f32 scales `dx`, then `in/32` f32 `dx · Σ qx`
 *   (`5·in/4` bytes a token)
 *
 * and each run of weights with one scale is multiplied by them exactly in integers (i32 lanes),
 * then converted and scaled once by `d·sc · dx` (exact in f32: an f16 times a small integer times
 * a power of two), the k-quants' minimums subtracted through `dx · Σ qx`. (The k-quants' runs go
 * four at a time: their four integer sums are gathered into one vector, lane j run j's, and
 * scaled by the vector of their four scales.) So a kernel's result differs from the oracle's only
 * by the order of its f32 sums.
 *
 * Two ways to multiply 16 bytes:
 * - `simd` (128-bit SIMD): both sides widened to i16 and `i32x4.dot_i16x8_s`;
 * - `relaxed` (relaxed SIMD): `i32x4.relaxed_dot_i8x16_i7x16_add_s`, whose second operand must
 *   be in 0..127 to be deterministic: the k-quants' unsigned 4/5-bit levels are used as they
 *   are; levels stored with a bias (`q4_0`, `q5_0`,
 *   `q6_k`: `u − 8`, `u − 16`, `u − 32`) are taken as `u` and `bias · Σ qx` subtracted, itself a dot product with a constant of `bias`
 *   (as llama.cpp subtracts its block sums); `q8_0`'s signed levels meet `|qx|` and take `qx`'s
 *   sign (llama.cpp's trick; a level of −128 with a negative `qx` would wrap, which ggml's
 *   quantizers never write).
 *
 * @module
 */

import {
  type Format,
  FORMATS,
  laneSums,
  LOCALS,
  type QuantFormat,
  quantRowBytes,
  type Unit,
  UNPACKED_K,
  UNPACKED_K_BYTES,
  UNPACKED_LEGACY_BYTES,
  UNPACKED_LEGACY_I8_BYTES,
  UNPACKED_Q6K_BYTES,
} from "./quant_wat.ts";
import { c, groupStores, hsum, i8x16, lines, xqLoad } from "./wat.ts";
import { Q6K_I8_LOCALS, q6kRelaxedBody } from "./q6k_i8_wat.ts";

/** How 16 bytes of levels and activations are multiplied. */
export type DotVariant = "simd" | "relaxed";

/** Formats whose levels the descriptions give unsigned (the k-quants with minimums). */
const UNSIGNED: ReadonlySet<QuantFormat> = new Set(["q4_k", "q5_k"]);

const zero = "(v128.const i64x2 0 0)";
const xLoad = xqLoad;

/**
 * `$i += levels · x` for one i8x16 of levels (`$q` set) and the activations at byte `at`, with
 * shared registers where the block's activations were prepared once (`pre`, legacy formats).
 */
function dot16(variant: DotVariant, at: number, pre?: number, bias?: number): string[] {
  if (variant === "simd") {
    const xl = pre === undefined ? `(i16x8.extend_low_i8x16_s ${xLoad(at)})` : `(local.get $X${2 * pre})`;
    const xh = pre === undefined ? `(i16x8.extend_high_i8x16_s ${xLoad(at)})` : `(local.get $X${2 * pre + 1})`;
    return [
      `(local.set $i (i32x4.add (local.get $i) (i32x4.add ` +
      `(i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $q)) ${xl}) ` +
      `(i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $q)) ${xh}))))`,
    ];
  }
  // Relaxed SIMD here serves the legacy blocks (the super-blocks' unsigned runs take unitSum's
  // i16 path), whose activations are prepared once for their 4 rows.
  if (pre === undefined) throw new Error("relaxed products of signed levels read prepared activations");
  if (bias !== undefined) {
    // Levels stored as u − bias, u in 0..127: Σ u·x − bias·Σ x, both as relaxed dot products
    // whose second operand is in 0..127 (exact), the second shared by the block's 4 rows.
    return [
      `(local.set $i (i32x4.sub (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $X${2 * pre}) (local.get $q) ` +
      `(local.get $i)) (local.get $X${2 * pre + 1})))`,
    ];
  }
  return [
    `(local.set $i (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.bitselect (i8x16.neg (local.get $q)) (local.get $q) ` +
    `(local.get $X${2 * pre + 1})) (local.get $X${2 * pre}) (local.get $i)))`,
  ];
}

/** The registers holding a legacy block's activations for its 4 rows (vector k at `$X2k`, `$X2k+1`). */
function prepareX(variant: DotVariant, k: number, bias?: number): string[] {
  const x = xLoad(16 * k);
  if (variant === "simd") {
    return [
      `(local.set $X${2 * k} (i16x8.extend_low_i8x16_s ${x}))`,
      `(local.set $X${2 * k + 1} (i16x8.extend_high_i8x16_s ${x}))`,
    ];
  }
  if (bias !== undefined) {
    return [
      `(local.set $X${2 * k} ${x})`,
      `(local.set $X${2 * k + 1} (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $X${2 * k}) ${i8x16(bias)} ${zero}))`,
    ];
  }
  return [`(local.set $X${2 * k} (i8x16.abs ${x}))`, `(local.set $X${2 * k + 1} (i8x16.lt_s ${x} ${zero}))`];
}

/**
 * One run of one row: its integer sum (4 partial lanes) into `$i`.
 *
 * Unsigned levels under relaxed SIMD (the k-quants' 4/5-bit levels, in 0..31) take one
 * `i32x4.relaxed_dot_i8x16_i7x16_add_s` per vector, chained through the run (one `vpdpbusd` each
 * where x86 has AVX-VNNI, as V8 compiles it here).
 */
function unitSum(
  variant: DotVariant,
  format: QuantFormat,
  f: Format,
  u: Unit,
  r: number,
  shared: boolean,
): string[] {
  const at = r * f.bytes;
  const biased = variant === "relaxed" ? u.biased : undefined;
  const levels = biased?.u(at) ?? u.q(at);
  if (variant === "relaxed" && UNSIGNED.has(format)) {
    if (shared) throw new Error(`${format}: a super-block's runs read their own activations`);
    const sum = levels.reduce(
      (acc, v, k) => `(i32x4.relaxed_dot_i8x16_i7x16_add_s ${xLoad(u.e0 + 16 * k)} ${v} ${acc})`,
      zero,
    );
    return [`(local.set $i ${sum})`];
  }
  return [
    `(local.set $i ${zero})`,
    ...levels.flatMap((v, k) => [
      `(local.set $q ${v})`,
      ...dot16(variant, u.e0 + 16 * k, shared ? k : undefined, biased?.bias),
    ]),
  ];
}

/** `$I0` ← the sums of `$I0 … $I3` across lanes (lane j: the sum of `$Ij`'s lanes). */
function reduceFour(): string[] {
  return laneSums("i32x4.add", ["$I0", "$I1", "$I2", "$I3"], ["$I0", "$I2"], "$I0");
}

/**
 * A legacy block's one run of one row (its activations prepared once for the 4 rows): its
 * integer sum, converted and scaled into `$a<r>`.
 */
function rowUnit(variant: DotVariant, format: QuantFormat, f: Format, u: Unit, r: number, scale: string): string[] {
  return [
    ...unitSum(variant, format, f, u, r, true),
    `(local.set $a${r} (f32x4.add (local.get $a${r}) (f32x4.mul (f32x4.convert_i32x4_s (local.get $i)) ${scale})))`,
  ];
}

/**
 * Four runs of one row whose scales are the lanes of one vector: their sums `$I0 … $I3` reduced
 * across lanes into one vector (lane j: run j's sum), then converted and scaled at once.
 */
function fourUnits(
  variant: DotVariant,
  format: QuantFormat,
  f: Format,
  units: readonly Unit[],
  r: number,
  scales: string,
): string[][] {
  return [
    ...units.map((u, j) => [
      ...unitSum(variant, format, f, u, r, false),
      `(local.set $I${j} (local.get $i))`,
    ]),
    [
      ...reduceFour(),
      `(local.set $a${r} (f32x4.add (local.get $a${r}) (f32x4.mul (f32x4.convert_i32x4_s (local.get $I0)) ${scales})))`,
    ],
  ];
}

/** An f32x4 of the activation scales (at `$xd`) of blocks `lanes`. */
function dxLanes(lanes: number[]): string {
  const first = lanes[0];
  const idx = lanes.flatMap((l) => [0, 1, 2, 3].map((i) => 4 * (l - first) + i)).join(" ");
  const v = `(v128.load offset=${4 * first} (local.get $xd))`;
  return lanes.every((l, i) => l === first + i) ? v : `(i8x16.shuffle ${idx} ${v} ${v})`;
}

/**
 * `i8_<format>(w, x, y, in, out, r0, r1, n)`: `y[t·out + o] = W[o] · x[t]` for rows
 * `r0 ≤ o < r1` and `n` tokens of quantized activations (each token's `5·in/4` bytes after the
 * last), group by group: a group's 4 rows (a few KiB) stay in cache while every token passes.
 *
 * @param format the block format
 * @param variant how bytes are multiplied
 * @returns the function's text
 *
 * @example
 * ```ts
 * import { mmQuantI8 } from "./quant_i8_wat.ts";
 * if (!mmQuantI8("q4_k", "simd").includes(`(export "i8_q4_k")`)) throw new Error();
 * ```
 */
export function mmQuantI8(format: QuantFormat, variant: DotVariant): string {
  const f = FORMATS[format];
  // q6_k under relaxed SIMD has a body of its own (q6k_i8_wat.ts): its runs four at a time,
  // each quad's activations loaded once for the group's 4 rows.
  const q6kRelaxed = format === "q6_k" && variant === "relaxed";
  return i8Function({
    what: `${format} groups; 8-bit activations, ${variant}`,
    name: `$i8_${format} (export "i8_${format}")`,
    f,
    rowBytes: quantRowBytes(format),
    body: q6kRelaxed ? [...f.scalars, ...q6kRelaxedBody("packed")] : i8Body(format, variant, f),
    locals: q6kRelaxed ? [Q6K_I8_LOCALS] : [],
  });
}

/**
 * `$i8u_<format>(w, x, y, in, out, r0, r1, n)`: as `i8_<format>` over groups unpacked by
 * `dq8_<format>` (`quant_p8_wat.ts`), the same sums in the same order with the levels and scales
 * loaded, not rebuilt (not exported: `p8_<format>` calls it). `q4_k` and `q5_k` in the layout
 * `UNPACKED_K` (either variant), `q6_k` in `UNPACKED_Q6K_BYTES` (relaxed SIMD only). The
 * 32-element blocks' signed levels (`q8_0`, `q4_0`, `q5_0`) are unpacked to i16 and multiplied as
 * the 128-bit `i8_<format>` multiplies them (its sums, bit for bit, under either variant; relaxed
 * SIMD's `i8_<format>` sums other lanes). Tokens go two at a time ({@linkcode TILE_TOKENS};
 * `q6_k`, whose quads already fill the registers, one at a time), each load of the block
 * serving both.
 *
 * @param format the block format
 * @param variant how bytes are multiplied
 * @returns the function's text
 *
 * @example
 * ```ts
 * import { mmQuantI8Unpacked } from "./quant_i8_wat.ts";
 * if (!mmQuantI8Unpacked("q6_k", "relaxed").includes("(func $i8u_q6_k")) throw new Error();
 * ```
 */
export function mmQuantI8Unpacked(format: QuantFormat, variant: DotVariant): string {
  if (FORMATS[format].size === 32) {
    const relaxed = variant === "relaxed";
    const { bytes } = unpackedLegacyLayout(format, variant);
    const steps = relaxed ? legacyUnpackedRelaxedSteps(format) : legacyUnpackedSteps();
    return i8Function({
      what: `unpacked ${format} groups (${relaxed ? "byte" : "i16"} levels); 8-bit activations`,
      name: `$i8u_${format}`,
      f: { size: 32, bytes },
      rowBytes: `(i32.mul (i32.shr_u (local.get $in) ${c(5)}) ${c(bytes)})`,
      body: steps.flat(),
      locals: [],
      tile: { body: interleave(steps, LEGACY_HELD), held: LEGACY_HELD },
    });
  }
  const q6k = format === "q6_k";
  if (q6k && variant !== "relaxed") throw new Error("q6_k is unpacked for relaxed SIMD only");
  const bytes = q6k ? UNPACKED_Q6K_BYTES : UNPACKED_K_BYTES;
  return i8Function({
    what: `unpacked ${format} groups; 8-bit activations, ${variant}`,
    name: `$i8u_${format}`,
    f: { size: 256, bytes },
    rowBytes: `(i32.mul (i32.shr_u (local.get $in) ${c(8)}) ${c(bytes)})`,
    body: q6k ? q6kRelaxedBody("unpacked") : i8Body(format, variant, UNPACKED_K),
    locals: q6k ? [Q6K_I8_LOCALS] : [],
    tile: q6k ? undefined : { body: superTileBody(format, variant, UNPACKED_K), held: SUPER_HELD },
  });
}

/**
 * One block of 4 unpacked rows of a 32-element block format (`UNPACKED_LEGACY_BYTES` each: 32 i16
 * levels, then `d`) times one token, as steps: the activations widened once for the 4 rows, then
 * each row's 4 i16 products (`i32x4.dot_i16x8_s`) summed, converted and scaled by `d · dx`, as
 * the 128-bit `i8_<format>` does. A step reads only what it or an earlier step of its token set.
 */
function legacyUnpackedSteps(): string[][] {
  const levels = (at: number) => `(v128.load offset=${at} (local.get $p))`;
  const dot = (r: number, k: number) =>
    `(i32x4.dot_i16x8_s ${levels(UNPACKED_LEGACY_BYTES * r + 16 * k)} (local.get $X${k}))`;
  return [
    [...prepareX("simd", 0), ...prepareX("simd", 1), `(local.set $dx (f32.load (local.get $xd)))`],
    ...[0, 1, 2, 3].map((r) => [
      `(local.set $i (i32x4.add (i32x4.add ${dot(r, 0)} ${dot(r, 1)}) (i32x4.add ${dot(r, 2)} ${dot(r, 3)})))`,
      `(local.set $a${r} (f32x4.add (local.get $a${r}) (f32x4.mul (f32x4.convert_i32x4_s (local.get $i)) ` +
      `(f32x4.splat (f32.mul (f32.load offset=${UNPACKED_LEGACY_BYTES * r + 64} (local.get $p)) (local.get $dx))))))`,
    ]),
  ];
}

/**
 * The layout of one unpacked block of one row of a 32-element block format (`dq8_<format>`
 * writes it, `$i8u_<format>` reads it): its bytes, and the byte its `d` (an f32) is at. Levels
 * first: as i16 (`UNPACKED_LEGACY_BYTES`), or for relaxed SIMD as bytes (`q4_0`, `q5_0`:
 * unsigned as stored, `UNPACKED_LEGACY_I8_BYTES`; `q8_0`: their magnitudes, then their signs as
 * masks, `UNPACKED_LEGACY_BYTES`).
 *
 * @param format a 32-element block format
 * @param variant how the unpacked bytes are multiplied
 * @returns bytes a block and the offset of its `d`
 *
 * @example
 * ```ts
 * import { unpackedLegacyLayout } from "./quant_i8_wat.ts";
 * const { bytes, d } = unpackedLegacyLayout("q4_0", "relaxed");
 * if (bytes !== 48 || d !== 32) throw new Error(`${bytes} ${d}`);
 * ```
 */
export function unpackedLegacyLayout(
  format: QuantFormat,
  variant: DotVariant,
): { readonly bytes: number; readonly d: number } {
  return variant === "relaxed" && FORMATS[format].units[0].biased
    ? { bytes: UNPACKED_LEGACY_I8_BYTES, d: 32 }
    : { bytes: UNPACKED_LEGACY_BYTES, d: 64 };
}

/**
 * As {@linkcode legacyUnpackedSteps}, for the relaxed module's layouts: each row's two vectors of
 * levels take one `i32x4.relaxed_dot_i8x16_i7x16_add_s` each, whose second operand is in 0..127.
 * Levels stored with a bias (`q4_0`, `q5_0`; `UNPACKED_LEGACY_I8_BYTES`: the levels, then `d`)
 * are that operand, the activations the first, and `bias · Σ qx` (once per token for the 4 rows)
 * subtracted; `q8_0`'s (`UNPACKED_LEGACY_BYTES`: their magnitudes, their signs as masks, then
 * `d`) meet the activations negated where the level is negative (`i8x16.relaxed_laneselect` of
 * `qx` and `−qx`, the token's two computed once for the 4 rows). Each lane holds the same integer
 * as the relaxed `i8_<format>`'s, and is converted and scaled as it does.
 */
function legacyUnpackedRelaxedSteps(format: QuantFormat): string[][] {
  const bias = FORMATS[format].units[0].biased?.bias;
  const { bytes, d } = unpackedLegacyLayout(format, "relaxed");
  const levels = (r: number, k: number) => `(v128.load offset=${bytes * r + 16 * k} (local.get $p))`;
  const dot = (a: string, b: string, acc: string) => `(i32x4.relaxed_dot_i8x16_i7x16_add_s ${a} ${b} ${acc})`;
  const x = (k: number) => xLoad(16 * k);
  const signed = (r: number, k: number) =>
    `(i8x16.relaxed_laneselect (local.get $X${2 * k + 1}) (local.get $X${2 * k}) ${levels(r, 2 + k)})`;
  const negated = (k: number) => [
    `(local.set $X${2 * k} ${x(k)})`,
    `(local.set $X${2 * k + 1} (i8x16.neg (local.get $X${2 * k})))`,
  ];
  const prepare = bias === undefined ? [...negated(0), ...negated(1)] : [
    `(local.set $X0 ${x(0)})`,
    `(local.set $X1 ${x(1)})`,
    `(local.set $X2 ${dot("(local.get $X1)", i8x16(bias), dot("(local.get $X0)", i8x16(bias), zero))})`,
  ];
  const sum = (r: number) =>
    bias === undefined
      ? dot(signed(r, 1), levels(r, 1), dot(signed(r, 0), levels(r, 0), zero))
      : `(i32x4.sub ${dot("(local.get $X1)", levels(r, 1), dot("(local.get $X0)", levels(r, 0), zero))} ` +
        `(local.get $X2))`;
  return [
    [...prepare, `(local.set $dx (f32.load (local.get $xd)))`],
    ...[0, 1, 2, 3].map((r) => [
      `(local.set $i ${sum(r)})`,
      `(local.set $a${r} (f32x4.add (local.get $a${r}) (f32x4.mul (f32x4.convert_i32x4_s (local.get $i)) ` +
      `(f32x4.splat (f32.mul (f32.load offset=${bytes * r + d} (local.get $p)) (local.get $dx))))))`,
    ]),
  ];
}

/** Each step for each of a tile's tokens in turn, token t's locals renamed ({@linkcode tokenCopy}). */
function interleave(steps: readonly (readonly string[])[], held: readonly string[]): string[] {
  return steps.flatMap((step) =>
    Array.from({ length: TILE_TOKENS }, (_, t) => step.map((s) => tokenCopy(s, t, held))).flat()
  );
}

/** The locals a legacy unpacked block holds per token. */
const LEGACY_HELD: readonly string[] = ["$i", "$dx", "$X0", "$X1", "$X2", "$X3"];

/**
 * The statements for one block of a group's 4 rows (row r's at byte `r · f.bytes` from `$p`)
 * times one token, adding each row's product to `$a<r>`.
 *
 * @param format the block format (which products its levels take)
 * @param variant how bytes are multiplied
 * @param f the blocks' layout: the format's own, or unpacked
 */
function i8Body(format: QuantFormat, variant: DotVariant, f: Format): string[] {
  let body: string[];
  if (f.units.length === 1) {
    // One run per block (q8_0, q4_0, q5_0): the activations prepared once for the 4 rows.
    const u = f.units[0];
    const vectors = u.q(0).length;
    body = [
      ...Array.from({ length: vectors }, (_, k) => prepareX(variant, k, u.biased?.bias)).flat(),
      `(local.set $dx (f32.load (local.get $xd)))`,
      ...f.scalars,
      ...[0, 1, 2, 3].flatMap((r) => [
        ...f.prep(r, r * f.bytes),
        ...rowUnit(variant, format, f, u, r, `(f32x4.splat (f32.mul (local.get $d${r}) (local.get $dx)))`),
      ]),
    ];
  } else {
    // Super-blocks row by row (superRowSteps).
    body = [...f.scalars, ...[0, 1, 2, 3].flatMap((r) => superRowSteps(format, variant, f, r).flat())];
  }
  return body;
}

/**
 * One row of a super-block format's block (row r's at byte `r · f.bytes` from `$p`) times one
 * token, as steps: the scale vectors times the matching activation scales; each run's integer
 * sum; each four runs' sums gathered, converted and scaled into `$a<r>`; the minimums' part as
 * two f32x4 products with `dx · Σ qx`. A step reads only what it or an earlier step of its row
 * and token set, so several tokens' steps may alternate ({@linkcode superTileBody}).
 */
function superRowSteps(format: QuantFormat, variant: DotVariant, f: Format, r: number): string[][] {
  const hasMin = f.units.some((u) => u.min);
  const perVector = f.units.length / 4; // runs per scale vector: 2 (q4_k, q5_k) or 4 (q6_k)
  const dxOf = (k: number) => dxLanes([0, 1, 2, 3].map((l) => Math.floor((f.units[4 * k + l].e0) / 32)));
  // The super-blocks' runs go four at a time, scaled by one vector of their four scales.
  const unitScales = f.unitScales;
  if (unitScales === undefined) throw new Error(`${format}: a super-block format needs unitScales`);
  return [
    [
      ...f.prep(r, r * f.bytes),
      ...Array.from(
        { length: perVector },
        (_, k) => `(local.set $S${r}${k} (f32x4.mul (local.get $S${r}${k}) ${dxOf(k)}))`,
      ),
    ],
    ...Array.from(
      { length: f.units.length / 4 },
      (_, g) => fourUnits(variant, format, f, f.units.slice(4 * g, 4 * g + 4), r, unitScales(r, g)),
    ).flat(),
    ...(hasMin
      ? [[
        `(local.set $a${r} (f32x4.sub (local.get $a${r}) (f32x4.add ` +
        `(f32x4.mul (local.get $S${r}2) (v128.load (local.get $xs))) ` +
        `(f32x4.mul (local.get $S${r}3) (v128.load offset=16 (local.get $xs))))))`,
      ]]
      : []),
  ];
}

/**
 * One block of a group's 4 rows of a super-block format times a tile's tokens: each row's
 * steps ({@linkcode superRowSteps}) for each token in turn ({@linkcode interleave}), so a run's
 * levels are loaded once for all and held only between the steps that read them.
 */
function superTileBody(format: QuantFormat, variant: DotVariant, f: Format): string[] {
  return [0, 1, 2, 3].flatMap((r) => interleave(superRowSteps(format, variant, f, r), SUPER_HELD));
}

/** The locals a super-block's row holds per token: its sums and its scale vectors. */
const SUPER_HELD: readonly string[] = [
  "$i",
  "$I0",
  "$I1",
  "$I2",
  "$I3",
  ...[0, 1, 2, 3].flatMap((r) => [0, 1, 2, 3].map((k) => `$S${r}${k}`)),
];

/** What {@linkcode i8Function} writes. */
interface I8Function {
  /** The comment's description of the blocks and products. */
  readonly what: string;
  /** The function's name or export clause. */
  readonly name: string;
  /** Elements and bytes of one block of one row in the layout read. */
  readonly f: Pick<Format, "size" | "bytes">;
  /** Bytes of one row in that layout (an i32 expression). */
  readonly rowBytes: string;
  /** One block of the group's 4 rows times one token. */
  readonly body: readonly string[];
  /** Locals the body needs beyond the shared ones. */
  readonly locals: readonly string[];
  /**
   * One block of the group's 4 rows times a tile of `TILE_TOKENS` tokens (token t's locals as
   * {@linkcode tokenCopy} renames them) and the renamed locals it sets: given, tokens go a tile
   * at a time while a tile remains, so each load of the weights (a bounds-checked load where the
   * engine has no trap handler) serves them all.
   */
  readonly tile?: { readonly body: readonly string[]; readonly held: readonly string[] };
}

/** Tokens of a tile in the prompt kernels `$i8u_*` (the rest of the tokens go one at a time). */
export const TILE_TOKENS = 2;

/**
 * A body's statements for token t of a tile (t ≥ 1; token 0's are the text itself): its
 * accumulators `$a<r>`, activation pointers `$xq`, `$xd`, `$xs`, output pointer `$yo` and each
 * of `held` (a token's state across steps) suffixed `_t`; every other local, a temporary set
 * before it is read, is shared.
 *
 * @param text statements for token 0
 * @param t the token's place in the tile
 * @param held the locals to rename
 * @returns the statements for token t
 *
 * @example
 * ```ts
 * import { tokenCopy } from "./quant_i8_wat.ts";
 * const s = tokenCopy("(local.set $a1 (f32x4.add (local.get $a1) (local.get $I0)))", 2, ["$I0"]);
 * if (s !== "(local.set $a1_2 (f32x4.add (local.get $a1_2) (local.get $I0_2)))") throw new Error(s);
 * ```
 */
export function tokenCopy(text: string, t: number, held: readonly string[]): string {
  if (t === 0) return text;
  let out = text.replace(/\$(a[0-3]|xq|xd|xs|yo)(?![\w])/g, (_, v) => `$${v}_${t}`);
  for (const h of held) out = out.replaceAll(new RegExp(`\\${h}(?![\\w])`, "g"), `${h}_${t}`);
  return out;
}

/**
 * The 8-bit activation product over groups of 4 rows: for each group, each token, each block,
 * the body (with a tile, `TILE_TOKENS` tokens at a time while that many remain, the tile's body
 * for each block).
 */
function i8Function({ what, name, f, rowBytes, body, locals, tile }: I8Function): string {
  const blocksDx = 4 * (f.size / 32); // bytes of activation scales per block
  const tokens = Array.from({ length: TILE_TOKENS }, (_, t) => t);
  const each = (v: string) => tokens.map((t) => tokenCopy(v, t, []));
  // A tile of tokens at a time while a tile remains: the tile's body over each block in turn.
  const tileLoop = tile === undefined ? [] : [
    `(block $endp (loop $tiles`,
    lines(
      2,
      `(br_if $endp (i32.gt_u (i32.add (local.get $tok) ${c(TILE_TOKENS)}) (local.get $n)))`,
      ...[0, 1, 2, 3].flatMap((r) => each(`(local.set $a${r} ${zero})`)),
      `(local.set $p (local.get $g))`,
      `(local.set $end (i32.add (local.get $p) (i32.shl (local.get $rb) ${c(2)})))`,
      ...tokens.flatMap((t) =>
        [
          `(local.set $xq (i32.add (local.get $xt) (i32.mul (local.get $stride) ${c(t)})))`,
          `(local.set $xd (i32.add (local.get $xq) (local.get $in)))`,
          `(local.set $xs (i32.add (local.get $xd) (i32.shr_u (local.get $in) ${c(3)})))`,
        ].map((s) => tokenCopy(s, t, []))
      ),
      `(block $tdone (loop $tblock`,
      lines(
        2,
        `(br_if $tdone (i32.ge_u (local.get $p) (local.get $end)))`,
        ...tile?.body ?? [],
        `(local.set $p (i32.add (local.get $p) ${c(4 * f.bytes)}))`,
        ...each(`(local.set $xq (i32.add (local.get $xq) ${c(f.size)}))`),
        ...["$xd", "$xs"].flatMap((v) => each(`(local.set ${v} (i32.add (local.get ${v}) ${c(blocksDx)}))`)),
        `(br $tblock)`,
      ),
      `))`,
      ...tokens.flatMap((t) => [
        ...(t === 0 ? [] : [`(local.set $yo_${t} (i32.add (local.get $yo) (i32.mul (local.get $out) ${c(4 * t)})))`]),
        ...groupStores((r) => hsum(`$a${r}`), c(4)).map((s) => tokenCopy(s, t, [])),
      ]),
      `(local.set $tok (i32.add (local.get $tok) ${c(TILE_TOKENS)}))`,
      `(local.set $xt (i32.add (local.get $xt) (i32.mul (local.get $stride) ${c(TILE_TOKENS)})))`,
      `(local.set $yo (i32.add (local.get $yo) (i32.mul (local.get $out) ${c(4 * TILE_TOKENS)})))`,
      `(br $tiles)`,
    ),
    `))`,
  ];
  return lines(
    0,
    `;; y[t·out + o] = W[o] · x[t] for r0 ≤ o < r1, t < n (${what})`,
    `(func ${name} (param $w i32) (param $x i32) (param $y i32) (param $in i32) (param $out i32) ` +
      `(param $r0 i32) (param $r1 i32) (param $n i32)`,
    lines(
      2,
      `(local $o i32) (local $p i32) (local $g i32) (local $end i32) (local $rb i32) (local $yo i32) (local $tok i32)`,
      `(local $xt i32) (local $xq i32) (local $xd i32) (local $xs i32) (local $stride i32) (local $dx f32)`,
      ...LOCALS,
      `(local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $i v128)`,
      `(local $I0 v128) (local $I1 v128) (local $I2 v128) (local $I3 v128)`,
      `(local $X0 v128) (local $X1 v128) (local $X2 v128) (local $X3 v128)`,
      ...locals,
      ...(tile === undefined ? [] : tokens.slice(1).flatMap((t) => [
        [0, 1, 2, 3].map((r) => `(local $a${r}_${t} v128)`).join(" ") +
        ["$xq", "$xd", "$xs", "$yo"].map((v) => ` (local ${v}_${t} i32)`).join(""),
        // $dx (a token's activation scale) is the one scalar a body holds per token.
        ...tile.held.map((h) => `(local ${h}_${t} ${h === "$dx" ? "f32" : "v128"})`),
      ])),
      `(local.set $rb ${rowBytes})`,
      `(local.set $stride (i32.add (local.get $in) (i32.shr_u (local.get $in) ${c(2)})))`,
      `(local.set $o (local.get $r0))`,
      `(block $end4 (loop $rows4`,
      lines(
        2,
        `(br_if $end4 (i32.ge_u (local.get $o) (local.get $r1)))`,
        `(local.set $g (i32.add (local.get $w) (i32.mul (local.get $o) (local.get $rb))))`,
        `(local.set $xt (local.get $x))`,
        `(local.set $yo (i32.add (local.get $y) (i32.shl (local.get $o) ${c(2)})))`,
        `(local.set $tok ${c(0)})`,
        ...tileLoop,
        `(block $endt (loop $tokens`,
        lines(
          2,
          `(br_if $endt (i32.ge_u (local.get $tok) (local.get $n)))`,
          ...[0, 1, 2, 3].map((r) => `(local.set $a${r} ${zero})`),
          `(local.set $p (local.get $g))`,
          `(local.set $end (i32.add (local.get $p) (i32.shl (local.get $rb) ${c(2)})))`,
          `(local.set $xq (local.get $xt))`,
          `(local.set $xd (i32.add (local.get $xt) (local.get $in)))`,
          `(local.set $xs (i32.add (local.get $xd) (i32.shr_u (local.get $in) ${c(3)})))`,
          `(block $done (loop $block`,
          lines(
            2,
            `(br_if $done (i32.ge_u (local.get $p) (local.get $end)))`,
            ...body,
            `(local.set $p (i32.add (local.get $p) ${c(4 * f.bytes)}))`,
            `(local.set $xq (i32.add (local.get $xq) ${c(f.size)}))`,
            `(local.set $xd (i32.add (local.get $xd) ${c(blocksDx)}))`,
            `(local.set $xs (i32.add (local.get $xs) ${c(blocksDx)}))`,
            `(br $block)`,
          ),
          `))`,
          ...groupStores((r) => hsum(`$a${r}`), c(4)),
          `(local.set $tok (i32.add (local.get $tok) ${c(1)}))`,
          `(local.set $xt (i32.add (local.get $xt) (local.get $stride)))`,
          `(local.set $yo (i32.add (local.get $yo) (i32.shl (local.get $out) ${c(2)})))`,
          `(br $tokens)`,
        ),
        `))`,
        `(local.set $o (i32.add (local.get $o) ${c(4)}))`,
        `(br $rows4)`,
      ),
      `))`,
    ),
    `)`,
  );
}
