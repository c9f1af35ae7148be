/**
 * What a model needs in memory, worked out from its shape alone: the bytes of its weights in
 * each format a user can choose (as stored, or one of llama.cpp's quantization presets, each
 * tensor in the type the preset gives it), and of the KV cache at a context size.
 *
 * @module
 */

import { ggmlRowBytes, type GgmlTypeName } from "../formats/ggml_types.ts";
import { bitsPerWeight, type QuantPreset, tensorTypeFor } from "../formats/quant_preset.ts";
import { GGUF_ARCHITECTURES, layerTensorName } from "./architecture_table.ts";
import type { ModelSpec } from "./model_spec.ts";

/** The memory of a model in one format. */
export interface FormatMemory {
  /** The format: a preset name. */
  readonly format: QuantPreset;
  /** Bytes of the weights. */
  readonly weightBytes: number;
  /** Bits per weight over all tensors. */
  readonly bitsPerWeight: number;
}

/** A tensor of the model as the engines hold it: GGUF name and row-major shape. */
interface PlannedTensor {
  readonly name: string;
  readonly shape: readonly number[];
}

/** The model's tensors (canonical shapes, GGUF names). */
function tensorsOf(spec: ModelSpec): PlannedTensor[] {
  const names = GGUF_ARCHITECTURES.llama.tensors;
  const q = spec.heads * spec.headDim, kv = spec.kvHeads * spec.headDim;
  const out: PlannedTensor[] = [{ name: names.global.embed!, shape: [spec.vocabSize, spec.hidden] }];
  for (let i = 0; i < spec.layers; i++) {
    const at = (role: keyof typeof names.layer, shape: number[]) =>
      out.push({ name: layerTensorName(names.layer[role]!, i), shape });
    at("attnNorm", [spec.hidden]);
    at("wq", [q, spec.hidden]);
    at("wk", [kv, spec.hidden]);
    at("wv", [kv, spec.hidden]);
    at("wo", [spec.hidden, q]);
    if (spec.qkvBias) (at("bq", [q]), at("bk", [kv]), at("bv", [kv]));
    if (spec.oBias) at("bo", [spec.hidden]);
    at("ffnNorm", [spec.hidden]);
    at("w1", [spec.intermediate, spec.hidden]);
    at("w3", [spec.intermediate, spec.hidden]);
    at("w2", [spec.hidden, spec.intermediate]);
  }
  out.push({ name: names.global.norm!, shape: [spec.hidden] });
  if (!spec.tiedEmbeddings) out.push({ name: names.global.output!, shape: [spec.vocabSize, spec.hidden] });
  return out;
}

/** What {@linkcode weightMemory} counts. */
export interface WeightMemoryOptions {
  /**
   * Count the input embedding (default: yes). The trainer looks it up on the host; when the
   * embedding is also the output matrix (tied), it is counted either way.
   */
  readonly inputEmbedding?: boolean;
}

/**
 * Weight bytes of a model in each format: its tensors each in the type the preset gives it
 * (norms and biases stay f32).
 *
 * @param spec the model
 * @param formats the formats (default: f16 and the quantized presets)
 * @param o what to count
 * @returns one entry per format, in the order given
 *
 * @example
 * ```ts
 * import { weightMemory } from "./memory_plan.ts";
 * const spec = { architecture: "llama", vocabSize: 32000, hidden: 4096, intermediate: 11008, layers: 32, heads: 32,
 *   kvHeads: 32, headDim: 128, normEps: 1e-5, position: { kind: "rope", theta: 1e4 }, qkvBias: false, oBias: false,
 *   tiedEmbeddings: false, normHead: false, maxPositions: 4096, eosIds: [2] } as const;
 * const [f16, q4] = weightMemory(spec, ["f16", "q4_k_m"]);
 * // LLaMA-2-7B: 6.74 B parameters, 13.5 GB in f16; llama.cpp's Q4_K_M file holds 4.08 GB of tensors.
 * if (Math.abs(f16.weightBytes / 1e9 - 13.48) > 0.01 || Math.abs(q4.weightBytes / 1e9 - 4.08) > 0.01) {
 *   throw new Error(`${f16.weightBytes} ${q4.weightBytes}`);
 * }
 * ```
 */
export function weightMemory(
  spec: ModelSpec,
  formats: readonly QuantPreset[] = ["f16", "q8_0", "q6_k", "q4_k_m", "q4_0"],
  o: WeightMemoryOptions = {},
): FormatMemory[] {
  const embed = GGUF_ARCHITECTURES.llama.tensors.global.embed!;
  const tensors = tensorsOf(spec).filter((t) => t.name !== embed || o.inputEmbedding !== false || spec.tiedEmbeddings);
  const model = { layers: spec.layers, tiedEmbeddings: spec.tiedEmbeddings };
  return formats.map((format) => {
    const typed = tensors.map((t) => ({ shape: t.shape, type: tensorTypeFor(format, t, model) as GgmlTypeName }));
    let bytes = 0;
    for (const t of typed) {
      const cols = t.shape[t.shape.length - 1];
      const rows = t.shape.length > 1 ? t.shape[0] : 1;
      bytes += rows * ggmlRowBytes(t.type, cols)!;
    }
    return { format, weightBytes: bytes, bitsPerWeight: bitsPerWeight(typed) };
  });
}

/**
 * Bytes of the KV cache per token: keys and values of every layer, in f32 as our engines keep
 * them (llama.cpp keeps f16 by default: half of it).
 *
 * @param spec the model
 * @returns bytes per token
 *
 * @example
 * ```ts
 * import { kvBytesPerToken } from "./memory_plan.ts";
 * const spec = { layers: 40, kvHeads: 40, headDim: 128 } as Parameters<typeof kvBytesPerToken>[0];
 * if (kvBytesPerToken(spec) !== 2 * 40 * 40 * 128 * 4) throw new Error();
 * ```
 */
export function kvBytesPerToken(spec: Pick<ModelSpec, "layers" | "kvHeads" | "headDim">): number {
  return 2 * spec.layers * spec.kvHeads * spec.headDim * 4;
}
