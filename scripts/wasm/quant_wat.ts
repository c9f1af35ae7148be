/**
 * The WebAssembly text of the `wasm` engine's kernels for ggml block formats (`q8_0`, `q4_0`,
 * `q5_0`, `q4_k`, `q5_k`, `q6_k`). A quantized matrix is held in groups of 4 rows whose blocks
 * are interleaved: block j of row 0, of row 1, of row 2, of row 3, then block j + 1 of each
 * (every block byte-identical to ggml's), so a group is again one sequential stream.
 *
 * Each format is described once as data: per row, the scalars read from a block (its f16 scales,
 * converted exactly), and the block's "units": runs of 16·k elements whose integer levels are
 * rebuilt in registers as i8x16 vectors, with one f32 scale and (k-quants' minimums) one f32
 * offset, `y = scale · q − min`. The matrix–vector kernel and the widening into the f32 group
 * layout are both generated from that description.
 *
 * @module
 */

import { c, groupStores, hsum, lines } from "./wat.ts";

/** The block formats with kernels. */
export type QuantFormat = "q8_0" | "q4_0" | "q5_0" | "q4_k" | "q5_k" | "q6_k";

/** A run of a block's elements with one scale (and minimum). */
interface Unit {
  /** First element of the run in the block. */
  readonly e0: number;
  /** Its levels as i8x16 expressions (16 elements each), the block of this row at byte `at` from `$p`. */
  readonly q: (at: number) => string[];
  /** Its scale (f32) for row r, block at `at`. */
  readonly scale: (r: number, at: number) => string;
  /** Its minimum (f32, subtracted), where the format has one. */
  readonly min?: (r: number, at: number) => string;
}

/** A block format as the generators see it. */
interface Format {
  /** Elements per block. */
  readonly size: number;
  /** Bytes per block. */
  readonly bytes: number;
  /** Statements setting row r's block scalars (`$d<r>`, `$m<r>`), the block at byte `at` from `$p`. */
  readonly prep: (r: number, at: number) => string[];
  /** The runs, covering the block. */
  readonly units: readonly Unit[];
}

const i8 = (v: number): string => `(v128.const i8x16 ${Array(16).fill(v).join(" ")})`;
const load = (at: number): string => `(v128.load offset=${at} (local.get $p))`;
const byte = (at: number): string => `(i32.load8_u offset=${at} (local.get $p))`;
const and = (a: string, b: string): string => `(v128.and ${a} ${b})`;
const or = (a: string, b: string): string => `(v128.or ${a} ${b})`;
const shl = (a: string, s: number): string => s === 0 ? a : `(i8x16.shl ${a} ${c(s)})`;
const shr = (a: string, s: number): string => s === 0 ? a : `(i8x16.shr_u ${a} ${c(s)})`;
const sub = (a: string, v: number): string => `(i8x16.sub ${a} ${i8(v)})`;
const lo4 = (a: string): string => and(a, i8(15));
const hi4 = (a: string): string => shr(a, 4);

/**
 * `$<name>` ← the f16 at byte `at` from `$p`, as f32: `(h & 0x7fff) << 13` read as an f32 times
 * 2^112 (exact for normal and subnormal halves), the sign OR-ed in.
 */
function half(name: string, at: number): string[] {
  return [
    `(local.set $h (i32.load16_u offset=${at} (local.get $p)))`,
    `(local.set ${name} (f32.mul (f32.reinterpret_i32 (i32.or (i32.shl (i32.and (local.get $h) ${c(0x7fff)}) ${
      c(13)
    }) (i32.shl (i32.and (local.get $h) ${c(0x8000)}) ${c(16)}))) (f32.const 0x1p+112)))`,
  ];
}

/** One f16 scale `d` at the block's start, every element `d · q`: q8_0, q4_0, q5_0. */
function legacy(bytes: number, q: (at: number) => string[]): Format {
  return {
    size: 32,
    bytes,
    prep: (r, at) => half(`$d${r}`, at),
    units: [{ e0: 0, q, scale: (r) => `(local.get $d${r})` }],
  };
}

