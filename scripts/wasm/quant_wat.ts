/**
 * The WebAssembly text of the `wasm` engine's kernels for ggml block formats (`q8_0`, `q4_0`,
 * `q5_0`, `q4_k`, `q5_k`, `q6_k`). A quantized matrix is held in groups of 4 rows whose blocks
 * are interleaved: block j of row 0, of row 1, of row 2, of row 3, then block j + 1 of each
 * (every block byte-identical to ggml's but `q6_k`'s, held with its levels a byte each:
 * {@linkcode Q6K_BYTES}), so a group is again one sequential stream.
 *
 * Each format is described once as data: per row, what is read once from a block (its f16 scales,
 * converted exactly; the k-quants' sub-block scales, unpacked and widened 16 at a time), and the
 * block's "units": runs of 16·k elements whose integer levels are rebuilt in registers as i8x16
 * vectors, with one scale and (k-quants' minimums) one offset, `y = scale · q − min`. The matrix–vector kernel and the widening into the f32 group
 * layout are both generated from that description.
 *
 * @module
 */

import { c, groupStores, hsum, i8x16, lines, weightsMemory, xqLoad } from "./wat.ts";

/** The block formats with kernels. */
export type QuantFormat = "q8_0" | "q4_0" | "q5_0" | "q4_k" | "q5_k" | "q6_k";

/** A run of a block's elements with one scale (and minimum). */
export interface Unit {
  /** First element of the run in the block. */
  readonly e0: number;
  /** Its levels as i8x16 expressions (16 elements each), the block of this row at byte `at` from `$p`. */
  readonly q: (at: number) => string[];
  /** Its scale in every lane (f32x4) for row r, block at `at`. */
  readonly scale: (r: number, at: number) => string;
  /** Its minimum in every lane (f32x4, subtracted), where the format has one. */
  readonly min?: (r: number, at: number) => string;
  /**
   * Where the levels are stored as `u − bias` with `u` in 0..127: the i8x16 expressions of `u`
   * (one fewer step than `q`), and `bias` (for products that subtract `bias · Σ x` instead).
   */
  readonly biased?: { readonly u: (at: number) => string[]; readonly bias: number };
}

/** A block format as the generators see it. */
export interface Format {
  /** Elements per block. */
  readonly size: number;
  /** Bytes per block. */
  readonly bytes: number;
  /**
   * Statements setting the block scalars of a group's 4 rows at once (`$d<r>`, `$m<r>`: its f16
   * scales as f32), row r's block at byte `r · bytes` from `$p`; run before any row's `prep`.
   */
  readonly scalars: readonly string[];
  /**
   * Statements setting row r's block scalars where `scalars` does not, and its scale vectors
   * (`$S<r><k>`), the block at byte `at` from `$p`.
   */
  readonly prep: (r: number, at: number) => string[];
  /** The runs, covering the block. */
  readonly units: readonly Unit[];
  /**
   * Where unit `j`'s scale is lane `j % 4` of one vector (the k-quants): that vector for units
   * `4g … 4g + 3` of row r, so four runs' sums can be scaled at once.
   */
  readonly unitScales?: (r: number, g: number) => string;
}

const load = (at: number): string => `(v128.load${weightsMemory()} offset=${at} (local.get $p))`;

/**
 * The 16 weight bytes at byte `at` from `$p` (a block of the group being read), as a v128.
 *
 * @param at the byte offset
 * @returns the load expression
 *
 * @example
 * ```ts
 * import { weightsLoad } from "./quant_wat.ts";
 * if (!weightsLoad(192).includes("offset=192 (local.get $p)")) throw new Error();
 * ```
 */
export const weightsLoad = load;
const and = (a: string, b: string): string => `(v128.and ${a} ${b})`;
const or = (a: string, b: string): string => `(v128.or ${a} ${b})`;
const sub = (a: string, v: number): string => `(i8x16.sub ${a} ${i8x16(v)})`;
/**
 * `(a << s) & mask` (s < 0: `>>`) per byte, for a mask clear of the bits a 16-bit shift carries
 * in from the neighbouring byte: one 16-bit shift and one AND (a byte shift costs a second AND).
 */
const shiftMask = (a: string, s: number, mask: number): string =>
  and(s === 0 ? a : s > 0 ? `(i16x8.shl ${a} ${c(s)})` : `(i16x8.shr_u ${a} ${c(-s)})`, i8x16(mask));
