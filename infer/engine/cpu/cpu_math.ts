/**
 * The operations of a transformer forward pass in plain TypeScript, written to read like the
 * maths (this is the oracle the fast engines are tested against). Rows are tokens; matrices
 * are `[out, in]` in f32 or 16-bit formats, read through a lookup table.
 *
 * @module
 */

import { f16ToF32, f32ToF16 } from "../../formats/dtype.ts";
import type { Tensor } from "../../formats/tensor.ts";
import type { LoraDelta } from "../../model/lora.ts";
import { weightRowBytes, weightRowReader, type WeightTensor } from "../../formats/quant_tensor.ts";
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
  const read = weightRowReader(w);
  for (let o = 0; o < out; o++) {
    const wrow = read(o, row);
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
  return rmsnormInto(xs, n, weight, eps, new Float32Array(n * weight.shape[0]));
}

/**
 * {@linkcode rmsnorm} into a given array (an engine's buffer allocated once).
 *
 * @param xs rows, `n × dim` (at least)
 * @param n number of rows
 * @param weight the scale `[dim]` (f32)
 * @param eps epsilon
 * @param out where the `n × dim` normalized rows go
 * @returns `out`
 *
 * @example
 * ```ts
 * import { rmsnormInto } from "./cpu_math.ts";
 * const out = new Float32Array(3);
 * rmsnormInto(new Float32Array([3, 4]), 1, { dtype: "f32", shape: [2], data: new Float32Array([1, 1]) }, 0, out);
 * if (Math.abs(out[1] - 4 / Math.sqrt(12.5)) > 1e-6 || out[2] !== 0) throw new Error(String(out));
 * ```
 */
export function rmsnormInto(xs: Float32Array, n: number, weight: Tensor, eps: number, out: Float32Array): Float32Array {
  const dim = weight.shape[0];
  for (let t = 0; t < n; t++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += xs[t * dim + i] ** 2;
    const scale = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) out[t * dim + i] = xs[t * dim + i] * scale * weight.data[i];
  }
  return out;
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
  ropeRotate(xs, n, heads, headDim, ropeAngles(positions, n, invFreq, new Float64Array(n * headDim)));
}

/**
 * The cosine and sine of each row's rotary angles, `position · invFreq[i]`, for
 * {@linkcode ropeRotate}: row `t`'s pair `i` at `out[(t · headDim/2 + i) · 2]` and the next.
 * Computed once, they serve every layer's queries and keys.
 *
 * @param positions position of each row
 * @param n number of rows
 * @param invFreq `headDim/2` frequencies
 * @param out at least `n · headDim` doubles
 * @returns `out`
 *
 * @example
 * ```ts
 * import { ropeAngles } from "./cpu_math.ts";
 * const t = ropeAngles([2], 1, new Float64Array([Math.PI / 4]), new Float64Array(2));
 * if (Math.abs(t[0]) > 1e-15 || t[1] !== 1) throw new Error(String(t)); // a quarter turn at position 2
 * ```
 */
export function ropeAngles(
  positions: readonly number[],
  n: number,
  invFreq: Float64Array,
  out: Float64Array,
): Float64Array {
  const half = invFreq.length;
  for (let t = 0; t < n; t++) {
    for (let i = 0; i < half; i++) {
      const angle = positions[t] * invFreq[i];
      out[(t * half + i) * 2] = Math.cos(angle);
      out[(t * half + i) * 2 + 1] = Math.sin(angle);
    }
  }
  return out;
}

/**
 * {@linkcode rope} with its angles' cosines and sines given ({@linkcode ropeAngles}): the same
 * rotation, in place.
 *
 * @param xs rows, `n × heads·headDim`
 * @param n number of rows
 * @param heads heads per row
 * @param headDim head size
 * @param cosSin the rows' cosines and sines
 *
 * @example
 * ```ts
 * import { ropeAngles, ropeRotate } from "./cpu_math.ts";
 * const x = new Float32Array([1, 0, 0, 1]); // two heads of 2
 * ropeRotate(x, 1, 2, 2, ropeAngles([1], 1, new Float64Array([Math.PI / 2]), new Float64Array(2)));
 * if (Math.abs(x[1] - 1) > 1e-7 || Math.abs(x[2] + 1) > 1e-7) throw new Error(String(x));
 * ```
 */
