/**
 * Kernel `argmax`: the id of the largest logit (the lowest id on ties), so greedy decoding
 * reads back 4 bytes instead of the logits.
 *
 * Shapes: `logits: [vocab] f32` (row 0); `out: [1] u32`. Dispatch `(1)`: one workgroup of 256
 * scans strided, then reduces.
 *
 * @module
 */

/**
 * WGSL of the argmax.
 *
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { argmaxWgsl } from "./argmax.wgsl.ts";
 * if (!argmaxWgsl().includes("best_i")) throw new Error();
 * ```
 */
export function argmaxWgsl(): string {
  return `
struct Params { vocab: u32, _a: u32, _b: u32, _c: u32 };
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
