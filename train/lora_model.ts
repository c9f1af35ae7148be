/**
 * A frozen base model with trainable LoRA pairs on some of its linear layers, and the loss of a
 * training example with its gradients: the forward pass of the CPU oracle (same maths as the
 * inference engine) in double precision, then the backward pass layer by layer. A layer's
 * activations are kept between the passes while they fit a budget; beyond it only each layer's
 * input is kept and the backward pass recomputes the layer's activations from it (memory then
 * grows with layers × tokens × hidden, not with the MLP or heads).
 *
 * Per layer, for hidden states `x` (one row per token), with `ΔW·u = scale · B·(A·dropout(u))`:
 * ```
 * u = rmsnorm(x) ; q, k, v = (Wq, Wk, Wv)·u + biases + LoRA ; a = attention(rope(q), rope(k), v)
 * h = x + Wo·a + LoRA ; m = rmsnorm(h) ; y = h + W2·(silu(W1·m + LoRA) ⊙ (W3·m + LoRA)) + LoRA
 * ```
 *
 * @module
 */

import type { LoadedModel, ModelSpec, ModelWeights, RoleTensor } from "../infer/model/mod.ts";
import { alibiSlopes, roleTensors, ropeInvFreq } from "../infer/model/mod.ts";
import { weightRow } from "../infer/formats/mod.ts";
import { Rng } from "../infer/mod.ts";
import { InputError } from "../io/errors.ts";
import { linearBackward, linearForward } from "./ops/frozen_linear.ts";
import { loraBackward, type LoraCache, loraForward, type LoraPair } from "./ops/lora_update.ts";
import { rmsnormBackward, rmsnormForward } from "./ops/rmsnorm.ts";
import { rotate } from "./ops/rope.ts";
import { attentionBackward, attentionForward, type AttentionShape } from "./ops/attention.ts";
import { swigluBackward, swigluForward } from "./ops/swiglu.ts";
import { crossEntropy } from "./ops/cross_entropy.ts";
import { dropoutMask } from "./dropout.ts";

/** Which product of a layer a LoRA adds to: the attention input's (q|k|v), its output, the MLP's (gate|up), down. */
export type LoraSlot = "qkv" | "o" | "gateup" | "down";

/** One adapted linear layer. */
export interface LoraModule {
  /** Its module path, e.g. `model.layers.0.self_attn.q_proj` (tensors are saved under it). */
  readonly name: string;
  /** Its layer. */
  readonly layer: number;
  /** The product it adds to. */
  readonly slot: LoraSlot;
  /** Its first output among the slot's concatenated outputs (`k_proj` starts after the queries). */
  readonly offset: number;
  /** Its pair (trainable `a` and `b`). */
  readonly pair: LoraPair;
}

/** A base model made trainable by LoRA pairs. */
export interface LoraModel {
  /** What the base computes. */
  readonly spec: ModelSpec;
  /** The frozen weights. */
  readonly weights: ModelWeights;
  /** The adapted layers, in the base checkpoint's tensor order. */
  readonly modules: readonly LoraModule[];
  /** RoPE frequencies (empty with ALiBi). */
  readonly invFreq: Float64Array;
  /** ALiBi slopes (empty with RoPE). */
  readonly slopes: Float64Array;
}

/** How the LoRA pairs are made. */
export interface LoraInit {
  /** Rank. */
  readonly r: number;
  /** Alpha (`scale = alpha / r`). */
  readonly alpha: number;
  /** Module names to adapt (`q_proj`, `W_pack`, …; `all`: every linear layer of the decoder). */
  readonly targets: readonly string[];
  /** Seed of `A`'s initialisation. */
  readonly seed: number;
}

const SLOTS: Partial<Record<RoleTensor["role"], LoraSlot>> = {
  wqkv: "qkv",
  wq: "qkv",
  wk: "qkv",
  wv: "qkv",
  wo: "o",
  w1: "gateup",
  w3: "gateup",
  w2: "down",
};

/** Where a role's outputs start among its slot's. */
function offsetOf(role: RoleTensor["role"], spec: ModelSpec): number {
  const q = spec.heads * spec.headDim, kv = spec.kvHeads * spec.headDim;
  if (role === "wk") return q;
  if (role === "wv") return q + kv;
  if (role === "w3") return spec.intermediate;
  return 0;
}