const lo4 = (a: string): string => and(a, i8x16(15));
const hi4 = (a: string): string => shiftMask(a, -4, 15);

/**
 * `$<name>` ← the f16 at byte `at` from `$p`, as f32: `(h & 0x7fff) << 13` read as an f32 times
 * 2^112 (exact for normal and subnormal halves), the sign OR-ed in.
 */
function half(name: string, at: number): string[] {
  return [
    `(local.set $h (i32.load16_u${weightsMemory()} offset=${at} (local.get $p)))`,
    `(local.set ${name} (f32.mul (f32.reinterpret_i32 (i32.or (i32.shl (i32.and (local.get $h) ${c(0x7fff)}) ${
      c(13)
    }) (i32.shl (i32.and (local.get $h) ${c(0x8000)}) ${c(16)}))) (f32.const 0x1p+112)))`,
  ];
}

/**
 * `$<name>0 … $<name>3` ← the f16 at byte `at` of each of a group's 4 blocks (`bytes` apart from
 * `$p`), as f32, four at a time: `(h & 0x7fff) << 13` read as an f32 times 2^112 (exact for
 * normal and subnormal halves), the sign OR-ed in.
 */
function halves(name: string, at: number, bytes: number): string[] {
  // Row r's half in the low 16 bits of 32-bit lane r (16-bit lane 2r), the rest 0.
  const loaded = [0, 1, 2, 3].reduce(
    (v, r) => `(v128.load16_lane${weightsMemory()} offset=${at + r * bytes} ${2 * r} (local.get $p) ${v})`,
    "(v128.const i64x2 0 0)",
  );
  const h = "(local.get $hv)";
  return [
    `(local.set $hv ${loaded})`,
    // (h & 0x7fff) << 13 and (h & 0x8000) << 16 by shifts alone (each lane's upper 16 bits are 0):
    // masks would be constants held in registers across the kernel's loop.
    `(local.set $hv (f32x4.mul (v128.or (i32x4.shr_u (i32x4.shl ${h} ${c(17)}) ${c(4)}) ` +
    `(i32x4.shl (i32x4.shr_u ${h} ${c(15)}) ${c(31)})) (f32x4.splat (f32.const 0x1p+112))))`,
    ...[0, 1, 2, 3].map((r) => `(local.set ${name}${r} (f32x4.extract_lane ${r} ${h}))`),
  ];
}

/** One f16 scale `d` at the block's start, every element `d · q`: q8_0, q4_0, q5_0. */
function legacy(bytes: number, levels: Pick<Unit, "q" | "biased">): Format {
  return {
    size: 32,
    bytes,
    // Scalar conversions, each row's before its products: with one product per row and block,
    // converting four at a time in a vector measured 3–7% slower (q8_0, q4_0); for the
    // super-blocks (`halves`) it is as fast (q4_k) or faster (q6_k: 16%).
    scalars: [],
    prep: (r, at) => half(`$d${r}`, at),
    units: [{ e0: 0, ...levels, scale: (r) => `(f32x4.splat (local.get $d${r}))` }],
  };
}

/** A unit's levels `u − bias` from the expressions of `u`. */
function minus(u: (at: number) => string[], bias: number): Pick<Unit, "q" | "biased"> {
  return { q: (at) => u(at).map((v) => sub(v, bias)), biased: { u, bias } };
}

/** q5_0's 5th bits of elements 16·half.. as 0 or 16 per byte: the u32 `qh` at `at` spread out. */
function q5High(at: number, part: 0 | 1): string {
  const pick = part === 0 ? "0 0 0 0 0 0 0 0 1 1 1 1 1 1 1 1" : "2 2 2 2 2 2 2 2 3 3 3 3 3 3 3 3";
  const bits = "(v128.const i8x16 1 2 4 8 16 32 64 128 1 2 4 8 16 32 64 128)";
  const spread =
    `(i8x16.swizzle (i32x4.splat (i32.load${weightsMemory()} offset=${at} (local.get $p))) (v128.const i8x16 ${pick}))`;
  return and(`(i8x16.eq ${and(spread, bits)} ${bits})`, i8x16(16));
}

/**
 * Lane k of the f32x4 local `v` in every lane (a shuffle).
 *
 * @param v the local
 * @param k the lane
 * @returns the expression
 *
 * @example
 * ```ts
 * import { lane } from "./quant_wat.ts";
 * if (!lane("$hv", 1).startsWith("(i8x16.shuffle 4 5 6 7 4 5 6 7")) throw new Error();
 * ```
 */
