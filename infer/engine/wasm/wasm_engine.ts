/**
 * The `wasm` engine: the CPU engine's forward pass with its matrix products in WebAssembly
 * 128-bit SIMD kernels, split by rows across worker threads that share its memory (weights held
 * once; a model that does not fit one 32-bit WebAssembly memory's 4 GiB with its activations
 * keeps its weights in memories of their own, as many as it needs). It computes what the `cpu`
 * oracle computes, step for step; the products are the work (they read every weight once per
 * step). Attention (scores, softmax, weighted values) and SwiGLU run in kernels too, their `exp`
 * a polynomial within about 3e-7 relative of the oracle's; the rest (norms, RoPE, residual adds)
 * runs here on buffers allocated once.
 *
 * Formats with kernels: f32, bf16, f16 (packed, widened in registers) and the ggml block formats
 * q8_0, q4_0, q5_0, q4_k, q5_k, q6_k (dequantized in registers with f32 activations, or, with
 * `int8Dot`, multiplied in integers with activations rounded to 8 bits as the oracle rounds them).
 * Matrices whose width is not a multiple of 8 run through the oracle's product. Attention runs in
 * kernels over a KV cache kept in the shared memory.
 *
 * @module
 */

import {
  addInPlace,
  addLoraUpdate,
  attendHead,
  firstAttended,
  matmul,
  matmulInt8,
  rmsnormInto,
  ropeAngles,
  ropeRotate,
  roundToHalf,
} from "../cpu/cpu_math.ts";
import {
  argmax,
  type BatchStep,
  defaultContextSize,
  type Engine,
  maskedArgmax,
  type Session,
  type SessionOptions,
} from "../engine.ts";
import { SessionTokens } from "../session_tokens.ts";
import { type BatchRoom, CPU_BATCH_MOST, hostMemory, roomIn } from "../batch_room.ts";
import type { LoadedModel } from "../../model/load_model.ts";
import type { LoraDelta } from "../../model/lora.ts";
import { alibiSlopes, type ModelSpec, type ModelWeights, ropeInvFreq } from "../../model/model_spec.ts";
import type { Tensor } from "../../formats/tensor.ts";
import type { WeightTensor } from "../../formats/quant_tensor.ts";
import { INT8_DOT_FORMATS } from "../../formats/int8_dot.ts";
import {
  ATTENTION_QUERIES,
  INT8_KERNEL_FORMATS,
  type Int8KernelFormat,
  type JobItem,
  KERNEL_FORMATS,
  type KernelFormat,
  type KernelName,
  type MatmulItem,
  MAX_ITEMS,
  type TokensItem,
} from "./_matmul_job.ts";
import { int8InputBytes } from "./int8_input.ts";
import { KernelThreads } from "./kernel_threads.ts";
import { type KernelBuild, kernelsModule, relaxedKernelsModule, scratchBytes } from "./kernels.ts";
import { blockBytes, WasmMemory, WeightMemories } from "./wasm_memory.ts";
import { placeWasmMatrix, type WasmMatrix, wasmMatrixRow } from "./wasm_matrix.ts";

/** Options of the `wasm` engine. */
export interface WasmEngineOptions {
  /** Default context size of sessions (default: the model's, at most 4096). */
  readonly contextSize?: number;
  /** Threads computing the products, this one included (default: the cores available). */
  readonly threads?: number;
  /** Round cached keys and values to half precision (as the `cpu` engine's `kvCache: "f16"`). */
  readonly kvCache?: "f32" | "f16";
  /** Block-format weights meet activations rounded to 8 bits (the `cpu` engine's `int8Dot`). */
  readonly int8Dot?: boolean;
  /**
   * Use the relaxed-SIMD `i8_*` kernels where the runtime has relaxed SIMD (default true; false:
   * the 128-bit SIMD ones, as where it has not). Both compute the same integers.
   */
  readonly relaxedSimd?: boolean;
  /** Most tokens computed in one pass (longer prompts go in chunks; default 256: see `PROMPT_CHUNK`). */
  readonly chunk?: number;
  /** The worker script (for bundles that move it; default beside this module). */
  readonly workerUrl?: string | URL;
  /** The kernels' build: `fma` (relaxed SIMD; the default where it validates) or `plain`. */
  readonly kernels?: KernelBuild;
  /**
   * The most bytes one WebAssembly memory of weights takes (default and most: 4 GiB); a model's
   * weights go to as many memories as they need, each matrix whole in one. Where they take one
   * and the activations and caches fit beside them, that memory holds those too (so this caps
   * them as well). Smaller values split small models (tests).
   */
  readonly weightMemoryBytes?: number;
}

/**
 * The number of cores this runtime reports (1 where it says nothing): the default thread count.
 *
 * @returns the cores
 *
 * @example
 * ```ts
 * import { availableCores } from "./wasm_engine.ts";
 * if (!(availableCores() >= 1)) throw new Error();
 * ```
 */
export function availableCores(): number {
  const n = (globalThis.navigator as { hardwareConcurrency?: number } | undefined)?.hardwareConcurrency;
  return typeof n === "number" && n >= 1 ? n : 1;
}

