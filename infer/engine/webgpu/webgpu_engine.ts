/**
 * The `webgpu` engine: the forward pass of {@linkcode ModelSpec} as WGSL kernels, one role
 * each (`embed`, `rmsnorm`, `matmul`, `rope`, `attention`, `swiglu`, `argmax`; `matvec` for
 * the products of decode steps; `attn_scores`, `softmax`, `attn_values` for the `split`
 * attention option). `forwardBatch` decodes one token for each of several sessions in one
 * pass whose products read each weight once for all of them. Weights are uploaded
 * once, in their format (16-bit weights stay 16-bit and are widened in the shader), split into
 * several buffers where a matrix exceeds the device's `maxStorageBufferBindingSize`. Bind
 * groups are built once per session, so a step is only recorded: all its dispatches go into one
 * command encoder, one submit, and one small readback (the argmax id, or the logits when asked).
 *
 * This file ties the parts together (see `mod.ts` for the map of the folder).
 *
 * @module
 */

import { type BatchStep, defaultContextSize, type Engine, type Session, type SessionOptions } from "../engine.ts";
import { type LoadedModel, loadModel, type LoadOptions } from "../../model/load_model.ts";
import type { WeightTensor } from "../../formats/quant_tensor.ts";
import type { ModelSpec } from "../../model/model_spec.ts";
import { type Activations, createActivations } from "./activations.ts";
import { USAGE } from "./buffers.ts";
import { type BatchRoom, CPU_BATCH_MOST, GPU_BATCH_MOST, hostMemory, roomIn } from "../batch_room.ts";
import { probeSessions } from "./memory_probe.ts";
import { GpuContext } from "./context.ts";
import type { MatmulStrategy } from "./kernels/matmul.ts";
import type { DecodeKernel } from "./kernels/matvec.ts";
import type { PrefillKernel } from "./kernels/matmul_tiled.ts";
import type { KvFormat } from "./kernels/kv_store.ts";
import type { AttentionKernel } from "./kernels/attention.ts";
import { int8DotAvailable } from "./kernels/int8_dot.ts";
import {
  type BatchDispatches,
  type BatchGraphInputs,
  llamaBatchGraph,
  llamaGraph,
  llamaSessionAttention,
} from "./llama_graph.ts";
import { type KernelProfile, Profiler } from "./profile.ts";
import { Recorder } from "./record.ts";
import { ropeTable } from "./rope_table.ts";
import { cacheLayerBytes, type SessionHost, WebGpuSession } from "./session.ts";
import { batchStageBytes, runBatch, runStep } from "./submit.ts";
import { type GpuMatrix, type GpuWeights, uploadWeights, WeightUploader } from "./weights.ts";

