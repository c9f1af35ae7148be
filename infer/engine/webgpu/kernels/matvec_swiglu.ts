/**
 * Kernel `matvec_swiglu` (decode): the MLP's gate and up products and the SwiGLU between them in
 * one dispatch, `y[t, row] = silu(W1[row] · x[t]) · (W3[row] · x[t])` for the tokens of a decode
 * step (one per session; the MLP width `inner` as `y`'s row stride).
 *
 * Built like `matvec` (see its notes; same lane groups, 4-token tiles, reduction order, and the
 * same per-format unit code), with each lane group computing 4 rows of both matrices: the unit
 * code is included twice, the second copy renamed to read `wu` (the up matrix) instead of `w`,
 * so the gate and up weights may be any format `matvec` takes (both the same). The two sums of a
 * row meet in the thread that stores it; nothing is written for the gate alone. A token's result
 * is the same bits whatever the step's token count, as with `matvec`.
 *
 * Shapes: `x: [n, k] f32`; `w`, `wu`: the chunk's `rows` rows of `k` values from `row_start`;
 * `y: [n, y_stride] f32`. Dispatch `(ceil(rows / (4 · 256 / L)), 1, 1)`.
 *
 * @module
 */

import type { GgmlTypeName } from "../../../formats/ggml_types.ts";
import { checkElements, checkShape, type KernelCall } from "./kernel.ts";
import type { MatmulArgs } from "./matmul.ts";
import {
  MATVEC_ROWS,
  MATVEC_THREADS,
  MATVEC_TOKENS,
  matvecFits,
  matvecLanes,
  matvecUnits,
  renamedUnits,
} from "./matvec.ts";
import { foldedUnits, rmsTileWgsl, XG_WGSL } from "./norm_fold.ts";
import { ParamStruct } from "./params.ts";
import { STEP } from "./step.ts";

/**
 * Parameters of `matvec_swiglu` (`eps`: the folded norm's, when it has one).
 *
 * @example
 * ```ts
 * import { MATVEC_SWIGLU_PARAMS } from "./matvec_swiglu.ts";
 * if (!MATVEC_SWIGLU_PARAMS.wgsl.includes("eps: f32")) throw new Error();
 * ```
 */
export const MATVEC_SWIGLU_PARAMS: ParamStruct<
  { k: "u32"; rows: "u32"; row_start: "u32"; y_stride: "u32"; eps: "f32" }
> = new ParamStruct("Params", { k: "u32", rows: "u32", row_start: "u32", y_stride: "u32", eps: "f32" });

/**
 * WGSL of the fused gate/up/SwiGLU product for a weight format.
 *
 * @param dtype the format of both matrices (one `matvecFits` accepts)
 * @param lanes threads sharing a row (a power of two, 32 to 256; default 256)
 * @param norm whether the RMSNorm before it is folded in (see `norm_fold.ts`)
 * @returns WGSL source
 * @throws {RangeError} for a format without a `matvec` kernel
 *
 * @example
 * ```ts
 * import { matvecSwigluWgsl } from "./matvec_swiglu.ts";
 * if (!matvecSwigluWgsl("f16", 256, true).includes("inverseSqrt")) throw new Error();
 * const code = matvecSwigluWgsl("q6_k", 64);
 * if (!code.includes("fn unit_load_u(") || !code.includes("wu[")) throw new Error();
 * ```
 */
export function matvecSwigluWgsl(dtype: GgmlTypeName, lanes: number = MATVEC_THREADS, norm = false): string {
  const f = matvecUnits(dtype);
  if (!f) throw new RangeError(`kernel matvec_swiglu: no kernel for ${dtype}`);
  const code = norm ? foldedUnits(f.code) : f.code;
  return `${STEP.wgsl}${MATVEC_SWIGLU_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> w: array<${f.element}>;
@group(0) @binding(4) var<storage, read> wu: array<${f.element}>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
${norm ? `@group(0) @binding(6) var<storage, read> gn: array<vec4<f32>>;${XG_WGSL}` : ""}
${code}
${renamedUnits(code, "_u", "wu")}
const R = ${MATVEC_ROWS}u;
const T = ${MATVEC_TOKENS}u;
const WG = ${MATVEC_THREADS}u;
const L = ${lanes}u;
var<workgroup> part: array<vec4<f32>, WG>;
var<workgroup> part_u: array<vec4<f32>, WG>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let lane = l % L;
  let r0 = (wg.x * (WG / L) + l / L) * R;
  let last = p.rows - 1u;
  let units = p.k / ${f.values}u;
  let tokens = step.n;
  for (var t0 = 0u; t0 < tokens; t0 += T) {
    let nt = min(T, tokens - t0);
    ${norm ? rmsTileWgsl(MATVEC_TOKENS) : "let scale = vec4<f32>(1.0);"}
    var acc = array<vec4<f32>, ${MATVEC_TOKENS}>();
    var acc_u = array<vec4<f32>, ${MATVEC_TOKENS}>();
    for (var u = lane; u < units; u += L) {
      let q0 = unit_load(min(r0, last), u);
      let q1 = unit_load(min(r0 + 1u, last), u);
      let q2 = unit_load(min(r0 + 2u, last), u);
      let q3 = unit_load(min(r0 + 3u, last), u);
      let v0 = unit_load_u(min(r0, last), u);
      let v1 = unit_load_u(min(r0 + 1u, last), u);
      let v2 = unit_load_u(min(r0 + 2u, last), u);
      let v3 = unit_load_u(min(r0 + 3u, last), u);
      for (var j = 0u; j < T; j++) {
        if (j < nt) {
          let xb = (t0 + j) * (p.k / 4u);
          acc[j] += vec4<f32>(unit_dot(q0, u, xb), unit_dot(q1, u, xb), unit_dot(q2, u, xb), unit_dot(q3, u, xb));
          acc_u[j] += vec4<f32>(
            unit_dot_u(v0, u, xb), unit_dot_u(v1, u, xb), unit_dot_u(v2, u, xb), unit_dot_u(v3, u, xb),
          );
        }
      }
    }
    for (var j = 0u; j < T; j++) {
      if (j < nt) {
        part[l] = acc[j];
        part_u[l] = acc_u[j];
        workgroupBarrier();
        for (var s = L / 2u; s > 0u; s >>= 1u) {
          if (lane < s) {
            part[l] += part[l + s];
            part_u[l] += part_u[l + s];
          }
          workgroupBarrier();
        }
        if (lane < R && r0 + lane < p.rows) {
          let g = part[l - lane][lane] * scale[j];
          y[(t0 + j) * p.y_stride + p.row_start + r0 + lane] = g / (1.0 + exp(-g)) * (part_u[l - lane][lane] * scale[j]);
        }
        workgroupBarrier();
      }
    }
  }
}`;
}

