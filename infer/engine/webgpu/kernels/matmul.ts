/**
 * Kernel `matmul` (gemv for one token, gemm for a batch): `y[t, row] (+)= W[row] · x[t] (+ b)`.
 *
 * Shapes: `x: [tokens, k] f32`; `w`: one chunk of the matrix, rows `row_start .. row_start +
 * rows` of `[out, k]` (f32, or f16/bf16 packed two per u32; `k` even); `bias: [out] f32`
 * (optional); `y` element `(y_pos ? pos0 : 0) · y_stride + t · y_stride + row`, so K and V
 * projections write straight into the KV cache. `tokens` is the step's `n`, or 1 with
 * `one_token` (logits of the last token). `accumulate` adds to `y` (residual connections).
 *
 * Two strategies, same results:
 * - `cooperative` (GPUs): a workgroup of 64 computes 4 rows for 4 tokens; each thread sums a
 *   strided slice of `k` (adjacent threads read adjacent weights), then the workgroup reduces.
 *   Dispatch `(ceil(rows / 4), ceil(tokens / 4))`.
 * - `rows` (software adapters, where barriers are costly): each invocation computes one row
 *   for up to 4 tokens with no reduction. Dispatch `(ceil(rows / 64), ceil(tokens / 4))`.
 *   With `decode` (the products of decode steps, one token per session: a single session's
 *   step, or a batched step's rows, one per session), each invocation takes its row through
 *   all the tokens, 4 at a time (16-bit and f32 weights: each pair of weights read once for the
 *   4; `q8_0`, `q4_k`, `q6_k` blocks decoded once for the 4, other quantized blocks one token
 *   after another), every token through the same code (the
 *   count a runtime value, absent tokens skipped), so a token's arithmetic is the same whatever
 *   the count. Dispatch `(ceil(rows / 64), 1)`. A single token (a session's own decode step,
 *   the logits of a prefill's last token) skips the tiles' masked lanes, which software
 *   adapters execute anyway: the same sum in the same order (one `dot` of a weight pair added
 *   at a time), a second copy of the code that the batched tests check bit for bit.
 *
 * The cooperative strategy computes each (row, token) with the same arithmetic whatever the
 * token count, so `decode` changes nothing there.
 *
 * @module
 */

import { GGML_TYPE_LAYOUTS, type GgmlTypeName, type QuantType } from "../../../formats/ggml_types.ts";
import { quantBlockDot, quantBlockDotTile } from "./quant_access.ts";
import { checkElements, checkShape, type Grid, type KernelCall } from "./kernel.ts";
import { ParamStruct } from "./params.ts";
import { STEP } from "./step.ts";
import { checkWeights, weightAccess, weightElement } from "./weight_access.ts";

/** How the matmul kernel splits its work. */
export type MatmulStrategy = "cooperative" | "rows";

/** Rows per workgroup (cooperative strategy). */
export const MATMUL_ROWS = 4;
/** Tokens per workgroup. */
export const MATMUL_TOKENS = 4;

/**
 * Parameters of `matmul`.
 *
 * @example
 * ```ts
 * import { MATMUL_PARAMS } from "./matmul.ts";
 * if (MATMUL_PARAMS.size !== 32) throw new Error();
 * ```
 */
export const MATMUL_PARAMS: ParamStruct<{
  k: "u32";
  rows: "u32";
  row_start: "u32";
  y_stride: "u32";
  y_pos: "flag";
  one_token: "flag";
  accumulate: "flag";
  decode: "flag";
}> = new ParamStruct("Params", {
  k: "u32",
  rows: "u32",
  row_start: "u32",
  y_stride: "u32",
  y_pos: "flag",
  one_token: "flag",
  accumulate: "flag",
  decode: "flag",
});

/**
 * WGSL of the matrix product for a weight format, with or without bias.
 *
 * @param dtype the weights' format
 * @param bias whether a bias is bound
 * @param strategy `cooperative` (default) or `rows`
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { matmulWgsl } from "./matmul.ts";
 * if (!matmulWgsl("bf16", true).includes("bias")) throw new Error();
 * if (matmulWgsl("f16", false, "rows").includes("workgroupBarrier")) throw new Error();
 * ```
 */
