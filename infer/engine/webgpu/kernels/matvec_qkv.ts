/**
 * Kernel `matvec_qkv` (decode): the query, key and value products of a decode step in one
 * dispatch, `q[t] = Wq · x[t] (+ bq)`, `k[t] = Wk · x[t] (+ bk)`, `v[t] = Wv · x[t] (+ bv)`, into
 * the step's rows (`kv_append` then rotates the keys into the cache, the attention the queries).
 *
 * The grid is split among the three matrices: the first workgroups compute rows of `Wq`, the
 * next of `Wk`, the rest of `Wv`, each exactly as `matvec` computes a row (its lane groups,
 * 4-token tiles and reduction order, the same per-format unit code), so a token's rows are the
 * same bits whatever the step's token count. Each matrix may have its own format (a quantization
 * preset may store `Wv` apart): each format's unit code is included once per matrix, renamed.
 * The biases, where the architecture has them, are one buffer `q | k | v`.
 *
 * Shapes: `x: [n, k] f32`; `wq: [q_rows, k]`, `wk`, `wv: [kv_rows, k]` (each one chunk);
 * `q: [n, q_rows]`, `kn`, `vn: [n, kv_rows]` f32. Dispatch `(groups_q + 2 · groups_kv, 1, 1)`.
 *
 * @module
 */

import type { GgmlTypeName } from "../../../formats/ggml_types.ts";
import { checkElements, checkShape, type KernelCall } from "./kernel.ts";
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
 * Parameters of `matvec_qkv`.
 *
 * @example
 * ```ts
 * import { MATVEC_QKV_PARAMS } from "./matvec_qkv.ts";
 * if (!MATVEC_QKV_PARAMS.wgsl.includes("groups_q: u32")) throw new Error();
 * ```
 */
export const MATVEC_QKV_PARAMS: ParamStruct<{
  k: "u32";
  q_rows: "u32";
  kv_rows: "u32";
  groups_q: "u32";
  groups_kv: "u32";
  eps: "f32";
}> = new ParamStruct("Params", {
  k: "u32",
  q_rows: "u32",
  kv_rows: "u32",
  groups_q: "u32",
  groups_kv: "u32",
  eps: "f32",
});

/** Workgroups for `rows` rows of a format. */
function groupsFor(dtype: GgmlTypeName, k: number, rows: number): number {
  return Math.ceil(rows / (MATVEC_ROWS * MATVEC_THREADS / matvecLanes(dtype, k)));
}

/** The rows of one matrix: `matvec`'s body over unit code suffixed `s`, storing into `y` at `bias_at`. */
function rowsFn(
  s: string,
  lanes: number,
  values: number,
  y: string,
  rows: string,
  biasAt: string | undefined,
  norm: boolean,
): string {
  return `
fn rows${s}(group: u32, l: u32) {
  let L = ${lanes}u;
  let lane = l % L;
  let r0 = (group * (WG / L) + l / L) * R;
  let last = p.${rows} - 1u;
  let units = p.k / ${values}u;
  let tokens = step.n;
  for (var t0 = 0u; t0 < tokens; t0 += T) {
    let nt = min(T, tokens - t0);
    ${norm ? rmsTileWgsl(MATVEC_TOKENS) : "let scale = vec4<f32>(1.0);"}
    var acc = array<vec4<f32>, ${MATVEC_TOKENS}>();
    for (var u = lane; u < units; u += L) {
      let q0 = unit_load${s}(min(r0, last), u);
      let q1 = unit_load${s}(min(r0 + 1u, last), u);
      let q2 = unit_load${s}(min(r0 + 2u, last), u);
      let q3 = unit_load${s}(min(r0 + 3u, last), u);
      for (var j = 0u; j < T; j++) {
        if (j < nt) {
          let xb = (t0 + j) * (p.k / 4u);
          acc[j] += vec4<f32>(unit_dot${s}(q0, u, xb), unit_dot${s}(q1, u, xb), unit_dot${s}(q2, u, xb), unit_dot${s}(q3, u, xb));
        }
      }
    }
    for (var j = 0u; j < T; j++) {
      if (j < nt) {
        part[l] = acc[j];
        workgroupBarrier();
        for (var st = L / 2u; st > 0u; st >>= 1u) {
          if (lane < st) { part[l] += part[l + st]; }
          workgroupBarrier();
        }
        if (lane < R && r0 + lane < p.${rows}) {
          let r = r0 + lane;
          ${y}[(t0 + j) * p.${rows} + r] = part[l - lane][lane] * scale[j]${biasAt ? ` + bias[${biasAt} + r]` : ""};
        }
        workgroupBarrier();
      }
    }
  }
}`;
}

