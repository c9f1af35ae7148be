/**
 * Load a model folder or GGUF file onto the `wasm` engine, each matrix copied into the weights'
 * memories as it is read (no second host copy). Kept apart from the engine so that the engine
 * itself stays free of file reading (it also runs in a browser page).
 *
 * @module
 */

import { loadModel, type LoadOptions } from "../../model/load_model.ts";
import { WasmEngine, type WasmEngineOptions } from "./wasm_engine.ts";
import { placeWasmMatrix, type WasmMatrix } from "./wasm_matrix.ts";
import { WeightMemories } from "./wasm_memory.ts";

/** Options of {@linkcode loadWasmEngine}: the engine's and the load's. */
export type WasmLoadOptions = WasmEngineOptions & Omit<LoadOptions, "place">;

/**
 * Load a model onto the `wasm` engine.
 *
 * @param dir the model folder or `.gguf` file
 * @param options threads, context size, and the load's adapter, format and progress
 * @returns the engine
 * @throws {InputError} for a bad model folder or adapter
 *
 * @example
 * ```ts
 * import { loadWasmEngine } from "./wasm_load.ts";
 * import { writeRandomModel } from "../../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const engine = await loadWasmEngine(dir, { threads: 1 });
 * if ((await engine.createSession().forward([1, 2])).length !== 16) throw new Error();
 * engine.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadWasmEngine(dir: string, options: WasmLoadOptions = {}): Promise<WasmEngine> {
  const store = new WeightMemories(options.weightMemoryBytes);
  const model = await loadModel<WasmMatrix>(dir, { ...options, place: (t) => placeWasmMatrix(store, t) });
  return await WasmEngine.open(model, store, options);
}
