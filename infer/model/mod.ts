/**
 * What a model computes, apart from how an engine computes it: the {@linkcode ModelSpec} of a
 * decoder-only transformer, the supported architectures and how their Hugging Face folders map
 * onto it, loading (with LoRA merged), inspection, and export to GGUF.
 *
 * Map:
 * - `model_spec.ts`: {@linkcode ModelSpec} (sizes, RoPE or ALiBi, variants) and the canonical
 *   weights every engine reads.
 * - `architectures.ts`: the model families (`llama`, `qwen2`, `baichuan`): `config.json` →
 *   spec, and the tensors (names, shapes) a folder must hold.
 * - `load_model.ts`: {@linkcode loadModel}, the one place checkpoint tensors become canonical
 *   weights (read once, LoRA-merged, split, converted); `load_progress.ts` shows its progress.
 * - `lora.ts`: PEFT adapters, checked against the base model, and the merge.
 * - `inspect.ts`: what a folder holds (sizes, parameters, dtypes, memory) without loading it.
 * - `memory_plan.ts`: the bytes of a model's weights in each format, and of its KV cache.
 * - `gguf_export.ts`: a loaded model as GGUF (llama.cpp tensor names, keys, tokenizer).
 * - `gguf_model.ts`: the inverse: a GGUF file as a spec and canonical weights (`loadModel`
 *   reads one when given a file); `model_tokenizer.ts`: the tokenizer of a folder or GGUF file.
 *
 * Data enters as a model folder (and an adapter folder), read through `formats/`, and leaves as
 * a {@linkcode LoadedModel} for `engine/`, a {@linkcode ModelReport}, or a GGUF file.
 *
 * @example
 * ```ts
 * import { loadModel, parameterCount } from "./mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const model = await loadModel(dir);
 * if (parameterCount(model.spec) !== 2 * 128 + 4 * 64 + 3 * 128 + 16 + 8) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

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
} from "./model_spec.ts";
export {
  architectureOf,
  type ModelConfig,
  type RoleTensor,
  roleTensors,
  type SourceTensor,
  sourceTensors,
  specFromConfig,
} from "./architectures.ts";
export { type LoadedModel, loadModel, type LoadOptions, type LoadProgress } from "./load_model.ts";
export { formatLoadProgress, LoadProgressLine } from "./load_progress.ts";
export {
  type AdapterConfig,
  AdapterFolder,
  type AdapterTarget,
  type LoraBase,
  type LoraDelta,
  mergeLora,
} from "./lora.ts";
export { formatModelReport, inspectModel, type ModelReport } from "./inspect.ts";
export { type FormatMemory, kvBytesPerToken, weightMemory, type WeightMemoryOptions } from "./memory_plan.ts";
export {
  exportGguf,
  type ExportGgufOptions,
  type ExportGgufResult,
  GGUF_EXPORTER_VERSION,
  type GgufExportPlan,
  planGgufExport,
} from "./gguf_export.ts";
export { GgufModelFile, type GgufWeightSource, loadGgufModel, unpermuteRows } from "./gguf_model.ts";
export type { GgufArchitecture, GlobalRole, LayerRole } from "./architecture_table.ts";
export { loadModelTokenizer } from "./model_tokenizer.ts";
