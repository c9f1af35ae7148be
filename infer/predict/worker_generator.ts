/**
 * A {@linkcode LocalGenerator} on the CPU engine that computes in a Web Worker, so the calling
 * thread stays free while a token is computed: a server keeps answering, streams each token as
 * it comes, turns away requests beyond its queue, and notices a client that went away.
 *
 * @module
 */

import type { HfTokenizer } from "../../templates/mod.ts";
import { loadModelTokenizer } from "../model/model_tokenizer.ts";
import type { QuantPreset } from "../formats/quant_preset.ts";
import type { LoadProgress } from "../model/load_model.ts";
import type { ModelSpec } from "../model/model_spec.ts";
import type { CompletionRequest, CompletionResult, TextGenerator } from "./local.ts";
import { CANCEL, fromWire, type FromWorker, postedIndex, type ToWorker, type WorkerInit } from "./_worker_protocol.ts";
import { SerialQueue } from "./serial_queue.ts";
import { type BatchChoice, CPU_BATCH_MOST, GPU_BATCH_MOST } from "../engine/batch_room.ts";

/** Options of {@linkcode WorkerGenerator.start}. */
export interface WorkerGeneratorOptions {
  /** The Hugging Face model folder (weights and tokenizer). */
  readonly model: string;
  /** A PEFT LoRA adapter folder merged into the weights at load. */
  readonly lora?: string;
  /** Quantize the weights at load, after the LoRA merge (a llama.cpp preset). */
  readonly quantize?: QuantPreset;
  /** The KV cache's format (default f32). */
  readonly kvCache?: "f32" | "f16";
  /** Tokens the engine's session holds (default: the model's, at most 4096). */
  readonly contextSize?: number;
  /** Threads computing the products (default: the cores available). */
  readonly threads?: number;
  /** Quantized weights meet activations rounded to 8 bits (default false). */
  readonly int8Dot?: boolean;
  /**
   * Requests decoded at once in the worker (default 1), each with its own KV cache; `"auto"`:
   * chosen there from the engine's memory (`chooseBatch`).
   */
  readonly batch?: number | "auto";
  /** With `batch: "auto"`: the most tokens a request's session holds (default: the context size). */
  readonly sessionTokens?: number;
  /** Called as the worker reads the weights. */
  readonly onProgress?: (p: LoadProgress) => void;
}

interface Running {
  readonly slot: number;
  readonly resolve: (r: CompletionResult) => void;
  readonly reject: (e: unknown) => void;
  readonly onText?: (delta: string) => void;
}

