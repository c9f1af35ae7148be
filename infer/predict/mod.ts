/**
 * Prediction runs: a test file in, a prediction file out (resumable, in input order, failures
 * recorded), with a local engine or an OpenAI-compatible server as the predictor.
 *
 * @example
 * ```ts
 * import { recordKey } from "./mod.ts";
 * if (recordKey({ id: "a", instruction: "b" }) === recordKey({ id: "a", instruction: "c" })) throw new Error();
 * ```
 *
 * @module
 */

export { prepareResume, recordKey, type ResumeState } from "./resume.ts";
export {
  FatalPredictionError,
  type Prediction,
  type Predictor,
  type PredictRequest,
  type RunOptions,
  runPredictions,
  type RunProgress,
  type RunSummary,
} from "./run.ts";
export { type OpenAiOptions, OpenAiPredictor, ServerError } from "./openai.ts";
export { checkInstructionRecords, checkPromptsFit } from "./preflight.ts";
export {
  checkRunSettings,
  filesFingerprint,
  type RunFile,
  runFilePath,
  type RunSettings,
  type RunSettingsCheck,
  settingsDifferences,
  writeRunFile,
} from "./run_settings.ts";
export {
  type CompletionRequest,
  type CompletionResult,
  LocalGenerator,
  LocalPredictor,
  type LocalPredictorOptions,
  type TextGenerator,
  tokensBytes,
  tokensText,
} from "./local.ts";
export { WorkerGenerator, type WorkerGeneratorOptions } from "./worker_generator.ts";
export {
  gbnfJsonSchema,
  LlamaCppGenerator,
  type LlamaCppGeneratorOptions,
  type LlamaCppGrammarKind,
  type LlamaCppOptions,
  LlamaCppPredictor,
  shapeToGbnf,
} from "./llamacpp.ts";
export {
  type BindingCacheOptions,
  importLlamaCpp,
  LLAMA_CPP_PACKAGE,
  llamaCppBindingCached,
  type LlamaCppModule,
} from "./llamacpp_binding.ts";
export {
  type AutoEngine,
  type AutoEngineChoice,
  type AutoEngineOptions,
  chooseAutoEngine,
  llamaCppLoads,
} from "./auto_engine.ts";
export { type CachedGguf, cachedGguf, type CachedGgufOptions, iepileCacheDir } from "./gguf_cache.ts";