/** q5_0's 5th bits of elements 16·half.. as 0 or 16 per byte: the u32 `qh` at `at` spread out. */
function q5High(at: number, part: 0 | 1): string {
  const pick = part === 0 ? "0 0 0 0 0 0 0 0 1 1 1 1 1 1 1 1" : "2 2 2 2 2 2 2 2 3 3 3 3 3 3 3 3";
  const bits = "(v128.const i8x16 1 2 4 8 16 32 64 128 1 2 4 8 16 32 64 128)";
  const spread = `(i8x16.swizzle (i32x4.splat (i32.load offset=${at} (local.get $p))) (v128.const i8x16 ${pick}))`;
  return and(`(i8x16.eq ${and(spread, bits)} ${bits})`, i8(16));
}

/** The k-quants' 6-bit scale (or minimum) of sub-block j from `scales` at `s`, as an i32 expression. */
function scale6(s: number, j: number, min: boolean): string {
  if (j < 4) return `(i32.and ${byte(s + j + (min ? 4 : 0))} ${c(63)})`;
  const low = min ? `(i32.shr_u ${byte(s + j + 4)} ${c(4)})` : `(i32.and ${byte(s + j + 4)} ${c(15)})`;
  return `(i32.or ${low} (i32.shl (i32.shr_u ${byte(s + j - (min ? 0 : 4))} ${c(6)}) ${c(4)}))`;
}

/** q4_k and q5_k: `d`, `dmin`, 12 bytes of 6-bit scales and minimums, 8 sub-blocks of 32. */
function kScaleMin(bytes: number, q: (at: number, j: number) => string[]): Format {
  return {
    size: 256,
    bytes,
    prep: (r, at) => [...half(`$d${r}`, at), ...half(`$m${r}`, at + 2)],
    units: Array.from({ length: 8 }, (_, j) => ({
      e0: 32 * j,
      q: (at: number) => q(at, j),
      scale: (r: number, at: number) => `(f32.mul (local.get $d${r}) (f32.convert_i32_u ${scale6(at + 4, j, false)}))`,
      min: (r: number, at: number) => `(f32.mul (local.get $m${r}) (f32.convert_i32_u ${scale6(at + 4, j, true)}))`,
    })),
  };
}

/** Bit `b` of each byte as 0 or 16. */
function bitAs16(v: string, b: number): string {
  return and(b <= 4 ? shl(v, 4 - b) : shr(v, b - 4), i8(16));
}

/** The formats. */
const FORMATS: Readonly<Record<QuantFormat, Format>> = {
  // { d: f16, qs: i8[32] }
  q8_0: legacy(34, (at) => [load(at + 2), load(at + 18)]),
  // { d: f16, qs: u8[16] }: element j the low nibble of qs[j], j + 16 the high one, minus 8
  q4_0: legacy(18, (at) => [sub(lo4(load(at + 2)), 8), sub(hi4(load(at + 2)), 8)]),
  // { d: f16, qh: u32, qs: u8[16] }: as q4_0 with bit j of qh the 5th bit, minus 16
  q5_0: legacy(22, (at) => [
    sub(or(lo4(load(at + 6)), q5High(at + 2, 0)), 16),
    sub(or(hi4(load(at + 6)), q5High(at + 2, 1)), 16),
  ]),
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
  // { ql: u8[128], qh: u8[64], scales: i8[16], d: f16 }: 16 sub-blocks of 16, each d · scale · (q − 32)
  q6_k: {
    size: 256,
    bytes: 210,
    prep: (r, at) => half(`$d${r}`, at + 208),
    units: Array.from({ length: 16 }, (_, m) => {
      const h = m >> 3, k = m & 1, quad = (m & 7) >> 1;
      return {
        e0: 16 * m,
        q: (at: number) => {
          const ql = load(at + 64 * h + 32 * (quad & 1) + 16 * k);
          const qh = load(at + 128 + 32 * h + 16 * k);
          const low = quad < 2 ? lo4(ql) : hi4(ql);
          const high = and([shl(qh, 4), shl(qh, 2), qh, shr(qh, 2)][quad], i8(0x30));
          return [sub(or(low, high), 32)];
        },
        scale: (r: number, at: number) =>
          `(f32.mul (local.get $d${r}) (f32.convert_i32_s (i32.load8_s offset=${at + 192 + m} (local.get $p))))`,
      };
    }),
  },
};

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

