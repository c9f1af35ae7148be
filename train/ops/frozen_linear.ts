/**
 * A frozen weight matrix in training: `y = W · x (+ b)` for each token row, and the gradient it
 * passes back, `dx = Wᵀ · dy`. The matrix stays in its stored format (f32, 16-bit or ggml
 * blocks); each row is widened or dequantized once per call and used for every token. Values are
 * computed and returned in double precision.
 *
 * @module
 */

import { type Tensor, weightRowReader, type WeightTensor } from "../../infer/formats/mod.ts";

/**
 * `y = W · x + b` for each of `n` rows of `x` (`x` is `n × in`, `W` is `[out, in]`).
 *
 * @param x inputs, `n × in`
 * @param n rows
 * @param w the frozen matrix
 * @param bias optional bias `[out]`
 * @returns outputs, `n × out`
 *
 * @example
 * ```ts
 * import { linearForward } from "./frozen_linear.ts";
 * const w = { dtype: "f32" as const, shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) };
 * if (linearForward(new Float64Array([1, 1]), 1, w).join() !== "3,7") throw new Error();
 * ```
 */
export function linearForward(x: Float64Array, n: number, w: WeightTensor, bias?: Tensor): Float64Array {
  const [out, inp] = w.shape;
  const y = new Float64Array(n * out);
  const read = weightRowReader(w), scratch = new Float32Array(inp);
  for (let o = 0; o < out; o++) {
    const row = read(o, scratch);
    const b = bias ? bias.data[o] : 0;
    for (let t = 0; t < n; t++) {
      const base = t * inp;
      let s = 0;
      for (let i = 0; i < inp; i++) s += row[i] * x[base + i];
      y[t * out + o] = s + b;
    }
  }
  return y;
}

/**
 * `dx = Wᵀ · dy` for each of `n` rows: the gradient a frozen matrix passes to its input.
 *
 * @param dy gradients of the outputs, `n × out`
 * @param n rows
 * @param w the frozen matrix `[out, in]`
 * @returns gradients of the inputs, `n × in`
 *
 * @example
 * ```ts
 * import { linearBackward } from "./frozen_linear.ts";
 * const w = { dtype: "f32" as const, shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) };
 * if (linearBackward(new Float64Array([1, 1]), 1, w).join() !== "4,6") throw new Error();
 * ```
 */
export function linearBackward(dy: Float64Array, n: number, w: WeightTensor): Float64Array {
  const [out, inp] = w.shape;
  const dx = new Float64Array(n * inp);
  const read = weightRowReader(w), scratch = new Float32Array(inp);
  for (let o = 0; o < out; o++) {
    const row = read(o, scratch);
    for (let t = 0; t < n; t++) {
      const g = dy[t * out + o];
      if (g === 0) continue;
      const base = t * inp;
      for (let i = 0; i < inp; i++) dx[base + i] += g * row[i];
    }
  }
  return dx;
}
