/**
 * Weight matrices as the `wasm` engine's kernels read them: f32, bf16 and f16 rows in groups of
 * 4, each group one stream of 16-byte steps (16 bytes of row 0, of row 1, of row 2, of row 3,
 * then the next 16 of each), so a matrix–vector product reads one sequential stream per group
 * instead of four (measured here: ~40% more bandwidth). ggml block formats (q8_0, q4_0, q5_0,
 * q4_k, q5_k, q6_k) are grouped likewise with their blocks interleaved: block j of rows 0, 1, 2
 * and 3, then block j + 1 of each, every block as ggml stores it but `q6_k`'s, whose levels are
 * unpacked to a byte each (`q6k_layout.ts`). The last group is padded with zero rows (zero
 * blocks). Other matrices are held row by row, as read.
 *
 * @module
 */

import { bf16ToF32, f16ToF32 } from "../../formats/dtype.ts";
import { dequantizeRow } from "../../formats/ggml_quant.ts";
import { GGML_TYPE_LAYOUTS, type QuantType } from "../../formats/ggml_types.ts";
import { weightRow, type WeightTensor } from "../../formats/quant_tensor.ts";
import { WasmMemory, type WeightMemories } from "./wasm_memory.ts";
import { Q6K_GGML_BYTES, Q6K_WASM_BYTES, q6kFromWasm, q6kToWasm } from "./q6k_layout.ts";

/** A weight matrix in a shared memory. */
export interface WasmMatrix {
  /** Its format. */
  readonly dtype: WeightTensor["dtype"];
  /** `[out, in]`. */
  readonly shape: readonly number[];
  /** Which memory holds it (its index among {@linkcode WeightMemories.parts}; 0 in a lone {@linkcode WasmMemory}). */
  readonly mem: number;
  /** Where it starts in that memory. */
  readonly ptr: number;
  /** Rows in groups of 4 (the kernels' layout); else row by row in {@linkcode WasmMatrix.tensor}. */
  readonly grouped: boolean;
  /** The rows as a tensor (a view of the memory) where not grouped. */
  readonly tensor?: WeightTensor;
}