export function matmulWgsl(dtype: GgmlTypeName, bias: boolean, strategy: MatmulStrategy = "cooperative"): string {
  if (GGML_TYPE_LAYOUTS[dtype].blockSize > 1) return matmulBlocksWgsl(dtype as QuantType, bias, strategy);
  if (strategy === "rows") return matmulRowsWgsl(dtype, bias);
  return `${matmulHead(dtype, bias)}
const R = ${MATMUL_ROWS}u;
var<workgroup> part: array<f32, ${64 * MATMUL_ROWS * MATMUL_TOKENS}>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let tokens = select(step.n, 1u, p.one_token == 1u);
  let r0 = wg.x * R;
  let t0 = wg.y * T;
  var acc: array<f32, ${MATMUL_ROWS * MATMUL_TOKENS}>;
  for (var j = 0u; j < R * T; j++) { acc[j] = 0.0; }
  let half_k = p.k / 2u;
  for (var kp = l; kp < half_k; kp += 64u) {
    var xs: array<vec2<f32>, ${MATMUL_TOKENS}>;
    for (var t = 0u; t < T; t++) {
      let tt = min(t0 + t, tokens - 1u);
      xs[t] = vec2<f32>(x[tt * p.k + 2u * kp], x[tt * p.k + 2u * kp + 1u]);
    }
    for (var r = 0u; r < R; r++) {
      let row = min(r0 + r, p.rows - 1u);
      let wp = w_pair(row * half_k + kp);
      for (var t = 0u; t < T; t++) { acc[r * T + t] += dot(wp, xs[t]); }
    }
  }
${cooperativeTail()}
}`;
}

/**
 * The start of a product of f32 activations: parameters, bindings (`x`, `w`, `y`, and `bias`
 * when bound), the weights' access functions (`w_at`, `w_pair`; `block_dot` for quantized
 * ones) and `store`.
 *
 * @param dtype the weights' format
 * @param bias whether a bias is bound
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { matmulBindingsWgsl } from "./matmul.ts";
 * const head = matmulBindingsWgsl("q4_k", true);
 * if (!head.includes("fn store(") || !head.includes("fn w_pair(") || !head.includes("bias")) throw new Error();
 * ```
 */
export function matmulBindingsWgsl(dtype: GgmlTypeName, bias: boolean): string {
  const quantized = GGML_TYPE_LAYOUTS[dtype].blockSize > 1;
  return `${STEP.wgsl}${MATMUL_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<${weightElement(dtype)}>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${bias ? "@group(0) @binding(5) var<storage, read> bias: array<f32>;" : ""}
${weightAccess(dtype)}
${quantized ? quantBlockDot(dtype as QuantType) : ""}
${matmulStoreWgsl(bias)}`;
}

/** {@linkcode matmulBindingsWgsl} and the token count `T` of a workgroup. */
function matmulHead(dtype: GgmlTypeName, bias: boolean): string {
  return `${matmulBindingsWgsl(dtype, bias)}
const T = ${MATMUL_TOKENS}u;`;
}

/**
 * WGSL function `store(r, t, value)` of the matrix products: row `r` of the chunk for token `t`
 * (`+ bias`; at position `pos0 + t` with `y_pos`; `+=` with `accumulate`). Expects `p: Params`
 * (`MATMUL_PARAMS`), `step`, `y` and, with a bias, `bias`.
 *
 * @param bias whether a bias is bound
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { matmulStoreWgsl } from "./matmul.ts";
 * if (!matmulStoreWgsl(true).includes("bias[row]")) throw new Error();
 * ```
 */
export function matmulStoreWgsl(bias: boolean): string {
  return `fn store(r: u32, t: u32, value: f32) {
  let row = p.row_start + r;
  var v = value;
  ${bias ? "v += bias[row];" : ""}
  let at = (select(0u, step.pos0, p.y_pos == 1u) + t) * p.y_stride + row;
  if (p.accumulate == 1u) { y[at] += v; } else { y[at] = v; }
}`;
}

/**
 * The end of a cooperative product: the workgroup's 64 partial sums of each (row, token) added
 * up, and thread `r · T + t` storing its row for its token.
 */
