/**
 * The 8-bit activation path for `q8_0` and `q4_0` weights, for adapters with WGSL's
 * `packed_4x8_integer_dot_product` (llama.cpp's WebGPU backend multiplies these formats so):
 *
 * - Kernel `quantize_x`: each block of 32 activations of each token gets a scale `dx`, the
 *   power of two that puts its largest magnitude in `[64, 128)` (made from the exponent bits,
 *   exactly), and integers `round(x / dx)` (ties to even, at most 127), packed four per `u32`
 *   (`pack4xI8`), with the integers' sum. Shapes: `x: [n, k] f32` → `xq: [n, k/4] u32`,
 *   `xd: [n, k/32, 2] f32` (scale, sum). Dispatch `(ceil(k / 32 / 64), n)`.
 * - Kernel `matmul_i8`: `y[t, row] (+)= Σ_blocks dw · dx · Σ qw·qx (+ b)`, four products at a
 *   time with `dot4I8Packed`; `q4_0` stores `qw + 8`, so its sum is `Σ (qw + 8)·qx − 8·Σ qx`.
 *   The same outputs, parameters and grid as `matmul`'s `rows` strategy.
 *
 * The CPU engine's `int8Dot` computes the same scheme (`formats/int8_dot.ts`), to check it.
 *
 * @module
 */

import { checkElements, checkShape, type KernelCall } from "./kernel.ts";
import { ParamStruct } from "./params.ts";
import { STEP } from "./step.ts";
import {
  MATMUL_PARAMS,
  MATMUL_ROWS_PER_GROUP,
  MATMUL_TOKENS,
  matmulGrid,
  matmulParams,
  matmulStoreWgsl,
} from "./matmul.ts";

/** The weight formats the 8-bit path multiplies. */
export type Int8Format = "q8_0" | "q4_0";

/**
 * Parameters of `quantize_x`.
 *
 * @example
 * ```ts
 * import { QUANTIZE_X_PARAMS } from "./int8_dot.ts";
 * if (QUANTIZE_X_PARAMS.size !== 16) throw new Error();
 * ```
 */
export const QUANTIZE_X_PARAMS: ParamStruct<{ k: "u32" }> = new ParamStruct("Params", { k: "u32" });

/**
 * WGSL of `quantize_x`.
 *
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { quantizeXWgsl } from "./int8_dot.ts";
 * if (!quantizeXWgsl().includes("pack4xI8")) throw new Error();
 * ```
 */
export function quantizeXWgsl(): string {
  return `${STEP.wgsl}${QUANTIZE_X_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> xq: array<u32>;
@group(0) @binding(4) var<storage, read_write> xd: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let blk = g.x;
  let t = g.y;
  let nb = p.k / 32u;
  if (blk >= nb || t >= step.n) { return; }
  let base = t * p.k + 32u * blk;
  var amax = 0.0;
  for (var j = 0u; j < 32u; j++) { amax = max(amax, abs(x[base + j])); }
  // dx = 2^(e - 6) for amax in [2^e, 2^(e+1)), and 1 / dx, built from the exponent (exact).
  let e = (bitcast<u32>(amax) >> 23u) & 0xffu;
  let small = e < 7u;
  let d = select(bitcast<f32>((e - 6u) << 23u), 0.0, small);
  let id = select(bitcast<f32>((260u - e) << 23u), 0.0, small);
  var sum = 0i;
  for (var i = 0u; i < 8u; i++) {
    var q: vec4<i32>;
    for (var j = 0u; j < 4u; j++) { q[j] = clamp(i32(round(x[base + 4u * i + j] * id)), -127, 127); }
    sum += q.x + q.y + q.z + q.w;
    xq[base / 4u + i] = pack4xI8(q);
  }
  xd[2u * (t * nb + blk)] = d;
  xd[2u * (t * nb + blk) + 1u] = f32(sum);
}`;
}

