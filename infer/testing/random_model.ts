/**
 * Random-weight model and adapter folders in Hugging Face layout, for tests, benches and demos
 * (clearly untrained: their output is noise). They go through exactly the files a real model
 * has: `config.json`, safetensors (single or sharded with an index), optionally a tokenizer.
 *
 * @module
 */

import { join } from "node:path";
import { type DType, fromF32 } from "../formats/dtype.ts";
import type { Architecture } from "../model/model_spec.ts";
import { roleTensors, sourceTensors, specFromConfig } from "../model/architectures.ts";
import {
  ARCHITECTURES,
  GLOBAL_ROLES,
  type GlobalRole,
  LAYER_ROLES,
  type LayerRole,
} from "../model/architecture_table.ts";
import { ModelFolder } from "../formats/model_folder.ts";
import { Rng } from "../decode/random.ts";
import { encodeSafetensors, type TensorToWrite } from "../formats/safetensors.ts";
import { numel } from "../formats/tensor.ts";

/** What {@linkcode writeRandomModel} writes. */
export interface RandomModelOptions {
  /** Family (`config.json` `model_type`). */
  readonly architecture: Architecture;
  /** Vocabulary size. */
  readonly vocabSize: number;
  /** Hidden size. */
  readonly hidden: number;
  /** MLP inner size. */
  readonly intermediate: number;
  /** Layers. */
  readonly layers: number;
  /** Attention heads. */
  readonly heads: number;
  /** Key/value heads (default: `heads`; Baichuan has no GQA). */
  readonly kvHeads?: number;
  /** Stored format (default f32). */
  readonly dtype?: DType;
  /** Seed (default 1). */
  readonly seed?: number;
  /** Tie the output matrix to the embedding. */
  readonly tiedEmbeddings?: boolean;
  /**
   * Families that may use ALiBi (Baichuan): `alibi` (13B style, default unless the depth is the
   * one llama.cpp runs with RoPE, 32) or `rope` (7B style).
   */
  readonly position?: "rope" | "alibi";
  /** Families with NormHead (Baichuan): Baichuan 2's NormHead (default true). */
  readonly normHead?: boolean;
  /** `rope_theta` (default 10000). */
  readonly ropeTheta?: number;
  /** `rope_scaling`, written as given. */
  readonly ropeScaling?: Readonly<Record<string, unknown>>;
  /** Llama only: `attention_bias` (q, k, v and o biases). */
  readonly attentionBias?: boolean;
  /** `max_position_embeddings` (default 2048). */
  readonly maxPositions?: number;
  /** Llama only: `sliding_window` (Mistral's sliding-window attention; default none). */
  readonly slidingWindow?: number;
  /** Write the weights as this many shards with an index (default 1: `model.safetensors`). */
  readonly shards?: number;
  /** BOS and EOS ids (default 1 and 2). */
  readonly bosId?: number;
  /** EOS id. */
  readonly eosId?: number;
  /** Written as `tokenizer.json` and `tokenizer_config.json` when given. */
  readonly tokenizer?: { readonly json: unknown; readonly config?: unknown };
  /** Standard deviation of the output matrix times √hidden (default 3: peaked distributions). */
  readonly outputGain?: number;
}

/**
 * The `config.json` of a random model.
 *
 * @param o the model's options
 * @returns the config object
 *
 * @example
 * ```ts
 * import { randomModelConfig } from "./random_model.ts";
 * const c = randomModelConfig({ architecture: "qwen2", vocabSize: 32, hidden: 8, intermediate: 16, layers: 2, heads: 2 });
 * if (c.model_type !== "qwen2" || c.num_key_value_heads !== 2) throw new Error();
 * ```
 */