export function ropeRotate(xs: Float32Array, n: number, heads: number, headDim: number, cosSin: Float64Array): void {
  const half = headDim / 2;
  for (let t = 0; t < n; t++) {
    for (let i = 0; i < half; i++) {
      const cos = cosSin[(t * half + i) * 2];
      const sin = cosSin[(t * half + i) * 2 + 1];
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
  return swigluInto(gate, up, new Float32Array(gate.length), gate.length);
}

/**
 * {@linkcode swiglu} of the first `count` values into a given array (which may be `gate`).
 *
 * @param gate gate projections
 * @param up up projections
 * @param out where the products go
 * @param count how many
 * @returns `out`
 *
 * @example
 * ```ts
 * import { swigluInto } from "./cpu_math.ts";
 * const gate = new Float32Array([0, 1, 7]);
 * swigluInto(gate, new Float32Array([5, 2, 9]), gate, 2); // in place, the first two
 * if (gate[0] !== 0 || Math.abs(gate[1] - 2 / (1 + Math.exp(-1))) > 1e-6 || gate[2] !== 7) throw new Error();
 * ```
 */
export function swigluInto(gate: Float32Array, up: Float32Array, out: Float32Array, count: number): Float32Array {
  for (let i = 0; i < count; i++) out[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
  return out;
}

/**
 * Each value replaced by the nearest IEEE half, in place (what an f16 KV cache holds).
 *
 * @param a the values
 *
 * @example
 * ```ts
 * import { roundToHalf } from "./cpu_math.ts";
 * const a = new Float32Array([1 / 3]);
 * roundToHalf(a);
 * if (a[0] !== 0.333251953125) throw new Error(String(a[0]));
 * ```
 */
export function roundToHalf(a: Float32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = f16ToF32(f32ToF16(a[i]));
}

/**
 * The first key a query at `pos` attends to: 0, or with a sliding window of `window` keys
 * (Mistral's), `pos − window + 1` (the query's own key and the `window − 1` before it).
 *
 * @param pos the query's position
 * @param window the sliding window's width, if the model has one
 * @returns the first position attended
 *
 * @example
 * ```ts
 * import { firstAttended } from "./cpu_math.ts";
 * if (firstAttended(9, 4) !== 6 || firstAttended(2, 4) !== 0 || firstAttended(9) !== 0) throw new Error();
 * ```
 */
export function firstAttended(pos: number, window?: number): number {
  return window === undefined ? 0 : Math.max(0, pos - window + 1);
}

/**
 * One query head's causal attention over cached keys and values:
 * `out = softmax(q·kⱼ · scale + slope · (j − pos))_{from ≤ j ≤ pos} · V`, dot products accumulated
 * in double precision. Position `j`'s key for this head starts at `keys[base + j · stride]` (and
 * its value likewise in `values`).
 *
 * @param q queries
 * @param qBase where this head's query starts in `q`
 * @param keys cached keys
 * @param values cached values
 * @param base where this head's key and value of position 0 start
 * @param stride elements from one position to the next
 * @param dim head size
 * @param pos the query's position (keys `0..pos` are attended)
 * @param scale the score scale (`1/√dim`)
 * @param slope the ALiBi slope of the head (0 without ALiBi)
 * @param scores room for `pos + 1` scores
 * @param out where the head's output goes (`dim` values from `outBase`, overwritten)
 * @param outBase where it starts in `out`
 * @param from the first key attended (a sliding window's start; default 0)
 *
 * @example
 * ```ts
 * import { attendHead } from "./cpu_math.ts";
 * // Two positions with equal scores: the output is the mean of their values.
 * const keys = new Float32Array([1, 0, 1, 0]), values = new Float32Array([2, 4, 6, 8]);
 * const out = new Float32Array(2);
 * attendHead(new Float32Array([1, 0]), 0, keys, values, 0, 2, 2, 1, 1, 0, new Float64Array(2), out, 0);
 * if (out.join() !== "4,6") throw new Error(String(out));
 * ```
 */
export function attendHead(
  q: Float32Array,
  qBase: number,
  keys: Float32Array,
  values: Float32Array,
  base: number,
  stride: number,
  dim: number,
  pos: number,
  scale: number,
  slope: number,
  scores: Float32Array | Float64Array,
  out: Float32Array,
  outBase: number,
  from = 0,
): void {
  for (let j = from; j <= pos; j++) {
    const kBase = base + j * stride;
    let s = 0;
    for (let i = 0; i < dim; i++) s += q[qBase + i] * keys[kBase + i];
    scores[j] = s * scale + slope * (j - pos);
  }
  softmax(scores, from, pos + 1);
  out.fill(0, outBase, outBase + dim);
  for (let j = from; j <= pos; j++) {
    const vBase = base + j * stride;
    const pj = scores[j];
    for (let i = 0; i < dim; i++) out[outBase + i] += pj * values[vBase + i];
  }
}

/**
 * `y += scale · B · (A · x)` for each of `n` rows: a LoRA update kept apart from its weight.
 *
 * @param y outputs `n × out`, added to
 * @param xs inputs `n × in`
 * @param n rows
 * @param d the update (`A` is `[r, in]`, `B` is `[out, r]`)
 *
 * @example
 * ```ts
 * import { addLoraUpdate } from "./cpu_math.ts";
 * const y = new Float32Array([1]);
 * addLoraUpdate(y, new Float32Array([2, 3]), 1, { r: 1, scale: 0.5, a: new Float32Array([1, 1]), b: new Float32Array([4]) });
 * if (y[0] !== 1 + 0.5 * 4 * 5) throw new Error(String(y[0]));
 * ```
 */
export function addLoraUpdate(y: Float32Array, xs: Float32Array, n: number, d: LoraDelta): void {
  const inp = d.a.length / d.r;
  const out = d.b.length / d.r;
  const ax = matmul(xs.subarray(0, n * inp), n, { dtype: "f32", shape: [d.r, inp], data: d.a });
  const bax = matmul(ax, n, { dtype: "f32", shape: [out, d.r], data: d.b });
  for (let i = 0; i < n * out; i++) y[i] += d.scale * bax[i];
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
