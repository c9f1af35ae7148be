/**
 * Quantization presets: which ggml type each tensor of a model gets, by llama.cpp's rules for
 * its file types (`llama-quantize`'s `Q8_0`, `Q4_0`, `Q6_K`, `Q4_K_M`, and the plain `F32`,
 * `F16`, `BF16`), from a tensor's GGUF name, its shape and the model's layer count.
 *
 * The rules, for dense (non-MoE) models:
 * - 1-D tensors (norms, biases, RoPE factors) stay `f32`.
 * - `output.weight` (and `token_embd.weight` when it doubles as the output) gets `q6_k`, unless
 *   the preset is `q8_0` (stays) or its row is not a whole number of the preset's blocks (`q8_0`).
 * - `Q4_K_M`: `attn_v` and `ffn_down` get `q6_k` in the layers {@linkcode useMoreBits} picks.
 * - A type whose block does not divide the row length falls back: `q4_k` → `q5_0`,
 *   `q6_k` → `q8_0`, and a 32-element type that still does not fit → `f16`.
 *
 * @module
 */

import { GGML_TYPE_LAYOUTS, ggmlRowBytes, type GgmlTypeName } from "./ggml_types.ts";

/** The presets {@linkcode tensorTypeFor} knows. */
export type QuantPreset = "f32" | "f16" | "bf16" | "q8_0" | "q4_0" | "q6_k" | "q4_k_m";

/** A preset's default tensor type and its `general.file_type` (llama.cpp's `LLAMA_FTYPE_*` id). */
export interface QuantPresetInfo {
  /** The ggml type of most 2-D weights. */
  readonly base: GgmlTypeName;
  /** `general.file_type` of a file written with this preset. */
  readonly fileType: number;
}

/** The presets: base type and llama.cpp file type id (`LLAMA_FTYPE_MOSTLY_*`). */
export const QUANT_PRESETS: Readonly<Record<QuantPreset, QuantPresetInfo>> = {
  f16: { base: "f16", fileType: 1 },
  f32: { base: "f32", fileType: 0 },
  bf16: { base: "bf16", fileType: 32 },
  q8_0: { base: "q8_0", fileType: 7 },
  q6_k: { base: "q6_k", fileType: 18 },
  q4_k_m: { base: "q4_k", fileType: 15 },
  q4_0: { base: "q4_0", fileType: 2 },
};

/** IEPile's `--bits` (LLaMA-Factory's on-the-fly quantization) as the GGUF preset nearest to it. */
export const BITS_PRESETS: Readonly<Record<4 | 8, QuantPreset>> = { 4: "q4_k_m", 8: "q8_0" };

/**
 * The preset for IEPile's `--bits N`: 4 → `q4_k_m`, 8 → `q8_0`.
 *
 * @param bits the `--bits` value
 * @returns the preset, or `undefined` for other values
 *
 * @example
 * ```ts
 * import { presetForBits } from "./quant_preset.ts";
 * if (presetForBits(4) !== "q4_k_m" || presetForBits(8) !== "q8_0" || presetForBits(3) !== undefined) throw new Error();
 * ```
 */
export function presetForBits(bits: number): QuantPreset | undefined {
  return bits === 4 || bits === 8 ? BITS_PRESETS[bits] : undefined;
}

/**
 * Whether a layer of `Q4_K_M` gets more bits for `attn_v` and `ffn_down`: the first and last
 * eighths of the layers, and every third layer between them.
 *
 * @param layer the layer index
 * @param layers the model's layer count
 * @returns whether it gets `q6_k`
 *
 * @example
 * ```ts
 * import { useMoreBits } from "./quant_preset.ts";
 * // 32 layers: 0..3 and 28..31, and 6, 9, 12, ... (layer − 4 ≡ 2 mod 3)
 * if (!useMoreBits(3, 32) || useMoreBits(4, 32) || !useMoreBits(6, 32) || !useMoreBits(28, 32)) throw new Error();
 * ```
 */
export function useMoreBits(layer: number, layers: number): boolean {
  const eighth = Math.trunc(layers / 8);
  return layer < eighth || layer >= Math.trunc((7 * layers) / 8) || (layer - eighth) % 3 === 2;
}

