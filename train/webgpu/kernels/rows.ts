/**
 * The WebGPU trainer's row kernels, one workgroup of 64 per row: RMS norm and its backward,
 * attention's causal softmax (ALiBi, sliding window) and its backward, and the cross-entropy
 * of the scored rows with its gradient. Each has the maths of the CPU oracle's op
 * (`../../ops/`), in f32.
 *
 * @module
 */

import { checkShape, type KernelCall } from "../../../infer/engine/webgpu/kernels/kernel.ts";
import { ParamStruct } from "../../../infer/engine/webgpu/kernels/params.ts";

/** WGSL: a workgroup's sum and max of one value per thread (`part` is workgroup memory). */
const REDUCE = `
var<workgroup> part: array<f32, 64>;
fn reduce_sum(v: f32, l: u32) -> f32 {
  workgroupBarrier();
  part[l] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (l < s) { part[l] += part[l + s]; }
    workgroupBarrier();
  }
  return part[0];
}
fn reduce_max(v: f32, l: u32) -> f32 {
  workgroupBarrier();
  part[l] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (l < s) { part[l] = max(part[l], part[l + s]); }
    workgroupBarrier();
  }
  return part[0];
}`;

const NORM = new ParamStruct("Params", {
  dim: "u32",
  eps: "f32",
  x_off: "u32",
  y_off: "u32",
  accumulate: "flag",
});

/** A norm's operands: `rows` rows of `dim` at element offsets (default 0). */
export interface NormArgs {
  /** The norm's input rows (`x_off` on). */
  readonly x: GPUBuffer;
  /** The norm's weight. */
  readonly weight: GPUBuffer;
  /** Rows. */
  readonly rows: number;
  /** Row width. */
  readonly dim: number;
  /** Added to the mean square. */
  readonly eps: number;
  /** Element offset of the first input row. */
  readonly xOff?: number;
}

/**
 * `y = x / rms(x) · weight`, row by row.
 *
 * @param a the input, weight and shape
 * @param y where the rows go
 * @returns the call
 *
 * @example
 * ```ts
 * import { normForward } from "./rows.ts";
 * const b = { size: 256 } as GPUBuffer;
 * if (normForward({ x: b, weight: b, rows: 3, dim: 8, eps: 1e-6 }, b).grid(0, 0).join() !== "3,1,1") throw new Error();
 * ```
 */
export function normForward(a: NormArgs, y: GPUBuffer): KernelCall {
  return rowCall(
    "rmsnorm",
    `${NORM.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
${REDUCE}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let xo = p.x_off + wg.x * p.dim;
  var ss = 0.0;
  for (var i = l; i < p.dim; i += 64u) { ss += x[xo + i] * x[xo + i]; }
  let inv = inverseSqrt(reduce_sum(ss, l) / f32(p.dim) + p.eps);
  for (var i = l; i < p.dim; i += 64u) { y[wg.x * p.dim + i] = x[xo + i] * inv * g[i]; }
}`,
    NORM.pack({ dim: a.dim, eps: a.eps, x_off: a.xOff ?? 0, y_off: 0, accumulate: false }),
    [a.x, a.weight, y],
    a.rows,
  );
}

/**
 * The backward of {@linkcode normForward}: `dx (+)= inv · (g ⊙ dy) − x · inv³ · (Σ g·dy·x) / dim`,
 * written (or added) at `dxOff`.
 *
 * @param a the forward's input, weight and shape
 * @param dy the gradient of the norm's output, `rows × dim`
 * @param dx where the input's gradient goes
 * @param o its element offset, and whether to add
 * @returns the call
 *
 * @example
 * ```ts
 * import { normBackward } from "./rows.ts";
 * const b = { size: 256 } as GPUBuffer;
 * if (normBackward({ x: b, weight: b, rows: 2, dim: 8, eps: 1e-6 }, b, b).buffers.length !== 4) throw new Error();
 * ```
 */
