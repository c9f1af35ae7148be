/**
 * Export a loaded model (LoRA merged) as GGUF for llama.cpp and Ollama: llama.cpp's tensor
 * names (from `architecture_table.ts`) and hyper-parameter keys, the Q/K row order its RoPE
 * expects, and the tokenizer
 * (from the folder's `tokenizer.json`, or a placeholder vocabulary for models without one).
 *
 * @module
 */

import { join } from "node:path";
import { writeAtomically } from "../../io/atomic_write.ts";
import { InputError } from "../../io/errors.ts";
import { ggufSize, type GgufTensor, type GgufValue, writeGguf } from "../formats/gguf.ts";
import { isQuantized, quantizeRow } from "../formats/ggml_quant.ts";
import { QuantizePool } from "../formats/quantize_pool.ts";
import { bitsPerWeight, QUANT_PRESETS, type QuantPreset, tensorTypeFor } from "../formats/quant_preset.ts";
import type { LoadedModel } from "./load_model.ts";
import {
  ARCHITECTURES,
  GGUF_ARCHITECTURES,
  type GgufArchitecture,
  LAYER_ROLES,
  type LayerRole,
  layerTensorName,
} from "./architecture_table.ts";
import { type ModelSpec, ropeInvFreq } from "./model_spec.ts";
import { castTensor, type Tensor, tensorToF32 } from "../formats/tensor.ts";
import { plainTensor, type WeightTensor } from "../formats/quant_tensor.ts";

/** Options of {@linkcode exportGguf}. */
export interface ExportGgufOptions {
  /**
   * Format of the weight matrices (default f16; norms and biases are always f32): a plain
   * format (`f32`, `f16`, `bf16`) or a llama.cpp quantization preset (`q8_0`, `q4_0`, `q6_k`,
   * `q4_k_m`), which picks each matrix's ggml type as `llama-quantize` would.
   */
  readonly dtype?: QuantPreset;
  /** Tokenizer files (default: read from the model folder when present). */
  readonly tokenizer?: { readonly json: unknown; readonly config?: unknown } | null;
  /** `general.name` (default: the folder's name). */
  readonly name?: string;
  /**
   * Workers that quantize large matrices as they are written (default: this thread does). The
   * caller ends them once the file is written; {@linkcode exportGguf} makes its own.
   */
  readonly pool?: QuantizePool;
}

/** What {@linkcode exportGguf} wrote. */
export interface ExportGgufResult {
  /** The llama.cpp architecture written (`llama`, `qwen2` or `baichuan`). */
  readonly architecture: string;
  /** Bytes written. */
  readonly bytes: number;
  /** Bits per weight of the tensors' data (all tensors, norms included). */
  readonly bitsPerWeight: number;
  /** Tensors written. */
  readonly tensors: number;
  /** Where the vocabulary came from. */
  readonly tokenizer: "tokenizer.json" | "placeholder";
}

/**
 * The version of what {@linkcode exportGguf} writes: raised whenever a change here changes the
 * file for the same model, so that exports cached by an earlier version are made again.
 */
export const GGUF_EXPORTER_VERSION = 1;

/** A GGUF export laid out but not written: {@linkcode planGgufExport}. */
export interface GgufExportPlan {
  /** The llama.cpp architecture (`llama`, `qwen2` or `baichuan`). */
  readonly architecture: string;
  /** Metadata key-values, in order. */
  readonly metadata: readonly (readonly [string, GgufValue])[];
  /** Tensors, in order (each converted when written). */
  readonly tensors: readonly GgufTensor[];
  /** The size of the file, in bytes. */
  readonly bytes: number;
  /** Bits per weight of the tensors' data (all tensors, norms included). */
  readonly bitsPerWeight: number;
  /** Where the vocabulary came from. */
  readonly tokenizer: "tokenizer.json" | "placeholder";
}

