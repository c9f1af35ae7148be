/**
 * The `wasm` engine: the CPU engine's forward pass with its matrix products in WebAssembly
 * 128-bit SIMD kernels, split by rows across worker threads that share one memory (weights held
 * once). It computes what the `cpu` oracle computes, step for step; the products are the work
 * (they read every weight once per step), the rest (norms, RoPE, attention, SwiGLU) runs here
 * on buffers allocated once.
 *
 * Formats with kernels: f32, bf16, f16 (packed, widened in registers) and the ggml block formats
 * q8_0, q4_0, q5_0, q4_k, q5_k, q6_k (dequantized in registers; activations stay f32). Matrices
 * whose width is not a multiple of 8, and q8_0/q4_0 with `int8Dot` (8-bit activations), run
 * through the oracle's product.
 *
 * @module
 */

import { addInPlace, matmul, matmulInt8, rope, softmax } from "../cpu/cpu_math.ts";
import { argmax, type Engine, type Session, type SessionOptions } from "../engine.ts";
import { SessionTokens } from "../session_tokens.ts";
import { type LoadedModel, loadModel, type LoadOptions } from "../../model/load_model.ts";
import type { LoraDelta } from "../../model/lora.ts";
import { alibiSlopes, type ModelSpec, type ModelWeights, ropeInvFreq } from "../../model/model_spec.ts";
import type { Tensor } from "../../formats/tensor.ts";
import type { WeightTensor } from "../../formats/quant_tensor.ts";
import { f16ToF32, f32ToF16 } from "../../formats/dtype.ts";
import { KERNEL_FORMATS, type KernelFormat, type KernelName, type MatmulItem } from "./_matmul_job.ts";
import { KernelThreads } from "./kernel_threads.ts";
import { kernelsModule } from "./kernels.ts";
import { WasmMemory } from "./wasm_memory.ts";
import { placeWasmMatrix, type WasmMatrix, wasmMatrixRow } from "./wasm_matrix.ts";

/** Options of the `wasm` engine. */
export interface WasmEngineOptions {
  /** Default context size of sessions (default: the model's, at most 4096). */
  readonly contextSize?: number;
  /** Threads computing the products, this one included (default: the cores available). */
  readonly threads?: number;
  /** Round cached keys and values to half precision (as the `cpu` engine's `kvCache: "f16"`). */
  readonly kvCache?: "f32" | "f16";
  /** `q8_0`/`q4_0` weights meet activations rounded to 8 bits (the `cpu` engine's `int8Dot`). */
  readonly int8Dot?: boolean;
  /** Most tokens computed in one pass (longer prompts go in chunks; default 32). */
  readonly chunk?: number;
  /** The worker script (for bundles that move it; default beside this module). */
  readonly workerUrl?: string | URL;
}