function cooperativeTail(): string {
  return `  for (var j = 0u; j < R * T; j++) { part[l * R * T + j] = acc[j]; }
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (l < s) {
      for (var j = 0u; j < R * T; j++) { part[l * R * T + j] += part[(l + s) * R * T + j]; }
    }
    workgroupBarrier();
  }
  if (l < R * T) {
    let r = l / T;
    let t = l % T;
    if (r0 + r < p.rows && t0 + t < tokens) { store(r0 + r, t0 + t, part[l]); }
  }`;
}

/** Workgroup size of the `rows` strategy (rows per workgroup). */
export const MATMUL_ROWS_PER_GROUP = 64;

function matmulRowsWgsl(dtype: GgmlTypeName, bias: boolean): string {
  return `${matmulHead(dtype, bias)}
@compute @workgroup_size(${MATMUL_ROWS_PER_GROUP})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let r = g.x;
  if (r >= p.rows) { return; }
  let tokens = select(step.n, 1u, p.one_token == 1u);
  let half_k = p.k / 2u;
  let base = r * half_k;
  if (tokens == 1u) {
    // The tiles' arithmetic for one token, without their masked lanes (llvmpipe runs them).
    var one = 0.0;
    for (var kp = 0u; kp < half_k; kp++) { one += dot(w_pair(base + kp), vec2<f32>(x[2u * kp], x[2u * kp + 1u])); }
    store(r, 0u, one);
    return;
  }
  if (p.decode == 1u) {
    for (var t0 = 0u; t0 < tokens; t0 += T) {
      var acc = array<f32, ${MATMUL_TOKENS}>();
      let nt = min(T, tokens - t0);
      for (var kp = 0u; kp < half_k; kp++) {
        let wp = w_pair(base + kp);
        for (var j = 0u; j < T; j++) {
          if (j < nt) {
            let xb = (t0 + j) * p.k;
            acc[j] += dot(wp, vec2<f32>(x[xb + 2u * kp], x[xb + 2u * kp + 1u]));
          }
        }
      }
      for (var j = 0u; j < T; j++) { if (j < nt) { store(r, t0 + j, acc[j]); } }
    }
    return;
  }
  let t0 = g.y * T;
  var acc: array<f32, ${MATMUL_TOKENS}>;
  for (var t = 0u; t < T; t++) { acc[t] = 0.0; }
  for (var kp = 0u; kp < half_k; kp++) {
    let wp = w_pair(base + kp);
    for (var t = 0u; t < T; t++) {
      let tt = min(t0 + t, tokens - 1u);
      acc[t] += dot(wp, vec2<f32>(x[tt * p.k + 2u * kp], x[tt * p.k + 2u * kp + 1u]));
    }
  }
  for (var t = 0u; t < T; t++) { if (t0 + t < tokens) { store(r, t0 + t, acc[t]); } }
}`;
}

/**
 * The product for quantized weights, block by block (each block's scales read once): the same
 * two strategies and dispatch grids, threads striding over blocks rather than pairs.
 */