/**
 * Default most tokens in one pass: 256. The prompt kernels read each group of rows once per pass
 * and widen or unpack it once for all of the pass's tokens, so longer passes spend less per token:
 * a 400-token prompt of the infer bench's model ran 1.10–1.13× faster at 256 than at 32 on one
 * thread, 1.16–1.20× on two (bf16; q8_0 and q4_k_m with 8-bit activations). 128 gave most of it,
 * 512 about 1% more.
 * The activations take about 256 × (6 × hidden + 4 × intermediate) floats (70 MB for a 7B
 * Llama); the logits only `LOGIT_ROWS` rows.
 */
const PROMPT_CHUNK = 256;

/**
 * Most rows of logits computed at a time (the buffer's rows): a pass asked for every position's
 * logits computes them this many rows at a time, so a long pass does not hold `chunk × vocabulary`
 * floats (150 MB at 256 tokens of Qwen's 152k vocabulary).
 */
const LOGIT_ROWS = 32;

/** Activation buffers of one pass (views of the shared memory), sized for `chunk` tokens. */
export interface WasmBuffers {
  /** The residual stream `[chunk, hidden]`. */
  readonly x: Float32Array;
  /** Normed rows (inputs of the products). */
  readonly xn: Float32Array;
  /** One input de-interleaved (the 16-bit matrix–vector kernels'). */
  readonly xd: Float32Array;
  /** Queries. */
  readonly q: Float32Array;
  /** New keys. */
  readonly k: Float32Array;
  /** New values. */
  readonly v: Float32Array;
  /** Attention outputs. */
  readonly attn: Float32Array;
  /** Gate projections (then SwiGLU's output). */
  readonly gate: Float32Array;
  /** Up projections. */
  readonly up: Float32Array;
  /** Outputs of the o and down projections. */
  readonly proj: Float32Array;
  /** Logits: 32 rows (fewer where a pass holds fewer tokens). */
  readonly logits: Float32Array;
  /** Where the inputs of the 8-bit kernels go (`int8Dot`; see `int8_input.ts`). */
  readonly xq: number;
  /** ALiBi's slope per head as f32, for the attention kernel (0 where the model has none). */
  readonly slopes: number;
}

