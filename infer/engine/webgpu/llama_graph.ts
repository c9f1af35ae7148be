/**
 * The graph of the Llama family, the one decoder every architecture here computes (Llama,
 * Qwen2, Baichuan): embed; per layer RMSNorm, Q/K/V projections into the step's rows (with
 * biases where the spec has them), the keys rotated (RoPE; none with ALiBi) and stored with the
 * values into the cache, attention, output projection onto the residual, RMSNorm, SwiGLU MLP
 * onto the residual; then the final norm and the logits. The spec's switches (biases, RoPE or
 * ALiBi) are read here; an architecture whose maths differs would get a graph file of its own
 * beside this one.
 *
 * A layer's attention is one `attention` dispatch (it rotates the queries itself), or with
 * `attention: "split"` four: `rope` on the queries, `attn_scores`, `softmax`, `attn_values`.
 * Decode steps by the `matvec` kernel fuse what a one-token step can: the norm folded into the
 * product after it, Q/K/V as one dispatch (`matvec_qkv`), gate, up and SwiGLU as one
 * (`matvec_swiglu`), the keys and values into the cache as one (`kv_append`): 6 dispatches per
 * layer. A LoRA update kept apart adds its own products (and keeps the norm it reads).
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
import { kvAppend } from "./kernels/kv_append.ts";
import { type KvFormat, kvStore } from "./kernels/kv_store.ts";
import { matmul, type MatmulStrategy } from "./kernels/matmul.ts";
import { type DecodeKernel, matvec } from "./kernels/matvec.ts";
import { matvecQkv, matvecQkvFits } from "./kernels/matvec_qkv.ts";
import { matvecSwiglu, matvecSwigluFits } from "./kernels/matvec_swiglu.ts";
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
  const layers = g.weights.layers.map((l, i) => ({ before: b.qkv(l, i), after: b.mlp(l, i) }));
  return { head: b.embed(), layers, tail: b.allLogits() };
}

/**
 * Record a session's own dispatches of a batched decode step, per layer: its staged key row
 * rotated at its position and stored with its value row into its cache (`kv_append`), its
 * attention (which rotates its query row); the same dispatches as in its own decode step, so
 * the same bits.
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
  const b = builder(rec, g, true);
  return g.weights.layers.map((_, i) => [...b.append(i), ...b.attention(i)]);
}

/** The step's dispatches; with `decode`, for one token only (products by the decode kernel). */
function graph(rec: Recorder, g: GraphInputs, decode: boolean): StepDispatches {
  const { spec, act } = g;
  const B = act.batch;
  const b = builder(rec, g, decode);
  const body: RecordedDispatch[] = [...b.embed()];
  g.weights.layers.forEach((l, i) => {
    body.push(...b.qkv(l, i), ...b.append(i), ...b.attention(i), ...b.mlp(l, i));
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
  /** Whether the int8 path computes products of a matrix (it keeps its own kernel). */
  const int8 = (m: GpuMatrix): m is GpuMatrix & { dtype: "q8_0" | "q4_0" } =>
    g.int8 && (m.dtype === "q8_0" || m.dtype === "q4_0");
  const chunks = (m: GpuMatrix, x: GPUBuffer, y: GPUBuffer, o: Product): RecordedDispatch[] => {
    if (int8(m)) {
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
  const norm = (weight: GPUBuffer, lastOnly = false): RecordedDispatch =>
    rec.record(rmsnorm({ x: act.x, weight, y: act.xn, dim: spec.hidden, eps: spec.normEps, lastOnly, tokens: B }));
  /** `y += B' · (A · x)` where the weight `name` has an unmerged LoRA update (nothing otherwise). */
  const lora = (name: string | undefined, x: GPUBuffer, y: GPUBuffer, o: Product): RecordedDispatch[] => {
    const u = name === undefined ? undefined : w.lora.get(name);
    if (!u) return [];
    const tmp = { yStride: u.r, yRows: B, oneToken: o.oneToken };
    return [
      ...chunks(u.a, x, act.loraTmp, tmp),
      ...chunks(u.b, act.loraTmp, y, { ...o, bias: undefined, accumulate: true }),
    ];
  };
  /** `y (+)= W · x (+ b)`, then `+= B' · (A · x)` where the weight has an unmerged LoRA update. */
  const product = (m: GpuMatrix, x: GPUBuffer, y: GPUBuffer, o: Product, name?: string): RecordedDispatch[] => [
    ...chunks(m, x, y, o),
    ...lora(name, x, y, o),
  ];
  const q = spec.heads * spec.headDim;
  const kvDim = spec.kvHeads * spec.headDim;
  /**
   * The query, key and value rows of the step (`act.q`, `act.kNew`, `act.vNew`): in one dispatch
   * for decode steps by the `matvec` kernel (each matrix one chunk in a format it takes, none on
   * the int8 path), then any LoRA updates kept apart; otherwise three products.
   */
  const qkv = (l: GpuWeights["layers"][number], i: number): RecordedDispatch[] => {
    const n = `layers.${i}.`;
    const mats = [l.wq, l.wk, l.wv];
    const fused = decode && g.decodeKernel === "matvec" &&
      matvecQkvFits(mats.map((m) => m.dtype), spec.hidden) && mats.every((m) => m.chunks.length === 1 && !int8(m));
    if (!fused) {
      return [
        norm(l.attnNorm),
        ...product(l.wq, act.xn, act.q, { bias: l.bq, yStride: q, yRows: B }, n + "wq"),
        ...product(l.wk, act.xn, act.kNew, { bias: l.bk, yStride: kvDim, yRows: B }, n + "wk"),
        ...product(l.wv, act.xn, act.vNew, { bias: l.bv, yStride: kvDim, yRows: B }, n + "wv"),
      ];
    }
    const one = (m: GpuMatrix) => ({ w: m.chunks[0].buffer, dtype: m.dtype });
    // The norm is folded in unless a LoRA update kept apart reads the normalised rows, or the
    // device binds too few buffers for it (the raw rows and the norm's weight then stay out).
    const updated = ["wq", "wk", "wv"].some((m) => w.lora.has(n + m));
    const fold = !updated && rec.maxStorageBuffers >= 9 + (l.bqkv ? 1 : 0);
    return [
      ...(fold ? [] : [norm(l.attnNorm)]),
      rec.record(matvecQkv({
        wq: one(l.wq),
        wk: one(l.wk),
        wv: one(l.wv),
        k: spec.hidden,
        qRows: q,
        kvRows: kvDim,
        x: fold ? act.x : act.xn,
        batch: B,
        q: act.q,
        kn: act.kNew,
        vn: act.vNew,
        bias: l.bqkv,
        norm: fold ? { weight: l.attnNorm, eps: spec.normEps } : undefined,
      })),
      ...lora(n + "wq", act.xn, act.q, { yStride: q, yRows: B }),
      ...lora(n + "wk", act.xn, act.kNew, { yStride: kvDim, yRows: B }),
      ...lora(n + "wv", act.xn, act.vNew, { yStride: kvDim, yRows: B }),
    ];
  };
  /**
   * `gate = silu(W1 · xn) · (W3 · xn)`: in one dispatch per chunk for decode steps by the `matvec`
   * kernel (both matrices in one format it takes, neither with a LoRA update kept apart),
   * otherwise the two products and the gate.
   */
  const gateUp = (l: GpuWeights["layers"][number], n: string): RecordedDispatch[] => {
    const o = { yStride: spec.intermediate, yRows: B };
    const fused = decode && g.decodeKernel === "matvec" && !int8(l.w1) &&
      matvecSwigluFits(l.w1.dtype, l.w3.dtype, l.w1.cols) && !w.lora.has(n + "w1") && !w.lora.has(n + "w3");
    if (fused) {
      // The norm is folded in (its dispatch saved); `x` is then the raw residual.
      const fold = { weight: l.ffnNorm, eps: spec.normEps };
      return l.w1.chunks.map((c, j) =>
        rec.record(matvecSwiglu({
          w: c.buffer,
          wu: l.w3.chunks[j].buffer,
          dtype: l.w1.dtype,
          k: l.w1.cols,
          rowStart: c.rowStart,
          rows: c.rows,
          x: act.x,
          xRows: B,
          y: act.gate,
          norm: fold,
          ...o,
        }))
      );
    }
    return [
      norm(l.ffnNorm),
      ...product(l.w1, act.xn, act.gate, o, n + "w1"),
      ...product(l.w3, act.xn, act.up, o, n + "w3"),
      rec.record(swiglu({ gate: act.gate, up: act.up, inner: spec.intermediate, tokens: B })),
    ];
  };
  const heads = { heads: spec.heads, kvHeads: spec.kvHeads, headDim: spec.headDim, batch: B, context };
  const alibi = spec.position.kind !== "rope";
  const table = alibi ? undefined : { table: g.ropeTable, context, headDim: spec.headDim };
  return {
    product,
    norm,
    qkv,
    /**
     * The step's key rows, rotated (RoPE), and value rows into layer `i`'s caches: one
     * `kv_append` where the head width is a multiple of 4, else RoPE and two stores.
     */
    append: (i: number): RecordedDispatch[] => {
      if (spec.headDim % 4 === 0) {
        return [rec.record(kvAppend({
          k: act.kNew,
          v: act.vNew,
          batch: B,
          keys: g.keys[i],
          values: g.values[i],
          kv: g.kv,
          context,
          kvHeads: spec.kvHeads,
          headDim: spec.headDim,
          table: table?.table,
        }))];
      }
      return [
        ...(table ? [rec.record(rope({ x: act.kNew, xRows: B, heads: spec.kvHeads, ...table }))] : []),
        rec.record(kvStore({ x: act.kNew, batch: B, cache: g.keys[i], context, kvDim, kv: g.kv })),
        rec.record(kvStore({ x: act.vNew, batch: B, cache: g.values[i], context, kvDim, kv: g.kv })),
      ];
    },
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
      const window = spec.slidingWindow;
      const caches = { k: g.keys[i], v: g.values[i], s: act.scores, slopes: act.slopes, alibi, kv, window, ...heads };
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
        ...gateUp(l, n),
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
