/**
 * Kernel `rmsnorm`: `y[r] = x[r] / √(mean(x[r]²) + eps) ⊙ weight`.
 *
 * Shapes: `x: [n, dim] f32`, `weight: [dim] f32`, `y: [n, dim] f32`. With `last_only`, only
 * row `n - 1` is normalized, into row 0 of `y` (the logits need the last token only).
 * Dispatch `(n)` or `(1)`, one workgroup of 64 per row.
 *
 * @module
 */

import { STEP_STRUCT } from "./weight_access.wgsl.ts";

/**
 * WGSL of RMSNorm.
 *
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { rmsnormWgsl } from "./rmsnorm.wgsl.ts";
 * if (!rmsnormWgsl().includes("inverseSqrt")) throw new Error();
 * ```
 */
export function rmsnormWgsl(): string {
  return `${STEP_STRUCT}
struct Params { dim: u32, last_only: u32, eps: f32, _pad: u32 };
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
