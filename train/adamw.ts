/**
 * The optimiser of Hugging Face's Trainer as IEPile uses it: AdamW (PyTorch's `adamw_torch`,
 * bias-corrected, decoupled weight decay), a learning rate decaying linearly to zero over all
 * optimisation steps with no warm-up, and clipping of the gradients' global L2 norm.
 *
 * @module
 */

/** AdamW's constants. */
export interface AdamWOptions {
  /** β₁ (default 0.9). */
  readonly beta1?: number;
  /** β₂ (default 0.999). */
  readonly beta2?: number;
  /** ε (default 1e-8). */
  readonly eps?: number;
  /** Decoupled weight decay (default 0). */
  readonly weightDecay?: number;
}

/** One parameter's AdamW moments. */
export interface AdamWState {
  /** First moment. */
  readonly m: Float64Array;
  /** Second moment. */
  readonly v: Float64Array;
}

/**
 * One AdamW step on a parameter, PyTorch's way: `p ← p·(1 − lr·wd)`; `m ← β₁m + (1−β₁)g`;
 * `v ← β₂v + (1−β₂)g²`; `p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)`.
 *
 * @param p the parameter, updated in place
 * @param g its gradient
 * @param s its moments, updated in place
 * @param step the step number, from 1
 * @param lr the learning rate of this step
 * @param o the constants
 *
 * @example
 * ```ts
 * import { adamwStep } from "./adamw.ts";
 * // The first step moves every element by lr·g/(|g| + ε): about lr against the gradient's sign.
 * const p = new Float64Array([1, 1]);
 * adamwStep(p, new Float64Array([0.5, -2]), { m: new Float64Array(2), v: new Float64Array(2) }, 1, 0.1);
 * if (Math.abs(p[0] - 0.9) > 1e-6 || Math.abs(p[1] - 1.1) > 1e-6) throw new Error(String(p));
 * ```
 */
export function adamwStep(
  p: Float64Array,
  g: Float64Array,
  s: AdamWState,
  step: number,
  lr: number,
  o: AdamWOptions = {},
): void {
  const b1 = o.beta1 ?? 0.9, b2 = o.beta2 ?? 0.999, eps = o.eps ?? 1e-8, wd = o.weightDecay ?? 0;
  const c1 = 1 - b1 ** step, c2 = Math.sqrt(1 - b2 ** step);
  const { m, v } = s;
  for (let i = 0; i < p.length; i++) {
    if (wd !== 0) p[i] *= 1 - lr * wd;
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    p[i] -= (lr / c1) * m[i] / (Math.sqrt(v[i]) / c2 + eps);
  }
}

/**
 * The learning rate of optimisation step `step` (from 0) of `total`: linear decay from `peak` to
 * zero, no warm-up (`get_linear_schedule_with_warmup` with 0 warm-up steps).
 *
 * @param peak the initial learning rate
 * @param step steps done before this one
 * @param total all steps of the run
 * @returns the rate
 *
 * @example
 * ```ts
 * import { linearDecay } from "./adamw.ts";
 * if (linearDecay(1e-4, 0, 4) !== 1e-4 || linearDecay(1e-4, 3, 4) !== 2.5e-5) throw new Error();
 * ```
 */
export function linearDecay(peak: number, step: number, total: number): number {
  return peak * Math.max(0, (total - step) / Math.max(1, total));
}

/**
 * Scale gradients so their global L2 norm is at most `maxNorm` (PyTorch's `clip_grad_norm_`: a
 * factor `maxNorm / (norm + 1e-6)` when below 1); returns the norm before clipping.
 *
 * @param grads the gradients, scaled in place
 * @param maxNorm the threshold (0 or less: no clipping)
 * @returns the global norm before clipping
 *
 * @example
 * ```ts
 * import { clipGradNorm } from "./adamw.ts";
 * const g = [new Float64Array([3]), new Float64Array([4])];
 * if (clipGradNorm(g, 1) !== 5 || Math.abs(g[0][0] - 0.6) > 1e-6) throw new Error(String(g));
 * ```
 */
export function clipGradNorm(grads: readonly Float64Array[], maxNorm: number): number {
  let ss = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) ss += g[i] * g[i];
  const norm = Math.sqrt(ss);
  const factor = maxNorm / (norm + 1e-6);
  if (maxNorm > 0 && factor < 1) {
    for (const g of grads) for (let i = 0; i < g.length; i++) g[i] *= factor;
  }
  return norm;
}
