/**
 * The WebAssembly text of the `wasm` CPU engine's kernels, written out by small generators so
 * that each register-blocked loop is spelled once for every block shape and weight format.
 * `scripts/build_wasm.ts` writes the text to `infer/engine/wasm/kernels.wat` (to read) and its
 * binary, assembled with wabt, to `infer/engine/wasm/_kernels_wasm.ts`.
 *
 * Conventions of every kernel (pointers are byte offsets into the shared memory; in the builds
 * for weights in memories of their own, a weight matrix's into the weights' memory, see
 * `withWeightsMemory`):
 * - A matrix is `[out, in]`, row-major, row `o` at `w + o · rowBytes`; `in` is a multiple of 8
 *   (of the block size for quantized formats). Rows `r0 ≤ o < r1` are computed, so threads split
 *   a product by rows.
 * - `mv_*` (one token): `y[o] = W[o] · x`. The 16-bit formats read the input de-interleaved: the
 *   `in/2` even elements, then the `in/2` odd ones (each u32 of weights holds one of each).
 * - `mm_*` (`n` tokens): `y[t · out + o] = W[o] · x[t]`, inputs `x[t]` at `x + t · in · 4`, tiles
 *   of 4 rows × 2 tokens in registers; formats other than f32 widen 4 rows at a time into
 *   `scratch` and run the f32 tile over them, so widening is paid once per 4 rows for all tokens.
 *   With fused multiply-adds the 16-bit formats widen 12 rows at a time (`scratch`: `12 · in`
 *   floats) into two blocks of 6, each run by a tile of 6 rows × 2 tokens (`mmSix`).
 * - Quantized formats (ggml blocks, `quant_wat.ts`) hold groups of 4 rows with their blocks
 *   interleaved (block j of each row, then block j + 1); their `mv_*` take `x` in natural order.
 * - `i8_*` (`n` tokens, `quant_i8_wat.ts`): the block formats times activations rounded to 8
 *   bits (the engine's `int8Dot`), multiplied in integers.
 * - `p8_*` (`n` tokens, `quant_p8_wat.ts`): the k-quants' `i8_*` sums, bit for bit, each group of
 *   4 rows unpacked once into `scratch` for all the tokens (the engine's prompts).
 * - Sums are f32 lanes added in a fixed order (each thread's rows are computed the same way
 *   whatever the thread count).
 *
 * @module
 */

import { q8Activations, swigluKernel } from "./activations_wat.ts";
import { attnHeads } from "./attention_wat.ts";
import { mmQuantI8 } from "./quant_i8_wat.ts";
import { mmQuantP8, P8_FORMATS } from "./quant_p8_wat.ts";
import { dqQuant, mvQuant, QUANT_FORMATS, type QuantFormat, quantRowBytes } from "./quant_wat.ts";
import {
  c,
  fusedMad,
  groupStores,
  hoistModuleConstants,
  hsum,
  lines,
  mad,
  memoryImports,
  scratchGroups,
  weightsMemory,
  weightsSplit,
  withWeightsMemory,
} from "./wat.ts";

/** A 16-bit weight format read as u32 pairs. */
type Format16 = "bf16" | "f16";

/**
 * The even and odd elements of a u32x4 of packed 16-bit weights as f32x4 expressions.
 * bf16: the high half of an f32. f16: with the half in the top 16 bits of a lane, an arithmetic
 * shift right by 3 puts its exponent and mantissa at bits 27..13 under its sign (copied into
 * bits 30..28, which the mask clears with whatever lies below bit 13): the f32 of those bits is
 * the half's value times 2^-112, exactly, for normal and subnormal halves (the weights hold no
 * infinities or NaNs). `mv_f16` leaves that factor on the weights and puts 2^96 on the input
 * (once per 4 rows) and 2^16 on the sums instead: 3 instructions per 4 weights, not 4. Each
 * product is then `w · x · 2^-16`, rounded as `w · x` is (powers of two are exact) unless it
 * falls below 2^-126, so the sums equal the unscaled ones bit for bit for inputs below 2^32.
 */
