/**
 * Quantization on every core: a matrix's rows split into pieces that worker threads quantize
 * side by side. Rows are quantized independently of one another, so the bytes are those of
 * {@linkcode quantizeTensor} on one thread, only sooner. A piece is copied out of its matrix when
 * a worker takes it: at most one piece per worker is in flight. The pool starts its workers when
 * the first large matrix comes and ends them when disposed (`using pool = new QuantizePool()`):
 * a process that loads a model with `--quantize` or exports a quantized GGUF holds them only
 * while it does.
 *
 * @module
 */

import type { GgmlTypeName, QuantType } from "./ggml_types.ts";
import { ggmlRowBytes } from "./ggml_types.ts";
import { quantizeTensor, type WeightTensor } from "./quant_tensor.ts";
import type { Tensor } from "./tensor.ts";

/** A piece of a matrix for a worker: its rows in the matrix's own format. */
export interface QuantizePiece {
  /** The piece's number (answers come back in any order). */
  readonly id: number;
  /** The ggml type to quantize to. */
  readonly type: GgmlTypeName;
  /** The rows' format. */
  readonly dtype: Tensor["dtype"];
  /** Values per row. */
  readonly cols: number;
  /** The rows' values, `rows × cols`. */
  readonly data: Tensor["data"];
}

/** A worker's answer: the piece's packed rows, or why it failed. */
export interface QuantizedPiece {
  /** The piece's number. */
  readonly id: number;
  /** The packed rows. */
  readonly data?: Uint8Array;
  /** The error's message, where quantizing failed. */
  readonly error?: string;
}

/** Matrices smaller than this (values) are quantized on the calling thread: a piece costs a copy and a message. */
const SMALL = 1 << 20;

/** Pieces per worker for one matrix: the last ones to finish then wait for little. */
const PIECES_PER_WORKER = 4;

interface Waiting {
  resolve(data: Uint8Array): void;
  reject(e: Error): void;
}

/**
 * Worker threads that quantize the rows of large matrices side by side.
 *
 * @example
 * ```ts
 * import { QuantizePool } from "./quantize_pool.ts";
 * import { quantizeTensor } from "./quant_tensor.ts";
 * const t = { dtype: "f32" as const, shape: [4096, 256], data: Float32Array.from({ length: 4096 * 256 }, (_, i) => Math.sin(i)) };
 * using pool = new QuantizePool(2);
 * const q = await pool.quantize(t, "q4_k");
 * const one = quantizeTensor(t, "q4_k");
 * if (q.dtype !== "q4_k" || q.data.some((b, i) => b !== one.data[i])) throw new Error();
 * ```
 */
export class QuantizePool implements Disposable {
  /** Worker threads (at most; started as needed). */
  readonly threads: number;
  readonly #url: URL;
  #workers: Worker[] = [];
  #idle: Worker[] = [];
  /** Pieces not yet sent: each is copied out of its matrix only when a worker takes it. */
  #queue: Array<{ id: number; type: GgmlTypeName; t: Tensor; from: number; to: number }> = [];
  readonly #waiting = new Map<number, Waiting>();
  #nextId = 0;
  #failed: Error | undefined;

  /**
   * A pool of `threads` workers (default: the cores available), none started yet.
   *
   * @param threads how many workers quantize at once
   * @param workerUrl the worker module (default `_quantize_worker.ts` beside this one)
   */
  constructor(threads: number = availableThreads(), workerUrl?: URL) {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be ≥ 1, not ${threads}`);
    this.threads = threads;
    this.#url = workerUrl ?? new URL("./_quantize_worker.ts", import.meta.url);
  }

  /**
   * A matrix in a ggml type, as {@linkcode quantizeTensor} makes it: large ones in pieces of rows
   * on the workers, small ones (and plain types, and a pool of one thread) here.
   *
   * @param t the matrix `[rows, cols]`
   * @param type the ggml type
   * @returns the matrix in that type
   * @throws {InputError} when a row is not a whole number of the type's blocks
   */
  async quantize(t: Tensor, type: GgmlTypeName): Promise<WeightTensor> {
    const [rows, cols] = t.shape;
    const rowBytes = ggmlRowBytes(type, cols);
    if (
      this.threads < 2 || rows * cols < SMALL || rowBytes === undefined || type === "f32" || type === "f16" ||
      type === "bf16"
    ) {
      return quantizeTensor(t, type); // also what says a row does not fit the blocks
    }
    if (this.#failed) throw this.#failed;
    const out = new Uint8Array(rows * rowBytes);
    const per = Math.max(1, Math.ceil(rows / (this.threads * PIECES_PER_WORKER)));
    const pieces: Promise<void>[] = [];
    for (let r = 0; r < rows; r += per) {
      const id = this.#nextId++;
      const done = new Promise<Uint8Array>((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
      this.#queue.push({ id, type, t, from: r * cols, to: Math.min(rows, r + per) * cols });
      pieces.push(done.then((bytes) => out.set(bytes, r * rowBytes)));
    }
    this.#dispatch();
    await Promise.all(pieces);
    return { dtype: type as QuantType, shape: t.shape, data: out };
  }

  /** Hand queued pieces to idle workers, starting workers up to `threads`. */
  #dispatch(): void {
    while (this.#queue.length > 0) {
      let worker = this.#idle.pop();
      if (worker === undefined && this.#workers.length < this.threads) worker = this.#start();
      if (worker === undefined) return;
      const { id, type, t, from, to } = this.#queue.shift()!;
      const data = t.data.slice(from, to);
      const piece: QuantizePiece = { id, type, dtype: t.dtype, cols: t.shape[1], data };
      worker.postMessage(piece, [data.buffer as ArrayBuffer]);
    }
  }

  #start(): Worker {
    const worker = new Worker(this.#url, { type: "module" });
    worker.onmessage = (e: MessageEvent<QuantizedPiece>) => {
      const { id, data, error } = e.data;
      const w = this.#waiting.get(id);
      this.#waiting.delete(id);
      if (data !== undefined) w?.resolve(data);
      else w?.reject(new Error(`quantizing failed in a worker: ${error}`));
      this.#idle.push(worker);
      this.#dispatch();
    };
    worker.onerror = (e) => {
      e.preventDefault();
      this.#fail(new Error(`a quantizing worker failed: ${e.message}`));
    };
    this.#workers.push(worker);
    return worker;
  }

  /** Reject every piece waiting, and refuse further work. */
  #fail(e: Error): void {
    this.#failed = e;
    this.#queue = [];
    for (const w of this.#waiting.values()) w.reject(e);
    this.#waiting.clear();
    this.close();
  }

  /**
   * End the workers (a later large matrix starts new ones).
   *
   * @example
   * ```ts
   * import { QuantizePool } from "./quantize_pool.ts";
   * const pool = new QuantizePool(2);
   * pool.close();
   * ```
   */
  close(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
    this.#idle = [];
  }

  /** {@linkcode close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * The cores this runtime reports (`navigator.hardwareConcurrency`), at least 1.
 *
 * @returns the default worker count of {@linkcode QuantizePool}
 *
 * @example
 * ```ts
 * import { availableThreads } from "./quantize_pool.ts";
 * if (!(availableThreads() >= 1)) throw new Error();
 * ```
 */
export function availableThreads(): number {
  const n = (globalThis.navigator as { hardwareConcurrency?: number } | undefined)?.hardwareConcurrency;
  return typeof n === "number" && n >= 1 ? n : 1;
}
