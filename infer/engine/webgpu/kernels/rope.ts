/**
 * Kernel `rope`: rotary position embedding in place, rotate-half layout: in each head, pair
 * `(x[i], x[i + d/2])` is rotated by the angle of the token's position.
 *
 * Shapes: `x`: rows of `[heads, d] f32`; row of token `t` is `(x_pos ? pos0 : row0) + t` (the
 * key cache is addressed by position, the query buffer by token). `table: [context, d/2]
 * vec2<f32>` of (cos, sin), computed once at load in double precision.
 * Dispatch `(ceil(heads · d/2 / 64), n)`.
 *
 * @module
 */

import { checkElements, checkShape, type Grid, type KernelCall } from "./kernel.ts";
import { ParamStruct } from "./params.ts";
import { STEP } from "./step.ts";

/**
 * Parameters of `rope`.
 *
 * @example
 * ```ts
 * import { ROPE_PARAMS } from "./rope.ts";
 * if (!ROPE_PARAMS.wgsl.includes("x_pos: u32")) throw new Error();
 * ```
 */
export const ROPE_PARAMS: ParamStruct<{ heads: "u32"; head_dim: "u32"; x_pos: "flag" }> = new ParamStruct("Params", {
  heads: "u32",
  head_dim: "u32",
  x_pos: "flag",
});

/**
 * WGSL of RoPE.
 *
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { ropeWgsl } from "./rope.ts";
 * if (!ropeWgsl().includes("table")) throw new Error();
 * ```
 */
export function ropeWgsl(): string {
  return `${STEP.wgsl}${ROPE_PARAMS.wgsl}
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
  let row = select(step.row0, step.pos0, p.x_pos == 1u) + t;
  let base = (row * p.heads + h) * p.head_dim;
  let cs = table[pos * half + i];
  let a = x[base + i];
  let b = x[base + i + half];
  x[base + i] = a * cs.x - b * cs.y;
  x[base + i + half] = b * cs.x + a * cs.y;
}`;
}

/**
 * The grid of `rope`: `(ceil(heads · d/2 / 64), n)`.
 *
 * @param heads heads rotated
 * @param headDim their width
 * @returns the grid
 *
 * @example
 * ```ts
 * import { ropeGrid } from "./rope.ts";
 * if (ropeGrid(4, 64)(2, 2).join() !== "2,2,1") throw new Error();
 * ```
 */
export function ropeGrid(heads: number, headDim: number): Grid {
  return (n) => [Math.ceil(heads * (headDim / 2) / 64), n, 1];
}

/** What `rope` rotates. */
export interface RopeArgs {
  /** The rows rotated in place. */
  readonly x: GPUBuffer;
  /** Rows `x` holds: the batch, or the context when `xPos`. */
  readonly xRows: number;
  /** Whether `x` is addressed by position (the key cache) rather than by token. */
  readonly xPos?: boolean;
  /** The cos/sin table. */
  readonly table: GPUBuffer;
  /** Positions in the table. */
  readonly context: number;
  /** Heads per row. */
  readonly heads: number;
  /** Their width (even). */
  readonly headDim: number;
}

/**
 * The `rope` kernel, its shapes checked.
 *
 * @param a buffers and shapes
 * @returns the call
 * @throws {RangeError} on an odd head width or a buffer too small
 *
 * @example
 * ```ts
 * import { rope } from "./rope.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const call = rope({ x: buf(2 * 2 * 8 * 4), xRows: 2, table: buf(16 * 4 * 8), context: 16, heads: 2, headDim: 8 });
 * if (call.buffers.length !== 2) throw new Error();
 * ```
 */
export function rope(a: RopeArgs): KernelCall {
  checkShape("rope", a.headDim > 0 && a.headDim % 2 === 0, `head_dim must be even, got ${a.headDim}`);
  checkElements("rope", "x", a.x, a.xRows * a.heads * a.headDim);
  checkElements("rope", "table", a.table, a.context * a.headDim);
  return {
    role: "rope",
    code: ropeWgsl(),
    params: ROPE_PARAMS.pack({ heads: a.heads, head_dim: a.headDim, x_pos: a.xPos === true }),
    step: true,
    buffers: [a.x, a.table],
    grid: ropeGrid(a.heads, a.headDim),
  };
}