function widenPairs(f: Format16, u: string): [string, string] {
  if (f === "bf16") {
    return [
      `(i32x4.shl (local.get ${u}) ${c(16)})`,
      `(v128.and (local.get ${u}) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000))`,
    ];
  }
  return [halfBits(`(i32x4.shl (local.get ${u}) ${c(16)})`), halfBits(`(local.get ${u})`)];
}

/** The bits of the f16 values held in the top 16 bits of each lane of `v`, as f32s 2^112 times too small (see `widenPairs`). */
function halfBits(v: string): string {
  return `(v128.and (i32x4.shr_s ${v} ${c(3)}) (v128.const i32x4 0x8fffe000 0x8fffe000 0x8fffe000 0x8fffe000))`;
}

/** An f32x4 of the f16 values held in the top 16 bits of each lane of `v` (see `widenPairs`). */
function halfTop(v: string): string {
  return `(f32x4.mul ${halfBits(v)} (v128.const f32x4 0x1p+112 0x1p+112 0x1p+112 0x1p+112))`;
}

/** `mv_f16`'s factors on its input and on its sums (see `widenPairs`). */
const F16_INPUT = "0x1p+96", F16_SUM = "0x1p+16";

/** 4 widened elements (i32 lanes holding 16-bit values) as f32x4. */
function widen4(f: Format16, e: string): string {
  return f === "bf16" ? `(i32x4.shl ${e} ${c(16)})` : halfTop(`(i32x4.shl ${e} ${c(16)})`);
}

/**
 * One group of 4 rows of a matrix–vector product, the loop of `mv_*`. The group is one stream
 * of 64-byte steps (16 bytes of each row), read at immediate offsets from one pointer; each row
 * has two accumulators over alternate steps (no addition waits on the one before), and the
 * input's 16 bytes are loaded once per step for the 4 rows.
 */
function mvGroup(format: "f32" | Format16): string {
  const acc = [0, 1, 2, 3].map((r) => [`$a${r}`, `$b${r}`]);
  const step = (at: number, which: 0 | 1): string[] => {
    const w = (r: number) => `(v128.load${weightsMemory()} offset=${64 * at + 16 * r} (local.get $p))`;
    const x = (base: string) => `(v128.load offset=${16 * at} (local.get ${base}))`;
    if (format === "f32") {
      return [`(local.set $xv ${x("$xq")})`, ...acc.map((a, r) => mad(a[which], w(r), `(local.get $xv)`))];
    }
    const [even, odd] = widenPairs(format, "$u");
    const input = (base: string) =>
      format === "f16" ? `(f32x4.mul ${x(base)} (v128.const f32x4 ${Array(4).fill(F16_INPUT).join(" ")}))` : x(base);
    return [
      `(local.set $xv ${input("$xq")})`,
      `(local.set $xo ${input("$xr")})`,
      ...acc.flatMap((a, r) => [
        `(local.set $u ${w(r)})`,
        mad(a[which], even, `(local.get $xv)`),
        mad(a[which], odd, `(local.get $xo)`),
      ]),
    ];
  };
  const bump = (steps: number) => [
    `(local.set $p (i32.add (local.get $p) ${c(64 * steps)}))`,
    `(local.set $xq (i32.add (local.get $xq) ${c(16 * steps)}))`,
    ...(format === "f32" ? [] : [`(local.set $xr (i32.add (local.get $xr) ${c(16 * steps)}))`]),
  ];
  return lines(
    0,
    ...acc.flat().map((a) => `(local.set ${a} (v128.const i64x2 0 0))`),
    `(local.set $p (i32.add (local.get $w) (i32.mul (local.get $o) (local.get $rb))))`,
    `(local.set $end (i32.add (local.get $p) (i32.shl (local.get $rb) ${c(2)})))`,
    `(local.set $xq (local.get $x))`,
    `(local.set $xr (local.get $x1))`,
    `(block $done (loop $step`,
    lines(
      2,
      `(br_if $done (i32.gt_u (i32.add (local.get $p) ${c(128)}) (local.get $end)))`,
      ...step(0, 0),
      ...step(1, 1),
      ...bump(2),
      `(br $step)`,
    ),
    `))`,
    `(if (i32.lt_u (local.get $p) (local.get $end)) (then`,
    lines(2, ...step(0, 0)),
    `))`,
    ...acc.map(([a, b]) => `(local.set ${a} (f32x4.add (local.get ${a}) (local.get ${b})))`),
    `(local.set $yo (i32.add (local.get $y) (i32.shl (local.get $o) ${c(2)})))`,
    ...groupStores(
      (r) => format === "f16" ? `(f32.mul ${hsum(acc[r][0])} (f32.const ${F16_SUM}))` : hsum(acc[r][0]),
      c(4),
    ),
  );
}

