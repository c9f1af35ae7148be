/**
 * Kernel `matvec` (decode): `y[t, row] (+)= W[row] · x[t] (+ b)` for the tokens of a decode
 * step: one for a single session's step, one per session for a batched step (`n` rows of `x`,
 * session `i`'s token in row `i`; 1 with `one_token`); bindings and parameters are `matmul`'s
 * (`MATMUL_PARAMS`, stored as token `t` with `y_pos`, `accumulate`, bias), so a decode step swaps
 * one kernel for the other.
 *
 * Tokens are taken 4 at a time (a tile): each unit of weights of the workgroup's rows is read
 * once (`unit_load`) and multiplied with each token of the tile (`unit_dot`), then the tile's
 * tokens are reduced one after another. Every token goes through the same code (the count is a
 * runtime value, absent tokens of a tile skipped), so its result is the same bits whatever the
 * count: a batched step gives each session exactly its own step's products.
 *
 * A workgroup of 256 threads is split into lane groups of `L` threads (256 for long rows; fewer,
 * down to 32, where a row has fewer units of work, so that no thread idles); each group
 * computes 4 rows: its threads stride over `k` in units of 16 bytes of weights, adjacent
 * threads reading adjacent units (coalesced), for all 4 rows per iteration (4 independent loads
 * in flight per thread), accumulating in f32; the group then adds up its `L` partial sums of
 * each row in workgroup memory. 256 threads rather than `matmul`'s 64: with one token the
 * weights are all the work, and wide workgroups keep more loads in flight. The grid is
 * `ceil(rows / (4 · 256 / L))`, within `matmul`'s limit of rows per chunk (4 per workgroup).
 *
 * Units, by format:
 * - `f32`: one `vec4<f32>` (4 values); `k` a multiple of 4.
 * - `f16`, `bf16`: one `vec4<u32>` (8 values); `k` a multiple of 8.
 * - `q4_k`: an eighth of a block (blocks are 144 bytes, 16-byte aligned): the block's header
 *   (`d`, `dmin`, scales) and one `vec4<u32>` of its nibbles (32 values of two sub-blocks).
 * - `q6_k`: a quarter of a block (64 values): 16 bytes each of `ql` (twice) and `qh`.
 * - `q8_0`: half a block (16 values).
 *   `q6_k` (210 bytes) and `q8_0` (34) blocks are only 2-byte aligned, so their 16-byte pieces
 *   are read as 32-bit words (the scales through `quant_access.ts`), still adjacent per thread.
 *
 * Other formats and shapes (`q4_0`, `q5_0`, `q5_k`, `k` not a multiple of the unit) fall back
 * to `matmul`: {@linkcode matvec} returns its call.
 *
 * @module
 */

import type { GgmlTypeName } from "../../../formats/ggml_types.ts";
import { checkElements, type KernelCall } from "./kernel.ts";
import { matmul, MATMUL_PARAMS, type MatmulArgs, matmulParams, matmulStoreWgsl } from "./matmul.ts";
import { quantAccess } from "./quant_access.ts";
import { STEP } from "./step.ts";
import { wordPair } from "./weight_access.ts";

/** The kernel of decode steps' products (one token per session): `matvec`, or `matmul` (with `decode`). */
export type DecodeKernel = "matvec" | "matmul";

/** Rows per workgroup. */
export const MATVEC_ROWS = 4;
/** Threads per workgroup. */
export const MATVEC_THREADS = 256;
/** Tokens per tile: each unit of weights is read once for up to this many tokens. */
export const MATVEC_TOKENS = 4;
/** The fewest threads that share a row. */
const MIN_LANES = 32;

/** The four bytes of a word as a `vec4<f32>` (byte 0 first). */
const NIBBLES = `
fn nibbles(v: u32) -> vec4<f32> { return vec4<f32>(vec4<u32>(v, v >> 8u, v >> 16u, v >> 24u) & vec4<u32>(255u)); }`;

