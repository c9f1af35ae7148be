/**
 * The `cpu` engine: the forward pass of {@linkcode ModelSpec} in plain TypeScript, one step per
 * line of the maths. It is the oracle the WebGPU engine is checked against (and itself checked
 * against llama.cpp).
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
  rmsnorm,
  rope,
  roundToHalf,
  swiglu,
} from "./cpu_math.ts";
import { argmax, defaultContextSize, type Engine, maskedArgmax, type Session, type SessionOptions } from "../engine.ts";
import { SessionTokens } from "../session_tokens.ts";
import type { LoadedModel } from "../../model/load_model.ts";
import type { LoraDelta } from "../../model/lora.ts";
import { alibiSlopes, type ModelSpec, type ModelWeights, ropeInvFreq } from "../../model/model_spec.ts";
import type { Tensor } from "../../formats/tensor.ts";
import { weightRow, type WeightTensor } from "../../formats/quant_tensor.ts";
import { INT8_DOT_FORMATS } from "../../formats/int8_dot.ts";

/** Options of the CPU engine. */
export interface CpuEngineOptions {
  /** Default context size of sessions (default: the model's, at most 4096). */
  readonly contextSize?: number;
  /**
   * `f16`: round cached keys and values to half precision as they are stored, as an f16 KV
   * cache does (the oracle of the WebGPU engine's f16 cache). Default `f32`.
   */
  readonly kvCache?: "f32" | "f16";
  /**
   * Multiply ggml block weights (`q8_0`, `q4_0`, `q5_0`, `q4_k`, `q5_k`, `q6_k`) with activations
   * rounded to 8 bits, in integers (as llama.cpp does; the oracle of the WebGPU and `wasm`
   * engines' `int8Dot`). Default false: f32 activations.
   */
  readonly int8Dot?: boolean;
}

/**
 * The CPU engine.
 *
 * @example
 * ```ts
 * import { CpuEngine, loadModel } from "../../mod.ts";
 * import { writeRandomModel } from "../../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 32, hidden: 16, intermediate: 32, layers: 2, heads: 4,
 *   kvHeads: 2 });
 * const engine = new CpuEngine(await loadModel(dir));
 * const session = engine.createSession();
 * const logits = await session.forward([1, 5, 7]);
 * if (logits.length !== 32 || session.tokens.length !== 3) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class CpuEngine implements Engine {
  /** `cpu`. */
  readonly name = "cpu";
  /** What the model computes. */
  readonly spec: ModelSpec;
  /** The weights. */
  readonly weights: ModelWeights;
  /** LoRA updates applied on the fly (when the model was loaded with `loraMode: "separate"`). */
  readonly loraDeltas: ReadonlyMap<string, LoraDelta>;
  /** RoPE frequencies (empty with ALiBi). */
  readonly invFreq: Float64Array;
  /** ALiBi slopes per head (empty with RoPE). */
  readonly slopes: Float64Array;
  /** The most tokens a session holds unless it asks for fewer. */
  readonly contextSize: number;
  /** The KV cache's precision. */
  readonly kvCache: "f32" | "f16";
  /** Whether ggml block weights meet activations rounded to 8 bits. */
  readonly int8Dot: boolean;

  /**
   * An engine over a loaded model's weights (no copy).
   *
   * @param model the loaded model
   * @param options context size
   */
  constructor(model: Pick<LoadedModel, "spec" | "weights" | "loraDeltas">, options: CpuEngineOptions = {}) {
    this.spec = model.spec;
    this.weights = model.weights;
    this.loraDeltas = model.loraDeltas ?? new Map();
    const pos = this.spec.position;
    this.invFreq = pos.kind === "rope" ? ropeInvFreq(pos, this.spec.headDim) : new Float64Array();
    this.slopes = pos.kind === "alibi" ? alibiSlopes(this.spec.heads) : new Float64Array();
    this.contextSize = options.contextSize ?? defaultContextSize(this.spec, "cpu");
    this.kvCache = options.kvCache ?? "f32";
    this.int8Dot = options.int8Dot === true;
  }

  /**
   * A new, empty session.
   *
   * @param options context size
   * @returns the session
   */
  createSession(options: SessionOptions = {}): Session {
    return new CpuSession(this, options.contextSize ?? this.contextSize);
  }

  /** Nothing to free (the weights belong to the caller). */
  dispose(): void {}

  /**
   * A linear layer `W · x (+ b)`, plus `scale · B · (A · x)` when an update is kept apart.
   *
   * @param xs inputs `n × in`
   * @param n rows
   * @param w weight
   * @param name canonical name (`layers.0.wq`) for a separate LoRA update
   * @param bias optional bias
   * @returns outputs `n × out`
   */
  linear(xs: Float32Array, n: number, w: WeightTensor, name: string, bias?: Tensor): Float32Array {
    const y = this.int8Dot && (INT8_DOT_FORMATS as readonly string[]).includes(w.dtype)
      ? matmulInt8(xs, n, w, bias)
      : matmul(xs, n, w, bias);
    const d = this.loraDeltas.get(name);
    if (d) addLoraUpdate(y, xs, n, d);
    return y;
  }
}

