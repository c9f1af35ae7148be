/**
 * The supported model families and how their Hugging Face folders map onto {@linkcode ModelSpec}:
 * `config.json` fields, and tensor names and shapes (Baichuan's fused `W_pack` included).
 *
 * - `llama`: LLaMA 1/2/3, OneKE, Chinese-Alpaca-2, Mistral (`model_type` llama or mistral).
 * - `qwen2`: Qwen1.5 / Qwen2 (q/k/v biases; tied or untied embeddings).
 * - `baichuan`: Baichuan 1/2. RoPE when the config has `max_position_embeddings` (the 7B
 *   models), ALiBi otherwise (the 13B models). NormHead for Baichuan 2 (its configs carry
 *   `z_loss_weight`; vocabulary 125,696).
 *
 * @module
 */

import { InputError } from "../../io/errors.ts";
import type { Architecture, ModelSpec, RopeScaling } from "./model_spec.ts";

/** A parsed `config.json`. */
export type ModelConfig = Readonly<Record<string, unknown>>;

const MODEL_TYPES: Readonly<Record<string, Architecture>> = {
  llama: "llama",
  mistral: "llama",
  qwen2: "qwen2",
  baichuan: "baichuan",
};
const CLASS_NAMES: Readonly<Record<string, Architecture>> = {
  LlamaForCausalLM: "llama",
  MistralForCausalLM: "llama",
  Qwen2ForCausalLM: "qwen2",
  BaichuanForCausalLM: "baichuan",
  BaiChuanForCausalLM: "baichuan",
};

/**
 * The architecture a config names (`model_type`, else `architectures[0]`).
 *
 * @param config the parsed `config.json`
 * @param file its path, for messages
 * @returns the family
 * @throws {InputError} for an unsupported family
 *
 * @example
 * ```ts
 * import { architectureOf } from "./architectures.ts";
 * if (architectureOf({ model_type: "mistral" }) !== "llama") throw new Error();
 * ```
 */
export function architectureOf(config: ModelConfig, file?: string): Architecture {
  const type = config.model_type;
  if (typeof type === "string" && type in MODEL_TYPES) return MODEL_TYPES[type];
  const classes = Array.isArray(config.architectures) ? config.architectures : [];
  for (const c of classes) if (typeof c === "string" && c in CLASS_NAMES) return CLASS_NAMES[c];
  throw new InputError(
    `unsupported model_type ${JSON.stringify(type)} (architectures ${JSON.stringify(classes)}); ` +
      `supported: llama, mistral, qwen2, baichuan`,
    { file, field: "model_type" },
  );
}

/**
 * The model spec of a `config.json`.
 *
 * @param config the parsed `config.json`
 * @param file its path, for messages
 * @returns the spec
 * @throws {InputError} naming the missing or invalid field
 *
 * @example
 * ```ts
 * import { specFromConfig } from "./architectures.ts";
 * const spec = specFromConfig({ model_type: "qwen2", vocab_size: 100, hidden_size: 8, intermediate_size: 16,
 *   num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, rms_norm_eps: 1e-6,
 *   rope_theta: 1e6, tie_word_embeddings: true, max_position_embeddings: 64 });
 * if (!spec.qkvBias || spec.headDim !== 4 || !spec.tiedEmbeddings) throw new Error();
 * ```
 */
export function specFromConfig(config: ModelConfig, file?: string): ModelSpec {
  const architecture = architectureOf(config, file);
  const int = (field: string, fallback?: number): number => {
    const v = config[field] ?? fallback;
    if (v === undefined) throw new InputError(`missing field "${field}"`, { file, field });
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
      throw new InputError(`"${field}" must be a positive integer, got ${JSON.stringify(v)}`, { file, field });
    }
    return v;
  };
  const num = (field: string, fallback: number): number => {
    const v = config[field] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw new InputError(`"${field}" must be a positive number, got ${JSON.stringify(v)}`, { file, field });
    }
    return v;
  };
  const hidden = int("hidden_size");
  const heads = int("num_attention_heads");
  const kvHeads = architecture === "baichuan" ? heads : int("num_key_value_heads", heads);
  if (heads % kvHeads !== 0) {
    throw new InputError(`num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`, {
      file,
      field: "num_key_value_heads",
    });
  }
  const headDim = config.head_dim == null ? hidden / heads : int("head_dim");
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new InputError(`hidden_size ${hidden} / num_attention_heads ${heads} is not an even head size`, {
      file,
      field: "num_attention_heads",
    });
  }
  const act = config.hidden_act ?? "silu";
  if (act !== "silu") {
    throw new InputError(`hidden_act ${JSON.stringify(act)} is not supported (silu is)`, { file, field: "hidden_act" });
  }
  if (config.mlp_bias === true) throw new InputError("mlp_bias is not supported", { file, field: "mlp_bias" });
  const alibi = architecture === "baichuan" && config.max_position_embeddings == null;
  const maxPositions = int(
    config.max_position_embeddings != null ? "max_position_embeddings" : "model_max_length",
    4096,
  );
  const attentionBias = config.attention_bias === true;
  return {
    architecture,
    vocabSize: int("vocab_size"),
    hidden,
    intermediate: int("intermediate_size"),
    layers: int("num_hidden_layers"),
    heads,
    kvHeads,
    headDim,
    normEps: num("rms_norm_eps", 1e-6),
    position: alibi
      ? { kind: "alibi" }
      : { kind: "rope", theta: num("rope_theta", 10000), scaling: ropeScaling(config, file) },
    qkvBias: architecture === "qwen2" || attentionBias,
    oBias: architecture === "llama" && attentionBias,
    tiedEmbeddings: config.tie_word_embeddings === true,
    normHead: architecture === "baichuan" && ("z_loss_weight" in config || config.vocab_size === 125696),
    maxPositions,
    bosId: typeof config.bos_token_id === "number" ? config.bos_token_id : undefined,
    eosIds: (Array.isArray(config.eos_token_id) ? config.eos_token_id : [config.eos_token_id]).filter(
      (x): x is number => typeof x === "number",
    ),
  };
}

