/**
 * Kernel `swiglu`: `gate[i] = silu(gate[i]) · up[i]`, `silu(x) = x / (1 + e^-x)`.
 *
 * Shapes: `gate, up: [n, inner] f32`. Dispatch `(ceil(n · inner / 64))` (over several rows
 * of the grid when larger than 65,535 workgroups).
 *
 * @module
 */

import { STEP_STRUCT } from "./weight_access.wgsl.ts";

/**
 * WGSL of the SwiGLU gate.
 *
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { swigluWgsl } from "./swiglu.wgsl.ts";
 * if (!swigluWgsl().includes("exp(-g)")) throw new Error();
 * ```
 */
export function swigluWgsl(): string {
  return `${STEP_STRUCT}
struct Params { inner: u32, _a: u32, _b: u32, _c: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> gate: array<f32>;
@group(0) @binding(3) var<storage, read> up: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 64u;
  if (i >= step.n * p.inner) { return; }
  let g = gate[i];
  gate[i] = g / (1.0 + exp(-g)) * up[i];
}`;
}
