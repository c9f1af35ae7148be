/**
 * Kernel `gemm`: a batch of strided matrix products, the workhorse of the WebGPU trainer (LoRA
 * products, attention's scores and values, and the backward pass through a frozen weight):
 *
 * ```
 * C[z](i, j) (+)= alpha · Σ_k A[z](i, k) · B[z](k, j)      i < m, j < n, k < K, z < batch
 * A[z](i, k) = a[a_off + (z / a_div)·a_z + i·a_i + k·a_k]
 * B[z](k, j) = w_at(b_off + (z / b_div)·b_z + k·b_k + j·b_j)
 * C[z](i, j) = c[c_off + z·c_z + i·c_i + j]
 * ```
 *
 * Strides make transposes and column slices free (a head of `q`, `Kᵀ`, a module's columns of
 * `q | k | v`); the divisors let grouped-query heads share a key head. `B` is f32 activations or
 * a stored weight (f16, bf16, ggml's quantized blocks, read element by element with the
 * inference engine's `w_at`), so `dy · W` runs on the weights as they were uploaded.
 *
 * A workgroup of 16 × 16 threads computes a tile of `C` (64 × 64, each thread 4 × 4 of it; or
 * 16 × 16 on software adapters), staging slices of 16 of `k` of both operands in workgroup
 * memory. Dispatch `(ceil(n / tile), ceil(m / tile), batch)`.
 *
 * @module
 */

import type { GgmlTypeName } from "../../../infer/formats/ggml_types.ts";
import { weightAccess, weightElement } from "../../../infer/engine/webgpu/kernels/weight_access.ts";
import { checkElements, checkShape, type KernelCall } from "../../../infer/engine/webgpu/kernels/kernel.ts";
import { ParamStruct } from "../../../infer/engine/webgpu/kernels/params.ts";

const GEMM_PARAMS = new ParamStruct("Params", {
  m: "u32",
  n: "u32",
  k: "u32",
  a_off: "u32",
  a_z: "u32",
  a_div: "u32",
  a_i: "u32",
  a_k: "u32",
  b_off: "u32",
  b_z: "u32",
  b_div: "u32",
  b_k: "u32",
  b_j: "u32",
  c_off: "u32",
  c_z: "u32",
  c_i: "u32",
  alpha: "f32",
  accumulate: "flag",
});

/** Values of `k` staged per pass. */
const SLICE = 16;

/**
 * The tile of `C` one workgroup of 16 × 16 computes: 64 × 64 (`wide`, each thread 4 × 4 in
 * registers: GPUs) or 16 × 16 (each thread one value: software adapters, whose compiler takes
 * tens of seconds over the wide tile's unrolled 4 × 4 loop and gains nothing from it).
 *
 * @param wide the wide tile
 * @returns the tile's edge
 *
 * @example
 * ```ts
 * import { gemmTile } from "./gemm.ts";
 * if (gemmTile(true) !== 64 || gemmTile(false) !== 16) throw new Error();
 * ```
 */
export function gemmTile(wide: boolean): number {
  return wide ? 64 : 16;
}

/**
 * WGSL of the product for a format of `B`.
 *
 * @param bType `f32` for activations, or a weight format
 * @param wide the 64 × 64 tile (default) or the 16 × 16 one ({@linkcode gemmTile})
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { gemmWgsl } from "./gemm.ts";
 * if (!gemmWgsl("q4_k").includes("k_scale_min") || !gemmWgsl("f32", false).includes("var<workgroup> as_")) throw new Error();
 * ```
 */
export function gemmWgsl(bType: GgmlTypeName, wide = true): string {
  const tile = gemmTile(wide);
  const compute = wide
    ? `    for (var kk = 0u; kk < BK; kk++) {
      let bj = vec4<f32>(bs[kk * S + lid.x], bs[kk * S + lid.x + 16u], bs[kk * S + lid.x + 32u],
        bs[kk * S + lid.x + 48u]);
      for (var ii = 0u; ii < 4u; ii++) { acc[ii] += as_[kk * S + lid.y + 16u * ii] * bj; }
    }`
    : `    for (var kk = 0u; kk < BK; kk++) { acc += as_[kk * S + lid.y] * bs[kk * S + lid.x]; }`;
  const store = wide
    ? `  for (var ii = 0u; ii < 4u; ii++) {
    let i = i0 + lid.y + 16u * ii;
    if (i >= p.m) { break; }
    for (var jj = 0u; jj < 4u; jj++) {
      let j = j0 + lid.x + 16u * jj;
      if (j < p.n) { put(cb + i * p.c_i + j, acc[ii][jj]); }
    }
  }`
    : `  let i = i0 + lid.y;
  let j = j0 + lid.x;
  if (i < p.m && j < p.n) { put(cb + i * p.c_i + j, acc); }`;
  return `${GEMM_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<${weightElement(bType)}>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
${weightAccess(bType)}
const T = ${tile}u;
const BK = ${SLICE}u;
const S = ${tile + 2}u;
var<workgroup> as_: array<f32, ${(tile + 2) * SLICE}>;
var<workgroup> bs: array<f32, ${(tile + 2) * SLICE}>;
fn put(at: u32, sum: f32) {
  let v = p.alpha * sum;
  if (p.accumulate == 1u) { c[at] += v; } else { c[at] = v; }
}
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) l: u32) {
  let z = wg.z;
  let i0 = wg.y * T;
  let j0 = wg.x * T;
  let ab = p.a_off + (z / p.a_div) * p.a_z;
  let bb = p.b_off + (z / p.b_div) * p.b_z;
  ${wide ? "var acc: array<vec4<f32>, 4>;" : "var acc = 0.0;"}
  for (var k0 = 0u; k0 < p.k; k0 += BK) {
    for (var e = l; e < T * BK; e += 256u) {
      let r = e / BK;
      let kk = e % BK;
      var av = 0.0;
      if (i0 + r < p.m && k0 + kk < p.k) { av = a[ab + (i0 + r) * p.a_i + (k0 + kk) * p.a_k]; }
      as_[kk * S + r] = av;
      var bv = 0.0;
      if (j0 + r < p.n && k0 + kk < p.k) { bv = w_at(bb + (k0 + kk) * p.b_k + (j0 + r) * p.b_j); }
      bs[kk * S + r] = bv;
    }
    workgroupBarrier();
${compute}
    workgroupBarrier();
  }
  let cb = p.c_off + z * p.c_z;
${store}
}`;
}

