/**
 * Kernel `rope`: rotary position embedding in place, rotate-half layout: in each head, pair
 * `(x[i], x[i + d/2])` is rotated by the angle of the token's position.
 *
 * Shapes: `x`: rows of `[heads, d] f32`; row of token `t` is `(x_pos ? pos0 : 0) + t` (the
 * key cache is addressed by position, the query buffer by token). `table: [context, d/2]
 * vec2<f32>` of (cos, sin), computed once at load in double precision.
 * Dispatch `(ceil(heads · d/2 / 64), n)`.
 *
 * @module
 */

import { STEP_STRUCT } from "./weight_access.wgsl.ts";

/**
 * WGSL of RoPE.
 *
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { ropeWgsl } from "./rope.wgsl.ts";
 * if (!ropeWgsl().includes("table")) throw new Error();
 * ```
 */
export function ropeWgsl(): string {
  return `${STEP_STRUCT}
struct Params { heads: u32, head_dim: u32, x_pos: u32, _pad: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read> table: array<vec2<f32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let half = p.head_dim / 2u;
  let t = g.y;
  if (g.x >= p.heads * half || t >= step.n) { return; }
  let h = g.x / half;
  let i = g.x % half;
  let pos = step.pos0 + t;
  let row = select(0u, step.pos0, p.x_pos == 1u) + t;
  let base = (row * p.heads + h) * p.head_dim;
  let cs = table[pos * half + i];
  let a = x[base + i];
  let b = x[base + i + half];
  x[base + i] = a * cs.x - b * cs.y;
  x[base + i + half] = b * cs.x + a * cs.y;
}`;
}
