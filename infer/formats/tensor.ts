/**
 * The in-memory tensor of this engine: a row-major array of `f32` values or of 16-bit patterns
 * (`f16`, `bf16`) with its shape. Weight matrices are `[out, in]`, as Hugging Face stores them.
 *
 * @module
 */

import { type DType, fromF32, toF32 } from "./dtype.ts";

/** A row-major tensor. 16-bit formats hold raw bit patterns. */
export interface Tensor {
  /** Element format. */
  readonly dtype: DType;
  /** Sizes, outermost first (`[rows, cols]` for a matrix). */
  readonly shape: readonly number[];
  /** The elements: `Float32Array` for `f32`, `Uint16Array` for `f16`/`bf16`. */
  readonly data: Float32Array | Uint16Array;
}

/**
 * The number of elements a shape holds.
 *
 * @param shape sizes
 * @returns their product (1 for a scalar)
 *
 * @example
 * ```ts
 * import { numel } from "./tensor.ts";
 * if (numel([2, 3]) !== 6 || numel([]) !== 1) throw new Error();
 * ```
 */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * An f32 tensor from values (checked against the shape).
 *
 * @param shape sizes
 * @param values the elements, row-major
 * @returns the tensor
 *
 * @example
 * ```ts
 * import { f32Tensor } from "./tensor.ts";
 * const t = f32Tensor([2, 2], [1, 2, 3, 4]);
 * if (t.data[3] !== 4 || t.dtype !== "f32") throw new Error();
 * ```
 */
export function f32Tensor(shape: readonly number[], values: ArrayLike<number>): Tensor {
  if (values.length !== numel(shape)) throw new Error(`${values.length} values for shape [${shape}]`);
  return { dtype: "f32", shape: [...shape], data: Float32Array.from(values) };
}

/**
 * A tensor's values as f32 (a copy).
 *
 * @param t the tensor
 * @returns its values
 *
 * @example
 * ```ts
 * import { tensorToF32 } from "./tensor.ts";
 * const v = tensorToF32({ dtype: "bf16", shape: [1], data: new Uint16Array([0x4000]) });
 * if (v[0] !== 2) throw new Error();
 * ```
 */
export function tensorToF32(t: Tensor): Float32Array {
  return toF32(t.data, t.dtype);
}

/**
 * A tensor converted to another format (the same object when it already is in it).
 *
 * @param t the tensor
 * @param dtype the format wanted
 * @returns the converted tensor
 *
 * @example
 * ```ts
 * import { castTensor, f32Tensor } from "./tensor.ts";
 * const h = castTensor(f32Tensor([2], [1, -1]), "f16");
 * if (h.dtype !== "f16" || h.data[0] !== 0x3c00) throw new Error();
 * ```
 */
export function castTensor(t: Tensor, dtype: DType): Tensor {
  if (t.dtype === dtype) return t;
  return { dtype, shape: t.shape, data: fromF32(toF32(t.data, t.dtype), dtype) };
}
