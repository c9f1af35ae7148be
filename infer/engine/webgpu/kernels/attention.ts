/**
 * Kernel `attention`: one token's attention for one query head in one workgroup, fused (RoPE on
 * the query, scores, softmax, values; what `rope`, `attn_scores`, `softmax` and `attn_values`
 * compute in four dispatches). For token `t` (row `r = row0 + t`, position `pos = pos0 + t`,
 * causal: keys `j ≤ pos`, and `j > pos − window` with a sliding window) and head `h` (key/value
 * head `h / group`):
 * `o[r, h] = Σ_j softmax_j(rope(q[r, h], pos) · k[j] / √d (+ slope[h] · (j − pos))) · v[j]`.
 *
 * 64 threads, three passes: (1) the query is rotated into workgroup memory (rotate-half, the
 * `rope` table, skipped with ALiBi); thread `l` scores keys `j ≡ l (mod 64)`, into the scratch
 * row `s[h, r]`, and keeps their max; a tree reduction gives the row's max. (2) Each thread
 * turns its scores into `exp(s − max)` and sums them; a tree reduction gives the sum. (3)
 * Thread `l` sums `e_j · v[j, i]` over `j = 0 ..= pos` in order for elements `i ≡ l (mod 64)`,
 * and writes it divided by the sum. The order of every sum depends on `pos` only, never on
 * the token count or the batch, so a token gets the same bits in a batched decode step as in
 * its own step.
 *
 * Shapes: `q: [batch, heads, d] f32` (not rotated in place); `table: [context, d/2]
 * vec2<f32>` (cos, sin) (any buffer with ALiBi); `k`, `v: [context, kv_heads, d]` f32 or f16
 * (the layer's caches); `s: [heads, batch, context] f32` (scratch); `slopes: [heads] f32`
 * (ALiBi); `o: [batch, heads, d] f32`. The head width `d` is a constant of the WGSL.
 * Dispatch `(heads, n)`.
 *
 * @module
 */

import { checkElements, checkShape, type Grid, type KernelCall } from "./kernel.ts";
import { checkKv, kvAccess, type KvFormat } from "./kv_store.ts";
import { ParamStruct } from "./params.ts";
import { STEP } from "./step.ts";

/**
 * How a layer's attention is dispatched: `fused` (this kernel, one dispatch) or `split` (`rope`
 * on the queries, `attn_scores`, `softmax`, `attn_values`).
 */
export type AttentionKernel = "fused" | "split";

/**
 * Parameters of `attention`.
 *
 * @example
 * ```ts
 * import { ATTENTION_PARAMS } from "./attention.ts";
 * if (ATTENTION_PARAMS.size !== 32 || !ATTENTION_PARAMS.wgsl.includes("scale: f32")) throw new Error();
 * ```
 */
export const ATTENTION_PARAMS: ParamStruct<{
  heads: "u32";
  kv_heads: "u32";
  batch: "u32";
  context: "u32";
  alibi: "flag";
  scale: "f32";
  window: "u32";
}> = new ParamStruct("Params", {
  heads: "u32",
  kv_heads: "u32",
  batch: "u32",
  context: "u32",
  alibi: "flag",
  scale: "f32",
  window: "u32",
});

/**
 * WGSL of the fused attention for heads `headDim` wide.
 *
 * @param headDim the head width `d` (a constant of the shader)
 * @param kv the caches' format (default f32)
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { attentionWgsl } from "./attention.ts";
 * if (!attentionWgsl(64).includes("const D = 64u;") || !attentionWgsl(8, "f16").includes("unpack2x16float")) {
 *   throw new Error();
 * }
 * ```
 */
export function attentionWgsl(headDim: number, kv: KvFormat = "f32"): string {
  const k = kvAccess("k", kv);
  const v = kvAccess("v", kv);
  return `${STEP.wgsl}${ATTENTION_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read> k: array<${k.element}>;
@group(0) @binding(5) var<storage, read> v: array<${v.element}>;
@group(0) @binding(6) var<storage, read_write> s: array<f32>;
@group(0) @binding(7) var<storage, read> slopes: array<f32>;
@group(0) @binding(8) var<storage, read_write> o: array<f32>;${k.wgsl}${v.wgsl}
const D = ${headDim}u;
var<workgroup> qs: array<f32, D>;
var<workgroup> part: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let h = wg.x;
  let t = wg.y;
  let pos = step.pos0 + t;
  let len = pos + 1u;
  // The first key attended: 0, or the sliding window's start.
  let first = select(0u, len - p.window, p.window > 0u && len > p.window);
  let row = step.row0 + t;
  let kvh = h / (p.heads / p.kv_heads);
  let qb = (row * p.heads + h) * D;
  // The query, rotated at its position as kernel rope rotates it.
  if (p.alibi == 1u) {
    for (var i = l; i < D; i += 64u) { qs[i] = q[qb + i]; }
  } else {
    let half = D / 2u;
    for (var i = l; i < half; i += 64u) {
      let cs = table[pos * half + i];
      let a = q[qb + i];
      let b = q[qb + i + half];
      qs[i] = a * cs.x - b * cs.y;
      qs[i + half] = b * cs.x + a * cs.y;
    }
  }
  workgroupBarrier();
  // Pass 1: scores of keys j = l, l + 64, ...; their max.
  let sb = (h * p.batch + row) * p.context;
  var m = -3.402823e38;
  for (var j = first + l; j < len; j += 64u) {
    let kb = (j * p.kv_heads + kvh) * D;
    var acc = 0.0;
    for (var i = 0u; i < D; i++) { acc += qs[i] * k_at(kb + i); }
    var x = acc * p.scale;
    if (p.alibi == 1u) { x += slopes[h] * (f32(j) - f32(pos)); }
    s[sb + j] = x;
    m = max(m, x);
  }
  part[l] = m;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w >>= 1u) {
    if (l < w) { part[l] = max(part[l], part[l + w]); }
    workgroupBarrier();
  }
  let mx = part[0];
  workgroupBarrier();
  // Pass 2: the same keys' exp(score - max), and their sum.
  var sum = 0.0;
  for (var j = first + l; j < len; j += 64u) { let e = exp(s[sb + j] - mx); s[sb + j] = e; sum += e; }
  part[l] = sum;
  storageBarrier();
  workgroupBarrier();
  for (var w = 32u; w > 0u; w >>= 1u) {
    if (l < w) { part[l] += part[l + w]; }
    workgroupBarrier();
  }
  let inv = 1.0 / part[0];
  // Pass 3: values weighted in key order, elements i = l, l + 64, ...
  for (var i = l; i < D; i += 64u) {
    var acc = 0.0;
    for (var j = first; j < len; j++) { acc += s[sb + j] * v_at((j * p.kv_heads + kvh) * D + i); }
    o[qb + i] = acc * inv;
  }
}`;
}