/** `mv_<format>(w, x, y, in, r0, r1)`. */
function mvKernel(format: "f32" | Format16): string {
  const bytes = format === "f32" ? 4 : 2;
  return lines(
    0,
    `;; y[o] = W[o] · x for r0 ≤ o < r1 (${format} weights in groups of 4 rows${
      format === "f32" ? "" : ", x de-interleaved"
    })`,
    `(func (export "mv_${format}") (param $w i32) (param $x i32) (param $y i32) (param $in i32) (param $r0 i32) (param $r1 i32)`,
    lines(
      2,
      `(local $o i32) (local $p i32) (local $end i32) (local $rb i32) (local $yo i32) (local $x1 i32) (local $xq i32) (local $xr i32)`,
      `(local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)`,
      `(local $xv v128) (local $xo v128) (local $u v128)`,
      `(local.set $rb (i32.mul (local.get $in) ${c(bytes)}))`,
      `(local.set $x1 (i32.add (local.get $x) (i32.shl (local.get $in) ${c(1)})))`,
      `(local.set $o (local.get $r0))`,
      `(block $end4 (loop $rows4`,
      lines(
        2,
        `(br_if $end4 (i32.ge_u (local.get $o) (local.get $r1)))`,
        mvGroup(format),
        `(local.set $o (i32.add (local.get $o) ${c(4)}))`,
        `(br $rows4)`,
      ),
      `))`,
    ),
    `)`,
  );
}

/**
 * One tile of the f32 matrix–matrix product: the group of 4 rows (or a block of 6: `rows`) at
 * `$o` × T tokens from `$t`. A step loads the group's 16 bytes of each row (from the weights'
 * memory, or with `scratch` from the shared one) and 16 bytes of each token, and makes rows·T
 * products. The loop takes 4 steps at a time (the rest one at a time): 1.2× faster than one
 * (mm_f32 and mm_bf16, 32 tokens), each accumulator's sums in the same order. A group of 4 may be
 * the matrix's last, cut short at `$r1`; a block of 6 is whole.
 */
