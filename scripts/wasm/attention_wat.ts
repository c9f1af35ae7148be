/**
 * The WebAssembly text of the `wasm` engine's attention kernel (see `kernels_wat.ts` for the
 * conventions): `attn_heads`, every query head of one or a few consecutive tokens over the
 * cached keys and values, with the softmax (and ALiBi's bias) between, its `exp` the polynomial
 * of `activations_wat.ts`. `dim` is a multiple of 4; keys and values of position `j` are at `k +
 * j · stride`, every head of a position in one row.
 *
 * The cache is read as it is stored, row after row for all the heads: a decoded token's cache
 * was last read a whole step ago, so it comes from memory, and a pass per head (a slice of `dim ·
 * 4` bytes from every row, `stride` apart) defeats the prefetchers. A prompt's tokens go a few at
 * a time (`nq`), each block of {@linkcode BLOCK_POSITIONS} rows read once for them all: token
 * after token, the whole cache so far streamed past the core for each. A token alone that takes
 * whole rows (every key head: one thread) whose key heads serve at most {@linkcode ROW_GROUP}
 * query heads each reads one row at a time, start to end, the one stream a prefetcher follows
 * best: a block's rows read side by side, a slice of each in turn, came from memory at about half
 * the speed of one row after another. Measured here on the bench's model (16 heads of 64, 424
 * positions, 8 layers, the cache evicted between steps): 3.1 ms a token read head by head,
 * 2.0–2.4 ms four rows at a time, 1.4–1.5 ms one row at a time, against 0.8–1.0 ms to only read
 * the cache in one loop. The blocks win otherwise: with more query heads to a key head each row
 * is read several times from the nearest cache and the block's fewer loads of the queries count
 * (one row at a time 0.88× for 4 or 7 query heads a key head); and where threads split the heads,
 * each reading part of every row, the part of one row after another read slower than the parts of
 * 4 rows side by side (0.58–0.73× for half rows of 2, 4 and 8 KiB).
 *
 * @module
 */

import { EXP_LOCALS, expNeg } from "./activations_wat.ts";
import { c, fourThenOne, hsum, lines, mad } from "./wat.ts";

/** Positions taken together in both passes over the cache, each load of a query or an output serving them all. */
const BLOCK_POSITIONS = 4;

/** The most query heads to a key head for which a token alone reads the cache one row at a time. */
const ROW_GROUP = 2;

/**
 * The scores of `n` positions from `$j` for one query head of one token (query at `$qx`, the
 * head's keys at `$row + $kvo + t · stride` for position `$j + t`, scores at `$sx`): `scale · q ·
 * k`, each summed as two f32x4 sums over alternate vectors of the head, added, then across lanes.
 */
function scoreBlock(n: number): string[] {
  const ts = Array.from({ length: n }, (_, t) => t);
  const key = (t: number, off: number) => `(v128.load offset=${off} (i32.add (local.get $kb${t}) (local.get $i)))`;
  const query = (off: number) => `(v128.load offset=${off} (i32.add (local.get $qx) (local.get $i)))`;
  return [
    `(local.set $kb0 (i32.add (local.get $row) (local.get $kvo)))`,
    ...ts.slice(1).map((t) => `(local.set $kb${t} (i32.add (local.get $kb${t - 1}) (local.get $stride)))`),
    ...ts.flatMap((t) => [`(local.set $a${t} (v128.const i64x2 0 0))`, `(local.set $b${t} (v128.const i64x2 0 0))`]),
    `(local.set $i ${c(0)})`,
    `(block $id${n} (loop $is${n}`,
    lines(
      2,
      `(br_if $id${n} (i32.gt_u (i32.add (local.get $i) ${c(32)}) (local.get $hb)))`,
      `(local.set $qa ${query(0)})`,
      `(local.set $qb ${query(16)})`,
      ...ts.flatMap((t) => [
        mad(`$a${t}`, "(local.get $qa)", key(t, 0)),
        mad(`$b${t}`, "(local.get $qb)", key(t, 16)),
      ]),
      `(local.set $i (i32.add (local.get $i) ${c(32)}))`,
      `(br $is${n})`,
    ),
    `))`,
    `(if (i32.lt_u (local.get $i) (local.get $hb)) (then`,
    `  (local.set $qa ${query(0)})`,
    ...ts.map((t) => `  ${mad(`$a${t}`, "(local.get $qa)", key(t, 0))}`),
    `))`,
    ...ts.flatMap((t) => [
      `(local.set $a${t} (f32x4.add (local.get $a${t}) (local.get $b${t})))`,
      `(f32.store offset=${4 * t} (i32.add (local.get $sx) (i32.shl (local.get $j) ${c(2)})) ` +
      `(f32.mul (local.get $scale) (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a${t})) ` +
      `(f32x4.extract_lane 1 (local.get $a${t}))) (f32.add (f32x4.extract_lane 2 (local.get $a${t})) ` +
      `(f32x4.extract_lane 3 (local.get $a${t}))))))`,
    ]),
  ];
}

