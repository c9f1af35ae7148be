/**
 * Pick an engine by name: `webgpu` (falls back to nothing: it fails without an adapter) or `cpu`.
 *
 * @module
 */

import { CpuEngine } from "./cpu_engine.ts";
import type { Engine } from "./engine.ts";
import type { LoadedModel } from "./load_model.ts";
import { WebGpuEngine, type WebGpuEngineOptions } from "./webgpu/webgpu_engine.ts";

/** Options of {@linkcode createEngine}. */
export interface CreateEngineOptions extends WebGpuEngineOptions {
  /** `cpu` or `webgpu` (default `webgpu`). */
  readonly engine?: "cpu" | "webgpu";
}

/**
 * An engine for a loaded model.
 *
 * @param model the loaded model
 * @param options which engine, context size, and WebGPU options
 * @returns the engine
 *
 * @example
 * ```ts
 * import { createEngine, loadModel, writeRandomModel } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const engine = await createEngine(await loadModel(dir), { engine: "cpu" });
 * if (engine.name !== "cpu") throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function createEngine(model: LoadedModel, options: CreateEngineOptions = {}): Promise<Engine> {
  if ((options.engine ?? "webgpu") === "cpu") return new CpuEngine(model, { contextSize: options.contextSize });
  return await WebGpuEngine.create(model, options);
}

/**
 * The engine to use when none is named: WebGPU on a real GPU; the CPU engine where only a
 * software adapter (such as llvmpipe, slower than the CPU engine) or none exists.
 *
 * @returns `webgpu` or `cpu`
 *
 * @example
 * ```ts
 * import { defaultEngine } from "./create_engine.ts";
 * const name: "cpu" | "webgpu" = await defaultEngine();
 * ```
 */
export async function defaultEngine(): Promise<"cpu" | "webgpu"> {
  try {
    const adapter = await navigator.gpu?.requestAdapter();
    return adapter && !adapter.info?.isFallbackAdapter ? "webgpu" : "cpu";
  } catch {
    return "cpu";
  }
}