function mmTile(tokens: number, scratch: boolean, rows: 4 | 6 = 4): string {
  const acc = (r: number, t: number) => `$c${r}${t}`;
  const ts = Array.from({ length: tokens }, (_, t) => t);
  const rs = Array.from({ length: rows }, (_, r) => r);
  const step = (u: number) => [
    ...ts.map((t) => `(local.set $x${t} (v128.load offset=${16 * u} (i32.add (local.get $q${t}) (local.get $k))))`),
    ...rs.flatMap((r) => [
      `(local.set $wv (v128.load${scratch ? "" : weightsMemory()} offset=${16 * rows * u + 16 * r} (local.get $p)))`,
      ...ts.map((t) => mad(acc(r, t), `(local.get $wv)`, `(local.get $x${t})`)),
    ]),
  ];
  /** Steps per iteration of the unrolled loop (a remainder loop takes one at a time). */
  const unroll = 4;
  return lines(
    0,
    ...rs.flatMap((r) => ts.map((t) => `(local.set ${acc(r, t)} (v128.const i64x2 0 0))`)),
    ...ts.map((t) =>
      `(local.set $q${t} (i32.add (local.get $x) (i32.mul (i32.add (local.get $t) ${c(t)}) (local.get $rb))))`
    ),
    `(local.set $p (local.get $g))`,
    `(local.set $k ${c(0)})`,
    `(block $kd${tokens} (loop $ks${tokens}`,
    lines(
      2,
      `(br_if $kd${tokens} (i32.gt_u (i32.add (local.get $k) ${c(16 * unroll)}) (local.get $rb)))`,
      ...Array.from({ length: unroll }, (_, u) => step(u)).flat(),
      `(local.set $p (i32.add (local.get $p) ${c(16 * rows * unroll)}))`,
      `(local.set $k (i32.add (local.get $k) ${c(16 * unroll)}))`,
      `(br $ks${tokens})`,
    ),
    `))`,
    `(block $kr${tokens} (loop $k1s${tokens}`,
    lines(
      2,
      `(br_if $kr${tokens} (i32.ge_u (local.get $k) (local.get $rb)))`,
      ...step(0),
      `(local.set $p (i32.add (local.get $p) ${c(16 * rows)}))`,
      `(local.set $k (i32.add (local.get $k) ${c(16)}))`,
      `(br $k1s${tokens})`,
    ),
    `))`,
    ...ts.flatMap((t) => [
      `(local.set $yo (i32.add (local.get $y) (i32.shl (i32.add (i32.mul (i32.add (local.get $t) ${
        c(t)
      }) (local.get $out)) (local.get $o)) ${c(2)})))`,
      ...(rows === 4
        ? groupStores((r) => hsum(acc(r, t)), c(4))
        : rs.map((r) => `(f32.store offset=${4 * r} (local.get $yo) ${hsum(acc(r, t))})`)),
    ]),
  );
}

/**
 * The locals a tile of `rows` rows × {@linkcode TILE_TOKENS} tokens uses (`mmTile`): each token's
 * input pointer and vector, the accumulators, and the weights' vector.
 */
function tileLocals(rows: 4 | 6): string[] {
  const ts = Array.from({ length: TILE_TOKENS }, (_, t) => t);
  return [
    ts.map((t) => `(local $q${t} i32)`).join(" "),
    Array.from({ length: rows }, (_, r) => r).flatMap((r) => ts.map((t) => `(local $c${r}${t} v128)`)).join(" "),
    ts.map((t) => `(local $x${t} v128)`).join(" ") + ` (local $wv v128)`,
  ];
}

/**
 * Every token of the group or block of `rows` rows at `$g`: tiles of {@linkcode TILE_TOKENS}
 * tokens, then the rest one at a time.
 */
function tokenTiles(scratch: boolean, rows: 4 | 6): string[] {
  const T = TILE_TOKENS;
  return [
    `(local.set $t ${c(0)})`,
    `(block $td (loop $ts`,
    lines(
      2,
      `(br_if $td (i32.gt_u (i32.add (local.get $t) ${c(T)}) (local.get $n)))`,
      mmTile(T, scratch, rows),
      `(local.set $t (i32.add (local.get $t) ${c(T)}))`,
      `(br $ts)`,
    ),
    `))`,
    `(block $t1d (loop $t1s`,
    lines(
      2,
      `(br_if $t1d (i32.ge_u (local.get $t) (local.get $n)))`,
      mmTile(1, scratch, rows),
      `(local.set $t (i32.add (local.get $t) ${c(1)}))`,
      `(br $t1s)`,
    ),
    `))`,
  ];
}

/**
 * `$mm_six(g, x, y, in, out, o, n)`: rows `o … o + 5` of the product, for every token, from a block
 * of 6 widened rows at `g` in the shared memory (16-byte steps of 4 elements of each row, 96 bytes
 * a step). Tiles of 6 rows × 2 tokens load 8 vectors for 12 multiply-adds, where a tile of 4 × 2
 * loads 6 for 8 (and each load carries its bounds check in Deno): in a scratch loop over data in
 * the L1 cache of this machine, 29 G multiply-adds/s against 26 G, the ceiling of two 128-bit
 * multiply-adds a cycle being 29 G. Each sum is taken in the same order as by the tile of 4 rows,
 * so the results are the same, bit for bit.
 */
