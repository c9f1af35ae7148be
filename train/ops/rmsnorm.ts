/**
 * RMSNorm in training: `y = g ⊙ x / √(mean(x²) + ε)` for each token row, and its backward
 * (the scale `g` is frozen, so only `∂L/∂x` is returned). Double precision.
 *
 * @module
 */

/**
 * RMSNorm of each of `n` rows of size `g.length`.
 *
 * @param x rows, `n × dim`
 * @param n rows
 * @param g the scale `[dim]`
 * @param eps ε
 * @returns the normalized rows and each row's `1/√(mean(x²) + ε)`
 *
 * @example
 * ```ts
 * import { rmsnormForward } from "./rmsnorm.ts";
 * const { y } = rmsnormForward(new Float64Array([3, 4]), 1, new Float32Array([1, 2]), 0);
 * if (Math.abs(y[0] - 3 / Math.sqrt(12.5)) > 1e-15 || Math.abs(y[1] - 8 / Math.sqrt(12.5)) > 1e-15) throw new Error();
 * ```
 */
export function rmsnormForward(
  x: Float64Array,
  n: number,
  g: ArrayLike<number>,
  eps: number,
): { y: Float64Array; inv: Float64Array } {
  const dim = g.length;
  const y = new Float64Array(n * dim), inv = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    const base = t * dim;
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[base + i] * x[base + i];
    const s = 1 / Math.sqrt(ss / dim + eps);
    inv[t] = s;
    for (let i = 0; i < dim; i++) y[base + i] = g[i] * x[base + i] * s;
  }
  return { y, inv };
}

/**
 * `∂L/∂x` of {@linkcode rmsnormForward}:
 * `dxᵢ = s·gᵢ·dyᵢ − xᵢ · s³/dim · Σⱼ gⱼ·dyⱼ·xⱼ` with `s = 1/√(mean(x²) + ε)`.
 *
 * @param dy gradients of the outputs, `n × dim`
 * @param x the forward pass's inputs
 * @param n rows
 * @param g the scale
 * @param inv each row's `s`, from the forward pass
 * @returns gradients of the inputs
 *
 * @example
 * ```ts
 * import { rmsnormBackward, rmsnormForward } from "./rmsnorm.ts";
 * // A row scaled keeps its output: the gradient along the row itself is zero.
 * const x = new Float64Array([3, 4]), g = [1, 1];
 * const { inv } = rmsnormForward(x, 1, g, 0);
 * const dx = rmsnormBackward(new Float64Array([3, 4]), x, 1, g, inv);
 * if (Math.abs(dx[0]) > 1e-15 || Math.abs(dx[1]) > 1e-15) throw new Error(String(dx));
 * ```
 */
export function rmsnormBackward(
  dy: Float64Array,
  x: Float64Array,
  n: number,
  g: ArrayLike<number>,
  inv: Float64Array,
): Float64Array {
  const dim = g.length;
  const dx = new Float64Array(n * dim);
  for (let t = 0; t < n; t++) {
    const base = t * dim, s = inv[t];
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += g[i] * dy[base + i] * x[base + i];
    const c = dot * s * s * s / dim;
    for (let i = 0; i < dim; i++) dx[base + i] = s * g[i] * dy[base + i] - x[base + i] * c;
  }
  return dx;
}
