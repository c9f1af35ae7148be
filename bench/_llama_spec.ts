/**
 * The spec of a LLaMA-shaped model from its sizes, for the benches that work out memory from a
 * model's shape alone (no weights).
 *
 * @module
 */

import type { ModelSpec } from "../infer/model/model_spec.ts";

/** A LLaMA model's sizes. */
export interface LlamaSizes {
  /** Vocabulary size. */
  readonly vocab: number;
  /** Hidden size. */
  readonly hidden: number;
  /** MLP inner size. */
  readonly inter: number;
  /** Layers. */
  readonly layers: number;
  /** Attention heads. */
  readonly heads: number;
  /** Key/value heads. */
  readonly kv: number;
}

/**
 * The spec of a LLaMA model of these sizes (RoPE, no biases, its own output matrix).
 *
 * @param o the sizes
 * @returns the spec
 *
 * @example
 * ```ts
 * import { llamaSpec } from "./_llama_spec.ts";
 * if (llamaSpec({ vocab: 32000, hidden: 4096, inter: 11008, layers: 32, heads: 32, kv: 32 }).headDim !== 128) throw new Error();
 * ```
 */
export function llamaSpec(o: LlamaSizes): ModelSpec {
  return {
    architecture: "llama",
    vocabSize: o.vocab,
    hidden: o.hidden,
    intermediate: o.inter,
    layers: o.layers,
    heads: o.heads,
    kvHeads: o.kv,
    headDim: o.hidden / o.heads,
    normEps: 1e-5,
    position: { kind: "rope", theta: 1e4 },
    qkvBias: false,
    oBias: false,
    tiedEmbeddings: false,
    normHead: false,
    maxPositions: 4096,
    eosIds: [2],
  };
}