export function normBackward(
  a: NormArgs,
  dy: GPUBuffer,
  dx: GPUBuffer,
  o: { readonly dxOff?: number; readonly accumulate?: boolean } = {},
): KernelCall {
  return rowCall(
    "rmsnorm",
    `${NORM.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
${REDUCE}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let xo = p.x_off + wg.x * p.dim;
  let yo = wg.x * p.dim;
  var ss = 0.0;
  var gdx = 0.0;
  for (var i = l; i < p.dim; i += 64u) {
    ss += x[xo + i] * x[xo + i];
    gdx += g[i] * dy[yo + i] * x[xo + i];
  }
  let inv = inverseSqrt(reduce_sum(ss, l) / f32(p.dim) + p.eps);
  let c = reduce_sum(gdx, l) * inv * inv * inv / f32(p.dim);
  let dxo = p.y_off + wg.x * p.dim;
  for (var i = l; i < p.dim; i += 64u) {
    let v = inv * g[i] * dy[yo + i] - x[xo + i] * c;
    if (p.accumulate == 1u) { dx[dxo + i] += v; } else { dx[dxo + i] = v; }
  }
}`,
    NORM.pack({ dim: a.dim, eps: a.eps, x_off: a.xOff ?? 0, y_off: o.dxOff ?? 0, accumulate: o.accumulate === true }),
    [
      a.x,
      a.weight,
      dy,
      dx,
    ],
    a.rows,
  );
}

const SOFTMAX = new ParamStruct("Params", { n: "u32", window: "u32", alibi: "flag" });

/** Attention probabilities' shape: `heads` square blocks of `n × n`, and the mask. */
export interface SoftmaxArgs {
  /** Tokens (rows and columns of each head's block). */
  readonly n: number;
  /** Heads. */
  readonly heads: number;
  /** Keys a query sees at most (0: all earlier ones). */
  readonly window?: number;
  /** ALiBi slopes per head (zeros, or any buffer of `heads` values, without ALiBi). */
  readonly slopes: GPUBuffer;
  /** Whether the slopes apply. */
  readonly alibi?: boolean;
}

/**
 * Scores (already scaled) to probabilities in place: row `i` of head `h` adds
 * `slope[h] · (j − i)` and keeps keys `j ≤ i` (within the window); masked entries become 0.
 *
 * @param s the scores, `heads × n × n`
 * @param a shape and mask
 * @returns the call
 *
 * @example
 * ```ts
 * import { softmaxForward } from "./rows.ts";
 * const b = { size: 4 * 2 * 9 } as GPUBuffer;
 * if (softmaxForward(b, { n: 3, heads: 2, slopes: { size: 8 } as GPUBuffer }).grid(0, 0).join() !== "3,2,1") throw new Error();
 * ```
 */
export function softmaxForward(s: GPUBuffer, a: SoftmaxArgs): KernelCall {
  checkShape("softmax", s.size >= a.heads * a.n * a.n * 4, "scores too small");
  return {
    role: "softmax",
    code: `${SOFTMAX.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;
@group(0) @binding(2) var<storage, read> slopes: array<f32>;
${REDUCE}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let i = wg.x;
  let h = wg.y;
  let base = (h * p.n + i) * p.n;
  let slope = select(0.0, slopes[h], p.alibi == 1u);
  var first = 0u;
  if (p.window > 0u && i + 1u > p.window) { first = i + 1u - p.window; }
  var m = -3.0e38;
  for (var j = first + l; j <= i; j += 64u) { m = max(m, s[base + j] + slope * (f32(j) - f32(i))); }
  m = reduce_max(m, l);
  var sum = 0.0;
  for (var j = first + l; j <= i; j += 64u) { sum += exp(s[base + j] + slope * (f32(j) - f32(i)) - m); }
  sum = reduce_sum(sum, l);
  for (var j = l; j < p.n; j += 64u) {
    var v = 0.0;
    if (j >= first && j <= i) { v = exp(s[base + j] + slope * (f32(j) - f32(i)) - m) / sum; }
    s[base + j] = v;
  }
}`,
    params: SOFTMAX.pack({ n: a.n, window: a.window ?? 0, alibi: a.alibi === true }),
    step: false,
    buffers: [s, a.slopes],
    grid: () => [a.n, a.heads, 1],
  };
}

