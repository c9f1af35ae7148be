/**
 * Kernel `matmul_tiled` (the prefill product of many tokens): `y[t, row] (+)= W[row] · x[t] (+ b)`,
 * with the bindings, parameters and results of `matmul` (`./matmul.ts`), shared-memory tiled.
 *
 * A workgroup of 16 × 16 threads computes a tile of 64 rows × 64 tokens, each thread a 4 × 4
 * block in registers (rows `tx + 16i`, tokens `ty + 16j`, so its stores and workgroup reads
 * are adjacent across threads). The workgroup walks `k` in slices of 16: it stages the slice
 * of its 64 weight rows, widened to f32 (16-bit pairs unpacked, quantized blocks decoded with
 * `w_pair`), and of its 64 activation rows in workgroup memory (8.25 KiB, under WebGPU's
 * 16 KiB minimum), then each thread multiplies from there. Each weight is read from memory once per
 * 64 tokens rather than once per 4. Rows, tokens and `k` need not be multiples of the tile:
 * what lies outside is staged as zero and not stored. Every format `w_pair` reads works
 * (f32, f16, bf16, the quantized blocks: rows are whole blocks).
 *
 * Dispatch `(ceil(rows / 64), ceil(tokens / 64))`; workgroups past the step's tokens return at
 * once.
 *
 * @module
 */

import type { GgmlTypeName } from "../../../formats/ggml_types.ts";
import { checkElements, checkShape, type Grid, type KernelCall } from "./kernel.ts";
import { type MatmulArgs, matmulBindingsWgsl, matmulParams } from "./matmul.ts";

/** Which kernel computes the products of multi-token (prefill) steps: `tiled` or `matmul`. */
export type PrefillKernel = "tiled" | "matmul";

/** Rows of a tile. */
export const TILED_ROWS = 64;
/** Tokens of a tile (as many as rows: one loop stages both). */
export const TILED_TOKENS = 64;
/** Values of `k` staged per pass. */
export const TILED_K = 16;

/**
 * WGSL of the tiled product for a weight format, with or without bias.
 *
 * @param dtype the weights' format
 * @param bias whether a bias is bound
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { matmulTiledWgsl } from "./matmul_tiled.ts";
 * if (!matmulTiledWgsl("bf16", true).includes("var<workgroup> ws")) throw new Error();
 * if (!matmulTiledWgsl("q4_k", false).includes("k_scale_min")) throw new Error();
 * ```
 */
export function matmulTiledWgsl(dtype: GgmlTypeName, bias: boolean): string {
  return `${matmulBindingsWgsl(dtype, bias)}
const TR = ${TILED_ROWS}u;
const TT = ${TILED_TOKENS}u;
const BK = ${TILED_K}u;
// Slice element kk of tile row r at ws[kk * S + r]; of tile token t at xs[kk * S + t]. The stride S, two past
// the tile, spreads the staging stores (4 rows × 8 pairs per 32 threads) over all 32 banks.
const S = ${TILED_ROWS + 2}u;
var<workgroup> ws: array<f32, ${(TILED_ROWS + 2) * TILED_K}>;
var<workgroup> xs: array<f32, ${(TILED_TOKENS + 2) * TILED_K}>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) l: u32) {
  let tokens = select(step.n, 1u, p.one_token == 1u);
  let r0 = wg.x * TR;
  let t0 = wg.y * TT;
  if (t0 >= tokens) { return; }
  let half_k = p.k / 2u;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < p.k; k0 += BK) {
    // 64 rows (and tokens: TR = TT) × 8 pairs of the slice: two pairs each of weights and of activations.
    for (var i = l; i < TR * BK / 2u; i += 256u) {
      let r = i / (BK / 2u);
      let kk = 2u * (i % (BK / 2u));
      var wp = vec2<f32>(0.0);
      if (r0 + r < p.rows && k0 + kk < p.k) { wp = w_pair((r0 + r) * half_k + (k0 + kk) / 2u); }
      ws[kk * S + r] = wp.x;
      ws[(kk + 1u) * S + r] = wp.y;
      var xp = vec2<f32>(0.0);
      if (t0 + r < tokens && k0 + kk < p.k) {
        let o = (t0 + r) * p.k + k0 + kk;
        xp = vec2<f32>(x[o], x[o + 1u]);
      }
      xs[kk * S + r] = xp.x;
      xs[(kk + 1u) * S + r] = xp.y;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let a = vec4<f32>(ws[kk * S + lid.x], ws[kk * S + lid.x + 16u], ws[kk * S + lid.x + 32u],
        ws[kk * S + lid.x + 48u]);
      for (var j = 0u; j < 4u; j++) { acc[j] += a * xs[kk * S + lid.y + 16u * j]; }
    }
    workgroupBarrier();
  }
  for (var j = 0u; j < 4u; j++) {
    let t = t0 + lid.y + 16u * j;
    if (t >= tokens) { break; }
    for (var i = 0u; i < 4u; i++) {
      let r = r0 + lid.x + 16u * i;
      if (r < p.rows) { store(r, t, acc[j][i]); }
    }
  }
}`;
}

/**
 * The grid of `matmul_tiled` over one chunk: `(ceil(rows / 64), ceil(tokens / 64))`, one token
 * row with `oneToken`.
 *
 * @param rows rows in the chunk
 * @param oneToken whether only the last token is computed
 * @returns the grid
 *
 * @example
 * ```ts
 * import { matmulTiledGrid } from "./matmul_tiled.ts";
 * if (matmulTiledGrid(100, false)(65, 65).join() !== "2,2,1") throw new Error();
 * if (matmulTiledGrid(100, true)(65, 65).join() !== "2,1,1") throw new Error();
 * ```
 */
export function matmulTiledGrid(rows: number, oneToken: boolean): Grid {
  return (n) => [Math.ceil(rows / TILED_ROWS), oneToken ? 1 : Math.ceil(n / TILED_TOKENS), 1];
}

/**
 * The `matmul_tiled` kernel for one chunk, its shapes checked as `matmul` checks them.
 *
 * @param a buffers and shapes (`strategy` is not read: the tiling is the strategy)
 * @returns the call
 * @throws {RangeError} on an odd `k`, rows past the output row, too many rows for one grid, or a buffer too small
 *
 * @example
 * ```ts
 * import { matmulTiled } from "./matmul_tiled.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const call = matmulTiled({ w: buf(8 * 16 * 2), dtype: "f16", k: 16, rowStart: 0, rows: 8, x: buf(2 * 16 * 4),
 *   xRows: 2, y: buf(2 * 8 * 4), yRows: 2, yStride: 8 });
 * if (call.buffers.length !== 3 || call.grid(2, 2).join() !== "1,1,1") throw new Error();
 * ```
 */
export function matmulTiled(a: Omit<MatmulArgs, "strategy"> & Partial<Pick<MatmulArgs, "strategy">>): KernelCall {
  checkShape("matmul_tiled", a.k > 0 && a.k % 2 === 0, `k must be even, got ${a.k}`);
  checkElements("matmul_tiled", "x", a.x, (a.oneToken ? 1 : a.xRows) * a.k);
  return {
    role: "matmul",
    code: matmulTiledWgsl(a.dtype, a.bias !== undefined),
    // 64 rows per workgroup, as the `rows` strategy: the same limit on rows per grid.
    params: matmulParams("matmul_tiled", { ...a, strategy: "rows" }),
    step: true,
    buffers: a.bias ? [a.x, a.w, a.y, a.bias] : [a.x, a.w, a.y],
    grid: matmulTiledGrid(a.rows, a.oneToken === true),
  };
}
