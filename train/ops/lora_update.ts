/**
 * PEFT's LoRA update as a trained op: `Δ = scale · B · (A · dropout(x))` for each token row, and
 * its backward, which gives the gradients of `A` and `B` and the update's share of the input's
 * gradient. Double precision throughout.
 *
 * @module
 */

/** A LoRA's trainable pair: `A` is `[r, in]`, `B` is `[out, r]`, row-major. */
export interface LoraPair {
  /** `lora_A`, `r × in`. */
  readonly a: Float64Array;
  /** `lora_B`, `out × r`. */
  readonly b: Float64Array;
  /** Rank. */
  readonly r: number;
  /** Input size. */
  readonly inp: number;
  /** Output size. */
  readonly out: number;
  /** `alpha / r`. */
  readonly scale: number;
}

/** What the forward pass keeps for the backward pass. */
export interface LoraCache {
  /** The input after dropout, `n × in`. */
  readonly u: Float64Array;
  /** `A · u`, `n × r`. */
  readonly h: Float64Array;
  /** The dropout multipliers (0 or `1/(1−p)`), `n × in`; absent without dropout. */
  readonly mask?: Float64Array;
}

/**
 * `Δ = scale · B · (A · (x ⊙ mask))` for each of `n` rows.
 *
 * @param x inputs, `n × in`
 * @param n rows
 * @param p the pair
 * @param mask dropout multipliers, `n × in` (absent: no dropout)
 * @returns the update (`n × out`) and what the backward pass needs
 *
 * @example
 * ```ts
 * import { loraForward } from "./lora_update.ts";
 * const p = { a: new Float64Array([1, 1]), b: new Float64Array([4]), r: 1, inp: 2, out: 1, scale: 0.5 };
 * if (loraForward(new Float64Array([2, 3]), 1, p).delta[0] !== 0.5 * 4 * 5) throw new Error();
 * ```
 */
export function loraForward(
  x: Float64Array,
  n: number,
  p: LoraPair,
  mask?: Float64Array,
): { delta: Float64Array; cache: LoraCache } {
  const { a, b, r, inp, out, scale } = p;
  const u = mask ? x.map((v, i) => v * mask[i]) : x;
  const h = new Float64Array(n * r);
  for (let t = 0; t < n; t++) {
    for (let k = 0; k < r; k++) {
      let s = 0;
      for (let i = 0; i < inp; i++) s += a[k * inp + i] * u[t * inp + i];
      h[t * r + k] = s;
    }
  }
  const delta = new Float64Array(n * out);
  for (let t = 0; t < n; t++) {
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += b[o * r + k] * h[t * r + k];
      delta[t * out + o] = scale * s;
    }
  }
  return { delta, cache: { u, h, mask } };
}

/**
 * The backward pass of {@linkcode loraForward}: adds `∂L/∂A` and `∂L/∂B` into `ga` and `gb` and
 * returns the update's share of `∂L/∂x`.
 *
 * @param dDelta gradients of the update, `n × out`
 * @param n rows
 * @param p the pair
 * @param cache what the forward pass kept
 * @param ga gradient of `A`, added to (`r × in`)
 * @param gb gradient of `B`, added to (`out × r`)
 * @returns `∂L/∂x` through the update, `n × in`
 *
 * @example
 * ```ts
 * import { loraBackward, loraForward } from "./lora_update.ts";
 * const p = { a: new Float64Array([1, 1]), b: new Float64Array([4]), r: 1, inp: 2, out: 1, scale: 0.5 };
 * const { cache } = loraForward(new Float64Array([2, 3]), 1, p);
 * const ga = new Float64Array(2), gb = new Float64Array(1);
 * const dx = loraBackward(new Float64Array([1]), 1, p, cache, ga, gb);
 * // Δ = 0.5·4·(x₀ + x₁): ∂/∂x = [2, 2], ∂/∂A = 0.5·4·x = [4, 6], ∂/∂B = 0.5·5
 * if (dx.join() !== "2,2" || ga.join() !== "4,6" || gb[0] !== 2.5) throw new Error();
 * ```
 */
export function loraBackward(
  dDelta: Float64Array,
  n: number,
  p: LoraPair,
  cache: LoraCache,
  ga: Float64Array,
  gb: Float64Array,
): Float64Array {
  const { a, b, r, inp, out, scale } = p;
  const { u, h, mask } = cache;
  const dh = new Float64Array(n * r);
  for (let t = 0; t < n; t++) {
    for (let o = 0; o < out; o++) {
      const g = scale * dDelta[t * out + o];
      if (g === 0) continue;
      for (let k = 0; k < r; k++) {
        dh[t * r + k] += g * b[o * r + k];
        gb[o * r + k] += g * h[t * r + k];
      }
    }
  }
  const dx = new Float64Array(n * inp);
  for (let t = 0; t < n; t++) {
    for (let k = 0; k < r; k++) {
      const g = dh[t * r + k];
      if (g === 0) continue;
      for (let i = 0; i < inp; i++) {
        ga[k * inp + i] += g * u[t * inp + i];
        dx[t * inp + i] += g * a[k * inp + i];
      }
    }
  }
  if (mask) { for (let i = 0; i < dx.length; i++) dx[i] *= mask[i]; }
  return dx;
}