/** One strided operand: where element `(row, col)` of batch item `z` lies. */
export interface Strided {
  /** The buffer (f32, or for `B` a weight in `type`). */
  readonly buffer: GPUBuffer;
  /** Element offset of item 0's `(0, 0)`. */
  readonly off?: number;
  /** Stride between batch items. */
  readonly z?: number;
  /** Items sharing one operand (grouped-query heads); default 1. */
  readonly div?: number;
  /** Stride between rows. */
  readonly row: number;
  /** Stride between columns. */
  readonly col: number;
}

/** What one {@linkcode gemm} computes. */
export interface GemmArgs {
  /** Rows of `C`. */
  readonly m: number;
  /** Columns of `C`. */
  readonly n: number;
  /** The summed dimension. */
  readonly k: number;
  /** Batch items (default 1). */
  readonly batch?: number;
  /** `A`, `m × k` per item. */
  readonly a: Strided;
  /** `B`, `k × n` per item. */
  readonly b: Strided;
  /** `B`'s format (default `f32`). */
  readonly bType?: GgmlTypeName;
  /** `C`, `m × n` per item, rows `row` apart (columns adjacent). */
  readonly c: { readonly buffer: GPUBuffer; readonly off?: number; readonly z?: number; readonly row: number };
  /** Factor of the product (default 1). */
  readonly alpha?: number;
  /** Add to `C` rather than overwrite it. */
  readonly accumulate?: boolean;
  /** The tile: wide (64 × 64, the default) or not (16 × 16), see {@linkcode gemmTile}. */
  readonly wide?: boolean;
}

/**
 * The `gemm` kernel call.
 *
 * @param g shapes, operands, factor
 * @returns the call (no step uniform)
 * @throws {RangeError} on an empty shape, a grid past WebGPU's limit, or an f32 operand too small for it
 *
 * @example
 * ```ts
 * import { gemm } from "./gemm.ts";
 * const buf = { size: 4096 } as GPUBuffer;
 * const call = gemm({ m: 100, n: 3, k: 8, batch: 2, a: { buffer: buf, row: 8, col: 1 }, b: { buffer: buf, row: 3, col: 1 },
 *   c: { buffer: buf, row: 3 } });
 * if (call.grid(0, 0).join() !== "1,2,2") throw new Error();
 * ```
 */
export function gemm(g: GemmArgs): KernelCall {
  const batch = g.batch ?? 1, wide = g.wide ?? true, tile = gemmTile(wide);
  const grid: [number, number, number] = [Math.ceil(g.n / tile), Math.ceil(g.m / tile), batch];
  checkShape("gemm", g.m > 0 && g.n > 0 && g.k > 0 && batch > 0, `empty product ${g.m}×${g.k}·${g.k}×${g.n}`);
  checkShape("gemm", grid.every((x) => x <= 65535), `grid ${grid.join("×")} exceeds 65535`);
  // The last element each f32 operand is read or written at (a weight's blocks are checked where it is uploaded).
  const last = (o: Strided, rows: number, cols: number) =>
    (o.off ?? 0) + Math.floor((batch - 1) / (o.div ?? 1)) * (o.z ?? 0) + (rows - 1) * o.row + (cols - 1) * o.col;
  checkElements("gemm", "a", g.a.buffer, last(g.a, g.m, g.k) + 1);
  if ((g.bType ?? "f32") === "f32") checkElements("gemm", "b", g.b.buffer, last(g.b, g.k, g.n) + 1);
  checkElements("gemm", "c", g.c.buffer, last({ ...g.c, col: 1 }, g.m, g.n) + 1);
  return {
    role: "gemm",
    code: gemmWgsl(g.bType ?? "f32", wide),
    params: GEMM_PARAMS.pack({
      m: g.m,
      n: g.n,
      k: g.k,
      a_off: g.a.off ?? 0,
      a_z: g.a.z ?? 0,
      a_div: g.a.div ?? 1,
      a_i: g.a.row,
      a_k: g.a.col,
      b_off: g.b.off ?? 0,
      b_z: g.b.z ?? 0,
      b_div: g.b.div ?? 1,
      b_k: g.b.row,
      b_j: g.b.col,
      c_off: g.c.off ?? 0,
      c_z: g.c.z ?? 0,
      c_i: g.c.row,
      alpha: g.alpha ?? 1,
      accumulate: g.accumulate === true,
    }),
    step: false,
    buffers: [g.a.buffer, g.b.buffer, g.c.buffer],
    grid: () => grid,
  };
}
