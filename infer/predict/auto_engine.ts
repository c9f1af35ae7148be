/**
 * What `--engine auto` runs: WebGPU on a real GPU; on a machine without one (no adapter, or a
 * software adapter such as llvmpipe), llama.cpp when it loads there (on IEPile's prompt-heavy records the faster
 * engine on a CPU: `bench/infer_bench.ts` measures it prefilling 400-token prompts 1.1–1.8× faster than the cpu
 * engine, which decodes f32, bf16 and f16 as fast or faster; see the README's Speed section), else the cpu engine.
 *
 * @module
 */

import { type GpuProbe, probeGpu } from "../engine/create_engine.ts";
import { importLlamaCpp } from "./llamacpp_binding.ts";

/** An engine `auto` can choose. */
export type AutoEngine = "webgpu" | "llamacpp" | "cpu";

/** The engine `auto` took, and why (one line for the user). */
export interface AutoEngineChoice {
  /** The engine. */
  readonly engine: AutoEngine;
  /** Why, e.g. `no GPU (only the software adapter llvmpipe …); llama.cpp prefills prompts fastest on a CPU`. */
  readonly reason: string;
}

/** Options of {@linkcode chooseAutoEngine}: the run's needs and the probes (replaceable in tests). */
export interface AutoEngineOptions {
  /** The run keeps answers to spans of the input (`--extractive`), which llama.cpp cannot. */
  readonly extractive?: boolean;
  /**
   * The run asks quantized weights to meet f32 activations (`--activations f32`), which
   * llama.cpp cannot: it rounds them to 8 bits.
   */
  readonly f32Activations?: boolean;
  /**
   * The format the weights run in, where known: `f32` makes the cpu engine the choice on a
   * CPU (see {@linkcode chooseAutoEngine}).
   */
  readonly weights?: string;
  /** Finds the GPU adapter (default {@linkcode probeGpu}). */
  readonly gpu?: () => Promise<GpuProbe>;
  /**
   * Tries llama.cpp: undefined when it loads, else why not (default: imports node-llama-cpp and
   * starts its CPU build).
   */
  readonly llamaCpp?: () => Promise<string | undefined>;
}

/**
 * Choose the engine for `--engine auto`: WebGPU on a real GPU; without one, the cpu engine for
 * `--extractive`, for quantized weights with f32 activations and for f32 weights (as fast, and no
 * GGUF copy), llama.cpp where it loads (it prefills prompts faster: IEPile's records are mostly
 * prompt), else the cpu engine.
 *
 * @param options the run's needs and the probes
 * @returns the engine and the reason
 *
 * @example
 * ```ts
 * import { chooseAutoEngine } from "./auto_engine.ts";
 * const c = await chooseAutoEngine({
 *   gpu: () => Promise.resolve({ kind: "software", name: "llvmpipe" }),
 *   llamaCpp: () => Promise.resolve(undefined),
 * });
 * if (c.engine !== "llamacpp") throw new Error(c.reason);
 * const f32 = await chooseAutoEngine({ gpu: () => Promise.resolve({ kind: "none" }), weights: "f32" });
 * if (f32.engine !== "cpu") throw new Error(f32.reason);
 * const act = await chooseAutoEngine({ gpu: () => Promise.resolve({ kind: "none" }), f32Activations: true });
 * if (act.engine !== "cpu") throw new Error(act.reason);
 * ```
 */
export async function chooseAutoEngine(options: AutoEngineOptions = {}): Promise<AutoEngineChoice> {
  const gpu = await (options.gpu ?? probeGpu)();
  if (gpu.kind === "real") return { engine: "webgpu", reason: `a GPU${gpu.name ? ` (${gpu.name})` : ""}` };
  const adapter = gpu.name?.split(" (")[0];
  const noGpu = gpu.kind === "software"
    ? `no GPU (only the software adapter${adapter ? ` ${adapter}` : ""}, slower than the CPU engines)`
    : "no GPU";
  if (options.extractive) return { engine: "cpu", reason: `${noGpu}; --extractive needs the cpu or webgpu engine` };
  if (options.f32Activations) {
    return { engine: "cpu", reason: `${noGpu}; --activations f32 needs the cpu or webgpu engine` };
  }
  if (options.weights === "f32") {
    // bench/infer_bench.ts --prompt 400 --decode 50 on a 2-core machine (2026-12-03, two runs): a
    // record takes 1.7 s on the cpu engine at 2 threads and 1.8-2.0 s on llama.cpp (3.0 and
    // 2.5-2.7 s at 1), and llama.cpp would first need a GGUF copy of the f32 weights.
    return {
      engine: "cpu",
      reason: `${noGpu}; with f32 weights the cpu engine computes a record as fast as llama.cpp on a CPU, ` +
        `with no GGUF copy of the weights`,
    };
  }
  const failed = await (options.llamaCpp ?? llamaCppLoads)();
  if (failed === undefined) {
    return { engine: "llamacpp", reason: `${noGpu}; llama.cpp prefills prompts fastest on a CPU` };
  }
  return { engine: "cpu", reason: `${noGpu}, and llama.cpp does not load here (${failed})` };
}

/**
 * Whether llama.cpp's CPU build loads on this machine.
 *
 * @returns undefined when it does, else the reason it does not
 *
 * @example
 * ```ts
 * import { llamaCppLoads } from "./auto_engine.ts";
 * const why = await llamaCppLoads();
 * if (why !== undefined && typeof why !== "string") throw new Error();
 * ```
 */
export async function llamaCppLoads(): Promise<string | undefined> {
  try {
    const lib = await importLlamaCpp();
    const llama = await lib.getLlama({ gpu: false, build: "never", logLevel: lib.LlamaLogLevel.error });
    await llama.dispose();
    return undefined;
  } catch (e) {
    return (e as Error).message?.split("\n")[0] || String(e);
  }
}
