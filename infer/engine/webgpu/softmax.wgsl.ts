/**
 * Kernel `softmax`: each attention row `s[h, t, 0 ..= pos0 + t]` becomes probabilities, in
 * place (max subtracted first).
 *
 * Shapes: `s: [heads, batch, context] f32`. Dispatch `(heads, n)`, a workgroup of 64 per row.
 *
 * @module
 */

import { STEP_STRUCT } from "./weight_access.wgsl.ts";

/**
 * WGSL of the row softmax.
 *
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { softmaxWgsl } from "./softmax.wgsl.ts";
 * if (!softmaxWgsl().includes("exp(")) throw new Error();
 * ```
 */
export function softmaxWgsl(): string {
  return `${STEP_STRUCT}
struct Params { batch: u32, context: u32, _a: u32, _b: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> s: array<f32>;
var<workgroup> part: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let h = wg.x;
  let t = wg.y;
  let len = step.pos0 + t + 1u;
  let base = (h * p.batch + t) * p.context;
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