export function lane(v: string, k: number): string {
  const idx = Array.from({ length: 16 }, (_, i) => 4 * k + (i & 3)).join(" ");
  return `(i8x16.shuffle ${idx} (local.get ${v}) (local.get ${v}))`;
}

/** `$S<r><k0>`, `$S<r><k0+1>` ← the 8 bytes in the low (or high) half of i8x16 `$t`, widened, times `$<d>`. */
function scaleVectors(r: number, k0: number, half: "low" | "high", signed: boolean, d: string): string[] {
  const sx = signed ? "s" : "u";
  return [
    `(local.set $e (i16x8.extend_${half}_i8x16_${sx} (local.get $t)))`,
    ...(["low", "high"] as const).map((h, i) =>
      `(local.set $S${r}${k0 + i} (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_${h}_i16x8_${sx} (local.get $e))) ` +
      `(f32x4.splat (local.get ${d}))))`
    ),
  ];
}

/**
 * The k-quants' 6-bit scales (lanes 0–7) and minimums (lanes 8–15) of the 12 bytes at `s`, as
 * one i8x16: `sc_j = b[j] & 63`, `m_j = b[j + 4] & 63` for j < 4; for j ≥ 4 the low and high
 * nibbles of `b[j + 4]` with the top 2 bits of `b[j − 4]` (scale) and `b[j]` (minimum) above them.
 */
function scales6(s: number): string {
  const v = load(s);
  const a = `(i8x16.swizzle ${v} (v128.const i8x16 0 1 2 3 8 9 10 11 4 5 6 7 8 9 10 11))`;
  const b = `(i8x16.swizzle ${v} (v128.const i8x16 16 16 16 16 0 1 2 3 16 16 16 16 4 5 6 7))`;
  const low = and(a, `(v128.const i8x16 ${[63, 15, 63, 0].flatMap((m) => Array(4).fill(m)).join(" ")})`);
  const high = and(
    `(i16x8.shr_u ${a} ${c(4)})`,
    `(v128.const i8x16 ${[0, 0, 0, 15].flatMap((m) => Array(4).fill(m)).join(" ")})`,
  );
  return or(or(low, high), shiftMask(b, -2, 0x30));
}

/** q4_k and q5_k: `d`, `dmin`, 12 bytes of 6-bit scales and minimums, 8 sub-blocks of 32. */
function kScaleMin(bytes: number, q: (at: number, j: number) => string[]): Format {
  return kScaleMinRuns(bytes, [...halves("$d", 0, bytes), ...halves("$m", 2, bytes)], (r, at) => [
    `(local.set $t ${scales6(at + 4)})`,
    ...scaleVectors(r, 0, "low", false, `$d${r}`),
    ...scaleVectors(r, 2, "high", false, `$m${r}`),
  ], q);
}

/** A block of 8 runs of 32 with one scale and one minimum each, `$S<r>0`, `$S<r>1` the scales, `$S<r>2`, `$S<r>3` the minimums. */
function kScaleMinRuns(
  bytes: number,
  scalars: readonly string[],
  prep: Format["prep"],
  q: (at: number, j: number) => string[],
): Format {
  return {
    size: 256,
    bytes,
    scalars,
    prep,
    units: Array.from({ length: 8 }, (_, j) => ({
      e0: 32 * j,
      q: (at: number) => q(at, j),
      scale: (r: number) => lane(`$S${r}${j >> 2}`, j & 3),
      min: (r: number) => lane(`$S${r}${2 + (j >> 2)}`, j & 3),
    })),
    unitScales: (r, g) => `(local.get $S${r}${g})`,
  };
}

/** The 32-bit lanes `lanes` (0–3 of `a`, 4–7 of `b`) of two v128 expressions. */
function pick32(a: string, b: string, lanes: readonly number[]): string {
  const idx = lanes.flatMap((l) => [0, 1, 2, 3].map((i) => 4 * l + i)).join(" ");
  return `(i8x16.shuffle ${idx} ${a} ${b})`;
}