/**
 * Write a loaded model as a GGUF file, atomically: through a temporary file beside `path`
 * that is removed if the export fails or is stopped.
 *
 * @param model the loaded model (adapters already merged)
 * @param path the output `.gguf`
 * @param options format, tokenizer, name
 * @returns what was written
 * @throws {InputError} when llama.cpp cannot represent the model or the tokenizer, or `path`
 * cannot be written (a folder, a missing folder)
 *
 * @example
 * ```ts
 * import { exportGguf, loadModel, readGgufHeader } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 300, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const out = dir + "/m.gguf";
 * const r = await exportGguf(await loadModel(dir), out, { dtype: "f32" });
 * const h = await readGgufHeader(out);
 * if (r.architecture !== "llama" || h.metadata.get("llama.block_count") !== 1) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function exportGguf(
  model: LoadedModel,
  path: string,
  options: ExportGgufOptions = {},
): Promise<ExportGgufResult> {
  // A quantized export takes every core while it writes.
  using own = options.pool === undefined && isQuantizedPreset(options.dtype) ? new QuantizePool() : undefined;
  const plan = await planGgufExport(model, { ...options, pool: options.pool ?? own });
  const bytes = await writeAtomically(path, (tmp) => writeGguf(tmp, plan.metadata, plan.tensors));
  return {
    architecture: plan.architecture,
    bytes,
    bitsPerWeight: plan.bitsPerWeight,
    tensors: plan.tensors.length,
    tokenizer: plan.tokenizer,
  };
}

/**
 * Whether an export format is a quantization preset (not f32, f16 or bf16; the default is f16).
 *
 * @param dtype the format
 * @returns true for `q8_0`, `q4_0`, `q6_k`, `q4_k_m`
 *
 * @example
 * ```ts
 * import { isQuantizedPreset } from "./gguf_export.ts";
 * if (!isQuantizedPreset("q4_k_m") || isQuantizedPreset(undefined) || isQuantizedPreset("bf16")) throw new Error();
 * ```
 */
export function isQuantizedPreset(dtype: QuantPreset | undefined): boolean {
  return dtype !== undefined && dtype !== "f32" && dtype !== "f16" && dtype !== "bf16";
}

