/**
 * Number formats of model weights: IEEE half (`f16`), bfloat16 (`bf16`) and `f32`, and exact
 * conversions between them. 16-bit values are kept as their raw bit patterns in `Uint16Array`s.
 *
 * @module
 */

/** The element types a model tensor may have in memory. */
export type DType = "f32" | "f16" | "bf16";

/** Bytes per element of a {@linkcode DType}. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { f32: 4, f16: 2, bf16: 2 };

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The value of an IEEE 754 half-precision bit pattern.
 *
 * @param h the 16 bits
 * @returns the number it stands for
 *
 * @example
 * ```ts
 * import { f16ToF32 } from "./dtype.ts";
 * if (f16ToF32(0x3c00) !== 1 || f16ToF32(0xc000) !== -2 || f16ToF32(0x0001) !== 2 ** -24) throw new Error();
 * ```
 */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * The IEEE half bit pattern nearest to a number (round to nearest even; overflow gives ±∞).
 *
 * @param x the number
 * @returns its 16 bits
 *
 * @example
 * ```ts
 * import { f32ToF16 } from "./dtype.ts";
 * if (f32ToF16(1) !== 0x3c00 || f32ToF16(-2) !== 0xc000 || f32ToF16(1e6) !== 0x7c00) throw new Error();
 * ```
 */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

/**
 * The value of a bfloat16 bit pattern (the top half of an f32).
 *
 * @param h the 16 bits
 * @returns the number
 *
 * @example
 * ```ts
 * import { bf16ToF32 } from "./dtype.ts";
 * if (bf16ToF32(0x3f80) !== 1 || bf16ToF32(0x4049) !== 3.140625) throw new Error();
 * ```
 */
export function bf16ToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

/**
 * The bfloat16 bit pattern nearest to a number (round to nearest even).
 *
 * @param x the number
 * @returns its 16 bits
 *
 * @example
 * ```ts
 * import { f32ToBf16 } from "./dtype.ts";
 * if (f32ToBf16(1) !== 0x3f80 || f32ToBf16(Math.PI) !== 0x4049) throw new Error();
 * ```
 */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff)) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

let f16Table: Float32Array | undefined;
let bf16Table: Float32Array | undefined;

/**
 * A table of all 65,536 values of a 16-bit format, for fast conversion (`table[bits]`).
 *
 * @param dtype `f16` or `bf16`
 * @returns the shared table (do not modify)
 *
 * @example
 * ```ts
 * import { table16 } from "./dtype.ts";
 * if (table16("f16")[0x3c00] !== 1 || table16("bf16")[0xbf80] !== -1) throw new Error();
 * ```
 */
export function table16(dtype: "f16" | "bf16"): Float32Array {
  if (dtype === "f16") {
    if (!f16Table) {
      f16Table = new Float32Array(65536);
      for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
    }
    return f16Table;
  }
  if (!bf16Table) {
    bf16Table = new Float32Array(65536);
    new Uint32Array(bf16Table.buffer).set(Uint32Array.from({ length: 65536 }, (_, i) => i << 16));
  }
  return bf16Table;
}

/**
 * Values of a tensor's data as f32 (a copy; `f32` data is copied too).
 *
 * @param data the tensor's elements (16-bit patterns for `f16`/`bf16`)
 * @param dtype their format
 * @returns the values as f32
 *
 * @example
 * ```ts
 * import { toF32 } from "./dtype.ts";
 * const v = toF32(new Uint16Array([0x3c00, 0xbc00]), "f16");
 * if (v[0] !== 1 || v[1] !== -1) throw new Error();
 * ```
 */
export function toF32(data: Float32Array | Uint16Array, dtype: DType): Float32Array {
  if (dtype === "f32") return new Float32Array(data as Float32Array);
  const t = table16(dtype);
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = t[data[i]];
  return out;
}

/**
 * Values rounded into a format (a copy).
 *
 * @param values f32 values
 * @param dtype target format
 * @returns `Float32Array` for `f32`, else 16-bit patterns
 *
 * @example
 * ```ts
 * import { fromF32 } from "./dtype.ts";
 * const h = fromF32(new Float32Array([1, 0.5]), "bf16") as Uint16Array;
 * if (h[0] !== 0x3f80 || h[1] !== 0x3f00) throw new Error();
 * ```
 */
export function fromF32(values: Float32Array, dtype: DType): Float32Array | Uint16Array {
  if (dtype === "f32") return new Float32Array(values);
  const out = new Uint16Array(values.length);
  const round = dtype === "f16" ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < values.length; i++) out[i] = round(values[i]);
  return out;
}
