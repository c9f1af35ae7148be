/**
 * Model → engine → generator, as the `infer` and `serve` commands (and the generation worker)
 * build it: a Hugging Face model folder with its LoRA merged at load, on the `cpu` or `webgpu`
 * engine, with the folder's tokenizer beside it.
 *
 * @module
 */

import type { HfTokenizer } from "../../templates/mod.ts";
import { loadModelTokenizer } from "../model/model_tokenizer.ts";
import { openEngine } from "../engine/create_engine.ts";
import type { Engine } from "../engine/engine.ts";
import { type BatchChoice, chooseBatch } from "../engine/batch_room.ts";
import type { LoadProgress } from "../model/load_model.ts";
import type { QuantPreset } from "../formats/quant_preset.ts";
import { LocalGenerator } from "./local.ts";
import { WorkerGenerator } from "./worker_generator.ts";

/** Options of {@linkcode startGenerator} and {@linkcode loadEngine}. */
export interface StartGeneratorOptions {
  /** The Hugging Face model folder (weights and tokenizer). */
  readonly model: string;
  /** A PEFT LoRA adapter folder merged into the weights at load. */
  readonly lora?: string;
  /** Quantize the weights at load, after the LoRA merge (a llama.cpp preset: `q4_k_m`, `q8_0`, …). */
  readonly quantize?: QuantPreset;
  /** The KV cache's format (default f32; f16 halves it, as llama.cpp keeps it). */
  readonly kvCache?: "f32" | "f16";
  /** The engine that computes. */
  readonly engine: "cpu" | "webgpu";
  /** `cpu`: threads computing the products (default: the cores available). */
  readonly threads?: number;
  /** Quantized weights meet activations rounded to 8 bits (cpu, webgpu; default false). */
  readonly int8Dot?: boolean;
  /** Tokens the engine's session holds (default: the engine's default for the model). */
  readonly contextSize?: number;
  /**
   * Requests decoded at once (default 1), each with its own KV cache and constraint state
   * ({@linkcode LocalGenerator}'s `batch`); `"auto"`: as many as the engine's memory has room
   * for, at most 16 on a CPU and 32 on a GPU (`chooseBatch`, counting `sessionTokens` each).
   */
  readonly batch?: number | "auto";
  /** With `batch: "auto"`: the most tokens a request's session holds (default: the context size). */
  readonly sessionTokens?: number;
  /** Called as the weights are read. */
  readonly onProgress?: (p: LoadProgress) => void;
  /** The model's tokenizer when it is loaded already (default: read from the model folder). */
  readonly tokenizer?: HfTokenizer;
  /**
   * Compute the `cpu` engine in a worker thread ({@linkcode WorkerGenerator}), so this thread
   * stays free while a token is computed (default false). WebGPU waits for the device without
   * blocking, so it always stays on this thread.
   */
  readonly worker?: boolean;
}

/** An engine and the tokenizer of its model: what {@linkcode loadEngine} returns. */
export interface LoadedEngine {
  /** The engine, the model's weights on it. */
  readonly engine: Engine;
  /** The model's tokenizer. */
  readonly tokenizer: HfTokenizer;
}