/**
 * Lane `k` of each of four v128 expressions as one vector (lane j: lane k of `v[j]`), a column of
 * the 4×4 transposition of 32-bit lanes: two unpacks of pairs, then one of their halves (x86:
 * `punpck{l,h}dq`, `punpck{l,h}qdq`; the four columns share the first two).
 *
 * @param v the four vectors
 * @param k the lane (0–3)
 * @returns the expression
 *
 * @example
 * ```ts
 * import { transposed } from "./quant_wat.ts";
 * const t = transposed(["$a", "$b", "$c", "$d"].map((v) => `(local.get ${v})`), 2);
 * if (!t.startsWith("(i8x16.shuffle 0 1 2 3 4 5 6 7 16 17")) throw new Error(t);
 * ```
 */
export function transposed(v: readonly string[], k: number): string {
  const pairs = k >> 1 ? [2, 6, 3, 7] : [0, 4, 1, 5];
  return pick32(pick32(v[0], v[1], pairs), pick32(v[2], v[3], pairs), k & 1 ? [2, 3, 6, 7] : [0, 1, 4, 5]);
}

/** An f32x4 (or i32x4) of lanes of the locals `a` (0–3) and `b` (4–7). */
function shuf32(a: string, b: string, lanes: number[]): string {
  const idx = lanes.flatMap((l) => [0, 1, 2, 3].map((i) => 4 * l + i)).join(" ");
  return `(i8x16.shuffle ${idx} (local.get ${a}) (local.get ${b}))`;
}

/**
 * `dst` ← the lane sums of the four locals `v` (lane j: the sum of `v[j]`'s lanes), through the
 * locals `tmp` (which may be `v[0]` and `v[2]`): two rounds of pairwise shuffles and adds.
 *
 * @param add the add instruction, `f32x4.add` or `i32x4.add`
 * @param v the four locals
 * @param tmp two locals for the first round
 * @param dst the local to set
 * @returns the statements
 *
 * @example
 * ```ts
 * import { laneSums } from "./quant_wat.ts";
 * const s = laneSums("i32x4.add", ["$a", "$b", "$c", "$d"], ["$a", "$c"], "$a");
 * if (s.length !== 3 || !s[2].startsWith("(local.set $a (i32x4.add")) throw new Error(s.join("\n"));
 * ```
 */
export function laneSums(add: string, v: readonly string[], tmp: readonly [string, string], dst: string): string[] {
  const pair = (a: string, b: string, x: number[], y: number[]) => `(${add} ${shuf32(a, b, x)} ${shuf32(a, b, y)})`;
  return [
    `(local.set ${tmp[0]} ${pair(v[0], v[1], [0, 1, 4, 5], [2, 3, 6, 7])})`,
    `(local.set ${tmp[1]} ${pair(v[2], v[3], [0, 1, 4, 5], [2, 3, 6, 7])})`,
    `(local.set ${dst} ${pair(tmp[0], tmp[1], [0, 2, 4, 6], [1, 3, 5, 7])})`,
  ];
}

/** Bit `b` of each byte as 0 or 16. */
function bitAs16(v: string, b: number): string {
  return shiftMask(v, 4 - b, 16);
}

/**
 * Bytes of one `q6_k` block of one row as the engine holds it: its 256 levels `u` (0..63, one
 * byte each; each quad of 4 runs as 4 vectors, vector c's 32-bit lane k holding run k's elements
 * 4c … 4c + 3), its 16 signed scales, then its f16 `d` (`Q6K_WASM_BYTES` of
 * `infer/engine/wasm/q6k_layout.ts`, which writes it).
 */
export const Q6K_BYTES = 256 + 16 + 2;

