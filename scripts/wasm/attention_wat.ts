/**
 * The WebAssembly text of the `wasm` engine's attention kernels (see `kernels_wat.ts` for the
 * conventions): one query head against `count` cached keys, the weighted sum of as many cached
 * values, and `attn_heads`, every head of one token: both of those per head with the softmax
 * (and ALiBi's bias) between them, its `exp` the polynomial of `activations_wat.ts`. `dim` is a
 * multiple of 4; keys and values of position `j` are at `k + j · stride`.
 *
 * @module
 */

import { EXP_LOCALS, expNeg } from "./activations_wat.ts";
import { c, fourThenOne, hsum, lines } from "./wat.ts";

/** Positions whose scores `attn_scores` takes together, each load of the query serving them all. */
const SCORE_POSITIONS = 4;

/**
 * `attn_scores(q, k, stride, dim, count, scale, out)`: `out[j] = scale · q · k_j`. Positions go
 * {@linkcode SCORE_POSITIONS} at a time while that many remain (each load of the query serving
 * them all), then one at a time; each score is summed in the same order either way: two f32x4
 * sums over alternate vectors of the head, added, then across lanes.
 *
 * @returns WAT
 *
 * @example
 * ```ts
 * import { attnScores } from "./attention_wat.ts";
 * if (!attnScores().includes("(local $a3 v128)")) throw new Error();
 * ```
 */
export function attnScores(): string {
  /** The scores of `n` positions from `$j`, keys at `$kb<t>`. */
  const positions = (n: number): string[] => {
    const ts = Array.from({ length: n }, (_, t) => t);
    const key = (t: number, off: number) => `(v128.load offset=${off} (i32.add (local.get $kb${t}) (local.get $i)))`;
    const query = (off: number) => `(v128.load offset=${off} (i32.add (local.get $q) (local.get $i)))`;
    return [
      ...ts.flatMap((t) => [
        `(local.set $kb${t} (i32.add (local.get $k) (i32.mul (i32.add (local.get $j) ${c(t)}) (local.get $stride))))`,
        `(local.set $a${t} (v128.const i64x2 0 0))`,
        `(local.set $b${t} (v128.const i64x2 0 0))`,
      ]),
      `(local.set $i ${c(0)})`,
      `(block $id${n} (loop $is${n}`,
      lines(
        2,
        `(br_if $id${n} (i32.gt_u (i32.add (local.get $i) ${c(32)}) (local.get $bytes)))`,
        `(local.set $qa ${query(0)})`,
        `(local.set $qb ${query(16)})`,
        ...ts.flatMap((t) => [
          `(local.set $a${t} (f32x4.add (local.get $a${t}) (f32x4.mul (local.get $qa) ${key(t, 0)})))`,
          `(local.set $b${t} (f32x4.add (local.get $b${t}) (f32x4.mul (local.get $qb) ${key(t, 16)})))`,
        ]),
        `(local.set $i (i32.add (local.get $i) ${c(32)}))`,
        `(br $is${n})`,
      ),
      `))`,
      `(if (i32.lt_u (local.get $i) (local.get $bytes)) (then`,
      `  (local.set $qa ${query(0)})`,
      ...ts.map((t) => `  (local.set $a${t} (f32x4.add (local.get $a${t}) (f32x4.mul (local.get $qa) ${key(t, 0)})))`),
      `))`,
      ...ts.flatMap((t) => [
        `(local.set $a${t} (f32x4.add (local.get $a${t}) (local.get $b${t})))`,
        `(f32.store offset=${4 * t} (i32.add (local.get $out) (i32.shl (local.get $j) ${c(2)})) ` +
        `(f32.mul (local.get $scale) (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a${t})) ` +
        `(f32x4.extract_lane 1 (local.get $a${t}))) (f32.add (f32x4.extract_lane 2 (local.get $a${t})) ` +
        `(f32x4.extract_lane 3 (local.get $a${t}))))))`,
      ]),
      `(local.set $j (i32.add (local.get $j) ${c(n)}))`,
    ];
  };
  const ts = Array.from({ length: SCORE_POSITIONS }, (_, t) => t);
  return lines(
    0,
    `;; out[j] = scale · (q · k[j]) for j < count (one query head; dim a multiple of 4)`,
    `(func $attn_scores (export "attn_scores") (param $q i32) (param $k i32) (param $stride i32) (param $dim i32) ` +
      `(param $count i32) (param $scale f32) (param $out i32)`,
    lines(
      2,
      `(local $j i32) (local $i i32) (local $bytes i32) (local $qa v128) (local $qb v128)`,
      ts.map((t) => `(local $kb${t} i32) (local $a${t} v128) (local $b${t} v128)`).join(" "),
      `(local.set $bytes (i32.shl (local.get $dim) ${c(2)}))`,
      `(block $jd (loop $js`,
      lines(
        2,
        `(br_if $jd (i32.gt_u (i32.add (local.get $j) ${c(SCORE_POSITIONS)}) (local.get $count)))`,
        ...positions(SCORE_POSITIONS),
        `(br $js)`,
      ),
      `))`,
      `(block $rd (loop $rs`,
      lines(2, `(br_if $rd (i32.ge_u (local.get $j) (local.get $count)))`, ...positions(1), `(br $rs)`),
      `))`,
    ),
    `)`,
  );
}

