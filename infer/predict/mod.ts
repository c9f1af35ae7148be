/**
 * Prediction runs: a test file in, a prediction file out (resumable, in input order, failures
 * recorded), with a local engine, llama.cpp or an OpenAI-compatible server as the predictor.
 *
 * Map:
 * - `run.ts`: {@linkcode runPredictions}, the run itself (input order, resumable appends,
 *   failures recorded), over any {@linkcode Predictor}; `resume.ts` finds what a stopped run
 *   already wrote.
 * - `local.ts`: {@linkcode LocalGenerator} (prompt, prefix-reusing sessions, constrained
 *   generation on a local engine, `batch` records decoded at once) and {@linkcode LocalPredictor} on it.
 * - `serial_queue.ts`: the first-come line in front of a resource (one turn, or `batch` at once).
 * - `worker_generator.ts`: {@linkcode WorkerGenerator}, the same on the CPU engine in a Web
 *   Worker (`_generator_worker.ts`, `_worker_protocol.ts`), so a server stays responsive.
 * - `llamacpp.ts`: answers from llama.cpp on an exported GGUF (`llamacpp_binding.ts` loads the
 *   binding on demand; `gguf_cache.ts` keeps the exported GGUF in the cache folder).
 * - `openai.ts`: {@linkcode OpenAiPredictor}, answers from an OpenAI-compatible server.
 * - `auto_engine.ts`: what `--engine auto` runs on this machine.
 * - `perplexity.ts`: log-probabilities of token sequences on an engine session (`perplexity`).
 * - `run_settings.ts`, `preflight.ts`: the run file beside a prediction file, and the checks
 *   before any model loads, for `iepile infer`.
 * - `_closing.ts`, `_cache_dir.ts`, `_iepile_flags.ts`: helpers private to this folder.
 *
 * Data enters as converted test records (read through `io/`) and prompts rendered with
 * `templates/`, and leaves as prediction lines (each record with its `output`, or an `error`).
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
  type LocalGeneratorOptions,
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
export { perplexityOf, type SequenceScorer, sessionScorer, tokenLogprob } from "./perplexity.ts";
export { type CachedGguf, cachedGguf, type CachedGgufOptions, iepileCacheDir } from "./gguf_cache.ts";
