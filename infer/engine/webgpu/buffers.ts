/**
 * Device buffers with an owner: a {@linkcode GpuBuffers} creates buffers and destroys all of
 * them at once. The engine holds one for its lifetime (weights, work buffers); each session
 * holds its own (its KV cache and its kernels' parameters), freed when the session is.
 *
 * @module
 */

/** `GPUBufferUsage` flags (the global is not always defined where types are checked). */
export const USAGE = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
  QUERY_RESOLVE: 0x0200,
} as const;

/**
 * Buffers created on one device and destroyed together.
 *
 * @example
 * ```ts
 * import { GpuBuffers, USAGE } from "./buffers.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const owned = new GpuBuffers(device);
 *   const b = owned.f32(new Float32Array([1, 2, 3]), USAGE.STORAGE);
 *   if (b.size !== 12) throw new Error();
 *   const early = owned.create(64, USAGE.STORAGE);
 *   owned.release(early); // freed now, and not again below
 *   try {
 *     owned.release(early);
 *     throw new Error("released twice");
 *   } catch (e) {
 *     if (!(e instanceof RangeError)) throw e;
 *   }
 *   owned.destroy();
 *   device.destroy();
 * }
 * ```
 */
export class GpuBuffers {
  readonly #device: GPUDevice;
  readonly #owned: GPUBuffer[] = [];

  /**
   * Own buffers on a device.
   *
   * @param device the device
   */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /**
   * An empty buffer of at least `size` bytes (a multiple of 4, at least 4).
   *
   * @param size bytes
   * @param usage usage flags
   * @returns the buffer
   */
  create(size: number, usage: number): GPUBuffer {
    return this.#own(this.#device.createBuffer({ size: Math.max(4, Math.ceil(size / 4) * 4), usage }));
  }

  /**
   * A buffer holding `data`, written at creation (size rounded up to 4 bytes, at least 4).
   *
   * @param data the bytes
   * @param usage usage flags
   * @returns the buffer
   */
  bytes(data: ArrayBufferView | ArrayBuffer, usage: number): GPUBuffer {
    const view = data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const size = Math.max(4, Math.ceil(view.byteLength / 4) * 4);
    const b = this.#device.createBuffer({ size, usage, mappedAtCreation: true });
    new Uint8Array(b.getMappedRange()).set(view);
    b.unmap();
    return this.#own(b);
  }

  /**
   * A buffer holding `data` (f32).
   *
   * @param data the values
   * @param usage usage flags
   * @returns the buffer
   */
  f32(data: Float32Array, usage: number): GPUBuffer {
    return this.bytes(data, usage);
  }

  /** Destroy every buffer created here. */
  destroy(): void {
    for (const b of this.#owned) b.destroy();
    this.#owned.length = 0;
  }

  /**
   * Free one buffer now (it is then not destroyed again with the rest: destroying a buffer
   * twice is not left to the runtime).
   *
   * @param b a buffer made here
   * @throws {RangeError} for a buffer not made here, or already released
   */
  release(b: GPUBuffer): void {
    const i = this.#owned.indexOf(b);
    if (i < 0) throw new RangeError("a buffer not held here");
    this.#owned.splice(i, 1);
    b.destroy();
  }

  #own(b: GPUBuffer): GPUBuffer {
    this.#owned.push(b);
    return b;
  }
}