/** Options of {@linkcode WasmEngine.load}. */
export type WasmLoadOptions = WasmEngineOptions & Omit<LoadOptions, "place">;

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
  /** Logits. */
  readonly logits: Float32Array;
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
  /** `wasm`. */
  readonly name = "wasm";
  /** What the model computes. */
  readonly spec: ModelSpec;
  /** The weights, matrices in the shared memory. */
  readonly weights: ModelWeights<WasmMatrix>;
  /** LoRA updates applied on the fly. */
  readonly loraDeltas: ReadonlyMap<string, LoraDelta>;
  /** RoPE frequencies (empty with ALiBi). */
  readonly invFreq: Float64Array;
  /** ALiBi slopes per head (empty with RoPE). */
  readonly slopes: Float64Array;
  /** The most tokens a session holds unless it asks for fewer. */
  readonly contextSize: number;
  /** The KV cache's precision. */
  readonly kvCache: "f32" | "f16";
  /** Whether `q8_0`/`q4_0` weights meet 8-bit activations. */
  readonly int8Dot: boolean;
  /** Most tokens per pass. */
  readonly chunk: number;
  /** The threads computing the products. */
  readonly threads: KernelThreads;
  /** The shared memory. */
  readonly memory: WasmMemory;
  /** The activation buffers (one pass at a time). */
  readonly buffers: WasmBuffers;

  private constructor(
    model: Pick<LoadedModel<WasmMatrix>, "spec" | "weights" | "loraDeltas">,
    memory: WasmMemory,
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
    this.contextSize = options.contextSize ?? Math.min(this.spec.maxPositions, 4096);
    this.kvCache = options.kvCache ?? "f32";
    this.int8Dot = options.int8Dot === true;
    this.chunk = buffers.x.length / this.spec.hidden;
    this.memory = memory;
    this.threads = threads;
    this.buffers = buffers;
  }

  /**
   * An engine over a loaded model: its matrices are copied into the shared memory.
   *
   * @param model the loaded model
   * @param options threads, context size, cache format
   * @returns the engine
   */
  static async create(
    model: Pick<LoadedModel, "spec" | "weights" | "loraDeltas">,
    options: WasmEngineOptions = {},
  ): Promise<WasmEngine> {
    const memory = new WasmMemory();
    const placed = new Map<WeightTensor, WasmMatrix>();
    const place = (t: WeightTensor) => {
      let p = placed.get(t);
      if (!p) placed.set(t, p = placeWasmMatrix(memory, t, options));
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
   * Load a model folder or GGUF file straight into the shared memory (each matrix copied in as
   * it is read; no second host copy).
   *
   * @param dir the model folder or `.gguf` file
   * @param options threads, context size, and the load's adapter, format and progress
   * @returns the engine
   */
  static async load(dir: string, options: WasmLoadOptions = {}): Promise<WasmEngine> {
    const memory = new WasmMemory();
    const model = await loadModel<WasmMatrix>(dir, { ...options, place: (t) => placeWasmMatrix(memory, t, options) });
    return await WasmEngine.#start(model, memory, options);
  }

  static async #start(
    model: Pick<LoadedModel<WasmMatrix>, "spec" | "weights" | "loraDeltas">,
    memory: WasmMemory,
    options: WasmEngineOptions,
  ): Promise<WasmEngine> {
    const { spec } = model;
    const chunk = options.chunk ?? 32;
    const qDim = spec.heads * spec.headDim;
    const kvDim = spec.kvHeads * spec.headDim;
    const widest = Math.max(spec.hidden, qDim, spec.intermediate);
    const buffers: WasmBuffers = {
      x: memory.floats(chunk * spec.hidden),
      xn: memory.floats(chunk * widest),
      xd: memory.floats(widest),
      q: memory.floats(chunk * qDim),
      k: memory.floats(chunk * kvDim),
      v: memory.floats(chunk * kvDim),
      attn: memory.floats(chunk * qDim),
      gate: memory.floats(chunk * spec.intermediate),
      up: memory.floats(chunk * spec.intermediate),
      proj: memory.floats(chunk * Math.max(spec.hidden, qDim)),
      logits: memory.floats(chunk * spec.vocabSize),
    };
    const threads = options.threads ?? availableCores();
    const scratch = Array.from({ length: threads }, () => memory.alloc(4 * widest * 4));
    const pool = await KernelThreads.start({
      module: await kernelsModule(),
      memory: memory.memory,
      threads,
      scratch,
      workerUrl: options.workerUrl,
    });
    return new WasmEngine(model, memory, pool, buffers, options);
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
   */
  linear(
    x: Float32Array,
    n: number,
    products: readonly { w: WasmMatrix; name: string; bias?: Tensor; y: Float32Array }[],
  ): void {
    const items: MatmulItem[] = [];
    const fallback: typeof products[number][] = [];
    let deinterleaved = false;
    for (const p of products) {
      const [out, inp] = p.w.shape;
      const kernel = this.#kernel(p.w, n);
      if (!kernel) {
        fallback.push(p);
        continue;
      }
      let xp = x.byteOffset;
      if (kernel === "mv_bf16" || kernel === "mv_f16") {
        if (!deinterleaved) deinterleave(x, inp, this.buffers.xd);
        deinterleaved = true;
        xp = this.buffers.xd.byteOffset;
      }
      items.push({ kernel, w: p.w.ptr, x: xp, y: p.y.byteOffset, inp, out, n });
    }
    if (items.length) this.threads.run(items);
    for (const p of fallback) {
      const xs = x.subarray(0, n * p.w.shape[1]);
      const w = p.w.tensor!;
      p.y.set(this.int8Dot && (w.dtype === "q8_0" || w.dtype === "q4_0") ? matmulInt8(xs, n, w) : matmul(xs, n, w));
    }
    for (const p of products) {
      const out = p.w.shape[0];
      if (p.bias) {
        const b = p.bias.data;
        for (let t = 0; t < n; t++) for (let o = 0; o < out; o++) p.y[t * out + o] += b[o];
      }
      const d = this.loraDeltas.get(p.name);
      if (d) {
        const xs = x.subarray(0, n * p.w.shape[1]);
        const ax = matmul(xs, n, { dtype: "f32", shape: [d.r, p.w.shape[1]], data: d.a });
        const bax = matmul(ax, n, { dtype: "f32", shape: [out, d.r], data: d.b });
        for (let i = 0; i < n * out; i++) p.y[i] += d.scale * bax[i];
      }
    }
  }

  /** The kernel for a matrix and a token count, or undefined where the oracle's product runs. */
  #kernel(w: WasmMatrix, n: number): KernelName | undefined {
    if (!w.grouped || !(KERNEL_FORMATS as readonly string[]).includes(w.dtype)) return undefined;
    return `${n === 1 ? "mv" : "mm"}_${w.dtype as KernelFormat}`;
  }
}