function matmulBlocksWgsl(dtype: QuantType, bias: boolean, strategy: MatmulStrategy): string {
  const head = `${matmulHead(dtype, bias)}
const BS = ${GGML_TYPE_LAYOUTS[dtype].blockSize}u;`;
  if (strategy === "rows") {
    const tile = quantBlockDotTile(dtype);
    return `${head}${tile ?? ""}
const TILED = ${tile !== undefined};
@compute @workgroup_size(${MATMUL_ROWS_PER_GROUP})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let r = g.x;
  if (r >= p.rows) { return; }
  let tokens = select(step.n, 1u, p.one_token == 1u);
  let nb = p.k / BS;
  if (tokens == 1u || (p.decode == 1u && !TILED)) {
    for (var t = 0u; t < tokens; t++) {
      var one = 0.0;
      for (var bi = 0u; bi < nb; bi++) { one += block_dot(r * nb + bi, t * p.k + bi * BS); }
      store(r, t, one);
    }
    return;
  }${
      tile
        ? `
  if (p.decode == 1u) {
    for (var t0 = 0u; t0 < tokens; t0 += T) {
      let nt = min(T, tokens - t0);
      var acc = array<f32, ${MATMUL_TOKENS}>();
      for (var bi = 0u; bi < nb; bi++) {
        let d = block_dot_tile(r * nb + bi, t0 * p.k + bi * BS, nt);
        for (var j = 0u; j < T; j++) { if (j < nt) { acc[j] += d[j]; } }
      }
      for (var j = 0u; j < T; j++) { if (j < nt) { store(r, t0 + j, acc[j]); } }
    }
    return;
  }`
        : ""
    }
  let t0 = g.y * T;
  var acc: array<f32, ${MATMUL_TOKENS}>;
  for (var t = 0u; t < T; t++) { acc[t] = 0.0; }
  for (var bi = 0u; bi < nb; bi++) {
    for (var t = 0u; t < T; t++) {
      if (t0 + t < tokens) { acc[t] += block_dot(r * nb + bi, (t0 + t) * p.k + bi * BS); }
    }
  }
  for (var t = 0u; t < T; t++) { if (t0 + t < tokens) { store(r, t0 + t, acc[t]); } }
}`;
  }
  return `${head}
const R = ${MATMUL_ROWS}u;
var<workgroup> part: array<f32, ${64 * MATMUL_ROWS * MATMUL_TOKENS}>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let tokens = select(step.n, 1u, p.one_token == 1u);
  let r0 = wg.x * R;
  let t0 = wg.y * T;
  let nb = p.k / BS;
  var acc: array<f32, ${MATMUL_ROWS * MATMUL_TOKENS}>;
  for (var j = 0u; j < R * T; j++) { acc[j] = 0.0; }
  for (var bi = l; bi < nb; bi += 64u) {
    for (var r = 0u; r < R; r++) {
      let row = min(r0 + r, p.rows - 1u);
      for (var t = 0u; t < T; t++) {
        if (t0 + t < tokens) { acc[r * T + t] += block_dot(row * nb + bi, (t0 + t) * p.k + bi * BS); }
      }
    }
  }
${cooperativeTail()}
}`;
}

/**
 * The grid of `matmul` over one chunk: `(ceil(rows / 4), ceil(tokens / 4))` cooperative, or
 * `(ceil(rows / 64), ceil(tokens / 4))` by rows; one token row with `oneToken`, or by rows
 * with `decode` (each invocation loops over the tokens).
 *
 * @param rows rows in the chunk
 * @param oneToken whether only the last token is computed
 * @param strategy the matmul strategy
 * @param decode whether this is a decode step's product (default false)
 * @returns the grid
 *
 * @example
 * ```ts
 * import { matmulGrid } from "./matmul.ts";
 * if (matmulGrid(100, false, "cooperative")(9, 9).join() !== "25,3,1") throw new Error();
 * if (matmulGrid(100, true, "rows")(9, 9).join() !== "2,1,1") throw new Error();
 * if (matmulGrid(100, false, "rows", true)(9, 9).join() !== "2,1,1") throw new Error();
 * ```
 */
export function matmulGrid(rows: number, oneToken: boolean, strategy: MatmulStrategy, decode = false): Grid {
  const perGroup = strategy === "rows" ? MATMUL_ROWS_PER_GROUP : MATMUL_ROWS;
  const once = oneToken || (decode && strategy === "rows");
  return (n) => [Math.ceil(rows / perGroup), once ? 1 : Math.ceil(n / MATMUL_TOKENS), 1];
}

/** What `matmul` reads and writes, for one chunk of the weight matrix. */
export interface MatmulArgs {
  /** The chunk of weights: `rows` rows of `k` values. */
  readonly w: GPUBuffer;
  /** Their format. */
  readonly dtype: GgmlTypeName;
  /** The input width (even). */
  readonly k: number;
  /** The chunk's first row. */
  readonly rowStart: number;
  /** Rows in the chunk. */
  readonly rows: number;
  /** Input rows, one per token. */
  readonly x: GPUBuffer;
  /** Rows `x` holds (the most tokens in one step). */
  readonly xRows: number;
  /** The output. */
  readonly y: GPUBuffer;
  /** Rows `y` holds: the batch, or the context when `yPos`. */
  readonly yRows: number;
  /** Elements per output row. */
  readonly yStride: number;
  /** The bias of the whole matrix, if any. */
  readonly bias?: GPUBuffer;
  /** Write at row `pos0 + t` (into the KV cache) rather than `t`. */
  readonly yPos?: boolean;
  /** Only the last token (the logits). */
  readonly oneToken?: boolean;
  /** Add to `y` (residual connections). */
  readonly accumulate?: boolean;
  /** How the work is split. */
  readonly strategy: MatmulStrategy;
  /**
   * A decode step's product (one token per session): with `rows`, each invocation loops over
   * the tokens, so each token's arithmetic is that of a one-token step (batched decode steps
   * give each session the bits of its own step).
   */
  readonly decode?: boolean;
}