/** What `quantize_x` reads and writes. */
export interface QuantizeXArgs {
  /** The activations, `[tokens, k]`. */
  readonly x: GPUBuffer;
  /** Their width (a multiple of 32). */
  readonly k: number;
  /** The most tokens in one step. */
  readonly tokens: number;
  /** The packed integers, `[tokens, k / 4]`. */
  readonly xq: GPUBuffer;
  /** Scales and sums, `[tokens, k / 32, 2]`. */
  readonly xd: GPUBuffer;
}

/**
 * The `quantize_x` kernel, its shapes checked.
 *
 * @param a buffers and shapes
 * @returns the call
 * @throws {RangeError} when `k` is not a multiple of 32 or a buffer is too small
 *
 * @example
 * ```ts
 * import { quantizeX } from "./int8_dot.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const call = quantizeX({ x: buf(2 * 64 * 4), k: 64, tokens: 2, xq: buf(2 * 16 * 4), xd: buf(2 * 2 * 2 * 4) });
 * if (call.role !== "quantize_x") throw new Error();
 * ```
 */
export function quantizeX(a: QuantizeXArgs): KernelCall {
  checkShape("quantize_x", a.k % 32 === 0, `k must be a multiple of 32, got ${a.k}`);
  checkElements("quantize_x", "x", a.x, a.tokens * a.k);
  checkElements("quantize_x", "xq", a.xq, a.tokens * a.k / 4);
  checkElements("quantize_x", "xd", a.xd, a.tokens * a.k / 16);
  const blocks = a.k / 32;
  return {
    role: "quantize_x",
    code: quantizeXWgsl(),
    params: QUANTIZE_X_PARAMS.pack({ k: a.k }),
    step: true,
    buffers: [a.x, a.xq, a.xd],
    grid: (n) => [Math.ceil(blocks / 64), n, 1],
  };
}

/** `block_dot_i8(blk, xb)`: block `blk` of the weights times activation block `xb`. */
const BLOCK: Readonly<Record<Int8Format, string>> = {
  q8_0: `
fn block_dot_i8(blk: u32, xb: u32) -> f32 {
  let b = blk * 34u;
  var s = 0i;
  for (var i = 0u; i < 8u; i++) { s += dot4I8Packed(word_at(b + 2u + 4u * i), xq[8u * xb + i]); }
  return half_at(b) * xd[2u * xb] * f32(s);
}`,
  q4_0: `
fn block_dot_i8(blk: u32, xb: u32) -> f32 {
  let b = blk * 18u;
  var s = 0i;
  for (var i = 0u; i < 4u; i++) {
    let q = word_at(b + 2u + 4u * i);
    s += dot4I8Packed(q & 0x0f0f0f0fu, xq[8u * xb + i]) + dot4I8Packed((q >> 4u) & 0x0f0f0f0fu, xq[8u * xb + 4u + i]);
  }
  return half_at(b) * xd[2u * xb] * (f32(s) - 8.0 * xd[2u * xb + 1u]);
}`,
};

/**
 * WGSL of `matmul_i8` (one invocation per row, up to four tokens, as `matmul`'s `rows`
 * strategy).
 *
 * @param format the weights' format
 * @param bias whether a bias is bound
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { matmulI8Wgsl } from "./int8_dot.ts";
 * if (!matmulI8Wgsl("q4_0", false).includes("dot4I8Packed")) throw new Error();
 * ```
 */
export function matmulI8Wgsl(format: Int8Format, bias: boolean): string {
  return `${STEP.wgsl}${MATMUL_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> xq: array<u32>;
@group(0) @binding(3) var<storage, read> w: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> xd: array<f32>;
${bias ? "@group(0) @binding(6) var<storage, read> bias: array<f32>;" : ""}
fn half_at(o: u32) -> f32 { return unpack2x16float(w[o >> 2u] >> ((o & 2u) * 8u)).x; }
// Four bytes from an even offset: one word, or the halves of two.
fn word_at(o: u32) -> u32 {
  let i = o >> 2u;
  if ((o & 2u) == 0u) { return w[i]; }
  return (w[i] >> 16u) | (w[i + 1u] << 16u);
}
${BLOCK[format]}
const T = ${MATMUL_TOKENS}u;
${matmulStoreWgsl(bias)}
@compute @workgroup_size(${MATMUL_ROWS_PER_GROUP})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let r = g.x;
  if (r >= p.rows) { return; }
  let tokens = select(step.n, 1u, p.one_token == 1u);
  let nb = p.k / 32u;
  let t0 = g.y * T;
  for (var t = t0; t < min(t0 + T, tokens); t++) {
    var acc = 0.0;
    for (var bi = 0u; bi < nb; bi++) { acc += block_dot_i8(r * nb + bi, t * nb + bi); }
    store(r, t, acc);
  }
}`;
}

