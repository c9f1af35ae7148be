/**
 * The WebGPU trainer's element-wise kernels: adding one buffer into another, SwiGLU and its
 * backward, LoRA dropout (the CPU oracle's counter-based masks, `../../dropout.ts`) and RoPE's
 * rotation and its inverse (the rotate-half layout, from the inference engine's table of
 * cosines and sines).
 *
 * @module
 */

import { checkShape, type KernelCall, type KernelRole } from "../../../infer/engine/webgpu/kernels/kernel.ts";
import { ParamStruct } from "../../../infer/engine/webgpu/kernels/params.ts";
import { DROPOUT_WGSL, dropoutKey, dropThreshold } from "../../dropout.ts";

/** Elements per workgroup row of a grid; grids wrap into `y` past 65535 workgroups. */
const GROUP = 64;

/** The grid covering `count` elements, 64 per workgroup. */
function flatGrid(count: number): [number, number, number] {
  const groups = Math.ceil(count / GROUP);
  return groups <= 65535 ? [groups, 1, 1] : [65535, Math.ceil(groups / 65535), 1];
}

const INDEX = `let e = gid.x + gid.y * nw.x * ${GROUP}u;
  if (e >= p.count) { return; }`;
const MAIN = `@compute @workgroup_size(${GROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {`;

const ADD = new ParamStruct("Params", { count: "u32", x_off: "u32", y_off: "u32" });

/**
 * `y[y_off + e] += x[x_off + e]` for `e < count`.
 *
 * @param x the addend
 * @param y the sum
 * @param count elements
 * @param o element offsets
 * @returns the call
 *
 * @example
 * ```ts
 * import { addInto } from "./elementwise.ts";
 * const b = { size: 1024 } as GPUBuffer;
 * if (addInto(b, b, 100).grid(0, 0).join() !== "2,1,1") throw new Error();
 * ```
 */
export function addInto(
  x: GPUBuffer,
  y: GPUBuffer,
  count: number,
  o: { readonly xOff?: number; readonly yOff?: number } = {},
): KernelCall {
  return flatCall(
    "add",
    `${ADD.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${MAIN}
  ${INDEX}
  y[p.y_off + e] += x[p.x_off + e];
}`,
    ADD.pack({ count, x_off: o.xOff ?? 0, y_off: o.yOff ?? 0 }),
    [x, y],
    count,
  );
}

const COUNT = new ParamStruct("Params", { count: "u32" });

/**
 * `act = silu(gate) ⊙ up`.
 *
 * @param gate the gate
 * @param up the up projection
 * @param act the result
 * @param count elements
 * @returns the call
 *
 * @example
 * ```ts
 * import { swigluForward } from "./elementwise.ts";
 * const b = { size: 1024 } as GPUBuffer;
 * if (swigluForward(b, b, b, 64).buffers.length !== 3) throw new Error();
 * ```
 */
export function swigluForward(gate: GPUBuffer, up: GPUBuffer, act: GPUBuffer, count: number): KernelCall {
  return flatCall(
    "swiglu",
    `${COUNT.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read_write> act: array<f32>;
${MAIN}
  ${INDEX}
  let g = gate[e];
  act[e] = g / (1.0 + exp(-g)) * up[e];
}`,
    COUNT.pack({ count }),
    [gate, up, act],
    count,
  );
}

/**
 * SwiGLU's backward: `dGate = dAct · up · σ(g) · (1 + g · (1 − σ(g)))`, `dUp = dAct · silu(g)`.
 *
 * @param gate the forward's gate
 * @param up the forward's up projection
 * @param dAct the gradient of the result
 * @param dGate the gate's gradient out
 * @param dUp the up projection's gradient out
 * @param count elements
 * @returns the call
 *
 * @example
 * ```ts
 * import { swigluBackward } from "./elementwise.ts";
 * const b = { size: 1024 } as GPUBuffer;
 * if (swigluBackward(b, b, b, b, b, 64).buffers.length !== 5) throw new Error();
 * ```
 */