/**
 * WGSL of the fused Q/K/V product.
 *
 * @param dtypes the formats of `Wq`, `Wk`, `Wv` (each one `matvecFits` accepts)
 * @param k values per row
 * @param bias whether the `q | k | v` biases are bound
 * @param norm whether the RMSNorm before it is folded in (see `norm_fold.ts`)
 * @returns WGSL source
 * @throws {RangeError} for a format without a `matvec` kernel
 *
 * @example
 * ```ts
 * import { matvecQkvWgsl } from "./matvec_qkv.ts";
 * const code = matvecQkvWgsl(["q4_k", "q4_k", "q6_k"], 256, true);
 * if (!code.includes("fn unit_load_v(") || !code.includes("bias[")) throw new Error();
 * ```
 */
export function matvecQkvWgsl(
  dtypes: readonly [GgmlTypeName, GgmlTypeName, GgmlTypeName],
  k: number,
  bias: boolean,
  norm = false,
): string {
  const parts = dtypes.map((d) => {
    const f = matvecUnits(d);
    if (!f) throw new RangeError(`kernel matvec_qkv: no kernel for ${d}`);
    return norm ? { ...f, code: foldedUnits(f.code) } : f;
  });
  const names = ["q", "k", "v"];
  const decls = parts.map((f, i) =>
    `@group(0) @binding(${3 + i}) var<storage, read> w${names[i]}: array<${f.element}>;`
  ).join("\n");
  const units = parts.map((f, i) => renamedUnits(f.code, `_${names[i]}`, `w${names[i]}`)).join("\n");
  const biasAt = ["0u", "p.q_rows", "p.q_rows + p.kv_rows"];
  const fns = parts.map((f, i) =>
    rowsFn(
      `_${names[i]}`,
      matvecLanes(dtypes[i], k),
      f.values,
      ["yq", "yk", "yv"][i],
      i === 0 ? "q_rows" : "kv_rows",
      bias ? biasAt[i] : undefined,
      norm,
    )
  ).join("\n");
  return `${STEP.wgsl}${MATVEC_QKV_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
${decls}
@group(0) @binding(6) var<storage, read_write> yq: array<f32>;
@group(0) @binding(7) var<storage, read_write> yk: array<f32>;
@group(0) @binding(8) var<storage, read_write> yv: array<f32>;
${bias ? "@group(0) @binding(9) var<storage, read> bias: array<f32>;" : ""}
${norm ? `@group(0) @binding(${bias ? 10 : 9}) var<storage, read> gn: array<vec4<f32>>;${XG_WGSL}` : ""}
${units}
const R = ${MATVEC_ROWS}u;
const T = ${MATVEC_TOKENS}u;
const WG = ${MATVEC_THREADS}u;
var<workgroup> part: array<vec4<f32>, WG>;
${fns}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  if (wg.x < p.groups_q) {
    rows_q(wg.x, l);
  } else if (wg.x < p.groups_q + p.groups_kv) {
    rows_k(wg.x - p.groups_q, l);
  } else {
    rows_v(wg.x - p.groups_q - p.groups_kv, l);
  }
}`;
}

/** One matrix of {@linkcode matvecQkv}: its single chunk and format. */
export interface QkvMatrix {
  /** The weights (the whole matrix, one buffer). */
  readonly w: GPUBuffer;
  /** Their format. */
  readonly dtype: GgmlTypeName;
}

