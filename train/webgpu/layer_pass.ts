/**
 * The WebGPU trainer's graph, layer by layer: a decoder layer's forward pass (the activations
 * its backward pass reads are returned), its backward pass (the input's gradient from the
 * output's, the LoRA gradients added on the way), and the head (final norm, logits of the scored
 * rows, cross-entropy, and the last layer's output gradient). The maths of the CPU oracle
 * (`../lora_model.ts`), in f32, encoded into a work list.
 *
 * Frozen products: forward by the inference engine's kernels (`matmul_tiled` with wide tiles,
 * `matmul` by rows on software adapters), backward (`dy · W`) by `gemm` reading the weights'
 * own format. Attention runs over all heads at once (grouped-query heads through `gemm`'s
 * divisors): forward two `gemm`s around a softmax, backward a `gemm`, the softmax's backward,
 * then one `gemm` for the queries' gradient and two per query head of a group for the keys' and
 * values'.
 *
 * @module
 */

import { matmul } from "../../infer/engine/webgpu/kernels/matmul.ts";
import { matmulTiled } from "../../infer/engine/webgpu/kernels/matmul_tiled.ts";
import { USAGE } from "../../infer/engine/webgpu/buffers.ts";
import { stepBytes } from "../../infer/engine/webgpu/kernels/step.ts";
import type { GpuLayer, GpuMatrix, GpuWeights } from "../../infer/engine/webgpu/weights.ts";
import { type LoraModel, type LoraSlot, type ScoredIds, scoredPositions } from "../lora_model.ts";
import type { EngineLossOptions } from "../loss_engine.ts";
import type { Work } from "./example_work.ts";
import { addInto, rope, swigluBackward, swigluForward } from "./kernels/elementwise.ts";
import { gemm } from "./kernels/gemm.ts";
import { crossEntropy, normBackward, normForward, softmaxBackward, softmaxForward } from "./kernels/rows.ts";
import { type GpuModule, loraBackward, loraForward, type Part } from "./lora_pass.ts";
import type { WorkList } from "./work_list.ts";

/** What the graph computes with: the model, its weights and LoRA pairs on the device. */
export interface Graph {
  /** The trainable model (its shape, RoPE frequencies, ALiBi slopes). */
  readonly model: LoraModel;
  /** The frozen weights on the device. */
  readonly weights: GpuWeights;
  /** Each layer's modules by slot. */
  readonly bySlot: readonly Record<LoraSlot, GpuModule[]>[];
  /** ALiBi slopes per head (zeros without ALiBi). */
  readonly slopes: GPUBuffer;
  /** Wide product tiles (GPUs) or narrow ones (software adapters). */
  readonly wide: boolean;
}

/** A layer's activations, as the forward pass leaves them for the backward pass. */
interface LayerActs {
  /** The attention norm's output. */
  u: GPUBuffer;
  /** Queries, after RoPE. */
  q: GPUBuffer;
  /** Keys, after RoPE. */
  k: GPUBuffer;
  /** Values. */
  v: GPUBuffer;
  /** Attention probabilities, `heads × n × n`. */
  p: GPUBuffer;
  /** Attention's output, before `Wo`. */
  att: GPUBuffer;
  /** The residual stream after attention. */
  h: GPUBuffer;
  /** The MLP norm's output. */
  m: GPUBuffer;
  /** The gate projection. */
  gate: GPUBuffer;
  /** The up projection. */
  up: GPUBuffer;
  /** `silu(gate) ⊙ up`. */
  act: GPUBuffer;
}

/**
 * `y = x · Wᵀ (+ bias)` over the matrix's chunks.
 *
 * @param g the graph (the tile width)
 * @param list the work list
 * @param m the matrix
 * @param x the input rows
 * @param y the output rows
 * @param rows rows
 * @param step a step uniform of `rows` tokens
 * @param bias the bias
 *
 * @example
 * ```ts
 * import { linear } from "./layer_pass.ts";
 * import type { WorkList } from "./work_list.ts";
 * const b = { size: 4096 } as GPUBuffer;
 * const calls: string[] = [];
 * const list = { call: (c: { role: string }) => calls.push(c.role), copy() {}, clear() {} } as unknown as WorkList;
 * const m = { dtype: "f32", rows: 8, cols: 4, bytes: 128, chunks: [{ buffer: b, rowStart: 0, rows: 4 }, { buffer: b, rowStart: 4, rows: 4 }] } as const;
 * linear({ wide: false } as never, list, m, b, b, 3, b);
 * if (calls.length !== 2) throw new Error("one product per chunk");
 * ```
 */
