/**
 * Causal self-attention in training, with grouped-query heads, ALiBi and sliding windows:
 * `out = softmax(q·kⱼ / √d + slope · (j − t))_{first ≤ j ≤ t} · V` for each head and position `t`
 * (`first` 0, or `t − window + 1` with a sliding window), and its
 * backward. The backward pass recomputes the probabilities from `q` and `k` rather than keeping
 * `heads × n × n` of them. Double precision.
 *
 * @module
 */

import { firstAttended, softmax } from "../../infer/engine/cpu/mod.ts";

/** The shape of an attention call. */
export interface AttentionShape {
  /** Query heads. */
  readonly heads: number;
  /** Key/value heads (a divisor of `heads`). */
  readonly kvHeads: number;
  /** Head size. */
  readonly headDim: number;
  /** ALiBi slope per query head (empty: none). */
  readonly slopes: ArrayLike<number>;
  /** A sliding window's width in keys (absent: every earlier key). */
  readonly window?: number;
}

/** One head's probabilities over positions `first … t` for query `t` (into `p`). */
function probabilities(
  q: Float64Array,
  k: Float64Array,
  t: number,
  h: number,
  kvh: number,
  s: AttentionShape,
  p: Float64Array,
): void {
  const { heads, kvHeads, headDim: d } = s;
  const scale = 1 / Math.sqrt(d), slope = s.slopes.length ? s.slopes[h] : 0;
  const qb = (t * heads + h) * d, first = firstAttended(t, s.window);
  for (let j = first; j <= t; j++) {
    const kb = (j * kvHeads + kvh) * d;
    let dot = 0;
    for (let i = 0; i < d; i++) dot += q[qb + i] * k[kb + i];
    p[j] = dot * scale + slope * (j - t);
  }
  softmax(p, first, t + 1);
}

/**
 * Causal attention over `n` positions.
 *
 * @param q queries, `n × heads·d`
 * @param k keys, `n × kvHeads·d`
 * @param v values, `n × kvHeads·d`
 * @param n positions
 * @param s heads, head size, slopes
 * @returns outputs, `n × heads·d`
 *
 * @example
 * ```ts
 * import { attentionForward } from "./attention.ts";
 * // Position 1 scores two equal keys: the mean of the two values.
 * const q = new Float64Array([1, 0, 1, 0]), k = new Float64Array([1, 0, 1, 0]), v = new Float64Array([2, 4, 6, 8]);
 * const out = attentionForward(q, k, v, 2, { heads: 1, kvHeads: 1, headDim: 2, slopes: [] });
 * if (out.join() !== "2,4,4,6") throw new Error(String(out));
 * ```
 */
export function attentionForward(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  n: number,
  s: AttentionShape,
): Float64Array {
  const { heads, kvHeads, headDim: d } = s;
  const group = heads / kvHeads;
  const out = new Float64Array(n * heads * d), p = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / group);
      probabilities(q, k, t, h, kvh, s, p);
      const ob = (t * heads + h) * d;
      for (let j = firstAttended(t, s.window); j <= t; j++) {
        const vb = (j * kvHeads + kvh) * d, pj = p[j];
        for (let i = 0; i < d; i++) out[ob + i] += pj * v[vb + i];
      }
    }
  }
  return out;
}

/**
 * The gradients of {@linkcode attentionForward} with respect to `q`, `k` and `v`: with
 * `dpⱼ = dout · vⱼ` and `dsⱼ = pⱼ · (dpⱼ − Σᵢ pᵢ·dpᵢ)`, `dq = Σⱼ dsⱼ·kⱼ / √d`,
 * `dkⱼ += dsⱼ·q / √d`, `dvⱼ += pⱼ·dout`.
 *
 * @param dout gradients of the outputs, `n × heads·d`
 * @param q the forward pass's queries
 * @param k its keys
 * @param v its values
 * @param n positions
 * @param s heads, head size, slopes
 * @returns the gradients of queries, keys and values
 *
 * @example
 * ```ts
 * import { attentionBackward } from "./attention.ts";
 * // One position: out = v, so ∂v = dout and nothing reaches q or k.
 * const g = attentionBackward(new Float64Array([1, 2]), new Float64Array([3, 4]), new Float64Array([5, 6]),
 *   new Float64Array([7, 8]), 1, { heads: 1, kvHeads: 1, headDim: 2, slopes: [] });
 * if (g.dv.join() !== "1,2" || g.dq.some((x) => x !== 0) || g.dk.some((x) => x !== 0)) throw new Error();
 * ```
 */
export function attentionBackward(
  dout: Float64Array,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  n: number,
  s: AttentionShape,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { heads, kvHeads, headDim: d } = s;
  const group = heads / kvHeads, scale = 1 / Math.sqrt(d);
  const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
  const p = new Float64Array(n), dp = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / group);
      probabilities(q, k, t, h, kvh, s, p);
      const ob = (t * heads + h) * d, first = firstAttended(t, s.window);
      let mean = 0;
      for (let j = first; j <= t; j++) {
        const vb = (j * kvHeads + kvh) * d;
        let x = 0;
        for (let i = 0; i < d; i++) {
          x += dout[ob + i] * v[vb + i];
          dv[vb + i] += p[j] * dout[ob + i];
        }
        dp[j] = x;
        mean += p[j] * x;
      }
      for (let j = first; j <= t; j++) {
        const ds = p[j] * (dp[j] - mean) * scale;
        if (ds === 0) continue;
        const kb = (j * kvHeads + kvh) * d;
        for (let i = 0; i < d; i++) {
          dq[ob + i] += ds * k[kb + i];
          dk[kb + i] += ds * q[ob + i];
        }
      }
    }
  }
  return { dq, dk, dv };
}