/** The formats, each described once (read by the 8-bit activation kernels too). */
export const FORMATS: Readonly<Record<QuantFormat, Format>> = {
  // { d: f16, qs: i8[32] }
  q8_0: legacy(34, { q: (at) => [load(at + 2), load(at + 18)] }),
  // { d: f16, qs: u8[16] }: element j the low nibble of qs[j], j + 16 the high one, minus 8
  q4_0: legacy(18, minus((at) => [lo4(load(at + 2)), hi4(load(at + 2))], 8)),
  // { d: f16, qh: u32, qs: u8[16] }: as q4_0 with bit j of qh the 5th bit, minus 16
  q5_0: legacy(
    22,
    minus((at) => [
      or(lo4(load(at + 6)), q5High(at + 2, 0)),
      or(hi4(load(at + 6)), q5High(at + 2, 1)),
    ], 16),
  ),
  // { d, dmin: f16, scales: u8[12], qs: u8[128] }: sub-blocks 2g and 2g + 1 the low and high nibbles of qs[32g..]
  q4_k: kScaleMin(144, (at, j) => {
    const qs = at + 16 + 32 * (j >> 1);
    return [0, 16].map((k) => (j & 1 ? hi4 : lo4)(load(qs + k)));
  }),
  // { d, dmin: f16, scales: u8[12], qh: u8[32], qs: u8[128] }: as q4_k with bit j of qh[l] the 5th bit
  q5_k: kScaleMin(176, (at, j) => {
    const qs = at + 48 + 32 * (j >> 1);
    return [0, 16].map((k) => or((j & 1 ? hi4 : lo4)(load(qs + k)), bitAs16(load(at + 16 + k), j)));
  }),
  // The engine's layout (infer/engine/wasm/q6k_layout.ts), not ggml's: { u: u8[256], scales: i8[16],
  // d: f16 }, 16 runs of 16, each d · scale · (u − 32), the levels u (0..63) one byte each, each
  // quad of 4 runs as 4 vectors whose 32-bit lane k holds run k's elements 4c … 4c + 3.
  q6_k: {
    size: 256,
    bytes: Q6K_BYTES,
    scalars: halves("$d", 272, Q6K_BYTES),
    prep: (r, at) => [
      `(local.set $t ${load(at + 256)})`,
      ...scaleVectors(r, 0, "low", true, `$d${r}`),
      ...scaleVectors(r, 2, "high", true, `$d${r}`),
    ],
    units: Array.from({ length: 16 }, (_, m) => ({
      e0: 16 * m,
      // Run m is lane m % 4 of each of its quad's 4 vectors.
      ...minus((at: number) => [transposed([0, 1, 2, 3].map((c) => load(at + 64 * (m >> 2) + 16 * c)), m & 3)], 32),
      scale: (r: number) => lane(`$S${r}${m >> 2}`, m & 3),
    })),
    unitScales: (r, g) => `(local.get $S${r}${g})`,
  },
};

/** Bytes of one `q4_k` or `q5_k` block of one row unpacked: its 256 levels, then 4 f32x4. */
export const UNPACKED_K_BYTES = 256 + 64;

/**
 * A `q4_k` or `q5_k` block as `dq8_<format>` unpacks it into the shared memory: per row its 256
 * levels `u` (0..31, one byte each, in element order), then its scale vectors `$S<r>0 … $S<r>3`
 * (`d·sc` of runs 0–3 and 4–7, then `dmin·m` likewise), the group's 4 rows interleaved block by
 * block as in the packed layout. The 8-bit activation kernels read it as they read the packed
 * blocks, loading the levels and scales instead of rebuilding them.
 */
export const UNPACKED_K: Format = kScaleMinRuns(
  UNPACKED_K_BYTES,
  [],
  (r, at) => [0, 1, 2, 3].map((k) => `(local.set $S${r}${k} (v128.load offset=${at + 256 + 16 * k} (local.get $p)))`),
  (at, j) => [0, 16].map((k) => `(v128.load offset=${at + 32 * j + k} (local.get $p))`),
);

/**
 * Bytes of one `q8_0`, `q4_0` or `q5_0` block of one row unpacked (`dq8_<format>`): its 32
 * signed levels as i16, its `d` as an f32 and 12 bytes of padding.
 */
export const UNPACKED_LEGACY_BYTES = 64 + 16;

/**
 * Bytes of one `q8_0`, `q4_0` or `q5_0` block of one row unpacked for relaxed SIMD's 8-bit
 * products (`dq8_<format>` of the relaxed module): its 32 levels as bytes (`q8_0`'s signed, the
 * others' as stored, unsigned), its `d` as an f32 and 12 bytes of padding.
 */
export const UNPACKED_LEGACY_I8_BYTES = 32 + 16;

/**
 * Bytes of one `q6_k` block of one row unpacked (`dq8_q6_k`): its 256 levels as held (see
 * {@linkcode Q6K_BYTES}), then its 16 runs' `d · sc` as f32 (exact: an f16 times an 8-bit
 * integer), so the prompt kernel loads each scale where the held block widens and multiplies it.
 */
export const UNPACKED_Q6K_BYTES = 256 + 64;