/** Options of {@linkcode WebGpuEngine.create}. */
export interface WebGpuEngineOptions {
  /** Default context size of sessions (default: the model's, at most 2048). */
  readonly contextSize?: number;
  /** Most tokens computed per submit during prefill (default 256 with the `tiled` prefill kernel, else 32). */
  readonly maxBatch?: number;
  /** Split weight matrices into buffers of at most this many bytes (default: the device's binding limit). */
  readonly maxBindingBytes?: number;
  /**
   * Make GPU time per kernel role measurable (needs `timestamp-query`); measuring starts on,
   * and {@linkcode WebGpuEngine.profiling} switches it (one pass per dispatch, slower).
   */
  readonly profile?: boolean;
  /** Use this device instead of requesting one. */
  readonly device?: GPUDevice;
  /**
   * How `matmul` splits its work: `cooperative` (workgroups reduce, for GPUs) or `rows` (one
   * row per invocation, faster on software adapters). Default: `rows` on a fallback
   * (software) adapter, else `cooperative`.
   */
  readonly matmul?: MatmulStrategy;
  /**
   * The products of decode steps, one token per session (a session's own step, or
   * `forwardBatch`'s rows): `matvec` (16-byte loads, workgroups of 256) or `matmul` (as prefill;
   * with `rows`, its decode form: 4 tokens per weight read). Either computes each token with the
   * same arithmetic whatever the count, so batched steps match single ones bit for bit. Default:
   * `matvec` with the `cooperative` strategy, else `matmul`. Prefill steps use `prefillKernel`;
   * `int8Dot` products keep their own kernel.
   */
  readonly decodeKernel?: DecodeKernel;
  /**
   * The kernel of multi-token (prefill) products: `tiled` (64 rows × 64 tokens per workgroup
   * from workgroup memory, each weight read once per 64 tokens) or `matmul`. Default: `tiled`
   * with the `cooperative` strategy, `matmul` with `rows` (software adapters).
   */
  readonly prefillKernel?: PrefillKernel;
  /**
   * The KV cache's format: `f32` (default) or `f16`, half the memory (llama.cpp's default):
   * keys and values are rounded to half precision as they are stored.
   */
  readonly kvCache?: KvFormat;
  /**
   * Multiply `q8_0` and `q4_0` weights with activations rounded to 8 bits, four products at a
   * time with WGSL's `dot4I8Packed` (llama.cpp's scheme). Default false (f32 activations);
   * refused where the adapter lacks `packed_4x8_integer_dot_product`. Other formats keep f32
   * activations here (the `cpu` oracle's `int8Dot` also rounds them for the k-quants), so
   * compare with the oracle on `q8_0`/`q4_0` models.
   */
  readonly int8Dot?: boolean;
  /**
   * How each layer's attention is dispatched: `fused` (default; one `attention` dispatch per
   * layer: RoPE on the query, scores, softmax and values in one workgroup per head and token)
   * or `split` (`rope`, `attn_scores`, `softmax`, `attn_values`: four dispatches).
   */
  readonly attention?: AttentionKernel;
}

/**
 * Whether a WebGPU adapter is available here.
 *
 * @returns true when `navigator.gpu` gives an adapter
 *
 * @example
 * ```ts
 * import { webGpuAvailable } from "./webgpu_engine.ts";
 * const ok: boolean = await webGpuAvailable();
 * ```
 */
export async function webGpuAvailable(): Promise<boolean> {
  try {
    return (await navigator.gpu?.requestAdapter()) != null;
  } catch {
    return false;
  }
}