/** Vectors of `out` that `attn_values` holds in registers while it passes over the positions. */
const VALUE_VECTORS = 8;

/**
 * `attn_values(p, v, stride, dim, count, out)`: `out = Σ_j p[j] · v_j` (overwritten). `out` goes
 * {@linkcode VALUE_VECTORS} vectors (32 floats) at a time, then one vector at a time, each held
 * in registers over all the positions and stored once, where adding each position into memory
 * would load and store `out` once per position; each element's sum is taken in the same order,
 * position 0 first, either way.
 *
 * @returns WAT
 *
 * @example
 * ```ts
 * import { attnValues } from "./attention_wat.ts";
 * if (!attnValues().includes("(local $a7 v128)")) throw new Error();
 * ```
 */
export function attnValues(): string {
  const acc = Array.from({ length: VALUE_VECTORS }, (_, k) => k);
  /** One pass over the positions for `n` vectors of `out` from byte `$i`. */
  const pass = (n: number): string[] => [
    ...acc.slice(0, n).map((k) => `(local.set $a${k} (v128.const i64x2 0 0))`),
    `(local.set $vb (i32.add (local.get $v) (local.get $i)))`,
    `(local.set $pj (local.get $p))`,
    `(local.set $pend (i32.add (local.get $p) (i32.shl (local.get $count) ${c(2)})))`,
    `(block $jd${n} (loop $js${n}`,
    lines(
      2,
      `(br_if $jd${n} (i32.ge_u (local.get $pj) (local.get $pend)))`,
      `(local.set $w (f32x4.splat (f32.load (local.get $pj))))`,
      ...acc.slice(0, n).map((k) =>
        `(local.set $a${k} (f32x4.add (local.get $a${k}) (f32x4.mul (local.get $w) ` +
        `(v128.load offset=${16 * k} (local.get $vb)))))`
      ),
      `(local.set $vb (i32.add (local.get $vb) (local.get $stride)))`,
      `(local.set $pj (i32.add (local.get $pj) ${c(4)}))`,
      `(br $js${n})`,
    ),
    `))`,
    ...acc.slice(0, n).map((k) =>
      `(v128.store offset=${16 * k} (i32.add (local.get $out) (local.get $i)) (local.get $a${k}))`
    ),
    `(local.set $i (i32.add (local.get $i) ${c(16 * n)}))`,
  ];
  return lines(
    0,
    `;; out[0..dim) = Σ_j p[j] · v[j] for j < count (dim a multiple of 4)`,
    `(func $attn_values (export "attn_values") (param $p i32) (param $v i32) (param $stride i32) (param $dim i32) ` +
      `(param $count i32) (param $out i32)`,
    lines(
      2,
      `(local $i i32) (local $vb i32) (local $pj i32) (local $pend i32) (local $bytes i32) (local $w v128)`,
      acc.map((k) => `(local $a${k} v128)`).join(" "),
      `(local.set $bytes (i32.shl (local.get $dim) ${c(2)}))`,
      `(block $wd (loop $ws`,
      lines(
        2,
        `(br_if $wd (i32.gt_u (i32.add (local.get $i) ${c(16 * VALUE_VECTORS)}) (local.get $bytes)))`,
        ...pass(VALUE_VECTORS),
        `(br $ws)`,
      ),
      `))`,
      `(block $od (loop $os`,
      lines(2, `(br_if $od (i32.ge_u (local.get $i) (local.get $bytes)))`, ...pass(1), `(br $os)`),
      `))`,
    ),
    `)`,
  );
}

/**
 * `attn_heads(q, k, v, stride, heads, group, dim, count, scale, slopes, scores, out)`: causal
 * attention of one token's `heads` query heads (at `q`, `dim` f32 each) over `count` cached
 * positions (keys from `k`, values from `v`, `stride` bytes apart; query head h reads key/value
 * head `h / group` at `dim · 4` bytes per head): per head, `attn_scores`, then, where `slopes`
 * is not 0, ALiBi's `slopes[h] · (j − count + 1)` added to score j (the f32 slopes at
 * `slopes`), the softmax over the `count` scores at `scores` (the largest subtracted,
 * `exp` four at a time and the rest one at a time with the same operations, each divided by
 * the sum by one multiplication with its reciprocal), then `attn_values` into the head's place
 * at `out`.
 *
 * @returns WAT
 *
 * @example
 * ```ts
 * import { attnHeads } from "./attention_wat.ts";
 * if (!attnHeads().includes(`(export "attn_heads")`)) throw new Error();
 * ```
 */
