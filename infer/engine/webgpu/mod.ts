/**
 * The `webgpu` engine: the forward pass as WGSL kernels, one role each.
 *
 * Map:
 * - `webgpu_engine.ts`: {@linkcode WebGpuEngine}: device, weight upload, the recorded step,
 *   readback, profiling and sessions.
 * - `adapter.ts`: whether an adapter is a real GPU (shared with the `auto` engine choice).
 * - `*.wgsl.ts`: one kernel each (`embed`, `rmsnorm`, `matmul`, `rope`, `attn_scores`,
 *   `softmax`, `attn_values`, `swiglu`, `argmax`), shapes written at the top;
 *   `weight_access.wgsl.ts` is the weight-reading snippet they share.
 *
 * Data enters as a `LoadedModel` (uploaded once) and token ids, and leaves as logits or, for
 * greedy decoding, the argmax alone.
 *
 * @example
 * ```ts
 * import { webGpuAvailable } from "./mod.ts";
 * const ok: boolean = await webGpuAvailable();
 * ```
 *
 * @module
 */

export {
  type KernelProfile,
  type KernelRole,
  type RecordedDispatch,
  type StepDispatches,
  webGpuAvailable,
  WebGpuEngine,
  type WebGpuEngineOptions,
} from "./webgpu_engine.ts";
export type { MatmulStrategy } from "./matmul.wgsl.ts";