function mmSix(): string {
  const T = TILE_TOKENS;
  return lines(
    0,
    `;; y[t·out + o + r] = block[r] · x[t] for r < 6, t < n (a block of 6 widened rows at g; tiles of 6 rows × ${T} tokens)`,
    `(func $mm_six (param $g i32) (param $x i32) (param $y i32) (param $in i32) (param $out i32) (param $o i32) (param $n i32)`,
    lines(
      2,
      `(local $t i32) (local $k i32) (local $rb i32) (local $p i32) (local $yo i32)`,
      ...tileLocals(6),
      `(local.set $rb (i32.shl (local.get $in) ${c(2)}))`,
      ...tokenTiles(true, 6),
    ),
    `)`,
  );
}

/** Tokens per tile of `mm_f32`: 4 rows × 2 tokens of accumulators fit the 16 vector registers (3 or 4 tokens measured 30–40% slower). */
const TILE_TOKENS = 2;

/**
 * `mm_f32(w, x, y, in, out, r0, r1, n)`: the register-tiled product over f32 groups of 4 rows.
 * With `scratch`, `$mm_scratch`: the same over groups widened into the shared memory's scratch
 * (not exported; the other formats' `mm_*` call it where the weights have a memory of their own,
 * `mm_f32` itself where not).
 */
function mmF32(scratch = false): string {
  const T = TILE_TOKENS;
  const name = scratch ? `$mm_scratch` : `$mm_f32 (export "mm_f32")`;
  const what = scratch ? "f32 groups in scratch" : "f32 weights";
  return lines(
    0,
    `;; y[t·out + o] = W[o] · x[t] for r0 ≤ o < r1, t < n (${what} in groups of 4 rows; tiles of 4 rows × ${T} tokens)`,
    `(func ${name} (param $w i32) (param $x i32) (param $y i32) (param $in i32) (param $out i32) (param $r0 i32) (param $r1 i32) (param $n i32)`,
    lines(
      2,
      `(local $o i32) (local $t i32) (local $k i32) (local $rb i32) (local $g i32) (local $p i32) (local $yo i32)`,
      ...tileLocals(4),
      `(local.set $rb (i32.shl (local.get $in) ${c(2)}))`,
      `(local.set $o (local.get $r0))`,
      `(block $end4 (loop $rows4`,
      lines(
        2,
        `(br_if $end4 (i32.ge_u (local.get $o) (local.get $r1)))`,
        `(local.set $g (i32.add (local.get $w) (i32.mul (local.get $o) (local.get $rb))))`,
        ...tokenTiles(scratch, 4),
        `(local.set $o (i32.add (local.get $o) ${c(4)}))`,
        `(br $rows4)`,
      ),
      `))`,
    ),
    `)`,
  );
}

/**
 * `dq_<format>(src, dst, in)`: one group of 4 rows of 16-bit weights (16-byte steps of 8
 * elements per row) widened into the f32 group layout (16-byte steps of 4 elements per row).
 */
function dq16(format: Format16): string {
  return lines(
    0,
    `;; the group of 4 ${format} rows at src, widened to the f32 group layout at dst`,
    `(func $dq_${format} (export "dq_${format}") (param $src i32) (param $dst i32) (param $in i32)`,
    lines(
      2,
      `(local $end i32) (local $u v128)`,
      `(local.set $end (i32.add (local.get $src) (i32.shl (local.get $in) ${c(3)})))`,
      `(block $done (loop $step`,
      lines(
        2,
        `(br_if $done (i32.ge_u (local.get $src) (local.get $end)))`,
        ...[0, 1, 2, 3].flatMap((r) => [
          `(local.set $u (v128.load${weightsMemory()} offset=${16 * r} (local.get $src)))`,
          `(v128.store offset=${16 * r} (local.get $dst) ${
            widen4(format, `(i32x4.extend_low_i16x8_u (local.get $u))`)
          })`,
          `(v128.store offset=${64 + 16 * r} (local.get $dst) ${
            widen4(format, `(i32x4.extend_high_i16x8_u (local.get $u))`)
          })`,
        ]),
        `(local.set $src (i32.add (local.get $src) ${c(64)}))`,
        `(local.set $dst (i32.add (local.get $dst) ${c(128)}))`,
        `(br $step)`,
      ),
      `))`,
    ),
    `)`,
  );
}