/** Arguments of {@linkcode matvecSwiglu}: `matmul`'s, with the up matrix's chunk beside the gate's. */
export interface MatvecSwigluArgs
  extends Omit<MatmulArgs, "bias" | "yPos" | "oneToken" | "accumulate" | "strategy" | "decode"> {
  /** The up matrix's chunk (the same rows, format and `k` as `w`). */
  readonly wu: GPUBuffer;
  /** The RMSNorm folded in (`x` then holds the raw rows): its weight and epsilon. */
  readonly norm?: { readonly weight: GPUBuffer; readonly eps: number };
}

/**
 * Whether the fused kernel computes a gate and up pair: both in one format `matvec` takes.
 *
 * @param gate the gate matrix's format
 * @param up the up matrix's format
 * @param k values per row
 * @returns true when {@linkcode matvecSwiglu} applies
 *
 * @example
 * ```ts
 * import { matvecSwigluFits } from "./matvec_swiglu.ts";
 * if (!matvecSwigluFits("q4_k", "q4_k", 256) || matvecSwigluFits("q4_k", "q6_k", 256)) throw new Error();
 * ```
 */
export function matvecSwigluFits(gate: GgmlTypeName, up: GgmlTypeName, k: number): boolean {
  return gate === up && matvecFits(gate, k);
}

/**
 * The fused gate/up/SwiGLU call for one chunk of both matrices and the step's tokens, its
 * shapes checked.
 *
 * @param a buffers and shapes; with `norm`, `x` holds the raw rows the norm would have read
 * @returns the call
 * @throws {RangeError} for a format the kernel does not take, or shapes that do not fit
 *
 * @example
 * ```ts
 * import { matvecSwiglu } from "./matvec_swiglu.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const call = matvecSwiglu({ w: buf(8 * 16 * 2), wu: buf(8 * 16 * 2), dtype: "f16", k: 16, rowStart: 0, rows: 8,
 *   x: buf(2 * 16 * 4), xRows: 2, y: buf(2 * 8 * 4), yRows: 2, yStride: 8 });
 * if (call.role !== "matvec_swiglu" || call.buffers.length !== 4) throw new Error();
 * ```
 */
export function matvecSwiglu(a: MatvecSwigluArgs): KernelCall {
  const f = matvecUnits(a.dtype);
  checkShape("matvec_swiglu", f !== undefined && matvecFits(a.dtype, a.k), `no kernel for ${a.dtype} rows of ${a.k}`);
  checkShape("matvec_swiglu", a.wu.size === a.w.size, "the gate and up chunks differ in size");
  checkShape("matvec_swiglu", a.rowStart + a.rows <= a.yStride, "rows must fit in an output row");
  checkElements("matvec_swiglu", "x", a.x, a.xRows * a.k);
  checkElements("matvec_swiglu", "y", a.y, a.yRows * a.yStride);
  if (a.norm) checkElements("matvec_swiglu", "norm weight", a.norm.weight, a.k);
  const lanes = matvecLanes(a.dtype, a.k);
  const groups = Math.ceil(a.rows / (MATVEC_ROWS * MATVEC_THREADS / lanes));
  return {
    role: "matvec_swiglu",
    code: matvecSwigluWgsl(a.dtype, lanes, a.norm !== undefined),
    params: MATVEC_SWIGLU_PARAMS.pack({
      k: a.k,
      rows: a.rows,
      row_start: a.rowStart,
      y_stride: a.yStride,
      eps: a.norm?.eps ?? 0,
    }),
    step: true,
    buffers: a.norm ? [a.x, a.w, a.wu, a.y, a.norm.weight] : [a.x, a.w, a.wu, a.y],
    grid: () => [groups, 1, 1],
  };
}
