/**
 * The WebAssembly text of the `wasm` engine's attention kernels (see `kernels_wat.ts` for the
 * conventions): one query head against `count` cached keys, and the weighted sum of as many
 * cached values. The softmax between them runs in TypeScript (WebAssembly has no `exp`), on
 * `count` numbers per head, a small part of the work. `dim` is a multiple of 4; keys and values
 * of position `j` are at `k + j · stride`.
 *
 * @module
 */

/** `i32.const` of a number. */
const c = (v: number): string => `(i32.const ${v})`;

/**
 * `attn_scores(q, k, stride, dim, count, scale, out)`: `out[j] = scale · q · k_j`.
 *
 * @returns WAT
 */
export function attnScores(): string {
  return `;; out[j] = scale · (q · k[j]) for j < count (one query head; dim a multiple of 4)
(func (export "attn_scores") (param $q i32) (param $k i32) (param $stride i32) (param $dim i32) (param $count i32) (param $scale f32) (param $out i32)
  (local $j i32) (local $i i32) (local $kb i32) (local $bytes i32) (local $a v128) (local $b v128)
  (local.set $bytes (i32.shl (local.get $dim) ${c(2)}))
  (block $jd (loop $js
    (br_if $jd (i32.ge_u (local.get $j) (local.get $count)))
    (local.set $kb (i32.add (local.get $k) (i32.mul (local.get $j) (local.get $stride))))
    (local.set $a (v128.const i64x2 0 0))
    (local.set $b (v128.const i64x2 0 0))
    (local.set $i ${c(0)})
    (block $id (loop $is
      (br_if $id (i32.gt_u (i32.add (local.get $i) ${c(32)}) (local.get $bytes)))
      (local.set $a (f32x4.add (local.get $a) (f32x4.mul (v128.load (i32.add (local.get $q) (local.get $i))) (v128.load (i32.add (local.get $kb) (local.get $i))))))
      (local.set $b (f32x4.add (local.get $b) (f32x4.mul (v128.load offset=16 (i32.add (local.get $q) (local.get $i))) (v128.load offset=16 (i32.add (local.get $kb) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) ${c(32)}))
      (br $is)))
    (if (i32.lt_u (local.get $i) (local.get $bytes)) (then
      (local.set $a (f32x4.add (local.get $a) (f32x4.mul (v128.load (i32.add (local.get $q) (local.get $i))) (v128.load (i32.add (local.get $kb) (local.get $i))))))))
    (local.set $a (f32x4.add (local.get $a) (local.get $b)))
    (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) ${c(2)}))
      (f32.mul (local.get $scale) (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a)) (f32x4.extract_lane 1 (local.get $a)))
        (f32.add (f32x4.extract_lane 2 (local.get $a)) (f32x4.extract_lane 3 (local.get $a))))))
    (local.set $j (i32.add (local.get $j) ${c(1)}))
    (br $js)))
)`;
}

/**
 * `attn_values(p, v, stride, dim, count, out)`: `out = Σ_j p[j] · v_j` (overwritten).
 *
 * @returns WAT
 */
export function attnValues(): string {
  return `;; out[0..dim) = Σ_j p[j] · v[j] for j < count (dim a multiple of 4)
(func (export "attn_values") (param $p i32) (param $v i32) (param $stride i32) (param $dim i32) (param $count i32) (param $out i32)
  (local $j i32) (local $i i32) (local $vb i32) (local $bytes i32) (local $w v128)
  (local.set $bytes (i32.shl (local.get $dim) ${c(2)}))
  (local.set $i ${c(0)})
  (block $zd (loop $zs
    (br_if $zd (i32.ge_u (local.get $i) (local.get $bytes)))
    (v128.store (i32.add (local.get $out) (local.get $i)) (v128.const i64x2 0 0))
    (local.set $i (i32.add (local.get $i) ${c(16)}))
    (br $zs)))
  (block $jd (loop $js
    (br_if $jd (i32.ge_u (local.get $j) (local.get $count)))
    (local.set $vb (i32.add (local.get $v) (i32.mul (local.get $j) (local.get $stride))))
    (local.set $w (f32x4.splat (f32.load (i32.add (local.get $p) (i32.shl (local.get $j) ${c(2)})))))
    (local.set $i ${c(0)})
    (block $id (loop $is
      (br_if $id (i32.ge_u (local.get $i) (local.get $bytes)))
      (v128.store (i32.add (local.get $out) (local.get $i))
        (f32x4.add (v128.load (i32.add (local.get $out) (local.get $i))) (f32x4.mul (local.get $w) (v128.load (i32.add (local.get $vb) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) ${c(16)}))
      (br $is)))
    (local.set $j (i32.add (local.get $j) ${c(1)}))
    (br $js)))
)`;
}