/**
 * Generation on the CPU engine in a worker: the model folder is loaded there, up to `batch`
 * requests run there at once (decoded together; the rest wait in a queue here), text deltas come
 * back per token, and an aborted request stops within a token.
 *
 * @example
 * ```ts
 * import { writeRandomModel } from "../testing/mod.ts";
 * import { WorkerGenerator } from "./worker_generator.ts";
 * // A 32-token vocabulary: "<s>", "</s>" and 30 letters.
 * const vocab = Object.fromEntries(["<s>", "</s>", ..."abcdefghijklmnopqrstuvwxyz{}: "].map((t, i) => [t, i]));
 * const json = { model: { type: "BPE", vocab, merges: [] }, added_tokens: [
 *   { id: 0, content: "<s>", special: true }, { id: 1, content: "</s>", special: true }] };
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 32, hidden: 16, intermediate: 32, layers: 1,
 *   heads: 2, tokenizer: { json, config: { bos_token: "<s>", eos_token: "</s>" } } });
 * const gen = await WorkerGenerator.start({ model: dir });
 * let streamed = "";
 * const r = await gen.complete({ promptIds: [1, 5, 9], maxNewTokens: 4, onText: (t) => streamed += t });
 * await gen.close();
 * if (r.ids.length === 0 || streamed !== r.text) throw new Error(JSON.stringify(r));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class WorkerGenerator implements TextGenerator {
  /** The model's tokenizer (loaded here too: prompts are rendered on this thread). */
  readonly tokenizer: HfTokenizer;
  /** What the model computes. */
  readonly spec: ModelSpec;
  /** Tokens the engine's session holds. */
  readonly contextSize: number;
  /** The engine that computes (`cpu`). */
  readonly engineName: string;
  /** Requests decoded at once. */
  readonly batch: number;
  /** How `batch` was chosen, where it was chosen from the engine's memory. */
  readonly batchChoice?: BatchChoice;
  readonly #worker: Worker;
  readonly #cancel: Int32Array;
  readonly #queue: SerialQueue;
  /** The running requests by id. */
  readonly #running = new Map<number, Running>();
  #nextId = 0;
  #failure: Error | undefined;

  private constructor(
    worker: Worker,
    cancel: Int32Array,
    tokenizer: HfTokenizer,
    ready: Extract<FromWorker, { type: "ready" }>,
  ) {
    this.#worker = worker;
    this.#cancel = cancel;
    this.batch = ready.batch;
    this.batchChoice = ready.batchChoice;
    this.#queue = new SerialQueue(this.batch);
    this.tokenizer = tokenizer;
    this.spec = ready.spec;
    this.contextSize = ready.contextSize;
    this.engineName = ready.engine;
    worker.onmessage = (e: MessageEvent<FromWorker>) => this.#receive(e.data);
    worker.onerror = (e) => {
      e.preventDefault();
      this.#fail(new Error(`the generation worker stopped: ${e.message}`));
    };
  }

  /**
   * Start a worker and load the model folder (weights and tokenizer) in it.
   *
   * @param options the model folder, adapter, context size and a progress callback
   * @returns the generator, once the model is loaded
   * @throws {InputError} for a bad model folder, adapter or tokenizer
   */
  static async start(options: WorkerGeneratorOptions): Promise<WorkerGenerator> {
    const batch = options.batch ?? 1;
    if (batch !== "auto" && !(Number.isInteger(batch) && batch >= 1)) {
      throw new RangeError('batch must be an integer ≥ 1 or "auto"');
    }
    // A cancel flag for each request that may run: an automatic batch is at most the engine's most.
    const slots = batch === "auto" ? Math.max(CPU_BATCH_MOST, GPU_BATCH_MOST) : batch;
    const tokenizer = await loadModelTokenizer(options.model);
    const worker = new Worker(new URL("./_generator_worker.ts", import.meta.url).href, { type: "module" });
    const shared = new SharedArrayBuffer((slots + 1) * Int32Array.BYTES_PER_ELEMENT); // flags, then a count
    const ready = Promise.withResolvers<Extract<FromWorker, { type: "ready" }>>();
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      if (m.type === "progress") options.onProgress?.(m.progress);
      else if (m.type === "ready") ready.resolve(m);
      else if (m.type === "failed") ready.reject(fromWire(m.error));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      ready.reject(new Error(`the generation worker failed to start: ${e.message}`));
    };
    const init: WorkerInit = {
      model: options.model,
      lora: options.lora,
      quantize: options.quantize,
      kvCache: options.kvCache,
      contextSize: options.contextSize,
      threads: options.threads,
      int8Dot: options.int8Dot,
      batch,
      sessionTokens: options.sessionTokens,
    };
    worker.postMessage({ type: "init", init, cancel: shared } satisfies ToWorker);
    try {
      return new WorkerGenerator(worker, new Int32Array(shared), tokenizer, await ready.promise);
    } catch (e) {
      worker.terminate();
      throw e;
    }
  }

  /**
   * Generate one answer in the worker (queued behind earlier requests while `batch` run).
   * `onText` gets each delta as the worker makes it; aborting `signal` stops the generation
   * within a token (or drops the request while it waits).
   *
   * @param request prompt ids, limits, constraint, sampling, streaming callback, signal
   * @returns the answer
   */
  complete(request: CompletionRequest): Promise<CompletionResult> {
    return this.#queue.run(() => this.#run(request));
  }

  /**
   * Stop the worker, after the queued requests (abort them first to stop sooner).
   *
   * @returns once the worker is gone
   */
  async close(): Promise<void> {
    // All turns at once: every request queued before has finished.
    const ends = await Promise.all(Array.from({ length: this.batch }, () => this.#queue.take()));
    this.#fail(new Error("the generator is closed"));
    ends.forEach((end) => end());
  }

  async #run(request: CompletionRequest): Promise<CompletionResult> {
    if (this.#failure) throw this.#failure;
    const { onText, signal, ...wire } = request;
    signal?.throwIfAborted();
    const id = ++this.#nextId;
    const done = Promise.withResolvers<CompletionResult>();
    // A free cancel slot: at most `batch` requests run (the queue's turns), each holding one.
    const taken = new Set([...this.#running.values()].map((r) => r.slot));
    let slot = CANCEL;
    while (taken.has(slot)) slot++;
    this.#running.set(id, { slot, resolve: done.resolve, reject: done.reject, onText });
    Atomics.store(this.#cancel, slot, 0);
    const onAbort = () => Atomics.store(this.#cancel, slot, 1);
    signal?.addEventListener("abort", onAbort, { once: true });
    Atomics.add(this.#cancel, postedIndex(this.#cancel.length - 1), 1);
    this.#worker.postMessage(
      { type: "complete", id, request: wire, stream: onText !== undefined, slot } satisfies ToWorker,
    );
    try {
      return await done.promise;
    } catch (e) {
      // A request stopped by its signal fails with the signal's reason, as on the other generators.
      if (signal?.aborted && (e as Error)?.name === "AbortError") throw signal.reason;
      throw e;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.#running.delete(id);
    }
  }

  #receive(m: FromWorker): void {
    const r = "id" in m && m.id !== undefined ? this.#running.get(m.id) : undefined;
    if (r === undefined) return;
    if (m.type === "text") r.onText?.(m.delta);
    else if (m.type === "done") r.resolve(m.result);
    else if (m.type === "failed") r.reject(fromWire(m.error));
  }

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#worker.terminate();
    for (const r of this.#running.values()) r.reject(error);
  }
}
