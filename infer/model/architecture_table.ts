/**
 * The supported model families as data, one row each (after llama.cpp's architecture tables):
 * the Hugging Face `model_type`s and class names a row covers, the `config.json` keys it reads,
 * the checkpoint tensor name of every weight role, the llama.cpp (GGUF) architecture and tensor
 * names it is exported as, and its few real differences (fused QKV, biases, grouped-query
 * attention, ALiBi, NormHead). Loading, GGUF export and the random test models all read these
 * rows; code branches only where the maths differs.
 *
 * Tensor names are templates: `{n}` stands for the layer number.
 *
 * Adding a family: a row here (and its name in {@linkcode Architecture}); new code only where
 * its maths is new.
 *
 * @module
 */

import type { Architecture, ModelSpec } from "./model_spec.ts";

/** A weight of the whole model, by its canonical name in `ModelWeights`. */
export type GlobalRole = "embed" | "norm" | "output";

/**
 * A weight of one decoder layer, by its canonical name in `LayerWeights`; `wqkv` is a fused
 * query/key/value projection as some checkpoints store it (split into `wq`, `wk`, `wv` at load).
 */
export type LayerRole =
  | "attnNorm"
  | "wqkv"
  | "wq"
  | "wk"
  | "wv"
  | "bq"
  | "bk"
  | "bv"
  | "wo"
  | "bo"
  | "ffnNorm"
  | "w1"
  | "w3"
  | "w2";

/** What a weight role is, whatever the family. */
export interface RoleInfo {
  /** `matrix` (kept in the format asked for; LoRA applies), or a vector (`norm` scale or `bias`; f32). */
  readonly kind: "matrix" | "norm" | "bias";
  /** Its shape for a model. */
  readonly shape: (spec: ModelSpec) => readonly number[];
  /** Whether a model has it (given the family stores it). */
  readonly present: (spec: ModelSpec) => boolean;
  /** For Q and K (weights and biases): the heads whose rows llama.cpp's RoPE wants reordered. */
  readonly ropeHeads?: (spec: ModelSpec) => number;
}

const q = (s: ModelSpec): number => s.heads * s.headDim;
const kv = (s: ModelSpec): number => s.kvHeads * s.headDim;
const always = (): boolean => true;
const qkvBias = (s: ModelSpec): boolean => s.qkvBias;

/** The global roles, in the order checkpoints are read and GGUF tensors written (layers go before `norm`). */
export const GLOBAL_ROLES: Readonly<Record<GlobalRole, RoleInfo>> = {
  embed: { kind: "matrix", shape: (s) => [s.vocabSize, s.hidden], present: always },
  norm: { kind: "norm", shape: (s) => [s.hidden], present: always },
  output: { kind: "matrix", shape: (s) => [s.vocabSize, s.hidden], present: (s) => !s.tiedEmbeddings },
};

/** The layer roles, in the order checkpoints are read and GGUF tensors written. */
export const LAYER_ROLES: Readonly<Record<LayerRole, RoleInfo>> = {
  attnNorm: { kind: "norm", shape: (s) => [s.hidden], present: always },
  wqkv: { kind: "matrix", shape: (s) => [q(s) + 2 * kv(s), s.hidden], present: always },
  wq: { kind: "matrix", shape: (s) => [q(s), s.hidden], present: always, ropeHeads: (s) => s.heads },
  wk: { kind: "matrix", shape: (s) => [kv(s), s.hidden], present: always, ropeHeads: (s) => s.kvHeads },
  wv: { kind: "matrix", shape: (s) => [kv(s), s.hidden], present: always },
  bq: { kind: "bias", shape: (s) => [q(s)], present: qkvBias, ropeHeads: (s) => s.heads },
  bk: { kind: "bias", shape: (s) => [kv(s)], present: qkvBias, ropeHeads: (s) => s.kvHeads },
  bv: { kind: "bias", shape: (s) => [kv(s)], present: qkvBias },
  wo: { kind: "matrix", shape: (s) => [s.hidden, q(s)], present: always },
  bo: { kind: "bias", shape: (s) => [s.hidden], present: (s) => s.oBias },
  ffnNorm: { kind: "norm", shape: (s) => [s.hidden], present: always },
  w1: { kind: "matrix", shape: (s) => [s.intermediate, s.hidden], present: always },
  w3: { kind: "matrix", shape: (s) => [s.intermediate, s.hidden], present: always },
  w2: { kind: "matrix", shape: (s) => [s.hidden, s.intermediate], present: always },
};

/** Tensor names of one family in one format, by role (a role without a name is not stored). */
export interface TensorNames {
  /** Whole-model tensors. */
  readonly global: Readonly<Partial<Record<GlobalRole, string>>>;
  /** Per-layer tensors (`{n}`: the layer). */
  readonly layer: Readonly<Partial<Record<LayerRole, string>>>;
}