/** `x`'s first `inp` values as its even elements, then its odd ones (the 16-bit kernels' input). */
function deinterleave(x: Float32Array, inp: number, out: Float32Array): void {
  const half = inp >> 1;
  for (let i = 0; i < half; i++) {
    out[i] = x[2 * i];
    out[half + i] = x[2 * i + 1];
  }
}

/** A session: growable key and value caches per layer, as the oracle's. */
class WasmSession implements Session {
  readonly contextSize: number;
  #tokens: SessionTokens;
  #keys: Float32Array[];
  #values: Float32Array[];
  #scores: Float64Array;
  readonly #engine: WasmEngine;

  constructor(engine: WasmEngine, contextSize: number) {
    this.#engine = engine;
    this.contextSize = contextSize;
    this.#tokens = new SessionTokens(contextSize, engine.spec.vocabSize);
    const kvDim = engine.spec.kvHeads * engine.spec.headDim;
    const initial = Math.min(contextSize, 64) * kvDim;
    this.#keys = Array.from({ length: engine.spec.layers }, () => new Float32Array(initial));
    this.#values = Array.from({ length: engine.spec.layers }, () => new Float32Array(initial));
    this.#scores = new Float64Array(Math.min(contextSize, 64));
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

  truncate(length: number): void {
    this.#tokens.truncate(length);
  }

  reusePrefix(ids: readonly number[]): number {
    return this.#tokens.reusePrefix(ids);
  }

  fork(): Session {
    const copy = new WasmSession(this.#engine, this.contextSize);
    copy.#tokens = this.#tokens.copy();
    copy.#keys = this.#keys.map((k) => k.slice());
    copy.#values = this.#values.map((v) => v.slice());
    return copy;
  }

  dispose(): void {
    this.#keys = [];
    this.#values = [];
    this.#tokens.clear();
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
    const e = this.#engine;
    const { spec, weights, buffers: b } = e;
    const n = tokens.length;
    const start = this.#tokens.ids.length;
    const { hidden, heads, kvHeads, headDim, normEps, intermediate } = spec;
    const qDim = heads * headDim;
    const kvDim = kvHeads * headDim;
    this.#reserve(start + n, kvDim);
    const positions = tokens.map((_, i) => start + i);

    for (let t = 0; t < n; t++) {
      wasmMatrixRow(e.memory, weights.embed, tokens[t], b.x.subarray(t * hidden, (t + 1) * hidden));
    }
    for (let l = 0; l < spec.layers; l++) {
      const w = weights.layers[l];
      const p = `layers.${l}.`;
      rmsnormInto(b.x, n, hidden, w.attnNorm, normEps, b.xn);
      e.linear(b.xn, n, [
        { w: w.wq, name: p + "wq", bias: w.bq, y: b.q },
        { w: w.wk, name: p + "wk", bias: w.bk, y: b.k },
        { w: w.wv, name: p + "wv", bias: w.bv, y: b.v },
      ]);
      const q = b.q.subarray(0, n * qDim);
      const k = b.k.subarray(0, n * kvDim);
      const v = b.v.subarray(0, n * kvDim);
      if (spec.position.kind === "rope") {
        rope(q, n, heads, headDim, positions, e.invFreq);
        rope(k, n, kvHeads, headDim, positions, e.invFreq);
      }
      if (e.kvCache === "f16") {
        roundToHalf(k);
        roundToHalf(v);
      }
      this.#keys[l].set(k, start * kvDim);
      this.#values[l].set(v, start * kvDim);
      this.#attention(l, q, positions, b.attn);
      e.linear(b.attn, n, [{ w: w.wo, name: p + "wo", bias: w.bo, y: b.proj }]);
      addInPlace(b.x.subarray(0, n * hidden), b.proj.subarray(0, n * hidden));
      rmsnormInto(b.x, n, hidden, w.ffnNorm, normEps, b.xn);
      e.linear(b.xn, n, [{ w: w.w1, name: p + "w1", y: b.gate }, { w: w.w3, name: p + "w3", y: b.up }]);
      swigluInto(b.gate, b.up, n * intermediate);
      e.linear(b.gate, n, [{ w: w.w2, name: p + "w2", y: b.proj }]);
      addInPlace(b.x.subarray(0, n * hidden), b.proj.subarray(0, n * hidden));
    }
    this.#tokens.push(tokens);
    if (logits === "none") return [];
    const vocab = spec.vocabSize;
    if (logits === "last") {
      rmsnormInto(b.x.subarray((n - 1) * hidden, n * hidden), 1, hidden, weights.norm, normEps, b.xn);
      e.linear(b.xn, 1, [{ w: weights.output, name: "output", y: b.logits }]);
      return [b.logits.slice(0, vocab)];
    }
    rmsnormInto(b.x, n, hidden, weights.norm, normEps, b.xn);
    e.linear(b.xn, n, [{ w: weights.output, name: "output", y: b.logits }]);
    return Array.from({ length: n }, (_, t) => b.logits.slice(t * vocab, (t + 1) * vocab));
  }

  /** Causal attention of the new queries over all cached keys, as the oracle computes it. */
  #attention(layer: number, q: Float32Array, positions: readonly number[], out: Float32Array): void {
    const e = this.#engine;
    const { heads, kvHeads, headDim } = e.spec;
    const group = heads / kvHeads;
    const kvDim = kvHeads * headDim;
    const keys = this.#keys[layer];
    const values = this.#values[layer];
    const n = positions.length;
    out.fill(0, 0, n * heads * headDim);
    const scale = 1 / Math.sqrt(headDim);
    const scores = this.#scores;
    for (let t = 0; t < n; t++) {
      const pos = positions[t];
      for (let h = 0; h < heads; h++) {
        const kvh = Math.floor(h / group);
        const qBase = (t * heads + h) * headDim;
        for (let j = 0; j <= pos; j++) {
          const kBase = j * kvDim + kvh * headDim;
          let s = 0;
          for (let i = 0; i < headDim; i++) s += q[qBase + i] * keys[kBase + i];
          scores[j] = s * scale + (e.slopes.length ? e.slopes[h] * (j - pos) : 0);
        }
        softmax(scores, 0, pos + 1);
        for (let j = 0; j <= pos; j++) {
          const vBase = j * kvDim + kvh * headDim;
          const pj = scores[j];
          for (let i = 0; i < headDim; i++) out[qBase + i] += pj * values[vBase + i];
        }
      }
    }
  }

  #reserve(tokens: number, kvDim: number): void {
    if (this.#scores.length < tokens) this.#scores = new Float64Array(Math.min(this.contextSize, 2 * tokens));
    if (this.#keys[0].length >= tokens * kvDim) return;
    const size = Math.min(this.contextSize, Math.max(tokens, 2 * this.#keys[0].length / kvDim)) * kvDim;
    const grow = (a: Float32Array) => {
      const b = new Float32Array(size);
      b.set(a);
      return b;
    };
    this.#keys = this.#keys.map(grow);
    this.#values = this.#values.map(grow);
  }
}

/** RMSNorm of `n` rows of `x` into `out` (as the oracle's `rmsnorm`). */
function rmsnormInto(x: Float32Array, n: number, dim: number, weight: Tensor, eps: number, out: Float32Array): void {
  const g = weight.data;
  for (let t = 0; t < n; t++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[t * dim + i] ** 2;
    const scale = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) out[t * dim + i] = x[t * dim + i] * scale * g[i];
  }
}

/** `gate ← silu(gate) ⊙ up` over the first `count` values (as the oracle's `swiglu`). */
function swigluInto(gate: Float32Array, up: Float32Array, count: number): void {
  for (let i = 0; i < count; i++) gate[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
}

/** Each value replaced by the nearest IEEE half (what an f16 cache holds). */
function roundToHalf(a: Float32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = f16ToF32(f32ToF16(a[i]));
}
