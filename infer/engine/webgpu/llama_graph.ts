/**
 * The graph of the Llama family, the one decoder every architecture here computes (Llama,
 * Qwen2, Baichuan): embed; per layer RMSNorm, Q/K/V projections (K and V straight into the
 * cache, with biases where the spec has them), RoPE or ALiBi, attention, output projection
 * onto the residual, RMSNorm, SwiGLU MLP onto the residual; then the final norm and the logits.
 * A layer's attention is one `attention` dispatch (it rotates the queries itself), or with
 * `attention: "split"` four: `rope` on the queries, `attn_scores`, `softmax`, `attn_values`.
 * The spec's switches (biases, RoPE or ALiBi) are read here; an architecture whose maths
 * differs would get a graph file of its own beside this one.
 *
 * @module
 */

import type { ModelSpec } from "../../model/model_spec.ts";
import type { Activations } from "./activations.ts";
import { argmax, argmaxMasked } from "./kernels/argmax.ts";
import { attention, type AttentionKernel } from "./kernels/attention.ts";
import { attnScores } from "./kernels/attn_scores.ts";
import { attnValues } from "./kernels/attn_values.ts";
import { embed } from "./kernels/embed.ts";
import { matmulI8, quantizeX } from "./kernels/int8_dot.ts";
import { type KvFormat, kvStore } from "./kernels/kv_store.ts";
import { matmul, type MatmulStrategy } from "./kernels/matmul.ts";
import { type DecodeKernel, matvec } from "./kernels/matvec.ts";
import { matmulTiled, type PrefillKernel } from "./kernels/matmul_tiled.ts";
import { rmsnorm } from "./kernels/rmsnorm.ts";
import { rope } from "./kernels/rope.ts";
import { softmax } from "./kernels/softmax.ts";
import { swiglu } from "./kernels/swiglu.ts";
import type { RecordedDispatch, Recorder, StepDispatches } from "./record.ts";
import type { GpuMatrix, GpuWeights } from "./weights.ts";

/** What a session's graph is recorded over. */
export interface GraphInputs {
  /** What the model computes. */
  readonly spec: ModelSpec;
  /** Its weights on the device. */
  readonly weights: GpuWeights;
  /** The engine's work buffers. */
  readonly act: Activations;
  /** The session's key cache, one buffer per layer. */
  readonly keys: readonly GPUBuffer[];
  /** Its value cache. */
  readonly values: readonly GPUBuffer[];
  /** Its context size. */
  readonly context: number;
  /** The cos/sin table for `context` positions. */
  readonly ropeTable: GPUBuffer;
  /** How `matmul` splits its work. */
  readonly strategy: MatmulStrategy;
  /** The kernel of the multi-token products (`tiled` or `matmul`; the last token's logits always `matmul`). */
  readonly prefill: PrefillKernel;
  /** The KV cache's format: f32 (keys and values written straight into it) or f16 (stored after RoPE). */
  readonly kv: KvFormat;
  /** Whether `q8_0` and `q4_0` products round their activations to 8 bits (`dot4I8Packed`). */
  readonly int8: boolean;
  /**
   * The kernel of decode steps' products (default `matmul`): with `matvec`, or with the `tiled`
   * prefill kernel, the step is also recorded for one token (`StepDispatches.decode`), its
   * products by this kernel with `decode` (the code a batched decode step runs over its rows).
   */
  readonly decodeKernel?: DecodeKernel;
  /**
   * How each layer's attention is dispatched (default `fused`: one `attention` dispatch that
   * rotates the queries itself; `split`: `rope` on the queries, `attn_scores`, `softmax`,
   * `attn_values`).
   */
  readonly attention?: AttentionKernel;
}

/** What the shared part of a batched decode step is recorded over (no session's buffers). */
export type BatchGraphInputs = Omit<GraphInputs, "keys" | "values" | "context" | "ropeTable">;

/**
 * The engine's dispatches of a batched decode step (one token per session, session `i`'s in row
 * `i` of the work buffers), recorded once over the engine's step uniform (`n` = sessions): the
 * embedding, each layer's products and norms over all rows (each weight read once for all the
 * sessions), and every row's logits. Between a layer's `before` and `after` go the sessions'
 * own dispatches ({@linkcode llamaSessionAttention}).
 */