export function linear(
  g: Graph,
  list: WorkList,
  m: GpuMatrix,
  x: GPUBuffer,
  y: GPUBuffer,
  rows: number,
  step: GPUBuffer,
  bias?: GPUBuffer,
): void {
  for (const c of m.chunks) {
    const product = g.wide ? matmulTiled : matmul;
    list.call(
      product({
        w: c.buffer,
        dtype: m.dtype,
        k: m.cols,
        rowStart: c.rowStart,
        rows: c.rows,
        x,
        xRows: rows,
        y,
        yRows: rows,
        yStride: m.rows,
        bias,
        strategy: "rows",
      }),
      step,
      rows,
    );
  }
}

/**
 * `dx (+)= dy · W` over the matrix's chunks (each chunk's rows are a slice of `dy`'s columns;
 * the chunks after the first add).
 *
 * @param g the graph (the tile width)
 * @param list the work list
 * @param m the matrix
 * @param dy the output's gradient
 * @param dx the input's gradient
 * @param rows rows
 * @param accumulate add to `dx` from the first chunk on
 *
 * @example
 * ```ts
 * import { linearBack } from "./layer_pass.ts";
 * import type { WorkList } from "./work_list.ts";
 * const b = { size: 4096 } as GPUBuffer;
 * const calls: string[] = [];
 * const list = { call: (c: { role: string }) => calls.push(c.role), copy() {}, clear() {} } as unknown as WorkList;
 * const m = { dtype: "q8_0", rows: 8, cols: 32, bytes: 272, chunks: [{ buffer: b, rowStart: 0, rows: 8 }] } as const;
 * linearBack({ wide: false } as never, list, m, b, b, 3, false);
 * if (calls.join() !== "gemm") throw new Error(calls.join());
 * ```
 */
export function linearBack(
  g: Graph,
  list: WorkList,
  m: GpuMatrix,
  dy: GPUBuffer,
  dx: GPUBuffer,
  rows: number,
  accumulate: boolean,
): void {
  m.chunks.forEach((c, i) => {
    list.call(gemm({
      wide: g.wide,
      m: rows,
      n: m.cols,
      k: c.rows,
      a: { buffer: dy, off: c.rowStart, row: m.rows, col: 1 },
      b: { buffer: c.buffer, row: m.cols, col: 1 },
      bType: m.dtype,
      c: { buffer: dx, row: m.cols },
      accumulate: accumulate || i > 0,
    }));
  });
}

