/**
 * Recording: a kernel call becomes a dispatch (its cached pipeline, a bind group built once,
 * its grid). A session records its step once; a step then only replays the list. Parameter
 * uniforms go into the recording session's buffers, one per distinct set of values.
 *
 * @module
 */

import { type GpuBuffers, USAGE } from "./buffers.ts";
import type { GpuContext } from "./context.ts";
import type { Grid, KernelCall, KernelRole } from "./kernels/kernel.ts";

/** One recorded dispatch of a session's step: pipeline, bindings and grid. */
export interface RecordedDispatch {
  /** The kernel role (for profiles). */
  readonly role: KernelRole;
  /** The compute pipeline. */
  readonly pipeline: GPUComputePipeline;
  /** Its bindings (built once per session). */
  readonly bindGroup: GPUBindGroup;
  /** Workgroup counts from the step's token count and the keys cached after it. */
  readonly grid: Grid;
}

/** A session's recorded dispatches: the layers, and the tails for each kind of readback. */
export interface StepDispatches {
  /** Embedding and every layer. */
  readonly body: readonly RecordedDispatch[];
  /** Final norm and logits of the last token. */
  readonly last: readonly RecordedDispatch[];
  /** `last` and the argmax. */
  readonly argmax: readonly RecordedDispatch[];
  /** `last` and the argmax over the ids the step's mask allows (`Activations.mask`). */
  readonly maskedArgmax: readonly RecordedDispatch[];
  /** Final norm and logits of every token. */
  readonly all: readonly RecordedDispatch[];
  /** The same for steps of one token, where their products have a kernel of their own (the decode kernel). */
  readonly decode?: StepDispatches;
}

/**
 * Records kernel calls for one session.
 *
 * @example
 * ```ts
 * import { Recorder } from "./record.ts";
 * import { GpuContext } from "./context.ts";
 * import { GpuBuffers, USAGE } from "./buffers.ts";
 * import { softmax } from "./kernels/softmax.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   const ctx = await GpuContext.open();
 *   const step = ctx.buffers.create(16, USAGE.UNIFORM);
 *   const s = ctx.buffers.create(4 * 2 * 16 * 4, USAGE.STORAGE);
 *   const own = new GpuBuffers(ctx.device);
 *   const op = new Recorder(ctx, step, own).record(softmax({ s, heads: 4, batch: 2, context: 16 }));
 *   if (op.grid(2, 2).join() !== "4,2,1") throw new Error();
 *   own.destroy();
 *   ctx.dispose();
 * }
 * ```
 */
export class Recorder {
  readonly #context: GpuContext;
  readonly #step: GPUBuffer;
  readonly #buffers: GpuBuffers;
  readonly #uniforms = new Map<string, GPUBuffer>();

  /**
   * Record into a session.
   *
   * @param context the device and its pipeline cache
   * @param step the step uniform
   * @param buffers the session's buffers (the parameter uniforms go here)
   */
  constructor(context: GpuContext, step: GPUBuffer, buffers: GpuBuffers) {
    this.#context = context;
    this.#step = step;
    this.#buffers = buffers;
  }

  /** The most storage buffers one kernel may bind on this device. */
  get maxStorageBuffers(): number {
    return this.#context.device.limits.maxStorageBuffersPerShaderStage;
  }

  /**
   * The dispatch of a kernel call.
   *
   * @param call the call
   * @returns the recorded dispatch
   */
  record(call: KernelCall): RecordedDispatch {
    const pipeline = this.#context.pipeline(call.code);
    const resources = [this.#uniform(call.params), ...(call.step ? [this.#step] : []), ...call.buffers];
    const bindGroup = this.#context.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: resources.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    return { role: call.role, pipeline, bindGroup, grid: call.grid };
  }

  #uniform(params: ArrayBuffer): GPUBuffer {
    const key = new Uint32Array(params).join(",");
    let b = this.#uniforms.get(key);
    if (!b) {
      b = this.#buffers.bytes(params, USAGE.UNIFORM);
      this.#uniforms.set(key, b);
    }
    return b;
  }
}