/**
 * The `wasm` engine.
 *
 * @example
 * ```ts
 * import { CpuEngine, loadModel, WasmEngine } from "../../mod.ts";
 * import { writeRandomModel } from "../../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 32, hidden: 16, intermediate: 32, layers: 2, heads: 4,
 *   kvHeads: 2 });
 * const model = await loadModel(dir);
 * const engine = await WasmEngine.create(model, { threads: 2 });
 * const fast = await engine.createSession().forward([1, 5, 7]);
 * const oracle = await new CpuEngine(model).createSession().forward([1, 5, 7]);
 * engine.dispose();
 * if (fast.some((v, i) => Math.abs(v - oracle[i]) > 1e-4)) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class WasmEngine implements Engine {
  /** `cpu`: this is the CPU engine's fast path (the oracle, `CpuEngine`, is the other). */
  readonly name = "cpu";
  /** What the model computes. */
  readonly spec: ModelSpec;
  /** The weights, matrices in the weights' memories. */
  readonly weights: ModelWeights<WasmMatrix>;
  /** LoRA updates applied on the fly. */
  readonly loraDeltas: ReadonlyMap<string, LoraDelta>;
  /** RoPE frequencies (empty with ALiBi). */
  readonly invFreq: Float64Array;
  /** ALiBi slopes per head (empty with RoPE). */
  readonly slopes: Float64Array;
  /** A pass's rotary cosines and sines (`ropeAngles`), computed once for all its layers (empty without RoPE). */
  readonly ropeCosSin: Float64Array;
  /** The most tokens a session holds unless it asks for fewer. */
  readonly contextSize: number;
  /** The KV cache's precision. */
  readonly kvCache: "f32" | "f16";
  /** Whether block-format weights meet 8-bit activations. */
  readonly int8Dot: boolean;
  /** Most tokens per pass. */
  readonly chunk: number;
  /** The threads computing the products. */
  readonly threads: KernelThreads;
  /** The shared memory of activations, KV caches and scratch (and of the weights, unless split). */
  readonly memory: WasmMemory;
  /** Where the weight matrices were placed: the weights' memories, or (given so to {@linkcode WasmEngine.open}) `memory`. */
  readonly weightStore: WeightMemories | WasmMemory;
  /**
   * Whether the weights are in memories of their own (the kernels' `split` form), because they
   * and the activations would not fit one memory; else `memory` holds all.
   */
  readonly splitWeights: boolean;
  /** The activation buffers (one pass at a time). */
  readonly buffers: WasmBuffers;

  private constructor(
    model: Pick<LoadedModel<WasmMatrix>, "spec" | "weights" | "loraDeltas">,
    memory: WasmMemory,
    weightStore: WeightMemories | WasmMemory,
    threads: KernelThreads,
    buffers: WasmBuffers,
    options: WasmEngineOptions,
  ) {
    this.spec = model.spec;
    this.weights = model.weights;
    this.loraDeltas = model.loraDeltas ?? new Map();
    const pos = this.spec.position;
    this.invFreq = pos.kind === "rope" ? ropeInvFreq(pos, this.spec.headDim) : new Float64Array();
    this.slopes = pos.kind === "alibi" ? alibiSlopes(this.spec.heads) : new Float64Array();
    this.ropeCosSin = new Float64Array(
      pos.kind === "rope" ? (buffers.x.length / this.spec.hidden) * this.spec.headDim : 0,
    );
    this.contextSize = options.contextSize ?? defaultContextSize(this.spec, "cpu");
    this.kvCache = options.kvCache ?? "f32";
    this.int8Dot = options.int8Dot === true;
    this.chunk = buffers.x.length / this.spec.hidden;
    this.memory = memory;
    this.weightStore = weightStore;
    this.splitWeights = isSplit(weightStore, memory);
    this.threads = threads;
    this.buffers = buffers;
  }

  /**
   * An engine over a loaded model: its matrices are copied into the weights' memories.
   *
   * @param model the loaded model
   * @param options threads, context size, cache format
   * @returns the engine
   */
  static async create(
    model: Pick<LoadedModel, "spec" | "weights" | "loraDeltas">,
    options: WasmEngineOptions = {},
  ): Promise<WasmEngine> {
    const memory = new WeightMemories(options.weightMemoryBytes);
    const placed = new Map<WeightTensor, WasmMatrix>();
    const place = (t: WeightTensor) => {
      let p = placed.get(t);
      if (!p) placed.set(t, p = placeWasmMatrix(memory, t));
      return p;
    };
    const w = model.weights;
    const weights: ModelWeights<WasmMatrix> = {
      embed: place(w.embed),
      norm: w.norm,
      output: place(w.output),
      layers: w.layers.map((l) => ({
        ...l,
        wq: place(l.wq),
        wk: place(l.wk),
        wv: place(l.wv),
        wo: place(l.wo),
        w1: place(l.w1),
        w2: place(l.w2),
        w3: place(l.w3),
      })),
    };
    return await WasmEngine.#start({ ...model, weights }, memory, options);
  }

  /**
   * An engine over matrices already placed (by {@linkcode placeWasmMatrix}; see
   * `loadWasmEngine`, which places each as it is read): in the weights' memories, or in one
   * memory, which then holds the activations and caches too.
   *
   * @param model the model, its matrices in `store`
   * @param store the memories holding them
   * @param options threads, context size, cache format
   * @returns the engine
   */
  static async open(
    model: Pick<LoadedModel<WasmMatrix>, "spec" | "weights" | "loraDeltas">,
    store: WeightMemories | WasmMemory,
    options: WasmEngineOptions = {},
  ): Promise<WasmEngine> {
    return await WasmEngine.#start(model, store, options);
  }

  static async #start(
    model: Pick<LoadedModel<WasmMatrix>, "spec" | "weights" | "loraDeltas">,
    store: WeightMemories | WasmMemory,
    options: WasmEngineOptions,
  ): Promise<WasmEngine> {
    const { spec } = model;
    const chunk = options.chunk ?? PROMPT_CHUNK;
    const logitRows = Math.min(chunk, LOGIT_ROWS);
    const threads = options.threads ?? availableCores();
    const qDim = spec.heads * spec.headDim;
    const kvDim = spec.kvHeads * spec.headDim;
    const widest = Math.max(spec.hidden, qDim, spec.intermediate);
    // One memory for all where the weights took one and the activations, scratch and one session's
    // cache at the full context fit beside them; else the weights keep memories of their own.
    const floats = chunk * (spec.hidden + 2 * widest + 3 * qDim + 2 * kvDim + 2 * spec.intermediate + spec.hidden) +
      logitRows * spec.vocabSize;
    const context = options.contextSize ?? defaultContextSize(spec, "cpu");
    const need = 4 * floats + threads * scratchBytes(widest) + int8InputBytes(chunk, widest) +
      sessionBytes(spec, context) +
      2 * 2 ** 20;
    let memory = store instanceof WasmMemory
      ? store
      : store.parts.length === 0
      ? new WasmMemory()
      : store.parts.length === 1 && store.parts[0].fits(need)
      ? store.parts[0]
      : new WasmMemory();
    let split = isSplit(store, memory);
    let module: WebAssembly.Module;
    try {
      module = await kernelsModule(options.kernels, split);
    } catch (e) {
      // A runtime without several memories (an older browser): weights that took one memory
      // still run with their activations beside them, at shorter contexts.
      if (!(store instanceof WeightMemories) || store.parts.length !== 1) throw e;
      memory = store.parts[0];
      split = false;
      module = await kernelsModule(options.kernels, false);
    }
    const slopes = spec.position.kind === "alibi" ? memory.floats(spec.heads) : undefined;
    slopes?.set(alibiSlopes(spec.heads));
    const buffers: WasmBuffers = {
      x: memory.floats(chunk * spec.hidden),
      xn: memory.floats(chunk * widest),
      xd: memory.floats(chunk * widest),
      q: memory.floats(chunk * qDim),
      k: memory.floats(chunk * kvDim),
      v: memory.floats(chunk * kvDim),
      attn: memory.floats(chunk * qDim),
      gate: memory.floats(chunk * spec.intermediate),
      up: memory.floats(chunk * spec.intermediate),
      proj: memory.floats(chunk * Math.max(spec.hidden, qDim)),
      logits: memory.floats(logitRows * spec.vocabSize),
      xq: memory.alloc(int8InputBytes(chunk, widest)),
      slopes: slopes?.byteOffset ?? 0,
    };
    const scratch = Array.from({ length: threads }, () => memory.alloc(scratchBytes(widest)));
    const pool = await KernelThreads.start({
      module,
      relaxed: options.relaxedSimd === false ? undefined : await relaxedKernelsModule(split),
      memory: memory.memory,
      weights: split ? (store as WeightMemories).memories : [memory.memory],
      threads,
      scratch,
      workerUrl: options.workerUrl,
    });
    return new WasmEngine(model, memory, store, pool, buffers, options);
  }

  /**
   * A new, empty session.
   *
   * @param options context size
   * @returns the session
   */
  createSession(options: SessionOptions = {}): Session {
    return new WasmSession(this, options.contextSize ?? this.contextSize);
  }

  /**
   * How many more sessions of up to `tokens` tokens the memory of activations and caches has
   * room for, and the host's available memory (`hostMemory`) while that memory still has to grow; at most 16
   * (past that, batching gains little on a CPU). A session is counted as its blocks at `tokens`
   * and the blocks it outgrew on the way (kept for reuse), so this errs low by up to half.
   *
   * @param tokens the most tokens each session holds
   * @returns the count and what bounded it
   *
   * @example
   * ```ts
   * import { loadModel, WasmEngine, wasmKernelsAvailable } from "../../mod.ts";
   * import { writeRandomModel } from "../../testing/mod.ts";
   * if (await wasmKernelsAvailable()) {
   *   const dir = await Deno.makeTempDir();
   *   await writeRandomModel(dir, { architecture: "llama", vocabSize: 32, hidden: 16, intermediate: 32, layers: 1, heads: 2 });
   *   const engine = await WasmEngine.create(await loadModel(dir), { threads: 1 });
   *   const room = await engine.batchRoom(100);
   *   if (room.sessions !== 16 || !(room.sessionBytes > 0)) throw new Error(JSON.stringify(room));
   *   engine.dispose();
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  // deno-lint-ignore require-await
  async batchRoom(tokens: number): Promise<BatchRoom> {
    const held = Math.min(tokens, this.contextSize);
    const bytes = sessionBytes(this.spec, held);
    const { memory } = this;
    return roomIn({ bytes, tokens: held }, CPU_BATCH_MOST, [
      { bytes: memory.maxBytes - memory.used, name: "the cpu engine's memory of caches (4 GiB at most)" },
      hostMemory(memory.memory.buffer.byteLength - memory.used),
    ]);
  }

  /**
   * Append one token to each of several of this engine's sessions in one pass: the weights are
   * read once per block of rows for all of them, and each session gets the logits its own
   * `forward([token])` would give, bit for bit (every row takes the single-token kernel).
   *
   * @param steps the sessions (each once) and their tokens
   * @returns each one's next-token logits
   * @throws {TypeError} for a session of another engine
   * @throws {RangeError} for a session given twice, or one whose context is full
   *
   * @example
   * ```ts
   * import { loadModel, WasmEngine, wasmKernelsAvailable } from "../../mod.ts";
   * import { writeRandomModel } from "../../testing/mod.ts";
   * if (await wasmKernelsAvailable()) {
   *   const dir = await Deno.makeTempDir();
   *   await writeRandomModel(dir, { architecture: "llama", vocabSize: 32, hidden: 16, intermediate: 32, layers: 1, heads: 2 });
   *   const engine = await WasmEngine.create(await loadModel(dir), { threads: 1 });
   *   const [a, b, c] = [engine.createSession(), engine.createSession(), engine.createSession()];
   *   await a.forward([1, 2]);
   *   await b.forward([3]);
   *   await c.forward([1, 2]);
   *   const [la, lb] = await engine.forwardBatch([{ session: a, token: 5 }, { session: b, token: 6 }]);
   *   const alone = await c.forward([5]);
   *   if (la.some((v, i) => v !== alone[i]) || lb.length !== 32 || a.tokens.length !== 3) throw new Error();
   *   engine.dispose();
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  // deno-lint-ignore require-await
  async forwardBatch(steps: readonly BatchStep[]): Promise<Float32Array[]> {
    const segments = steps.map(({ session, token }) => {
      if (!(session instanceof WasmSession)) throw new TypeError("a batched step takes sessions of one engine");
      return { session, tokens: [token] };
    });
    const out: Float32Array[] = [];
    for (let i = 0; i < segments.length; i += this.chunk) {
      out.push(...WasmSession.pass(segments.slice(i, i + this.chunk), "last"));
    }
    return out;
  }

  /** Stop the worker threads (the memory goes with the engine). */
  dispose(): void {
    this.threads.close();
  }

  /**
   * Linear layers of one input, computed together: `ys[i] = Ws[i] · x (+ b)` for the first
   * `n` rows of `x`, each output `n × out` at the start of its buffer.
   *
   * @param x inputs (`n × in`, a view of the shared memory)
   * @param n rows
   * @param products matrices, their canonical names (for LoRA), biases and output buffers
   * @param perToken each row by the single-token kernel (sums equal, bit for bit, to a step of
   *   that token alone: a batched decode step); else several rows by the matrix–matrix kernel
   */
  linear(
    x: Float32Array,
    n: number,
    products: readonly { w: WasmMatrix; name: string; bias?: Tensor; y: Float32Array }[],
    perToken = n === 1,
  ): void {
    const items: MatmulItem[] = [];
    const fallback: typeof products[number][] = [];
    let deinterleaved = false, quantized = false;
    for (const p of products) {
      const [out, inp] = p.w.shape;
      const kernel = this.#kernel(p.w, perToken);
      if (!kernel) {
        fallback.push(p);
        continue;
      }
      let xp = x.byteOffset;
      if (kernel.startsWith("i8_") || kernel.startsWith("p8_")) {
        if (!quantized) this.runTokens({ kernel: "q8_act", x: x.byteOffset, n, inp, dst: this.buffers.xq });
        quantized = true;
        xp = this.buffers.xq;
      } else if (kernel === "mv_bf16" || kernel === "mv_f16") {
        if (!deinterleaved) { for (let t = 0; t < n; t++) deinterleave(x, t * inp, inp, this.buffers.xd); }
        deinterleaved = true;
        xp = this.buffers.xd.byteOffset;
      }
      items.push({ kernel, w: p.w.ptr, mem: p.w.mem, x: xp, y: p.y.byteOffset, inp, out, n });
    }
    if (items.length) this.threads.run(items);
    for (const p of fallback) {
      const xs = x.subarray(0, n * p.w.shape[1]);
      const w = p.w.tensor!;
      p.y.set(this.int8Dot && INT8.includes(w.dtype) ? matmulInt8(xs, n, w) : matmul(xs, n, w));
    }
    for (const p of products) {
      const out = p.w.shape[0];
      if (p.bias) {
        const b = p.bias.data;
        for (let t = 0; t < n; t++) for (let o = 0; o < out; o++) p.y[t * out + o] += b[o];
      }
      const d = this.loraDeltas.get(p.name);
      if (d) addLoraUpdate(p.y, x, n, d);
    }
  }

  /**
   * Token-wise work (rounding to 8 bits, SwiGLU): split by tokens across the threads where there
   * are several of each, else done on this thread. Each token's values are the same either way.
   *
   * @param item the work
   */
  runTokens(item: TokensItem): void {
    if (item.n > 1 && this.threads.threads > 1) return this.threads.run([item]);
    const k = this.threads.kernels;
    if (item.kernel === "q8_act") k.q8_act(item.x, item.n, item.inp, item.dst);
    else k.swiglu(item.gate, item.up, item.out, item.n * item.width);
  }

  /**
   * The output layer over the first `n` normed rows (`buffers.xn`), as many rows at a time as the
   * logits buffer holds; each row's logits copied out.
   *
   * @param n rows
   * @param perToken each row by the single-token kernel (as {@linkcode WasmEngine.linear})
   * @returns each row's logits
   */
  logitsOf(n: number, perToken: boolean): Float32Array[] {
    const { hidden, vocabSize: vocab } = this.spec;
    const { xn, logits } = this.buffers;
    const step = logits.length / vocab;
    const out: Float32Array[] = [];
    for (let from = 0; from < n; from += step) {
      const m = Math.min(step, n - from);
      this.linear(xn.subarray(from * hidden), m, [{ w: this.weights.output, name: "output", y: logits }], perToken);
      for (let t = 0; t < m; t++) out.push(logits.slice(t * vocab, (t + 1) * vocab));
    }
    return out;
  }

  /**
   * The kernel for a matrix (single-token sums or not), or undefined where the oracle's product
   * runs. With 8-bit activations, several tokens take the prompt kernel (`p8_*`: each group of
   * rows unpacked once for all of them).
   */
  #kernel(w: WasmMatrix, perToken: boolean): KernelName | undefined {
    if (!w.grouped || !(KERNEL_FORMATS as readonly string[]).includes(w.dtype)) return undefined;
    if (this.int8Dot && (INT8_KERNEL_FORMATS as readonly string[]).includes(w.dtype)) {
      return `${perToken ? "i8" : "p8"}_${w.dtype as Int8KernelFormat}`;
    }
    return `${perToken ? "mv" : "mm"}_${w.dtype as KernelFormat}`;
  }
}

