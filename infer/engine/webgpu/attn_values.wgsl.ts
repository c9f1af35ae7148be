/**
 * Kernel `attn_values`: `o[t, h] = Σ_{j ≤ pos0 + t} s[h, t, j] · v[j, h / group]`.
 *
 * Shapes: `s: [heads, batch, context] f32` (probabilities); `v: [context, kv_heads, d] f32`
 * (the layer's value cache); `o: [n, heads, d] f32`. Dispatch `(heads, n)`, 64 threads
 * striding over `d`.
 *
 * @module
 */

import { STEP_STRUCT } from "./weight_access.wgsl.ts";

/**
 * WGSL of the attention-weighted sum of values.
 *
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { attnValuesWgsl } from "./attn_values.wgsl.ts";
 * if (!attnValuesWgsl().includes("@workgroup_size(64)")) throw new Error();
 * ```
 */
export function attnValuesWgsl(): string {
  return `${STEP_STRUCT}
struct Params { heads: u32, kv_heads: u32, head_dim: u32, batch: u32, context: u32, _a: u32, _b: u32, _c: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> s: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let h = wg.x;
  let t = wg.y;
  let len = step.pos0 + t + 1u;
  let kvh = h / (p.heads / p.kv_heads);
  let sb = (h * p.batch + t) * p.context;
  for (var i = l; i < p.head_dim; i += 64u) {
    var acc = 0.0;
    for (var j = 0u; j < len; j++) { acc += s[sb + j] * v[(j * p.kv_heads + kvh) * p.head_dim + i]; }
    o[(t * p.heads + h) * p.head_dim + i] = acc;
  }
}`;
}
