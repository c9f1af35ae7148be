/**
 * The settings of a LoRA fine-tuning run, as IEPile's `src/finetune.py` takes them (Hugging Face
 * Trainer defaults where a flag is not given), and the LoRA target modules each model family
 * gets by default.
 *
 * @module
 */

import type { QuantPreset } from "../infer/mod.ts";

/** The engines `train --engine` accepts: `cpu` (the oracle) or `webgpu`. */
export type TrainEngineName = "cpu" | "webgpu";

/** Everything a training run needs to know. */
export interface TrainSettings {
  /** The base model: a Hugging Face folder. */
  readonly modelNameOrPath: string;
  /** The family IEPile's scripts name (`llama`, `qwen2`, `baichuan`, …), for default targets. */
  readonly modelName?: string;
  /** The chat template the examples are rendered with (e.g. `llama2_zh`, `qwen`, `baichuan2`). */
  readonly template: string;
  /** Converted train records (JSON Lines). */
  readonly trainFile: string;
  /** Converted records to measure the validation loss on. */
  readonly validFile?: string;
  /** Without a valid file: how many train records are held out (0: none). */
  readonly valSetSize: number;
  /** Where checkpoints, the log and the final adapter go. */
  readonly outputDir: string;
  /** Examples per micro-batch. */
  readonly perDeviceTrainBatchSize: number;
  /** Examples per micro-batch when measuring the validation loss. */
  readonly perDeviceEvalBatchSize: number;
  /** Micro-batches per optimisation step. */
  readonly gradientAccumulationSteps: number;
  /** Passes over the train records. */
  readonly numTrainEpochs: number;
  /** Peak learning rate (decays linearly to 0). */
  readonly learningRate: number;
  /** Gradient-norm clipping threshold (0: none). */
  readonly maxGradNorm: number;
  /** Most ids of one example. */
  readonly cutoffLen: number;
  /** Fewest ids a response is cut to. */
  readonly maxTargetLength: number;
  /** LoRA rank. */
  readonly loraR: number;
  /** LoRA alpha (the update is scaled by `alpha / r`). */
  readonly loraAlpha: number;
  /** Dropout on a LoRA's input while training. */
  readonly loraDropout: number;
  /** Module names the LoRA adapts (e.g. `q_proj`, `W_pack`). */
  readonly loraTargetModules: readonly string[];
  /** An adapter to continue training. */
  readonly checkpointDir?: string;
  /** Seed of the data order, the held-out split, LoRA initialisation and dropout. */
  readonly seed: number;
  /** Most checkpoints kept (undefined: all). */
  readonly saveTotalLimit?: number;
  /** Also write a checkpoint every this many optimisation steps (undefined: at each epoch's end only). */
  readonly saveSteps?: number;
  /** Start afresh even when the output folder holds checkpoints of this run (default: resume from them). */
  readonly overwriteOutputDir: boolean;
  /** Whether the validation loss is measured each epoch. */
  readonly doEval: boolean;
  /** Whether IEPile's script trained in bf16 (recorded; the CPU engine computes in double precision). */
  readonly bf16: boolean;
  /**
   * Quantize the frozen base weights as they load (QLoRA): `q4_k_m`, `q8_0`, … The LoRA pairs stay
   * in double precision and train on top of the quantized weights.
   */
  readonly quantize?: QuantPreset;
  /** A DeepSpeed config the script was given (recorded for the LLaMA-Factory export). */
  readonly deepspeed?: string;
  /**
   * Where losses and gradients are computed: `cpu` (the oracle, double precision) or `webgpu`
   * (the same graph on a WebGPU device, f32; base weights in their stored format).
   */
  readonly engine: TrainEngineName;
}

/** The defaults of the settings a user may leave out (Hugging Face Trainer's and IEPile's). */
export const TRAIN_DEFAULTS: Readonly<
  Omit<TrainSettings, "modelNameOrPath" | "template" | "trainFile" | "outputDir" | "loraTargetModules" | "loraAlpha">
> = Object.freeze({
  valSetSize: 1000,
  perDeviceTrainBatchSize: 8,
  perDeviceEvalBatchSize: 8,
  gradientAccumulationSteps: 1,
  numTrainEpochs: 3,
  learningRate: 5e-5,
  maxGradNorm: 1,
  cutoffLen: 700,
  maxTargetLength: 300,
  loraR: 8,
  loraDropout: 0.1,
  seed: 42,
  doEval: false,
  bf16: false,
  overwriteOutputDir: false,
  engine: "cpu",
});

const LLAMA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;

/** The modules IEPile's script adapts when none are given, by `--model_name`. */
export const DEFAULT_TARGETS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  llama: LLAMA_TARGETS,
  mistral: LLAMA_TARGETS,
  qwen2: LLAMA_TARGETS,
  moss: LLAMA_TARGETS,
  custom: LLAMA_TARGETS,
  baichuan: ["W_pack", "o_proj", "gate_proj", "down_proj", "up_proj"],
  falcon: ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
  chatglm: ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
  qwen: ["c_attn", "attn.c_proj", "w1", "w2", "mlp.c_proj"],
});

/**
 * The default LoRA targets of a family (`all`: every linear layer of the decoder).
 *
 * @param modelName the family IEPile's scripts name, or the config's architecture
 * @returns the module names, or undefined for an unknown family
 *
 * @example
 * ```ts
 * import { defaultTargets } from "./settings.ts";
 * if (defaultTargets("baichuan")?.[0] !== "W_pack" || defaultTargets("qwen2")?.length !== 7) throw new Error();
 * ```
 */
export function defaultTargets(modelName: string): readonly string[] | undefined {
  return DEFAULT_TARGETS[modelName.toLowerCase()];
}