/**
 * `$dq12_<format>(src, dst, in)`: three groups of 4 rows of 16-bit weights at `src` (12 rows)
 * widened into two blocks of 6 rows at `dst` and `dst + 24 · in` (the layout `$mm_six` reads:
 * 16-byte steps of 4 elements of each row, 96 bytes a step): the first group and half the
 * second make the first block, the rest of the second and the third the other.
 */
function dq12(format: Format16): string {
  // Each group's row r: its block (0 or 1) and its place in that block's 6 rows.
  const place = [0, 1, 2].flatMap((g) => [0, 1, 2, 3].map((r) => 4 * g + r)).map((row) => [row < 6 ? 0 : 1, row % 6]);
  const src = ["$src", "$s1", "$s2"];
  return lines(
    0,
    `;; the 3 groups of 4 ${format} rows at src, widened to 2 blocks of 6 f32 rows at dst`,
    `(func $dq12_${format} (param $src i32) (param $dst i32) (param $in i32)`,
    lines(
      2,
      `(local $s1 i32) (local $s2 i32) (local $b i32) (local $end i32) (local $u v128)`,
      `(local.set $s1 (i32.add (local.get $src) (i32.shl (local.get $in) ${c(3)})))`,
      `(local.set $s2 (i32.add (local.get $s1) (i32.shl (local.get $in) ${c(3)})))`,
      `(local.set $b (i32.add (local.get $dst) (i32.mul (local.get $in) ${c(24)})))`,
      `(local.set $end (local.get $s1))`,
      `(block $done (loop $step`,
      lines(
        2,
        `(br_if $done (i32.ge_u (local.get $src) (local.get $end)))`,
        ...[0, 1, 2].flatMap((g) =>
          [0, 1, 2, 3].flatMap((r) => {
            const [block, slot] = place[4 * g + r];
            const to = block === 0 ? "$dst" : "$b";
            return [
              `(local.set $u (v128.load${weightsMemory()} offset=${16 * r} (local.get ${src[g]})))`,
              `(v128.store offset=${16 * slot} (local.get ${to}) ${
                widen4(format, `(i32x4.extend_low_i16x8_u (local.get $u))`)
              })`,
              `(v128.store offset=${96 + 16 * slot} (local.get ${to}) ${
                widen4(format, `(i32x4.extend_high_i16x8_u (local.get $u))`)
              })`,
            ];
          })
        ),
        ...src.map((v) => `(local.set ${v} (i32.add (local.get ${v}) ${c(64)}))`),
        `(local.set $dst (i32.add (local.get $dst) ${c(192)}))`,
        `(local.set $b (i32.add (local.get $b) ${c(192)}))`,
        `(br $step)`,
      ),
      `))`,
    ),
    `)`,
  );
}

/**
 * The f32 tile over the group of 4 rows widened at `$scratch` (rows `$o` to `end`).
 *
 * @param end the row past the group's last (an i32 expression)
 */
function widenedGroupTile(end: string): string[] {
  const rowBytes = `(i32.shl (local.get $in) ${c(2)})`;
  const start = `(i32.sub (local.get $scratch) (i32.mul (local.get $o) ${rowBytes}))`;
  return [
    `;; the f32 tile reads group o at scratch: its matrix "starts" o rows before`,
    `(call ${weightsSplit() ? "$mm_scratch" : "$mm_f32"} ${start} (local.get $x) (local.get $y) (local.get $in) ` +
    `(local.get $out) (local.get $o) ${end} (local.get $n))`,
  ];
}

/**
 * `mm_<format>(w, x, y, in, out, r0, r1, n, scratch)` for the 16-bit formats: every 12 rows
 * widened into `scratch` as two blocks of 6 (`$dq12_<format>`) and multiplied with every token by
 * `$mm_six`; the rows left (fewer than 12) a group of 4 at a time as `mmWidened`. The sums are
 * the same, bit for bit, either way.
 */
