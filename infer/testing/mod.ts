/**
 * Test fixtures for `infer`, exported apart from the library (`@iepile/cli/testing`):
 * random-weight models and adapters written as real Hugging Face folders, and tiny tokenizers.
 * Their output is noise; they exist so that tests, benches and demos go through exactly the
 * files and code paths a real model does.
 *
 * Map:
 * - `random_model.ts`: {@linkcode writeRandomModel} writes `config.json` + safetensors (single
 *   or sharded, f32/f16/bf16, optionally a tokenizer) for any supported architecture;
 *   {@linkcode writeRandomLora} writes a PEFT adapter that fits such a model;
 *   {@linkcode randomModelConfig} is the `config.json` it writes.
 * - `tiny_tokenizer.ts`: {@linkcode shrinkTokenizer} cuts a real BPE `tokenizer.json` down to
 *   a small vocabulary, for tiny models that still tokenize real text.
 *
 * Data enters as options (sizes, seed) and leaves as files in a folder the caller names;
 * nothing here is read by the library itself.
 *
 * @example
 * ```ts
 * import { writeRandomLora, writeRandomModel } from "./mod.ts";
 * import { loadModel } from "../mod.ts";
 * const base = await Deno.makeTempDir(), lora = await Deno.makeTempDir();
 * await writeRandomModel(base, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * await writeRandomLora(lora, base, { r: 2, alpha: 4, targets: ["q_proj", "v_proj"] });
 * const model = await loadModel(base, { lora });
 * if (model.spec.layers !== 1) throw new Error();
 * await Deno.remove(base, { recursive: true });
 * await Deno.remove(lora, { recursive: true });
 * ```
 *
 * @module
 */

export {
  type RandomLoraOptions,
  randomModelConfig,
  type RandomModelOptions,
  writeRandomLora,
  writeRandomModel,
} from "./random_model.ts";
export { shrinkTokenizer } from "./tiny_tokenizer.ts";
export type { Architecture } from "../model/mod.ts";
export type { DType } from "../formats/mod.ts";
