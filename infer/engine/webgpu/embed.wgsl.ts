/**
 * Kernel `embed`: gather embedding rows for the step's token ids.
 *
 * Shapes: `ids: [n] u32`; `w`: one chunk of the embedding, rows `row_start ..
 * row_start + rows` of `[vocab, dim]`; `x: [n, dim] f32`. Ids outside the chunk are left to
 * the chunk that holds them. Dispatch `(ceil(dim / 64), n)`.
 *
 * @module
 */

import type { DType } from "../../formats/dtype.ts";
import { STEP_STRUCT, weightAccess, weightElement } from "./weight_access.wgsl.ts";

/**
 * WGSL of the embedding gather for a weight format.
 *
 * @param dtype the embedding's format
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { embedWgsl } from "./embed.wgsl.ts";
 * if (!embedWgsl("f32").includes("@compute")) throw new Error();
 * ```
 */
export function embedWgsl(dtype: DType): string {
  return `${STEP_STRUCT}
struct Params { dim: u32, row_start: u32, rows: u32, _pad: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read> w: array<${weightElement(dtype)}>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
${weightAccess(dtype)}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  let t = g.y;
  if (i >= p.dim || t >= step.n) { return; }
  let id = ids[t];
  if (id < p.row_start || id >= p.row_start + p.rows) { return; }
  x[t * p.dim + i] = w_at((id - p.row_start) * p.dim + i);
}`;
}