/**
 * Encode an example's whole pass: every layer forward, the head, and with `backward` every layer
 * backward from the last (each recomputed from its kept input first, but the last, whose
 * activations are still in their buffers).
 *
 * @param g the graph
 * @param list the work list
 * @param work the example's buffers
 * @param example its tokens and prompt length (at least one scored token)
 * @param o backward or not, the gradient's factor, dropout
 * @returns the buffer of the scored rows' losses (read it after the list is submitted)
 *
 * @example
 * ```ts
 * import { encodeExample, type Graph } from "./layer_pass.ts";
 * import type { WorkList } from "./work_list.ts";
 * import { createLoraModel } from "../lora_model.ts";
 * import { loadModel } from "../../infer/mod.ts";
 * import { writeRandomModel } from "../../infer/testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 2, heads: 2 });
 * const model = createLoraModel(await loadModel(dir), { r: 2, alpha: 4, targets: ["v_proj"], seed: 1 });
 * const b = { size: 1 << 16 } as GPUBuffer;
 * const m = { dtype: "f32", rows: 16, cols: 16, bytes: 1024, chunks: [{ buffer: b, rowStart: 0, rows: 16 }] };
 * const layer = { attnNorm: b, ffnNorm: b, wq: m, wk: m, wv: m, wo: m, w1: m, w2: m, w3: m };
 * const weights = { embed: m, output: m, norm: b, layers: [layer, layer], bytes: 0, maxChunks: 1, lora: new Map(), loraRank: 0 };
 * const g = { model, weights, slopes: b, wide: false, bySlot: [0, 1].map(() => ({ qkv: [], o: [], gateup: [], down: [] })) } as unknown as Graph;
 * const count = (backward: boolean) => {
 *   let calls = 0;
 *   const list = { call: () => calls++, copy() {}, clear() {} } as unknown as WorkList;
 *   const work = { n: 4, xs: [b, b, b], step: b, table: b, get: () => b, own: { bytes: () => b }, loraIn: new Map(), loraH: new Map() } as never;
 *   encodeExample(g, list, work, { ids: [1, 2, 3, 4], promptLength: 2 }, { backward });
 *   return calls;
 * };
 * // Backward: the head's backward, then each layer's backward, the first layer recomputed first.
 * if (!(count(true) > 2 * count(false))) throw new Error(`${count(false)} ${count(true)}`);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function encodeExample(
  g: Graph,
  list: WorkList,
  work: Work,
  example: ScoredIds,
  o: EngineLossOptions,
): GPUBuffer {
  const { layers, hidden } = g.model.spec;
  const scored = scoredPositions(example);
  let acts: LayerActs | undefined;
  for (let l = 0; l < layers; l++) acts = layerForward(g, list, work, l, o);
  const first = Math.max(example.promptLength, 1) - 1;
  const losses = work.get("losses", scored);
  const dx = head(g, list, work, example.ids, first, scored, losses, o);
  if (o.backward) {
    let dy = dx, spare = work.get("dx", work.n * hidden);
    for (let l = layers - 1; l >= 0; l--) {
      // The last layer's activations are still in the buffers; the others are recomputed.
      if (l < layers - 1) acts = layerForward(g, list, work, l, o);
      layerBackward(g, list, work, l, acts!, dy, spare, o);
      [dy, spare] = [spare, dy];
    }
  }
  return losses;
}

/**
 * Layer `l` forward from `xs[l]` into `xs[l + 1]`.
 *
 * @param g the graph
 * @param list the work list
 * @param work the example's buffers
 * @param l the layer
 * @param o dropout
 * @returns the activations the backward pass reads (in buffers the next layer reuses)
 */
function layerForward(g: Graph, list: WorkList, work: Work, l: number, o: EngineLossOptions): LayerActs {
  const { spec } = g.model;
  const w: GpuLayer = g.weights.layers[l];
  const mods = g.bySlot[l];
  const n = work.n, H = spec.hidden, hd = spec.headDim, I = spec.intermediate;
  const QD = spec.heads * hd, KD = spec.kvHeads * hd, group = spec.heads / spec.kvHeads;
  const f = work.get;
  const a: LayerActs = {
    u: f("u", n * H),
    q: f("q", n * QD),
    k: f("k", n * KD),
    v: f("v", n * KD),
    p: f("p", spec.heads * n * n),
    att: f("att", n * QD),
    h: f("h", n * H),
    m: f("m", n * H),
    gate: f("gate", n * I),
    up: f("up", n * I),
    act: f("act", n * I),
  };
  const x = work.xs[l], y = work.xs[l + 1];
  list.call(normForward({ x, weight: w.attnNorm, rows: n, dim: H, eps: spec.normEps }, a.u));
  linear(g, list, w.wq, a.u, a.q, n, work.step, w.bq);
  linear(g, list, w.wk, a.u, a.k, n, work.step, w.bk);
  linear(g, list, w.wv, a.u, a.v, n, work.step, w.bv);
  loraForward(list, work, g.wide, mods.qkv, a.u, qkvParts(a.q, a.k, a.v, QD, KD), o);
  if (work.table) {
    list.call(rope(a.q, work.table, { rows: n, heads: spec.heads, half: hd / 2 }));
    list.call(rope(a.k, work.table, { rows: n, heads: spec.kvHeads, half: hd / 2 }));
  }
  list.call(gemm({
    wide: g.wide,
    m: n,
    n,
    k: hd,
    batch: spec.heads,
    a: { buffer: a.q, z: hd, row: QD, col: 1 },
    b: { buffer: a.k, z: hd, div: group, row: 1, col: KD },
    c: { buffer: a.p, z: n * n, row: n },
    alpha: 1 / Math.sqrt(hd),
  }));
  list.call(
    softmaxForward(a.p, {
      n,
      heads: spec.heads,
      window: spec.slidingWindow,
      slopes: g.slopes,
      alibi: g.model.slopes.length > 0,
    }),
  );
  list.call(gemm({
    wide: g.wide,
    m: n,
    n: hd,
    k: n,
    batch: spec.heads,
    a: { buffer: a.p, z: n * n, row: n, col: 1 },
    b: { buffer: a.v, z: hd, div: group, row: KD, col: 1 },
    c: { buffer: a.att, z: hd, row: QD },
  }));
  linear(g, list, w.wo, a.att, a.h, n, work.step, w.bo);
  loraForward(list, work, g.wide, mods.o, a.att, [{ buffer: a.h, width: H, start: 0 }], o);
  list.call(addInto(x, a.h, n * H));
  list.call(normForward({ x: a.h, weight: w.ffnNorm, rows: n, dim: H, eps: spec.normEps }, a.m));
  linear(g, list, w.w1, a.m, a.gate, n, work.step);
  linear(g, list, w.w3, a.m, a.up, n, work.step);
  loraForward(
    list,
    work,
    g.wide,
    mods.gateup,
    a.m,
    [{ buffer: a.gate, width: I, start: 0 }, { buffer: a.up, width: I, start: I }],
    o,
  );
  list.call(swigluForward(a.gate, a.up, a.act, n * I));
  linear(g, list, w.w2, a.act, y, n, work.step);
  loraForward(list, work, g.wide, mods.down, a.act, [{ buffer: y, width: H, start: 0 }], o);
  list.call(addInto(a.h, y, n * H));
  return a;
}

