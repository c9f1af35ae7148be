/**
 * Kernel `softmax`: each attention row `s[h, row0 + t, 0 ..= pos0 + t]` becomes probabilities, in
 * place (max subtracted first).
 *
 * Shapes: `s: [heads, batch, context] f32`. Dispatch `(heads, n)`, a workgroup of 64 per row.
 *
 * @module
 */

import { checkElements, type Grid, type KernelCall } from "./kernel.ts";
import { ParamStruct } from "./params.ts";
import { STEP } from "./step.ts";

/**
 * Parameters of `softmax`.
 *
 * @example
 * ```ts
 * import { SOFTMAX_PARAMS } from "./softmax.ts";
 * if (!SOFTMAX_PARAMS.wgsl.includes("context: u32")) throw new Error();
 * ```
 */
export const SOFTMAX_PARAMS: ParamStruct<{ batch: "u32"; context: "u32" }> = new ParamStruct("Params", {
  batch: "u32",
  context: "u32",
});

/**
 * WGSL of the row softmax.
 *
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { softmaxWgsl } from "./softmax.ts";
 * if (!softmaxWgsl().includes("exp(")) throw new Error();
 * ```
 */
export function softmaxWgsl(): string {
  return `${STEP.wgsl}${SOFTMAX_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> s: array<f32>;
var<workgroup> part: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let h = wg.x;
  let t = wg.y;
  let len = step.pos0 + t + 1u;
  let base = (h * p.batch + step.row0 + t) * p.context;
  var m = -3.402823e38;
  for (var j = l; j < len; j += 64u) { m = max(m, s[base + j]); }
  part[l] = m;
  workgroupBarrier();
  for (var k = 32u; k > 0u; k >>= 1u) {
    if (l < k) { part[l] = max(part[l], part[l + k]); }
    workgroupBarrier();
  }
  let mx = part[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var j = l; j < len; j += 64u) { let e = exp(s[base + j] - mx); s[base + j] = e; sum += e; }
  part[l] = sum;
  workgroupBarrier();
  for (var k = 32u; k > 0u; k >>= 1u) {
    if (l < k) { part[l] += part[l + k]; }
    workgroupBarrier();
  }
  let inv = 1.0 / part[0];
  for (var j = l; j < len; j += 64u) { s[base + j] *= inv; }
}`;
}

/**
 * The grid of `softmax`: `(heads, n)`.
 *
 * @param heads query heads
 * @returns the grid
 *
 * @example
 * ```ts
 * import { softmaxGrid } from "./softmax.ts";
 * if (softmaxGrid(4)(3, 9).join() !== "4,3,1") throw new Error();
 * ```
 */
export function softmaxGrid(heads: number): Grid {
  return (n) => [heads, n, 1];
}

/** What `softmax` normalizes. */
export interface SoftmaxArgs {
  /** The scores, in place. */
  readonly s: GPUBuffer;
  /** Query heads. */
  readonly heads: number;
  /** The most tokens in one step. */
  readonly batch: number;
  /** Positions in the cache. */
  readonly context: number;
}

/**
 * The `softmax` kernel, its shapes checked.
 *
 * @param a buffer and shapes
 * @returns the call
 * @throws {RangeError} when the buffer is too small
 *
 * @example
 * ```ts
 * import { softmax } from "./softmax.ts";
 * const call = softmax({ s: { size: 4 * 2 * 16 * 4 } as GPUBuffer, heads: 4, batch: 2, context: 16 });
 * if (call.buffers.length !== 1) throw new Error();
 * ```
 */
export function softmax(a: SoftmaxArgs): KernelCall {
  checkElements("softmax", "s", a.s, a.heads * a.batch * a.context);
  return {
    role: "softmax",
    code: softmaxWgsl(),
    params: SOFTMAX_PARAMS.pack({ batch: a.batch, context: a.context }),
    step: true,
    buffers: [a.s],
    grid: softmaxGrid(a.heads),
  };
}