/** The formats with kernels, in the order the module holds them. */
export const QUANT_FORMATS: readonly QuantFormat[] = ["q8_0", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k"];

/**
 * Bytes of one row of `$in` elements, as an i32 expression.
 *
 * @param format the format
 * @returns the expression
 *
 * @example
 * ```ts
 * import { quantRowBytes } from "./quant_wat.ts";
 * if (!quantRowBytes("q8_0").includes("(i32.const 34)")) throw new Error();
 * ```
 */
export function quantRowBytes(format: QuantFormat): string {
  const f = FORMATS[format];
  return `(i32.mul (i32.shr_u (local.get $in) ${c(Math.log2(f.size))}) ${c(f.bytes)})`;
}

/** The locals the generators use (`prep` and `q` write them). */
export const LOCALS: readonly string[] = [
  `(local $h i32) (local $hv v128) (local $d0 f32) (local $d1 f32) (local $d2 f32) (local $d3 f32) (local $m0 f32) (local $m1 f32) (local $m2 f32) (local $m3 f32)`,
  `(local $sv v128) (local $mv v128) (local $q v128) (local $e v128) (local $t v128)`,
  [0, 1, 2, 3].flatMap((r) => [0, 1, 2, 3].map((k) => `(local $S${r}${k} v128)`)).join(" "),
];

/** The 4 f32x4 of an i8x16 local `$q` (16 signed levels), via `$e`, each passed to `use`. */
function levels(use: (chunk: number, value: string) => string[]): string[] {
  const conv = (half: "low" | "high") => `(f32x4.convert_i32x4_s (i32x4.extend_${half}_i16x8_s (local.get $e)))`;
  return [
    `(local.set $e (i16x8.extend_low_i8x16_s (local.get $q)))`,
    ...use(0, conv("low")),
    ...use(1, conv("high")),
    `(local.set $e (i16x8.extend_high_i8x16_s (local.get $q)))`,
    ...use(2, conv("low")),
    ...use(3, conv("high")),
  ];
}

/**
 * `mv_<format>(w, x, y, in, r0, r1)`: `y[o] = W[o] · x` over interleaved groups of 4 rows. Each
 * row's levels are widened in registers and multiplied with the input, and each run's sum is
 * scaled once (32-element blocks: the input loaded once for the 4 rows; super-blocks: row by
 * row, the k-quants' minimums applied once per block through the sub-block sums of the input;
 * `q6_k` four runs at a time as the engine holds them). Formats with minimums hold them in the
 * scale vectors `$S<r>2`, `$S<r>3`.
 *
 * @param format the block format
 * @returns the function's text
 *
 * @example
 * ```ts
 * import { mvQuant } from "./quant_wat.ts";
 * if (!mvQuant("q4_k").includes(`(export "mv_q4_k")`)) throw new Error();
 * ```
 */
export function mvQuant(format: QuantFormat): string {
  const f = FORMATS[format];
  const perUnit = Math.max(...f.units.map((u) => u.q(0).length));
  const xs = Array.from({ length: Math.max(4, 4 * perUnit) }, (_, i) => `$x${i}`);
  const xLoad = (u: Unit, i: number) => xqLoad(4 * u.e0 + 16 * i);
  /** One run of one row: Σ levels · x, scaled into `$a<r>`. */
  const rowUnit = (u: Unit, r: number, x: (i: number) => string): string[] => [
    `(local.set $s (v128.const i64x2 0 0))`,
    ...u.q(r * f.bytes).flatMap((v, k) => [
      `(local.set $q ${v})`,
      ...levels((ch, value) => [`(local.set $s (f32x4.add (local.get $s) (f32x4.mul ${value} ${x(4 * k + ch)})))`]),
    ]),
    `(local.set $a${r} (f32x4.add (local.get $a${r}) (f32x4.mul (local.get $s) ${u.scale(r, r * f.bytes)})))`,
  ];
  /**
   * Quad g (runs 4g … 4g + 3) of one q6_k row, its levels as held (vector c's lane k: run 4g + k's
   * elements 4c … 4c + 3): each vector widened once, chunk k multiplied with run 4g + k's input
   * and summed per run in `$x<k>`, so nothing is transposed; then each run's sum scaled.
   */
  const q6kQuad = (r: number, g: number): string[] => [
    ...[0, 1, 2, 3].flatMap((cc) => [
      `(local.set $q (i8x16.sub ${load(r * f.bytes + 64 * g + 16 * cc)} ${i8x16(32)}))`,
      ...levels((ch, value) => {
        const product = `(f32x4.mul ${value} ${xqLoad(4 * (64 * g + 16 * ch + 4 * cc))})`;
        return [`(local.set $x${ch} ${cc === 0 ? product : `(f32x4.add (local.get $x${ch}) ${product})`})`];
      }),
    ]),
    ...[0, 1, 2, 3].map((k) =>
      `(local.set $a${r} (f32x4.add (local.get $a${r}) (f32x4.mul (local.get $x${k}) ${
        f.units[4 * g + k].scale(r, r * f.bytes)
      })))`
    ),
  ];
  let body: string[];
  if (format === "q6_k") {
    body = [
      ...f.scalars,
      ...[0, 1, 2, 3].flatMap((r) => [...f.prep(r, r * f.bytes), ...[0, 1, 2, 3].flatMap((g) => q6kQuad(r, g))]),
    ];
  } else if (f.units.length === 1) {
    // One run per block (q8_0, q4_0, q5_0): its input loaded once into registers for the 4 rows.
    const u = f.units[0];
    body = [
      ...f.scalars,
      ...[0, 1, 2, 3].flatMap((r) => f.prep(r, r * f.bytes)),
      ...Array.from({ length: 4 * perUnit }, (_, i) => `(local.set $x${i} ${xLoad(u, i)})`),
      ...[0, 1, 2, 3].flatMap((r) => rowUnit(u, r, (i) => `(local.get $x${i})`)),
    ];
  } else {
    // Super-blocks: row by row (its scale vectors in registers), the input read again from cache
    // for each row; the minimums' part, Σ_j min_j · Σ x over sub-block j, as two f32x4 products
    // with the sub-block sums of x (computed once for the 4 rows).
    const hasMin = f.units.some((u) => u.min);
    const sums = (h: number): string[] => [
      ...[0, 1, 2, 3].map((jj) => {
        const u = f.units[4 * h + jj];
        const l = Array.from({ length: 4 * u.q(0).length }, (_, i) => xLoad(u, i));
        const tree = (a: string[]): string =>
          a.length === 1 ? a[0] : `(f32x4.add ${tree(a.slice(0, a.length / 2))} ${tree(a.slice(a.length / 2))})`;
        return `(local.set $x${jj} ${tree(l)})`;
      }),
      ...laneSums("f32x4.add", ["$x0", "$x1", "$x2", "$x3"], ["$t0", "$t1"], `$X${h}`),
    ];
    body = [
      ...f.scalars,
      ...(hasMin ? [...sums(0), ...sums(1)] : []),
      ...[0, 1, 2, 3].flatMap((r) => [
        ...f.prep(r, r * f.bytes),
        ...f.units.flatMap((u) => rowUnit(u, r, (i) => xLoad(u, i))),
        ...(hasMin
          ? [
            `(local.set $a${r} (f32x4.sub (local.get $a${r}) (f32x4.add (f32x4.mul (local.get $S${r}2) (local.get $X0)) ` +
            `(f32x4.mul (local.get $S${r}3) (local.get $X1)))))`,
          ]
          : []),
      ]),
    ];
  }
  return lines(
    0,
    `;; y[o] = W[o] · x for r0 ≤ o < r1 (${format} blocks, groups of 4 rows interleaved block by block)`,
    `(func (export "mv_${format}") (param $w i32) (param $x i32) (param $y i32) (param $in i32) (param $r0 i32) (param $r1 i32)`,
    lines(
      2,
      `(local $o i32) (local $p i32) (local $end i32) (local $rb i32) (local $yo i32) (local $xq i32)`,
      ...LOCALS,
      `(local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $s v128)`,
      `(local $X0 v128) (local $X1 v128) (local $t0 v128) (local $t1 v128)`,
      xs.map((x) => `(local ${x} v128)`).join(" "),
      `(local.set $rb ${quantRowBytes(format)})`,
      `(local.set $o (local.get $r0))`,
      `(block $end4 (loop $rows4`,
      lines(
        2,
        `(br_if $end4 (i32.ge_u (local.get $o) (local.get $r1)))`,
        ...[0, 1, 2, 3].map((r) => `(local.set $a${r} (v128.const i64x2 0 0))`),
        `(local.set $p (i32.add (local.get $w) (i32.mul (local.get $o) (local.get $rb))))`,
        `(local.set $end (i32.add (local.get $p) (i32.shl (local.get $rb) ${c(2)})))`,
        `(local.set $xq (local.get $x))`,
        `(block $done (loop $block`,
        lines(
          2,
          `(br_if $done (i32.ge_u (local.get $p) (local.get $end)))`,
          ...body,
          `(local.set $p (i32.add (local.get $p) ${c(4 * f.bytes)}))`,
          `(local.set $xq (i32.add (local.get $xq) ${c(4 * f.size)}))`,
          `(br $block)`,
        ),
        `))`,
        `(local.set $yo (i32.add (local.get $y) (i32.shl (local.get $o) ${c(2)})))`,
        ...groupStores((r) => hsum(`$a${r}`), c(4)),
        `(local.set $o (i32.add (local.get $o) ${c(4)}))`,
        `(br $rows4)`,
      ),
      `))`,
    ),
    `)`,
  );
}

/**
 * `dq_<format>(src, dst, in)`: one interleaved group of 4 rows widened into the f32 group layout
 * (16-byte steps of 4 elements of each row), `y = scale · q − min` per element.
 *
 * @param format the block format
 * @returns the function's text
 *
 * @example
 * ```ts
 * import { dqQuant } from "./quant_wat.ts";
 * if (!dqQuant("q6_k").includes(`(export "dq_q6_k")`)) throw new Error();
 * ```
 */
export function dqQuant(format: QuantFormat): string {
  const f = FORMATS[format];
  const unit = (u: Unit, r: number): string[] => [
    `(local.set $sv ${u.scale(r, r * f.bytes)})`,
    ...(u.min ? [`(local.set $mv ${u.min(r, r * f.bytes)})`] : []),
    ...u.q(r * f.bytes).flatMap((v, k) => [
      `(local.set $q ${v})`,
      ...levels((ch, value) => {
        const scaled = `(f32x4.mul ${value} (local.get $sv))`;
        return [
          `(v128.store offset=${16 * (u.e0 + 16 * k + 4 * ch) + 16 * r} (local.get $dst) ${
            u.min ? `(f32x4.sub ${scaled} (local.get $mv))` : scaled
          })`,
        ];
      }),
    ]),
  ];
  return groupBlocks(
    format,
    `;; the interleaved group of 4 ${format} rows at src, widened to the f32 group layout at dst`,
    `$dq_${format} (export "dq_${format}")`,
    [
      ...[0, 1, 2, 3].flatMap((r) => f.prep(r, r * f.bytes)),
      ...f.units.flatMap((u) => [0, 1, 2, 3].flatMap((r) => unit(u, r))),
    ],
    16 * f.size,
  );
}

/**
 * A function `(src, dst, in)` over the interleaved group of 4 rows at `src`, block by block: at
 * each block (at `$p`; its 4 rows' `scalars` set) the statements `block`, then `$dst` moves on
 * `dstStep` bytes.
 *
 * @param format the block format
 * @param comment the function's comment line
 * @param name its name (and export clause)
 * @param block the statements for one block of the 4 rows
 * @param dstStep bytes written at `$dst` per block
 * @returns the function's text
 *
 * @example
 * ```ts
 * import { groupBlocks } from "./quant_wat.ts";
 * const f = groupBlocks("q8_0", ";; copy", "$copy", [], 16);
 * if (!f.includes("(func $copy (param $src i32)") || !f.includes("(i32.const 16)")) throw new Error(f);
 * ```
 */
export function groupBlocks(
  format: QuantFormat,
  comment: string,
  name: string,
  block: readonly string[],
  dstStep: number,
): string {
  const f = FORMATS[format];
  return lines(
    0,
    comment,
    `(func ${name} (param $src i32) (param $dst i32) (param $in i32)`,
    lines(
      2,
      `(local $p i32) (local $end i32)`,
      ...LOCALS,
      `(local.set $p (local.get $src))`,
      `(local.set $end (i32.add (local.get $p) (i32.shl ${quantRowBytes(format)} ${c(2)})))`,
      `(block $done (loop $block`,
      lines(
        2,
        `(br_if $done (i32.ge_u (local.get $p) (local.get $end)))`,
        ...f.scalars,
        ...block,
        `(local.set $p (i32.add (local.get $p) ${c(4 * f.bytes)}))`,
        `(local.set $dst (i32.add (local.get $dst) ${c(dstStep)}))`,
        `(br $block)`,
      ),
      `))`,
    ),
    `)`,
  );
}