/**
 * Layer `l` backward: its output's gradient in, its input's gradient out, the LoRA gradients
 * added to the accumulators.
 *
 * @param g the graph
 * @param list the work list
 * @param work the example's buffers
 * @param l the layer
 * @param a the layer's activations ({@linkcode layerForward}'s, still in their buffers)
 * @param dy the output's gradient
 * @param dx the input's gradient (written)
 * @param o dropout
 */
function layerBackward(
  g: Graph,
  list: WorkList,
  work: Work,
  l: number,
  a: LayerActs,
  dy: GPUBuffer,
  dx: GPUBuffer,
  o: EngineLossOptions,
): void {
  const { spec } = g.model;
  const w: GpuLayer = g.weights.layers[l];
  const mods = g.bySlot[l];
  const n = work.n, H = spec.hidden, hd = spec.headDim, I = spec.intermediate;
  const QD = spec.heads * hd, KD = spec.kvHeads * hd, group = spec.heads / spec.kvHeads;
  const f = work.get, scale = 1 / Math.sqrt(hd);
  // MLP: y = h + W2·act
  const dAct = f("d-act", n * I);
  linearBack(g, list, w.w2, dy, dAct, n, false);
  loraBackward(list, work, g.wide, mods.down, [{ buffer: dy, width: H, start: 0 }], dAct, o);
  const dGate = f("d-gate", n * I), dUp = f("d-up", n * I);
  list.call(swigluBackward(a.gate, a.up, dAct, dGate, dUp, n * I));
  const dm = f("d-m", n * H);
  linearBack(g, list, w.w1, dGate, dm, n, false);
  linearBack(g, list, w.w3, dUp, dm, n, true);
  loraBackward(
    list,
    work,
    g.wide,
    mods.gateup,
    [{ buffer: dGate, width: I, start: 0 }, { buffer: dUp, width: I, start: I }],
    dm,
    o,
  );
  const dh = f("d-h", n * H);
  list.copy(dy, dh, n * H * 4);
  list.call(
    normBackward({ x: a.h, weight: w.ffnNorm, rows: n, dim: H, eps: spec.normEps }, dm, dh, { accumulate: true }),
  );
  // Attention: h = x + Wo·att
  const dAtt = f("d-att", n * QD);
  linearBack(g, list, w.wo, dh, dAtt, n, false);
  loraBackward(list, work, g.wide, mods.o, [{ buffer: dh, width: H, start: 0 }], dAtt, o);
  const dp = f("d-p", spec.heads * n * n);
  list.call(gemm({
    wide: g.wide,
    m: n,
    n,
    k: hd,
    batch: spec.heads,
    a: { buffer: dAtt, z: hd, row: QD, col: 1 },
    b: { buffer: a.v, z: hd, div: group, row: 1, col: KD },
    c: { buffer: dp, z: n * n, row: n },
  }));
  list.call(softmaxBackward(a.p, dp, { n, heads: spec.heads }));
  const dq = f("d-q", n * QD), dk = f("d-k", n * KD), dv = f("d-v", n * KD);
  list.call(gemm({
    wide: g.wide,
    m: n,
    n: hd,
    k: n,
    batch: spec.heads,
    a: { buffer: dp, z: n * n, row: n, col: 1 },
    b: { buffer: a.k, z: hd, div: group, row: KD, col: 1 },
    c: { buffer: dq, z: hd, row: QD },
    alpha: scale,
  }));
  for (let j = 0; j < group; j++) {
    // Key head z collects the query heads z·group + j.
    const keyGrad = (from: GPUBuffer, other: GPUBuffer, into: GPUBuffer, alpha: number) =>
      list.call(gemm({
        wide: g.wide,
        m: n,
        n: hd,
        k: n,
        batch: spec.kvHeads,
        a: { buffer: from, off: j * n * n, z: group * n * n, row: 1, col: n },
        b: { buffer: other, off: j * hd, z: group * hd, row: QD, col: 1 },
        c: { buffer: into, z: hd, row: KD },
        alpha,
        accumulate: j > 0,
      }));
    keyGrad(dp, a.q, dk, scale);
    keyGrad(a.p, dAtt, dv, 1);
  }
  if (work.table) {
    list.call(rope(dq, work.table, { rows: n, heads: spec.heads, half: hd / 2, inverse: true }));
    list.call(rope(dk, work.table, { rows: n, heads: spec.kvHeads, half: hd / 2, inverse: true }));
  }
  const du = f("d-u", n * H);
  linearBack(g, list, w.wq, dq, du, n, false);
  linearBack(g, list, w.wk, dk, du, n, true);
  linearBack(g, list, w.wv, dv, du, n, true);
  loraBackward(list, work, g.wide, mods.qkv, qkvParts(dq, dk, dv, QD, KD), du, o);
  list.copy(dh, dx, n * H * 4);
  list.call(
    normBackward({ x: work.xs[l], weight: w.attnNorm, rows: n, dim: H, eps: spec.normEps }, du, dx, {
      accumulate: true,
    }),
  );
}

