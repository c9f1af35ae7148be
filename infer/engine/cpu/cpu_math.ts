/**
 * The operations of a transformer forward pass in plain TypeScript, written to read like the
 * maths (this is the oracle the fast engines are tested against). Rows are tokens; matrices
 * are `[out, in]` in f32 or 16-bit formats, read through a lookup table.
 *
 * @module
 */

import { table16 } from "../../formats/dtype.ts";
import type { Tensor } from "../../formats/tensor.ts";
import { weightRow, weightRowBytes, type WeightTensor } from "../../formats/quant_tensor.ts";
import { INT8_DOT_FORMATS, int8Activations, type Int8DotFormat, int8DotRow } from "../../formats/int8_dot.ts";

/**
 * `y = W · x` for each row `x` of `xs` (`xs` is `[n, in]`, the result `[n, out]`). The weights
 * are read once for all rows; 16-bit rows are widened, and quantized rows dequantized block by
 * block, one row at a time.
 *
 * @param xs inputs, `n × in`
 * @param n number of rows
 * @param w the matrix `[out, in]`, plain or quantized
 * @param bias optional f32 bias `[out]`
 * @returns `n × out` outputs
 *
 * @example
 * ```ts
 * import { matmul } from "./cpu_math.ts";
 * const w = { dtype: "f32" as const, shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) };
 * const y = matmul(new Float32Array([1, 1]), 1, w);
 * if (y.join() !== "3,7") throw new Error(y.join());
 * ```
 */
export function matmul(xs: Float32Array, n: number, w: WeightTensor, bias?: Tensor): Float32Array {
  const [out, inp] = w.shape;
  const ys = new Float32Array(n * out);
  const row = new Float32Array(inp);
  const plainF32 = w.dtype === "f32" ? w.data as Float32Array : undefined;
  const table = w.dtype === "f16" || w.dtype === "bf16" ? table16(w.dtype) : undefined;
  const data = w.data;
  for (let o = 0; o < out; o++) {
    let wrow: Float32Array;
    if (plainF32) {
      wrow = plainF32.subarray(o * inp, (o + 1) * inp);
    } else if (table) {
      const base = o * inp;
      for (let i = 0; i < inp; i++) row[i] = table[data[base + i]];
      wrow = row;
    } else {
      wrow = weightRow(w, o, row);
    }
    const b = bias ? bias.data[o] : 0;
    for (let t = 0; t < n; t++) ys[t * out + o] = dot(wrow, xs, t * inp, inp) + b;
  }
  return ys;
}

/**
 * `y = W · x` for ggml block weights (`q8_0`, `q4_0`, `q5_0`, `q4_k`, `q5_k`, `q6_k`) with the
 * activations rounded to 8 bits per block of 32 and multiplied in integers (llama.cpp's scheme;
 * the oracle of the WebGPU `dot4I8Packed` path and of the `wasm` engine's `int8Dot`).
 *
 * @param xs inputs, `n × in`
 * @param n number of rows
 * @param w the matrix `[out, in]` in one of those formats
 * @param bias optional f32 bias `[out]`
 * @returns `n × out` outputs
 *
 * @example
 * ```ts
 * import { matmulInt8 } from "./cpu_math.ts";
 * import { quantizeTensor } from "../../formats/quant_tensor.ts";
 * const w = quantizeTensor({ dtype: "f32", shape: [1, 32], data: new Float32Array(32).fill(127) }, "q8_0");
 * const y = matmulInt8(new Float32Array(32).fill(127), 1, w);
 * if (y[0] !== 32 * 127 * 127) throw new Error(String(y[0]));
 * ```
 */
export function matmulInt8(xs: Float32Array, n: number, w: WeightTensor, bias?: Tensor): Float32Array {
  const [out, inp] = w.shape;
  if (!(INT8_DOT_FORMATS as readonly string[]).includes(w.dtype)) {
    throw new RangeError(`8-bit activations need one of ${INT8_DOT_FORMATS.join(", ")}, not ${w.dtype}`);
  }
  const type = w.dtype as Int8DotFormat;
  const a = int8Activations(xs.subarray(0, n * inp));
  const rowBytes = weightRowBytes(w);
  const ys = new Float32Array(n * out);
  for (let o = 0; o < out; o++) {
    const b = bias ? bias.data[o] : 0;
    for (let t = 0; t < n; t++) {
      ys[t * out + o] = int8DotRow(type, w.data as Uint8Array, o * rowBytes, a, t * inp / 32, inp) + b;
    }
  }
  return ys;
}

/**
 * `Σ a[i] · x[offset + i]` for `i < len`, accumulated in double precision.
 *
 * @param a first vector (from index 0)
 * @param x second vector
 * @param offset where the second vector starts in `x`
 * @param len length
 * @returns the dot product
 *
 * @example
 * ```ts
 * import { dot } from "./cpu_math.ts";
 * if (dot(new Float32Array([1, 2]), new Float32Array([9, 3, 4]), 1, 2) !== 11) throw new Error();
 * ```
 */