/**
 * The softmax's backward in place: `dS = P ⊙ (dP − Σⱼ P·dP)` row by row (masked entries stay 0).
 *
 * @param prob the probabilities, `heads × n × n`
 * @param d the gradient of the probabilities, overwritten with that of the scores
 * @param a the shape
 * @returns the call
 *
 * @example
 * ```ts
 * import { softmaxBackward } from "./rows.ts";
 * const b = { size: 4 * 9 } as GPUBuffer;
 * if (softmaxBackward(b, b, { n: 3, heads: 1 }).grid(0, 0).join() !== "3,1,1") throw new Error();
 * ```
 */
export function softmaxBackward(prob: GPUBuffer, d: GPUBuffer, a: Pick<SoftmaxArgs, "n" | "heads">): KernelCall {
  return {
    role: "softmax",
    code: `${SOFTMAX.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pr: array<f32>;
@group(0) @binding(2) var<storage, read_write> d: array<f32>;
${REDUCE}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let base = (wg.y * p.n + wg.x) * p.n;
  var c = 0.0;
  for (var j = l; j <= wg.x; j += 64u) { c += pr[base + j] * d[base + j]; }
  c = reduce_sum(c, l);
  for (var j = l; j < p.n; j += 64u) { d[base + j] = pr[base + j] * (d[base + j] - c); }
}`,
    params: SOFTMAX.pack({ n: a.n, window: 0, alibi: false }),
    step: false,
    buffers: [prob, d],
    grid: () => [a.n, a.heads, 1],
  };
}

const CROSS = new ParamStruct("Params", { vocab: "u32", weight: "f32", grad: "flag" });

/**
 * Cross-entropy of each row of logits against its label: `loss[t] = logsumexp(z) − z[label]`,
 * and with `grad` the logits overwritten by `(softmax(z) − onehot(label)) · weight`.
 *
 * @param logits `rows × vocab`
 * @param labels `rows` ids (u32)
 * @param loss `rows` losses out
 * @param a shape, the gradient's factor, whether to write it
 * @returns the call
 *
 * @example
 * ```ts
 * import { crossEntropy } from "./rows.ts";
 * const b = { size: 1024 } as GPUBuffer;
 * if (crossEntropy(b, b, b, { rows: 5, vocab: 40, weight: 1, grad: true }).grid(0, 0).join() !== "5,1,1") throw new Error();
 * ```
 */
export function crossEntropy(
  logits: GPUBuffer,
  labels: GPUBuffer,
  loss: GPUBuffer,
  a: { readonly rows: number; readonly vocab: number; readonly weight: number; readonly grad: boolean },
): KernelCall {
  return rowCall(
    "softmax",
    `${CROSS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> z: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
${REDUCE}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let base = wg.x * p.vocab;
  var m = -3.0e38;
  for (var j = l; j < p.vocab; j += 64u) { m = max(m, z[base + j]); }
  m = reduce_max(m, l);
  var sum = 0.0;
  for (var j = l; j < p.vocab; j += 64u) { sum += exp(z[base + j] - m); }
  let lse = m + log(reduce_sum(sum, l));
  let label = labels[wg.x];
  let z_label = z[base + label];
  workgroupBarrier();
  if (l == 0u) { loss[wg.x] = lse - z_label; }
  if (p.grad == 1u) {
    for (var j = l; j < p.vocab; j += 64u) {
      z[base + j] = exp(z[base + j] - lse) * p.weight - select(0.0, p.weight, j == label);
    }
  }
}`,
    CROSS.pack({ vocab: a.vocab, weight: a.weight, grad: a.grad }),
    [logits, labels, loss],
    a.rows,
  );
}

function rowCall(
  role: KernelCall["role"],
  code: string,
  params: ArrayBuffer,
  buffers: GPUBuffer[],
  rows: number,
): KernelCall {
  checkShape(role, rows > 0 && rows <= 65535, `rows ${rows} must be in 1 … 65535`);
  return { role, code, params, step: false, buffers, grid: () => [rows, 1, 1] };
}
