/**
 * Kernel `argmax`: the id of the largest logit (the lowest id on ties), so greedy decoding
 * reads back 4 bytes instead of the logits. Its variant `argmaxMasked` takes only the ids a
 * bitset allows (a constrained answer's next token), so constrained greedy decoding reads back
 * 4 bytes too.
 *
 * Shapes: `logits: [vocab] f32` (row 0); `mask: [ceil(vocab / 32)] u32` (`argmaxMasked`: bit
 * `id % 32` of word `id >> 5` set when `id` is allowed); `out: [1] u32`. Dispatch `(1)`: one
 * workgroup of 256 scans strided, then reduces. It reads no step uniform.
 *
 * @module
 */

import { checkElements, type Grid, type KernelCall } from "./kernel.ts";
import { ParamStruct } from "./params.ts";

/**
 * Parameters of `argmax`.
 *
 * @example
 * ```ts
 * import { ARGMAX_PARAMS } from "./argmax.ts";
 * if (new Uint32Array(ARGMAX_PARAMS.pack({ vocab: 7 }))[0] !== 7) throw new Error();
 * ```
 */
export const ARGMAX_PARAMS: ParamStruct<{ vocab: "u32" }> = new ParamStruct("Params", { vocab: "u32" });

/**
 * WGSL of the argmax.
 *
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { argmaxWgsl } from "./argmax.ts";
 * if (!argmaxWgsl().includes("best_i")) throw new Error();
 * ```
 */
export function argmaxWgsl(): string {
  return `${ARGMAX_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) l: u32) {
  var bv = -3.402823e38;
  var bi = 0xffffffffu;
  for (var i = l; i < p.vocab; i += 256u) {
    let v = logits[i];
    if (v > bv || (v == bv && i < bi)) { bv = v; bi = i; }
  }
  best_v[l] = bv;
  best_i[l] = bi;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (l < s) {
      let v = best_v[l + s];
      let i = best_i[l + s];
      if (v > best_v[l] || (v == best_v[l] && i < best_i[l])) { best_v[l] = v; best_i[l] = i; }
    }
    workgroupBarrier();
  }
  if (l == 0u) { out[0] = best_i[0]; }
}`;
}

/**
 * The grid of `argmax`: one workgroup.
 *
 * @returns the grid
 *
 * @example
 * ```ts
 * import { argmaxGrid } from "./argmax.ts";
 * if (argmaxGrid()(5, 5).join() !== "1,1,1") throw new Error();
 * ```
 */
export function argmaxGrid(): Grid {
  return () => [1, 1, 1];
}

/** What `argmax` reads and writes. */
export interface ArgmaxArgs {
  /** The logits (row 0). */
  readonly logits: GPUBuffer;
  /** The id, one `u32`. */
  readonly out: GPUBuffer;
  /** The vocabulary size. */
  readonly vocab: number;
}

/**
 * The `argmax` kernel, its shapes checked.
 *
 * @param a buffers and shapes
 * @returns the call
 * @throws {RangeError} when a buffer is too small
 *
 * @example
 * ```ts
 * import { argmax } from "./argmax.ts";
 * const call = argmax({ logits: { size: 400 } as GPUBuffer, out: { size: 4 } as GPUBuffer, vocab: 100 });
 * if (call.step) throw new Error("argmax reads no step uniform");
 * ```
 */
export function argmax(a: ArgmaxArgs): KernelCall {
  checkElements("argmax", "logits", a.logits, a.vocab);
  checkElements("argmax", "out", a.out, 1);
  return {
    role: "argmax",
    code: argmaxWgsl(),
    params: ARGMAX_PARAMS.pack({ vocab: a.vocab }),
    step: false,
    buffers: [a.logits, a.out],
    grid: argmaxGrid(),
  };
}

/**
 * WGSL of the masked argmax: the id of the largest logit among those `mask` allows (the lowest
 * id on ties; NaN never chosen), or `0xffffffff` when it allows none.
 *
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { argmaxMaskedWgsl } from "./argmax.ts";
 * if (!argmaxMaskedWgsl().includes("mask[i >> 5u]")) throw new Error();
 * ```
 */
export function argmaxMaskedWgsl(): string {
  return `${ARGMAX_PARAMS.wgsl}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
const NONE = 0xffffffffu;
var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;
// Whether (v, i) goes before (bv, bi): NONE never does, and goes after anything; then the larger
// value, then the lower id.
fn before(v: f32, i: u32, bv: f32, bi: u32) -> bool {
  return i != NONE && (bi == NONE || v > bv || (v == bv && i < bi));
}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) l: u32) {
  var bv = 0.0;
  var bi = NONE;
  for (var i = l; i < p.vocab; i += 256u) {
    if (((mask[i >> 5u] >> (i & 31u)) & 1u) == 0u) { continue; }
    let v = logits[i];
    if (v == v && before(v, i, bv, bi)) { bv = v; bi = i; }
  }
  best_v[l] = bv;
  best_i[l] = bi;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (l < s && before(best_v[l + s], best_i[l + s], best_v[l], best_i[l])) {
      best_v[l] = best_v[l + s];
      best_i[l] = best_i[l + s];
    }
    workgroupBarrier();
  }
  if (l == 0u) { out[0] = best_i[0]; }
}`;
}

/** What `argmaxMasked` reads and writes. */
export interface ArgmaxMaskedArgs extends ArgmaxArgs {
  /** The allowed ids, `ceil(vocab / 32)` `u32` words. */
  readonly mask: GPUBuffer;
}

/**
 * The masked `argmax` kernel, its shapes checked: `out` gets the id of the largest logit the
 * mask allows (the lowest on ties), or `0xffffffff` when it allows none.
 *
 * @param a buffers and shapes
 * @returns the call
 * @throws {RangeError} when a buffer is too small
 *
 * @example
 * ```ts
 * import { argmaxMasked } from "./argmax.ts";
 * const call = argmaxMasked({ logits: { size: 400 } as GPUBuffer, mask: { size: 16 } as GPUBuffer, out: { size: 4 } as GPUBuffer, vocab: 100 });
 * if (call.role !== "argmax" || call.buffers.length !== 3) throw new Error();
 * ```
 */
export function argmaxMasked(a: ArgmaxMaskedArgs): KernelCall {
  checkElements("argmax", "logits", a.logits, a.vocab);
  checkElements("argmax", "mask", a.mask, Math.ceil(a.vocab / 32));
  checkElements("argmax", "out", a.out, 1);
  return {
    role: "argmax",
    code: argmaxMaskedWgsl(),
    params: ARGMAX_PARAMS.pack({ vocab: a.vocab }),
    step: false,
    buffers: [a.logits, a.mask, a.out],
    grid: argmaxGrid(),
  };
}