/**
 * Lay out the GGUF of a loaded model without writing it: its metadata, its tensors (converted
 * only when written) and the file's size.
 *
 * @param model the loaded model (adapters already merged)
 * @param options format, tokenizer, name
 * @returns the plan, for {@linkcode writeGguf}
 * @throws {InputError} when llama.cpp cannot represent the model or the tokenizer
 *
 * @example
 * ```ts
 * import { exportGguf, loadModel } from "../mod.ts";
 * import { planGgufExport } from "./mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 300, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const model = await loadModel(dir);
 * const plan = await planGgufExport(model);
 * const r = await exportGguf(model, dir + "/m.gguf");
 * if (plan.bytes !== r.bytes || (await Deno.stat(dir + "/m.gguf")).size !== plan.bytes) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function planGgufExport(model: LoadedModel, options: ExportGgufOptions = {}): Promise<GgufExportPlan> {
  const spec = model.spec;
  const arch = ggufArchitectureOf(spec);
  const dtype = options.dtype ?? "f16";
  const tok = options.tokenizer === undefined ? await readTokenizerFiles(model.dir) : options.tokenizer ?? undefined;
  const meta: [string, GgufValue][] = [];
  const str = (k: string, v: string) => meta.push([k, { type: "string", value: v }]);
  const u32 = (k: string, v: number) => meta.push([k, { type: "u32", value: v }]);
  const f32 = (k: string, v: number) => meta.push([k, { type: "f32", value: v }]);
  str("general.architecture", arch);
  str("general.name", options.name ?? (model.dir.split(/[\\/]/).filter(Boolean).pop() ?? "model"));
  u32("general.file_type", QUANT_PRESETS[dtype].fileType);
  u32(`${arch}.context_length`, spec.maxPositions);
  u32(`${arch}.embedding_length`, spec.hidden);
  u32(`${arch}.block_count`, spec.layers);
  u32(`${arch}.feed_forward_length`, spec.intermediate);
  u32(`${arch}.attention.head_count`, spec.heads);
  u32(`${arch}.attention.head_count_kv`, spec.kvHeads);
  f32(`${arch}.attention.layer_norm_rms_epsilon`, spec.normEps);
  if (spec.slidingWindow !== undefined) u32(`${arch}.attention.sliding_window`, spec.slidingWindow);
  if (spec.headDim !== spec.hidden / spec.heads) {
    u32(`${arch}.attention.key_length`, spec.headDim);
    u32(`${arch}.attention.value_length`, spec.headDim);
  }
  u32(`${arch}.vocab_size`, spec.vocabSize);
  const rope = spec.position.kind === "rope" ? spec.position : undefined;
  u32(`${arch}.rope.dimension_count`, spec.headDim);
  if (rope) {
    f32(`${arch}.rope.freq_base`, rope.theta);
    if (rope.scaling?.type === "linear") {
      str(`${arch}.rope.scaling.type`, "linear");
      f32(`${arch}.rope.scaling.factor`, rope.scaling.factor);
    }
  }
  const vocab = tok ? vocabFromTokenizer(tok.json, tok.config, spec) : placeholderVocab(spec);
  meta.push(...vocab);

  // llama.cpp's "normal" RoPE rotates adjacent pairs; Hugging Face's rotate-half pairs i and
  // i + d/2. Reordering the rows of Q and K per head makes the two agree (NEOX RoPE needs none).
  const g = GGUF_ARCHITECTURES[arch];
  const permute = !g.neoxRope;
  const names = g.tensors;
  const w = model.weights;
  const tensors: GgufTensor[] = [];
  const tied = spec.tiedEmbeddings && !g.outputRequired;
  // Each matrix is converted (and quantized) only when written: one tensor in memory at a time.
  const pool = options.pool;
  const matrix = (name: string, w: WeightTensor, heads?: number) => {
    const type = tensorTypeFor(dtype, { name, shape: w.shape }, { layers: spec.layers, tiedEmbeddings: tied });
    const rows = () => {
      // Matrices loaded quantized are written from their values.
      const t = plainTensor(w);
      return heads && permute ? permuteRows(t, heads) : t;
    };
    tensors.push({
      name,
      shape: w.shape,
      dtype: type,
      data: isQuantized(type)
        ? (pool ? async () => (await pool.quantize(rows(), type)).data : () => quantizeRow(type, tensorToF32(rows())))
        : () => castTensor(rows(), type as "f32" | "f16" | "bf16").data,
    });
  };
  const vector = (name: string, t: Tensor, heads?: number) =>
    tensors.push({
      name,
      shape: t.shape,
      dtype: "f32",
      data: () => castTensor(heads && permute ? permuteRows(t, heads) : t, "f32").data,
    });
  matrix(names.global.embed!, w.embed);
  if (rope?.scaling?.type === "llama3") {
    const plain = ropeInvFreq({ kind: "rope", theta: rope.theta }, spec.headDim);
    const scaled = ropeInvFreq(rope, spec.headDim);
    const factors = Float32Array.from(plain, (f, i) => f / scaled[i]);
    tensors.push({ name: names.ropeFreqs, shape: [factors.length], dtype: "f32", data: () => factors });
  }
  w.layers.forEach((l, i) => {
    for (const role of Object.keys(LAYER_ROLES) as LayerRole[]) {
      const name = names.layer[role];
      const t = role === "wqkv" ? undefined : l[role];
      if (name === undefined || t === undefined) continue;
      const info = LAYER_ROLES[role];
      if (info.kind === "matrix") matrix(layerTensorName(name, i), t, info.ropeHeads?.(spec));
      else vector(layerTensorName(name, i), t as Tensor, info.ropeHeads?.(spec));
    }
  });
  vector(names.global.norm!, w.norm);
  if (!spec.tiedEmbeddings || g.outputRequired) matrix(names.global.output!, w.output);
  return {
    architecture: arch,
    metadata: meta,
    tensors,
    bytes: ggufSize(meta, tensors),
    bitsPerWeight: bitsPerWeight(tensors.map((t) => ({ shape: t.shape, type: t.dtype }))),
    tokenizer: tok ? "tokenizer.json" : "placeholder",
  };
}

/**
 * The llama.cpp architecture for a model (its row's `gguf`). llama.cpp picks Baichuan's
 * position encoding by layer count (32: RoPE, 40: ALiBi); a RoPE Baichuan of another depth
 * computes exactly as Llama does, so it is written as `llama`.
 *
 * @param spec the model
 * @returns `llama`, `qwen2` or `baichuan`
 * @throws {InputError} for an ALiBi model llama.cpp would not run with ALiBi
 *
 * @example
 * ```ts
 * import { ggufArchitecture } from "./gguf_export.ts";
 * import { specFromConfig } from "./architectures.ts";
 * const spec = specFromConfig({ model_type: "baichuan", vocab_size: 8, hidden_size: 4, intermediate_size: 8,
 *   num_hidden_layers: 2, num_attention_heads: 1, max_position_embeddings: 64 });
 * if (ggufArchitecture(spec) !== "llama") throw new Error();
 * ```
 */