export function attnHeads(): string {
  /** A loop over the scores, four at a time (`vector`) then one at a time (`scalar`), `$p` their pointer. */
  const each = (name: string, vector: string[], scalar: string[]): string[] => [
    `(local.set $p (local.get $scores))`,
    ...fourThenOne(name, "$p", "(local.get $count)", vector, scalar),
  ];
  return lines(
    0,
    `;; attention of one token's query heads over count cached positions: scores, ALiBi, softmax, values per head`,
    `(func (export "attn_heads") (param $q i32) (param $k i32) (param $v i32) (param $stride i32) (param $heads i32) ` +
      `(param $group i32) (param $dim i32) (param $count i32) (param $scale f32) (param $slopes i32) (param $scores i32) ` +
      `(param $out i32)`,
    lines(
      2,
      `(local $h i32) (local $hb i32) (local $kv i32) (local $p i32) (local $end i32) (local $j i32)`,
      `(local $max f32) (local $sum f32) (local $slope f32) (local $mv v128) (local $sv v128) ${EXP_LOCALS}`,
      `(local.set $hb (i32.shl (local.get $dim) ${c(2)}))`,
      `(block $hd (loop $hs`,
      lines(
        2,
        `(br_if $hd (i32.ge_u (local.get $h) (local.get $heads)))`,
        `(local.set $kv (i32.mul (i32.div_u (local.get $h) (local.get $group)) (local.get $hb)))`,
        `(call $attn_scores (i32.add (local.get $q) (i32.mul (local.get $h) (local.get $hb))) ` +
          `(i32.add (local.get $k) (local.get $kv)) (local.get $stride) (local.get $dim) (local.get $count) ` +
          `(local.get $scale) (local.get $scores))`,
        `;; ALiBi: score j += slope · (j − count + 1)`,
        `(if (local.get $slopes) (then`,
        `  (local.set $slope (f32.load (i32.add (local.get $slopes) (i32.shl (local.get $h) ${c(2)}))))`,
        `  (local.set $j ${c(0)})`,
        `  (block $ad (loop $as`,
        `    (br_if $ad (i32.ge_u (local.get $j) (local.get $count)))`,
        `    (local.set $p (i32.add (local.get $scores) (i32.shl (local.get $j) ${c(2)})))`,
        `    (f32.store (local.get $p) (f32.add (f32.load (local.get $p)) (f32.mul (local.get $slope) ` +
          `(f32.convert_i32_s (i32.sub (i32.add (local.get $j) ${c(1)}) (local.get $count))))))`,
        `    (local.set $j (i32.add (local.get $j) ${c(1)}))`,
        `    (br $as)))))`,
        `;; softmax: the largest score, then exp(score − largest) and their sum, then each divided by the sum`,
        `(local.set $mv (v128.const f32x4 -inf -inf -inf -inf))`,
        `(local.set $max (f32.const -inf))`,
        ...each(
          "m",
          [`(local.set $mv (f32x4.max (local.get $mv) (v128.load (local.get $p))))`],
          [`(local.set $max (f32.max (local.get $max) (f32.load (local.get $p))))`],
        ),
        `(local.set $max (f32.max (local.get $max) ${hsum("$mv", "f32.max")}))`,
        `(local.set $mv (f32x4.splat (local.get $max)))`,
        `(local.set $sv (v128.const i64x2 0 0))`,
        `(local.set $sum (f32.const 0))`,
        ...each(
          "e",
          [
            `(local.set $g (f32x4.sub (local.get $mv) (v128.load (local.get $p))))`,
            ...expNeg("f32x4"),
            `(v128.store (local.get $p) (local.get $e))`,
            `(local.set $sv (f32x4.add (local.get $sv) (local.get $e)))`,
          ],
          [
            `(local.set $sg (f32.sub (local.get $max) (f32.load (local.get $p))))`,
            ...expNeg("f32"),
            `(f32.store (local.get $p) (local.get $se))`,
            `(local.set $sum (f32.add (local.get $sum) (local.get $se)))`,
          ],
        ),
        `(local.set $sum (f32.div (f32.const 1) (f32.add (local.get $sum) ${hsum("$sv")})))`,
        `(local.set $sv (f32x4.splat (local.get $sum)))`,
        ...each(
          "n",
          [`(v128.store (local.get $p) (f32x4.mul (v128.load (local.get $p)) (local.get $sv)))`],
          [`(f32.store (local.get $p) (f32.mul (f32.load (local.get $p)) (local.get $sum)))`],
        ),
        `(call $attn_values (local.get $scores) (i32.add (local.get $v) (local.get $kv)) (local.get $stride) ` +
          `(local.get $dim) (local.get $count) (i32.add (local.get $out) (i32.mul (local.get $h) (local.get $hb))))`,
        `(local.set $h (i32.add (local.get $h) ${c(1)}))`,
        `(br $hs)`,
      ),
      `))`,
    ),
    `)`,
  );
}