export function randomModelConfig(o: RandomModelOptions): Record<string, unknown> {
  const row = ARCHITECTURES[o.architecture];
  const keys = row.config;
  const maxPositions = o.maxPositions ?? 2048;
  const c: Record<string, unknown> = {
    architectures: [row.classNames[0]],
    model_type: row.modelTypes[0],
    [keys.vocabSize]: o.vocabSize,
    [keys.hidden]: o.hidden,
    [keys.intermediate]: o.intermediate,
    [keys.layers]: o.layers,
    [keys.heads]: o.heads,
    [keys.normEps]: 1e-6,
    [keys.hiddenAct]: "silu",
    [keys.bosId]: o.bosId ?? 1,
    [keys.eosId]: o.eosId ?? 2,
    [keys.tiedEmbeddings]: o.tiedEmbeddings ?? false,
    torch_dtype: { f32: "float32", f16: "float16", bf16: "bfloat16" }[o.dtype ?? "f32"],
  };
  // ALiBi unless asked otherwise or the depth llama.cpp runs with RoPE.
  const alibi = row.alibiWithout !== undefined &&
    (o.position ?? (o.layers === row.gguf.depths?.rope ? "rope" : "alibi")) === "alibi";
  for (const field of row.optionalConfig) {
    if (field === "kvHeads") c[keys.kvHeads!] = o.kvHeads ?? o.heads;
    else if (field === "maxPositionsFallback") c[keys.maxPositionsFallback] = maxPositions;
    else if (field === "maxPositions") {
      if (!(alibi && row.alibiWithout === "maxPositions")) c[keys.maxPositions] = maxPositions;
    } else if (field === "ropeTheta") c[keys.ropeTheta] = o.ropeTheta ?? 10000;
    else if (field === "ropeScaling") {
      if (o.ropeScaling) c[keys.ropeScaling] = o.ropeScaling;
    } else if (field === "attentionBias") {
      if (o.attentionBias) c[keys.attentionBias] = true;
    } else if (field === "slidingWindow") {
      if (o.slidingWindow !== undefined) c[keys.slidingWindow!] = o.slidingWindow;
    } else if (field === "normHead") {
      if (row.normHead && (o.normHead ?? true)) c[row.normHead.key] = 0;
    }
  }
  return c;
}

/**
 * Write a random-weight model folder.
 *
 * @param dir the folder (created if needed)
 * @param o the model's options
 * @returns the paths written
 *
 * @example
 * ```ts
 * import { loadModel } from "../mod.ts";
 * import { writeRandomModel } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 2,
 *   heads: 2, shards: 2 });
 * const m = await loadModel(dir);
 * if (m.weights.layers.length !== 2) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeRandomModel(dir: string, o: RandomModelOptions): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const config = randomModelConfig(o);
  const spec = specFromConfig(config);
  const rng = new Rng(o.seed ?? 1);
  const dtype = o.dtype ?? "f32";
  const tensors: [string, TensorToWrite][] = [];
  for (const { name, shape, role, layer } of roleTensors(spec)) {
    const v = new Float32Array(numel(shape));
    const kind = layer === undefined ? GLOBAL_ROLES[role as GlobalRole].kind : LAYER_ROLES[role as LayerRole].kind;
    if (kind !== "matrix") {
      const bias = kind === "bias";
      for (let i = 0; i < v.length; i++) v[i] = bias ? 0.1 * rng.normal() : 1 + 0.1 * rng.normal();
    } else {
      const std = role === "embed"
        ? 1
        : role === "output"
        ? (o.outputGain ?? 3) / Math.sqrt(shape[1])
        : 1 / Math.sqrt(shape[1]);
      for (let i = 0; i < v.length; i++) v[i] = std * rng.normal();
    }
    tensors.push([name, { dtype, shape, data: fromF32(v, dtype) }]);
  }
  const written = [join(dir, "config.json")];
  await Deno.writeTextFile(written[0], JSON.stringify(config, null, 2) + "\n");
  const shards = Math.max(1, Math.min(o.shards ?? 1, tensors.length));
  if (shards === 1) {
    const path = join(dir, "model.safetensors");
    await Deno.writeFile(path, encodeSafetensors(Object.fromEntries(tensors)));
    written.push(path);
  } else {
    const per = Math.ceil(tensors.length / shards);
    const weightMap: Record<string, string> = {};
    let total = 0;
    for (let s = 0; s < shards; s++) {
      const name = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
      const part = tensors.slice(s * per, (s + 1) * per);
      for (const [t, w] of part) {
        weightMap[t] = name;
        total += w.data.byteLength;
      }
      await Deno.writeFile(join(dir, name), encodeSafetensors(Object.fromEntries(part)));
      written.push(join(dir, name));
    }
    const index = join(dir, "model.safetensors.index.json");
    await Deno.writeTextFile(
      index,
      JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2),
    );
    written.push(index);
  }
  if (o.tokenizer) {
    const tj = join(dir, "tokenizer.json");
    await Deno.writeTextFile(tj, JSON.stringify(o.tokenizer.json));
    written.push(tj);
    if (o.tokenizer.config) {
      const tc = join(dir, "tokenizer_config.json");
      await Deno.writeTextFile(tc, JSON.stringify(o.tokenizer.config, null, 2));
      written.push(tc);
    }
  }
  return written;
}

/** What {@linkcode writeRandomLora} writes. */
export interface RandomLoraOptions {
  /** Rank. */
  readonly r: number;
  /** `lora_alpha`. */
  readonly alpha: number;
  /** Target module names (`q_proj`, `v_proj`, `W_pack`, `gate_proj`, …). */
  readonly targets: readonly string[];
  /** Rank-stabilized scaling. */
  readonly useRslora?: boolean;
  /** Stored format of A and B (default f32). */
  readonly dtype?: DType;
  /** Seed (default 7). */
  readonly seed?: number;
  /** Standard deviation of B times √r (default 0.5; PEFT starts B at zero, which would change nothing). */
  readonly bGain?: number;
}