/** The 16 bytes at byte `o` (2-byte aligned) of a `u32` buffer. */
const PIECE = `
fn piece(o: u32) -> vec4<u32> {
  let i = o >> 2u;
  let a = vec4<u32>(w[i], w[i + 1u], w[i + 2u], w[i + 3u]);
  if ((o & 2u) == 0u) { return a; }
  return (a >> vec4<u32>(16u)) | (vec4<u32>(a.yzw, w[i + 4u]) << vec4<u32>(16u));
}`;

/**
 * Per format: the storage element of `w`, values per unit of work, and the unit's code: type
 * `U` (a unit's weights as read, with its scales), `unit_load(row, u) -> U` (the reads from
 * `w`) and `unit_dot(q: U, u, xb) -> f32` (its dot product with the token whose `x` starts at
 * `vec4` `xb`), so that a unit's weights are read once for the tokens of a tile.
 */
const FORMATS: Partial<Record<GgmlTypeName, { element: string; values: number; code: string }>> = {
  f32: {
    element: "vec4<f32>",
    values: 4,
    code: `
alias U = vec4<f32>;
fn unit_load(row: u32, u: u32) -> U { return w[row * (p.k / 4u) + u]; }
fn unit_dot(q: U, u: u32, xb: u32) -> f32 { return dot(q, x[xb + u]); }`,
  },
  f16: { element: "vec4<u32>", values: 8, code: halvesDot("f16") },
  bf16: { element: "vec4<u32>", values: 8, code: halvesDot("bf16") },
  q4_k: {
    element: "vec4<u32>",
    values: 32,
    code: `${NIBBLES}
fn scale_byte(h: vec4<u32>, i: u32) -> u32 { return (h[1u + i / 4u] >> (8u * (i % 4u))) & 0xffu; }
fn scale_min(h: vec4<u32>, s: u32) -> vec2<f32> {
  if (s < 4u) { return vec2<f32>(f32(scale_byte(h, s) & 63u), f32(scale_byte(h, s + 4u) & 63u)); }
  let sc = (scale_byte(h, s + 4u) & 15u) | ((scale_byte(h, s - 4u) >> 6u) << 4u);
  let m = (scale_byte(h, s + 4u) >> 4u) | ((scale_byte(h, s) >> 6u) << 4u);
  return vec2<f32>(f32(sc), f32(m));
}
struct U { head: vec4<u32>, q: vec4<u32> };
fn unit_load(row: u32, u: u32) -> U {
  let blk = (row * (p.k / 256u) + u / 8u) * 9u;
  return U(w[blk], w[blk + 1u + u % 8u]);
}
fn unit_dot(wu: U, u: u32, xb: u32) -> f32 {
  let bi = u / 8u;
  let j = u % 8u;
  let g = j / 2u;
  let head = wu.head;
  let q = wu.q;
  let xo = xb + (bi * 256u + 64u * g + 16u * (j % 2u)) / 4u;
  var lo = 0.0; var hi = 0.0; var xl = 0.0; var xh = 0.0;
  for (var i = 0u; i < 4u; i++) {
    let a = x[xo + i];
    let b = x[xo + 8u + i];
    lo += dot(nibbles(q[i] & 0x0f0f0f0fu), a);
    hi += dot(nibbles((q[i] >> 4u) & 0x0f0f0f0fu), b);
    xl += a.x + a.y + a.z + a.w;
    xh += b.x + b.y + b.z + b.w;
  }
  let sm0 = scale_min(head, 2u * g);
  let sm1 = scale_min(head, 2u * g + 1u);
  let dm = unpack2x16float(head.x);
  return dm.x * (sm0.x * lo + sm1.x * hi) - dm.y * (sm0.y * xl + sm1.y * xh);
}`,
  },
  q6_k: {
    element: "u32",
    values: 64,
    code: `${quantAccess("q6_k")}${PIECE}${NIBBLES}
struct U { ql0: vec4<u32>, ql1: vec4<u32>, qh: vec4<u32>, scales: vec4<f32>, d: f32 };
fn unit_load(row: u32, u: u32) -> U {
  let h = (u % 4u) / 2u;
  let lq = u % 2u;
  let b = (row * (p.k / 256u) + u / 4u) * 210u;
  let sc = b + 192u + 8u * h + lq;
  return U(
    piece(b + 64u * h + 16u * lq),
    piece(b + 64u * h + 32u + 16u * lq),
    piece(b + 128u + 32u * h + 16u * lq),
    vec4<f32>(sbyte_at(sc), sbyte_at(sc + 2u), sbyte_at(sc + 4u), sbyte_at(sc + 6u)),
    half_at(b + 208u),
  );
}
fn unit_dot(wu: U, u: u32, xb: u32) -> f32 {
  let bi = u / 4u;
  let h = (u % 4u) / 2u;
  let lq = u % 2u;
  let ql0 = wu.ql0;
  let ql1 = wu.ql1;
  let qh = wu.qh;
  let xo = xb + (bi * 256u + 128u * h + 16u * lq) / 4u;
  var s = vec4<f32>(0.0);
  for (var i = 0u; i < 4u; i++) {
    let l0 = ql0[i];
    let l1 = ql1[i];
    let hh = qh[i];
    s.x += dot(nibbles((l0 & 0x0f0f0f0fu) | ((hh & 0x03030303u) << 4u)) - 32.0, x[xo + i]);
    s.y += dot(nibbles((l1 & 0x0f0f0f0fu) | (((hh >> 2u) & 0x03030303u) << 4u)) - 32.0, x[xo + 8u + i]);
    s.z += dot(nibbles(((l0 >> 4u) & 0x0f0f0f0fu) | (((hh >> 4u) & 0x03030303u) << 4u)) - 32.0, x[xo + 16u + i]);
    s.w += dot(nibbles(((l1 >> 4u) & 0x0f0f0f0fu) | (((hh >> 6u) & 0x03030303u) << 4u)) - 32.0, x[xo + 24u + i]);
  }
  return wu.d * dot(s, wu.scales);
}`,
  },
  q8_0: {
    element: "u32",
    values: 16,
    code: `${quantAccess("q8_0")}${PIECE}
struct U { q: vec4<u32>, d: f32 };
fn unit_load(row: u32, u: u32) -> U {
  let b = (row * (p.k / 32u) + u / 2u) * 34u;
  return U(piece(b + 2u + 16u * (u % 2u)), half_at(b));
}
fn unit_dot(wu: U, u: u32, xb: u32) -> f32 {
  let bi = u / 2u;
  let q = wu.q;
  let xo = xb + (bi * 32u + 16u * (u % 2u)) / 4u;
  var s = 0.0;
  for (var i = 0u; i < 4u; i++) {
    let v = q[i];
    let sv = bitcast<vec4<i32>>(vec4<u32>(v << 24u, v << 16u, v << 8u, v)) >> vec4<u32>(24u);
    s += dot(vec4<f32>(sv), x[xo + i]);
  }
  return wu.d * s;
}`,
  },
};

