/**
 * Kernel `kv_store`: the step's keys or values (f32 rows, RoPE already applied to keys) into a
 * cache at their positions: `cache[pos0 + t, i] = x[row0 + t, i]`. With an f16 cache (which
 * halves its memory, llama.cpp's default cache format) the values are rounded, two per `u32`
 * (element `2k` in the low half, as `pack2x16float` packs them); with an f32 cache they are
 * copied as they are (batched decode steps, whose products cannot write into each session's
 * cache, stage keys and values in rows like the f16 path).
 *
 * Shapes: `x: [batch, kv_dim] f32`; `cache: [context, kv_dim]` f32, or f16 as `array<u32>`
 * (`kv_dim` even). Dispatch `(ceil(kv_dim / 128), n)`.
 *
 * Also here: the WGSL accessor the attention kernels read either cache format with.
 *
 * @module
 */

import { checkShape, type Grid, type KernelCall } from "./kernel.ts";
import { ParamStruct } from "./params.ts";
import { STEP } from "./step.ts";

/** The KV cache's element format. */
export type KvFormat = "f32" | "f16";

/**
 * The WGSL storage element and accessor `NAME_at(e) -> f32` of a cache buffer `NAME`.
 *
 * @param name the buffer's name in the kernel
 * @param kv the cache format
 * @returns the element type and the accessor's WGSL
 *
 * @example
 * ```ts
 * import { kvAccess } from "./kv_store.ts";
 * if (kvAccess("k", "f16").element !== "u32" || !kvAccess("k", "f16").wgsl.includes("unpack2x16float")) throw new Error();
 * ```
 */
export function kvAccess(name: string, kv: KvFormat): { element: string; wgsl: string } {
  return kv === "f32" ? { element: "f32", wgsl: `\nfn ${name}_at(e: u32) -> f32 { return ${name}[e]; }` } : {
    element: "u32",
    wgsl: `\nfn ${name}_at(e: u32) -> f32 { return unpack2x16float(${name}[e >> 1u])[e & 1u]; }`,
  };
}

/**
 * Throw unless a cache buffer holds `elements` values of its format.
 *
 * @param kernel the kernel's name
 * @param name the buffer's name
 * @param buffer the buffer
 * @param kv its format
 * @param elements values the kernel reads
 * @throws {RangeError} when the buffer is smaller
 *
 * @example
 * ```ts
 * import { checkKv } from "./kv_store.ts";
 * checkKv("attn_scores", "k", { size: 32 } as GPUBuffer, "f16", 16);
 * ```
 */
export function checkKv(kernel: string, name: string, buffer: GPUBuffer, kv: KvFormat, elements: number): void {
  const need = elements * (kv === "f32" ? 4 : 2);
  checkShape(kernel, buffer.size >= need, `${name} holds ${buffer.size} bytes, needs ${need} (${elements} ${kv})`);
}

/**
 * Parameters of `kv_store`.
 *
 * @example
 * ```ts
 * import { KV_STORE_PARAMS } from "./kv_store.ts";
 * if (KV_STORE_PARAMS.size !== 16) throw new Error();
 * ```
 */
export const KV_STORE_PARAMS: ParamStruct<{ kv_dim: "u32" }> = new ParamStruct("Params", { kv_dim: "u32" });

/**
 * WGSL of `kv_store` for a cache format.
 *
 * @param kv the cache's format (default f16)
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { kvStoreWgsl } from "./kv_store.ts";
 * if (!kvStoreWgsl().includes("pack2x16float") || kvStoreWgsl("f32").includes("pack2x16float")) throw new Error();
 * ```
 */
export function kvStoreWgsl(kv: KvFormat = "f16"): string {
  const store = kv === "f16"
    ? "cache[(step.pos0 + t) * pairs + k] = pack2x16float(vec2<f32>(x[at], x[at + 1u]));"
    : `let to = (step.pos0 + t) * p.kv_dim + 2u * k;
  cache[to] = x[at];
  cache[to + 1u] = x[at + 1u];`;
  return `${STEP.wgsl}${KV_STORE_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> cache: array<${kv === "f16" ? "u32" : "f32"}>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let k = g.x;
  let t = g.y;
  let pairs = p.kv_dim / 2u;
  if (k >= pairs || t >= step.n) { return; }
  let at = (step.row0 + t) * p.kv_dim + 2u * k;
  ${store}
}`;
}

/**
 * The grid of `kv_store`: `(ceil(kv_dim / 128), n)`.
 *
 * @param kvDim values per cached row
 * @returns the grid
 *
 * @example
 * ```ts
 * import { kvStoreGrid } from "./kv_store.ts";
 * if (kvStoreGrid(256)(3, 0).join() !== "2,3,1") throw new Error();
 * ```
 */
export function kvStoreGrid(kvDim: number): Grid {
  return (n) => [Math.ceil(kvDim / 128), n, 1];
}

/** What `kv_store` reads and writes. */
export interface KvStoreArgs {
  /** The step's rows. */
  readonly x: GPUBuffer;
  /** The most tokens in one step (rows of `x`). */
  readonly batch: number;
  /** The layer's cache. */
  readonly cache: GPUBuffer;
  /** Its format (default f16). */
  readonly kv?: KvFormat;
  /** Positions in the cache. */
  readonly context: number;
  /** Values per row (even). */
  readonly kvDim: number;
}

/**
 * The `kv_store` kernel, its shapes checked.
 *
 * @param a buffers and shapes
 * @returns the call
 * @throws {RangeError} on an odd row width or a buffer too small
 *
 * @example
 * ```ts
 * import { kvStore } from "./kv_store.ts";
 * const buf = (size: number) => ({ size }) as GPUBuffer;
 * const call = kvStore({ x: buf(2 * 8 * 4), batch: 2, cache: buf(16 * 8 * 2), context: 16, kvDim: 8 });
 * if (call.buffers.length !== 2) throw new Error();
 * ```
 */
export function kvStore(a: KvStoreArgs): KernelCall {
  checkShape("kv_store", a.kvDim % 2 === 0, `kv_dim must be even, got ${a.kvDim}`);
  checkShape("kv_store", a.x.size >= a.batch * a.kvDim * 4, "x is too small");
  checkKv("kv_store", "cache", a.cache, a.kv ?? "f16", a.context * a.kvDim);
  return {
    role: "kv_store",
    code: kvStoreWgsl(a.kv),
    params: KV_STORE_PARAMS.pack({ kv_dim: a.kvDim }),
    step: true,
    buffers: [a.x, a.cache],
    grid: kvStoreGrid(a.kvDim),
  };
}