export function swigluBackward(
  gate: GPUBuffer,
  up: GPUBuffer,
  dAct: GPUBuffer,
  dGate: GPUBuffer,
  dUp: GPUBuffer,
  count: number,
): KernelCall {
  return flatCall(
    "swiglu",
    `${COUNT.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read> d_act: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_gate: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_up: array<f32>;
${MAIN}
  ${INDEX}
  let g = gate[e];
  let s = 1.0 / (1.0 + exp(-g));
  d_up[e] = d_act[e] * g * s;
  d_gate[e] = d_act[e] * up[e] * s * (1.0 + g * (1.0 - s));
}`,
    COUNT.pack({ count }),
    [gate, up, dAct, dGate, dUp],
    count,
  );
}

const DROP = new ParamStruct("Params", { count: "u32", key: "u32", threshold: "u32", keep: "f32", accumulate: "flag" });

/**
 * Dropout of one module's input: `y (+)= x ⊙ mask`, the mask of {@linkcode dropoutMask} for the
 * example's seed and the module's index (the forward pass, and the backward of the input's
 * gradient, which the same mask multiplies).
 *
 * @param x the input (or the gradient)
 * @param y the result
 * @param count elements
 * @param d probability, seed, module, and whether to add into `y`
 * @returns the call
 *
 * @example
 * ```ts
 * import { dropout } from "./elementwise.ts";
 * const b = { size: 1024 } as GPUBuffer;
 * if (dropout(b, b, 64, { p: 0.1, seed: 1, index: 0 }).buffers.length !== 2) throw new Error();
 * ```
 */
export function dropout(
  x: GPUBuffer,
  y: GPUBuffer,
  count: number,
  d: { readonly p: number; readonly seed: number; readonly index: number; readonly accumulate?: boolean },
): KernelCall {
  return flatCall(
    "dropout",
    `${DROP.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${DROPOUT_WGSL}
${MAIN}
  ${INDEX}
  let v = select(x[e] * p.keep, 0.0, dropped(p.key, e, p.threshold));
  if (p.accumulate == 1u) { y[e] += v; } else { y[e] = v; }
}`,
    DROP.pack({
      count,
      key: dropoutKey(d.seed, d.index),
      threshold: dropThreshold(d.p),
      keep: 1 / (1 - d.p),
      accumulate: d.accumulate === true,
    }),
    [x, y],
    count,
  );
}

const ROPE = new ParamStruct("Params", { count: "u32", heads: "u32", half: "u32", sign: "f32" });

/**
 * RoPE in place on rows of `heads × 2·half`: each head's pairs `(i, i + half)` of row `t` turned by
 * `t · invFreq[i]` (`inverse`: by minus it, the rotation's gradient).
 *
 * @param x the rows
 * @param table `cos, sin` of each `(t, i)`, interleaved (the inference engine's `ropeTable`)
 * @param a rows, heads, half the head size, direction
 * @returns the call
 *
 * @example
 * ```ts
 * import { rope } from "./elementwise.ts";
 * const b = { size: 4096 } as GPUBuffer;
 * if (rope(b, b, { rows: 4, heads: 2, half: 4, inverse: true }).grid(0, 0).join() !== "1,1,1") throw new Error();
 * ```
 */
export function rope(
  x: GPUBuffer,
  table: GPUBuffer,
  a: { readonly rows: number; readonly heads: number; readonly half: number; readonly inverse?: boolean },
): KernelCall {
  const count = a.rows * a.heads * a.half;
  return flatCall(
    "rope",
    `${ROPE.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
${MAIN}
  ${INDEX}
  let i = e % p.half;
  let th = e / p.half;
  let t = th / p.heads;
  let base = th * 2u * p.half;
  let at = 2u * (t * p.half + i);
  let cs = table[at];
  let sn = p.sign * table[at + 1u];
  let a = x[base + i];
  let b = x[base + i + p.half];
  x[base + i] = a * cs - b * sn;
  x[base + i + p.half] = b * cs + a * sn;
}`,
    ROPE.pack({ count, heads: a.heads, half: a.half, sign: a.inverse ? -1 : 1 }),
    [x, table],
    count,
  );
}

function flatCall(
  role: KernelRole,
  code: string,
  params: ArrayBuffer,
  buffers: GPUBuffer[],
  count: number,
): KernelCall {
  checkShape(role, count > 0, "nothing to compute");
  const grid = flatGrid(count);
  return { role, code, params, step: false, buffers, grid: () => grid };
}