/** `unit_dot` of 16-bit weights: 8 values from one `vec4<u32>`, two `vec4<f32>` of `x`. */
function halvesDot(dtype: "f16" | "bf16"): string {
  return `
fn pair(word: u32) -> vec2<f32> { return ${wordPair(dtype)}; }
alias U = vec4<u32>;
fn unit_load(row: u32, u: u32) -> U { return w[row * (p.k / 8u) + u]; }
fn unit_dot(q: U, u: u32, xb: u32) -> f32 {
  let a = x[xb + 2u * u];
  let b = x[xb + 2u * u + 1u];
  return dot(pair(q.x), a.xy) + dot(pair(q.y), a.zw) + dot(pair(q.z), b.xy) + dot(pair(q.w), b.zw);
}`;
}

/**
 * A format's unit code for kernels built like `matvec`: the storage element of `w`, values per
 * unit, and WGSL declaring `U`, `unit_load(row, u)` (reading `w`) and `unit_dot(q, u, xb)`.
 *
 * @param dtype the weights' format
 * @returns the unit code, or `undefined` for a format `matvec` leaves to `matmul`
 *
 * @example
 * ```ts
 * import { matvecUnits } from "./matvec.ts";
 * if (matvecUnits("q8_0")?.values !== 16 || matvecUnits("q4_0") !== undefined) throw new Error();
 * ```
 */