/**
 * Write a random PEFT LoRA adapter for a base model folder.
 *
 * @param dir the adapter folder (created if needed)
 * @param baseDir the base model folder (for shapes)
 * @param o rank, alpha and targets
 * @returns the paths written
 *
 * @example
 * ```ts
 * import { writeRandomLora, writeRandomModel } from "./mod.ts";
 * const base = await Deno.makeTempDir(), lora = await Deno.makeTempDir();
 * await writeRandomModel(base, { architecture: "qwen2", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const files = await writeRandomLora(lora, base, { r: 4, alpha: 8, targets: ["q_proj"] });
 * if (files.length !== 2) throw new Error();
 * await Deno.remove(base, { recursive: true });
 * await Deno.remove(lora, { recursive: true });
 * ```
 */
export async function writeRandomLora(dir: string, baseDir: string, o: RandomLoraOptions): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  using base = await ModelFolder.open(baseDir);
  const rng = new Rng(o.seed ?? 7);
  const dtype = o.dtype ?? "f32";
  const tensors: Record<string, TensorToWrite> = {};
  for (const { name, shape } of sourceTensors(base.spec)) {
    const m = /^(.*)\.([A-Za-z_]+)\.weight$/.exec(name);
    if (!m || shape.length !== 2 || !o.targets.includes(m[2])) continue;
    const [out, inp] = shape;
    const a = Float32Array.from({ length: o.r * inp }, () => rng.normal() / Math.sqrt(inp));
    const b = Float32Array.from({ length: out * o.r }, () => (o.bGain ?? 0.5) * rng.normal() / Math.sqrt(o.r));
    tensors[`base_model.model.${m[1]}.${m[2]}.lora_A.weight`] = { dtype, shape: [o.r, inp], data: fromF32(a, dtype) };
    tensors[`base_model.model.${m[1]}.${m[2]}.lora_B.weight`] = { dtype, shape: [out, o.r], data: fromF32(b, dtype) };
  }
  const config = {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseDir,
    r: o.r,
    lora_alpha: o.alpha,
    lora_dropout: 0.05,
    target_modules: [...o.targets],
    fan_in_fan_out: false,
    bias: "none",
    use_rslora: o.useRslora ?? false,
    inference_mode: true,
  };
  const paths = [join(dir, "adapter_config.json"), join(dir, "adapter_model.safetensors")];
  await Deno.writeTextFile(paths[0], JSON.stringify(config, null, 2) + "\n");
  await Deno.writeFile(paths[1], encodeSafetensors(tensors));
  return paths;
}
