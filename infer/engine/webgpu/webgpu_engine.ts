/**
 * The `webgpu` engine: the forward pass of {@linkcode ModelSpec} as WGSL kernels, one role
 * each (`embed`, `rmsnorm`, `matmul`, `rope`, `attn_scores`, `softmax`, `attn_values`,
 * `swiglu`, `argmax`). Weights are uploaded once, in their format (16-bit weights stay 16-bit
 * and are widened in the shader), split into several buffers where a matrix exceeds the
 * device's `maxStorageBufferBindingSize`. Bind groups are built once per session, so a step
 * is only recorded: all its dispatches go into one command encoder, one submit, and one small
 * readback (the argmax id, or the logits when asked).
 *
 * @module
 */

import { UsageError } from "../../../io/errors.ts";
import { type DType, DTYPE_BYTES } from "../../formats/dtype.ts";
import { type Engine, type Session, type SessionOptions } from "../engine.ts";
import { SessionTokens } from "../session_tokens.ts";
import { isSoftwareAdapter } from "./adapter.ts";
import type { LoadedModel } from "../../model/load_model.ts";
import { alibiSlopes, type ModelSpec, type ModelWeights, ropeInvFreq } from "../../model/model_spec.ts";
import { castTensor, type Tensor } from "../../formats/tensor.ts";
import { argmaxWgsl } from "./argmax.wgsl.ts";
import { attnScoresWgsl } from "./attn_scores.wgsl.ts";
import { attnValuesWgsl } from "./attn_values.wgsl.ts";
import { embedWgsl } from "./embed.wgsl.ts";
import { MATMUL_ROWS, MATMUL_ROWS_PER_GROUP, MATMUL_TOKENS, type MatmulStrategy, matmulWgsl } from "./matmul.wgsl.ts";
import { rmsnormWgsl } from "./rmsnorm.wgsl.ts";
import { ropeWgsl } from "./rope.wgsl.ts";
import { softmaxWgsl } from "./softmax.wgsl.ts";
import { swigluWgsl } from "./swiglu.wgsl.ts";

/** Options of {@linkcode WebGpuEngine.create}. */
export interface WebGpuEngineOptions {
  /** Default context size of sessions (default: the model's, at most 2048). */
  readonly contextSize?: number;
  /** Most tokens computed per submit during prefill (default 32). */
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
}

/** The kernel roles, for profiles and counts. */
export type KernelRole =
  | "embed"
  | "rmsnorm"
  | "matmul"
  | "rope"
  | "attn_scores"
  | "softmax"
  | "attn_values"
  | "swiglu"
  | "argmax";

/** GPU time per kernel role, accumulated since the last reset. */
export interface KernelProfile {
  /** Milliseconds of GPU time per role. */
  readonly ms: Readonly<Record<string, number>>;
  /** Dispatches per role. */
  readonly dispatches: Readonly<Record<string, number>>;
  /** Steps (submits) measured. */
  readonly steps: number;
}

/** A weight matrix on the device, in row chunks that each fit one binding. */
interface GpuMatrix {
  readonly dtype: DType;
  readonly rows: number;
  readonly cols: number;
  readonly chunks: readonly { readonly buffer: GPUBuffer; readonly rowStart: number; readonly rows: number }[];
}

interface GpuLayer {
  attnNorm: GPUBuffer;
  ffnNorm: GPUBuffer;
  wq: GpuMatrix;
  wk: GpuMatrix;
  wv: GpuMatrix;
  wo: GpuMatrix;
  w1: GpuMatrix;
  w2: GpuMatrix;
  w3: GpuMatrix;
  bq?: GPUBuffer;
  bk?: GPUBuffer;
  bv?: GPUBuffer;
  bo?: GPUBuffer;
}