export function matvecUnits(dtype: GgmlTypeName): { element: string; values: number; code: string } | undefined {
  return FORMATS[dtype];
}

/**
 * Threads that share a row of `k` values of a format: 256 for long rows, fewer (a power of two,
 * down to 32) where a row has fewer units of work, so that no thread idles.
 *
 * @param dtype the weights' format (one {@linkcode matvecFits} accepts)
 * @param k values per row
 * @returns the lane count
 *
 * @example
 * ```ts
 * import { matvecLanes } from "./matvec.ts";
 * if (matvecLanes("f16", 16) !== 32 || matvecLanes("f32", 4096) !== 256) throw new Error();
 * ```
 */
export function matvecLanes(dtype: GgmlTypeName, k: number): number {
  const units = k / FORMATS[dtype]!.values;
  return Math.min(MATVEC_THREADS, Math.max(MIN_LANES, 2 ** Math.ceil(Math.log2(units))));
}

/**
 * WGSL unit code with every function, struct and alias it declares renamed with `suffix`, and
 * its reads of `w` made reads of `buffer`: a second copy of a format's unit code (see
 * {@linkcode matvecUnits}) over another matrix, for kernels that read several.
 *
 * @param code the unit code
 * @param suffix appended to each declared name
 * @param buffer the matrix it reads instead of `w`
 * @returns the renamed code
 *
 * @example
 * ```ts
 * import { matvecUnits, renamedUnits } from "./matvec.ts";
 * const code = renamedUnits(matvecUnits("q8_0")!.code, "_up", "wu");
 * if (!code.includes("fn unit_load_up(") || !code.includes("wu[") || /\bw\[/.test(code)) throw new Error();
 * ```
 */
