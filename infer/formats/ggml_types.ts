/**
 * The ggml tensor types a GGUF file may hold here: their ids in the file, and how their elements
 * are laid out (quantized types store rows as blocks of `blockSize` elements in `blockBytes` bytes).
 *
 * @module
 */

/** Names of the ggml tensor types read and written here. */
export type GgmlTypeName = "f32" | "f16" | "bf16" | "q4_0" | "q5_0" | "q8_0" | "q4_k" | "q5_k" | "q6_k";

/** The quantized (block) types among them. */
export type QuantType = Exclude<GgmlTypeName, "f32" | "f16" | "bf16">;

/** How one ggml type lays out its elements. */
export interface GgmlTypeLayout {
  /** The type's name. */
  readonly name: GgmlTypeName;
  /** Its id in a GGUF tensor info. */
  readonly id: number;
  /** Elements per block (1 for plain number types). */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly blockBytes: number;
}

/** The layouts, by name. Super-block (`_k`) types hold 256 elements per block. */
export const GGML_TYPE_LAYOUTS: Readonly<Record<GgmlTypeName, GgmlTypeLayout>> = {
  f32: { name: "f32", id: 0, blockSize: 1, blockBytes: 4 },
  f16: { name: "f16", id: 1, blockSize: 1, blockBytes: 2 },
  q4_0: { name: "q4_0", id: 2, blockSize: 32, blockBytes: 18 },
  q5_0: { name: "q5_0", id: 6, blockSize: 32, blockBytes: 22 },
  q8_0: { name: "q8_0", id: 8, blockSize: 32, blockBytes: 34 },
  q4_k: { name: "q4_k", id: 12, blockSize: 256, blockBytes: 144 },
  q5_k: { name: "q5_k", id: 13, blockSize: 256, blockBytes: 176 },
  q6_k: { name: "q6_k", id: 14, blockSize: 256, blockBytes: 210 },
  bf16: { name: "bf16", id: 30, blockSize: 1, blockBytes: 2 },
};

const BY_ID: ReadonlyMap<number, GgmlTypeLayout> = new Map(
  Object.values(GGML_TYPE_LAYOUTS).map((t) => [t.id, t]),
);

/**
 * The layout of a ggml type id, or `undefined` for a type not supported here.
 *
 * @param id the type id from a GGUF tensor info
 * @returns its layout, or `undefined`
 *
 * @example
 * ```ts
 * import { ggmlTypeById } from "./ggml_types.ts";
 * if (ggmlTypeById(12)?.name !== "q4_k" || ggmlTypeById(3) !== undefined) throw new Error();
 * ```
 */
export function ggmlTypeById(id: number): GgmlTypeLayout | undefined {
  return BY_ID.get(id);
}

/**
 * Bytes a row of `n` elements takes in a ggml type; `undefined` when `n` is not a whole
 * number of blocks (ggml stores no partial blocks).
 *
 * @param type the type's name
 * @param n elements in the row
 * @returns the row's bytes, or `undefined`
 *
 * @example
 * ```ts
 * import { ggmlRowBytes } from "./ggml_types.ts";
 * if (ggmlRowBytes("q8_0", 64) !== 68 || ggmlRowBytes("q4_k", 100) !== undefined) throw new Error();
 * ```
 */
export function ggmlRowBytes(type: GgmlTypeName, n: number): number | undefined {
  const t = GGML_TYPE_LAYOUTS[type];
  return n % t.blockSize === 0 ? (n / t.blockSize) * t.blockBytes : undefined;
}
