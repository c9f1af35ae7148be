/**
 * Kernel `rmsnorm`: `y[r] = x[r] / √(mean(x[r]²) + eps) ⊙ weight`.
 *
 * Shapes: `x: [n, dim] f32`, `weight: [dim] f32`, `y: [n, dim] f32`. With `last_only`, only
 * row `n - 1` is normalized, into row 0 of `y` (the logits need the last token only).
 * Dispatch `(n)` or `(1)`, one workgroup of 64 per row.
 *
 * @module
 */

import { checkElements, checkShape, type Grid, type KernelCall } from "./kernel.ts";
import { ParamStruct } from "./params.ts";
import { STEP } from "./step.ts";

/**
 * Parameters of `rmsnorm`.
 *
 * @example
 * ```ts
 * import { RMSNORM_PARAMS } from "./rmsnorm.ts";
 * if (!RMSNORM_PARAMS.wgsl.includes("eps: f32")) throw new Error();
 * ```
 */
export const RMSNORM_PARAMS: ParamStruct<{ dim: "u32"; last_only: "flag"; eps: "f32" }> = new ParamStruct(
  "Params",
  { dim: "u32", last_only: "flag", eps: "f32" },
);

/**
 * WGSL of RMSNorm.
 *
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { rmsnormWgsl } from "./rmsnorm.ts";
 * if (!rmsnormWgsl().includes("inverseSqrt")) throw new Error();
 * ```
 */
export function rmsnormWgsl(): string {
  return `${STEP.wgsl}${RMSNORM_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
var<workgroup> part: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let src = select(wg.x, step.last, p.last_only == 1u);
  let dst = select(wg.x, 0u, p.last_only == 1u);
  var ss = 0.0;
  for (var i = l; i < p.dim; i += 64u) { let v = x[src * p.dim + i]; ss += v * v; }
  part[l] = ss;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (l < s) { part[l] += part[l + s]; }
    workgroupBarrier();
  }
  let scale = inverseSqrt(part[0] / f32(p.dim) + p.eps);
  for (var i = l; i < p.dim; i += 64u) { y[dst * p.dim + i] = x[src * p.dim + i] * scale * weight[i]; }
}`;
}

/**
 * The grid of `rmsnorm`: `(n)`, or `(1)` for the last row only.
 *
 * @param lastOnly whether only the last row is normalized
 * @returns the grid
 *
 * @example
 * ```ts
 * import { rmsnormGrid } from "./rmsnorm.ts";
 * if (rmsnormGrid(true)(5, 5).join() !== "1,1,1") throw new Error();
 * ```
 */
export function rmsnormGrid(lastOnly: boolean): Grid {
  return lastOnly ? () => [1, 1, 1] : (n) => [n, 1, 1];
}

/** What `rmsnorm` reads and writes. */
export interface RmsnormArgs {
  /** Input rows. */
  readonly x: GPUBuffer;
  /** The norm's weight. */
  readonly weight: GPUBuffer;
  /** Output rows. */
  readonly y: GPUBuffer;
  /** Row width. */
  readonly dim: number;
  /** Added to the mean square. */
  readonly eps: number;
  /** Normalize only the last row, into row 0. */
  readonly lastOnly?: boolean;
  /** The most tokens in one step. */
  readonly tokens: number;
}

/**
 * The `rmsnorm` kernel, its shapes checked.
 *
 * @param a buffers and shapes
 * @returns the call
 * @throws {RangeError} when a buffer is too small
 *
 * @example
 * ```ts
 * import { rmsnorm } from "./rmsnorm.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const call = rmsnorm({ x: buf(64), weight: buf(32), y: buf(64), dim: 8, eps: 1e-5, tokens: 2 });
 * if (call.role !== "rmsnorm") throw new Error();
 * ```
 */
export function rmsnorm(a: RmsnormArgs): KernelCall {
  const lastOnly = a.lastOnly === true;
  checkShape("rmsnorm", a.dim > 0, "dim must be positive");
  checkElements("rmsnorm", "x", a.x, a.tokens * a.dim);
  checkElements("rmsnorm", "weight", a.weight, a.dim);
  checkElements("rmsnorm", "y", a.y, (lastOnly ? 1 : a.tokens) * a.dim);
  return {
    role: "rmsnorm",
    code: rmsnormWgsl(),
    params: RMSNORM_PARAMS.pack({ dim: a.dim, last_only: lastOnly, eps: a.eps }),
    step: true,
    buffers: [a.x, a.weight, a.y],
    grid: rmsnormGrid(lastOnly),
  };
}
