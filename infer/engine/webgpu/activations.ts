/**
 * The engine's work buffers, shared by its sessions (steps run one at a time): the step
 * uniform, the step's token ids, the activations of at most `batch` tokens, the attention
 * scores, the logits, the argmax id (and the mask of a masked one), the readback buffer, and the
 * ALiBi slopes.
 *
 * @module
 */

import { alibiSlopes, type ModelSpec } from "../../model/model_spec.ts";
import { type GpuBuffers, USAGE } from "./buffers.ts";
import { STEP } from "./kernels/step.ts";
import type { KvFormat } from "./kernels/kv_store.ts";

/** The work buffers. Shapes in elements; `B` is `batch`. */
export interface Activations {
  /** The most tokens in one step. */
  readonly batch: number;
  /** The most positions of any session. */
  readonly context: number;
  /** The step uniform. */
  readonly step: GPUBuffer;
  /** `[B] u32`: the step's token ids. */
  readonly ids: GPUBuffer;
  /** `[B, hidden]`: the residual stream. */
  readonly x: GPUBuffer;
  /** `[B, max(hidden, heads · d)]`: normalized rows. */
  readonly xn: GPUBuffer;
  /** `[B, heads · d]`: queries. */
  readonly q: GPUBuffer;
  /** `[B, heads · d]`: attention output. */
  readonly attn: GPUBuffer;
  /** `[B, intermediate]`: MLP gate (then the gated product). */
  readonly gate: GPUBuffer;
  /** `[B, intermediate]`: MLP up. */
  readonly up: GPUBuffer;
  /** `[heads, B, context]`: attention scores. */
  readonly scores: GPUBuffer;
  /** `[B, vocab]`: logits. */
  readonly logits: GPUBuffer;
  /** `[1] u32`: the greedy id. */
  readonly argmax: GPUBuffer;
  /** `[ceil(vocab / 32)] u32`: the ids a masked argmax may choose, a bitset written before the step. */
  readonly mask: GPUBuffer;
  /** `[B, vocab]`, mappable: what a step reads back. */
  readonly readback: GPUBuffer;
  /** `[heads]` ALiBi slopes (`[1]` unused without ALiBi). */
  readonly slopes: GPUBuffer;
  /** `[B, r]`: `A · x` of an unmerged LoRA update (`[1]` unused without one). */
  readonly loraTmp: GPUBuffer;
  /**
   * `[B, kv_heads · d]`: the step's keys before they go into the cache (an f16 cache, or any
   * cache in a batched decode step, whose products cannot write into each session's cache).
   */
  readonly kNew: GPUBuffer;
  /** `[B, kv_heads · d]`: the step's values, likewise. */
  readonly vNew: GPUBuffer;
  /** `[B, K / 4] u32`: activations rounded to 8 bits, packed (`[1]` without the 8-bit path). */
  readonly xq: GPUBuffer;
  /** `[B, K / 32, 2]`: their blocks' scales and sums. */
  readonly xd: GPUBuffer;
}

/**
 * Create the work buffers.
 *
 * @param buffers the owner of the buffers
 * @param spec what the model computes
 * @param batch the most tokens in one step
 * @param context the most positions of any session
 * @param loraRank the largest (padded) rank of an unmerged LoRA update (0: none)
 * @param _kv the KV cache's format (unused: the staged key and value rows serve every format)
 * @param int8 whether products may round activations to 8 bits (buffers for them)
 * @returns the buffers
 *
 * @example
 * ```ts
 * import { GpuBuffers } from "./buffers.ts";
 * import { createActivations } from "./activations.ts";
 * import type { ModelSpec } from "../../model/model_spec.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const owned = new GpuBuffers(device);
 *   const spec = { vocabSize: 32, hidden: 16, intermediate: 32, heads: 2, headDim: 8, position: { kind: "rope" } };
 *   const a = createActivations(owned, spec as unknown as ModelSpec, 4, 16);
 *   if (a.logits.size !== 4 * 32 * 4) throw new Error();
 *   owned.destroy();
 *   device.destroy();
 * }
 * ```
 */
export function createActivations(
  buffers: GpuBuffers,
  spec: ModelSpec,
  batch: number,
  context: number,
  loraRank = 0,
  _kv: KvFormat = "f32",
  int8 = false,
): Activations {
  const widest = Math.max(spec.hidden, spec.heads * spec.headDim, spec.intermediate);
  const staged = batch * spec.kvHeads * spec.headDim;
  const slopes = spec.position.kind === "alibi" ? Float32Array.from(alibiSlopes(spec.heads)) : new Float32Array(1);
  const q = spec.heads * spec.headDim;
  const f = (n: number) => buffers.create(n * 4, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST);
  return {
    batch,
    context,
    slopes: buffers.f32(slopes, USAGE.STORAGE),
    step: buffers.create(STEP.size, USAGE.UNIFORM | USAGE.COPY_DST),
    ids: buffers.create(batch * 4, USAGE.STORAGE | USAGE.COPY_DST),
    x: f(batch * spec.hidden),
    xn: f(batch * Math.max(spec.hidden, q)),
    q: f(batch * q),
    attn: f(batch * q),
    gate: f(batch * spec.intermediate),
    up: f(batch * spec.intermediate),
    scores: f(spec.heads * batch * context),
    logits: f(batch * spec.vocabSize),
    argmax: f(1),
    mask: f(Math.ceil(spec.vocabSize / 32)),
    loraTmp: f(Math.max(1, batch * loraRank)),
    kNew: f(staged),
    vNew: f(staged),
    xq: f(int8 ? batch * widest / 4 : 1),
    xd: f(int8 ? batch * widest / 16 : 1),
    readback: buffers.create(batch * spec.vocabSize * 4, USAGE.MAP_READ | USAGE.COPY_DST),
  };
}