/**
 * The base's linear layers a list of PEFT target names selects (a target matches a module whose
 * path ends with `.<target>`), with their slots.
 *
 * @param spec the base
 * @param targets module names, or `all`
 * @returns the matching layers in checkpoint order
 * @throws {InputError} naming a target no linear layer of the model has
 *
 * @example
 * ```ts
 * import { targetModules } from "./lora_model.ts";
 * import { specFromConfig } from "../infer/model/mod.ts";
 * const spec = specFromConfig({ model_type: "baichuan", vocab_size: 10, hidden_size: 4, intermediate_size: 8,
 *   num_hidden_layers: 1, num_attention_heads: 2 });
 * const m = targetModules(spec, ["W_pack", "down_proj"]);
 * if (m.map((t) => t.name).join() !== "model.layers.0.self_attn.W_pack,model.layers.0.mlp.down_proj") throw new Error();
 * ```
 */
export function targetModules(
  spec: ModelSpec,
  targets: readonly string[],
): { name: string; layer: number; slot: LoraSlot; offset: number; out: number; inp: number }[] {
  const linear = roleTensors(spec).filter((t) => SLOTS[t.role] !== undefined && t.layer !== undefined);
  const all = targets.length === 1 && targets[0] === "all";
  for (const target of all ? [] : targets) {
    if (!linear.some((t) => t.name.endsWith(`.${target}.weight`))) {
      const known = [...new Set(linear.map((t) => /\.([^.]+)\.weight$/.exec(t.name)![1]))].join(", ");
      throw new InputError(
        `LoRA target "${target}" is no linear layer of this ${spec.architecture} model (it has ${known})`,
        { field: "lora_target_modules" },
      );
    }
  }
  return linear
    .filter((t) => all || targets.some((target) => t.name.endsWith(`.${target}.weight`)))
    .map((t) => ({
      name: t.name.slice(0, -".weight".length),
      layer: t.layer!,
      slot: SLOTS[t.role]!,
      offset: offsetOf(t.role, spec),
      out: t.shape[0],
      inp: t.shape[1],
    }));
}

/**
 * A base model with new LoRA pairs as PEFT makes them: `A` Kaiming-uniform (a = √5, so uniform
 * in ±1/√in), `B` zero — the model computes what the base does until `B` moves.
 *
 * @param base the loaded base model (weights kept in their stored format)
 * @param init rank, alpha, targets, seed
 * @returns the trainable model
 * @throws {InputError} for a target the model lacks
 *
 * @example
 * ```ts
 * import { createLoraModel } from "./lora_model.ts";
 * import { loadModel } from "../infer/mod.ts";
 * import { writeRandomModel } from "../infer/testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 2, heads: 2 });
 * const m = createLoraModel(await loadModel(dir), { r: 2, alpha: 4, targets: ["q_proj", "v_proj"], seed: 1 });
 * if (m.modules.length !== 4 || m.modules[0].pair.scale !== 2 || m.modules[0].pair.b.some((x) => x !== 0)) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function createLoraModel(base: LoadedModel, init: LoraInit): LoraModel {
  const rng = new Rng(init.seed);
  const modules = targetModules(base.spec, init.targets).map((t): LoraModule => {
    const bound = 1 / Math.sqrt(t.inp);
    const a = new Float64Array(init.r * t.inp).map(() => (2 * rng.next() - 1) * bound);
    const pair = {
      a,
      b: new Float64Array(t.out * init.r),
      r: init.r,
      inp: t.inp,
      out: t.out,
      scale: init.alpha / init.r,
    };
    return { name: t.name, layer: t.layer, slot: t.slot, offset: t.offset, pair };
  });
  return withModules(base, modules);
}

/**
 * A base model with given LoRA modules (e.g. an adapter read back).
 *
 * @param base the loaded base model
 * @param modules the adapted layers
 * @returns the trainable model
 *
 * @example
 * ```ts
 * import { withModules } from "./lora_model.ts";
 * import { loadModel } from "../infer/mod.ts";
 * import { writeRandomModel } from "../infer/testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "qwen2", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * if (withModules(await loadModel(dir), []).invFreq.length !== 2) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function withModules(base: LoadedModel, modules: readonly LoraModule[]): LoraModel {
  const { spec } = base;
  return {
    spec,
    weights: base.weights,
    modules,
    invFreq: spec.position.kind === "rope" ? ropeInvFreq(spec.position, spec.headDim) : new Float64Array(0),
    slopes: spec.position.kind === "alibi" ? alibiSlopes(spec.heads) : new Float64Array(0),
  };
}

/** Gradients of each module's `A` and `B` (same order as the model's modules). */
export interface LoraGrads {
  /** `∂L/∂A` per module. */
  readonly a: Float64Array[];
  /** `∂L/∂B` per module. */
  readonly b: Float64Array[];
}