/** A CPU session: growable key and value caches per layer. */
class CpuSession implements Session {
  readonly contextSize: number;
  #tokens: SessionTokens;
  #keys: Float32Array[];
  #values: Float32Array[];
  readonly #engine: CpuEngine;

  constructor(engine: CpuEngine, contextSize: number) {
    this.#engine = engine;
    this.contextSize = contextSize;
    this.#tokens = new SessionTokens(contextSize, engine.spec.vocabSize);
    const kvDim = engine.spec.kvHeads * engine.spec.headDim;
    const initial = Math.min(contextSize, 64) * kvDim;
    this.#keys = Array.from({ length: engine.spec.layers }, () => new Float32Array(initial));
    this.#values = Array.from({ length: engine.spec.layers }, () => new Float32Array(initial));
  }

  get tokens(): readonly number[] {
    return this.#tokens.ids;
  }

  // deno-lint-ignore require-await
  async forward(tokens: readonly number[]): Promise<Float32Array> {
    const all = this.#run(tokens, false);
    return all[all.length - 1];
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
    const copy = new CpuSession(this.#engine, this.contextSize);
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

  /** The forward pass for new tokens; logits for the last (or every) new position. */
  #run(tokens: readonly number[], allLogits: boolean): Float32Array[] {
    const e = this.#engine;
    const { spec, weights } = e;
    const n = tokens.length;
    this.#tokens.checkAppend(tokens);
    const start = this.#tokens.ids.length;
    const positions = tokens.map((_, i) => start + i);
    const { hidden, heads, kvHeads, headDim, normEps } = spec;
    const kvDim = kvHeads * headDim;
    this.#reserve(start + n, kvDim);

    // x = embedding rows of the tokens
    const x = new Float32Array(n * hidden);
    for (let t = 0; t < n; t++) x.set(embeddingRow(weights.embed, tokens[t]), t * hidden);

    for (let l = 0; l < spec.layers; l++) {
      const w = weights.layers[l];
      const p = `layers.${l}.`;
      // attention block
      const xn = rmsnorm(x, n, w.attnNorm, normEps);
      const q = e.linear(xn, n, w.wq, p + "wq", w.bq);
      const k = e.linear(xn, n, w.wk, p + "wk", w.bk);
      const v = e.linear(xn, n, w.wv, p + "wv", w.bv);
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
      const attn = this.#attention(l, q, positions);
      addInPlace(x, e.linear(attn, n, w.wo, p + "wo", w.bo));
      // MLP block
      const hn = rmsnorm(x, n, w.ffnNorm, normEps);
      const gate = e.linear(hn, n, w.w1, p + "w1");
      const up = e.linear(hn, n, w.w3, p + "w3");
      addInPlace(x, e.linear(swiglu(gate, up), n, w.w2, p + "w2"));
    }
    this.#tokens.push(tokens);

    const rows = allLogits ? positions.map((_, i) => i) : [n - 1];
    const out: Float32Array[] = [];
    for (const t of rows) {
      const xt = rmsnorm(x.subarray(t * hidden, (t + 1) * hidden), 1, weights.norm, normEps);
      out.push(e.linear(xt, 1, weights.output, "output"));
    }
    return out;
  }

  /**
   * Causal attention of the new queries over the cached keys (those in the sliding window, if
   * the model has one): per head, `softmax(q·kᵀ/√d + alibi) · V`, with grouped-query heads
   * sharing a key/value head.
   */
  #attention(layer: number, q: Float32Array, positions: readonly number[]): Float32Array {
    const e = this.#engine;
    const { heads, kvHeads, headDim } = e.spec;
    const group = heads / kvHeads;
    const kvDim = kvHeads * headDim;
    const keys = this.#keys[layer];
    const values = this.#values[layer];
    const n = positions.length;
    const out = new Float32Array(n * heads * headDim);
    const scale = 1 / Math.sqrt(headDim);
    const scores = new Float64Array(positions[n - 1] + 1);
    for (let t = 0; t < n; t++) {
      for (let h = 0; h < heads; h++) {
        const at = (t * heads + h) * headDim;
        const slope = e.slopes.length ? e.slopes[h] : 0;
        const kvh = Math.floor(h / group);
        const pos = positions[t];
        const from = firstAttended(pos, e.spec.slidingWindow);
        attendHead(q, at, keys, values, kvh * headDim, kvDim, headDim, pos, scale, slope, scores, out, at, from);
      }
    }
    return out;
  }

  #reserve(tokens: number, kvDim: number): void {
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

/**
 * One row of an embedding matrix, as f32.
 *
 * @param embed the embedding `[vocab, hidden]`, plain or quantized
 * @param id the token id
 * @returns its row
 *
 * @example
 * ```ts
 * import { embeddingRow } from "./cpu_engine.ts";
 * const r = embeddingRow({ dtype: "f16", shape: [2, 1], data: new Uint16Array([0x3c00, 0x4000]) }, 1);
 * if (r[0] !== 2) throw new Error();
 * ```
 */
export function embeddingRow(embed: WeightTensor, id: number): Float32Array {
  return weightRow(embed, id, new Float32Array(embed.shape[1]));
}