/** What `matmul_i8` reads and writes, for one chunk of the weight matrix. */
export interface MatmulI8Args {
  /** The chunk of weights. */
  readonly w: GPUBuffer;
  /** Their format. */
  readonly dtype: Int8Format;
  /** The input width (a multiple of 32). */
  readonly k: number;
  /** The chunk's first row. */
  readonly rowStart: number;
  /** Rows in the chunk. */
  readonly rows: number;
  /** The activations' integers (`quantize_x`). */
  readonly xq: GPUBuffer;
  /** Their scales and sums. */
  readonly xd: GPUBuffer;
  /** Rows of activations (the most tokens in one step). */
  readonly xRows: number;
  /** The output. */
  readonly y: GPUBuffer;
  /** Rows `y` holds. */
  readonly yRows: number;
  /** Elements per output row. */
  readonly yStride: number;
  /** The bias of the whole matrix, if any. */
  readonly bias?: GPUBuffer;
  /** Write at row `pos0 + t`. */
  readonly yPos?: boolean;
  /** Only the last token. */
  readonly oneToken?: boolean;
  /** Add to `y`. */
  readonly accumulate?: boolean;
}

/**
 * The `matmul_i8` kernel for one chunk, its shapes checked.
 *
 * @param a buffers and shapes
 * @returns the call
 * @throws {RangeError} on a width not a multiple of 32, rows past the output row, or a buffer too small
 *
 * @example
 * ```ts
 * import { matmulI8 } from "./int8_dot.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const call = matmulI8({ w: buf(8 * 34), dtype: "q8_0", k: 32, rowStart: 0, rows: 8, xq: buf(2 * 8 * 4),
 *   xd: buf(2 * 2 * 4), xRows: 2, y: buf(2 * 8 * 4), yRows: 2, yStride: 8 });
 * if (call.buffers.length !== 4) throw new Error();
 * ```
 */
export function matmulI8(a: MatmulI8Args): KernelCall {
  checkShape("matmul_i8", a.k > 0 && a.k % 32 === 0, `k must be a multiple of 32, got ${a.k}`);
  checkElements("matmul_i8", "xq", a.xq, (a.oneToken ? 1 : a.xRows) * a.k / 4);
  checkElements("matmul_i8", "xd", a.xd, (a.oneToken ? 1 : a.xRows) * a.k / 16);
  return {
    role: "matmul",
    code: matmulI8Wgsl(a.dtype, a.bias !== undefined),
    params: matmulParams("matmul_i8", { ...a, strategy: "rows" }),
    step: true,
    buffers: a.bias ? [a.xq, a.w, a.y, a.xd, a.bias] : [a.xq, a.w, a.y, a.xd],
    grid: matmulGrid(a.rows, a.oneToken === true, "rows"),
  };
}

/**
 * Whether WGSL here has `dot4I8Packed` and `pack4xI8` (the `packed_4x8_integer_dot_product`
 * language feature), which the 8-bit path needs.
 *
 * @returns true when it does
 *
 * @example
 * ```ts
 * import { int8DotAvailable } from "./int8_dot.ts";
 * const here: boolean = int8DotAvailable();
 * ```
 */
export function int8DotAvailable(): boolean {
  const features = (navigator.gpu as { wgslLanguageFeatures?: ReadonlySet<string> } | undefined)?.wgslLanguageFeatures;
  return features?.has("packed_4x8_integer_dot_product") === true;
}