/**
 * Zero gradients for a model's modules.
 *
 * @param model the model
 * @returns gradients, all zero
 *
 * @example
 * ```ts
 * import { zeroGrads } from "./lora_model.ts";
 * const g = zeroGrads({ modules: [] } as never);
 * if (g.a.length !== 0) throw new Error();
 * ```
 */
export function zeroGrads(model: Pick<LoraModel, "modules">): LoraGrads {
  return {
    a: model.modules.map((m) => new Float64Array(m.pair.a.length)),
    b: model.modules.map((m) => new Float64Array(m.pair.b.length)),
  };
}

/** One encoded example: ids, and how many leading ids are prompt (not scored). */
export interface ScoredIds {
  /** Prompt ids, then response ids. */
  readonly ids: readonly number[];
  /** Leading ids whose labels are ignored. */
  readonly promptLength: number;
}

/**
 * How many positions of an example the loss scores: each response token predicted from the
 * position before it (the first id is never predicted).
 *
 * @param example ids and prompt length
 * @returns the scored positions
 *
 * @example
 * ```ts
 * import { scoredPositions } from "./lora_model.ts";
 * if (scoredPositions({ ids: [1, 5, 6, 7], promptLength: 2 }) !== 2) throw new Error();
 * if (scoredPositions({ ids: [1, 5], promptLength: 0 }) !== 1) throw new Error();
 * ```
 */
export function scoredPositions(example: ScoredIds): number {
  return Math.max(example.ids.length - Math.max(example.promptLength, 1), 0);
}

/** Options of {@linkcode exampleLoss}. */
export interface LossOptions {
  /** Where to add the gradients (absent: the loss only, no backward pass). */
  readonly grads?: LoraGrads;
  /** The factor of the gradient (e.g. 1 / scored tokens of the micro-batch; default 1). */
  readonly weight?: number;
  /** LoRA dropout probability (default 0). */
  readonly dropout?: number;
  /** Seed of this example's dropout masks (each module's mask derives from it). */
  readonly dropoutSeed?: number;
  /**
   * Bytes the activations of all layers may take between the passes (default 1 GiB): within it
   * the forward pass keeps them, beyond it the backward pass recomputes each layer's from its input.
   * The gradients are the same either way, bit for bit.
   */
  readonly activationBudget?: number;
}

/** The summed loss of an example and how many tokens it scored. */
export interface ExampleLoss {
  /** Sum of the scored positions' cross-entropies (nats). */
  readonly sum: number;
  /** Scored positions. */
  readonly tokens: number;
}

/** What a layer's forward pass keeps for its backward pass. */
interface LayerCache {
  x: Float64Array;
  inv1: Float64Array;
  u: Float64Array;
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  a: Float64Array;
  h: Float64Array;
  inv2: Float64Array;
  m: Float64Array;
  gate: Float64Array;
  up: Float64Array;
  act: Float64Array;
  lora: Map<number, LoraCache>;
}

/** The layer's modules by slot, with their indices in the model. */
type SlotModules = Record<LoraSlot, { index: number; module: LoraModule }[]>;

