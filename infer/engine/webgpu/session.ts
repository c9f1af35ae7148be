/**
 * A WebGPU session: its own buffers (the per-layer key and value caches, and its kernels'
 * parameters), its recorded step, and its token list. Disposing it frees all of its buffers.
 *
 * @module
 */

import type { Session } from "../engine.ts";
import { SessionTokens } from "../session_tokens.ts";
import type { ModelSpec } from "../../model/model_spec.ts";
import { GpuBuffers, USAGE } from "./buffers.ts";
import type { RecordedDispatch, StepDispatches } from "./record.ts";
import { STEP } from "./kernels/step.ts";
import type { BatchPart, ReadMode } from "./submit.ts";

/** What a session needs from its engine. */
export interface SessionHost {
  /** What the model computes. */
  readonly spec: ModelSpec;
  /** The device. */
  readonly device: GPUDevice;
  /** Tokens per submit. */
  readonly maxBatch: number;
  /** Bytes of one cached key or value element: 4 (f32 cache) or 2 (f16). */
  readonly kvBytes: number;
  /**
   * Record the step over a session's caches.
   *
   * @param buffers the session's buffers (its parameter uniforms go here)
   * @param keys its key cache, one buffer per layer
   * @param values its value cache
   * @param context its context size
   * @returns the dispatches
   */
  record(buffers: GpuBuffers, keys: GPUBuffer[], values: GPUBuffer[], context: number): StepDispatches;
  /**
   * Record a session's own dispatches of batched decode steps (per layer: RoPE, cache writes,
   * attention) over its own step uniform.
   *
   * @param buffers the session's buffers
   * @param step its step uniform
   * @param keys its key cache, one buffer per layer
   * @param values its value cache
   * @param context its context size
   * @returns one list per layer
   */
  recordBatch(
    buffers: GpuBuffers,
    step: GPUBuffer,
    keys: GPUBuffer[],
    values: GPUBuffer[],
    context: number,
  ): RecordedDispatch[][];
  /**
   * Run one step, queued after the engine's other work.
   *
   * @param ops the session's dispatches
   * @param tokens the step's tokens
   * @param pos0 position of the first
   * @param mode what to read back
   * @param mask with `maskedArgmax`, the allowed ids (`ceil(vocab / 32)` words)
   * @returns the id, the logits rows, or nothing
   */
  step(
    ops: StepDispatches,
    tokens: readonly number[],
    pos0: number,
    mode: ReadMode,
    mask?: Uint32Array,
  ): Promise<number | Float32Array[] | undefined>;
  /**
   * Copy buffers on the device in one submit, queued after the engine's other work.
   *
   * @param pairs sources and destinations
   * @param bytes bytes from the start of each
   * @returns when done
   */
  copy(pairs: [GPUBuffer, GPUBuffer][], bytes: number): Promise<void>;
  /**
   * A new session of the engine (checks included).
   *
   * @param contextSize its context size
   * @returns the session
   */
  open(contextSize: number): WebGpuSession;
  /**
   * The session was disposed.
   *
   * @param session the session
   */
  forget(session: WebGpuSession): void;
}

/**
 * The bytes of one layer's keys (or values) in a session of `contextSize` tokens: each session
 * allocates them when it is made, and one binding holds them.
 *
 * @param host the model and the cache's element size
 * @param contextSize the session's tokens
 * @returns the bytes
 *
 * @example
 * ```ts
 * import { cacheLayerBytes } from "./session.ts";
 * if (cacheLayerBytes({ spec: { kvHeads: 2, headDim: 4 }, kvBytes: 2 }, 64) !== 64 * 8 * 2) throw new Error();
 * ```
 */
export function cacheLayerBytes(
  host: { readonly spec: Pick<ModelSpec, "kvHeads" | "headDim">; readonly kvBytes: number },
  contextSize: number,
): number {
  return contextSize * host.spec.kvHeads * host.spec.headDim * host.kvBytes;
}