/**
 * The bytes a session holds at `tokens` tokens: per layer its keys and its values in f32 (whatever
 * `kvCache`: f16 rounds the values, not the blocks), each a block of a power of two bytes
 * (`WasmMemory.allocBlock`), and every head's scores for a block of prompt tokens; counted twice,
 * for the blocks it outgrew on the way (grown by doubling), which stay allocated for reuse.
 */
function sessionBytes(spec: ModelSpec, tokens: number): number {
  const kv = spec.kvHeads * spec.headDim * 4;
  return 2 * (2 * spec.layers * blockBytes(tokens * kv) + blockBytes(ATTENTION_QUERIES * tokens * spec.heads * 4));
}

/** Whether the weights are in memories of their own, not in `memory`. */
function isSplit(store: WeightMemories | WasmMemory, memory: WasmMemory): boolean {
  return store instanceof WeightMemories && store.parts.length > 0 && store.parts[0] !== memory;
}

/** The formats with 8-bit activation products. */
const INT8: readonly string[] = INT8_DOT_FORMATS;

/** The `inp` values of `x` from `at` as their even elements, then their odd ones, into `out` from `at` (the 16-bit kernels' input). */
function deinterleave(x: Float32Array, at: number, inp: number, out: Float32Array): void {
  const half = inp >> 1;
  for (let i = 0; i < half; i++) {
    out[at + i] = x[at + 2 * i];
    out[at + half + i] = x[at + 2 * i + 1];
  }
}

