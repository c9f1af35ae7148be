/**
 * A list of GPU work for one submit: kernel calls (their pipelines from the context's cache,
 * their parameter uniforms shared by value), buffer copies and clears, in order, encoded into
 * one command buffer, with an optional readback at its end. The trainer builds a list per
 * example (forward, or forward and backward) and submits it once.
 *
 * @module
 */

import { USAGE } from "../../infer/engine/webgpu/buffers.ts";
import type { GpuContext } from "../../infer/engine/webgpu/context.ts";
import type { KernelCall } from "../../infer/engine/webgpu/kernels/kernel.ts";

type Work =
  | { readonly kind: "call"; readonly call: KernelCall; readonly step?: GPUBuffer; readonly n: number }
  | { readonly kind: "copy"; readonly from: GPUBuffer; readonly to: GPUBuffer; readonly bytes: number }
  | { readonly kind: "clear"; readonly buffer: GPUBuffer; readonly bytes: number };

/** Most parameter uniforms kept for reuse (a few per distinct shape and layer). */
const MOST_UNIFORMS = 4096;

/**
 * Uniform buffers by their bytes, kept across lists on one device.
 *
 * @example
 * ```ts
 * import { UniformCache } from "./work_list.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const cache = new UniformCache(device);
 *   const a = cache.get(new Uint32Array([1, 2, 3, 4]).buffer);
 *   if (cache.get(new Uint32Array([1, 2, 3, 4]).buffer) !== a) throw new Error("shared by value");
 *   cache.destroy();
 *   device.destroy();
 * }
 * ```
 */
export class UniformCache {
  readonly #device: GPUDevice;
  readonly #byKey = new Map<string, GPUBuffer>();

  /**
   * Keep uniforms of one device.
   *
   * @param device the device
   */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /**
   * The uniform holding these bytes (made on first use).
   *
   * @param bytes the parameter struct's bytes
   * @returns the buffer
   */
  get(bytes: ArrayBuffer): GPUBuffer {
    const key = new Uint32Array(bytes).join(",");
    let b = this.#byKey.get(key);
    if (!b) {
      b = this.#device.createBuffer({ size: bytes.byteLength, usage: USAGE.UNIFORM | USAGE.COPY_DST });
      this.#device.queue.writeBuffer(b, 0, bytes);
      this.#byKey.set(key, b);
    }
    return b;
  }

