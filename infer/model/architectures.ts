/**
 * How a Hugging Face folder maps onto {@linkcode ModelSpec}: the family a `config.json` names,
 * the spec its hyper-parameters give, and the checkpoint tensors (names and shapes) the model
 * needs, all read from the family's row in `architecture_table.ts`.
 *
 * @module
 */

import { InputError } from "../../io/errors.ts";
import {
  ARCHITECTURES,
  GLOBAL_ROLES,
  type GlobalRole,
  LAYER_ROLES,
  type LayerRole,
  layerTensorName,
} from "./architecture_table.ts";
import type { Architecture, ModelSpec, RopeScaling } from "./model_spec.ts";

/** A parsed `config.json`. */
export type ModelConfig = Readonly<Record<string, unknown>>;

const ROWS = Object.values(ARCHITECTURES);
const MODEL_TYPES: ReadonlyMap<string, Architecture> = new Map(
  ROWS.flatMap((r) => r.modelTypes.map((t) => [t, r.name] as const)),
);
const CLASS_NAMES: ReadonlyMap<string, Architecture> = new Map(
  ROWS.flatMap((r) => r.classNames.map((c) => [c, r.name] as const)),
);

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
  if (typeof type === "string" && MODEL_TYPES.has(type)) return MODEL_TYPES.get(type)!;
  const classes = Array.isArray(config.architectures) ? config.architectures : [];
  for (const c of classes) if (typeof c === "string" && CLASS_NAMES.has(c)) return CLASS_NAMES.get(c)!;
  throw new InputError(
    `unsupported model_type ${JSON.stringify(type)} (architectures ${JSON.stringify(classes)}); ` +
      `supported: ${[...MODEL_TYPES.keys()].join(", ")}`,
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
  const row = ARCHITECTURES[architecture];
  const keys = row.config;
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
  const hidden = int(keys.hidden);
  const heads = int(keys.heads);
  const kvHeads = keys.kvHeads === undefined ? heads : int(keys.kvHeads, heads);
  if (heads % kvHeads !== 0) {
    throw new InputError(`${keys.heads} ${heads} is not a multiple of ${keys.kvHeads} ${kvHeads}`, {
      file,
      field: keys.kvHeads,
    });
  }
  const headDim = config[keys.headDim] == null ? hidden / heads : int(keys.headDim);
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new InputError(`${keys.hidden} ${hidden} / ${keys.heads} ${heads} is not an even head size`, {
      file,
      field: keys.heads,
    });
  }
  const act = config[keys.hiddenAct] ?? "silu";
  if (act !== "silu") {
    throw new InputError(`${keys.hiddenAct} ${JSON.stringify(act)} is not supported (silu is)`, {
      file,
      field: keys.hiddenAct,
    });
  }
  if (config[keys.mlpBias] === true) {
    throw new InputError(`${keys.mlpBias} is not supported`, { file, field: keys.mlpBias });
  }
  const alibi = row.alibiWithout !== undefined && config[keys[row.alibiWithout]] == null;
  const maxPositions = int(
    config[keys.maxPositions] != null ? keys.maxPositions : keys.maxPositionsFallback,
    4096,
  );
  const attentionBias = config[keys.attentionBias] === true;
  const window = keys.slidingWindow === undefined || config[keys.slidingWindow] == null
    ? undefined
    : int(keys.slidingWindow);
  const bos = config[keys.bosId];
  const eos = config[keys.eosId];
  return {
    architecture,
    vocabSize: int(keys.vocabSize),
    hidden,
    intermediate: int(keys.intermediate),
    layers: int(keys.layers),
    heads,
    kvHeads,
    headDim,
    normEps: num(keys.normEps, 1e-6),
    position: alibi ? { kind: "alibi" } : {
      kind: "rope",
      theta: num(keys.ropeTheta, 10000),
      scaling: ropeScaling(config[keys.ropeScaling], keys.ropeScaling, file),
    },
    qkvBias: row.qkvBias === "always" || attentionBias,
    oBias: row.oBias === "attentionBias" && attentionBias,
    tiedEmbeddings: config[keys.tiedEmbeddings] === true,
    normHead: row.normHead !== undefined &&
      (row.normHead.key in config || config[keys.vocabSize] === row.normHead.vocabSize),
    maxPositions,
    ...(window === undefined ? {} : { slidingWindow: window }),
    bosId: typeof bos === "number" ? bos : undefined,
    eosIds: (Array.isArray(eos) ? eos : [eos]).filter((x): x is number => typeof x === "number"),
  };
}

function ropeScaling(s: unknown, key: string, file?: string): RopeScaling | undefined {
  if (s == null) return undefined;
  const bad = (why: string) => new InputError(`${key} ${JSON.stringify(s)}: ${why}`, { file, field: key });
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

/** A checkpoint tensor with the weight it holds. */
export interface RoleTensor extends SourceTensor {
  /** The weight: a global role, or a layer role with its layer. */
  readonly role: GlobalRole | LayerRole;
  /** Its layer, for a layer role. */
  readonly layer?: number;
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
  return roleTensors(spec).map(({ name, shape }) => ({ name, shape }));
}

/**
 * The checkpoint tensors a model needs, in reading order, with the weight each holds: the
 * roles the model has and its family stores, named as the family's row names them.
 *
 * @param spec the model
 * @returns the tensors
 *
 * @example
 * ```ts
 * import { roleTensors, specFromConfig } from "./architectures.ts";
 * const spec = specFromConfig({ model_type: "qwen2", vocab_size: 10, hidden_size: 4, intermediate_size: 8,
 *   num_hidden_layers: 1, num_attention_heads: 2, tie_word_embeddings: true });
 * const bq = roleTensors(spec).find((t) => t.role === "bq");
 * if (bq?.name !== "model.layers.0.self_attn.q_proj.bias" || bq.layer !== 0) throw new Error();
 * ```
 */
export function roleTensors(spec: ModelSpec): RoleTensor[] {
  const row = ARCHITECTURES[spec.architecture];
  const out: RoleTensor[] = [];
  const global = (role: GlobalRole) => {
    const name = row.hf.global[role];
    if (name !== undefined && GLOBAL_ROLES[role].present(spec)) {
      out.push({ name, shape: GLOBAL_ROLES[role].shape(spec), role });
    }
  };
  global("embed");
  for (let layer = 0; layer < spec.layers; layer++) {
    for (const role of Object.keys(LAYER_ROLES) as LayerRole[]) {
      const name = row.hf.layer[role];
      const info = LAYER_ROLES[role];
      if (name === undefined || !info.present(spec)) continue;
      out.push({ name: layerTensorName(name, layer), shape: info.shape(spec), role, layer });
    }
  }
  global("norm");
  global("output");
  return out;
}
