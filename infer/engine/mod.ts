/**
 * How a model is computed: the {@linkcode Engine} and {@linkcode Session} every engine
 * implements, and the two engines, `cpu` (readable, the oracle) and `webgpu` (fast).
 *
 * Map:
 * - `engine.ts`: the {@linkcode Engine} / {@linkcode Session} interface (a KV cache that takes
 *   tokens and gives next-token logits, or only their argmax, or the argmax over the tokens a
 *   mask allows: {@linkcode maskedArgmax}, `Session.forwardMasked`).
 * - `create_engine.ts`: {@linkcode createEngine} (an engine by name for a loaded model), {@linkcode openEngine} (a model folder loaded onto one), and the GPU probe.
 * - `step_batcher.ts`: {@linkcode StepBatcher}, sessions that step together (batched decoding,
 *   through `Engine.forwardBatch` where the engine has it).
 * - `batch_room.ts`: {@linkcode chooseBatch}, the default batch: as many sessions as the engine's
 *   memory has room for (`Engine.batchRoom`).
 * - `session_tokens.ts`: the token bookkeeping both engines' sessions share (private to them).
 * - `cpu/`: the CPU engine and the maths it reads like.
 * - `wasm/`: the CPU engine's fast path: WebAssembly SIMD kernels on worker threads.
 * - `webgpu/`: the WebGPU engine: device context, weights, the per-layer graph, sessions, profiling,
 *   and its WGSL kernels (`webgpu/kernels/`).
 *
 * Data enters as a `LoadedModel` from `model/` and token ids from `decode/`, and leaves as
 * logits (or an argmax, possibly masked) for `decode/`.
 *
 * @example
 * ```ts
 * import { createEngine } from "./mod.ts";
 * import { loadModel } from "../model/mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const engine = await createEngine(await loadModel(dir), { engine: "cpu", contextSize: 64 });
 * if (engine.contextSize !== 64 || (await engine.createSession().forward([1])).length !== 16) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

export {
  argmax,
  type BatchStep,
  type Engine,
  maskedArgmax,
  reusableLength,
  type Session,
  type SessionOptions,
} from "./engine.ts";
export {
  createEngine,
  type CreateEngineOptions,
  defaultEngine,
  type GpuProbe,
  openEngine,
  type OpenEngineOptions,
  probeGpu,
} from "./create_engine.ts";
export { BatchedSession, StepBatcher } from "./step_batcher.ts";
export { type BatchChoice, type BatchRoom, chooseBatch, describeBatch } from "./batch_room.ts";
export { CpuEngine, type CpuEngineOptions } from "./cpu/mod.ts";
export {
  type AttentionItem,
  availableCores,
  type DqKernel,
  type I8Kernel,
  type Int8KernelFormat,
  type JobItem,
  type KernelBuild,
  type KernelExports,
  type KernelFormat,
  type KernelName,
  KernelThreads,
  type KernelThreadsOptions,
  loadWasmEngine,
  type MatmulItem,
  type MmKernel,
  type MvKernel,
  type TokensItem,
  type WasmBuffers,
  WasmEngine,
  type WasmEngineOptions,
  wasmKernelsAvailable,
  type WasmLoadOptions,
  type WasmMatrix,
  WasmMemory,
  WeightMemories,
} from "./wasm/mod.ts";
export {
  type AttentionKernel,
  type DecodeKernel,
  type KernelProfile,
  type KvFormat,
  type MatmulStrategy,
  type PrefillKernel,
  webGpuAvailable,
  WebGpuEngine,
  type WebGpuEngineOptions,
} from "./webgpu/mod.ts";