/** The `config.json` keys of the hyper-parameters a family reads. */
export interface ConfigKeys {
  /** Vocabulary size. */
  readonly vocabSize: string;
  /** Hidden size. */
  readonly hidden: string;
  /** MLP inner size. */
  readonly intermediate: string;
  /** Decoder layers. */
  readonly layers: string;
  /** Query heads. */
  readonly heads: string;
  /** Key/value heads; absent when the family has no grouped-query attention (as many as query heads). */
  readonly kvHeads?: string;
  /** Head size (default: hidden / heads). */
  readonly headDim: string;
  /** RMSNorm epsilon. */
  readonly normEps: string;
  /** RoPE base. */
  readonly ropeTheta: string;
  /** RoPE scaling. */
  readonly ropeScaling: string;
  /** Longest context. */
  readonly maxPositions: string;
  /** Longest context, when the first key is absent. */
  readonly maxPositionsFallback: string;
  /** Whether the output matrix is the embedding. */
  readonly tiedEmbeddings: string;
  /** Whether attention projections have biases. */
  readonly attentionBias: string;
  /** Sliding-window width (Mistral), for the families that apply it. */
  readonly slidingWindow?: string;
  /** Activation (only `silu` is computed). */
  readonly hiddenAct: string;
  /** MLP biases (not computed). */
  readonly mlpBias: string;
  /** BOS id. */
  readonly bosId: string;
  /** EOS id or ids. */
  readonly eosId: string;
}

/** A hyper-parameter a family's `config.json` carries beyond the common ones (the random test models write these, in order). */
export type OptionalConfigField =
  | "kvHeads"
  | "maxPositionsFallback"
  | "maxPositions"
  | "ropeTheta"
  | "ropeScaling"
  | "attentionBias"
  | "slidingWindow"
  | "normHead";

/** One model family. */
export interface ArchitectureRow {
  /** The family. */
  readonly name: Architecture;
  /** Its name in messages. */
  readonly label: string;
  /** `config.json` `model_type`s it covers. */
  readonly modelTypes: readonly string[];
  /** `config.json` `architectures` class names it covers (the first is the one written). */
  readonly classNames: readonly string[];
  /** The keys of the hyper-parameters it reads. */
  readonly config: ConfigKeys;
  /** What its configs carry beyond the common keys, in the order its configs list them. */
  readonly optionalConfig: readonly OptionalConfigField[];
  /** Checkpoint tensor names. */
  readonly hf: TensorNames;
  /** Whether the checkpoint stores Q, K and V as one matrix (`wqkv`, rows q then k then v). */
  readonly fusedQkv: boolean;
  /** q/k/v biases: always, or when the config's `attentionBias` key is true. */
  readonly qkvBias: "always" | "attentionBias";
  /** Output-projection bias: never, or when the config's `attentionBias` key is true. */
  readonly oBias: "never" | "attentionBias";
  /** ALiBi instead of RoPE when the config lacks this key (Baichuan 13B). */
  readonly alibiWithout?: "maxPositions";
  /** Baichuan 2's NormHead: present when the config has `key` or the vocabulary has `vocabSize` rows. */
  readonly normHead?: { readonly key: string; readonly vocabSize: number };
  /** How it is exported to GGUF. */
  readonly gguf: {
    /** The llama.cpp architecture. */
    readonly architecture: GgufArchitecture;
    /**
     * When llama.cpp picks the position encoding by depth: the one depth it runs with RoPE and
     * the one with ALiBi; a RoPE model of another depth is written as `otherwise`.
     */
    readonly depths?: {
      readonly rope: number;
      readonly alibi: number;
      /** Which models the ALiBi depth is, for messages. */
      readonly alibiModels: string;
      readonly otherwise: GgufArchitecture;
    };
    /** `tokenizer.ggml.pre` for a byte-level BPE tokenizer. */
    readonly byteLevelPre: string;
  };
}

/** A llama.cpp architecture this exporter writes. */
export type GgufArchitecture = "llama" | "qwen2" | "baichuan";

/** One llama.cpp architecture, as the exporter writes it. */
export interface GgufArchitectureRow {
  /** `general.architecture` (and the prefix of its hyper-parameter keys). */
  readonly name: GgufArchitecture;
  /** Tensor names (roles without a name are not written; `wqkv` is written split). */
  readonly tensors: TensorNames & { readonly ropeFreqs: string };
  /**
   * NEOX RoPE (rotate-half, as Hugging Face computes it); otherwise llama.cpp rotates adjacent
   * pairs and the rows of Q and K are reordered per head to agree.
   */
  readonly neoxRope: boolean;
  /** Whether llama.cpp needs `output` even when tied to the embedding. */
  readonly outputRequired: boolean;
  /** Its hyper-parameter keys (after the `general.architecture` prefix), by the config key they stand for. */
  readonly hyperParameters: GgufHyperParameterKeys;
}