/** The locals both generators use. */
const LOCALS = [
  `(local $h i32) (local $d0 f32) (local $d1 f32) (local $d2 f32) (local $d3 f32) (local $m0 f32) (local $m1 f32) (local $m2 f32) (local $m3 f32)`,
  `(local $sc f32) (local $mn f32) (local $q v128) (local $e v128)`,
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
 * `mv_<format>(w, x, y, in, r0, r1)`: `y[o] = W[o] · x` over interleaved groups of 4 rows. Per
 * block, each run's input (and its sum, where there is a minimum) is loaded once for the 4 rows;
 * each row's levels are widened in registers, multiplied with it, and the run's sum scaled once.
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
  const xs = Array.from({ length: 4 * perUnit }, (_, i) => `$x${i}`);
  const unit = (u: Unit): string[] => {
    const n = 4 * u.q(0).length;
    const sumX = Array.from({ length: n - 1 }, (_, i) => `(local.get $x${i + 1})`)
      .reduce((s, x) => `(f32x4.add ${s} ${x})`, `(local.get $x0)`);
    return [
      ...Array.from(
        { length: n },
        (_, i) => `(local.set $x${i} (v128.load offset=${4 * u.e0 + 16 * i} (local.get $xq)))`,
      ),
      ...(u.min ? [`(local.set $xs ${sumX})`] : []),
      ...[0, 1, 2, 3].flatMap((r) => [
        `(local.set $s (v128.const i64x2 0 0))`,
        ...u.q(r * f.bytes).flatMap((v, k) => [
          `(local.set $q ${v})`,
          ...levels((ch, value) => [
            `(local.set $s (f32x4.add (local.get $s) (f32x4.mul ${value} (local.get $x${4 * k + ch}))))`,
          ]),
        ]),
        `(local.set $a${r} (f32x4.add (local.get $a${r}) (f32x4.mul (local.get $s) (f32x4.splat ${
          u.scale(r, r * f.bytes)
        }))))`,
        ...(u.min
          ? [
            `(local.set $a${r} (f32x4.sub (local.get $a${r}) (f32x4.mul (local.get $xs) (f32x4.splat ${
              u.min(r, r * f.bytes)
            }))))`,
          ]
          : []),
      ]),
    ];
  };
  return lines(
    0,
    `;; y[o] = W[o] · x for r0 ≤ o < r1 (${format} blocks, groups of 4 rows interleaved block by block)`,
    `(func (export "mv_${format}") (param $w i32) (param $x i32) (param $y i32) (param $in i32) (param $r0 i32) (param $r1 i32)`,
    lines(
      2,
      `(local $o i32) (local $p i32) (local $end i32) (local $rb i32) (local $yo i32) (local $xq i32)`,
      ...LOCALS,
      `(local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $s v128) (local $xs v128)`,
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
          ...[0, 1, 2, 3].flatMap((r) => f.prep(r, r * f.bytes)),
          ...f.units.flatMap(unit),
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
    `(local.set $sc ${u.scale(r, r * f.bytes)})`,
    ...(u.min ? [`(local.set $mn ${u.min(r, r * f.bytes)})`] : []),
    ...u.q(r * f.bytes).flatMap((v, k) => [
      `(local.set $q ${v})`,
      ...levels((ch, value) => {
        const scaled = `(f32x4.mul ${value} (f32x4.splat (local.get $sc)))`;
        return [
          `(v128.store offset=${16 * (u.e0 + 16 * k + 4 * ch) + 16 * r} (local.get $dst) ${
            u.min ? `(f32x4.sub ${scaled} (f32x4.splat (local.get $mn)))` : scaled
          })`,
        ];
      }),
    ]),
  ];
  return lines(
    0,
    `;; the interleaved group of 4 ${format} rows at src, widened to the f32 group layout at dst`,
    `(func $dq_${format} (export "dq_${format}") (param $src i32) (param $dst i32) (param $in i32)`,
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
        ...[0, 1, 2, 3].flatMap((r) => f.prep(r, r * f.bytes)),
        ...f.units.flatMap((u) => [0, 1, 2, 3].flatMap((r) => unit(u, r))),
        `(local.set $p (i32.add (local.get $p) ${c(4 * f.bytes)}))`,
        `(local.set $dst (i32.add (local.get $dst) ${c(16 * f.size)}))`,
        `(br $block)`,
      ),
      `))`,
    ),
    `)`,
  );
}