  /** Free every uniform when more than a few thousand are kept (call between submits only). */
  trim(): void {
    if (this.#byKey.size > MOST_UNIFORMS) this.destroy();
  }

  /** Free every uniform (those of lists already submitted are no longer needed). */
  destroy(): void {
    for (const b of this.#byKey.values()) b.destroy();
    this.#byKey.clear();
  }
}

/**
 * An ordered list of GPU work, submitted at once.
 *
 * @example
 * ```ts
 * import { UniformCache, WorkList } from "./work_list.ts";
 * import { GpuContext } from "../../infer/engine/webgpu/context.ts";
 * import { USAGE } from "../../infer/engine/webgpu/buffers.ts";
 * import { addInto } from "./kernels/elementwise.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   const ctx = await GpuContext.open();
 *   const x = ctx.buffers.f32(new Float32Array([1, 2]), USAGE.STORAGE | USAGE.COPY_SRC);
 *   const y = ctx.buffers.f32(new Float32Array([10, 20]), USAGE.STORAGE | USAGE.COPY_SRC);
 *   const uniforms = new UniformCache(ctx.device);
 *   const list = new WorkList(ctx, uniforms);
 *   list.call(addInto(x, y, 2));
 *   const sums = await list.submit({ buffer: y, count: 2 });
 *   if (sums.join() !== "11,22") throw new Error(String(sums));
 *   uniforms.destroy();
 *   ctx.dispose();
 * }
 * ```
 */
export class WorkList {
  readonly #context: GpuContext;
  readonly #uniforms: UniformCache;
  readonly #work: Work[] = [];

  /**
   * An empty list.
   *
   * @param context the device and its pipeline cache
   * @param uniforms where parameter uniforms come from
   */
  constructor(context: GpuContext, uniforms: UniformCache) {
    this.#context = context;
    this.#uniforms = uniforms;
  }

  /** Kernel calls in the list. */
  get calls(): number {
    return this.#work.filter((w) => w.kind === "call").length;
  }

  /**
   * Add a kernel call.
   *
   * @param call the call
   * @param step the step uniform, for a call that binds one (the inference engine's products)
   * @param n the step's tokens (its grid's argument)
   */
  call(call: KernelCall, step?: GPUBuffer, n = 0): void {
    if (call.step && !step) throw new RangeError(`kernel ${call.role} needs a step uniform`);
    this.#work.push({ kind: "call", call, step, n });
  }

  /**
   * Add a copy of `bytes` from the start of one buffer to the start of another.
   *
   * @param from the source
   * @param to the destination
   * @param bytes how many
   */
  copy(from: GPUBuffer, to: GPUBuffer, bytes: number): void {
    this.#work.push({ kind: "copy", from, to, bytes });
  }

  /**
   * Add a clear (to zeros) of a buffer's first `bytes`.
   *
   * @param buffer the buffer
   * @param bytes how many (a multiple of 4)
   */
  clear(buffer: GPUBuffer, bytes: number = buffer.size): void {
    this.#work.push({ kind: "clear", buffer, bytes });
  }

  /**
   * Encode the list in order, submit it and wait for the device to finish it; with `read`,
   * the first `count` f32 values of a buffer are copied out in the same submit and returned.
   *
   * @param read a buffer (made with `COPY_SRC`) to read back, and how many values
   * @returns the values read (empty without `read`)
   * @throws {Error} when the device refuses the work (a kernel or binding it does not accept)
   */
  async submit(read?: { readonly buffer: GPUBuffer; readonly count: number }): Promise<Float32Array> {
    const device = this.#context.device;
    this.#uniforms.trim();
    device.pushErrorScope("validation");
    const encoder = device.createCommandEncoder();
    let pass: GPUComputePassEncoder | undefined;
    for (const w of this.#work) {
      if (w.kind !== "call") {
        pass?.end();
        pass = undefined;
        if (w.kind === "copy") encoder.copyBufferToBuffer(w.from, 0, w.to, 0, w.bytes);
        else encoder.clearBuffer(w.buffer, 0, w.bytes);
        continue;
      }
      pass ??= encoder.beginComputePass();
      const pipeline = this.#context.pipeline(w.call.code);
      const resources = [this.#uniforms.get(w.call.params), ...(w.call.step ? [w.step!] : []), ...w.call.buffers];
      pass.setPipeline(pipeline);
      pass.setBindGroup(
        0,
        device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: resources.map((buffer, binding) => ({ binding, resource: { buffer } })),
        }),
      );
      const [x, y, z] = w.call.grid(w.n, 0);
      pass.dispatchWorkgroups(x, y, z);
    }
    pass?.end();
    this.#work.length = 0;
    const bytes = 4 * (read?.count ?? 0);
    const staging = read && device.createBuffer({ size: Math.max(bytes, 4), usage: USAGE.MAP_READ | USAGE.COPY_DST });
    if (read) encoder.copyBufferToBuffer(read.buffer, 0, staging!, 0, bytes);
    device.queue.submit([encoder.finish()]);
    const error = await device.popErrorScope();
    try {
      if (error) throw new Error(`WebGPU refused the trainer's work: ${error.message.split("\n")[0]}`);
      if (!staging) {
        await device.queue.onSubmittedWorkDone();
        return new Float32Array(0);
      }
      await staging.mapAsync(GPUMapMode.READ);
      return new Float32Array(staging.getMappedRange(0, bytes).slice(0));
    } finally {
      staging?.destroy();
    }
  }
}
