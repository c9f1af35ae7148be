/**
 * Profiling: GPU time per kernel role from timestamp queries (one compute pass per dispatch,
 * so slower), accumulated until reset.
 *
 * @module
 */

import { type GpuBuffers, USAGE } from "./buffers.ts";
import type { RecordedDispatch } from "./record.ts";

/** GPU time per kernel role, accumulated since the last reset. */
export interface KernelProfile {
  /** Milliseconds of GPU time per role. */
  readonly ms: Readonly<Record<string, number>>;
  /** Dispatches per role. */
  readonly dispatches: Readonly<Record<string, number>>;
  /** Steps (submits) measured. */
  readonly steps: number;
}

/**
 * Timestamp queries around each dispatch of a step, and their sums per role.
 *
 * @example
 * ```ts
 * import { Profiler } from "./profile.ts";
 * import { GpuBuffers } from "./buffers.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter?.features.has("timestamp-query")) {
 *   const device = await adapter.requestDevice({ requiredFeatures: ["timestamp-query"] });
 *   const owned = new GpuBuffers(device);
 *   const p = new Profiler(device, owned, Profiler.queryCount(1, 1));
 *   if (p.result().steps !== 0) throw new Error();
 *   p.dispose();
 *   owned.destroy();
 *   device.destroy();
 * }
 * ```
 */
export class Profiler {
  readonly #querySet: GPUQuerySet;
  readonly #resolve: GPUBuffer;
  readonly #read: GPUBuffer;
  #ms: Record<string, number> = {};
  #count: Record<string, number> = {};
  #steps = 0;

  /**
   * Timestamp queries for the most dispatches of one step of a model.
   *
   * @param layers the model's layers
   * @param maxChunks the most chunks of one weight matrix
   * @returns queries (two per dispatch)
   *
   * @example
   * ```ts
   * import { Profiler } from "./profile.ts";
   * if (Profiler.queryCount(2, 1) !== 208) throw new Error();
   * ```
   */
  static queryCount(layers: number, maxChunks: number): number {
    return 2 * (16 * layers + 8 + 4 * maxChunks * (layers * 7 + 2));
  }

  /**
   * Create the queries and their buffers.
   *
   * @param device a device with `timestamp-query`
   * @param buffers the owner of the resolve and read buffers
   * @param count queries
   */
  constructor(device: GPUDevice, buffers: GpuBuffers, count: number) {
    this.#querySet = device.createQuerySet({ type: "timestamp", count });
    this.#resolve = buffers.create(count * 8, USAGE.QUERY_RESOLVE | USAGE.COPY_SRC);
    this.#read = buffers.create(count * 8, USAGE.MAP_READ | USAGE.COPY_DST);
  }

  /**
   * The pass of dispatch `i`, timed.
   *
   * @param i the dispatch's index in the step
   * @returns the pass descriptor
   */
  pass(i: number): GPUComputePassDescriptor {
    return {
      timestampWrites: { querySet: this.#querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
    };
  }

  /**
   * Resolve the step's timestamps into the read buffer.
   *
   * @param encoder the step's encoder
   * @param dispatches dispatches in the step
   */
  resolve(encoder: GPUCommandEncoder, dispatches: number): void {
    encoder.resolveQuerySet(this.#querySet, 0, 2 * dispatches, this.#resolve, 0);
    encoder.copyBufferToBuffer(this.#resolve, 0, this.#read, 0, 2 * dispatches * 8);
  }

  /**
   * Add a submitted step's times.
   *
   * @param list the step's dispatches
   * @returns when read
   */
  async collect(list: readonly RecordedDispatch[]): Promise<void> {
    await this.#read.mapAsync(1, 0, 2 * list.length * 8);
    const t = new BigInt64Array(this.#read.getMappedRange(0, 2 * list.length * 8).slice(0));
    this.#read.unmap();
    list.forEach((op, i) => {
      const ms = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
      this.#ms[op.role] = (this.#ms[op.role] ?? 0) + Math.max(0, ms);
      this.#count[op.role] = (this.#count[op.role] ?? 0) + 1;
    });
    this.#steps++;
  }

  /**
   * The sums so far.
   *
   * @returns the profile
   */
  result(): KernelProfile {
    return { ms: { ...this.#ms }, dispatches: { ...this.#count }, steps: this.#steps };
  }

  /** Clear the sums. */
  reset(): void {
    this.#ms = {};
    this.#count = {};
    this.#steps = 0;
  }

  /** Free the query set. */
  dispose(): void {
    this.#querySet.destroy();
  }
}
