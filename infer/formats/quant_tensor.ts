/**
 * Weight matrices that may be quantized: a {@linkcode Tensor} (f32, f16, bf16) or a
 * {@linkcode QuantTensor} whose rows are ggml blocks, packed as in a GGUF file. Quantized
 * matrices stay packed in memory; engines unpack a block where they multiply.
 *
 * @module
 */

import { dequantizeRow, quantizeRow } from "./ggml_quant.ts";
import { ggmlRowBytes, type GgmlTypeName, type QuantType } from "./ggml_types.ts";
import { castTensor, type Tensor } from "./tensor.ts";
import { type DType, DTYPE_BYTES, table16, toF32 } from "./dtype.ts";

/** A matrix `[rows, cols]` of ggml blocks: each row `cols / blockSize` blocks, rows one after another. */
export interface QuantTensor {
  /** The block format. */
  readonly dtype: QuantType;
  /** `[rows, cols]`. */
  readonly shape: readonly number[];
  /** The packed rows. */
  readonly data: Uint8Array;
}

/** A weight matrix as engines take it: plain or quantized. */
export type WeightTensor = Tensor | QuantTensor;

const PLAIN: ReadonlySet<string> = new Set(["f32", "f16", "bf16"]);

/**
 * Whether a weight matrix is quantized.
 *
 * @param t the matrix
 * @returns true for ggml block formats
 *
 * @example
 * ```ts
 * import { isQuantTensor } from "./quant_tensor.ts";
 * if (isQuantTensor({ dtype: "f32", shape: [1], data: new Float32Array(1) })) throw new Error();
 * ```
 */
export function isQuantTensor(t: WeightTensor): t is QuantTensor {
  return !PLAIN.has(t.dtype);
}

/**
 * A matrix in a ggml type: rows quantized one at a time (or cast, for f32/f16/bf16).
 *
 * @param t the matrix `[rows, cols]`
 * @param type the type wanted
 * @returns the matrix in that type
 * @throws {InputError} when a row is not a whole number of the type's blocks
 *
 * @example
 * ```ts
 * import { quantizeTensor } from "./quant_tensor.ts";
 * const q = quantizeTensor({ dtype: "f32", shape: [2, 32], data: new Float32Array(64).fill(1) }, "q8_0");
 * if (q.dtype !== "q8_0" || q.data.length !== 2 * 34) throw new Error();
 * ```
 */
export function quantizeTensor(t: Tensor, type: GgmlTypeName): WeightTensor {
  if (PLAIN.has(type)) return castTensor(t, type as DType);
  const [rows, cols] = t.shape;
  const rowBytes = ggmlRowBytes(type, cols);
  const data = new Uint8Array(rows * (rowBytes ?? 0));
  const row = new Float32Array(cols);
  const values = t.dtype === "f32" ? t.data as Float32Array : undefined;
  for (let r = 0; r < rows; r++) {
    const x = values
      ? values.subarray(r * cols, (r + 1) * cols)
      : toF32(t.data.subarray(r * cols, (r + 1) * cols), t.dtype);
    row.set(x);
    data.set(quantizeRow(type, row), r * rowBytes!);
  }
  return { dtype: type as QuantType, shape: t.shape, data };
}

/**
 * Bytes of one row of a weight matrix.
 *
 * @param t the matrix
 * @returns bytes per row
 *
 * @example
 * ```ts
 * import { weightRowBytes } from "./quant_tensor.ts";
 * if (weightRowBytes({ dtype: "q4_k", shape: [3, 512], data: new Uint8Array(3 * 288) }) !== 288) throw new Error();
 * ```
 */
export function weightRowBytes(t: WeightTensor): number {
  const cols = t.shape[t.shape.length - 1];
  return isQuantTensor(t) ? ggmlRowBytes(t.dtype, cols)! : cols * DTYPE_BYTES[t.dtype];
}

/**
 * Row `r` of a weight matrix as f32 values (into `out`).
 *
 * @param t the matrix
 * @param r the row
 * @param out where the values go (`cols` long)
 * @returns `out`
 *
 * @example
 * ```ts
 * import { quantizeTensor, weightRow } from "./quant_tensor.ts";
 * // q8_0 scales a block by its largest value / 127: a block of 127s has scale 1, exactly.
 * const q = quantizeTensor({ dtype: "f32", shape: [2, 32], data: new Float32Array(64).map((_, i) => i < 32 ? 0 : 127) }, "q8_0");
 * if (weightRow(q, 1, new Float32Array(32)).some((v) => v !== 127)) throw new Error();
 * ```
 */
export function weightRow(t: WeightTensor, r: number, out: Float32Array): Float32Array {
  const cols = out.length;
  if (isQuantTensor(t)) {
    const bytes = weightRowBytes(t);
    return dequantizeRow(t.dtype, t.data.subarray(r * bytes, (r + 1) * bytes), out);
  }
  out.set(toF32(t.data.subarray(r * cols, (r + 1) * cols), t.dtype));
  return out;
}

/**
 * A reader of a matrix's rows as f32 values for a loop over all rows: f32 rows are views of the
 * data (no copy), 16-bit rows are widened through a lookup table and block rows dequantized into
 * the scratch row the caller passes (and reuses).
 *
 * @param t the matrix `[rows, cols]`
 * @returns `(r, scratch) => row r` (`scratch` is `cols` long; the result may be it)
 *
 * @example
 * ```ts
 * import { weightRowReader } from "./quant_tensor.ts";
 * const read = weightRowReader({ dtype: "f16", shape: [2, 1], data: new Uint16Array([0x3c00, 0x4000]) });
 * if (read(1, new Float32Array(1))[0] !== 2) throw new Error();
 * ```
 */
export function weightRowReader(t: WeightTensor): (r: number, scratch: Float32Array) => Float32Array {
  const cols = t.shape[t.shape.length - 1];
  if (t.dtype === "f32") {
    const data = t.data as Float32Array;
    return (r) => data.subarray(r * cols, (r + 1) * cols);
  }
  if (t.dtype === "f16" || t.dtype === "bf16") {
    const table = table16(t.dtype), data = t.data as Uint16Array;
    return (r, scratch) => {
      const base = r * cols;
      for (let i = 0; i < cols; i++) scratch[i] = table[data[base + i]];
      return scratch;
    };
  }
  return (r, scratch) => weightRow(t, r, scratch);
}

/**
 * A weight matrix as a plain tensor: quantized rows dequantized to f32 (a new tensor), plain
 * ones as they are.
 *
 * @param t the matrix
 * @returns it as a {@linkcode Tensor}
 *
 * @example
 * ```ts
 * import { plainTensor, quantizeTensor } from "./quant_tensor.ts";
 * const t = plainTensor(quantizeTensor({ dtype: "f32", shape: [1, 32], data: new Float32Array(32).fill(-127) }, "q8_0"));
 * if (t.dtype !== "f32" || t.data[5] !== -127) throw new Error();
 * ```
 */
export function plainTensor(t: WeightTensor): Tensor {
  if (!isQuantTensor(t)) return t;
  const [rows, cols] = t.shape;
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) weightRow(t, r, data.subarray(r * cols, (r + 1) * cols));
  return { dtype: "f32", shape: t.shape, data };
}
