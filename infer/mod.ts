/**
 * `infer`: run IEPile's models in Deno. Hugging Face model folders (safetensors, single or
 * sharded; f32, f16, bf16) with PEFT LoRA adapters merged at load; Llama, Qwen2 and Baichuan
 * architectures; a readable CPU engine (the oracle) and a WebGPU engine; greedy and seeded
 * sampling with stop words; schema-constrained answers; prediction runs; an OpenAI-compatible
 * server; GGUF export for llama.cpp and Ollama.
 *
 * This module is the public API. Test fixtures (random models, tiny tokenizers) are exported
 * apart, as `@iepile/cli/testing` (`infer/testing/mod.ts`).
 *
 * Map (data flows down this list):
 * - `formats/`: bytes on disk: dtypes, tensors, safetensors, Hugging Face folders, GGUF.
 * - `model/`: what a model computes: its spec, the architectures, loading with LoRA,
 *   inspection, GGUF export. A model folder enters here; a `LoadedModel` leaves.
 * - `engine/`: how it is computed: the `Engine`/`Session` interface, `cpu/` and `webgpu/`.
 *   Token ids enter; next-token logits leave.
 * - `constrain/`: the JSON shape an answer must have and the token masks that keep it so.
 * - `decode/`: the generation loop and sampling: logits in, token ids and a stop reason out.
 * - `predict/`: prediction runs: converted test records in (through `io/`, prompts rendered by
 *   `templates/`), prediction lines out, from a local engine, llama.cpp or a server.
 * - `serve/`: an OpenAI-compatible HTTP server on a local engine.
 * - `cli/`: the `infer`, `serve`, `inspect`, `export-gguf` and `perplexity` commands; only `runInfer`
 *   is exported here (`extract` runs its requests through it).
 * - `testing/`: random-weight models and tiny tokenizers for tests, benches and demos.
 *
 * @example
 * ```ts
 * import { CpuEngine, generate, loadModel } from "./mod.ts";
 * import { writeRandomModel } from "./testing/mod.ts";
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

// Load a model, and inspect one without loading it.
export {
  type AlibiSpec,
  type Architecture,
  type FormatMemory,
  formatModelReport,
  inspectModel,
  kvBytesPerToken,
  type LayerWeights,
  type LoadedModel,
  loadModel,
  type LoadOptions,
  type LoadProgress,
  type LoraDelta,
  type ModelConfig,
  type ModelReport,
  type ModelSpec,
  type ModelWeights,
  parameterCount,
  type RopeScaling,
  type RopeSpec,
  weightMemory,
  type WeightMemoryOptions,
} from "./model/mod.ts";

// Create an engine.
export {
  type AttentionItem,
  type AttentionKernel,
  availableCores,
  type BatchChoice,
  BatchedSession,
  type BatchRoom,
  type BatchStep,
  chooseBatch,
  CpuEngine,
  type CpuEngineOptions,
  createEngine,
  type CreateEngineOptions,
  type DecodeKernel,
  describeBatch,
  type DqKernel,
  type Engine,
  type I8Kernel,
  type Int8KernelFormat,
  type JobItem,
  type KernelBuild,
  type KernelExports,
  type KernelFormat,
  type KernelName,
  type KernelProfile,
  KernelThreads,
  type KernelThreadsOptions,
  type KvFormat,
  loadWasmEngine,
  type MatmulItem,
  type MatmulStrategy,
  type MmKernel,
  type MvKernel,
  openEngine,
  type OpenEngineOptions,
  type PrefillKernel,
  type Session,
  type SessionOptions,
  StepBatcher,
  type TokensItem,
  type WasmBuffers,
  WasmEngine,
  type WasmEngineOptions,
  wasmKernelsAvailable,
  type WasmLoadOptions,
  type WasmMatrix,
  WasmMemory,
  webGpuAvailable,
  WebGpuEngine,
  type WebGpuEngineOptions,
  WeightMemories,
} from "./engine/mod.ts";

// Generate and sample.
export {
  type Answer,
  type DecodeLoopOptions,
  type DecodeOutcome,
  generate,
  type GenerateOptions,
  type Generation,
  Rng,
  sampleToken,
  type SamplingOptions,
  type StopReason,
} from "./decode/mod.ts";

// Constrain answers to the shape their schema asks for.
export {
  type AltShape,
  ConstraintVocab,
  JsonConstraint,
  type JsonConstraintOptions,
  type JsonSchema,
  jsonSchemaToShape,
  type ListShape,
  type MapShape,
  type ObjectShape,
  type Shape,
  shapeForInstruction,
  shapeForSchema,
  type ShapeOptions,
  shapeToJsonSchema,
  type StringShape,
  type TokenBytesSource,
  type TokenTrie,
  type TokenWalk,
  UnsupportedSchemaError,
} from "./constrain/mod.ts";

// Predict: generators, predictors and the prediction run.
export {
  type CompletionRequest,
  type CompletionResult,
  FatalPredictionError,
  LlamaCppGenerator,
  type LlamaCppGeneratorOptions,
  type LlamaCppGrammarKind,
  type LlamaCppOptions,
  LlamaCppPredictor,
  LocalGenerator,
  type LocalGeneratorOptions,
  LocalPredictor,
  type LocalPredictorOptions,
  type OpenAiOptions,
  OpenAiPredictor,
  perplexityOf,
  type Prediction,
  type Predictor,
  type PredictRequest,
  recordKey,
  type RunOptions,
  runPredictions,
  type RunProgress,
  type RunSummary,
  type SequenceScorer,
  ServerError,
  sessionScorer,
  type TextGenerator,
  WorkerGenerator,
  type WorkerGeneratorOptions,
} from "./predict/mod.ts";

// The --quantize / --bits option of the commands that load a model (`train` takes it too).
export { QUANTIZE_CHOICES, quantizeOption } from "./cli/_quantize_option.ts";
export { INFER_HELP, INFER_OPTIONS, runInfer } from "./cli/infer_command.ts";

// Serve an OpenAI-compatible API.
export { ApiError, type ApiErrorType, type OpenAiServer, serveOpenAi, type ServeOptions } from "./serve/mod.ts";

// Formats a user reads and writes: GGUF (export, header) and safetensors.
export {
  exportGguf,
  type ExportGgufOptions,
  type ExportGgufResult,
  type GgufArchitecture,
  GgufModelFile,
  type GgufWeightSource,
  type GlobalRole,
  type LayerRole,
  loadGgufModel,
  loadModelTokenizer,
  type LoraBase,
} from "./model/mod.ts";
export {
  dequantizeRow,
  dotRow,
  type DType,
  encodeSafetensors,
  type GgmlTypeName,
  GgufFile,
  type GgufHeader,
  type GgufMetaValue,
  type GgufScalarType,
  type GgufTensorEntry,
  type GgufTensorInfo,
  type GgufValue,
  isGgufFile,
  parseSafetensorsHeader,
  plainTensor,
  presetForBits,
  type PresetModel,
  type PresetTensor,
  QUANT_PRESETS,
  QuantizePool,
  quantizeRow,
  quantizeTensor,
  type QuantPreset,
  type QuantPresetInfo,
  type QuantTensor,
  type QuantType,
  readGgufHeader,
  type SafetensorsEntry,
  SafetensorsFile,
  type SafetensorsHeader,
  type Tensor,
  type TensorToWrite,
  tensorTypeFor,
  type WeightTensor,
} from "./formats/mod.ts";