function mmWidened16(format: Format16): string {
  const rowBytes = `(i32.shl (local.get $in) ${c(1)})`;
  const next = `(i32.add (local.get $o) ${c(4)})`;
  return lines(
    0,
    `;; y[t·out + o] = W[o] · x[t] for r0 ≤ o < r1, t < n (${format}: 12 rows widened at a time, then groups of 4)`,
    `(func (export "mm_${format}") (param $w i32) (param $x i32) (param $y i32) (param $in i32) (param $out i32) (param $r0 i32) (param $r1 i32) (param $n i32) (param $scratch i32)`,
    lines(
      2,
      `(local $o i32)`,
      `(local.set $o (local.get $r0))`,
      `(block $end12 (loop $rows12`,
      lines(
        2,
        `(br_if $end12 (i32.gt_u (i32.add (local.get $o) ${c(12)}) (local.get $r1)))`,
        `(call $dq12_${format} (i32.add (local.get $w) (i32.mul (local.get $o) ${rowBytes})) (local.get $scratch) (local.get $in))`,
        `(call $mm_six (local.get $scratch) (local.get $x) (local.get $y) (local.get $in) (local.get $out) (local.get $o) (local.get $n))`,
        `(call $mm_six (i32.add (local.get $scratch) (i32.mul (local.get $in) ${
          c(24)
        })) (local.get $x) (local.get $y) ` +
          `(local.get $in) (local.get $out) (i32.add (local.get $o) ${c(6)}) (local.get $n))`,
        `(local.set $o (i32.add (local.get $o) ${c(12)}))`,
        `(br $rows12)`,
      ),
      `))`,
      `(block $end (loop $rows`,
      lines(
        2,
        `(br_if $end (i32.ge_u (local.get $o) (local.get $r1)))`,
        `(call $dq_${format} (i32.add (local.get $w) (i32.mul (local.get $o) ${rowBytes})) (local.get $scratch) (local.get $in))`,
        ...widenedGroupTile(`(select (local.get $r1) ${next} (i32.lt_u (local.get $r1) ${next}))`),
        `(local.set $o ${next})`,
        `(br $rows)`,
      ),
      `))`,
    ),
    `)`,
  );
}

/**
 * `mm_<format>(w, x, y, in, out, r0, r1, n, scratch)`: each group of 4 rows widened into
 * `scratch` by `dq_<format>` and multiplied with every token by the f32 tile.
 *
 * @param format the weight format
 * @param rowBytes bytes of one row of `$in` elements (an i32 expression)
 */
function mmWidened(format: Format16 | QuantFormat, rowBytes: string): string {
  return lines(
    0,
    `;; y[t·out + o] = W[o] · x[t] for r0 ≤ o < r1, t < n (${format} groups widened one at a time)`,
    `(func (export "mm_${format}") (param $w i32) (param $x i32) (param $y i32) (param $in i32) (param $out i32) (param $r0 i32) (param $r1 i32) (param $n i32) (param $scratch i32)`,
    lines(
      2,
      ...scratchGroups(
        `(call $dq_${format} (i32.add (local.get $w) (i32.mul (local.get $o) ${rowBytes})) (local.get $scratch) (local.get $in))`,
        widenedGroupTile,
      ),
    ),
    `)`,
  );
}

/**
 * `sum_f32(p, count)`: the sum of `count` floats (a multiple of 16) with four independent
 * accumulators: the bench's memory-bandwidth probe.
 */