/**
 * The loss of one example (its response tokens' cross-entropy, summed) and, with `grads`, the
 * gradients of every LoRA pair times `weight`.
 *
 * @param model the model
 * @param example ids and prompt length
 * @param o gradients to add to, their weight, dropout
 * @returns the summed loss and the scored tokens
 *
 * @example
 * ```ts
 * import { createLoraModel, exampleLoss, zeroGrads } from "./lora_model.ts";
 * import { loadModel } from "../infer/mod.ts";
 * import { writeRandomModel } from "../infer/testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const m = createLoraModel(await loadModel(dir), { r: 2, alpha: 4, targets: ["v_proj"], seed: 1 });
 * const grads = zeroGrads(m);
 * const { sum, tokens } = exampleLoss(m, { ids: [1, 5, 6, 7], promptLength: 2 }, { grads });
 * // B starts at zero, so A gets no gradient; B does.
 * if (tokens !== 2 || !(sum > 0) || grads.a[0].some((x) => x !== 0) || grads.b[0].every((x) => x === 0)) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function exampleLoss(model: LoraModel, example: ScoredIds, o: LossOptions = {}): ExampleLoss {
  const { spec, weights } = model;
  const { ids } = example;
  const n = ids.length, hidden = spec.hidden;
  const first = Math.max(example.promptLength, 1) - 1;
  const scored = scoredPositions(example);
  if (scored === 0) return { sum: 0, tokens: 0 };
  const bySlot = modulesByLayer(model);

  let x: Float64Array = new Float64Array(n * hidden);
  const row = new Float32Array(hidden);
  for (let t = 0; t < n; t++) x.set(weightRow(weights.embed, ids[t], row), t * hidden);
  const inputs: Float64Array[] = [];
  const keep = o.grads !== undefined && spec.layers * activationBytes(model, n) <= (o.activationBudget ?? 2 ** 30);
  const caches: (LayerCache | undefined)[] = [];
  for (let l = 0; l < spec.layers; l++) {
    inputs.push(x);
    const cache = keep ? {} as LayerCache : undefined;
    x = layerForward(model, l, x, n, bySlot[l], o, cache);
    caches.push(cache);
  }

  // The scored rows: position t predicts ids[t + 1].
  const rows = x.subarray(first * hidden, (first + scored) * hidden);
  const { y: xn, inv } = rmsnormForward(rows, scored, weights.norm.data, spec.normEps);
  const logits = linearForward(xn, scored, weights.output);
  const vocab = spec.vocabSize;
  let sum = 0;
  for (let t = 0; t < scored; t++) {
    sum += crossEntropy(logits.subarray(t * vocab, (t + 1) * vocab), ids[first + t + 1], o.weight ?? 1, !!o.grads);
  }
  if (!o.grads) return { sum, tokens: scored };

  const dxn = linearBackward(logits, scored, weights.output);
  let dx: Float64Array = new Float64Array(n * hidden);
  dx.set(rmsnormBackward(dxn, rows, scored, weights.norm.data, inv), first * hidden);
  for (let l = spec.layers - 1; l >= 0; l--) {
    let cache = caches[l];
    if (!cache) layerForward(model, l, inputs[l], n, bySlot[l], o, cache = {} as LayerCache);
    dx = layerBackward(model, l, dx, n, bySlot[l], cache, o.grads);
  }
  return { sum, tokens: scored };
}

/** Bytes one layer's kept activations take for `n` tokens (double precision). */
function activationBytes(model: LoraModel, n: number): number {
  const { hidden, heads, kvHeads, headDim, intermediate, layers } = model.spec;
  const lora = model.modules.reduce((s, m) => s + m.pair.inp + m.pair.r, 0) / layers;
  return 8 * n * (5 * hidden + (heads + 2 * kvHeads) * headDim + 3 * intermediate + lora);
}

function modulesByLayer(model: LoraModel): SlotModules[] {
  const out: SlotModules[] = Array.from(
    { length: model.spec.layers },
    () => ({ qkv: [], o: [], gateup: [], down: [] }),
  );
  model.modules.forEach((module, index) => out[module.layer][module.slot].push({ index, module }));
  return out;
}

/** Adds a slot's LoRA updates into its outputs (columns split over `parts`). */
function addLora(
  parts: Float64Array[],
  input: Float64Array,
  n: number,
  modules: SlotModules[LoraSlot],
  o: LossOptions,
  cache: Map<number, LoraCache> | undefined,
): void {
  for (const { index, module } of modules) {
    const p = o.dropout ?? 0;
    const mask = p > 0 ? dropoutMask(input.length, p, o.dropoutSeed ?? 0, index) : undefined;
    const { delta, cache: c } = loraForward(input, n, module.pair, mask);
    cache?.set(index, c);
    forColumns(parts, module.offset, module.pair.out, n, (part, width, col, j) => {
      for (let t = 0; t < n; t++) part[t * width + col] += delta[t * module.pair.out + j];
    });
  }
}

/** Calls `f` for each column `j < count` of a concatenated output starting at `offset`. */
function forColumns(
  parts: Float64Array[],
  offset: number,
  count: number,
  n: number,
  f: (part: Float64Array, width: number, col: number, j: number) => void,
): void {
  let start = 0;
  for (const part of parts) {
    const width = part.length / n;
    for (let j = 0; j < count; j++) {
      const col = offset + j - start;
      if (col >= 0 && col < width) f(part, width, col, j);
    }
    start += width;
  }
}

