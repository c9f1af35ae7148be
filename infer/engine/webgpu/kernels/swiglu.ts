/**
 * Kernel `swiglu`: `gate[i] = silu(gate[i]) · up[i]`, `silu(x) = x / (1 + e^-x)`.
 *
 * Shapes: `gate, up: [n, inner] f32`. Dispatch `(ceil(n · inner / 64))` (over several rows
 * of the grid when larger than 65,535 workgroups).
 *
 * @module
 */

import { checkElements, type Grid, type KernelCall } from "./kernel.ts";
import { ParamStruct } from "./params.ts";
import { STEP } from "./step.ts";

/**
 * Parameters of `swiglu`.
 *
 * @example
 * ```ts
 * import { SWIGLU_PARAMS } from "./swiglu.ts";
 * if (!SWIGLU_PARAMS.wgsl.includes("inner: u32")) throw new Error();
 * ```
 */
export const SWIGLU_PARAMS: ParamStruct<{ inner: "u32" }> = new ParamStruct("Params", { inner: "u32" });

/**
 * WGSL of the SwiGLU gate.
 *
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { swigluWgsl } from "./swiglu.ts";
 * if (!swigluWgsl().includes("exp(-g)")) throw new Error();
 * ```
 */
export function swigluWgsl(): string {
  return `${STEP.wgsl}${SWIGLU_PARAMS.wgsl}
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

/**
 * The grid of `swiglu`: `ceil(n · inner / 64)` workgroups, folded into rows of 65,535.
 *
 * @param inner the MLP width
 * @returns the grid
 *
 * @example
 * ```ts
 * import { swigluGrid } from "./swiglu.ts";
 * if (swigluGrid(64)(3, 3).join() !== "3,1,1") throw new Error();
 * if (swigluGrid(64 * 65535)(2, 2).join() !== "65535,2,1") throw new Error();
 * ```
 */
export function swigluGrid(inner: number): Grid {
  return (n) => {
    const groups = Math.ceil(n * inner / 64);
    return groups <= 65535 ? [groups, 1, 1] : [65535, Math.ceil(groups / 65535), 1];
  };
}

/** What `swiglu` gates. */
export interface SwigluArgs {
  /** The gate rows, overwritten with the result. */
  readonly gate: GPUBuffer;
  /** The up rows. */
  readonly up: GPUBuffer;
  /** The MLP width. */
  readonly inner: number;
  /** The most tokens in one step. */
  readonly tokens: number;
}

/**
 * The `swiglu` kernel, its shapes checked.
 *
 * @param a buffers and shapes
 * @returns the call
 * @throws {RangeError} when a buffer is too small
 *
 * @example
 * ```ts
 * import { swiglu } from "./swiglu.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * if (swiglu({ gate: buf(256), up: buf(256), inner: 32, tokens: 2 }).role !== "swiglu") throw new Error();
 * ```
 */
export function swiglu(a: SwigluArgs): KernelCall {
  checkElements("swiglu", "gate", a.gate, a.tokens * a.inner);
  checkElements("swiglu", "up", a.up, a.tokens * a.inner);
  return {
    role: "swiglu",
    code: swigluWgsl(),
    params: SWIGLU_PARAMS.pack({ inner: a.inner }),
    step: true,
    buffers: [a.gate, a.up],
    grid: swigluGrid(a.inner),
  };
}