function sumF32(): string {
  return lines(
    0,
    `;; Σ p[i] for i < count (count a multiple of 16): reads memory as fast as one thread can`,
    `(func (export "sum_f32") (param $p i32) (param $count i32) (result f32)`,
    lines(
      2,
      `(local $end i32) (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)`,
      `(local.set $end (i32.add (local.get $p) (i32.shl (local.get $count) ${c(2)})))`,
      `(block $done (loop $step`,
      lines(
        2,
        `(br_if $done (i32.ge_u (local.get $p) (local.get $end)))`,
        `(local.set $a0 (f32x4.add (local.get $a0) (v128.load (local.get $p))))`,
        `(local.set $a1 (f32x4.add (local.get $a1) (v128.load offset=16 (local.get $p))))`,
        `(local.set $a2 (f32x4.add (local.get $a2) (v128.load offset=32 (local.get $p))))`,
        `(local.set $a3 (f32x4.add (local.get $a3) (v128.load offset=48 (local.get $p))))`,
        `(local.set $p (i32.add (local.get $p) ${c(64)}))`,
        `(br $step)`,
      ),
      `))`,
      `(local.set $a0 (f32x4.add (f32x4.add (local.get $a0) (local.get $a1)) (f32x4.add (local.get $a2) (local.get $a3))))`,
      hsum("$a0"),
    ),
    `)`,
  );
}

/** The header's second line: what the pointers point into. */
function pointers(): string {
  return weightsSplit()
    ? `;; edit those, not this file. Pointers are byte offsets: weight matrices into memory 1 (env.weights), the rest into memory 0.`
    : `;; edit those, not this file. Pointers are byte offsets into the imported shared memory.`;
}

/**
 * The whole module's text.
 *
 * @param split the weights in a memory of their own (memory 1), else in the shared one
 * @returns WAT
 */
export function kernelsWat(split = false): string {
  return withWeightsMemory(split ? 1 : 0, () =>
    hoistModuleConstants([
      `;; Kernels of the wasm CPU engine. Generated by scripts/build_wasm.ts from scripts/wasm/kernels_wat.ts:`,
      pointers(),
      `(module`,
      memoryImports(),
      lines(2, mvKernel("f32")),
      lines(2, mvKernel("bf16")),
      lines(2, mvKernel("f16")),
      lines(2, mmF32()),
      ...(split ? [lines(2, mmF32(true))] : []),
      lines(2, dq16("bf16")),
      lines(2, dq16("f16")),
      // Tiles of 6 rows need fused multiply-adds: with a multiply and an add they spill (0.65× the
      // tile of 4 rows in the plain build, where 1.16× in the fused one).
      ...(fusedMad() ? [mmSix(), dq12("bf16"), dq12("f16"), mmWidened16("bf16"), mmWidened16("f16")] : [
        mmWidened("bf16", `(i32.shl (local.get $in) ${c(1)})`),
        mmWidened("f16", `(i32.shl (local.get $in) ${c(1)})`),
      ])
        .map((f) => lines(2, f)),
      ...QUANT_FORMATS.flatMap((f) => [
        lines(2, mvQuant(f)),
        lines(2, dqQuant(f)),
        lines(2, mmWidened(f, quantRowBytes(f))),
        lines(2, mmQuantI8(f, "simd")),
      ]),
      ...P8_FORMATS.map((f) => lines(2, mmQuantP8(f, "simd"))),
      lines(2, sumF32()),
      lines(2, attnHeads()),
      lines(2, q8Activations()),
      lines(2, swigluKernel()),
      `)`,
      ``,
    ].join("\n")));
}

/**
 * The relaxed-SIMD module's text: the `i8_*` kernels with `i32x4.relaxed_dot_i8x16_i7x16_add_s`,
 * bound to the same memory. Loaded only where the runtime validates it; the main module's
 * `i8_*` kernels (128-bit SIMD) are the fallback.
 *
 * @param split the weights in a memory of their own (memory 1), else in the shared one
 * @returns WAT
 */
export function kernelsRelaxedWat(split = false): string {
  return withWeightsMemory(split ? 1 : 0, () =>
    hoistModuleConstants([
      `;; The wasm CPU engine's relaxed-SIMD kernels. Generated by scripts/build_wasm.ts from scripts/wasm/kernels_wat.ts:`,
      pointers(),
      `(module`,
      memoryImports(),
      ...QUANT_FORMATS.map((f) => lines(2, mmQuantI8(f, "relaxed"))),
      ...P8_FORMATS.map((f) => lines(2, mmQuantP8(f, "relaxed"))),
      `)`,
      ``,
    ].join("\n")));
}