/**
 * The WebGPU engine.
 *
 * @example
 * ```ts
 * import { loadModel, WebGpuEngine, webGpuAvailable } from "../../mod.ts";
 * import { writeRandomModel } from "../../testing/mod.ts";
 * if (await webGpuAvailable()) {
 *   const dir = await Deno.makeTempDir();
 *   await writeRandomModel(dir, { architecture: "llama", vocabSize: 32, hidden: 16, intermediate: 32, layers: 1,
 *     heads: 2, dtype: "f16" });
 *   const engine = await WebGpuEngine.create(await loadModel(dir), { contextSize: 64 });
 *   const session = engine.createSession();
 *   const id = await session.forwardGreedy([1, 2, 3]);
 *   if (!(id >= 0 && id < 32)) throw new Error();
 *   engine.dispose();
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export class WebGpuEngine implements Engine {
  /** `webgpu`. */
  readonly name = "webgpu";
  /** What the model computes. */
  readonly spec: ModelSpec;
  /** The device. */
  readonly device: GPUDevice;
  /** Default context size of sessions. */
  readonly contextSize: number;
  /** Tokens per prefill submit. */
  readonly maxBatch: number;
  /** Dispatches recorded in the last step. */
  lastDispatches = 0;
  /** Submits so far. */
  submits = 0;
  /** Bytes read back from the device by steps so far (4 for an argmax, `vocab · 4` per logits row). */
  readBytes = 0;
  /** Bytes of weights on the device. */
  readonly weightBytes: number;
  /** The most buffers one weight matrix was split into. */
  readonly maxChunks: number;
  /** The matmul strategy in use. */
  readonly matmulStrategy: MatmulStrategy;
  /** The kernel of decode steps' products. */
  readonly decodeKernel: DecodeKernel;
  /** The kernel of multi-token products. */
  readonly prefillKernel: PrefillKernel;
  /** The KV cache's format. */
  readonly kvCache: KvFormat;
  /** Whether `q8_0` and `q4_0` products use 8-bit activations. */
  readonly int8Dot: boolean;
  /** How each layer's attention is dispatched. */
  readonly attention: AttentionKernel;
  /** Whether steps are being timed per kernel role (only with `profile: true` at create). */
  profiling: boolean;

  readonly #ctx: GpuContext;
  readonly #weights: GpuWeights;
  readonly #act: Activations;
  readonly #profiler?: Profiler;
  readonly #ropeTables = new Map<number, GPUBuffer>();
  readonly #sessions = new Set<WebGpuSession>();
  readonly #host: SessionHost;
  /** The staging and read-back buffers of batched steps, for up to `sessions` sessions. */
  #batchBuffers?: { sessions: number; stage: GPUBuffer; readback: GPUBuffer };
  /** The engine's dispatches of batched decode steps (recorded at the first). */
  #batchOps?: BatchDispatches;
  #disposed = false;

  private constructor(
    model: Pick<LoadedModel<WeightTensor | GpuMatrix>, "spec" | "weights" | "loraDeltas">,
    ctx: GpuContext,
    o: WebGpuEngineOptions,
    strategy: MatmulStrategy,
  ) {
    const spec = model.spec;
    const device = ctx.device;
    this.spec = spec;
    this.device = device;
    this.#ctx = ctx;
    this.matmulStrategy = strategy;
    this.decodeKernel = o.decodeKernel ?? (strategy === "cooperative" ? "matvec" : "matmul");
    this.prefillKernel = o.prefillKernel ?? (strategy === "cooperative" ? "tiled" : "matmul");
    const limit = device.limits.maxStorageBufferBindingSize;
    this.contextSize = o.contextSize ?? defaultContextSize(spec, "webgpu");
    const rowBytes = spec.vocabSize * 4;
    const scoreBytes = spec.heads * this.contextSize * 4;
    this.maxBatch = Math.max(
      1,
      Math.min(
        o.maxBatch ?? (this.prefillKernel === "tiled" ? 256 : 32),
        Math.floor(limit / rowBytes),
        Math.floor(limit / scoreBytes),
      ),
    );
    this.profiling = o.profile === true;
    this.#weights = uploadWeights(
      ctx.buffers,
      model.weights,
      Math.min(limit, o.maxBindingBytes ?? limit),
      model.loraDeltas,
    );
    this.weightBytes = this.#weights.bytes;
    this.maxChunks = this.#weights.maxChunks;
    this.kvCache = o.kvCache ?? "f32";
    this.int8Dot = o.int8Dot === true;
    this.attention = o.attention ?? "fused";
    if (this.int8Dot && !int8DotAvailable()) {
      throw new Error("int8Dot: this adapter's WGSL lacks packed_4x8_integer_dot_product");
    }
    this.#act = createActivations(
      ctx.buffers,
      spec,
      this.maxBatch,
      this.contextSize,
      this.#weights.loraRank,
      this.kvCache,
      this.int8Dot,
    );
    if (this.profiling) {
      this.#profiler = new Profiler(device, ctx.buffers, Profiler.queryCount(spec.layers, this.maxChunks));
    }
    this.#host = {
      spec,
      device,
      maxBatch: this.maxBatch,
      kvBytes: this.kvCache === "f16" ? 2 : 4,
      record: (buffers, keys, values, context) =>
        llamaGraph(new Recorder(ctx, this.#act.step, buffers), {
          ...this.#graphInputs(),
          keys,
          values,
          context,
          ropeTable: this.#ropeTable(context),
        }),
      recordBatch: (buffers, step, keys, values, context) =>
        llamaSessionAttention(new Recorder(ctx, step, buffers), {
          ...this.#graphInputs(),
          keys,
          values,
          context,
          ropeTable: this.#ropeTable(context),
        }),
      step: (ops, tokens, pos0, mode, mask) =>
        ctx.serial(() => {
          if (this.#disposed) throw new Error("engine disposed");
          const profiler = this.profiling ? this.#profiler : undefined;
          const request = { ops, tokens, pos0, mode, vocab: spec.vocabSize, mask };
          return runStep(ctx, this.#act, request, profiler, (n, bytes) => {
            this.submits++;
            this.lastDispatches = n;
            this.readBytes += bytes;
          });
        }),
      copy: (pairs, bytes) =>
        ctx.serial(() => {
          const encoder = device.createCommandEncoder();
          for (const [from, to] of pairs) if (bytes > 0) encoder.copyBufferToBuffer(from, 0, to, 0, bytes);
          device.queue.submit([encoder.finish()]);
          return device.queue.onSubmittedWorkDone();
        }),
      open: (context) => this.createSession({ contextSize: context }) as WebGpuSession,
      forget: (session) => this.#sessions.delete(session),
    };
  }

  /**
   * Upload a model to the device.
   *
   * @param model the loaded model (updates it keeps apart, `loraMode: "separate"`, are applied
   *   at run time: `y = W·x + s·B·(A·x)`); matrices already on the device (a
   *   {@linkcode WeightUploader}'s, with `options.device` the device it uploaded to) are used as they are
   * @param options context size, batch, binding limit, profiling, device
   * @returns the engine
   * @throws {Error} when no WebGPU adapter is available
   */
  static async create(
    model: Pick<LoadedModel<WeightTensor | GpuMatrix>, "spec" | "weights" | "loraDeltas">,
    options: WebGpuEngineOptions = {},
  ): Promise<WebGpuEngine> {
    const ctx = await GpuContext.open({ device: options.device, profile: options.profile });
    const engine = new WebGpuEngine(model, ctx, options, options.matmul ?? (ctx.software ? "rows" : "cooperative"));
    await ctx.device.queue.onSubmittedWorkDone();
    return engine;
  }

  /**
   * Load a model folder straight onto the device: each weight matrix is uploaded as soon as it
   * is read (its LoRA merged), and the queue is flushed as loading goes, so host memory holds
   * about one tensor at a time rather than the model (see {@linkcode WeightUploader}).
   *
   * @param dir the model folder
   * @param options engine options, and the adapter, format and progress of loading
   * @returns the engine
   * @throws {InputError} for a bad model folder or adapter
   * @throws {Error} when no WebGPU adapter is available
   *
   * @example
   * ```ts
   * import { WebGpuEngine, webGpuAvailable } from "../../mod.ts";
   * import { writeRandomModel } from "../../testing/mod.ts";
   * if (await webGpuAvailable()) {
   *   const dir = await Deno.makeTempDir();
   *   await writeRandomModel(dir, { architecture: "llama", vocabSize: 32, hidden: 16, intermediate: 32, layers: 1,
   *     heads: 2 });
   *   const engine = await WebGpuEngine.load(dir, { contextSize: 64 });
   *   // Embedding and output, four attention and three MLP matrices, three norms; f32.
   *   if (engine.weightBytes !== (2 * 32 * 16 + 4 * 16 * 16 + 3 * 16 * 32 + 3 * 16) * 4) {
   *     throw new Error(String(engine.weightBytes));
   *   }
   *   engine.dispose();
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  static async load(
    dir: string,
    options: WebGpuEngineOptions & Omit<LoadOptions, "place"> = {},
  ): Promise<WebGpuEngine> {
    const ctx = await GpuContext.open({ device: options.device, profile: options.profile });
    try {
      const limit = ctx.device.limits.maxStorageBufferBindingSize;
      const uploader = new WeightUploader(ctx.device, ctx.buffers, Math.min(limit, options.maxBindingBytes ?? limit));
      const model = await loadModel<GpuMatrix>(dir, { ...options, place: (t) => uploader.matrix(t) });
      await uploader.flush();
      const engine = new WebGpuEngine(model, ctx, options, options.matmul ?? (ctx.software ? "rows" : "cooperative"));
      await ctx.device.queue.onSubmittedWorkDone();
      return engine;
    } catch (e) {
      ctx.dispose();
      throw e;
    }
  }

  /**
   * A new, empty session (its own KV cache on the device).
   *
   * @param options context size
   * @returns the session
   */
  createSession(options: SessionOptions = {}): Session {
    if (this.#disposed) throw new Error("engine disposed");
    const context = options.contextSize ?? this.contextSize;
    if (context > this.contextSize) {
      throw new RangeError(`context ${context} exceeds the engine's ${this.contextSize} (set contextSize at create)`);
    }
    const session = new WebGpuSession(this.#host, context);
    this.#sessions.add(session);
    return session;
  }

  /**
   * How many more sessions its memory has room for, at most 32 on a GPU and 16 on a software
   * adapter. A session allocates its caches at the engine's context size when it is created,
   * whatever `tokens`: per layer, keys and values of `contextSize` positions. A GPU does not say
   * how much memory it has left, so caches are allocated until it runs out, then freed
   * (`probeSessions`, which leaves an eighth free); a software adapter's memory is the host's
   * (`hostMemory`). None where a cache layer would pass the device's binding limit.
   *
   * @param _tokens the most tokens each session holds (the caches are made for `contextSize`)
   * @returns the count and what bounded it
   *
   * @example
   * ```ts
   * import { loadModel, WebGpuEngine } from "../../mod.ts";
   * import { writeRandomModel } from "../../testing/mod.ts";
   * if (await navigator.gpu?.requestAdapter()) {
   *   const dir = await Deno.makeTempDir();
   *   await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
   *   const engine = await WebGpuEngine.create(await loadModel(dir), { contextSize: 64 });
   *   const room = await engine.batchRoom(64);
   *   if (room.sessions < 1 || room.sessionBytes !== 2 * 64 * 8 * 4) throw new Error(JSON.stringify(room));
   *   engine.dispose();
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  async batchRoom(_tokens: number): Promise<BatchRoom> {
    const { spec } = this;
    const layerBytes = cacheLayerBytes(this.#host, this.contextSize);
    const bytes = 2 * spec.layers * layerBytes;
    const most = this.#ctx.software ? CPU_BATCH_MOST : GPU_BATCH_MOST;
    const session = { bytes, tokens: this.contextSize };
    // A cache layer past the binding limit is refused when a session is made: none is counted.
    if (layerBytes > this.device.limits.maxStorageBufferBindingSize) {
      return roomIn(session, most, [{ bytes: 0, name: "the device's binding limit" }]);
    }
    if (this.#ctx.software) return roomIn(session, most, [hostMemory(0)]);
    const sessions = await probeSessions(this.device, 2 * spec.layers, layerBytes, most);
    return { sessions, most, sessionBytes: bytes, tokens: this.contextSize, bound: "the GPU's free memory (probed)" };
  }

  /**
   * One decode step of several of this engine's sessions (one token each) in one submit and one
   * read back, batched: session `i`'s token is row `i` of the work buffers, and every product
   * (Q/K/V, output projection, MLP, logits, LoRA updates) runs once over all the rows, so each
   * weight is read once per step for all the sessions rather than once per session; each
   * session's own part (RoPE at its position, its key and value into its cache, attention over
   * its cache) runs over its own buffers with its own step uniform. Up to `maxBatch` sessions a
   * pass; more take several passes of the same submit. The products' kernels are those of a
   * single session's decode step, whose arithmetic per token does not depend on how many
   * tokens there are, so each session's logits equal those of its own `forward([token])` bit
   * for bit. With profiling on, the sessions step one at a time.
   *
   * @param steps the sessions (each once) and their tokens
   * @returns each one's next-token logits
   * @throws {TypeError} for a session of another engine
   * @throws {RangeError} for a session given twice, or one whose context is full
   *
   * @example
   * ```ts
   * import { loadModel, webGpuAvailable, WebGpuEngine } from "../../mod.ts";
   * import { writeRandomModel } from "../../testing/mod.ts";
   * if (await webGpuAvailable()) {
   *   const dir = await Deno.makeTempDir();
   *   await writeRandomModel(dir, { architecture: "llama", vocabSize: 32, hidden: 16, intermediate: 32, layers: 1, heads: 2 });
   *   const engine = await WebGpuEngine.create(await loadModel(dir), { contextSize: 16 });
   *   const [a, b, c] = [engine.createSession(), engine.createSession(), engine.createSession()];
   *   await a.forward([1, 2]);
   *   await b.forward([3]);
   *   await c.forward([1, 2]);
   *   const [la] = await engine.forwardBatch([{ session: a, token: 5 }, { session: b, token: 6 }]);
   *   const alone = await c.forward([5]);
   *   if (la.some((v, i) => v !== alone[i]) || a.tokens.length !== 3) throw new Error();
   *   engine.dispose();
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  async forwardBatch(steps: readonly BatchStep[]): Promise<Float32Array[]> {
    const sessions = steps.map((s) => s.session);
    for (const s of sessions) {
      if (!(s instanceof WebGpuSession) || !this.#sessions.has(s)) {
        throw new TypeError("a batched step takes sessions of one engine");
      }
    }
    if (new Set(sessions).size < sessions.length) throw new RangeError("a batched step takes each session once");
    if (this.profiling) {
      const out: Float32Array[] = [];
      for (const { session, token } of steps) out.push(await session.forward([token]));
      return out;
    }
    if (steps.length === 0) return [];
    const parts = await Promise.all(steps.map(({ session, token }) => (session as WebGpuSession).batchPart(token)));
    const vocab = this.spec.vocabSize;
    const logits = await this.#ctx.serial(() => {
      if (this.#disposed) throw new Error("engine disposed");
      this.#batchOps ??= llamaBatchGraph(
        new Recorder(this.#ctx, this.#act.step, this.#ctx.buffers),
        this.#graphInputs(),
      );
      const had = this.#batchBuffers;
      if (!had || had.sessions < parts.length) {
        if (had) {
          this.#ctx.buffers.release(had.stage);
          this.#ctx.buffers.release(had.readback);
        }
        const sessions = Math.max(parts.length, 2 * (had?.sessions ?? 0));
        const passes = Math.ceil(sessions / this.maxBatch);
        this.#batchBuffers = {
          sessions,
          stage: this.#ctx.buffers.create(passes * batchStageBytes(this.maxBatch), USAGE.COPY_SRC | USAGE.COPY_DST),
          readback: this.#ctx.buffers.create(sessions * vocab * 4, USAGE.MAP_READ | USAGE.COPY_DST),
        };
      }
      const { stage, readback } = this.#batchBuffers!;
      return runBatch(this.#ctx, this.#act, this.#batchOps, parts.map((p) => p.part), vocab, stage, readback, (n) => {
        this.submits++;
        this.lastDispatches = n;
        this.readBytes += parts.length * vocab * 4;
      });
    });
    for (const p of parts) p.commit();
    return logits;
  }

  /** Free every device buffer (sessions' included) and the device, when the engine requested it. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const s of this.#sessions) s.dispose();
    this.#sessions.clear();
    this.#profiler?.dispose();
    this.#ctx.dispose();
  }

  /**
   * GPU time per kernel role since the last reset (with `profile: true`).
   *
   * @returns the profile
   */
  profile(): KernelProfile {
    return this.#profiler?.result() ?? { ms: {}, dispatches: {}, steps: 0 };
  }

  /** Clear the profile. */
  resetProfile(): void {
    this.#profiler?.reset();
  }

  /** What every graph of this engine is recorded over, but a session's caches. */
  #graphInputs(): BatchGraphInputs {
    return {
      spec: this.spec,
      weights: this.#weights,
      act: this.#act,
      strategy: this.matmulStrategy,
      prefill: this.prefillKernel,
      kv: this.kvCache,
      int8: this.int8Dot,
      decodeKernel: this.decodeKernel,
      attention: this.attention,
    };
  }

  /** The cos/sin table for `context` positions, made once per size. */
  #ropeTable(context: number): GPUBuffer {
    let b = this.#ropeTables.get(context);
    if (!b) {
      b = this.#ctx.buffers.f32(ropeTable(this.spec, context), USAGE.STORAGE);
      this.#ropeTables.set(context, b);
    }
    return b;
  }
}