export interface BatchDispatches {
  /** The embedding of every row. */
  readonly head: readonly RecordedDispatch[];
  /**
   * Per layer: `before` the sessions' attention (the norm, then the Q/K/V products into the
   * query rows and the staged key and value rows), `after` it (the output projection onto the
   * residual, the norm, the MLP).
   */
  readonly layers: readonly {
    readonly before: readonly RecordedDispatch[];
    readonly after: readonly RecordedDispatch[];
  }[];
  /** The final norm and the logits of every row. */
  readonly tail: readonly RecordedDispatch[];
}

/** Options of one matrix product, beyond its matrix and buffers. */
interface Product {
  readonly bias?: GPUBuffer;
  readonly yStride: number;
  readonly yRows: number;
  readonly yPos?: boolean;
  readonly oneToken?: boolean;
  readonly accumulate?: boolean;
}

/**
 * Record a session's step: the body (embed and every layer) and the four tails; with
 * `decodeKernel: "matvec"` or the `tiled` prefill kernel, once more for one-token steps, their
 * products by the decode kernel.
 *
 * @param rec the session's recorder
 * @param g weights, work buffers, caches
 * @returns the dispatches
 *
 * @example
 * ```ts
 * import { llamaGraph } from "./llama_graph.ts";
 * if (typeof llamaGraph !== "function") throw new Error();
 * ```
 */
export function llamaGraph(rec: Recorder, g: GraphInputs): StepDispatches {
  const ops = graph(rec, g, false);
  return g.decodeKernel === "matvec" || g.prefill === "tiled" ? { ...ops, decode: graph(rec, g, true) } : ops;
}

/**
 * Record the engine's part of a batched decode step (see {@linkcode BatchDispatches}): its
 * products run the kernel of single-session decode steps, whose arithmetic per token does not
 * depend on the token count, so each session gets the bits of its own step.
 *
 * @param rec a recorder over the engine's step uniform
 * @param g weights and work buffers
 * @returns the dispatches
 *
 * @example
 * ```ts
 * import { llamaBatchGraph } from "./llama_graph.ts";
 * if (typeof llamaBatchGraph !== "function") throw new Error();
 * ```
 */
export function llamaBatchGraph(rec: Recorder, g: BatchGraphInputs): BatchDispatches {
  // No session's buffers: only the pieces that bind none are used (no RoPE, no attention).
  const b = builder(rec, { ...g, keys: [], values: [], context: 1, ropeTable: g.act.step }, true);
  const { spec, act } = g;
  const B = act.batch;
  const kvDim = spec.kvHeads * spec.headDim;
  const layers = g.weights.layers.map((l, i) => {
    const n = `layers.${i}.`;
    return {
      before: [
        b.norm(l.attnNorm),
        ...b.product(l.wq, act.xn, act.q, { bias: l.bq, yStride: spec.heads * spec.headDim, yRows: B }, n + "wq"),
        ...b.product(l.wk, act.xn, act.kNew, { bias: l.bk, yStride: kvDim, yRows: B }, n + "wk"),
        ...b.product(l.wv, act.xn, act.vNew, { bias: l.bv, yStride: kvDim, yRows: B }, n + "wv"),
      ],
      after: b.mlp(l, i),
    };
  });
  return { head: b.embed(), layers, tail: b.allLogits() };
}

/**
 * Record a session's own dispatches of a batched decode step, per layer: RoPE on its staged
 * key row at its position, its key and value stored into its cache, its attention (which
 * rotates its query row; the same dispatch as in its own decode step, so the same bits).
 * `rec` binds the session's own step uniform (`n = 1`, its position, `row0` its row).
 *
 * @param rec a recorder over the session's step uniform
 * @param g weights, work buffers, the session's caches
 * @returns one list per layer
 *
 * @example
 * ```ts
 * import { llamaSessionAttention } from "./llama_graph.ts";
 * if (typeof llamaSessionAttention !== "function") throw new Error();
 * ```
 */
