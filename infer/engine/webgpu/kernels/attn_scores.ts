/**
 * Kernel `attn_scores`: `s[h, t, j] = q[t, h] · k[j, h / group] / √d (+ slope[h] · (j - pos))`
 * for every cached key `j ≤ pos = pos0 + t` (causal; later keys are not written; keys before a
 * sliding window, `j ≤ pos − window`, get the lowest f32, which softmax weighs 0); token `t`'s
 * query and score rows are `row0 + t`.
 *
 * Shapes: `q: [n, heads, d] f32`; `k: [context, kv_heads, d]` f32 or f16 (the layer's key cache);
 * `s: [heads, batch, context] f32`; `slopes: [heads] f32` (ALiBi, used when `alibi` is 1).
 * Dispatch `(ceil(kv_len / 64), heads, n)`.
 *
 * @module
 */

import { checkElements, checkShape, type Grid, type KernelCall } from "./kernel.ts";
import { ParamStruct } from "./params.ts";
import { STEP } from "./step.ts";
import { checkKv, kvAccess, type KvFormat } from "./kv_store.ts";

/**
 * Parameters of `attn_scores`.
 *
 * @example
 * ```ts
 * import { ATTN_SCORES_PARAMS } from "./attn_scores.ts";
 * if (ATTN_SCORES_PARAMS.size !== 32) throw new Error();
 * ```
 */
export const ATTN_SCORES_PARAMS: ParamStruct<{
  heads: "u32";
  kv_heads: "u32";
  head_dim: "u32";
  batch: "u32";
  context: "u32";
  alibi: "flag";
  scale: "f32";
  window: "u32";
}> = new ParamStruct("Params", {
  heads: "u32",
  kv_heads: "u32",
  head_dim: "u32",
  batch: "u32",
  context: "u32",
  alibi: "flag",
  scale: "f32",
  window: "u32",
});

/**
 * WGSL of the attention scores.
 *
 * @param kv the key cache's format (default f32)
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { attnScoresWgsl } from "./attn_scores.ts";
 * if (!attnScoresWgsl().includes("slopes")) throw new Error();
 * ```
 */
export function attnScoresWgsl(kv: KvFormat = "f32"): string {
  const k = kvAccess("k", kv);
  return `${STEP.wgsl}${ATTN_SCORES_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<${k.element}>;
@group(0) @binding(4) var<storage, read_write> s: array<f32>;
@group(0) @binding(5) var<storage, read> slopes: array<f32>;${k.wgsl}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let j = g.x;
  let h = g.y;
  let t = g.z;
  let pos = step.pos0 + t;
  if (j > pos || t >= step.n) { return; }
  let row = (h * p.batch + step.row0 + t) * p.context;
  // Keys before a sliding window get the lowest score: softmax weighs them 0.
  if (p.window > 0u && j + p.window <= pos) {
    s[row + j] = -3.402823e38;
    return;
  }
  let kvh = h / (p.heads / p.kv_heads);
  let qb = ((step.row0 + t) * p.heads + h) * p.head_dim;
  let kb = (j * p.kv_heads + kvh) * p.head_dim;
  var acc = 0.0;
  for (var i = 0u; i < p.head_dim; i++) { acc += q[qb + i] * k_at(kb + i); }
  var v = acc * p.scale;
  if (p.alibi == 1u) { v += slopes[h] * (f32(j) - f32(pos)); }
  s[row + j] = v;
}`;
}

/**
 * The grid of `attn_scores`: `(ceil(kv_len / 64), heads, n)`.
 *
 * @param heads query heads
 * @returns the grid
 *
 * @example
 * ```ts
 * import { attnScoresGrid } from "./attn_scores.ts";
 * if (attnScoresGrid(4)(2, 70).join() !== "2,4,2") throw new Error();
 * ```
 */
export function attnScoresGrid(heads: number): Grid {
  return (n, kvLen) => [Math.ceil(kvLen / 64), heads, n];
}

/** What `attn_scores` reads and writes. */
export interface AttnScoresArgs {
  /** Queries of the step's tokens. */
  readonly q: GPUBuffer;
  /** The layer's key cache. */
  readonly k: GPUBuffer;
  /** The scores. */
  readonly s: GPUBuffer;
  /** ALiBi slopes (one element when unused). */
  readonly slopes: GPUBuffer;
  /** Query heads. */
  readonly heads: number;
  /** Key and value heads (dividing `heads`). */
  readonly kvHeads: number;
  /** Head width. */
  readonly headDim: number;
  /** The most tokens in one step (rows of `q`, and of `s` per head). */
  readonly batch: number;
  /** Positions in the cache. */
  readonly context: number;
  /** Whether ALiBi slopes are added. */
  readonly alibi: boolean;
  /** The key cache's format (default f32). */
  readonly kv?: KvFormat;
  /** A sliding window's width in keys (default none: every earlier key). */
  readonly window?: number;
}

/**
 * The `attn_scores` kernel, its shapes checked.
 *
 * @param a buffers and shapes
 * @returns the call
 * @throws {RangeError} when `kvHeads` does not divide `heads` or a buffer is too small
 *
 * @example
 * ```ts
 * import { attnScores } from "./attn_scores.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const call = attnScores({ q: buf(2 * 32 * 4), k: buf(16 * 16 * 4), s: buf(4 * 2 * 16 * 4), slopes: buf(4),
 *   heads: 4, kvHeads: 2, headDim: 8, batch: 2, context: 16, alibi: false });
 * if (call.buffers.length !== 4) throw new Error();
 * ```
 */
export function attnScores(a: AttnScoresArgs): KernelCall {
  checkShape("attn_scores", a.kvHeads > 0 && a.heads % a.kvHeads === 0, "kv_heads must divide heads");
  checkElements("attn_scores", "q", a.q, a.batch * a.heads * a.headDim);
  checkKv("attn_scores", "k", a.k, a.kv ?? "f32", a.context * a.kvHeads * a.headDim);
  checkElements("attn_scores", "s", a.s, a.heads * a.batch * a.context);
  checkElements("attn_scores", "slopes", a.slopes, a.alibi ? a.heads : 1);
  return {
    role: "attn_scores",
    code: attnScoresWgsl(a.kv),
    params: ATTN_SCORES_PARAMS.pack({
      heads: a.heads,
      kv_heads: a.kvHeads,
      head_dim: a.headDim,
      batch: a.batch,
      context: a.context,
      alibi: a.alibi,
      scale: 1 / Math.sqrt(a.headDim),
      window: a.window ?? 0,
    }),
    step: true,
    buffers: [a.q, a.k, a.s, a.slopes],
    grid: attnScoresGrid(a.heads),
  };
}