/** A block of the shared memory. */
type Block = { ptr: number; size: number };

/** Gives back the blocks of sessions dropped without `dispose()`. */
const orphans = new FinalizationRegistry<{ memory: WasmMemory; blocks: Block[] }>(({ memory, blocks }) => {
  for (const b of blocks) memory.freeBlock(b);
});

/**
 * A session: key and value caches per layer in the shared memory (grown by doubling, given back
 * on `dispose()`), read by the attention kernels.
 */
class WasmSession implements Session {
  readonly contextSize: number;
  #tokens: SessionTokens;
  /** Per layer: keys, then values; and the scores of one head. */
  #blocks: { k: Block; v: Block }[] = [];
  #scores: Block | undefined;
  /** Tokens the blocks hold. */
  #capacity = 0;
  readonly #held: { memory: WasmMemory; blocks: Block[] };
  readonly #engine: WasmEngine;

  constructor(engine: WasmEngine, contextSize: number) {
    this.#engine = engine;
    this.contextSize = contextSize;
    this.#tokens = new SessionTokens(contextSize, engine.spec.vocabSize);
    this.#held = { memory: engine.memory, blocks: [] };
    orphans.register(this, this.#held, this);
  }

  get tokens(): readonly number[] {
    return this.#tokens.ids;
  }

  // deno-lint-ignore require-await
  async forward(tokens: readonly number[]): Promise<Float32Array> {
    return this.#run(tokens, false)[0];
  }

  // deno-lint-ignore require-await
  async forwardAll(tokens: readonly number[]): Promise<Float32Array[]> {
    return this.#run(tokens, true);
  }

  async forwardGreedy(tokens: readonly number[]): Promise<number> {
    return argmax(await this.forward(tokens));
  }

  async forwardMasked(tokens: readonly number[], mask: Uint32Array): Promise<number> {
    return maskedArgmax(await this.forward(tokens), mask);
  }

  truncate(length: number): void {
    this.#tokens.truncate(length);
  }

  reusePrefix(ids: readonly number[]): number {
    return this.#tokens.reusePrefix(ids);
  }

  fork(): Session {
    const copy = new WasmSession(this.#engine, this.contextSize);
    copy.#tokens = this.#tokens.copy();
    copy.#reserve(this.#capacity);
    const bytes = this.#tokens.ids.length * this.#kvBytes();
    const heap = new Uint8Array(this.#engine.memory.memory.buffer);
    this.#blocks.forEach((b, l) => {
      heap.copyWithin(copy.#blocks[l].k.ptr, b.k.ptr, b.k.ptr + bytes);
      heap.copyWithin(copy.#blocks[l].v.ptr, b.v.ptr, b.v.ptr + bytes);
    });
    return copy;
  }

  dispose(): void {
    const memory = this.#engine.memory;
    for (const b of this.#held.blocks) memory.freeBlock(b);
    this.#held.blocks.length = 0;
    this.#blocks = [];
    this.#scores = undefined;
    this.#capacity = 0;
    orphans.unregister(this);
    this.#tokens.clear();
  }

  /** Bytes of one position's keys (or values) in one layer. */
  #kvBytes(): number {
    return this.#engine.spec.kvHeads * this.#engine.spec.headDim * 4;
  }

  /**
   * Room for `tokens` positions: blocks doubled (the cached positions copied), and every head's
   * scores for a block of prompt tokens (`attn_heads` scores all the heads of up to
   * `ATTENTION_QUERIES` tokens before the softmax). A block is a power of two
   * bytes (`WasmMemory.allocBlock`), and the capacity is all it holds.
   */
  #reserve(tokens: number): void {
    if (tokens <= this.#capacity) return;
    const memory = this.#engine.memory;
    const want = Math.min(this.contextSize, Math.max(tokens, 2 * this.#capacity, 16));
    const fill = Math.floor(blockBytes(want * this.#kvBytes()) / this.#kvBytes());
    const capacity = Math.min(this.contextSize, Math.max(want, fill));
    const used = this.#tokens.ids.length * this.#kvBytes();
    const take = (bytes: number) => {
      const b = memory.allocBlock(bytes);
      this.#held.blocks.push(b);
      return b;
    };
    const give = (b: Block) => {
      memory.freeBlock(b);
      this.#held.blocks.splice(this.#held.blocks.indexOf(b), 1);
    };
    const blocks = Array.from({ length: this.#engine.spec.layers }, () => ({
      k: take(capacity * this.#kvBytes()),
      v: take(capacity * this.#kvBytes()),
    }));
    const heap = new Uint8Array(memory.memory.buffer);
    this.#blocks.forEach((old, l) => {
      heap.copyWithin(blocks[l].k.ptr, old.k.ptr, old.k.ptr + used);
      heap.copyWithin(blocks[l].v.ptr, old.v.ptr, old.v.ptr + used);
      give(old.k);
      give(old.v);
    });
    if (this.#scores) give(this.#scores);
    this.#scores = take(ATTENTION_QUERIES * capacity * this.#engine.spec.heads * 4);
    this.#blocks = blocks;
    this.#capacity = capacity;
  }

  /** New tokens in chunks; logits of the last (or every) new position. */
  #run(tokens: readonly number[], allLogits: boolean): Float32Array[] {
    this.#tokens.checkAppend(tokens);
    const chunk = this.#engine.chunk;
    const out: Float32Array[] = [];
    for (let from = 0; from < tokens.length; from += chunk) {
      const part = tokens.slice(from, from + chunk);
      const last = from + chunk >= tokens.length;
      out.push(...this.#pass(part, allLogits ? "all" : last ? "last" : "none"));
    }
    return out;
  }

  /** One pass over at most `chunk` tokens. */
  #pass(tokens: readonly number[], logits: "all" | "last" | "none"): Float32Array[] {
    return WasmSession.pass([{ session: this, tokens }], logits);
  }

  /**
   * One pass over the new tokens of one or more sessions (at most `chunk` tokens in all): their
   * rows go through every matrix together, each session's through attention over its own cache.
   * Several sessions each with one token take the single-token kernel per row, so each gets
   * the logits its own step would give, bit for bit.
   *
   * @param segments the sessions (each at most once) and the tokens each appends
   * @param logits every new position's logits, each segment's last one's, or none
   * @returns the logits asked for, in the order of the segments' rows
   */
  static pass(
    segments: readonly { session: WasmSession; tokens: readonly number[] }[],
    logits: "all" | "last" | "none",
  ): Float32Array[] {
    const e = segments[0].session.#engine;
    for (const { session: s, tokens } of segments) {
      if (s.#engine !== e) throw new TypeError("a batched step takes sessions of one engine");
      s.#tokens.checkAppend(tokens);
    }
    if (new Set(segments.map((g) => g.session)).size < segments.length) {
      throw new RangeError("a batched step takes each session once");
    }
    const { spec, weights, buffers: b } = e;
    const { hidden, heads, kvHeads, headDim, normEps, intermediate } = spec;
    const qDim = heads * headDim;
    const kvDim = kvHeads * headDim;
    const perToken = segments.every((g) => g.tokens.length === 1);
    const rows: { s: WasmSession; at: number; n: number; start: number; positions: number[] }[] = [];
    let n = 0;
    for (const { session: s, tokens } of segments) {
      const start = s.#tokens.ids.length;
      s.#reserve(start + tokens.length);
      for (let t = 0; t < tokens.length; t++) {
        wasmMatrixRow(e.weightStore, weights.embed, tokens[t], b.x.subarray((n + t) * hidden, (n + t + 1) * hidden));
      }
      rows.push({ s, at: n, n: tokens.length, start, positions: tokens.map((_, i) => start + i) });
      n += tokens.length;
    }
    const positions = rows.flatMap((r) => r.positions);
    if (spec.position.kind === "rope") ropeAngles(positions, n, e.invFreq, e.ropeCosSin);
    for (let l = 0; l < spec.layers; l++) {
      const w = weights.layers[l];
      const p = `layers.${l}.`;
      rmsnormInto(b.x, n, w.attnNorm, normEps, b.xn);
      e.linear(b.xn, n, [
        { w: w.wq, name: p + "wq", bias: w.bq, y: b.q },
        { w: w.wk, name: p + "wk", bias: w.bk, y: b.k },
        { w: w.wv, name: p + "wv", bias: w.bv, y: b.v },
      ], perToken);
      const q = b.q.subarray(0, n * qDim);
      const k = b.k.subarray(0, n * kvDim);
      const v = b.v.subarray(0, n * kvDim);
      if (spec.position.kind === "rope") {
        ropeRotate(q, n, heads, headDim, e.ropeCosSin);
        ropeRotate(k, n, kvHeads, headDim, e.ropeCosSin);
      }
      if (e.kvCache === "f16") {
        roundToHalf(k);
        roundToHalf(v);
      }
      const attention: JobItem[] = [];
      for (const r of rows) {
        const blocks = r.s.#blocks[l];
        e.memory.f32(blocks.k.ptr + r.start * kvDim * 4, r.n * kvDim).set(
          k.subarray(r.at * kvDim, (r.at + r.n) * kvDim),
        );
        e.memory.f32(blocks.v.ptr + r.start * kvDim * 4, r.n * kvDim).set(
          v.subarray(r.at * kvDim, (r.at + r.n) * kvDim),
        );
        const item = r.s.#attention(l, q.subarray(r.at * qDim), r.start, r.n, b.attn.subarray(r.at * qDim));
        if (item) attention.push(item);
      }
      // Each session's attention split by heads across the threads, up to a job's items at a time.
      for (let i = 0; i < attention.length; i += MAX_ITEMS) e.threads.run(attention.slice(i, i + MAX_ITEMS));
      e.linear(b.attn, n, [{ w: w.wo, name: p + "wo", bias: w.bo, y: b.proj }], perToken);
      addInPlace(b.x.subarray(0, n * hidden), b.proj.subarray(0, n * hidden));
      rmsnormInto(b.x, n, w.ffnNorm, normEps, b.xn);
      e.linear(b.xn, n, [{ w: w.w1, name: p + "w1", y: b.gate }, { w: w.w3, name: p + "w3", y: b.up }], perToken);
      e.runTokens({
        kernel: "swiglu",
        gate: b.gate.byteOffset,
        up: b.up.byteOffset,
        out: b.gate.byteOffset,
        n,
        width: intermediate,
      });
      e.linear(b.gate, n, [{ w: w.w2, name: p + "w2", y: b.proj }], perToken);
      addInPlace(b.x.subarray(0, n * hidden), b.proj.subarray(0, n * hidden));
    }
    rows.forEach((r, i) => r.s.#tokens.push(segments[i].tokens));
    if (logits === "none") return [];
    if (logits === "last") {
      // Each segment's last row, normed into consecutive rows, then the output layer over them.
      rows.forEach((r, i) => {
        const last = r.at + r.n - 1;
        rmsnormInto(
          b.x.subarray(last * hidden, (last + 1) * hidden),
          1,
          weights.norm,
          normEps,
          b.xn.subarray(i * hidden),
        );
      });
      return e.logitsOf(rows.length, true);
    }
    rmsnormInto(b.x, n, weights.norm, normEps, b.xn);
    return e.logitsOf(n, perToken);
  }

  /**
   * Causal attention of `n` new queries (positions `start` on, their keys and values cached)
   * over the cached keys (those in the sliding window, if the model has one), as the oracle
   * computes it: with `dim` a multiple of 4, the job item that has the threads compute it, each
   * token's heads in one kernel (`attn_heads`: scores, ALiBi, softmax, weighted values), split by
   * heads; else computed per head here, and no item.
   */
  #attention(layer: number, q: Float32Array, start: number, n: number, out: Float32Array): JobItem | undefined {
    const e = this.#engine;
    const { heads, kvHeads, headDim } = e.spec;
    const stride = kvHeads * headDim * 4;
    const { k: keys, v: values } = this.#blocks[layer];
    const scoresPtr = this.#scores!.ptr;
    if (headDim % 4 === 0) {
      return {
        kernel: "attn_heads",
        q: q.byteOffset,
        k: keys.ptr,
        v: values.ptr,
        stride,
        heads,
        kvHeads,
        dim: headDim,
        n,
        position: start,
        window: e.spec.slidingWindow ?? 0,
        slopes: e.buffers.slopes,
        scores: scoresPtr,
        out: out.byteOffset,
      };
    }
    // Heads whose size is not a multiple of 4 (rare) take the oracle's loop over the same memory.
    const group = heads / kvHeads;
    const scale = 1 / Math.sqrt(headDim);
    const scores = e.memory.f32(scoresPtr, this.#capacity);
    const heap = e.memory.f32(0, e.memory.memory.buffer.byteLength / 4);
    for (let t = 0; t < n; t++) {
      const pos = start + t;
      const from = firstAttended(pos, e.spec.slidingWindow);
      for (let h = 0; h < heads; h++) {
        const kvh = Math.floor(h / group);
        const slope = e.slopes.length ? e.slopes[h] : 0;
        const qPtr = q.byteOffset + (t * heads + h) * headDim * 4;
        const outPtr = out.byteOffset + (t * heads + h) * headDim * 4;
        const [k, v] = [heap.subarray(keys.ptr / 4), heap.subarray(values.ptr / 4)];
        attendHead(
          heap,
          qPtr / 4,
          k,
          v,
          kvh * headDim,
          stride / 4,
          headDim,
          pos,
          scale,
          slope,
          scores,
          heap,
          outPtr / 4,
          from,
        );
      }
    }
    return undefined;
  }
}