/**
 * The grid of `attention`: `(heads, n)`, one workgroup per query head and token.
 *
 * @param heads query heads
 * @returns the grid
 *
 * @example
 * ```ts
 * import { attentionGrid } from "./attention.ts";
 * if (attentionGrid(4)(3, 9).join() !== "4,3,1") throw new Error();
 * ```
 */
export function attentionGrid(heads: number): Grid {
  return (n) => [heads, n, 1];
}

/** What `attention` reads and writes. */
export interface AttentionArgs {
  /** Queries of the step's tokens (before RoPE). */
  readonly q: GPUBuffer;
  /** The cos/sin table of RoPE (unread with ALiBi: any buffer). */
  readonly table: GPUBuffer;
  /** The layer's key cache (keys rotated). */
  readonly k: GPUBuffer;
  /** The layer's value cache. */
  readonly v: GPUBuffer;
  /** Scratch for the scores, `[heads, batch, context]`. */
  readonly s: GPUBuffer;
  /** ALiBi slopes (one element when unused). */
  readonly slopes: GPUBuffer;
  /** The output, one row per token. */
  readonly o: GPUBuffer;
  /** Query heads. */
  readonly heads: number;
  /** Key and value heads (dividing `heads`). */
  readonly kvHeads: number;
  /** Head width (even with RoPE). */
  readonly headDim: number;
  /** The most tokens in one step (rows of `q`, `o`, and of `s` per head). */
  readonly batch: number;
  /** Positions in the caches (and the table). */
  readonly context: number;
  /** ALiBi slopes added, no RoPE. */
  readonly alibi: boolean;
  /** The caches' format (default f32). */
  readonly kv?: KvFormat;
  /** A sliding window's width in keys (default none: every earlier key). */
  readonly window?: number;
}

/**
 * The `attention` kernel, its shapes checked.
 *
 * @param a buffers and shapes
 * @returns the call
 * @throws {RangeError} when `kvHeads` does not divide `heads`, the head width is odd with RoPE, or a buffer is too small
 *
 * @example
 * ```ts
 * import { attention } from "./attention.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const call = attention({ q: buf(2 * 32 * 4), table: buf(16 * 8 * 4), k: buf(16 * 16 * 4), v: buf(16 * 16 * 4),
 *   s: buf(4 * 2 * 16 * 4), slopes: buf(4), o: buf(2 * 32 * 4), heads: 4, kvHeads: 2, headDim: 8, batch: 2,
 *   context: 16, alibi: false });
 * if (call.role !== "attention" || call.buffers.length !== 7) throw new Error();
 * ```
 */
export function attention(a: AttentionArgs): KernelCall {
  const kv = a.kv ?? "f32";
  checkShape("attention", a.kvHeads > 0 && a.heads % a.kvHeads === 0, "kv_heads must divide heads");
  checkShape("attention", Number.isInteger(a.headDim) && a.headDim > 0, `bad head_dim ${a.headDim}`);
  checkShape("attention", a.alibi || a.headDim % 2 === 0, `head_dim must be even with RoPE, got ${a.headDim}`);
  checkElements("attention", "q", a.q, a.batch * a.heads * a.headDim);
  checkElements("attention", "table", a.table, a.alibi ? 1 : a.context * a.headDim);
  checkKv("attention", "k", a.k, kv, a.context * a.kvHeads * a.headDim);
  checkKv("attention", "v", a.v, kv, a.context * a.kvHeads * a.headDim);
  checkElements("attention", "s", a.s, a.heads * a.batch * a.context);
  checkElements("attention", "slopes", a.slopes, a.alibi ? a.heads : 1);
  checkElements("attention", "o", a.o, a.batch * a.heads * a.headDim);
  return {
    role: "attention",
    code: attentionWgsl(a.headDim, kv),
    params: ATTENTION_PARAMS.pack({
      heads: a.heads,
      kv_heads: a.kvHeads,
      batch: a.batch,
      context: a.context,
      alibi: a.alibi,
      scale: 1 / Math.sqrt(a.headDim),
      window: a.window ?? 0,
    }),
    step: true,
    buffers: [a.q, a.table, a.k, a.v, a.s, a.slopes, a.o],
    grid: attentionGrid(a.heads),
  };
}