export function llamaSessionAttention(rec: Recorder, g: GraphInputs): RecordedDispatch[][] {
  const { spec, act, context } = g;
  const B = act.batch;
  const kvDim = spec.kvHeads * spec.headDim;
  const b = builder(rec, g, true);
  return g.weights.layers.map((_, i) => {
    const out: RecordedDispatch[] = [];
    if (b.table) out.push(rec.record(rope({ x: act.kNew, xRows: B, heads: spec.kvHeads, ...b.table })));
    out.push(rec.record(kvStore({ x: act.kNew, batch: B, cache: g.keys[i], context, kvDim, kv: g.kv })));
    out.push(rec.record(kvStore({ x: act.vNew, batch: B, cache: g.values[i], context, kvDim, kv: g.kv })));
    out.push(...b.attention(i));
    return out;
  });
}

/** The step's dispatches; with `decode`, for one token only (products by the decode kernel). */
function graph(rec: Recorder, g: GraphInputs, decode: boolean): StepDispatches {
  const { spec, act, context } = g;
  const B = act.batch;
  const q = spec.heads * spec.headDim;
  const kvDim = spec.kvHeads * spec.headDim;
  const b = builder(rec, g, decode);
  const body: RecordedDispatch[] = [...b.embed()];
  g.weights.layers.forEach((l, i) => {
    const keys = g.keys[i];
    const values = g.values[i];
    body.push(b.norm(l.attnNorm));
    const n = `layers.${i}.`;
    body.push(...b.product(l.wq, act.xn, act.q, { bias: l.bq, yStride: q, yRows: B }, n + "wq"));
    if (g.kv === "f32") {
      // Keys and values go straight into the cache rows of their positions; RoPE rotates them there.
      const into = { yStride: kvDim, yRows: context, yPos: true };
      body.push(...b.product(l.wk, act.xn, keys, { bias: l.bk, ...into }, n + "wk"));
      body.push(...b.product(l.wv, act.xn, values, { bias: l.bv, ...into }, n + "wv"));
      if (b.table) {
        body.push(rec.record(rope({ x: keys, xRows: context, xPos: true, heads: spec.kvHeads, ...b.table })));
      }
    } else {
      // Computed in f32 rows, rotated, then stored as halves.
      body.push(...b.product(l.wk, act.xn, act.kNew, { bias: l.bk, yStride: kvDim, yRows: B }, n + "wk"));
      body.push(...b.product(l.wv, act.xn, act.vNew, { bias: l.bv, yStride: kvDim, yRows: B }, n + "wv"));
      if (b.table) body.push(rec.record(rope({ x: act.kNew, xRows: B, heads: spec.kvHeads, ...b.table })));
      body.push(rec.record(kvStore({ x: act.kNew, batch: B, cache: keys, context, kvDim })));
      body.push(rec.record(kvStore({ x: act.vNew, batch: B, cache: values, context, kvDim })));
    }
    body.push(...b.attention(i));
    body.push(...b.mlp(l, i));
  });
  const last = [
    b.norm(g.weights.norm, true),
    ...b.product(g.weights.output, act.xn, act.logits, { yStride: spec.vocabSize, yRows: B, oneToken: true }, "output"),
  ];
  const greedy = [...last, rec.record(argmax({ logits: act.logits, out: act.argmax, vocab: spec.vocabSize }))];
  const masked = [
    ...last,
    rec.record(argmaxMasked({ logits: act.logits, mask: act.mask, out: act.argmax, vocab: spec.vocabSize })),
  ];
  return { body, last, argmax: greedy, maskedArgmax: masked, all: b.allLogits() };
}