export function ggufArchitecture(spec: ModelSpec): string {
  return ggufArchitectureOf(spec);
}

function ggufArchitectureOf(spec: ModelSpec): GgufArchitecture {
  const row = ARCHITECTURES[spec.architecture];
  const { architecture, depths } = row.gguf;
  if (depths === undefined) return architecture;
  if (spec.position.kind === "alibi") {
    if (spec.layers !== depths.alibi) {
      throw new InputError(
        `llama.cpp applies ALiBi to ${row.label} models of exactly ${depths.alibi} layers (${depths.alibiModels}); ` +
          `this one has ${spec.layers}`,
      );
    }
    return architecture;
  }
  return spec.layers === depths.rope ? architecture : depths.otherwise;
}

/**
 * Reorder the rows of a Q or K projection (or bias) from rotate-half to interleaved pairs:
 * per head, row `2i + j` of the result is row `j · d/2 + i` of the input.
 *
 * @param t the weight `[heads·d, in]` or bias `[heads·d]`
 * @param heads number of heads
 * @returns the permuted tensor
 *
 * @example
 * ```ts
 * import { permuteRows } from "./gguf_export.ts";
 * const t = permuteRows({ dtype: "f32", shape: [4], data: new Float32Array([0, 1, 2, 3]) }, 1);
 * if (t.data.join() !== "0,2,1,3") throw new Error(t.data.join());
 * ```
 */
export function permuteRows(t: Tensor, heads: number): Tensor {
  const rows = t.shape[0];
  const cols = t.shape.length > 1 ? t.shape[1] : 1;
  const d = rows / heads;
  const half = d / 2;
  const out = new (t.data.constructor as { new (n: number): Float32Array | Uint16Array })(t.data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const to = h * d + 2 * i + j;
        const from = h * d + j * half + i;
        out.set(t.data.subarray(from * cols, (from + 1) * cols), to * cols);
      }
    }
  }
  return { dtype: t.dtype, shape: t.shape, data: out };
}

async function readTokenizerFiles(dir: string): Promise<{ json: unknown; config?: unknown } | undefined> {
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(join(dir, "tokenizer.json")));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new InputError(`cannot read (${(e as Error).message})`, { file: join(dir, "tokenizer.json") });
  }
  let config: unknown;
  try {
    config = JSON.parse(await Deno.readTextFile(join(dir, "tokenizer_config.json")));
  } catch { /* optional */ }
  return { json, config };
}

const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, user: 4, unused: 5, byte: 6 } as const;

/**
 * The GGUF tokenizer keys of a placeholder vocabulary: `<unk>`, `<s>`, `</s>`, the 256 byte
 * tokens, then `▁t<i>`; enough for llama.cpp to load and run a model fed with token ids.
 *
 * @param spec the model (vocabulary size, BOS/EOS)
 * @returns metadata entries
 *
 * @example
 * ```ts
 * import { placeholderVocab } from "./gguf_export.ts";
 * const m = new Map(placeholderVocab({ vocabSize: 300, eosIds: [2], bosId: 1 } as never));
 * const tokens = m.get("tokenizer.ggml.tokens") as { value: readonly unknown[] };
 * if (tokens.value[13] !== "<0x0A>" || tokens.value.length !== 300) throw new Error();
 * ```
 */
