/**
 * What a model computes, independent of how: the dimensions and variants of a decoder-only
 * transformer (pre-norm RMSNorm, grouped-query attention with RoPE or ALiBi, SwiGLU MLP) and
 * its canonical weights. Architectures map their `config.json` and tensor names onto this; the
 * engines (`cpu`, `webgpu`) compute it.
 *
 * Per layer `l`, for hidden states `x` (one row per token):
 * ```
 * h = x + wo · attention(rope(wq · rmsnorm(x)), rope(wk · rmsnorm(x)), wv · rmsnorm(x))
 * x = h + w2 · (silu(w1 · rmsnorm(h)) ⊙ (w3 · rmsnorm(h)))
 * logits = output · rmsnorm(x)
 * ```
 *
 * @module
 */

import type { Tensor } from "../formats/tensor.ts";
import type { WeightTensor } from "../formats/quant_tensor.ts";

/** The model families this engine knows. */
export type Architecture = "llama" | "qwen2" | "baichuan";

/** RoPE scaling of long-context models. */
export type RopeScaling =
  | { readonly type: "linear"; readonly factor: number }
  | {
    readonly type: "llama3";
    readonly factor: number;
    readonly lowFreqFactor: number;
    readonly highFreqFactor: number;
    readonly originalMaxPositions: number;
  };

/** Rotary position embedding (rotate-half layout, as Hugging Face computes it). */
export interface RopeSpec {
  /** RoPE. */
  readonly kind: "rope";
  /** Base of the frequencies (`rope_theta`). */
  readonly theta: number;
  /** Scaling, when the config asks for it. */
  readonly scaling?: RopeScaling;
}

/** ALiBi: a per-head linear bias on attention scores instead of position embeddings. */
export interface AlibiSpec {
  /** ALiBi. */
  readonly kind: "alibi";
}

/** The dimensions and variants of a model. */
export interface ModelSpec {
  /** The family the config names. */
  readonly architecture: Architecture;
  /** Vocabulary size (rows of the embedding and of the output matrix). */
  readonly vocabSize: number;
  /** Hidden size. */
  readonly hidden: number;
  /** MLP inner size. */
  readonly intermediate: number;
  /** Decoder layers. */
  readonly layers: number;
  /** Query heads. */
  readonly heads: number;
  /** Key/value heads (grouped-query attention when fewer than `heads`). */
  readonly kvHeads: number;
  /** Size of one head. */
  readonly headDim: number;
  /** RMSNorm epsilon. */
  readonly normEps: number;
  /** Position encoding. */
  readonly position: RopeSpec | AlibiSpec;
  /** Whether q, k and v projections have biases (Qwen2, Llama `attention_bias`). */
  readonly qkvBias: boolean;
  /** Whether the output projection has a bias (Llama `attention_bias`). */
  readonly oBias: boolean;
  /** Whether the output matrix is the embedding matrix. */
  readonly tiedEmbeddings: boolean;
  /** Baichuan 2's NormHead: output rows normalized to unit length (done once at load). */
  readonly normHead: boolean;
  /** Longest context the model was trained for. */
  readonly maxPositions: number;
  /**
   * Sliding-window attention (Mistral 7B v0.1: 4096): a query at position `p` attends to keys
   * `p − W < j ≤ p` only. Absent: every earlier key.
   */
  readonly slidingWindow?: number;
  /** BOS id from the config, when given. */
  readonly bosId?: number;
  /** EOS ids from the config (one or more). */
  readonly eosIds: readonly number[];
}

/**
 * The weights of one decoder layer, in canonical names (matrices `[out, in]`). `M` is how a
 * matrix is held: a host {@linkcode WeightTensor} (plain or quantized) by default, or where an engine
 * placed it as it was read.
 */
export interface LayerWeights<M = WeightTensor> {
  /** RMSNorm scale before attention `[hidden]`. */
  readonly attnNorm: Tensor;
  /** Query projection `[heads·headDim, hidden]`. */
  readonly wq: M;
  /** Key projection `[kvHeads·headDim, hidden]`. */
  readonly wk: M;
  /** Value projection `[kvHeads·headDim, hidden]`. */
  readonly wv: M;
  /** Attention output projection `[hidden, heads·headDim]`. */
  readonly wo: M;
  /** Query bias, when the model has one. */
  readonly bq?: Tensor;
  /** Key bias. */
  readonly bk?: Tensor;
  /** Value bias. */
  readonly bv?: Tensor;
  /** Output-projection bias. */
  readonly bo?: Tensor;
  /** RMSNorm scale before the MLP `[hidden]`. */
  readonly ffnNorm: Tensor;
  /** MLP gate projection (`gate_proj`) `[intermediate, hidden]`. */
  readonly w1: M;
  /** MLP down projection (`down_proj`) `[hidden, intermediate]`. */
  readonly w2: M;
  /** MLP up projection (`up_proj`) `[intermediate, hidden]`. */
  readonly w3: M;
}