/**
 * The `matmul` kernel for one chunk, its shapes checked.
 *
 * @param a buffers and shapes
 * @returns the call
 * @throws {RangeError} on an odd `k`, rows past the output row, too many rows for one grid, or a buffer too small
 *
 * @example
 * ```ts
 * import { matmul } from "./matmul.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const call = matmul({ w: buf(8 * 16 * 2), dtype: "f16", k: 16, rowStart: 0, rows: 8, x: buf(2 * 16 * 4), xRows: 2,
 *   y: buf(2 * 8 * 4), yRows: 2, yStride: 8, strategy: "rows" });
 * if (call.buffers.length !== 3) throw new Error();
 * ```
 */
export function matmul(a: MatmulArgs): KernelCall {
  checkShape("matmul", a.k > 0 && a.k % 2 === 0, `k must be even, got ${a.k}`);
  checkElements("matmul", "x", a.x, (a.oneToken ? 1 : a.xRows) * a.k);
  return {
    role: "matmul",
    code: matmulWgsl(a.dtype, a.bias !== undefined, a.strategy),
    params: matmulParams("matmul", a),
    step: true,
    buffers: a.bias ? [a.x, a.w, a.y, a.bias] : [a.x, a.w, a.y],
    grid: matmulGrid(a.rows, a.oneToken === true, a.strategy, a.decode === true),
  };
}

/** What every matrix-product kernel writes: its weights' chunk and its output (a part of {@linkcode MatmulArgs}). */
export type MatmulOutput = Pick<
  MatmulArgs,
  | "w"
  | "dtype"
  | "k"
  | "rowStart"
  | "rows"
  | "y"
  | "yRows"
  | "yStride"
  | "bias"
  | "yPos"
  | "oneToken"
  | "accumulate"
  | "strategy"
  | "decode"
>;

/**
 * The checks and the parameter uniform every matrix-product kernel shares (`matmul`,
 * `matmul_i8`): the chunk's rows fit one grid and the output row, the weights and the output
 * buffers are large enough.
 *
 * @param kernel the kernel's name (for messages)
 * @param a the chunk and its output
 * @returns the packed `MATMUL_PARAMS`
 * @throws {RangeError} for rows past the output row, too many rows for one grid, or a buffer too small
 *
 * @example
 * ```ts
 * import { matmulParams } from "./matmul.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const params = matmulParams("matmul", { w: buf(4 * 32 * 4), dtype: "f32", k: 32, rowStart: 0, rows: 4, y: buf(16),
 *   yRows: 1, yStride: 4, strategy: "rows" });
 * if (params.byteLength !== 32) throw new Error();
 * ```
 */
export function matmulParams(kernel: string, a: MatmulOutput): ArrayBuffer {
  const perGroup = a.strategy === "rows" ? MATMUL_ROWS_PER_GROUP : MATMUL_ROWS;
  checkShape(kernel, a.rows > 0 && Math.ceil(a.rows / perGroup) <= 65535, `${a.rows} rows do not fit one grid`);
  checkShape(kernel, a.rowStart + a.rows <= a.yStride, "rows must fit in an output row");
  checkWeights(kernel, a.w, a.dtype, a.rows, a.k);
  checkElements(kernel, "y", a.y, (a.oneToken ? 1 : a.yRows) * a.yStride);
  if (a.bias) checkElements(kernel, "bias", a.bias, a.rowStart + a.rows);
  return MATMUL_PARAMS.pack({
    k: a.k,
    rows: a.rows,
    row_start: a.rowStart,
    y_stride: a.yStride,
    y_pos: a.yPos === true,
    one_token: a.oneToken === true,
    accumulate: a.accumulate === true,
    decode: a.decode === true,
  });
}