export function placeholderVocab(spec: ModelSpec): [string, GgufValue][] {
  const tokens: string[] = [];
  const types: number[] = [];
  for (let i = 0; i < spec.vocabSize; i++) {
    if (i < 3) {
      tokens.push(["<unk>", "<s>", "</s>"][i]);
      types.push(i === 0 ? TOKEN_TYPE.unknown : TOKEN_TYPE.control);
    } else if (i < 259 && spec.vocabSize >= 259) {
      tokens.push(`<0x${(i - 3).toString(16).toUpperCase().padStart(2, "0")}>`);
      types.push(TOKEN_TYPE.byte);
    } else if (i === 3) {
      tokens.push("\n");
      types.push(TOKEN_TYPE.normal);
    } else {
      tokens.push(`▁t${i}`);
      types.push(TOKEN_TYPE.normal);
    }
  }
  return [
    ["tokenizer.ggml.model", { type: "string", value: "llama" }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }],
    ["tokenizer.ggml.scores", { type: "array", itemType: "f32", value: tokens.map(() => 0) }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: types }],
    ["tokenizer.ggml.bos_token_id", { type: "u32", value: spec.bosId ?? 1 }],
    ["tokenizer.ggml.eos_token_id", { type: "u32", value: spec.eosIds[0] ?? 2 }],
    ["tokenizer.ggml.unknown_token_id", { type: "u32", value: 0 }],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: true }],
  ];
}

type Json = Record<string, unknown>;

/**
 * The GGUF tokenizer keys of a Hugging Face `tokenizer.json`: SentencePiece-style BPE (byte
 * fallback, `▁` for spaces: Llama 2, Mistral, Baichuan) becomes llama.cpp's `llama` model with
 * merge ranks as scores; byte-level BPE (Qwen, Llama 3) becomes `gpt2` with its merges.
 *
 * @param json the parsed `tokenizer.json`
 * @param config the parsed `tokenizer_config.json`, when present
 * @param spec the model (vocabulary size, BOS/EOS)
 * @returns metadata entries
 * @throws {InputError} for tokenizer kinds llama.cpp's GGUF cannot hold here
 *
 * @example
 * ```ts
 * import { vocabFromTokenizer } from "./gguf_export.ts";
 * const json = { model: { type: "BPE", byte_fallback: true, vocab: { "<unk>": 0, "▁": 1, "a": 2, "▁a": 3 },
 *   merges: ["▁ a"] }, added_tokens: [{ id: 0, content: "<unk>", special: true }] };
 * const m = new Map(vocabFromTokenizer(json, undefined, { vocabSize: 4, eosIds: [], architecture: "llama" } as never));
 * const scores = (m.get("tokenizer.ggml.scores") as { value: readonly unknown[] }).value;
 * if (scores[3] !== -0 || scores[1] !== 0) throw new Error(); // "▁a" comes from merge 0; "▁" from none
 * ```
 */
