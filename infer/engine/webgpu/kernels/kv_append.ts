/**
 * Kernel `kv_append`: the step's staged key and value rows into a layer's cache in one
 * dispatch, keys rotated by RoPE on the way (rotate-half layout, the `rope` kernel's arithmetic
 * and table; none with ALiBi): token `t`'s rows `row0 + t` go to cache position `pos0 + t`.
 *
 * Each thread takes two adjacent pairs of one head, `(i, i + d/2)` and `(i + 1, i + 1 + d/2)` for
 * even `i`, so that it writes whole 16-bit pairs of an f16 cache.
 *
 * Shapes: `k`, `v`: `[batch, kv_heads · d] f32`; caches `[context, kv_heads · d]` f32 or f16
 * (packed pairs); `table: [context, d/2] vec2<f32>`. `d` a multiple of 4. Dispatch
 * `(ceil(kv_heads · d/4 / 64), n)`.
 *
 * @module
 */

import { checkElements, checkShape, type Grid, type KernelCall } from "./kernel.ts";
import { checkKv, type KvFormat } from "./kv_store.ts";
import { ParamStruct } from "./params.ts";
import { STEP } from "./step.ts";

/**
 * Parameters of `kv_append`.
 *
 * @example
 * ```ts
 * import { KV_APPEND_PARAMS } from "./kv_append.ts";
 * if (!KV_APPEND_PARAMS.wgsl.includes("rope: u32")) throw new Error();
 * ```
 */
export const KV_APPEND_PARAMS: ParamStruct<{ kv_heads: "u32"; head_dim: "u32"; rope: "flag" }> = new ParamStruct(
  "Params",
  { kv_heads: "u32", head_dim: "u32", rope: "flag" },
);

/**
 * WGSL of the cache append.
 *
 * @param kv the caches' format
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { kvAppendWgsl } from "./kv_append.ts";
 * if (!kvAppendWgsl("f16").includes("pack2x16float")) throw new Error();
 * ```
 */
export function kvAppendWgsl(kv: KvFormat): string {
  const element = kv === "f16" ? "u32" : "f32";
  // Elements e and e + 1 (e even) of a cache row.
  const put = kv === "f16"
    ? (cache: string, e: string, a: string, b: string) =>
      `${cache}[(${e}) / 2u] = pack2x16float(vec2<f32>(${a}, ${b}));`
    : (cache: string, e: string, a: string, b: string) => `${cache}[${e}] = ${a}; ${cache}[${e} + 1u] = ${b};`;
  return `${STEP.wgsl}${KV_APPEND_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> kc: array<${element}>;
@group(0) @binding(5) var<storage, read_write> vc: array<${element}>;
@group(0) @binding(6) var<storage, read> table: array<vec2<f32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let half = p.head_dim / 2u;
  let quarter = p.head_dim / 4u;
  let t = g.y;
  if (g.x >= p.kv_heads * quarter || t >= step.n) { return; }
  let h = g.x / quarter;
  let i = 2u * (g.x % quarter);
  let pos = step.pos0 + t;
  let src = ((step.row0 + t) * p.kv_heads + h) * p.head_dim;
  let dst = (pos * p.kv_heads + h) * p.head_dim;
  var a = vec2<f32>(k[src + i], k[src + i + 1u]);
  var b = vec2<f32>(k[src + i + half], k[src + i + 1u + half]);
  if (p.rope == 1u) {
    let c0 = table[pos * half + i];
    let c1 = table[pos * half + i + 1u];
    let ra = vec2<f32>(a.x * c0.x - b.x * c0.y, a.y * c1.x - b.y * c1.y);
    let rb = vec2<f32>(b.x * c0.x + a.x * c0.y, b.y * c1.x + a.y * c1.y);
    a = ra;
    b = rb;
  }
  ${put("kc", "dst + i", "a.x", "a.y")}
  ${put("kc", "dst + i + half", "b.x", "b.y")}
  ${put("vc", "dst + i", "v[src + i]", "v[src + i + 1u]")}
  ${put("vc", "dst + i + half", "v[src + i + half]", "v[src + i + 1u + half]")}
}`;
}

/**
 * The grid of `kv_append`: one thread per two pairs of each head, a row per token.
 *
 * @param kvHeads key/value heads
 * @param headDim their width
 * @returns the grid
 *
 * @example
 * ```ts
 * import { kvAppendGrid } from "./kv_append.ts";
 * if (kvAppendGrid(2, 128)(3, 9).join() !== "1,3,1") throw new Error();
 * ```
 */
export function kvAppendGrid(kvHeads: number, headDim: number): Grid {
  return (n) => [Math.ceil(kvHeads * (headDim / 4) / 64), n, 1];
}

/** What `kv_append` reads and writes. */
export interface KvAppendArgs {
  /** The staged key rows. */
  readonly k: GPUBuffer;
  /** The staged value rows. */
  readonly v: GPUBuffer;
  /** Rows they hold. */
  readonly batch: number;
  /** The layer's key cache. */
  readonly keys: GPUBuffer;
  /** Its value cache. */
  readonly values: GPUBuffer;
  /** The caches' format. */
  readonly kv: KvFormat;
  /** Positions in the caches (and the table). */
  readonly context: number;
  /** Key/value heads. */
  readonly kvHeads: number;
  /** Their width (a multiple of 4). */
  readonly headDim: number;
  /** The RoPE cos/sin table; without, keys are stored as they are (ALiBi). */
  readonly table?: GPUBuffer;
}

/**
 * The `kv_append` call for a layer's caches, its shapes checked.
 *
 * @param a buffers and shapes
 * @returns the call
 * @throws {RangeError} for a head width that is not a multiple of 4, or buffers too small
 *
 * @example
 * ```ts
 * import { kvAppend } from "./kv_append.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const call = kvAppend({ k: buf(2 * 64 * 4), v: buf(2 * 64 * 4), batch: 2, keys: buf(8 * 64 * 2),
 *   values: buf(8 * 64 * 2), kv: "f16", context: 8, kvHeads: 2, headDim: 32 });
 * if (call.role !== "kv_append" || call.buffers.length !== 5) throw new Error();
 * ```
 */
export function kvAppend(a: KvAppendArgs): KernelCall {
  checkShape("kv_append", a.headDim % 4 === 0, `head_dim must be a multiple of 4, got ${a.headDim}`);
  const dim = a.kvHeads * a.headDim;
  checkElements("kv_append", "k", a.k, a.batch * dim);
  checkElements("kv_append", "v", a.v, a.batch * dim);
  checkKv("kv_append", "keys", a.keys, a.kv, a.context * dim);
  checkKv("kv_append", "values", a.values, a.kv, a.context * dim);
  if (a.table) checkElements("kv_append", "table", a.table, a.context * a.headDim);
  return {
    role: "kv_append",
    code: kvAppendWgsl(a.kv),
    params: KV_APPEND_PARAMS.pack({ kv_heads: a.kvHeads, head_dim: a.headDim, rope: a.table !== undefined }),
    step: true,
    // Without a table, the key rows are bound in its place (never read).
    buffers: [a.k, a.v, a.keys, a.values, a.table ?? a.k],
    grid: kvAppendGrid(a.kvHeads, a.headDim),
  };
}