/** One recorded dispatch of a session's step: pipeline, bindings and grid. */
export interface RecordedDispatch {
  /** The kernel role (for profiles). */
  readonly role: KernelRole;
  /** The compute pipeline. */
  readonly pipeline: GPUComputePipeline;
  /** Its bindings (built once per session). */
  readonly bindGroup: GPUBindGroup;
  /** Workgroup counts from the step's token count and the keys cached after it. */
  readonly grid: (n: number, kvLen: number) => [number, number, number];
}

/** A session's recorded dispatches: the layers, and the tails for each kind of readback. */
export interface StepDispatches {
  /** Embedding and every layer. */
  readonly body: readonly RecordedDispatch[];
  /** Final norm and logits of the last token. */
  readonly last: readonly RecordedDispatch[];
  /** `last` and the argmax. */
  readonly argmax: readonly RecordedDispatch[];
  /** Final norm and logits of every token. */
  readonly all: readonly RecordedDispatch[];
}

const STORAGE = 0x0080; // GPUBufferUsage.STORAGE
const UNIFORM = 0x0040;
const COPY_DST = 0x0008;
const COPY_SRC = 0x0004;
const MAP_READ = 0x0001;
const QUERY_RESOLVE = 0x0200;

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
  /** Bytes of weights on the device. */
  readonly weightBytes: number;
  /** The most buffers one weight matrix was split into. */
  readonly maxChunks: number;
  /** The matmul strategy in use. */
  readonly matmulStrategy: MatmulStrategy;

  /** Whether steps are being timed per kernel role (only with `profile: true` at create). */
  profiling: boolean;
  readonly #pipelines = new Map<string, GPUComputePipeline>();
  readonly #owned: GPUBuffer[] = [];
  readonly #sessions = new Set<Session>();
  #ownsDevice = false;
  #queue: Promise<unknown> = Promise.resolve();
  #profileMs: Record<string, number> = {};
  #profileCount: Record<string, number> = {};
  #profileSteps = 0;
  #disposed = false;
  // device-side model and scratch
  readonly #embed: GpuMatrix;
  readonly #output: GpuMatrix;
  readonly #norm: GPUBuffer;
  readonly #layers: GpuLayer[];
  readonly #slopes: GPUBuffer;
  readonly #stepBuf: GPUBuffer;
  readonly #ids: GPUBuffer;
  readonly #scratch: Record<"x" | "xn" | "q" | "attn" | "gate" | "up" | "scores" | "logits" | "argmax", GPUBuffer>;
  readonly #readback: GPUBuffer;
  readonly #ropeTables = new Map<number, GPUBuffer>();
  readonly #querySet?: GPUQuerySet;
  readonly #queryResolve?: GPUBuffer;
  readonly #queryRead?: GPUBuffer;

  private constructor(
    model: Pick<LoadedModel, "spec" | "weights">,
    device: GPUDevice,
    o: WebGpuEngineOptions,
    strategy: MatmulStrategy,
  ) {
    this.spec = model.spec;
    this.device = device;
    this.matmulStrategy = strategy;
    const spec = this.spec;
    const limit = device.limits.maxStorageBufferBindingSize;
    const weightLimit = Math.min(limit, o.maxBindingBytes ?? limit);
    this.contextSize = o.contextSize ?? Math.min(spec.maxPositions, 2048);
    const rowBytes = spec.vocabSize * 4;
    const scoreBytes = spec.heads * this.contextSize * 4;
    this.maxBatch = Math.max(
      1,
      Math.min(o.maxBatch ?? 32, Math.floor(limit / rowBytes), Math.floor(limit / scoreBytes)),
    );
    this.profiling = o.profile === true;

    const w: ModelWeights = model.weights;
    let bytes = 0;
    let chunks = 1;
    const matrix = (t: Tensor): GpuMatrix => {
      const m = this.#uploadMatrix(t, weightLimit);
      bytes += m.rows * m.cols * DTYPE_BYTES[m.dtype];
      chunks = Math.max(chunks, m.chunks.length);
      return m;
    };
    const vector = (t: Tensor | undefined): GPUBuffer | undefined => {
      if (!t) return undefined;
      bytes += t.data.length * 4;
      return this.#f32Buffer(castTensor(t, "f32").data as Float32Array, STORAGE);
    };
    this.#embed = matrix(w.embed);
    this.#output = w.output === w.embed ? this.#embed : matrix(w.output);
    this.#norm = vector(w.norm)!;
    this.#layers = w.layers.map((l) => ({
      attnNorm: vector(l.attnNorm)!,
      ffnNorm: vector(l.ffnNorm)!,
      wq: matrix(l.wq),
      wk: matrix(l.wk),
      wv: matrix(l.wv),
      wo: matrix(l.wo),
      w1: matrix(l.w1),
      w2: matrix(l.w2),
      w3: matrix(l.w3),
      bq: vector(l.bq),
      bk: vector(l.bk),
      bv: vector(l.bv),
      bo: vector(l.bo),
    }));
    this.weightBytes = bytes;
    this.maxChunks = chunks;
    const slopes = spec.position.kind === "alibi" ? Float32Array.from(alibiSlopes(spec.heads)) : new Float32Array(1);
    this.#slopes = this.#f32Buffer(slopes, STORAGE);
    this.#stepBuf = this.#buffer(16, UNIFORM | COPY_DST);
    this.#ids = this.#buffer(this.maxBatch * 4, STORAGE | COPY_DST);
    const B = this.maxBatch;
    const q = spec.heads * spec.headDim;
    const f = (n: number) => this.#buffer(n * 4, STORAGE | COPY_SRC | COPY_DST);
    this.#scratch = {
      x: f(B * spec.hidden),
      xn: f(B * Math.max(spec.hidden, q)),
      q: f(B * q),
      attn: f(B * q),
      gate: f(B * spec.intermediate),
      up: f(B * spec.intermediate),
      scores: f(spec.heads * B * this.contextSize),
      logits: f(B * spec.vocabSize),
      argmax: f(1),
    };
    this.#readback = this.#buffer(B * spec.vocabSize * 4, MAP_READ | COPY_DST);
    if (this.profiling) {
      const count = 2 * (16 * spec.layers + 8 + 4 * chunks * (spec.layers * 7 + 2));
      this.#querySet = device.createQuerySet({ type: "timestamp", count });
      this.#queryResolve = this.#buffer(count * 8, QUERY_RESOLVE | COPY_SRC);
      this.#queryRead = this.#buffer(count * 8, MAP_READ | COPY_DST);
    }
  }

  /**
   * Upload a model to the device.
   *
   * @param model the loaded model
   * @param options context size, batch, binding limit, profiling, device
   * @returns the engine
   * @throws {Error} when no WebGPU adapter is available
   */
  static async create(
    model: Pick<LoadedModel, "spec" | "weights">,
    options: WebGpuEngineOptions = {},
  ): Promise<WebGpuEngine> {
    let device = options.device;
    let software = false;
    if (!device) {
      const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
      if (!adapter) throw new UsageError("no WebGPU adapter available here (use --engine cpu)");
      software = isSoftwareAdapter(adapter.info);
      const features: GPUFeatureName[] = [];
      if (options.profile) {
        if (!adapter.features.has("timestamp-query")) throw new Error("profiling needs the timestamp-query feature");
        features.push("timestamp-query");
      }
      device = await adapter.requestDevice({
        requiredFeatures: features,
        requiredLimits: {
          maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
          maxBufferSize: adapter.limits.maxBufferSize,
          maxStorageBuffersPerShaderStage: Math.min(adapter.limits.maxStorageBuffersPerShaderStage, 8),
          maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
        },
      });
    }
    const engine = new WebGpuEngine(model, device, options, options.matmul ?? (software ? "rows" : "cooperative"));
    if (!options.device) engine.#ownsDevice = true;
    await device.queue.onSubmittedWorkDone();
    return engine;
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
    const session = new WebGpuSession(this, context);
    this.#sessions.add(session);
    return session;
  }

  /** Free every device buffer (sessions' caches included) and the device, when the engine requested it. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const s of this.#sessions) s.dispose();
    this.#sessions.clear();
    for (const b of this.#owned) b.destroy();
    this.#querySet?.destroy();
    if (this.#ownsDevice) this.device.destroy();
  }

  /** A session's caches were freed (called by the session). */
  forget(session: Session): void {
    this.#sessions.delete(session);
  }

  /**
   * GPU time per kernel role since the last reset (with `profile: true`).
   *
   * @returns the profile
   */
  profile(): KernelProfile {
    return { ms: { ...this.#profileMs }, dispatches: { ...this.#profileCount }, steps: this.#profileSteps };
  }

  /** Clear the profile. */
  resetProfile(): void {
    this.#profileMs = {};
    this.#profileCount = {};
    this.#profileSteps = 0;
  }

  // ---- buffers ----

  #buffer(size: number, usage: number): GPUBuffer {
    const b = this.device.createBuffer({ size: Math.max(4, Math.ceil(size / 4) * 4), usage });
    this.#owned.push(b);
    return b;
  }

  #f32Buffer(data: Float32Array, usage: number): GPUBuffer {
    const b = this.device.createBuffer({ size: Math.max(4, data.byteLength), usage, mappedAtCreation: true });
    new Float32Array(b.getMappedRange()).set(data);
    b.unmap();
    this.#owned.push(b);
    return b;
  }

  #uniform(values: (number | { f32: number })[]): GPUBuffer {
    const size = Math.ceil(values.length / 4) * 16;
    const b = this.device.createBuffer({ size, usage: UNIFORM, mappedAtCreation: true });
    const range = b.getMappedRange();
    const u = new Uint32Array(range);
    const f = new Float32Array(range);
    values.forEach((v, i) => typeof v === "number" ? (u[i] = v) : (f[i] = v.f32));
    b.unmap();
    this.#owned.push(b);
    return b;
  }

  /** Weights in their format, in row chunks of at most `limit` bytes (and dispatchable). */
  #uploadMatrix(t: Tensor, limit: number): GpuMatrix {
    const [rows, cols] = t.shape;
    // 16-bit pairs are read as one u32: an odd row length would split pairs across rows.
    const tensor = t.dtype !== "f32" && cols % 2 === 1 ? castTensor(t, "f32") : t;
    const bytes = DTYPE_BYTES[tensor.dtype];
    let per = Math.max(1, Math.floor(limit / (cols * bytes)));
    per = Math.min(per, 65535 * MATMUL_ROWS);
    if (tensor.dtype !== "f32" && per > 1) per -= per % 2;
    const chunks = [];
    for (let r = 0; r < rows; r += per) {
      const n = Math.min(per, rows - r);
      const part = tensor.data.subarray(r * cols, (r + n) * cols);
      const size = Math.ceil(part.byteLength / 4) * 4;
      const buffer = this.device.createBuffer({ size: Math.max(4, size), usage: STORAGE, mappedAtCreation: true });
      new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
      buffer.unmap();
      this.#owned.push(buffer);
      chunks.push({ buffer, rowStart: r, rows: n });
    }
    return { dtype: tensor.dtype, rows, cols, chunks };
  }

  /**
   * Cos/sin of every position and frequency, computed once in double precision.
   *
   * @param context positions
   * @returns the table buffer
   */
  ropeTable(context: number): GPUBuffer {
    let b = this.#ropeTables.get(context);
    if (b) return b;
    const pos = this.spec.position;
    const half = this.spec.headDim / 2;
    const table = new Float32Array(context * half * 2);
    if (pos.kind === "rope") {
      const inv = ropeInvFreq(pos, this.spec.headDim);
      for (let p = 0; p < context; p++) {
        for (let i = 0; i < half; i++) {
          table[2 * (p * half + i)] = Math.cos(p * inv[i]);
          table[2 * (p * half + i) + 1] = Math.sin(p * inv[i]);
        }
      }
    }
    b = this.#f32Buffer(table, STORAGE);
    this.#ropeTables.set(context, b);
    return b;
  }

  #pipeline(code: string): GPUComputePipeline {
    let p = this.#pipelines.get(code);
    if (!p) {
      p = this.device.createComputePipeline({
        layout: "auto",
        compute: { module: this.device.createShaderModule({ code }), entryPoint: "main" },
      });
      this.#pipelines.set(code, p);
    }
    return p;
  }

  #op(role: KernelRole, code: string, resources: GPUBuffer[], grid: RecordedDispatch["grid"]): RecordedDispatch {
    const pipeline = this.#pipeline(code);
    const bindGroup = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: resources.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    return { role, pipeline, bindGroup, grid };
  }

  /** `y (+)= W · x (+ b)`, one dispatch per chunk. */
  #matmul(
    m: GpuMatrix,
    x: GPUBuffer,
    y: GPUBuffer,
    o: { bias?: GPUBuffer; yStride: number; yPos?: boolean; oneToken?: boolean; accumulate?: boolean },
  ): RecordedDispatch[] {
    return m.chunks.map((c) => {
      const params = this.#uniform([
        m.cols,
        c.rows,
        c.rowStart,
        o.yStride,
        o.yPos ? 1 : 0,
        o.oneToken ? 1 : 0,
        o.accumulate ? 1 : 0,
        0,
      ]);
      const res = [params, this.#stepBuf, x, c.buffer, y];
      if (o.bias) res.push(o.bias);
      const rows = this.matmulStrategy === "rows";
      return this.#op("matmul", matmulWgsl(m.dtype, o.bias !== undefined, this.matmulStrategy), res, (n) => [
        Math.ceil(c.rows / (rows ? MATMUL_ROWS_PER_GROUP : MATMUL_ROWS)),
        o.oneToken ? 1 : Math.ceil(n / MATMUL_TOKENS),
        1,
      ]);
    });
  }

  /**
   * Record the dispatches of a step for a session's caches (used by sessions).
   *
   * @param keys the session's key cache, one buffer per layer
   * @param values its value cache
   * @param context its context size
   * @returns the body and the three possible tails
   */
  buildOps(keys: GPUBuffer[], values: GPUBuffer[], context: number): StepDispatches {
    const spec = this.spec;
    const s = this.#scratch;
    const q = spec.heads * spec.headDim;
    const kvDim = spec.kvHeads * spec.headDim;
    const B = this.maxBatch;
    const body: RecordedDispatch[] = [];
    for (const c of this.#embed.chunks) {
      const params = this.#uniform([spec.hidden, c.rowStart, c.rows, 0]);
      body.push(
        this.#op("embed", embedWgsl(this.#embed.dtype), [params, this.#stepBuf, this.#ids, c.buffer, s.x], (n) => [
          Math.ceil(spec.hidden / 64),
          n,
          1,
        ]),
      );
    }
    const normParams = this.#uniform([spec.hidden, 0, { f32: spec.normEps }, 0]);
    const rope = spec.position.kind === "rope";
    const table = this.ropeTable(context);
    const ropeQ = this.#uniform([spec.heads, spec.headDim, 0, 0]);
    const ropeK = this.#uniform([spec.kvHeads, spec.headDim, 1, 0]);
    const attnParams = this.#uniform([
      spec.heads,
      spec.kvHeads,
      spec.headDim,
      B,
      context,
      rope ? 0 : 1,
      { f32: 1 / Math.sqrt(spec.headDim) },
      0,
    ]);
    const softParams = this.#uniform([B, context, 0, 0]);
    const swiParams = this.#uniform([spec.intermediate, 0, 0, 0]);
    const half = spec.headDim / 2;
    this.#layers.forEach((l, i) => {
      body.push(
        this.#op("rmsnorm", rmsnormWgsl(), [normParams, this.#stepBuf, s.x, l.attnNorm, s.xn], (n) => [n, 1, 1]),
      );
      body.push(...this.#matmul(l.wq, s.xn, s.q, { bias: l.bq, yStride: q }));
      body.push(...this.#matmul(l.wk, s.xn, keys[i], { bias: l.bk, yStride: kvDim, yPos: true }));
      body.push(...this.#matmul(l.wv, s.xn, values[i], { bias: l.bv, yStride: kvDim, yPos: true }));
      if (rope) {
        body.push(this.#op("rope", ropeWgsl(), [ropeQ, this.#stepBuf, s.q, table], (n) => [
          Math.ceil(spec.heads * half / 64),
          n,
          1,
        ]));
        body.push(this.#op("rope", ropeWgsl(), [ropeK, this.#stepBuf, keys[i], table], (n) => [
          Math.ceil(spec.kvHeads * half / 64),
          n,
          1,
        ]));
      }
      body.push(
        this.#op("attn_scores", attnScoresWgsl(), [attnParams, this.#stepBuf, s.q, keys[i], s.scores, this.#slopes], (
          n,
          kvLen,
        ) => [Math.ceil(kvLen / 64), spec.heads, n]),
      );
      body.push(this.#op("softmax", softmaxWgsl(), [softParams, this.#stepBuf, s.scores], (n) => [spec.heads, n, 1]));
      body.push(
        this.#op("attn_values", attnValuesWgsl(), [attnParams, this.#stepBuf, s.scores, values[i], s.attn], (n) => [
          spec.heads,
          n,
          1,
        ]),
      );
      body.push(...this.#matmul(l.wo, s.attn, s.x, { bias: l.bo, yStride: spec.hidden, accumulate: true }));
      body.push(
        this.#op("rmsnorm", rmsnormWgsl(), [normParams, this.#stepBuf, s.x, l.ffnNorm, s.xn], (n) => [n, 1, 1]),
      );
      body.push(...this.#matmul(l.w1, s.xn, s.gate, { yStride: spec.intermediate }));
      body.push(...this.#matmul(l.w3, s.xn, s.up, { yStride: spec.intermediate }));
      body.push(this.#op("swiglu", swigluWgsl(), [swiParams, this.#stepBuf, s.gate, s.up], (n) => {
        const groups = Math.ceil(n * spec.intermediate / 64);
        return groups <= 65535 ? [groups, 1, 1] : [65535, Math.ceil(groups / 65535), 1];
      }));
      body.push(...this.#matmul(l.w2, s.gate, s.x, { yStride: spec.hidden, accumulate: true }));
    });
    const lastNorm = this.#uniform([spec.hidden, 1, { f32: spec.normEps }, 0]);
    const last = [
      this.#op("rmsnorm", rmsnormWgsl(), [lastNorm, this.#stepBuf, s.x, this.#norm, s.xn], () => [1, 1, 1]),
      ...this.#matmul(this.#output, s.xn, s.logits, { yStride: spec.vocabSize, oneToken: true }),
    ];
    const argParams = this.#uniform([spec.vocabSize, 0, 0, 0]);
    const argmax = [
      ...last,
      this.#op("argmax", argmaxWgsl(), [argParams, s.logits, s.argmax], () => [1, 1, 1]),
    ];
    const all = [
      this.#op("rmsnorm", rmsnormWgsl(), [normParams, this.#stepBuf, s.x, this.#norm, s.xn], (n) => [n, 1, 1]),
      ...this.#matmul(this.#output, s.xn, s.logits, { yStride: spec.vocabSize }),
    ];
    return { body, last, argmax, all };
  }

  /**
   * A key or value cache buffer for one layer (used by sessions).
   *
   * @param context tokens it holds
   * @returns the buffer
   */
  cacheBuffer(context: number): GPUBuffer {
    const bytes = context * this.spec.kvHeads * this.spec.headDim * 4;
    if (bytes > this.device.limits.maxStorageBufferBindingSize) {
      throw new RangeError(`a ${context}-token KV cache layer needs ${bytes} bytes, over the device's binding limit`);
    }
    return this.device.createBuffer({ size: bytes, usage: STORAGE | COPY_SRC | COPY_DST });
  }

  /**
   * Run one step (at most `maxBatch` tokens) in one submit; read back what `mode` asks for.
   *
   * @param ops the session's dispatches
   * @param tokens the step's tokens
   * @param pos0 position of the first
   * @param mode `none` (no readback), `argmax` (4 bytes), `last` (the last logits) or `all`
   * @returns the id, the logits rows, or nothing
   */
  step(
    ops: StepDispatches,
    tokens: readonly number[],
    pos0: number,
    mode: "none" | "argmax" | "last" | "all",
  ): Promise<number | Float32Array[] | undefined> {
    const run = async () => {
      if (this.#disposed) throw new Error("engine disposed");
      const n = tokens.length;
      const q = this.device.queue;
      q.writeBuffer(this.#ids, 0, Uint32Array.from(tokens));
      q.writeBuffer(this.#stepBuf, 0, new Uint32Array([n, pos0, pos0 + n, n - 1]));
      const list: RecordedDispatch[] = [...ops.body, ...(mode === "none" ? [] : mode === "all" ? ops.all : ops[mode])];
      const encoder = this.device.createCommandEncoder();
      const timed = this.profiling && this.#querySet !== undefined;
      if (timed) {
        list.forEach((op, i) => {
          const pass = encoder.beginComputePass({
            timestampWrites: {
              querySet: this.#querySet!,
              beginningOfPassWriteIndex: 2 * i,
              endOfPassWriteIndex: 2 * i + 1,
            },
          });
          pass.setPipeline(op.pipeline);
          pass.setBindGroup(0, op.bindGroup);
          pass.dispatchWorkgroups(...op.grid(n, pos0 + n));
          pass.end();
        });
        encoder.resolveQuerySet(this.#querySet, 0, 2 * list.length, this.#queryResolve!, 0);
        encoder.copyBufferToBuffer(this.#queryResolve!, 0, this.#queryRead!, 0, 2 * list.length * 8);
      } else {
        const pass = encoder.beginComputePass();
        for (const op of list) {
          pass.setPipeline(op.pipeline);
          pass.setBindGroup(0, op.bindGroup);
          pass.dispatchWorkgroups(...op.grid(n, pos0 + n));
        }
        pass.end();
      }
      const vocab = this.spec.vocabSize;
      const readBytes = mode === "argmax" ? 4 : mode === "last" ? vocab * 4 : mode === "all" ? n * vocab * 4 : 0;
      if (readBytes > 0) {
        encoder.copyBufferToBuffer(
          mode === "argmax" ? this.#scratch.argmax : this.#scratch.logits,
          0,
          this.#readback,
          0,
          readBytes,
        );
      }
      q.submit([encoder.finish()]);
      this.submits++;
      this.lastDispatches = list.length;
      if (timed) await this.#collectProfile(list);
      if (readBytes === 0) return undefined;
      await this.#readback.mapAsync(1, /* GPUMapMode.READ */ 0, readBytes);
      const data = new Float32Array(this.#readback.getMappedRange(0, readBytes).slice(0));
      this.#readback.unmap();
      if (mode === "argmax") return new Uint32Array(data.buffer)[0];
      if (mode === "last") return [data];
      return Array.from({ length: n }, (_, t) => data.subarray(t * vocab, (t + 1) * vocab));
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => {});
    return result;
  }

  /**
   * Copy caches on the device, in one submit (used by `fork`).
   *
   * @param pairs source and destination buffers
   * @param bytes bytes to copy from each
   * @returns when done
   */
  copyCaches(pairs: [GPUBuffer, GPUBuffer][], bytes: number): Promise<void> {
    const run = () => {
      const encoder = this.device.createCommandEncoder();
      for (const [from, to] of pairs) if (bytes > 0) encoder.copyBufferToBuffer(from, 0, to, 0, bytes);
      this.device.queue.submit([encoder.finish()]);
      return this.device.queue.onSubmittedWorkDone();
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => {});
    return result;
  }

  async #collectProfile(list: RecordedDispatch[]): Promise<void> {
    const read = this.#queryRead!;
    await read.mapAsync(1, 0, 2 * list.length * 8);
    const t = new BigInt64Array(read.getMappedRange(0, 2 * list.length * 8).slice(0));
    read.unmap();
    list.forEach((op, i) => {
      const ms = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
      this.#profileMs[op.role] = (this.#profileMs[op.role] ?? 0) + Math.max(0, ms);
      this.#profileCount[op.role] = (this.#profileCount[op.role] ?? 0) + 1;
    });
    this.#profileSteps++;
  }
}

/** A WebGPU session: per-layer key and value caches on the device, and its recorded dispatches. */
class WebGpuSession implements Session {
  #disposed = false;
  readonly contextSize: number;
  #tokens: SessionTokens;
  readonly #engine: WebGpuEngine;
  readonly #keys: GPUBuffer[];
  readonly #values: GPUBuffer[];
  readonly #ops: StepDispatches;
  #pending: Promise<void> = Promise.resolve();

  constructor(engine: WebGpuEngine, contextSize: number) {
    this.#engine = engine;
    this.contextSize = contextSize;
    this.#tokens = new SessionTokens(contextSize, engine.spec.vocabSize);
    this.#keys = Array.from({ length: engine.spec.layers }, () => engine.cacheBuffer(contextSize));
    this.#values = Array.from({ length: engine.spec.layers }, () => engine.cacheBuffer(contextSize));
    this.#ops = engine.buildOps(this.#keys, this.#values, contextSize);
  }

  get tokens(): readonly number[] {
    return this.#tokens.ids;
  }

  async forward(tokens: readonly number[]): Promise<Float32Array> {
    return ((await this.#run(tokens, "last")) as Float32Array[])[0];
  }

  async forwardAll(tokens: readonly number[]): Promise<Float32Array[]> {
    return (await this.#run(tokens, "all")) as Float32Array[];
  }

  async forwardGreedy(tokens: readonly number[]): Promise<number> {
    return (await this.#run(tokens, "argmax")) as number;
  }

  truncate(length: number): void {
    this.#tokens.truncate(length);
  }

  reusePrefix(ids: readonly number[]): number {
    return this.#tokens.reusePrefix(ids);
  }

  fork(): Session {
    const copy = this.#engine.createSession({ contextSize: this.contextSize }) as WebGpuSession;
    copy.#tokens = this.#tokens.copy();
    const bytes = this.#tokens.ids.length * this.#engine.spec.kvHeads * this.#engine.spec.headDim * 4;
    const pairs: [GPUBuffer, GPUBuffer][] = [];
    this.#keys.forEach((k, i) => pairs.push([k, copy.#keys[i]], [this.#values[i], copy.#values[i]]));
    copy.#pending = this.#engine.copyCaches(pairs, bytes);
    return copy;
  }

  dispose(): void {
    if (this.#disposed) return; // the engine may dispose its sessions again
    this.#disposed = true;
    for (const b of [...this.#keys, ...this.#values]) b.destroy();
    this.#tokens.clear();
    this.#engine.forget(this);
  }

  async #run(tokens: readonly number[], mode: "argmax" | "last" | "all"): Promise<number | Float32Array[]> {
    await this.#pending;
    const e = this.#engine;
    const n = tokens.length;
    this.#tokens.checkAppend(tokens);
    const start = this.#tokens.ids.length;
    const rows: Float32Array[] = [];
    let result: number | Float32Array[] | undefined;
    for (let i = 0; i < n; i += e.maxBatch) {
      const chunk = tokens.slice(i, i + e.maxBatch);
      const final = i + e.maxBatch >= n;
      const r = await e.step(this.#ops, chunk, start + i, mode === "all" ? "all" : final ? mode : "none");
      if (mode === "all") rows.push(...(r as Float32Array[]));
      else if (final) result = r;
      this.#tokens.push(chunk);
    }
    return mode === "all" ? rows : result!;
  }
}