export function vocabFromTokenizer(json: unknown, config: unknown, spec: ModelSpec): [string, GgufValue][] {
  const j = (json ?? {}) as Json;
  const cfg = (config ?? {}) as Json;
  const model = (j.model ?? {}) as Json;
  if (model.type !== "BPE") {
    throw new InputError(`tokenizer model ${JSON.stringify(model.type)} is not exported (BPE is)`, {
      file: "tokenizer.json",
    });
  }
  const vocab = (model.vocab ?? {}) as Record<string, number>;
  const added = (Array.isArray(j.added_tokens) ? j.added_tokens : []) as {
    id: number;
    content: string;
    special?: boolean;
  }[];
  const size = Math.max(spec.vocabSize, 0);
  const tokens: (string | undefined)[] = new Array(size);
  const types: number[] = new Array(size).fill(TOKEN_TYPE.normal);
  for (const [t, id] of Object.entries(vocab)) {
    if (id >= size) throw tooBig(t, id, size);
    tokens[id] = t;
  }
  for (const a of added) {
    if (a.id >= size) throw tooBig(a.content, a.id, size);
    tokens[a.id] = a.content;
    types[a.id] = a.special === false ? TOKEN_TYPE.user : TOKEN_TYPE.control;
  }
  for (let i = 0; i < size; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = TOKEN_TYPE.unused;
    }
  }
  const merges = ((model.merges ?? []) as (string | string[])[]).map((m) => Array.isArray(m) ? m.join(" ") : m);
  const idOf = (t: unknown) => typeof t === "string" ? (vocab[t] ?? added.find((a) => a.content === t)?.id) : undefined;
  const tokenText = (v: unknown) => typeof v === "string" ? v : (v as Json | null)?.content as string | undefined;
  const bos = idOf(tokenText(cfg.bos_token)) ?? spec.bosId;
  const eos = idOf(tokenText(cfg.eos_token)) ?? spec.eosIds[0];
  const pad = idOf(tokenText(cfg.pad_token));
  const unk = idOf(model.unk_token);
  const out: [string, GgufValue][] = [];
  const byteLevel = JSON.stringify(j.pre_tokenizer ?? null).includes("ByteLevel") ||
    JSON.stringify(j.decoder ?? null).includes("ByteLevel");
  if (byteLevel) {
    out.push(["tokenizer.ggml.model", { type: "string", value: "gpt2" }]);
    out.push(["tokenizer.ggml.pre", {
      type: "string",
      value: ARCHITECTURES[spec.architecture].gguf.byteLevelPre,
    }]);
    out.push(["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens as string[] }]);
    out.push(["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: types }]);
    out.push(["tokenizer.ggml.merges", { type: "array", itemType: "string", value: merges }]);
  } else {
    if (model.byte_fallback !== true) {
      throw new InputError("BPE tokenizer without byte_fallback or ByteLevel is not exported", {
        file: "tokenizer.json",
      });
    }
    const scores = new Array<number>(size).fill(0);
    merges.forEach((m, rank) => {
      const id = vocab[m.replace(" ", "")];
      if (id !== undefined && scores[id] === 0) scores[id] = -rank;
    });
    for (let i = 0; i < size; i++) {
      if (types[i] === TOKEN_TYPE.normal && /^<0x[0-9A-F]{2}>$/.test(tokens[i]!)) types[i] = TOKEN_TYPE.byte;
      if (i === unk) types[i] = TOKEN_TYPE.unknown;
    }
    out.push(["tokenizer.ggml.model", { type: "string", value: "llama" }]);
    out.push(["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens as string[] }]);
    out.push(["tokenizer.ggml.scores", { type: "array", itemType: "f32", value: scores }]);
    out.push(["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: types }]);
  }
  if (bos !== undefined) out.push(["tokenizer.ggml.bos_token_id", { type: "u32", value: bos }]);
  if (eos !== undefined) out.push(["tokenizer.ggml.eos_token_id", { type: "u32", value: eos }]);
  if (pad !== undefined) out.push(["tokenizer.ggml.padding_token_id", { type: "u32", value: pad }]);
  if (unk !== undefined) out.push(["tokenizer.ggml.unknown_token_id", { type: "u32", value: unk }]);
  out.push(["tokenizer.ggml.add_bos_token", {
    type: "bool",
    value: cfg.add_bos_token === true || (!byteLevel && cfg.add_bos_token !== false),
  }]);
  out.push(["tokenizer.ggml.add_eos_token", { type: "bool", value: cfg.add_eos_token === true }]);
  if (typeof cfg.chat_template === "string") {
    out.push(["tokenizer.chat_template", { type: "string", value: cfg.chat_template }]);
  }
  return out;
}

function tooBig(token: string, id: number, size: number): InputError {
  return new InputError(`token ${JSON.stringify(token)} has id ${id}, beyond the model's vocab_size ${size}`, {
    file: "tokenizer.json",
  });
}
