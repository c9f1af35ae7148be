/**
 * The shared WebAssembly memory of the `wasm` engine: weights, activations and per-thread
 * scratch, in one `WebAssembly.Memory({ shared: true })` that every worker thread binds its
 * kernels to, so weights are held once, whatever the thread count.
 *
 * @module
 */

import type { WeightTensor } from "../../formats/quant_tensor.ts";

const PAGE = 65536;
/** The most pages a 32-bit WebAssembly memory has (4 GiB). */
export const MAX_PAGES = 65536;

/**
 * A bump allocator over one shared memory that grows as it is filled: weights and activations
 * are allocated once; blocks of power-of-two sizes (KV caches) are given back and reused.
 *
 * @example
 * ```ts
 * import { WasmMemory } from "./wasm_memory.ts";
 * const mem = new WasmMemory();
 * const w = mem.place({ dtype: "f32", shape: [2, 8], data: new Float32Array(16).fill(2) });
 * if (!(w.data.buffer instanceof SharedArrayBuffer) || w.data[15] !== 2 || w.data.byteOffset % 64 !== 0) throw new Error();
 * ```
 */
export class WasmMemory {
  /** The memory the kernels import. */
  readonly memory: WebAssembly.Memory;
  #top = 1024; // the first bytes stay unused: a null pointer is never a region
  readonly #free = new Map<number, number[]>();

  /** An empty memory (one page; it grows to at most 4 GiB). */
  constructor() {
    this.memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
  }

  /** Bytes allocated so far. */
  get used(): number {
    return this.#top;
  }

  /**
   * A region of `bytes` bytes, 64-byte aligned, zero-filled.
   *
   * @param bytes size
   * @returns its byte offset
   * @throws {RangeError} when it would pass 4 GiB (a 32-bit WebAssembly memory)
   */
  alloc(bytes: number): number {
    const at = Math.ceil(this.#top / 64) * 64;
    const end = at + bytes;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      if (have / PAGE + pages > MAX_PAGES) {
        throw new RangeError(
          `the wasm engine holds at most 4 GiB (weights and activations); this needs ${
            (end / 2 ** 30).toFixed(2)
          } GiB — quantize the model (--quantize q4_k_m) or use llama.cpp`,
        );
      }
      this.memory.grow(pages);
    }
    this.#top = end;
    return at;
  }

  /**
   * `count` floats at a new region, as a view.
   *
   * @param count floats
   * @returns the view (its `byteOffset` is the pointer)
   */
  floats(count: number): Float32Array {
    const at = this.alloc(count * 4);
    return new Float32Array(this.memory.buffer, at, count);
  }

  /**
   * A view of `count` floats at `ptr` (on the memory's current buffer, which grows).
   *
   * @param ptr byte offset
   * @param count floats
   * @returns the view
   */
  f32(ptr: number, count: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, count);
  }

  /**
   * A block that can be given back ({@linkcode freeBlock}): sizes are powers of two from 4 KiB,
   * and a freed block is reused by the next request of its size (KV caches grow and go).
   *
   * @param bytes the least size
   * @returns its pointer and size
   */
  allocBlock(bytes: number): { ptr: number; size: number } {
    const size = Math.max(4096, 2 ** Math.ceil(Math.log2(Math.max(1, bytes))));
    const ptr = this.#free.get(size)?.pop() ?? this.alloc(size);
    return { ptr, size };
  }

  /**
   * Give a block back for reuse.
   *
   * @param block a block from {@linkcode allocBlock}
   */
  freeBlock(block: { ptr: number; size: number }): void {
    let list = this.#free.get(block.size);
    if (!list) this.#free.set(block.size, list = []);
    list.push(block.ptr);
  }

  /**
   * A copy of a tensor in the memory: the same dtype and shape, its data a view of the memory
   * (whose `byteOffset` is the kernels' pointer).
   *
   * @param t a plain or quantized tensor
   * @returns the placed tensor
   */
  place<T extends WeightTensor>(t: T): T {
    const src = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const at = this.alloc(src.byteLength);
    new Uint8Array(this.memory.buffer, at, src.byteLength).set(src);
    const Ctor = t.data.constructor as new (b: ArrayBufferLike, o: number, n: number) => T["data"];
    const data = new Ctor(this.memory.buffer, at, t.data.length);
    return { ...t, data } as T;
  }
}