/** The backward pass of a slot's LoRA updates: their gradients, and their share of `∂L/∂input`. */
function loraBack(
  dParts: Float64Array[],
  dInput: Float64Array,
  n: number,
  modules: SlotModules[LoraSlot],
  cache: Map<number, LoraCache>,
  grads: LoraGrads,
): void {
  for (const { index, module } of modules) {
    const out = module.pair.out;
    const dDelta = new Float64Array(n * out);
    forColumns(dParts, module.offset, out, n, (part, width, col, j) => {
      for (let t = 0; t < n; t++) dDelta[t * out + j] = part[t * width + col];
    });
    const dx = loraBackward(dDelta, n, module.pair, cache.get(index)!, grads.a[index], grads.b[index]);
    for (let i = 0; i < dInput.length; i++) dInput[i] += dx[i];
  }
}

function attentionShape(model: LoraModel): AttentionShape {
  const { heads, kvHeads, headDim, slidingWindow } = model.spec;
  return { heads, kvHeads, headDim, slopes: model.slopes, window: slidingWindow };
}

function layerForward(
  model: LoraModel,
  l: number,
  x: Float64Array,
  n: number,
  mods: SlotModules,
  o: LossOptions,
  keep: LayerCache | undefined,
): Float64Array {
  const { spec } = model;
  const w = model.weights.layers[l];
  const lora = keep ? new Map<number, LoraCache>() : undefined;
  const { y: u, inv: inv1 } = rmsnormForward(x, n, w.attnNorm.data, spec.normEps);
  const q = linearForward(u, n, w.wq, w.bq), k = linearForward(u, n, w.wk, w.bk), v = linearForward(u, n, w.wv, w.bv);
  addLora([q, k, v], u, n, mods.qkv, o, lora);
  if (spec.position.kind === "rope") {
    rotate(q, n, spec.heads, spec.headDim, model.invFreq);
    rotate(k, n, spec.kvHeads, spec.headDim, model.invFreq);
  }
  const a = attentionForward(q, k, v, n, attentionShape(model));
  const proj = linearForward(a, n, w.wo, w.bo);
  addLora([proj], a, n, mods.o, o, lora);
  const h = x.map((xi, i) => xi + proj[i]);
  const { y: m, inv: inv2 } = rmsnormForward(h, n, w.ffnNorm.data, spec.normEps);
  const gate = linearForward(m, n, w.w1), up = linearForward(m, n, w.w3);
  addLora([gate, up], m, n, mods.gateup, o, lora);
  const act = swigluForward(gate, up);
  const down = linearForward(act, n, w.w2);
  addLora([down], act, n, mods.down, o, lora);
  if (keep) Object.assign(keep, { x, inv1, u, q, k, v, a, h, inv2, m, gate, up, act, lora });
  return h.map((hi, i) => hi + down[i]);
}

function layerBackward(
  model: LoraModel,
  l: number,
  dy: Float64Array,
  n: number,
  mods: SlotModules,
  c: LayerCache,
  grads: LoraGrads,
): Float64Array {
  const { spec } = model;
  const w = model.weights.layers[l];
  // MLP: y = h + W2·act
  const dAct = linearBackward(dy, n, w.w2);
  loraBack([dy], dAct, n, mods.down, c.lora, grads);
  const { dGate, dUp } = swigluBackward(dAct, c.gate, c.up);
  const dm = linearBackward(dGate, n, w.w1);
  const dmUp = linearBackward(dUp, n, w.w3);
  for (let i = 0; i < dm.length; i++) dm[i] += dmUp[i];
  loraBack([dGate, dUp], dm, n, mods.gateup, c.lora, grads);
  const dh = rmsnormBackward(dm, c.h, n, w.ffnNorm.data, c.inv2);
  for (let i = 0; i < dh.length; i++) dh[i] += dy[i];
  // Attention: h = x + Wo·a
  const da = linearBackward(dh, n, w.wo);
  loraBack([dh], da, n, mods.o, c.lora, grads);
  const { dq, dk, dv } = attentionBackward(da, c.q, c.k, c.v, n, attentionShape(model));
  if (spec.position.kind === "rope") {
    rotate(dq, n, spec.heads, spec.headDim, model.invFreq, true);
    rotate(dk, n, spec.kvHeads, spec.headDim, model.invFreq, true);
  }
  const du = linearBackward(dq, n, w.wq);
  const duK = linearBackward(dk, n, w.wk), duV = linearBackward(dv, n, w.wv);
  for (let i = 0; i < du.length; i++) du[i] += duK[i] + duV[i];
  loraBack([dq, dk, dv], du, n, mods.qkv, c.lora, grads);
  const dx = rmsnormBackward(du, c.x, n, w.attnNorm.data, c.inv1);
  for (let i = 0; i < dx.length; i++) dx[i] += dh[i];
  return dx;
}