/**
 * The weighted values of `n` positions from `$j` added into one query head's output of one token
 * (at `$ox`; weights at `$sx`, the head's values at `$row + $kvo + t · stride`), one vector at a
 * time: loaded, each position's `p · v` added in turn, stored. Each element's sum runs position by
 * position from 0, as one pass per head holding it in registers would take it.
 */
function valueBlock(n: number): string[] {
  const ts = Array.from({ length: n }, (_, t) => t);
  const at = (p: string) => `(i32.add (local.get ${p}) (local.get $i))`;
  return [
    `(local.set $vb0 (i32.add (local.get $row) (local.get $kvo)))`,
    ...ts.slice(1).map((t) => `(local.set $vb${t} (i32.add (local.get $vb${t - 1}) (local.get $stride)))`),
    ...ts.map((t) =>
      `(local.set $w${t} (f32x4.splat (f32.load offset=${4 * t} ` +
      `(i32.add (local.get $sx) (i32.shl (local.get $j) ${c(2)})))))`
    ),
    `(local.set $i ${c(0)})`,
    `(block $vd${n} (loop $vs${n}`,
    lines(
      2,
      `(br_if $vd${n} (i32.ge_u (local.get $i) (local.get $hb)))`,
      `(local.set $o (v128.load ${at("$ox")}))`,
      ...ts.map((t) => mad("$o", `(local.get $w${t})`, `(v128.load ${at(`$vb${t}`)})`)),
      `(v128.store ${at("$ox")} (local.get $o))`,
      `(local.set $i (i32.add (local.get $i) ${c(16)}))`,
      `(br $vs${n})`,
    ),
    `))`,
  ];
}

/**
 * `body` for each query head h in turn, with `$qh` (its query), `$oh` (its output), `$sh` (its
 * scores) and `$kvo` (its key/value head's byte offset in a cached position: head `h / group`)
 * set, and `$h` its index.
 */
function eachHead(label: string, body: readonly string[]): string[] {
  return [
    `(local.set $h ${c(0)})`,
    `(local.set $gi ${c(0)})`,
    `(local.set $kvo ${c(0)})`,
    `(local.set $qh (local.get $q))`,
    `(local.set $oh (local.get $out))`,
    `(local.set $sh (local.get $scores))`,
    `(block $${label}d (loop $${label}s`,
    lines(
      2,
      `(br_if $${label}d (i32.ge_u (local.get $h) (local.get $heads)))`,
      ...body,
      `(local.set $h (i32.add (local.get $h) ${c(1)}))`,
      `(local.set $qh (i32.add (local.get $qh) (local.get $hb)))`,
      `(local.set $oh (i32.add (local.get $oh) (local.get $hb)))`,
      `(local.set $sh (i32.add (local.get $sh) (local.get $sb)))`,
      `(local.set $gi (i32.add (local.get $gi) ${c(1)}))`,
      `(if (i32.eq (local.get $gi) (local.get $group)) (then`,
      `  (local.set $gi ${c(0)})`,
      `  (local.set $kvo (i32.add (local.get $kvo) (local.get $hb)))))`,
      `(br $${label}s)`,
    ),
    `))`,
  ];
}

/**
 * `body` for each of the `$nq` tokens in turn (token t: the query at `$qh + t · ts`, the output
 * at `$oh + t · ts`, the scores at `$sx = $sh + t · heads · count · 4`), with `$cnt` the
 * positions token t attends: `count − (nq − 1 − t)`, the last token all `count`.
 */
function eachQuery(label: string, body: readonly string[]): string[] {
  return [
    `(local.set $t ${c(0)})`,
    `(local.set $qx (local.get $qh))`,
    `(local.set $ox (local.get $oh))`,
    `(local.set $sx (local.get $sh))`,
    `(local.set $cnt (i32.sub (i32.add (local.get $count) ${c(1)}) (local.get $nq)))`,
    `(block $${label}d (loop $${label}s`,
    lines(
      2,
      `(br_if $${label}d (i32.ge_u (local.get $t) (local.get $nq)))`,
      ...body,
      `(local.set $t (i32.add (local.get $t) ${c(1)}))`,
      `(local.set $qx (i32.add (local.get $qx) (local.get $ts)))`,
      `(local.set $ox (i32.add (local.get $ox) (local.get $ts)))`,
      `(local.set $sx (i32.add (local.get $sx) (local.get $tsb)))`,
      `(local.set $cnt (i32.add (local.get $cnt) ${c(1)}))`,
      `(br $${label}s)`,
    ),
    `))`,
  ];
}

