/**
 * The `wasm` engine: the CPU engine's forward pass with its matrix products in WebAssembly
 * 128-bit SIMD, split across worker threads over one shared memory (a model that does not fit
 * one memory's 4 GiB with its activations keeps its weights in memories of their own).
 *
 * Map:
 * - `wasm_engine.ts`: {@linkcode WasmEngine} and its sessions (the forward pass; norms, RoPE and
 *   attention as the oracle computes them, on buffers allocated once).
 * - `wasm_load.ts`: {@linkcode loadWasmEngine} (a model folder or GGUF file read into the weights' memories).
 * - `kernels.ts`: the embedded modules and their exports: `kernels.wat` (128-bit SIMD),
 *   `kernels_fma.wat` (the same with relaxed SIMD's fused multiply-add) and `kernels_relaxed.wat`
 *   (relaxed SIMD's 8-bit dot products), each text made with its binary by `scripts/build_wasm.ts`;
 *   and the same three for weights in memories of their own (`_kernels_split_wasm.ts` and the
 *   like, binaries only; models past 4 GiB).
 * - `kernel_threads.ts`: the caller and its workers sharing a job of matrix products.
 * - `wasm_memory.ts`: the shared memory (weights placed once, activations, caches, scratch), and
 *   the weights' memories (as many of at most 4 GiB as a model needs).
 * - `wasm_matrix.ts`: weight matrices in the kernels' layout (rows in groups of 4).
 * - `int8_input.ts`: activations rounded to 8 bits (as the oracle rounds them) in the layout the
 *   `i8_*` kernels read.
 *
 * @example
 * ```ts
 * import { loadWasmEngine } from "./mod.ts";
 * import { writeRandomModel } from "../../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const engine = await loadWasmEngine(dir, { threads: 1 });
 * if ((await engine.createSession().forward([1, 2])).length !== 16) throw new Error();
 * engine.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

export { availableCores, type WasmBuffers, WasmEngine, type WasmEngineOptions } from "./wasm_engine.ts";
export { loadWasmEngine, type WasmLoadOptions } from "./wasm_load.ts";
export { placeWasmMatrix, type WasmMatrix, wasmMatrixRow } from "./wasm_matrix.ts";
export { KernelThreads, type KernelThreadsOptions } from "./kernel_threads.ts";
export type {
  AttentionItem,
  Int8KernelFormat,
  JobItem,
  KernelFormat,
  KernelName,
  MatmulItem,
  TokensItem,
} from "./_matmul_job.ts";
export {
  type DqKernel,
  type I8Kernel,
  instantiateKernels,
  type KernelBuild,
  type KernelExports,
  kernelsModule,
  type MmKernel,
  type MvKernel,
  wasmKernelsAvailable,
} from "./kernels.ts";
export { WasmMemory, WeightMemories } from "./wasm_memory.ts";
