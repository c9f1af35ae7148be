/**
 * LoRA fine-tuning, as IEPile's `src/finetune.py` does it, with no Python: converted train
 * records in, a PEFT adapter out (which `infer --lora`, `serve --lora` and `export-gguf --lora`
 * load), on the CPU oracle or a WebGPU device; or a hand-off to LLaMA-Factory for several GPUs.
 *
 * - `settings.ts`: the run's settings, their defaults, the default LoRA targets per family.
 * - `dataset.ts`: records read, encoded and split; each epoch's order.
 * - `lora_model.ts`: the frozen base with LoRA pairs; an example's loss and gradients.
 * - `ops/`: each op's forward and backward (linear, LoRA, RMSNorm, RoPE, attention, SwiGLU, loss).
 * - `dropout.ts`: LoRA dropout's masks, counter-based (the same on the CPU and in WGSL).
 * - `loss_engine.ts`: where losses and gradients are computed (`cpu`, `webgpu`), as one interface.
 * - `webgpu/`: the WebGPU trainer: `gpu_loss.ts` the graph, `work_list.ts` one submit per example,
 *   `kernels/` its products (`gemm`), row kernels and element-wise kernels; `device_memory.ts`
 *   the device memory it needs, from a model's shape alone.
 * - `adamw.ts`: AdamW, linear decay, gradient clipping.
 * - `peft_adapter.ts`, `checkpoint.ts`: adapters and resumable checkpoints on disk.
 * - `trainer.ts`: the run. `cli_command.ts`: the `train` command.
 * - `llamafactory.ts`: the dataset, config and DeepSpeed file for LLaMA-Factory.
 *
 * @example
 * ```ts
 * import { DEFAULT_TARGETS } from "./mod.ts";
 * if (DEFAULT_TARGETS.baichuan[0] !== "W_pack") throw new Error();
 * ```
 *
 * @module
 */

export {
  DEFAULT_TARGETS,
  defaultTargets,
  TRAIN_DEFAULTS,
  type TrainEngineName,
  type TrainSettings,
} from "./settings.ts";
export { CpuLoss, type EngineLossOptions, type LossEngine, openLossEngine } from "./loss_engine.ts";
export { WebGpuLoss, type WebGpuLossOptions } from "./webgpu/gpu_loss.ts";
export { describeTrainMemory, type TrainMemory, trainMemory, type TrainMemoryOptions } from "./webgpu/device_memory.ts";
export { type Example, type ExampleFile, readExamples } from "./dataset.ts";
export {
  createLoraModel,
  type ExampleLoss,
  exampleLoss,
  type LoraGrads,
  type LoraInit,
  type LoraModel,
  type LoraModule,
  type LoraSlot,
  type LossOptions,
  type ScoredIds,
  scoredPositions,
  targetModules,
  withModules,
  zeroGrads,
} from "./lora_model.ts";
export type { LoraPair } from "./ops/lora_update.ts";
export { type AdamWOptions, type AdamWState, adamwStep, clipGradNorm, linearDecay } from "./adamw.ts";
export { type AdapterSettings, loadAdapter, saveAdapter } from "./peft_adapter.ts";
export { checkSettings, type LogEntry, train, type TrainEvents, type TrainResult } from "./trainer.ts";
export {
  exportLlamaFactory,
  type LlamaFactoryExport,
  type LlamaFactoryTemplate,
  llamaFactoryTemplate,
} from "./llamafactory.ts";

// Types of the other parts that this part's API names.
export type {
  AlibiSpec,
  Architecture,
  DType,
  GgmlTypeName,
  LayerWeights,
  LoadedModel,
  LoadProgress,
  LoraDelta,
  ModelConfig,
  ModelSpec,
  ModelWeights,
  QuantPreset,
  QuantTensor,
  QuantType,
  RopeScaling,
  RopeSpec,
  Tensor,
  WeightTensor,
} from "../infer/mod.ts";
export type {
  EncodingRule,
  ExampleBudget,
  PromptTokenizer,
  SpecialToken,
  TemplateDefinition,
  TemplateElement,
} from "../templates/mod.ts";