/** A tensor as {@linkcode tensorTypeFor} sees it. */
export interface PresetTensor {
  /** GGUF name, e.g. `blk.3.attn_v.weight`. */
  readonly name: string;
  /** Row-major shape; the last dimension is the row length. */
  readonly shape: readonly number[];
}

/** The model facts the rules depend on. */
export interface PresetModel {
  /** Layer (block) count. */
  readonly layers: number;
  /** Whether `token_embd.weight` is also the output projection (no `output.weight`). */
  readonly tiedEmbeddings?: boolean;
}

/**
 * The ggml type a tensor gets in a preset, as llama.cpp's `llama-quantize` chooses it.
 *
 * @param preset the preset
 * @param tensor the tensor's name and shape
 * @param model layer count and tied embeddings
 * @returns the ggml type
 *
 * @example
 * ```ts
 * import { tensorTypeFor } from "./quant_preset.ts";
 * const m = { layers: 32 };
 * if (tensorTypeFor("q4_k_m", { name: "blk.0.attn_v.weight", shape: [1024, 4096] }, m) !== "q6_k") throw new Error();
 * if (tensorTypeFor("q4_k_m", { name: "blk.4.attn_v.weight", shape: [1024, 4096] }, m) !== "q4_k") throw new Error();
 * if (tensorTypeFor("q4_k_m", { name: "blk.4.attn_q.weight", shape: [64, 64] }, m) !== "q5_0") throw new Error();
 * if (tensorTypeFor("q4_k_m", { name: "blk.4.attn_norm.weight", shape: [4096] }, m) !== "f32") throw new Error();
 * ```
 */
export function tensorTypeFor(preset: QuantPreset, tensor: PresetTensor, model: PresetModel): GgmlTypeName {
  const base = QUANT_PRESETS[preset].base;
  if (tensor.shape.length < 2) return "f32";
  if (GGML_TYPE_LAYOUTS[base].blockSize === 1) return base;
  const name = tensor.name;
  if (!name.endsWith("weight") || name.includes("_norm.weight")) return "f16";
  const row = tensor.shape[tensor.shape.length - 1];
  const layer = Number(/^blk\.(\d+)\./.exec(name)?.[1] ?? -1);
  let type = base;
  const isOutput = name === "output.weight" || (model.tiedEmbeddings === true && name === "token_embd.weight");
  if (isOutput) {
    if (row % GGML_TYPE_LAYOUTS[base].blockSize !== 0) type = "q8_0";
    else if (base !== "q8_0") type = "q6_k";
  } else if (preset === "q4_k_m" && (/\.attn_v\.weight$/.test(name) || /\.ffn_down\.weight$/.test(name))) {
    if (layer >= 0 && useMoreBits(layer, model.layers)) type = "q6_k";
  }
  return fallbackFor(type, row);
}

/** llama.cpp's replacement for a type whose blocks do not divide the row length. */
function fallbackFor(type: GgmlTypeName, row: number): GgmlTypeName {
  if (row % GGML_TYPE_LAYOUTS[type].blockSize === 0) return type;
  const next: GgmlTypeName = type === "q4_k" ? "q5_0" : type === "q6_k" ? "q8_0" : type;
  return row % GGML_TYPE_LAYOUTS[next].blockSize === 0 ? next : "f16";
}

/**
 * Bits per weight of a set of tensors with their chosen types: packed bits over elements.
 *
 * @param tensors each tensor's shape and ggml type
 * @returns bits per weight, all tensors together
 *
 * @example
 * ```ts
 * import { bitsPerWeight } from "./quant_preset.ts";
 * const bpw = bitsPerWeight([{ shape: [2, 256], type: "q4_k" }, { shape: [1, 256], type: "q6_k" }]);
 * if (Math.abs(bpw - (2 * 144 + 210) * 8 / 768) > 1e-12) throw new Error();
 * ```
 */
export function bitsPerWeight(tensors: readonly { shape: readonly number[]; type: GgmlTypeName }[]): number {
  let bits = 0;
  let n = 0;
  for (const t of tensors) {
    const row = t.shape[t.shape.length - 1] ?? 1;
    const rows = t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    bits += 8 * rows * (ggmlRowBytes(t.type, row) ?? NaN);
    n += rows * row;
  }
  return bits / n;
}
