/**
 * The device and what lives as long as it: the device (requested here unless one is given),
 * the compiled pipelines (cached by their WGSL for each device, so contexts on one device share
 * them), the engine's buffers, and the queue of work (steps and cache copies run one after another).
 *
 * @module
 */

import { UsageError } from "../../../io/errors.ts";
import { isSoftwareAdapter } from "./adapter.ts";
import { GpuBuffers } from "./buffers.ts";

/** What {@linkcode GpuContext.open} needs. */
export interface GpuContextOptions {
  /**
   * Use this device instead of requesting one (it is then not destroyed with the context). Engines
   * on one device share their compiled pipelines: a software adapter compiles each kernel on its
   * first dispatch, seconds for the large ones, once per pipeline.
   */
  readonly device?: GPUDevice;
  /** Request the `timestamp-query` feature. */
  readonly profile?: boolean;
}

/**
 * A device, its pipeline cache, the buffers that live as long as it, and a serial queue.
 *
 * @example
 * ```ts
 * import { GpuContext } from "./context.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   const ctx = await GpuContext.open();
 *   const code = "@compute @workgroup_size(1) fn main() {}";
 *   if (ctx.pipeline(code) !== ctx.pipeline(code)) throw new Error("pipelines are cached");
 *   ctx.dispose();
 * }
 * ```
 */
export class GpuContext {
  /** The device. */
  readonly device: GPUDevice;
  /** Whether the device's adapter computes on the CPU. */
  readonly software: boolean;
  /** Buffers freed with the context. */
  readonly buffers: GpuBuffers;
  readonly #ownsDevice: boolean;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(device: GPUDevice, ownsDevice: boolean, software: boolean) {
    this.device = device;
    this.#ownsDevice = ownsDevice;
    this.software = software;
    this.buffers = new GpuBuffers(device);
  }

  /**
   * Use a device, or request one from the high-performance adapter with its largest binding limits.
   *
   * @param options a device to use; whether profiling is wanted
   * @returns the context
   * @throws {UsageError} when no WebGPU adapter is available
   * @throws {Error} when profiling is asked and the adapter lacks `timestamp-query`
   */
  static async open(options: GpuContextOptions = {}): Promise<GpuContext> {
    if (options.device) return new GpuContext(options.device, false, isSoftwareAdapter(options.device.adapterInfo));
    const device = await requestEngineDevice(options);
    return new GpuContext(device, true, isSoftwareAdapter(device.adapterInfo));
  }

  /**
   * The compute pipeline of a WGSL source (entry point `main`), compiled once per device.
   *
   * @param code WGSL source
   * @returns the pipeline
   */
  pipeline(code: string): GPUComputePipeline {
    let cache = PIPELINES.get(this.device);
    if (!cache) PIPELINES.set(this.device, cache = new Map());
    let p = cache.get(code);
    if (!p) {
      p = this.device.createComputePipeline({
        layout: "auto",
        compute: { module: this.device.createShaderModule({ code }), entryPoint: "main" },
      });
      cache.set(code, p);
    }
    return p;
  }

  /**
   * Run `work` after everything queued before it (whether that failed or not).
   *
   * @param work the work
   * @returns its result
   */
  serial<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(work, work);
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Free the buffers, and the device when it was requested here. */
  dispose(): void {
    this.buffers.destroy();
    if (this.#ownsDevice) this.device.destroy();
  }
}

/** Compiled pipelines by device, then by WGSL source. */
const PIPELINES = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/**
 * Request a device as the engine wants one: from the high-performance adapter, with that
 * adapter's largest binding and buffer limits, up to 16 storage buffers per stage, and
 * `timestamp-query` when profiling. Several engines (or tests) may share it through
 * {@linkcode GpuContextOptions.device}, and then share their compiled pipelines.
 *
 * @example
 * ```ts
 * import { GpuContext, requestEngineDevice } from "./context.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   const device = await requestEngineDevice();
 *   const code = "@compute @workgroup_size(1) fn main() {}";
 *   const a = await GpuContext.open({ device });
 *   const b = await GpuContext.open({ device });
 *   if (a.pipeline(code) !== b.pipeline(code)) throw new Error("one device, one pipeline");
 *   a.dispose();
 *   b.dispose();
 *   device.destroy();
 * }
 * ```
 *
 * @param options whether profiling is wanted
 * @returns the device
 * @throws {UsageError} when no WebGPU adapter is available
 * @throws {Error} when profiling is asked and the adapter lacks `timestamp-query`
 */
export async function requestEngineDevice(options: { readonly profile?: boolean } = {}): Promise<GPUDevice> {
  const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new UsageError("no WebGPU adapter available here (use --engine cpu)");
  const features: GPUFeatureName[] = [];
  if (options.profile) {
    if (!adapter.features.has("timestamp-query")) throw new Error("profiling needs the timestamp-query feature");
    features.push("timestamp-query");
  }
  return await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
      // The fused decode kernels bind up to 10 (`matvec_qkv` with biases and a folded norm).
      maxStorageBuffersPerShaderStage: Math.min(adapter.limits.maxStorageBuffersPerShaderStage, 16),
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
    },
  });
}
