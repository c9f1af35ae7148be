/**
 * Kernel `attn_scores`: `s[h, t, j] = q[t, h] · k[j, h / group] / √d (+ slope[h] · (j - pos))`
 * for every cached key `j ≤ pos = pos0 + t` (causal; later keys are not written).
 *
 * Shapes: `q: [n, heads, d] f32`; `k: [context, kv_heads, d] f32` (the layer's key cache);
 * `s: [heads, batch, context] f32`; `slopes: [heads] f32` (ALiBi, used when `alibi` is 1).
 * Dispatch `(ceil(kv_len / 64), heads, n)`.
 *
 * @module
 */

import { STEP_STRUCT } from "./weight_access.wgsl.ts";

/**
 * WGSL of the attention scores.
 *
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { attnScoresWgsl } from "./attn_scores.wgsl.ts";
 * if (!attnScoresWgsl().includes("slopes")) throw new Error();
 * ```
 */
export function attnScoresWgsl(): string {
  return `${STEP_STRUCT}
struct Params { heads: u32, kv_heads: u32, head_dim: u32, batch: u32, context: u32, alibi: u32, scale: f32, _pad: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read_write> s: array<f32>;
@group(0) @binding(5) var<storage, read> slopes: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let j = g.x;
  let h = g.y;
  let t = g.z;
  let pos = step.pos0 + t;
  if (j > pos || t >= step.n) { return; }
  let kvh = h / (p.heads / p.kv_heads);
  let qb = (t * p.heads + h) * p.head_dim;
  let kb = (j * p.kv_heads + kvh) * p.head_dim;
  var acc = 0.0;
  for (var i = 0u; i < p.head_dim; i++) { acc += q[qb + i] * k[kb + i]; }
  var v = acc * p.scale;
  if (p.alibi == 1u) { v += slopes[h] * (f32(j) - f32(pos)); }
  s[(h * p.batch + t) * p.context + j] = v;
}`;
}