/**
 * A pass over the cached positions in order, `together` at a time while that many remain, then
 * one at a time: for each block, `block(n)` for every head and every token, with `$j` the block's
 * first position and `$row` its first row of the cache read (`rows`: `$k` or `$v`). The cache is
 * read as stored, row after row, where a pass per head would read a head's slice of every row, one
 * small piece every `stride` bytes; and each block of rows serves every token from the cache
 * nearest the core. `together` 1: one token (`nq` 1), each row read start to end.
 */
function positionPass(label: string, rows: "$k" | "$v", block: (n: number) => string[], together: number): string[] {
  const blocks = (n: number, cond: string): string[] => [
    `(block $${label}${n}d (loop $${label}${n}s`,
    lines(
      2,
      `(br_if $${label}${n}d ${cond})`,
      ...eachHead(
        `${label}${n}h`,
        together > 1 ? eachQuery(`${label}${n}q`, block(n)) : [
          `(local.set $qx (local.get $qh))`,
          `(local.set $ox (local.get $oh))`,
          `(local.set $sx (local.get $sh))`,
          ...block(n),
        ],
      ),
      `(local.set $j (i32.add (local.get $j) ${c(n)}))`,
      `(local.set $row (i32.add (local.get $row) (i32.mul (local.get $stride) ${c(n)})))`,
      `(br $${label}${n}s)`,
    ),
    `))`,
  ];
  return [
    `(local.set $j ${c(0)})`,
    `(local.set $row (local.get ${rows}))`,
    ...(together > 1 ? blocks(together, `(i32.gt_u (i32.add (local.get $j) ${c(together)}) (local.get $count))`) : []),
    ...blocks(1, `(i32.ge_u (local.get $j) (local.get $count))`),
  ];
}