function ropeScaling(config: ModelConfig, file?: string): RopeScaling | undefined {
  const s = config.rope_scaling;
  if (s == null) return undefined;
  const bad = (why: string) =>
    new InputError(`rope_scaling ${JSON.stringify(s)}: ${why}`, { file, field: "rope_scaling" });
  if (typeof s !== "object") throw bad("not an object");
  const r = s as Record<string, unknown>;
  const type = r.rope_type ?? r.type;
  const factor = r.factor;
  if (type === "default") return undefined;
  if (typeof factor !== "number" || !(factor > 0)) throw bad("needs a positive factor");
  if (type === "linear") return { type: "linear", factor };
  if (type === "llama3") {
    const n = (k: string) => {
      if (typeof r[k] !== "number") throw bad(`needs ${k}`);
      return r[k] as number;
    };
    return {
      type: "llama3",
      factor,
      lowFreqFactor: n("low_freq_factor"),
      highFreqFactor: n("high_freq_factor"),
      originalMaxPositions: n("original_max_position_embeddings"),
    };
  }
  throw bad("only linear and llama3 scaling are supported");
}

/** A Hugging Face tensor a model needs, and its expected shape. */
export interface SourceTensor {
  /** Name in the checkpoint, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  readonly name: string;
  /** Expected shape. */
  readonly shape: readonly number[];
}

/**
 * The checkpoint tensors a model needs, with their shapes (in reading order).
 *
 * @param spec the model
 * @returns the tensors
 *
 * @example
 * ```ts
 * import { sourceTensors, specFromConfig } from "./architectures.ts";
 * const spec = specFromConfig({ model_type: "baichuan", vocab_size: 10, hidden_size: 4, intermediate_size: 8,
 *   num_hidden_layers: 1, num_attention_heads: 2 });
 * const names = sourceTensors(spec).map((t) => t.name);
 * if (!names.includes("model.layers.0.self_attn.W_pack.weight") || spec.position.kind !== "alibi") throw new Error();
 * ```
 */
export function sourceTensors(spec: ModelSpec): SourceTensor[] {
  const h = spec.hidden;
  const q = spec.heads * spec.headDim;
  const kv = spec.kvHeads * spec.headDim;
  const out: SourceTensor[] = [{ name: "model.embed_tokens.weight", shape: [spec.vocabSize, h] }];
  for (let l = 0; l < spec.layers; l++) {
    const p = `model.layers.${l}.`;
    out.push({ name: p + "input_layernorm.weight", shape: [h] });
    if (spec.architecture === "baichuan") {
      out.push({ name: p + "self_attn.W_pack.weight", shape: [3 * q, h] });
    } else {
      out.push({ name: p + "self_attn.q_proj.weight", shape: [q, h] });
      out.push({ name: p + "self_attn.k_proj.weight", shape: [kv, h] });
      out.push({ name: p + "self_attn.v_proj.weight", shape: [kv, h] });
      if (spec.qkvBias) {
        out.push({ name: p + "self_attn.q_proj.bias", shape: [q] });
        out.push({ name: p + "self_attn.k_proj.bias", shape: [kv] });
        out.push({ name: p + "self_attn.v_proj.bias", shape: [kv] });
      }
    }
    out.push({ name: p + "self_attn.o_proj.weight", shape: [h, q] });
    if (spec.oBias) out.push({ name: p + "self_attn.o_proj.bias", shape: [h] });
    out.push({ name: p + "post_attention_layernorm.weight", shape: [h] });
    out.push({ name: p + "mlp.gate_proj.weight", shape: [spec.intermediate, h] });
    out.push({ name: p + "mlp.up_proj.weight", shape: [spec.intermediate, h] });
    out.push({ name: p + "mlp.down_proj.weight", shape: [h, spec.intermediate] });
  }
  out.push({ name: "model.norm.weight", shape: [h] });
  if (!spec.tiedEmbeddings) out.push({ name: "lm_head.weight", shape: [spec.vocabSize, h] });
  return out;
}