/**
 * A WebGPU session (created by the engine).
 *
 * @example
 * ```ts
 * import { loadModel, WebGpuEngine, webGpuAvailable } from "../../mod.ts";
 * import { writeRandomModel } from "../../testing/mod.ts";
 * if (await webGpuAvailable()) {
 *   const dir = await Deno.makeTempDir();
 *   await writeRandomModel(dir, { architecture: "llama", vocabSize: 32, hidden: 16, intermediate: 32, layers: 1,
 *     heads: 2 });
 *   const engine = await WebGpuEngine.create(await loadModel(dir), { contextSize: 64 });
 *   const session = engine.createSession();
 *   const logits = await session.forward([1, 2, 3]);
 *   if (logits.length !== 32) throw new Error();
 *   session.dispose();
 *   engine.dispose();
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export class WebGpuSession implements Session {
  /** The most tokens the session holds. */
  readonly contextSize: number;
  #disposed = false;
  #tokens: SessionTokens;
  readonly #host: SessionHost;
  readonly #buffers: GpuBuffers;
  readonly #keys: GPUBuffer[];
  readonly #values: GPUBuffer[];
  readonly #ops: StepDispatches;
  /** Its step uniform and own dispatches in batched decode steps (recorded at the first). */
  #batch?: { step: GPUBuffer; layers: RecordedDispatch[][] };
  #pending: Promise<void> = Promise.resolve();

  /**
   * Allocate the caches and record the step.
   *
   * @param host the engine's side
   * @param contextSize the most tokens the session holds
   * @throws {RangeError} when a cache layer exceeds the device's binding limit
   */
  constructor(host: SessionHost, contextSize: number) {
    this.#host = host;
    this.contextSize = contextSize;
    const { spec, device } = host;
    this.#tokens = new SessionTokens(contextSize, spec.vocabSize);
    this.#buffers = new GpuBuffers(device);
    try {
      const bytes = cacheLayerBytes(host, contextSize);
      if (bytes > device.limits.maxStorageBufferBindingSize) {
        throw new RangeError(
          `a ${contextSize}-token KV cache layer needs ${bytes} bytes, over the device's binding limit`,
        );
      }
      const cache = () => this.#buffers.create(bytes, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST);
      this.#keys = Array.from({ length: spec.layers }, cache);
      this.#values = Array.from({ length: spec.layers }, cache);
      this.#ops = host.record(this.#buffers, this.#keys, this.#values, contextSize);
    } catch (e) {
      this.#buffers.destroy();
      throw e;
    }
  }

  /** The tokens in the cache. */
  get tokens(): readonly number[] {
    return this.#tokens.ids;
  }

  /**
   * Append tokens; the logits after the last.
   *
   * @param tokens the tokens
   * @returns the last logits
   */
  async forward(tokens: readonly number[]): Promise<Float32Array> {
    return ((await this.#run(tokens, "last")) as Float32Array[])[0];
  }

  /**
   * Append tokens; the logits after each.
   *
   * @param tokens the tokens
   * @returns one row per token
   */
  async forwardAll(tokens: readonly number[]): Promise<Float32Array[]> {
    return (await this.#run(tokens, "all")) as Float32Array[];
  }

  /**
   * Append tokens; the id of the largest last logit (computed on the device).
   *
   * @param tokens the tokens
   * @returns the id
   */
  async forwardGreedy(tokens: readonly number[]): Promise<number> {
    return (await this.#run(tokens, "argmax")) as number;
  }

  /**
   * Append tokens; the id of the largest last logit among those `mask` allows (computed on the
   * device, which reads back the id alone).
   *
   * @param tokens the tokens
   * @param mask the allowed ids as a bitset (ids past its end are not allowed)
   * @returns the id, or -1 when the mask allows none of the vocabulary
   */
  async forwardMasked(tokens: readonly number[], mask: Uint32Array): Promise<number> {
    const words = Math.ceil(this.#host.spec.vocabSize / 32);
    let m = mask;
    if (m.length !== words) (m = new Uint32Array(words)).set(mask.subarray(0, words));
    const id = (await this.#run(tokens, "maskedArgmax", m)) as number;
    return id === 0xffffffff ? -1 : id;
  }

  /**
   * Keep the first `length` tokens.
   *
   * @param length tokens kept
   */
  truncate(length: number): void {
    this.#tokens.truncate(length);
  }

  /**
   * Keep the longest cached prefix of `ids`.
   *
   * @param ids the next prompt
   * @returns tokens kept
   */
  reusePrefix(ids: readonly number[]): number {
    return this.#tokens.reusePrefix(ids);
  }

  /**
   * A new session holding a copy of this one's cache (copied on the device).
   *
   * @returns the copy
   */
  fork(): Session {
    const copy = this.#host.open(this.contextSize);
    copy.#tokens = this.#tokens.copy();
    const bytes = cacheLayerBytes(this.#host, this.#tokens.ids.length);
    const pairs: [GPUBuffer, GPUBuffer][] = [];
    this.#keys.forEach((k, i) => pairs.push([k, copy.#keys[i]], [this.#values[i], copy.#values[i]]));
    copy.#pending = this.#host.copy(pairs, bytes);
    return copy;
  }

  /** Free the session's buffers (its caches and parameters). */
  dispose(): void {
    if (this.#disposed) return; // the engine may dispose its sessions again
    this.#disposed = true;
    this.#buffers.destroy();
    this.#tokens.clear();
    this.#host.forget(this);
  }

  /**
   * This session's part of a batched decode step (the engine's `forwardBatch`): after any cache
   * copy still running, the token checked against the context, its dispatches (its single-token
   * step's, and its own part of a batched step's, recorded at the first), its step uniform and
   * position.
   *
   * @param token the token it appends
   * @returns the part, and `commit` to call once the step ran
   */
  async batchPart(token: number): Promise<{ part: BatchPart; commit: () => void }> {
    await this.#pending;
    if (this.#disposed) throw new Error("session disposed");
    this.#tokens.checkAppend([token]);
    if (!this.#batch) {
      const step = this.#buffers.create(STEP.size, USAGE.UNIFORM | USAGE.COPY_DST);
      const layers = this.#host.recordBatch(this.#buffers, step, this.#keys, this.#values, this.contextSize);
      this.#batch = { step, layers };
    }
    const part = { ops: this.#ops, batch: this.#batch, token, pos0: this.#tokens.ids.length };
    return { part, commit: () => this.#tokens.push([token]) };
  }

  async #run(
    tokens: readonly number[],
    mode: "argmax" | "maskedArgmax" | "last" | "all",
    mask?: Uint32Array,
  ): Promise<number | Float32Array[]> {
    await this.#pending;
    const batch = this.#host.maxBatch;
    const n = tokens.length;
    this.#tokens.checkAppend(tokens);
    const start = this.#tokens.ids.length;
    const rows: Float32Array[] = [];
    let result: number | Float32Array[] | undefined;
    for (let i = 0; i < n; i += batch) {
      const chunk = tokens.slice(i, i + batch);
      const final = i + batch >= n;
      const r = await this.#host.step(
        this.#ops,
        chunk,
        start + i,
        mode === "all" ? "all" : final ? mode : "none",
        mask,
      );
      if (mode === "all") rows.push(...(r as Float32Array[]));
      else if (final) result = r;
      this.#tokens.push(chunk);
    }
    return mode === "all" ? rows : result!;
  }
}