/**
 * GGUF hyper-parameter keys, without the architecture prefix (`llama.` + `block_count`), by the
 * {@linkcode ConfigKeys} field they carry; read back into a `config.json` when a GGUF is loaded.
 */
export type GgufHyperParameterKeys = Readonly<
  Partial<
    Record<
      | "vocabSize"
      | "hidden"
      | "intermediate"
      | "layers"
      | "heads"
      | "kvHeads"
      | "headDim"
      | "normEps"
      | "ropeTheta"
      | "maxPositions"
      | "slidingWindow",
      string
    >
  >
>;

const GGUF_HYPERPARAMETERS: GgufHyperParameterKeys = {
  maxPositions: "context_length",
  hidden: "embedding_length",
  layers: "block_count",
  intermediate: "feed_forward_length",
  heads: "attention.head_count",
  kvHeads: "attention.head_count_kv",
  normEps: "attention.layer_norm_rms_epsilon",
  headDim: "attention.key_length",
  vocabSize: "vocab_size",
  ropeTheta: "rope.freq_base",
  slidingWindow: "attention.sliding_window",
};

const LLAMA_CONFIG: ConfigKeys = {
  vocabSize: "vocab_size",
  hidden: "hidden_size",
  intermediate: "intermediate_size",
  layers: "num_hidden_layers",
  heads: "num_attention_heads",
  kvHeads: "num_key_value_heads",
  headDim: "head_dim",
  normEps: "rms_norm_eps",
  ropeTheta: "rope_theta",
  ropeScaling: "rope_scaling",
  maxPositions: "max_position_embeddings",
  maxPositionsFallback: "model_max_length",
  tiedEmbeddings: "tie_word_embeddings",
  attentionBias: "attention_bias",
  hiddenAct: "hidden_act",
  mlpBias: "mlp_bias",
  bosId: "bos_token_id",
  eosId: "eos_token_id",
};

/** Llama-style checkpoint names of the layer weights, output-projection bias aside. */
const HF_LAYER: TensorNames["layer"] = {
  attnNorm: "model.layers.{n}.input_layernorm.weight",
  wq: "model.layers.{n}.self_attn.q_proj.weight",
  wk: "model.layers.{n}.self_attn.k_proj.weight",
  wv: "model.layers.{n}.self_attn.v_proj.weight",
  bq: "model.layers.{n}.self_attn.q_proj.bias",
  bk: "model.layers.{n}.self_attn.k_proj.bias",
  bv: "model.layers.{n}.self_attn.v_proj.bias",
  wo: "model.layers.{n}.self_attn.o_proj.weight",
  ffnNorm: "model.layers.{n}.post_attention_layernorm.weight",
  w1: "model.layers.{n}.mlp.gate_proj.weight",
  w3: "model.layers.{n}.mlp.up_proj.weight",
  w2: "model.layers.{n}.mlp.down_proj.weight",
};

const HF_GLOBAL: TensorNames["global"] = {
  embed: "model.embed_tokens.weight",
  norm: "model.norm.weight",
  output: "lm_head.weight",
};

const LLAMA_OPTIONAL_CONFIG: readonly OptionalConfigField[] = [
  "kvHeads",
  "maxPositions",
  "ropeTheta",
  "ropeScaling",
  "attentionBias",
];