/**
 * `attn_heads(q, k, v, stride, heads, group, dim, count, nq, ts, scale, slopes, scores, out)`:
 * causal attention of `nq` consecutive tokens' `heads` query heads (token t's at `q + t · ts`,
 * `dim` f32 each) over the cached positions (keys from `k`, values from `v`, `stride` bytes
 * apart; query head h reads key/value head `h / group` at `dim · 4` bytes per head), token t over
 * the first `cnt = count − (nq − 1 − t)` of them. Every token's and head's scores `scale · q ·
 * k_j` (token t's head h's at `scores + (t · heads + h) · count · 4`, `count` f32: the block's
 * last token's positions), in one pass over the keys; then per token and head, where `slopes`
 * is not 0, ALiBi's `slopes[h] · (j − cnt + 1)` added to score j (the f32 slopes at `slopes`),
 * and the softmax over its `cnt` scores (the largest subtracted, `exp` four at a time and the rest
 * one at a time with the same operations, each divided by the sum by one multiplication with its
 * reciprocal), the rest set to 0; then every token's heads' weighted values into their place at
 * `out + t · ts`, in one pass over the values. Both passes read the cache row after row,
 * {@linkcode BLOCK_POSITIONS} rows at a time, each block for every head and every token, or one
 * row at a time for a token alone over whole rows with at most {@linkcode ROW_GROUP} query heads
 * a key head. A token's result is the same, bit for bit, in a block as alone (`nq` 1) and either
 * way: its scores and softmax the same operations, its weighted values added in the same order,
 * with zeros after.
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
  /** A loop over a head's scores, four at a time (`vector`) then one at a time (`scalar`), `$p` their pointer. */
  const each = (name: string, vector: string[], scalar: string[]): string[] => [
    `(local.set $p (local.get $sx))`,
    ...fourThenOne(name, "$p", "(local.get $cnt)", vector, scalar),
  ];
  const ts = Array.from({ length: BLOCK_POSITIONS }, (_, t) => t);
  const softmax = [
    `;; ALiBi: score j += slope · (j − cnt + 1)`,
    `(if (local.get $slopes) (then`,
    `  (local.set $slope (f32.load (i32.add (local.get $slopes) (i32.shl (local.get $h) ${c(2)}))))`,
    `  (local.set $j ${c(0)})`,
    `  (block $ad (loop $as`,
    `    (br_if $ad (i32.ge_u (local.get $j) (local.get $cnt)))`,
    `    (local.set $p (i32.add (local.get $sx) (i32.shl (local.get $j) ${c(2)})))`,
    `    (f32.store (local.get $p) (f32.add (f32.load (local.get $p)) (f32.mul (local.get $slope) ` +
    `(f32.convert_i32_s (i32.sub (i32.add (local.get $j) ${c(1)}) (local.get $cnt))))))`,
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
    `;; the positions past this token's (scored with the block's last token's) weigh 0 in the values`,
    `(local.set $end (i32.add (local.get $sx) (local.get $sb)))`,
    `(block $zpd (loop $zps`,
    `  (br_if $zpd (i32.ge_u (local.get $p) (local.get $end)))`,
    `  (f32.store (local.get $p) (f32.const 0))`,
    `  (local.set $p (i32.add (local.get $p) ${c(4)}))`,
    `  (br $zps)))`,
  ];
  const params = `(param $q i32) (param $k i32) (param $v i32) (param $stride i32) (param $heads i32) ` +
    `(param $group i32) (param $dim i32) (param $count i32) (param $nq i32) (param $ts i32) (param $scale f32) ` +
    `(param $slopes i32) (param $scores i32) (param $out i32)`;
  const names = "q k v stride heads group dim count nq ts scale slopes scores out".split(" ");
  const call = (name: string) => `(call $${name} ${names.map((n) => `(local.get $${n})`).join(" ")})`;
  // Each pass a function of its own with the parameters of attn_heads, which picks the scores'
  // and the values' pass by how it reads the cache.
  const pass = (name: string, body: readonly string[]): string =>
    lines(
      0,
      `(func $${name} ${params}`,
      lines(
        2,
        `(local $h i32) (local $gi i32) (local $hb i32) (local $sb i32) (local $kvo i32) (local $qh i32) (local $oh i32)`,
        `(local $sh i32) (local $row i32) (local $p i32) (local $end i32) (local $j i32) (local $i i32)`,
        `(local $t i32) (local $qx i32) (local $ox i32) (local $sx i32) (local $cnt i32) (local $tsb i32)`,
        `(local $qa v128) (local $qb v128) (local $o v128)`,
        ts.map((t) =>
          `(local $kb${t} i32) (local $vb${t} i32) (local $a${t} v128) (local $b${t} v128) (local $w${t} v128)`
        )
          .join(" "),
        `(local $max f32) (local $sum f32) (local $slope f32) (local $mv v128) (local $sv v128) ${EXP_LOCALS}`,
        `(local.set $hb (i32.shl (local.get $dim) ${c(2)}))`,
        `(local.set $sb (i32.shl (local.get $count) ${c(2)}))`,
        `(local.set $tsb (i32.mul (local.get $heads) (local.get $sb)))`,
        ...body,
      ),
      `)`,
    );
  const values = (together: number): string[] => [
    `;; every token's heads' output from 0, then the values read row after row`,
    `(local.set $t ${c(0)})`,
    `(block $zt (loop $zn`,
    `  (br_if $zt (i32.ge_u (local.get $t) (local.get $nq)))`,
    `  (local.set $p (i32.add (local.get $out) (i32.mul (local.get $t) (local.get $ts))))`,
    `  (local.set $end (i32.add (local.get $p) (i32.mul (local.get $heads) (local.get $hb))))`,
    `  (block $zd (loop $zs`,
    `    (br_if $zd (i32.ge_u (local.get $p) (local.get $end)))`,
    `    (v128.store (local.get $p) (v128.const i64x2 0 0))`,
    `    (local.set $p (i32.add (local.get $p) ${c(16)}))`,
    `    (br $zs)))`,
    `  (local.set $t (i32.add (local.get $t) ${c(1)}))`,
    `  (br $zn)))`,
    ...positionPass("v", "$v", valueBlock, together),
  ];
  const alone = `(i32.eq (local.get $nq) ${c(1)})`;
  const few = `(i32.le_u (local.get $group) ${c(ROW_GROUP)})`;
  const whole = `(i32.eq (i32.mul (i32.div_u (local.get $heads) (local.get $group)) (local.get $dim)) ` +
    `(i32.shr_u (local.get $stride) ${c(2)}))`;
  return lines(
    0,
    pass("attn_scores", positionPass("k", "$k", scoreBlock, BLOCK_POSITIONS)),
    pass("attn_scores_rows", positionPass("k", "$k", scoreBlock, 1)),
    pass("attn_softmax", eachHead("x", eachQuery("xq", softmax))),
    pass("attn_values", values(BLOCK_POSITIONS)),
    pass("attn_values_rows", values(1)),
    `;; attention of one token's query heads over count cached positions: every head's scores, ALiBi and softmax`,
    `;; per head, every head's weighted values`,
    `(func (export "attn_heads") ${params}`,
    `  (local $rows i32)`,
    `  ;; a token alone, few query heads a key head, every key head of the rows: the cache one row at a time`,
    `  (local.set $rows (i32.and (i32.and ${alone} ${few}) ${whole}))`,
    `  (if (local.get $rows) (then ${call("attn_scores_rows")}) (else ${call("attn_scores")}))`,
    `  ${call("attn_softmax")}`,
    `  (if (local.get $rows) (then ${call("attn_values_rows")}) (else ${call("attn_values")}))`,
    `)`,
  );
}
