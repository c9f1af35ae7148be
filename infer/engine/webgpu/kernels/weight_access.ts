/**
 * WGSL snippet shared by the kernels that read weights: element access for f32, for 16-bit
 * formats packed two per `u32` (element `2k` in the low half), and for ggml's quantized blocks
 * (`quant_access.ts`). Without the `shader-f16` feature, f16 pairs are widened with
 * `unpack2x16float`, bf16 pairs by shifting into the top half of an f32.
 *
 * Binding it expects: `w: array<u32>` (16-bit, quantized) or `w: array<f32>` (f32), declared by
 * the kernel.
 *
 * @module
 */

import { ggmlRowBytes, type GgmlTypeName, type QuantType } from "../../../formats/ggml_types.ts";
import { checkShape } from "./kernel.ts";
import { quantAccess } from "./quant_access.ts";

/**
 * The WGSL storage element type of a weight buffer.
 *
 * @param dtype the weights' format
 * @returns `f32` or `u32`
 *
 * @example
 * ```ts
 * import { weightElement } from "./weight_access.ts";
 * if (weightElement("bf16") !== "u32") throw new Error();
 * ```
 */
export function weightElement(dtype: GgmlTypeName): string {
  return dtype === "f32" ? "f32" : "u32";
}

/**
 * WGSL functions `w_pair(k) -> vec2<f32>` (elements `2k`, `2k+1` of the bound buffer `w`) and
 * `w_at(e) -> f32` (element `e`).
 *
 * @param dtype the weights' format
 * @returns WGSL source
 *
 * @example
 * ```ts
 * import { weightAccess } from "./weight_access.ts";
 * if (!weightAccess("f16").includes("unpack2x16float")) throw new Error();
 * ```
 */
export function weightAccess(dtype: GgmlTypeName): string {
  if (dtype !== "f32" && dtype !== "f16" && dtype !== "bf16") return quantAccess(dtype as QuantType);
  if (dtype === "f32") {
    return `
fn w_pair(k: u32) -> vec2<f32> { return vec2<f32>(w[2u * k], w[2u * k + 1u]); }
fn w_at(e: u32) -> f32 { return w[e]; }`;
  }
  return `
fn w_pair(k: u32) -> vec2<f32> { let word = w[k]; return ${wordPair(dtype)}; }
fn w_at(e: u32) -> f32 { let p = w_pair(e >> 1u); return select(p.x, p.y, (e & 1u) == 1u); }`;
}

/**
 * WGSL expression of the two values packed in the `u32` named `word` (element `2k` in the low
 * half) of a 16-bit format, as a `vec2<f32>`.
 *
 * @param dtype `f16` or `bf16`
 * @returns WGSL expression
 *
 * @example
 * ```ts
 * import { wordPair } from "./weight_access.ts";
 * if (!wordPair("bf16").includes("word << 16u")) throw new Error();
 * ```
 */
export function wordPair(dtype: "f16" | "bf16"): string {
  return dtype === "f16"
    ? "unpack2x16float(word)"
    : "vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u))";
}

/**
 * Throw unless a weight buffer holds `rows` rows of `cols` values of its format.
 *
 * @param kernel the kernel's name
 * @param buffer the weight buffer
 * @param dtype its format
 * @param rows rows the kernel reads
 * @param cols values per row
 * @throws {RangeError} when the buffer is smaller
 *
 * @example
 * ```ts
 * import { checkWeights } from "./weight_access.ts";
 * checkWeights("matmul", { size: 8 } as GPUBuffer, "f16", 2, 2);
 * checkWeights("matmul", { size: 36 } as GPUBuffer, "q4_0", 2, 32);
 * ```
 */
export function checkWeights(kernel: string, buffer: GPUBuffer, dtype: GgmlTypeName, rows: number, cols: number): void {
  const rowBytes = ggmlRowBytes(dtype, cols);
  checkShape(kernel, rowBytes !== undefined, `rows of ${cols} are not whole ${dtype} blocks`);
  const need = Math.ceil(rows * rowBytes! / 4) * 4;
  checkShape(kernel, buffer.size >= need, `w holds ${buffer.size} bytes, needs ${need} (${rows}×${cols} ${dtype})`);
}
