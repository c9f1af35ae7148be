/**
 * The WebGPU engine. Weights enter at `WebGpuEngine.create` (uploaded once); tokens enter at a
 * session's `forward*`, and leave as logits or a greedy id (of all tokens, or of those a mask
 * allows: `forwardMasked`) read back after one submit per step.
 *
 * The folder, by role:
 * - `webgpu_engine.ts` the engine: ties the parts together; creates sessions; profile results
 * - `context.ts`      the device (requested or given), the pipeline cache (shared by engines on one device), the serial queue of work
 * - `adapter.ts`      whether an adapter is a software one (shared with the engine choice)
 * - `buffers.ts`      buffers with an owner, destroyed together (the engine's; each session's)
 * - `weights.ts`      weight upload: matrices in their format, in chunks that fit one binding
 * - `activations.ts`  the engine's work buffers (ids, activations, scores, logits, readback)
 * - `rope_table.ts`   the cos/sin table of RoPE
 * - `llama_graph.ts`  the per-layer dispatches of the Llama family (Llama, Qwen2, Baichuan); for
 *   batched decode steps, the engine's shared part (products over one row per session) and
 *   each session's own (RoPE, cache writes, attention)
 * - `record.ts`       a kernel call becomes a dispatch (pipeline, bind group, grid), once per session
 * - `submit.ts`       one step: one encoder, one submit, one small readback; a batched decode
 *   step of several sessions likewise
 * - `session.ts`      a session: its own KV cache and parameters (freed with it), its recorded step
 * - `profile.ts`      GPU time per kernel role (timestamp queries)
 * - `memory_probe.ts` how many more sessions' caches the GPU holds (allocated until it runs out)
 * - `kernels/`        one file per kernel: its WGSL, its parameter struct (declared once in
 *   `params.ts` terms), its grid, and a constructor that checks shapes (`kernel.ts`: the call
 *   they return; `step.ts`: the per-step uniform; `weight_access.ts`: reading 16-bit weights;
 *   `matmul_tiled.ts`: the products of prefill, tiled in workgroup memory; `attention.ts`: a
 *   layer's attention in one dispatch, the default over the split `rope`, `attn_scores`,
 *   `softmax`, `attn_values`)
 *
 * @example
 * ```ts
 * import { webGpuAvailable } from "./mod.ts";
 * const ok: boolean = await webGpuAvailable();
 * ```
 *
 * @module
 */

export { type KernelProfile } from "./profile.ts";
export { type MatmulStrategy } from "./kernels/matmul.ts";
export { type DecodeKernel } from "./kernels/matvec.ts";
export { type PrefillKernel } from "./kernels/matmul_tiled.ts";
export { type KvFormat } from "./kernels/kv_store.ts";
export { type AttentionKernel } from "./kernels/attention.ts";
export { webGpuAvailable, WebGpuEngine, type WebGpuEngineOptions } from "./webgpu_engine.ts";