/**
 * Load a model folder (the LoRA merged) onto an engine, its tokenizer beside it.
 *
 * @param options the model folder, adapter, engine, context size and progress callback
 * @returns the engine and the tokenizer
 * @throws {InputError} for a bad model folder, adapter or tokenizer
 *
 * @example
 * ```ts
 * import { writeRandomModel } from "../testing/mod.ts";
 * import { loadEngine } from "./start_generator.ts";
 * const vocab = Object.fromEntries(["<s>", "</s>", ..."abcdefghijklmnopqrstuvwxyz{}: "].map((t, i) => [t, i]));
 * const json = { model: { type: "BPE", vocab, merges: [] }, added_tokens: [] };
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 32, hidden: 16, intermediate: 32, layers: 1,
 *   heads: 2, tokenizer: { json, config: {} } });
 * const { engine, tokenizer } = await loadEngine({ model: dir, engine: "cpu", contextSize: 64 });
 * if (engine.contextSize !== 64 || tokenizer.vocabSize !== 32) throw new Error();
 * engine.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadEngine(options: StartGeneratorOptions): Promise<LoadedEngine> {
  const tokenizer = options.tokenizer ?? await loadModelTokenizer(options.model);
  return { engine: await openEngine(options.model, { engine: options.engine, ...modelOptions(options) }), tokenizer };
}

/** The options that load a model on an engine, in the engine's thread or in a worker alike. */
function modelOptions(
  o: StartGeneratorOptions,
): Pick<StartGeneratorOptions, "lora" | "quantize" | "kvCache" | "contextSize" | "onProgress" | "threads" | "int8Dot"> {
  const { lora, quantize, kvCache, contextSize, onProgress, threads, int8Dot } = o;
  return { lora, quantize, kvCache, contextSize, onProgress, threads, int8Dot };
}

/**
 * A generator on a model folder: the model on its engine ({@linkcode loadEngine}) behind a
 * {@linkcode LocalGenerator}, or, for `cpu` with `worker`, in a {@linkcode WorkerGenerator}.
 *
 * @param options the model folder, adapter, engine, context size, progress callback, worker
 * @returns the generator, once the model is loaded
 * @throws {InputError} for a bad model folder, adapter or tokenizer
 *
 * @example
 * ```ts
 * import { writeRandomModel } from "../testing/mod.ts";
 * import { startGenerator } from "./start_generator.ts";
 * const vocab = Object.fromEntries(["<s>", "</s>", ..."abcdefghijklmnopqrstuvwxyz{}: "].map((t, i) => [t, i]));
 * const json = { model: { type: "BPE", vocab, merges: [] }, added_tokens: [] };
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 32, hidden: 16, intermediate: 32, layers: 1,
 *   heads: 2, tokenizer: { json, config: {} } });
 * const gen = await startGenerator({ model: dir, engine: "cpu" });
 * const r = await gen.complete({ promptIds: [5, 9], maxNewTokens: 2 });
 * await gen.close();
 * if (r.promptTokens !== 2) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function startGenerator(options: StartGeneratorOptions): Promise<LocalGenerator | WorkerGenerator> {
  if (options.worker && options.engine === "cpu") {
    const { batch, sessionTokens } = options;
    return await WorkerGenerator.start({ model: options.model, batch, sessionTokens, ...modelOptions(options) });
  }
  const { engine, tokenizer } = await loadEngine(options);
  return new LocalGenerator(engine, tokenizer, await batchOptions(engine, options));
}

/**
 * A generator's batch as asked: a number as it is, `"auto"` chosen from the engine's memory
 * ({@linkcode chooseBatch}, counting `sessionTokens` tokens per session), absent 1.
 *
 * @param engine the engine, its weights loaded
 * @param options `batch` and `sessionTokens`
 * @returns the batch and, where chosen from memory, why
 *
 * @example
 * ```ts
 * import { CpuEngine, loadModel } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * import { batchOptions } from "./start_generator.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 8, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const engine = new CpuEngine(await loadModel(dir));
 * if ((await batchOptions(engine, { batch: 4 })).batch !== 4) throw new Error();
 * if ((await batchOptions(engine, { batch: "auto" })).batchChoice?.batch !== 1) throw new Error(); // the oracle does not say
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function batchOptions(
  engine: Engine,
  options: Pick<StartGeneratorOptions, "batch" | "sessionTokens">,
): Promise<{ batch?: number; batchChoice?: BatchChoice }> {
  if (options.batch !== "auto") return { batch: options.batch };
  const batchChoice = await chooseBatch(engine, options.sessionTokens ?? engine.contextSize);
  return { batch: batchChoice.batch, batchChoice };
}
