/**
 * Pick an engine by name: `webgpu` (falls back to nothing: it fails without an adapter) or `cpu`
 * (its WebAssembly SIMD fast path on worker threads, {@linkcode WasmEngine}; the plain TypeScript
 * oracle, {@linkcode CpuEngine}, with `cpuKernels: "ts"` or where WebAssembly lacks SIMD or
 * shared memory).
 *
 * @module
 */

import { adapterName, isSoftwareAdapter } from "./webgpu/adapter.ts";
import { CpuEngine } from "./cpu/cpu_engine.ts";
import type { Engine } from "./engine.ts";
import { type LoadedModel, loadModel, type LoadOptions } from "../model/load_model.ts";
import { WebGpuEngine, type WebGpuEngineOptions } from "./webgpu/webgpu_engine.ts";
import { WasmEngine } from "./wasm/wasm_engine.ts";
import { loadWasmEngine } from "./wasm/wasm_load.ts";
import { wasmKernelsAvailable } from "./wasm/kernels.ts";

/** Options of {@linkcode createEngine}. */
export interface CreateEngineOptions extends WebGpuEngineOptions {
  /** `cpu` or `webgpu` (default `webgpu`). */
  readonly engine?: "cpu" | "webgpu";
  /** `cpu`: threads computing the products (default: the cores available). */
  readonly threads?: number;
  /**
   * `cpu`: `wasm` (default where the runtime has WebAssembly SIMD and shared memory), the fast
   * path; `ts`, the plain TypeScript oracle.
   */
  readonly cpuKernels?: "wasm" | "ts";
}

/** Whether `cpu` runs the WebAssembly kernels under these options. */
async function useWasm(options: CreateEngineOptions): Promise<boolean> {
  return options.cpuKernels !== "ts" && await wasmKernelsAvailable();
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
 * import { createEngine, loadModel } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const engine = await createEngine(await loadModel(dir), { engine: "cpu" });
 * if (engine.name !== "cpu") throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function createEngine(model: LoadedModel, options: CreateEngineOptions = {}): Promise<Engine> {
  if ((options.engine ?? "webgpu") === "cpu") {
    const { contextSize, kvCache, threads, int8Dot } = options;
    if (await useWasm(options)) return await WasmEngine.create(model, { contextSize, kvCache, threads, int8Dot });
    return new CpuEngine(model, { contextSize, kvCache, int8Dot });
  }
  return await WebGpuEngine.create(model, options);
}

/** Options of {@linkcode openEngine}: the engine's, and the adapter, format and progress of loading. */
export type OpenEngineOptions = CreateEngineOptions & Omit<LoadOptions, "place">;

/**
 * Load a model folder onto an engine. The `cpu` engine copies each matrix into its shared
 * memory as it is read (the oracle keeps the weights as read; one copy either way);
 * `webgpu` uploads each matrix as it is read ({@linkcode WebGpuEngine.load}), so the host never
 * holds the whole model.
 *
 * @param dir the model folder
 * @param options which engine, context size, adapter, progress
 * @returns the engine
 * @throws {InputError} for a bad model folder or adapter
 *
 * @example
 * ```ts
 * import { openEngine } from "./create_engine.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const engine = await openEngine(dir, { engine: "cpu", contextSize: 32 });
 * if (engine.contextSize !== 32) throw new Error();
 * engine.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openEngine(dir: string, options: OpenEngineOptions = {}): Promise<Engine> {
  if ((options.engine ?? "webgpu") === "webgpu") return await WebGpuEngine.load(dir, options);
  const { lora, loraMode, dtype, quantize, onProgress, contextSize, kvCache, threads, int8Dot } = options;
  if (await useWasm(options)) {
    const engineOptions = { contextSize, kvCache, threads, int8Dot };
    return await loadWasmEngine(dir, { lora, loraMode, dtype, quantize, onProgress, ...engineOptions });
  }
  const model = await loadModel(dir, { lora, loraMode, dtype, quantize, onProgress });
  return new CpuEngine(model, { contextSize, kvCache, int8Dot });
}

/** What {@linkcode probeGpu} found: a real GPU, only a software adapter, or no adapter. */
export interface GpuProbe {
  /** `real`: a hardware adapter; `software`: a fallback one such as llvmpipe; `none`: no WebGPU adapter. */
  readonly kind: "real" | "software" | "none";
  /** The adapter's description or device name, when it gives one. */
  readonly name?: string;
}

/**
 * The WebGPU adapter this machine offers, and whether it is a real GPU. A software adapter
 * (the fallback adapter, or Mesa's llvmpipe) computes on the CPU, slower than the CPU engine.
 *
 * @returns what was found
 *
 * @example
 * ```ts
 * import { probeGpu } from "./create_engine.ts";
 * const { kind } = await probeGpu();
 * if (!["real", "software", "none"].includes(kind)) throw new Error(kind);
 * ```
 */
export async function probeGpu(): Promise<GpuProbe> {
  try {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) return { kind: "none" };
    const info = adapter.info;
    const name = adapterName(info) || undefined;
    return { kind: isSoftwareAdapter(info) ? "software" : "real", name };
  } catch {
    return { kind: "none" };
  }
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
  return (await probeGpu()).kind === "real" ? "webgpu" : "cpu";
}