/** The pieces the graphs are made of, recorded with `rec`; with `decode`, products by the decode kernel. */
function builder(rec: Recorder, g: GraphInputs, decode: boolean) {
  const { spec, act, weights: w, context, strategy } = g;
  const B = act.batch;
  const chunks = (m: GpuMatrix, x: GPUBuffer, y: GPUBuffer, o: Product): RecordedDispatch[] => {
    if (g.int8 && (m.dtype === "q8_0" || m.dtype === "q4_0")) {
      const dtype = m.dtype;
      const out = [rec.record(quantizeX({ x, k: m.cols, tokens: B, xq: act.xq, xd: act.xd }))];
      for (const c of m.chunks) {
        const i8 = { xq: act.xq, xd: act.xd, xRows: B, y, ...o };
        out.push(rec.record(matmulI8({ w: c.buffer, dtype, k: m.cols, rowStart: c.rowStart, rows: c.rows, ...i8 })));
      }
      return out;
    }
    const kernel = decode
      ? (g.decodeKernel === "matvec" ? matvec : matmul)
      : g.prefill === "tiled" && !o.oneToken
      ? matmulTiled
      : matmul;
    return m.chunks.map((c) =>
      rec.record(kernel({
        w: c.buffer,
        dtype: m.dtype,
        k: m.cols,
        rowStart: c.rowStart,
        rows: c.rows,
        x,
        xRows: B,
        y,
        strategy,
        decode,
        ...o,
      }))
    );
  };
  /** `y (+)= W · x (+ b)`, then `+= B' · (A · x)` where the weight has an unmerged LoRA update. */
  const product = (m: GpuMatrix, x: GPUBuffer, y: GPUBuffer, o: Product, name?: string): RecordedDispatch[] => {
    const out = chunks(m, x, y, o);
    const u = name === undefined ? undefined : w.lora.get(name);
    if (u) {
      const tmp = { yStride: u.r, yRows: B, oneToken: o.oneToken };
      out.push(...chunks(u.a, x, act.loraTmp, tmp));
      out.push(...chunks(u.b, act.loraTmp, y, { ...o, bias: undefined, accumulate: true }));
    }
    return out;
  };
  const norm = (weight: GPUBuffer, lastOnly = false): RecordedDispatch =>
    rec.record(rmsnorm({ x: act.x, weight, y: act.xn, dim: spec.hidden, eps: spec.normEps, lastOnly, tokens: B }));
  const heads = { heads: spec.heads, kvHeads: spec.kvHeads, headDim: spec.headDim, batch: B, context };
  const alibi = spec.position.kind !== "rope";
  const table = alibi ? undefined : { table: g.ropeTable, context, headDim: spec.headDim };
  return {
    product,
    norm,
    /** The RoPE table's arguments (undefined with ALiBi). */
    table,
    embed: (): RecordedDispatch[] =>
      w.embed.chunks.map((c) =>
        rec.record(embed({
          w: c.buffer,
          dtype: w.embed.dtype,
          rowStart: c.rowStart,
          rows: c.rows,
          dim: spec.hidden,
          ids: act.ids,
          x: act.x,
          tokens: B,
        }))
      ),
    /** Attention over layer `i`'s cache (the queries rotated by it, or by `rope` first when split). */
    attention: (i: number): RecordedDispatch[] => {
      const kv = g.kv;
      const caches = { k: g.keys[i], v: g.values[i], s: act.scores, slopes: act.slopes, alibi, kv, ...heads };
      if (g.attention !== "split") {
        return [rec.record(attention({ q: act.q, table: g.ropeTable, o: act.attn, ...caches }))];
      }
      const out: RecordedDispatch[] = [];
      if (table) out.push(rec.record(rope({ x: act.q, xRows: B, heads: spec.heads, ...table })));
      out.push(rec.record(attnScores({ q: act.q, ...caches })));
      out.push(rec.record(softmax({ s: act.scores, heads: spec.heads, batch: B, context })));
      out.push(rec.record(attnValues({ o: act.attn, ...caches })));
      return out;
    },
    /** The output projection onto the residual, the norm, the MLP onto the residual. */
    mlp: (l: GpuWeights["layers"][number], i: number): RecordedDispatch[] => {
      const n = `layers.${i}.`;
      return [
        ...product(l.wo, act.attn, act.x, { bias: l.bo, yStride: spec.hidden, yRows: B, accumulate: true }, n + "wo"),
        norm(l.ffnNorm),
        ...product(l.w1, act.xn, act.gate, { yStride: spec.intermediate, yRows: B }, n + "w1"),
        ...product(l.w3, act.xn, act.up, { yStride: spec.intermediate, yRows: B }, n + "w3"),
        rec.record(swiglu({ gate: act.gate, up: act.up, inner: spec.intermediate, tokens: B })),
        ...product(l.w2, act.gate, act.x, { yStride: spec.hidden, yRows: B, accumulate: true }, n + "w2"),
      ];
    },
    /** The final norm and every row's logits. */
    allLogits: (): RecordedDispatch[] => [
      norm(w.norm),
      ...product(w.output, act.xn, act.logits, { yStride: spec.vocabSize, yRows: B }, "output"),
    ],
  };
}
