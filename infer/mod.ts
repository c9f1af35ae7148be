/**
 * `infer`: run IEPile's models in Deno. Hugging Face model folders (safetensors, single or
 * sharded; f32, f16, bf16) with PEFT LoRA adapters merged at load; Llama, Qwen2 and Baichuan
 * architectures; a readable CPU engine (the oracle) and a WebGPU engine; greedy and seeded
 * sampling with stop words; GGUF export for llama.cpp and Ollama.
 *
 * @example
 * ```ts
 * import { CpuEngine, generate, loadModel, writeRandomModel } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "qwen2", vocabSize: 64, hidden: 16, intermediate: 32, layers: 2, heads: 4,
 *   kvHeads: 2, tiedEmbeddings: true });
 * const model = await loadModel(dir);
 * const session = new CpuEngine(model).createSession();
 * const g = await generate(session, [3, 1, 4, 1, 5], { maxNewTokens: 8, stopIds: model.spec.eosIds });
 * if (g.ids.length + (g.stop === "eos" ? 1 : 0) === 0) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

export {
  bf16ToF32,
  type DType,
  DTYPE_BYTES,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  fromF32,
  table16,
  toF32,
} from "./formats/dtype.ts";
export { castTensor, f32Tensor, numel, type Tensor, tensorToF32 } from "./formats/tensor.ts";
export {
  encodeSafetensors,
  MAX_HEADER_BYTES,
  parseSafetensorsHeader,
  type SafetensorsEntry,
  SafetensorsFile,
  type SafetensorsHeader,
  type TensorToWrite,
} from "./formats/safetensors.ts";
export {
  alibiSlopes,
  type AlibiSpec,
  type Architecture,
  type LayerWeights,
  type ModelSpec,
  type ModelWeights,
  parameterCount,
  ropeInvFreq,
  type RopeScaling,
  type RopeSpec,
} from "./model/model_spec.ts";
export {
  architectureOf,
  type ModelConfig,
  type SourceTensor,
  sourceTensors,
  specFromConfig,
} from "./model/architectures.ts";
export { ModelFolder, readJsonObject } from "./formats/model_folder.ts";
export { type AdapterConfig, AdapterFolder, type AdapterTarget, type LoraDelta, mergeLora } from "./model/lora.ts";
export {
  type LoadedModel,
  loadModel,
  type LoadOptions,
  type LoadProgress,
  normalizeRows,
  sliceRows,
} from "./model/load_model.ts";
export { Rng } from "./decode/random.ts";
export {
  type RandomLoraOptions,
  randomModelConfig,
  type RandomModelOptions,
  writeRandomLora,
  writeRandomModel,
} from "./testing/random_model.ts";
export { argmax, type Engine, reusableLength, type Session, type SessionOptions } from "./engine/engine.ts";
export { CpuEngine, type CpuEngineOptions, embeddingRow } from "./engine/cpu/cpu_engine.ts";
export { logSoftmax, sampleToken, type SamplingOptions } from "./decode/sampling.ts";
export { cutAtStopText, firstStop } from "./decode/stop_text.ts";
export { generate, type GenerateOptions, type Generation } from "./decode/generate.ts";
export { type DecodeLoopOptions, type DecodeOutcome, type StopReason } from "./decode/decode_loop.ts";
export { type Answer } from "./decode/answer.ts";
export { shrinkTokenizer } from "./testing/tiny_tokenizer.ts";
export {
  exportGguf,
  type ExportGgufOptions,
  type ExportGgufResult,
  GGUF_EXPORTER_VERSION,
  ggufArchitecture,
  type GgufExportPlan,
  permuteRows,
  placeholderVocab,
  planGgufExport,
  vocabFromTokenizer,
} from "./model/gguf_export.ts";
export {
  GGML_TYPES,
  GGUF_ALIGNMENT,
  type GgufHeader,
  type GgufScalarType,
  type GgufSink,
  ggufSize,
  type GgufTensor,
  type GgufTensorInfo,
  type GgufValue,
  readGgufHeader,
  writeGguf,
  writeGgufTo,
} from "./formats/gguf.ts";
export {
  type KernelProfile,
  type KernelRole,
  type RecordedDispatch,
  type StepDispatches,
  webGpuAvailable,
  WebGpuEngine,
  type WebGpuEngineOptions,
} from "./engine/webgpu/webgpu_engine.ts";
export { type MatmulStrategy } from "./engine/webgpu/matmul.wgsl.ts";
export { formatLoadProgress, LoadProgressLine } from "./model/load_progress.ts";
export { formatModelReport, inspectModel, type ModelReport } from "./model/inspect.ts";
export { type CommandIo, EXPORT_GGUF_HELP, INSPECT_HELP, runExportGguf, runInspect } from "./cli/model_commands.ts";
export {
  createEngine,
  type CreateEngineOptions,
  defaultEngine,
  type GpuProbe,
  probeGpu,
} from "./engine/create_engine.ts";
export * from "./constrain/mod.ts";
export * from "./predict/mod.ts";
export * from "./serve/mod.ts";