export function dot(a: Float32Array, x: Float32Array, offset: number, len: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  for (; i + 3 < len; i += 4) {
    s0 += a[i] * x[offset + i];
    s1 += a[i + 1] * x[offset + i + 1];
    s2 += a[i + 2] * x[offset + i + 2];
    s3 += a[i + 3] * x[offset + i + 3];
  }
  for (; i < len; i++) s0 += a[i] * x[offset + i];
  return s0 + s1 + s2 + s3;
}

/**
 * RMSNorm of each row: `x / √(mean(x²) + eps) · weight`.
 *
 * @param xs rows, `n × dim`
 * @param n number of rows
 * @param weight the scale `[dim]` (f32)
 * @param eps epsilon
 * @returns the normalized rows
 *
 * @example
 * ```ts
 * import { rmsnorm } from "./cpu_math.ts";
 * const y = rmsnorm(new Float32Array([3, 4]), 1, { dtype: "f32", shape: [2], data: new Float32Array([1, 2]) }, 0);
 * // mean(x²) = 12.5 → x / 3.5355…
 * if (Math.abs(y[0] - 0.8485281) > 1e-6 || Math.abs(y[1] - 2.2627417) > 1e-6) throw new Error(String(y));
 * ```
 */
export function rmsnorm(xs: Float32Array, n: number, weight: Tensor, eps: number): Float32Array {
  const dim = weight.shape[0];
  const ys = new Float32Array(n * dim);
  for (let t = 0; t < n; t++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += xs[t * dim + i] ** 2;
    const scale = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) ys[t * dim + i] = xs[t * dim + i] * scale * weight.data[i];
  }
  return ys;
}

/**
 * Rotary position embedding, in place, rotate-half layout (Hugging Face): in each head, pair
 * `(x[i], x[i + d/2])` is rotated by `position · invFreq[i]`.
 *
 * @param xs rows, `n × heads·headDim`
 * @param n number of rows
 * @param heads heads per row
 * @param headDim head size
 * @param positions position of each row
 * @param invFreq `headDim/2` frequencies
 *
 * @example
 * ```ts
 * import { rope } from "./cpu_math.ts";
 * const x = new Float32Array([1, 0]);
 * rope(x, 1, 1, 2, [1], new Float64Array([Math.PI / 2])); // a quarter turn
 * if (Math.abs(x[0]) > 1e-7 || Math.abs(x[1] - 1) > 1e-7) throw new Error(String(x));
 * ```
 */
export function rope(
  xs: Float32Array,
  n: number,
  heads: number,
  headDim: number,
  positions: readonly number[],
  invFreq: Float64Array,
): void {
  const half = headDim / 2;
  for (let t = 0; t < n; t++) {
    for (let i = 0; i < half; i++) {
      const angle = positions[t] * invFreq[i];
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      for (let h = 0; h < heads; h++) {
        const base = (t * heads + h) * headDim;
        const a = xs[base + i];
        const b = xs[base + i + half];
        xs[base + i] = a * cos - b * sin;
        xs[base + i + half] = b * cos + a * sin;
      }
    }
  }
}

/**
 * Softmax in place over `values[from..to)`.
 *
 * @param values the array
 * @param from first index
 * @param to index past the last
 *
 * @example
 * ```ts
 * import { softmax } from "./cpu_math.ts";
 * const p = new Float64Array([0, Math.log(3)]);
 * softmax(p, 0, 2);
 * if (Math.abs(p[0] - 0.25) > 1e-12) throw new Error();
 * ```
 */
export function softmax(values: Float32Array | Float64Array, from: number, to: number): void {
  let max = -Infinity;
  for (let i = from; i < to; i++) max = Math.max(max, values[i]);
  let sum = 0;
  for (let i = from; i < to; i++) {
    values[i] = Math.exp(values[i] - max);
    sum += values[i];
  }
  for (let i = from; i < to; i++) values[i] /= sum;
}

/**
 * `silu(gate) ⊙ up`, elementwise (SwiGLU), where `silu(x) = x · σ(x)`.
 *
 * @param gate gate projections
 * @param up up projections
 * @returns the products
 *
 * @example
 * ```ts
 * import { swiglu } from "./cpu_math.ts";
 * const y = swiglu(new Float32Array([0, 1]), new Float32Array([5, 2]));
 * if (y[0] !== 0 || Math.abs(y[1] - 2 / (1 + Math.exp(-1))) > 1e-6) throw new Error();
 * ```
 */
export function swiglu(gate: Float32Array, up: Float32Array): Float32Array {
  const y = new Float32Array(gate.length);
  for (let i = 0; i < y.length; i++) y[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
  return y;
}

/**
 * `x += y`, elementwise.
 *
 * @param x accumulated into
 * @param y added
 *
 * @example
 * ```ts
 * import { addInPlace } from "./cpu_math.ts";
 * const x = new Float32Array([1, 2]);
 * addInPlace(x, new Float32Array([3, 4]));
 * if (x.join() !== "4,6") throw new Error();
 * ```
 */
export function addInPlace(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) x[i] += y[i];
}