export function renamedUnits(code: string, suffix: string, buffer: string): string {
  let out = code;
  for (const m of code.matchAll(/\b(?:fn|struct|alias)\s+(\w+)/g)) {
    out = out.replace(new RegExp(`\\b${m[1]}\\b`, "g"), m[1] + suffix);
  }
  return out.replace(/\bw\[/g, `${buffer}[`);
}

/**
 * Whether `matvec` computes rows of `k` values of a format (else {@linkcode matvec} falls back
 * to `matmul`).
 *
 * @param dtype the weights' format
 * @param k values per row
 * @returns true for `f32`, `f16`, `bf16`, `q4_k`, `q6_k`, `q8_0` with `k` a multiple of the unit
 *
 * @example
 * ```ts
 * import { matvecFits } from "./matvec.ts";
 * if (!matvecFits("f16", 64) || matvecFits("f16", 60) || matvecFits("q4_0", 64)) throw new Error();
 * ```
 */
export function matvecFits(dtype: GgmlTypeName, k: number): boolean {
  const f = FORMATS[dtype];
  const block = dtype === "q4_k" || dtype === "q6_k" ? 256 : dtype === "q8_0" ? 32 : f?.values ?? 0;
  return f !== undefined && k > 0 && k % block === 0;
}

/**
 * WGSL of the one-token product for a weight format, with or without bias.
 *
 * @param dtype the weights' format (one {@linkcode matvecFits} accepts)
 * @param bias whether a bias is bound
 * @param lanes threads sharing a row (a power of two, 32 to 256; default 256)
 * @returns WGSL source
 * @throws {RangeError} for a format without a matvec kernel
 *
 * @example
 * ```ts
 * import { matvecWgsl } from "./matvec.ts";
 * if (!matvecWgsl("bf16", true).includes("array<vec4<u32>>")) throw new Error();
 * if (!matvecWgsl("q6_k", false, 64).includes("const L = 64u;")) throw new Error();
 * ```
 */
export function matvecWgsl(dtype: GgmlTypeName, bias: boolean, lanes: number = MATVEC_THREADS): string {
  const f = FORMATS[dtype];
  if (!f) throw new RangeError(`kernel matvec: no kernel for ${dtype}`);
  return `${STEP.wgsl}${MATMUL_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> w: array<${f.element}>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${bias ? "@group(0) @binding(5) var<storage, read> bias: array<f32>;" : ""}
${f.code}
${matmulStoreWgsl(bias)}
const R = ${MATVEC_ROWS}u;
const T = ${MATVEC_TOKENS}u;
const WG = ${MATVEC_THREADS}u;
const L = ${lanes}u;
var<workgroup> part: array<vec4<f32>, WG>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let lane = l % L;
  let r0 = (wg.x * (WG / L) + l / L) * R;
  let last = p.rows - 1u;
  let units = p.k / ${f.values}u;
  let tokens = select(step.n, 1u, p.one_token == 1u);
  for (var t0 = 0u; t0 < tokens; t0 += T) {
    let nt = min(T, tokens - t0);
    var acc = array<vec4<f32>, ${MATVEC_TOKENS}>();
    for (var u = lane; u < units; u += L) {
      let q0 = unit_load(min(r0, last), u);
      let q1 = unit_load(min(r0 + 1u, last), u);
      let q2 = unit_load(min(r0 + 2u, last), u);
      let q3 = unit_load(min(r0 + 3u, last), u);
      for (var j = 0u; j < T; j++) {
        if (j < nt) {
          let xb = (t0 + j) * (p.k / 4u);
          acc[j] += vec4<f32>(unit_dot(q0, u, xb), unit_dot(q1, u, xb), unit_dot(q2, u, xb), unit_dot(q3, u, xb));
        }
      }
    }
    for (var j = 0u; j < T; j++) {
      if (j < nt) {
        part[l] = acc[j];
        workgroupBarrier();
        for (var s = L / 2u; s > 0u; s >>= 1u) {
          if (lane < s) { part[l] += part[l + s]; }
          workgroupBarrier();
        }
        if (lane < R && r0 + lane < p.rows) { store(r0 + lane, t0 + j, part[l - lane][lane]); }
        workgroupBarrier();
      }
    }
  }
}`;
}

/**
 * The `matvec` kernel for one chunk and the step's tokens, its shapes checked; `matmul`'s call
 * (with `decode`) where {@linkcode matvecFits} refuses the format or `k`.
 *
 * @param a buffers and shapes, as for `matmul` (`strategy` is the fallback's)
 * @returns the call
 * @throws {RangeError} on rows past the output row, too many rows for one grid, or a buffer too small
 *
 * @example
 * ```ts
 * import { matvec } from "./matvec.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const call = matvec({ w: buf(8 * 16 * 2), dtype: "f16", k: 16, rowStart: 0, rows: 8, x: buf(2 * 16 * 4), xRows: 2,
 *   y: buf(2 * 8 * 4), yRows: 2, yStride: 8, strategy: "cooperative" });
 * if (call.grid(1, 1).join() !== "1,1,1") throw new Error(); // 2 units a row: lanes of 32, 32 rows a workgroup
 * ```
 */
export function matvec(a: MatmulArgs): KernelCall {
  if (!matvecFits(a.dtype, a.k)) return matmul({ ...a, decode: true });
  checkElements("matvec", "x", a.x, (a.oneToken ? 1 : a.xRows) * a.k);
  const lanes = matvecLanes(a.dtype, a.k);
  const groups = Math.ceil(a.rows / (MATVEC_ROWS * MATVEC_THREADS / lanes));
  return {
    role: "matvec",
    code: matvecWgsl(a.dtype, a.bias !== undefined, lanes),
    // At most cooperative matmul's grid (4 rows per workgroup): its checks hold for this one.
    params: matmulParams("matvec", { ...a, strategy: "cooperative" }),
    step: true,
    buffers: a.bias ? [a.x, a.w, a.y, a.bias] : [a.x, a.w, a.y],
    grid: () => [groups, 1, 1],
  };
}