/**
 * The head: final norm, logits and cross-entropy of the scored rows (their losses into
 * `losses`); with backward, the last layer's output gradient.
 *
 * @param g the graph
 * @param list the work list
 * @param work the example's buffers
 * @param ids the example's tokens
 * @param first the first scored row (it predicts `ids[first + 1]`)
 * @param scored scored rows
 * @param losses the rows' losses out
 * @param o backward or not, the gradient's factor
 * @returns the last layer's output gradient (all zero but the scored rows)
 */
function head(
  g: Graph,
  list: WorkList,
  work: Work,
  ids: readonly number[],
  first: number,
  scored: number,
  losses: GPUBuffer,
  o: EngineLossOptions,
): GPUBuffer {
  const { spec } = g.model;
  const H = spec.hidden, V = spec.vocabSize;
  const last = work.xs[spec.layers];
  const norm = { x: last, weight: g.weights.norm, rows: scored, dim: H, eps: spec.normEps, xOff: first * H };
  const xn = work.get("xn", scored * H);
  list.call(normForward(norm, xn));
  const logits = work.get("logits", scored * V);
  const step = work.own.bytes(stepBytes(scored, 0), USAGE.UNIFORM);
  linear(g, list, g.weights.output, xn, logits, scored, step);
  const labels = work.own.bytes(Uint32Array.from(ids.slice(first + 1, first + 1 + scored)), USAGE.STORAGE);
  list.call(
    crossEntropy(logits, labels, losses, { rows: scored, vocab: V, weight: o.weight ?? 1, grad: o.backward }),
  );
  const dx = work.get("dy", work.n * H);
  if (!o.backward) return dx;
  const dxn = work.get("d-xn", scored * H);
  linearBack(g, list, g.weights.output, logits, dxn, scored, false);
  list.clear(dx);
  list.call(normBackward(norm, dxn, dx, { dxOff: first * H }));
  return dx;
}

/** The `q | k | v` outputs as parts of the qkv slot. */
function qkvParts(q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, qd: number, kd: number): Part[] {
  return [
    { buffer: q, width: qd, start: 0 },
    { buffer: k, width: kd, start: qd },
    { buffer: v, width: kd, start: qd + kd },
  ];
}
