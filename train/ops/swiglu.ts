/**
 * SwiGLU in training: `y = silu(gate) ⊙ up` with `silu(g) = g · σ(g)`, and its backward.
 *
 * @module
 */

/**
 * `silu(gate) ⊙ up`, elementwise.
 *
 * @param gate gate projections
 * @param up up projections
 * @returns the products
 *
 * @example
 * ```ts
 * import { swigluForward } from "./swiglu.ts";
 * const y = swigluForward(new Float64Array([0, 1]), new Float64Array([5, 2]));
 * if (y[0] !== 0 || Math.abs(y[1] - 2 / (1 + Math.exp(-1))) > 1e-15) throw new Error();
 * ```
 */
export function swigluForward(gate: Float64Array, up: Float64Array): Float64Array {
  const y = new Float64Array(gate.length);
  for (let i = 0; i < y.length; i++) y[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
  return y;
}

/**
 * The gradients of {@linkcode swigluForward}: `∂up = dy · silu(g)`,
 * `∂gate = dy · up · σ(g) · (1 + g · (1 − σ(g)))`.
 *
 * @param dy gradients of the products
 * @param gate the forward pass's gate projections
 * @param up its up projections
 * @returns the gradients of gate and up
 *
 * @example
 * ```ts
 * import { swigluBackward } from "./swiglu.ts";
 * // At g = 0: silu(0) = 0 and silu'(0) = ½.
 * const { dGate, dUp } = swigluBackward(new Float64Array([1]), new Float64Array([0]), new Float64Array([3]));
 * if (dGate[0] !== 1.5 || dUp[0] !== 0) throw new Error();
 * ```
 */
export function swigluBackward(
  dy: Float64Array,
  gate: Float64Array,
  up: Float64Array,
): { dGate: Float64Array; dUp: Float64Array } {
  const dGate = new Float64Array(gate.length), dUp = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i], s = 1 / (1 + Math.exp(-g));
    dUp[i] = dy[i] * g * s;
    dGate[i] = dy[i] * up[i] * s * (1 + g * (1 - s));
  }
  return { dGate, dUp };
}
