/**
 * Kernel `embed`: gather embedding rows for the step's token ids.
 *
 * Shapes: `ids: [n] u32`; `w`: one chunk of the embedding, rows `row_start ..
 * row_start + rows` of `[vocab, dim]`; `x: [n, dim] f32`. Ids outside the chunk are left to
 * the chunk that holds them. Dispatch `(ceil(dim / 64), n)`.
 *
 * @module
 */

import type { GgmlTypeName } from "../../../formats/ggml_types.ts";
import { checkElements, checkShape, type Grid, type KernelCall } from "./kernel.ts";
import { ParamStruct } from "./params.ts";
import { STEP } from "./step.ts";
import { checkWeights, weightAccess, weightElement } from "./weight_access.ts";

/**
 * Parameters of `embed`.
 *
 * @example
 * ```ts
 * import { EMBED_PARAMS } from "./embed.ts";
 * if (EMBED_PARAMS.size !== 16) throw new Error();
 * ```
 */
export const EMBED_PARAMS: ParamStruct<{ dim: "u32"; row_start: "u32"; rows: "u32" }> = new ParamStruct("Params", {
  dim: "u32",
  row_start: "u32",
  rows: "u32",
});

/**
 * WGSL of the embedding gather for a weight format.
 *
 * @param dtype the embedding's format
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { embedWgsl } from "./embed.ts";
 * if (!embedWgsl("f32").includes("@compute")) throw new Error();
 * ```
 */
export function embedWgsl(dtype: GgmlTypeName): string {
  return `${STEP.wgsl}${EMBED_PARAMS.wgsl}
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

/**
 * The grid of `embed`: `(ceil(dim / 64), n)`.
 *
 * @param dim the embedding width
 * @returns the grid
 *
 * @example
 * ```ts
 * import { embedGrid } from "./embed.ts";
 * if (embedGrid(100)(3, 3).join() !== "2,3,1") throw new Error();
 * ```
 */
export function embedGrid(dim: number): Grid {
  return (n) => [Math.ceil(dim / 64), n, 1];
}

/** What `embed` reads and writes. */
export interface EmbedArgs {
  /** One chunk of the embedding matrix. */
  readonly w: GPUBuffer;
  /** Its format. */
  readonly dtype: GgmlTypeName;
  /** The chunk's first row. */
  readonly rowStart: number;
  /** Rows in the chunk. */
  readonly rows: number;
  /** The embedding width. */
  readonly dim: number;
  /** The step's token ids. */
  readonly ids: GPUBuffer;
  /** The output rows. */
  readonly x: GPUBuffer;
  /** The most tokens in one step. */
  readonly tokens: number;
}

/**
 * The `embed` kernel for one chunk, its shapes checked.
 *
 * @param a buffers and shapes
 * @returns the call
 * @throws {RangeError} when a buffer is too small
 *
 * @example
 * ```ts
 * import { embed } from "./embed.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const call = embed({ w: buf(10 * 8 * 4), dtype: "f32", rowStart: 0, rows: 10, dim: 8, ids: buf(8), x: buf(64), tokens: 2 });
 * if (call.buffers.length !== 3) throw new Error();
 * ```
 */
export function embed(a: EmbedArgs): KernelCall {
  checkShape("embed", a.dim > 0 && a.rows > 0, "dim and rows must be positive");
  checkWeights("embed", a.w, a.dtype, a.rows, a.dim);
  checkElements("embed", "ids", a.ids, a.tokens);
  checkElements("embed", "x", a.x, a.tokens * a.dim);
  return {
    role: "embed",
    code: embedWgsl(a.dtype),
    params: EMBED_PARAMS.pack({ dim: a.dim, row_start: a.rowStart, rows: a.rows }),
    step: true,
    buffers: [a.ids, a.w, a.x],
    grid: embedGrid(a.dim),
  };
}