/** All weights of a model, in canonical names. Norm scales and biases are f32 host tensors. */
export interface ModelWeights<M = WeightTensor> {
  /** Token embedding `[vocab, hidden]`. */
  readonly embed: M;
  /** Decoder layers. */
  readonly layers: readonly LayerWeights<M>[];
  /** Final RMSNorm scale `[hidden]`. */
  readonly norm: Tensor;
  /** Output (LM head) matrix `[vocab, hidden]`; the embedding itself when tied. */
  readonly output: M;
}

/**
 * The RoPE inverse frequencies of a head, with the spec's scaling applied: the angle of pair
 * `i` at position `p` is `p · invFreq[i]`, rotating elements `i` and `i + headDim/2`.
 *
 * @param rope the RoPE spec
 * @param headDim the head size
 * @returns `headDim / 2` frequencies
 *
 * @example
 * ```ts
 * import { ropeInvFreq } from "./model_spec.ts";
 * const f = ropeInvFreq({ kind: "rope", theta: 10000 }, 4);
 * if (f[0] !== 1 || Math.abs(f[1] - 0.01) > 1e-9) throw new Error(String(f));
 * ```
 */
export function ropeInvFreq(rope: RopeSpec, headDim: number): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / rope.theta ** ((2 * i) / headDim);
  const s = rope.scaling;
  if (s?.type === "linear") {
    for (let i = 0; i < half; i++) inv[i] /= s.factor;
  } else if (s?.type === "llama3") {
    const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositions / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = 2 * Math.PI / inv[i];
      if (wavelen > lowWavelen) inv[i] /= s.factor;
      else if (wavelen >= highWavelen) {
        const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = (1 - smooth) * inv[i] / s.factor + smooth * inv[i];
      }
    }
  }
  return inv;
}

/**
 * ALiBi slopes per head (Press et al.; Baichuan-13B's and llama.cpp's formula with maximum
 * bias 8): geometric for a power-of-two head count, interleaved with the next power's otherwise.
 *
 * @param heads number of attention heads
 * @returns one slope per head
 *
 * @example
 * ```ts
 * import { alibiSlopes } from "./model_spec.ts";
 * const s = alibiSlopes(8);
 * if (s[0] !== 0.5 || s[7] !== 2 ** -8) throw new Error(String(s));
 * ```
 */
export function alibiSlopes(heads: number): Float64Array {
  const pow2 = 2 ** Math.floor(Math.log2(heads));
  const m0 = 2 ** (-8 / pow2);
  const m1 = 2 ** (-4 / pow2);
  const slopes = new Float64Array(heads);
  for (let h = 0; h < heads; h++) slopes[h] = h < pow2 ? m0 ** (h + 1) : m1 ** (2 * (h - pow2) + 1);
  return slopes;
}

/**
 * Parameters of a model spec (embedding and output counted once when tied).
 *
 * @param spec the model
 * @returns the count
 *
 * @example
 * ```ts
 * import { parameterCount } from "./model_spec.ts";
 * const n = parameterCount({ architecture: "llama", vocabSize: 10, hidden: 4, intermediate: 8, layers: 1, heads: 2,
 *   kvHeads: 2, headDim: 2, normEps: 1e-5, position: { kind: "rope", theta: 1e4 }, qkvBias: false, oBias: false,
 *   tiedEmbeddings: true, normHead: false, maxPositions: 16, eosIds: [] });
 * if (n !== 40 + 4 + 4 * 16 + 4 + 3 * 32 + 4) throw new Error(String(n));
 * ```
 */
export function parameterCount(spec: ModelSpec): number {
  const q = spec.heads * spec.headDim;
  const kv = spec.kvHeads * spec.headDim;
  const attn = spec.hidden * (q + 2 * kv) + q * spec.hidden + (spec.qkvBias ? q + 2 * kv : 0) +
    (spec.oBias ? spec.hidden : 0);
  const mlp = 3 * spec.hidden * spec.intermediate;
  const perLayer = attn + mlp + 2 * spec.hidden;
  const embed = spec.vocabSize * spec.hidden;
  return embed * (spec.tiedEmbeddings ? 1 : 2) + spec.layers * perLayer + spec.hidden;
}