/** The block formats with kernels. */
const BLOCK_FORMATS: ReadonlySet<string> = new Set(["q8_0", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k"]);

/**
 * Whether the kernels take a matrix: f32, bf16 or f16 with rows a multiple of 8 long, or one of
 * the block formats q8_0, q4_0, q5_0, q4_k, q5_k, q6_k.
 *
 * @param t the matrix
 * @returns true where it is grouped
 *
 * @example
 * ```ts
 * import { groupable } from "./wasm_matrix.ts";
 * if (!groupable({ dtype: "bf16", shape: [3, 16] }) || groupable({ dtype: "f32", shape: [3, 12] })) throw new Error();
 * if (!groupable({ dtype: "q4_k", shape: [3, 256] }) || groupable({ dtype: "q4_k", shape: [3, 32] })) throw new Error();
 * ```
 */
export function groupable(t: Pick<WeightTensor, "dtype" | "shape">): boolean {
  if (BLOCK_FORMATS.has(t.dtype)) {
    const { blockSize } = GGML_TYPE_LAYOUTS[t.dtype as QuantType];
    return t.shape[1] % blockSize === 0;
  }
  return (t.dtype === "f32" || t.dtype === "bf16" || t.dtype === "f16") && t.shape[1] % 8 === 0;
}

/** The unit of interleaving (bytes of one row per step) and the bytes of one row, as held. */
function groupStep(dtype: WeightTensor["dtype"], cols: number): { step: number; rowBytes: number } {
  if (BLOCK_FORMATS.has(dtype)) {
    const { blockSize, blockBytes } = GGML_TYPE_LAYOUTS[dtype as QuantType];
    const step = dtype === "q6_k" ? Q6K_WASM_BYTES : blockBytes;
    return { step, rowBytes: cols / blockSize * step };
  }
  return { step: 16, rowBytes: cols * (dtype === "f32" ? 4 : 2) };
}

/** The memory that holds `m` (in a lone memory: that one). */
function holder(store: WasmMemory | WeightMemories, m: Pick<WasmMatrix, "mem">): WasmMemory {
  return store instanceof WasmMemory ? store : store.parts[m.mem];
}

/**
 * Copy a matrix into a memory in the kernels' layout (or row by row where they do not take it):
 * into `store` itself, or into the weights' memory it fits in.
 *
 * @param store a memory, or the weights' memories
 * @param t the matrix `[out, in]`
 * @returns where it is
 *
 * @example
 * ```ts
 * import { placeWasmMatrix } from "./wasm_matrix.ts";
 * import { WasmMemory } from "./wasm_memory.ts";
 * const mem = new WasmMemory();
 * const data = Float32Array.from({ length: 5 * 8 }, (_, i) => i);
 * const m = placeWasmMatrix(mem, { dtype: "f32", shape: [5, 8], data });
 * const g = new Float32Array(mem.memory.buffer, m.ptr, 8 * 8); // two groups, 4 rows each
 * // group 0: row 0's first 4, row 1's first 4, row 2's, row 3's, then their next 4 each
 * if (g[0] !== 0 || g[4] !== 8 || g[16] !== 4 || g[32] !== 32 || g[36] !== 0) throw new Error();
 * // q8_0 (34-byte blocks): block 0 of rows 0..3, then block 1 of each
 * const q = new Uint8Array(2 * 2 * 34).map((_, i) => i % 34 === 0 ? 1 + (i / 34) : 0); // row r block j: d byte 1 + 2r + j
 * const qm = placeWasmMatrix(mem, { dtype: "q8_0", shape: [2, 64], data: q });
 * const b = new Uint8Array(mem.memory.buffer, qm.ptr, 8 * 34);
 * if (b[0] !== 1 || b[34] !== 3 || b[68] !== 0 || b[4 * 34] !== 2 || b[5 * 34] !== 4) throw new Error();
 * ```
 */
export function placeWasmMatrix(store: WasmMemory | WeightMemories, t: WeightTensor): WasmMatrix {
  const [rows, cols] = t.shape;
  const grouped = groupable(t);
  const { step, rowBytes } = groupStep(t.dtype, cols);
  const groups = Math.ceil(rows / 4);
  const bytes = grouped ? groups * 4 * rowBytes : t.data.byteLength;
  const { index, memory: mem } = store instanceof WasmMemory ? { index: 0, memory: store } : store.reserve(bytes);
  if (!grouped) {
    const tensor = mem.place(t);
    return { dtype: t.dtype, shape: t.shape, mem: index, ptr: tensor.data.byteOffset, grouped: false, tensor };
  }
  const ptr = mem.alloc(bytes);
  new Uint8Array(mem.memory.buffer, ptr + (groups - 1) * 4 * rowBytes, 4 * rowBytes).fill(0); // padding rows
  if (!BLOCK_FORMATS.has(t.dtype)) {
    // 16-byte steps, copied as u32 quads
    const rowWords = rowBytes / 4;
    const dst = new Uint32Array(mem.memory.buffer, ptr, groups * 4 * rowWords);
    const src = new Uint32Array(t.data.buffer, t.data.byteOffset, rows * rowWords);
    for (let o = 0; o < rows; o++) {
      let d = (o >> 2) * 4 * rowWords + (o & 3) * 4;
      for (let s = o * rowWords, end = s + rowWords; s < end; s += 4, d += 16) {
        dst[d] = src[s];
        dst[d + 1] = src[s + 1];
        dst[d + 2] = src[s + 2];
        dst[d + 3] = src[s + 3];
      }
    }
  } else {
    const dst = new Uint8Array(mem.memory.buffer, ptr, groups * 4 * rowBytes);
    const q6k = t.dtype === "q6_k";
    const srcStep = q6k ? Q6K_GGML_BYTES : step;
    const srcRow = rowBytes / step * srcStep;
    const src = new Uint8Array(t.data.buffer, t.data.byteOffset, rows * srcRow);
    for (let o = 0; o < rows; o++) {
      let d = (o >> 2) * 4 * rowBytes + (o & 3) * step;
      for (let s = o * srcRow, end = s + srcRow; s < end; s += srcStep, d += 4 * step) {
        if (q6k) q6kToWasm(src, s, dst, d);
        else dst.set(src.subarray(s, s + step), d);
      }
    }
  }
  return { dtype: t.dtype, shape: t.shape, mem: index, ptr, grouped: true };
}

/**
 * Row `r` of a matrix in a memory, as f32 (the embedding lookup).
 *
 * @param store the memory, or the weights' memories, it was placed in
 * @param m the matrix
 * @param r the row
 * @param out where the values go (`in` long)
 * @returns `out`
 *
 * @example
 * ```ts
 * import { placeWasmMatrix, wasmMatrixRow } from "./wasm_matrix.ts";
 * import { WasmMemory } from "./wasm_memory.ts";
 * const mem = new WasmMemory();
 * const data = Float32Array.from({ length: 5 * 8 }, (_, i) => i);
 * const m = placeWasmMatrix(mem, { dtype: "f32", shape: [5, 8], data });
 * if (wasmMatrixRow(mem, m, 4, new Float32Array(8)).join() !== "32,33,34,35,36,37,38,39") throw new Error();
 * ```
 */
export function wasmMatrixRow(
  store: WasmMemory | WeightMemories,
  m: WasmMatrix,
  r: number,
  out: Float32Array,
): Float32Array {
  if (!m.grouped) return weightRow(m.tensor!, r, out);
  const mem = holder(store, m);
  const cols = m.shape[1];
  const { step, rowBytes } = groupStep(m.dtype, cols);
  const group = m.ptr + (r >> 2) * 4 * rowBytes;
  const lane = r & 3;
  if (BLOCK_FORMATS.has(m.dtype)) {
    const src = new Uint8Array(mem.memory.buffer, group, 4 * rowBytes);
    const q6k = m.dtype === "q6_k";
    const rowStep = q6k ? Q6K_GGML_BYTES : step;
    const row = new Uint8Array(rowBytes / step * rowStep);
    for (let s = lane * step, d = 0; d < row.length; s += 4 * step, d += rowStep) {
      if (q6k) q6kFromWasm(src, s, row, d);
      else row.set(src.subarray(s, s + step), d);
    }
    return dequantizeRow(m.dtype as QuantType, row, out);
  }
  if (m.dtype === "f32") {
    const f = new Float32Array(mem.memory.buffer, group, 4 * cols);
    for (let j = 0; j < cols; j += 4) for (let i = 0; i < 4; i++) out[j + i] = f[4 * j + 4 * lane + i];
    return out;
  }
  const h = new Uint16Array(mem.memory.buffer, group, 4 * cols);
  const widen = m.dtype === "f16" ? f16ToF32 : bf16ToF32;
  for (let j = 0; j < cols; j += 8) for (let i = 0; i < 8; i++) out[j + i] = widen(h[4 * j + 8 * lane + i]);
  return out;
}
