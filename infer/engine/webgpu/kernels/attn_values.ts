/**
 * Kernel `attn_values`: `o[r, h] = Σ_{j ≤ pos0 + t} s[h, r, j] · v[j, h / group]`, `r = row0 + t`.
 *
 * Shapes: `s: [heads, batch, context] f32` (probabilities); `v: [context, kv_heads, d]` f32 or f16
 * (the layer's value cache); `o: [n, heads, d] f32`. Dispatch `(heads, n)`, 64 threads
 * striding over `d`.
 *
 * @module
 */

import { checkElements, checkShape, type Grid, type KernelCall } from "./kernel.ts";
import { ParamStruct } from "./params.ts";
import { STEP } from "./step.ts";
import { checkKv, kvAccess, type KvFormat } from "./kv_store.ts";

/**
 * Parameters of `attn_values`.
 *
 * @example
 * ```ts
 * import { ATTN_VALUES_PARAMS } from "./attn_values.ts";
 * if (ATTN_VALUES_PARAMS.size !== 32) throw new Error();
 * ```
 */
export const ATTN_VALUES_PARAMS: ParamStruct<{
  heads: "u32";
  kv_heads: "u32";
  head_dim: "u32";
  batch: "u32";
  context: "u32";
}> = new ParamStruct("Params", { heads: "u32", kv_heads: "u32", head_dim: "u32", batch: "u32", context: "u32" });

/**
 * WGSL of the attention-weighted sum of values.
 *
 * @param kv the value cache's format (default f32)
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { attnValuesWgsl } from "./attn_values.ts";
 * if (!attnValuesWgsl().includes("@workgroup_size(64)")) throw new Error();
 * ```
 */
export function attnValuesWgsl(kv: KvFormat = "f32"): string {
  const v = kvAccess("v", kv);
  return `${STEP.wgsl}${ATTN_VALUES_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> s: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<${v.element}>;
@group(0) @binding(4) var<storage, read_write> o: array<f32>;${v.wgsl}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let h = wg.x;
  let t = wg.y;
  let len = step.pos0 + t + 1u;
  let kvh = h / (p.heads / p.kv_heads);
  let sb = (h * p.batch + step.row0 + t) * p.context;
  for (var i = l; i < p.head_dim; i += 64u) {
    var acc = 0.0;
    for (var j = 0u; j < len; j++) { acc += s[sb + j] * v_at((j * p.kv_heads + kvh) * p.head_dim + i); }
    o[((step.row0 + t) * p.heads + h) * p.head_dim + i] = acc;
  }
}`;
}

/**
 * The grid of `attn_values`: `(heads, n)`.
 *
 * @param heads query heads
 * @returns the grid
 *
 * @example
 * ```ts
 * import { attnValuesGrid } from "./attn_values.ts";
 * if (attnValuesGrid(4)(3, 9).join() !== "4,3,1") throw new Error();
 * ```
 */
export function attnValuesGrid(heads: number): Grid {
  return (n) => [heads, n, 1];
}

/** What `attn_values` reads and writes. */
export interface AttnValuesArgs {
  /** The probabilities. */
  readonly s: GPUBuffer;
  /** The layer's value cache. */
  readonly v: GPUBuffer;
  /** The output, one row per token. */
  readonly o: GPUBuffer;
  /** Query heads. */
  readonly heads: number;
  /** Key and value heads (dividing `heads`). */
  readonly kvHeads: number;
  /** Head width. */
  readonly headDim: number;
  /** The most tokens in one step. */
  readonly batch: number;
  /** Positions in the cache. */
  readonly context: number;
  /** The value cache's format (default f32). */
  readonly kv?: KvFormat;
}

/**
 * The `attn_values` kernel, its shapes checked.
 *
 * @param a buffers and shapes
 * @returns the call
 * @throws {RangeError} when `kvHeads` does not divide `heads` or a buffer is too small
 *
 * @example
 * ```ts
 * import { attnValues } from "./attn_values.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const call = attnValues({ s: buf(4 * 2 * 16 * 4), v: buf(16 * 16 * 4), o: buf(2 * 32 * 4),
 *   heads: 4, kvHeads: 2, headDim: 8, batch: 2, context: 16 });
 * if (call.role !== "attn_values") throw new Error();
 * ```
 */
export function attnValues(a: AttnValuesArgs): KernelCall {
  checkShape("attn_values", a.kvHeads > 0 && a.heads % a.kvHeads === 0, "kv_heads must divide heads");
  checkElements("attn_values", "s", a.s, a.heads * a.batch * a.context);
  checkKv("attn_values", "v", a.v, a.kv ?? "f32", a.context * a.kvHeads * a.headDim);
  checkElements("attn_values", "o", a.o, a.batch * a.heads * a.headDim);
  return {
    role: "attn_values",
    code: attnValuesWgsl(a.kv),
    params: ATTN_VALUES_PARAMS.pack({
      heads: a.heads,
      kv_heads: a.kvHeads,
      head_dim: a.headDim,
      batch: a.batch,
      context: a.context,
    }),
    step: true,
    buffers: [a.s, a.v, a.o],
    grid: attnValuesGrid(a.heads),
  };
}