/** The supported families. */
export const ARCHITECTURES: Readonly<Record<Architecture, ArchitectureRow>> = {
  /**
   * LLaMA 1/2/3, OneKE, Chinese-Alpaca-2, Mistral (with its sliding window, `sliding_window`;
   * Qwen2 configs carry one too, unused unless `use_sliding_window`, and Qwen2 does not read it).
   */
  llama: {
    name: "llama",
    label: "Llama",
    modelTypes: ["llama", "mistral"],
    classNames: ["LlamaForCausalLM", "MistralForCausalLM"],
    config: { ...LLAMA_CONFIG, slidingWindow: "sliding_window" },
    optionalConfig: [...LLAMA_OPTIONAL_CONFIG, "slidingWindow"],
    hf: { global: HF_GLOBAL, layer: { ...HF_LAYER, bo: "model.layers.{n}.self_attn.o_proj.bias" } },
    fusedQkv: false,
    qkvBias: "attentionBias",
    oBias: "attentionBias",
    gguf: { architecture: "llama", byteLevelPre: "llama-bpe" },
  },
  /** Qwen1.5 / Qwen2: q/k/v biases; tied or untied embeddings. */
  qwen2: {
    name: "qwen2",
    label: "Qwen2",
    modelTypes: ["qwen2"],
    classNames: ["Qwen2ForCausalLM"],
    config: LLAMA_CONFIG,
    optionalConfig: LLAMA_OPTIONAL_CONFIG,
    hf: { global: HF_GLOBAL, layer: HF_LAYER },
    fusedQkv: false,
    qkvBias: "always",
    oBias: "never",
    gguf: { architecture: "qwen2", byteLevelPre: "qwen2" },
  },
  /**
   * Baichuan 1/2: fused `W_pack`, no grouped-query attention. RoPE when the config has
   * `max_position_embeddings` (the 7B models), ALiBi otherwise (the 13B models). NormHead for
   * Baichuan 2 (its configs carry `z_loss_weight`; vocabulary 125,696).
   */
  baichuan: {
    name: "baichuan",
    label: "Baichuan",
    modelTypes: ["baichuan"],
    classNames: ["BaichuanForCausalLM", "BaiChuanForCausalLM"],
    config: { ...LLAMA_CONFIG, kvHeads: undefined },
    optionalConfig: ["maxPositionsFallback", "maxPositions", "normHead"],
    hf: {
      global: HF_GLOBAL,
      layer: {
        attnNorm: HF_LAYER.attnNorm,
        wqkv: "model.layers.{n}.self_attn.W_pack.weight",
        wo: HF_LAYER.wo,
        ffnNorm: HF_LAYER.ffnNorm,
        w1: HF_LAYER.w1,
        w3: HF_LAYER.w3,
        w2: HF_LAYER.w2,
      },
    },
    fusedQkv: true,
    // As the spec has always been derived; its fused checkpoints name no biases, so none are read.
    qkvBias: "attentionBias",
    oBias: "never",
    alibiWithout: "maxPositions",
    normHead: { key: "z_loss_weight", vocabSize: 125696 },
    gguf: {
      architecture: "baichuan",
      depths: { rope: 32, alibi: 40, alibiModels: "the 13B", otherwise: "llama" },
      byteLevelPre: "default",
    },
  },
};

const GGUF_TENSORS: GgufArchitectureRow["tensors"] = {
  global: { embed: "token_embd.weight", norm: "output_norm.weight", output: "output.weight" },
  ropeFreqs: "rope_freqs.weight",
  layer: {
    attnNorm: "blk.{n}.attn_norm.weight",
    wq: "blk.{n}.attn_q.weight",
    wk: "blk.{n}.attn_k.weight",
    wv: "blk.{n}.attn_v.weight",
    bq: "blk.{n}.attn_q.bias",
    bk: "blk.{n}.attn_k.bias",
    bv: "blk.{n}.attn_v.bias",
    wo: "blk.{n}.attn_output.weight",
    bo: "blk.{n}.attn_output.bias",
    ffnNorm: "blk.{n}.ffn_norm.weight",
    w1: "blk.{n}.ffn_gate.weight",
    w3: "blk.{n}.ffn_up.weight",
    w2: "blk.{n}.ffn_down.weight",
  },
};

/** The llama.cpp architectures written. */
export const GGUF_ARCHITECTURES: Readonly<Record<GgufArchitecture, GgufArchitectureRow>> = {
  llama: {
    name: "llama",
    tensors: GGUF_TENSORS,
    neoxRope: false,
    outputRequired: false,
    hyperParameters: GGUF_HYPERPARAMETERS,
  },
  qwen2: {
    name: "qwen2",
    tensors: GGUF_TENSORS,
    neoxRope: true,
    outputRequired: false,
    hyperParameters: GGUF_HYPERPARAMETERS,
  },
  baichuan: {
    name: "baichuan",
    tensors: GGUF_TENSORS,
    neoxRope: false,
    outputRequired: true,
    hyperParameters: GGUF_HYPERPARAMETERS,
  },
};

/**
 * A tensor name for one layer: the template with `{n}` replaced.
 *
 * @param template a name from a row (`model.layers.{n}.mlp.up_proj.weight`)
 * @param layer the layer
 * @returns the name
 *
 * @example
 * ```ts
 * import { ARCHITECTURES, layerTensorName } from "./architecture_table.ts";
 * const name = layerTensorName(ARCHITECTURES.baichuan.hf.layer.wqkv!, 3);
 * if (name !== "model.layers.3.self_attn.W_pack.weight") throw new Error(name);
 * ```
 */
export function layerTensorName(template: string, layer: number): string {
  return template.replace("{n}", String(layer));
}
