/**
 * The threads of the `wasm` engine: the calling thread plus `threads − 1` Web Workers bound to
 * the same shared memories. A job (a few matrix products, or the attention of a few sessions) is
 * written to a shared control block; every thread computes its rows of each product and its heads
 * of each attention, and the call returns when all are done.
 * Waiting is `Atomics.wait` after a short spin (a pure spin where the calling thread may not
 * block, as on a browser's main thread).
 *
 * @module
 */

import { CTRL, CTRL_INTS, type JobItem, runShare, writeJob } from "./_matmul_job.ts";
import { instantiateKernels, type KernelExports } from "./kernels.ts";

/** Options of {@linkcode KernelThreads.start}. */
export interface KernelThreadsOptions {
  /** The compiled kernels. */
  readonly module: WebAssembly.Module;
  /** The compiled relaxed-SIMD kernels, replacing the main module's `i8_*` (see `kernels.ts`). */
  readonly relaxed?: WebAssembly.Module;
  /** The shared memory (activations, caches, scratch). */
  readonly memory: WebAssembly.Memory;
  /** The weights' memories, a product's `mem` indexing them (default, or empty: `[memory]`). */
  readonly weights?: readonly WebAssembly.Memory[];
  /** Threads in all, the caller included (1: no workers). */
  readonly threads: number;
  /** Each thread's scratch pointer (`threads` of them). */
  readonly scratch: readonly number[];
  /** The worker script (default: `_kernel_worker.ts` beside this module). */
  readonly workerUrl?: string | URL;
  /** Spin iterations before blocking (default 20,000: tens of microseconds). */
  readonly spin?: number;
}

/**
 * A caller and its workers computing matrix products and attention together.
 *
 * @example
 * ```ts
 * import { KernelThreads } from "./kernel_threads.ts";
 * import { kernelsModule } from "./kernels.ts";
 * import { WasmMemory } from "./wasm_memory.ts";
 * const mem = new WasmMemory();
 * const w = mem.floats(8 * 8).fill(1), x = mem.floats(8).fill(2), y = mem.floats(8);
 * const scratch = [mem.alloc(4 * 8 * 4), mem.alloc(4 * 8 * 4)];
 * const threads = await KernelThreads.start({ module: await kernelsModule(), memory: mem.memory, threads: 2, scratch });
 * threads.run([{ kernel: "mv_f32", w: w.byteOffset, x: x.byteOffset, y: y.byteOffset, inp: 8, out: 8, n: 1 }]);
 * threads.close();
 * if (y.some((v) => v !== 16)) throw new Error(String(y));
 * ```
 */
export class KernelThreads {
  /** Threads in all, the caller included. */
  readonly threads: number;
  /** The caller's kernels (bound to the first weights' memory). */
  readonly kernels: KernelExports;
  /** The caller's kernels bound to each weights' memory. */
  readonly #byMemory: KernelExports[];
  /** Whether the `i8_*` kernels are the relaxed-SIMD ones. */
  readonly relaxed: boolean;
  readonly #ctrl: Int32Array;
  readonly #workers: Worker[];
  readonly #scratch: number;
  readonly #spin: number;
  readonly #canBlock: boolean;

  private constructor(o: KernelThreadsOptions, ctrl: Int32Array, workers: Worker[]) {
    this.threads = o.threads;
    this.#byMemory = weightsOf(o).map((w) => instantiateKernels(o.module, o.memory, o.relaxed, w));
    this.kernels = this.#byMemory[0];
    this.relaxed = o.relaxed !== undefined;
    this.#ctrl = ctrl;
    this.#workers = workers;
    this.#scratch = o.scratch[0];
    this.#spin = o.spin ?? 20_000;
    this.#canBlock = canBlock(ctrl);
  }

  /**
   * Start the workers and wait until each has bound its kernels.
   *
   * @param o the kernels, memory, thread count and scratch
   * @returns the threads
   */
  static async start(o: KernelThreadsOptions): Promise<KernelThreads> {
    if (!Number.isInteger(o.threads) || o.threads < 1) throw new RangeError(`threads must be ≥ 1, not ${o.threads}`);
    const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_INTS * 4));
    const url = o.workerUrl ?? new URL("./_kernel_worker.ts", import.meta.url);
    const workers: Worker[] = [];
    try {
      for (let part = 1; part < o.threads; part++) {
        const worker = new Worker(url, { type: "module" });
        workers.push(worker);
        await new Promise<void>((resolve, reject) => {
          worker.onmessage = () => resolve();
          worker.onerror = (e) => {
            e.preventDefault();
            reject(new Error(`a wasm engine thread failed to start: ${e.message}`));
          };
          worker.postMessage({
            module: o.module,
            relaxed: o.relaxed,
            memory: o.memory,
            weights: weightsOf(o),
            ctrl: ctrl.buffer,
            part,
            scratch: o.scratch[part],
            spin: o.spin ?? 20_000,
          });
        });
      }
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    return new KernelThreads(o, ctrl, workers);
  }

  /**
   * Compute the items, each product split by rows across the threads, each attention by heads
   * and each token-wise item by tokens; returns when all are done.
   *
   * @param items the products, attention and token-wise items (at most 8)
   */
  run(items: readonly JobItem[]): void {
    const ctrl = this.#ctrl;
    writeJob(ctrl, items, this.threads);
    Atomics.store(ctrl, CTRL.done, 0);
    Atomics.add(ctrl, CTRL.generation, 1);
    if (this.threads > 1) Atomics.notify(ctrl, CTRL.generation);
    runShare(this.#byMemory, ctrl, 0, this.#scratch);
    const want = this.threads - 1;
    for (let spins = 0;;) {
      const done = Atomics.load(ctrl, CTRL.done);
      if (done >= want) break;
      if (!this.#canBlock || spins++ < this.#spin) continue;
      Atomics.wait(ctrl, CTRL.done, done, 1000);
    }
  }

  /** Stop and end the workers. */
  close(): void {
    Atomics.store(this.#ctrl, CTRL.stop, 1);
    Atomics.add(this.#ctrl, CTRL.generation, 1);
    Atomics.notify(this.#ctrl, CTRL.generation);
    for (const w of this.#workers) w.terminate();
    this.#workers.length = 0;
  }
}

/** The weights' memories of the options (the shared memory where none is given). */
function weightsOf(o: KernelThreadsOptions): readonly WebAssembly.Memory[] {
  return o.weights?.length ? o.weights : [o.memory];
}

/** Whether this thread may block in `Atomics.wait` (not on a browser's main thread). */
function canBlock(ctrl: Int32Array): boolean {
  try {
    Atomics.wait(ctrl, CTRL.stop, 1, 0);
    return true;
  } catch {
    return false;
  }
}