/** What {@linkcode matvecQkv} reads and writes. */
export interface MatvecQkvArgs {
  /** The query, key and value matrices. */
  readonly wq: QkvMatrix;
  /** Keys. */
  readonly wk: QkvMatrix;
  /** Values. */
  readonly wv: QkvMatrix;
  /** Values per row. */
  readonly k: number;
  /** Rows of `Wq`. */
  readonly qRows: number;
  /** Rows of `Wk` and of `Wv`. */
  readonly kvRows: number;
  /** Input rows, one per token. */
  readonly x: GPUBuffer;
  /** Rows `x` and the outputs hold. */
  readonly batch: number;
  /** The query rows. */
  readonly q: GPUBuffer;
  /** The key rows. */
  readonly kn: GPUBuffer;
  /** The value rows. */
  readonly vn: GPUBuffer;
  /** The `q | k | v` biases, if any. */
  readonly bias?: GPUBuffer;
  /** The RMSNorm folded in (`x` then holds the raw rows): its weight and epsilon. */
  readonly norm?: { readonly weight: GPUBuffer; readonly eps: number };
}

/**
 * Whether the fused kernel computes a layer's Q/K/V: every format one `matvec` takes for rows of
 * `k` values.
 *
 * @param dtypes the three formats
 * @param k values per row
 * @returns true when {@linkcode matvecQkv} applies
 *
 * @example
 * ```ts
 * import { matvecQkvFits } from "./matvec_qkv.ts";
 * if (!matvecQkvFits(["q4_k", "q4_k", "q6_k"], 256) || matvecQkvFits(["f16", "q4_0", "f16"], 64)) throw new Error();
 * ```
 */
export function matvecQkvFits(dtypes: readonly GgmlTypeName[], k: number): boolean {
  return dtypes.every((d) => matvecFits(d, k));
}

/**
 * The fused Q/K/V call for a decode step, its shapes checked.
 *
 * @param a buffers and shapes
 * @returns the call
 * @throws {RangeError} for formats or shapes the kernel does not take
 *
 * @example
 * ```ts
 * import { matvecQkv } from "./matvec_qkv.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const m = { w: buf(8 * 16 * 4), dtype: "f32" as const };
 * const call = matvecQkv({ wq: m, wk: m, wv: m, k: 16, qRows: 8, kvRows: 8, x: buf(2 * 16 * 4), batch: 2,
 *   q: buf(2 * 8 * 4), kn: buf(2 * 8 * 4), vn: buf(2 * 8 * 4) });
 * if (call.grid(1, 1).join() !== "3,1,1") throw new Error(); // one workgroup per matrix
 * ```
 */
export function matvecQkv(a: MatvecQkvArgs): KernelCall {
  const dtypes = [a.wq.dtype, a.wk.dtype, a.wv.dtype] as const;
  checkShape("matvec_qkv", matvecQkvFits(dtypes, a.k), `no kernel for ${dtypes.join("/")} rows of ${a.k}`);
  checkElements("matvec_qkv", "x", a.x, a.batch * a.k);
  checkElements("matvec_qkv", "q", a.q, a.batch * a.qRows);
  checkElements("matvec_qkv", "kn", a.kn, a.batch * a.kvRows);
  checkElements("matvec_qkv", "vn", a.vn, a.batch * a.kvRows);
  if (a.bias) checkElements("matvec_qkv", "bias", a.bias, a.qRows + 2 * a.kvRows);
  if (a.norm) checkElements("matvec_qkv", "norm weight", a.norm.weight, a.k);
  const groupsQ = groupsFor(a.wq.dtype, a.k, a.qRows);
  const groupsKv = Math.max(groupsFor(a.wk.dtype, a.k, a.kvRows), groupsFor(a.wv.dtype, a.k, a.kvRows));
  // K and V get the same share of the grid (the larger); a group past a matrix's rows stores nothing.
  const total = groupsQ + 2 * groupsKv;
  checkShape("matvec_qkv", total <= 65535, `${total} workgroups do not fit one grid`);
  return {
    role: "matvec_qkv",
    code: matvecQkvWgsl(dtypes, a.k, a.bias !== undefined, a.norm !== undefined),
    params: MATVEC_QKV_PARAMS.pack({
      k: a.k,
      q_rows: a.qRows,
      kv_rows: a.kvRows,
      groups_q: groupsQ,
      groups_kv: groupsKv,
      eps: a.norm?.eps ?? 0,
    }),
    step: true,
    buffers: [
      a.x,
      a.wq.w,
      a.wk.w,
      a.wv.w,
      a.q,
      a.kn,
      a.vn,
      ...(a.bias ? [a.bias] : []),
      ...(a.norm ? [a.norm.weight] : []),
    ],
    grid: () => [total, 1, 1],
  };
}
