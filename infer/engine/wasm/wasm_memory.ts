/**
 * The shared WebAssembly memories of the `wasm` engine. Weights are placed in
 * {@linkcode WeightMemories}: as many memories as they need, each at most 4 GiB (the most a 32-bit
 * WebAssembly memory holds). Where they took one and the activations, KV caches and per-thread
 * scratch fit beside them, that memory holds everything; else those get a memory of their own.
 * Every worker thread binds its kernels to the same `WebAssembly.Memory({ shared: true })`
 * objects, so weights are held once, whatever the thread count.
 *
 * @module
 */

import { InputError, UsageError } from "../../../io/errors.ts";
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
  /** The most bytes it holds. */
  readonly maxBytes: number;
  #top = 1024; // the first bytes stay unused: a null pointer is never a region
  readonly #free = new Map<number, number[]>();

  /**
   * An empty memory (one page; it grows to at most `maxBytes`).
   *
   * @param maxBytes the most it holds (default and most: 4 GiB)
   */
  constructor(maxBytes: number = MAX_PAGES * PAGE) {
    this.maxBytes = memoryBytes(maxBytes);
    this.memory = new WebAssembly.Memory({ initial: 1, maximum: this.maxBytes / PAGE, shared: true });
  }

  /**
   * Whether a region of `bytes` more fits.
   *
   * @param bytes size
   * @returns true where {@linkcode alloc} of it would not throw
   */
  fits(bytes: number): boolean {
    return Math.ceil(this.#top / 64) * 64 + bytes <= this.maxBytes;
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
   * @throws {UsageError} when it would pass the memory's size (at most 4 GiB): the settings
   *   (context size, batch) ask for more than the engine holds
   */
  alloc(bytes: number): number {
    const at = Math.ceil(this.#top / 64) * 64;
    const end = at + bytes;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      if (end > this.maxBytes) {
        throw new UsageError(
          `a memory of the cpu engine holds at most ${gib(this.maxBytes)} GiB; its KV caches and activations need ${
            gib(end)
          } GiB — a shorter --context-size or a smaller --batch`,
        );
      }
      this.memory.grow(Math.ceil((end - have) / PAGE));
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
    const size = blockBytes(bytes);
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

/**
 * The size of a block of {@linkcode WasmMemory.allocBlock} for `bytes`: the least power of two
 * that holds them, at least 4 KiB.
 *
 * @param bytes the least size
 * @returns the block's size
 *
 * @example
 * ```ts
 * import { blockBytes } from "./wasm_memory.ts";
 * if (blockBytes(1) !== 4096 || blockBytes(4097) !== 8192 || blockBytes(8192) !== 8192) throw new Error();
 * ```
 */
export function blockBytes(bytes: number): number {
  return Math.max(4096, 2 ** Math.ceil(Math.log2(Math.max(1, bytes))));
}

/** A memory's most bytes for a wish of `maxBytes`: whole pages, at least one, at most 4 GiB. */
function memoryBytes(maxBytes: number): number {
  return Math.max(1, Math.min(MAX_PAGES, Math.floor(maxBytes / PAGE))) * PAGE;
}

/** Bytes as GiB with two decimals. */
function gib(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(2);
}

/**
 * The weight matrices' memories: regions are taken from the newest memory while they fit, then
 * from a new one, so a model's weights may pass 4 GiB (the most one 32-bit WebAssembly memory
 * holds) while each matrix lies in one memory. The kernels read a matrix through the module
 * instance bound to its memory.
 *
 * @example
 * ```ts
 * import { WeightMemories } from "./wasm_memory.ts";
 * const store = new WeightMemories(2 * 65536); // two pages each, to show the split
 * const a = store.reserve(100_000);
 * a.memory.alloc(100_000);
 * const b = store.reserve(100_000); // does not fit beside the first: a second memory
 * if (a.index !== 0 || b.index !== 1 || store.memories.length !== 2) throw new Error();
 * ```
 */
export class WeightMemories {
  /** The memories, in the order they were made. */
  readonly parts: WasmMemory[] = [];
  /** The most bytes each holds. */
  readonly maxBytes: number;

  /**
   * No memory yet (the first region makes one).
   *
   * @param maxBytes the most each memory holds (default and most: 4 GiB)
   */
  constructor(maxBytes: number = MAX_PAGES * PAGE) {
    this.maxBytes = memoryBytes(maxBytes);
  }

  /** The memories, as the kernels import them. */
  get memories(): WebAssembly.Memory[] {
    return this.parts.map((p) => p.memory);
  }

  /** Bytes allocated so far, in all. */
  get used(): number {
    return this.parts.reduce((s, p) => s + p.used, 0);
  }

  /**
   * The memory a region of `bytes` goes to: the newest where it fits, else a new one.
   *
   * @param bytes the region's size
   * @returns the memory's index and the memory (to allocate the region in)
   * @throws {InputError} when one region (a weight matrix) is larger than a memory holds
   */
  reserve(bytes: number): { index: number; memory: WasmMemory } {
    let index = this.parts.length - 1;
    if (index < 0 || !this.parts[index].fits(bytes)) {
      const fresh = new WasmMemory(this.maxBytes);
      if (!fresh.fits(bytes)) {
        throw new InputError(
          `a weight matrix of ${gib(bytes)} GiB is more than one WebAssembly memory holds (${
            gib(this.maxBytes)
          } GiB): the cpu engine cannot run this model (use --engine llamacpp)`,
        );
      }
      this.parts.push(fresh);
      index++;
    }
    return { index, memory: this.parts[index] };
  }
}
