/**
 * The device memory of LoRA training on the WebGPU engine, worked out from the model's shape
 * alone: the frozen weights as stored (the input embedding is looked up on the host and does not
 * go up, unless it is also the output matrix), the LoRA pairs with their gradient accumulators,
 * and one example's buffers. `example_work.ts` makes an example's buffers from this plan, role by
 * role, and refuses a role the plan lacks, so the plan is what is allocated.
 *
 * Counted: storage buffers. Not counted: kernel parameters (uniform buffers of a few dozen bytes,
 * a cache of at most 4096 of them) and the buffers the losses and gradients are read back through
 * (the size of the scored tokens' losses and of the LoRA gradients).
 *
 * @module
 */

import { weightMemory } from "../../infer/model/memory_plan.ts";
import type { ModelSpec } from "../../infer/model/model_spec.ts";
import type { QuantPreset } from "../../infer/formats/quant_preset.ts";
import { type LoraSlot, targetModules } from "../lora_model.ts";
import { formatBytes, formatCount } from "../../io/progress.ts";

/** A LoRA module as the plan needs it. */
export interface PlannedModule {
  /** Its layer. */
  readonly layer: number;
  /** Its slot (the product it adds to). */
  readonly slot: LoraSlot;
  /** Input width. */
  readonly inp: number;
  /** Output width. */
  readonly out: number;
  /** Rank. */
  readonly r: number;
}

/** The example a plan is for. */
export interface ExampleShape {
  /** Its tokens. */
  readonly tokens: number;
  /** Its scored tokens (those with a loss). */
  readonly scored: number;
  /** Whether the backward pass runs (training), not the forward pass alone (validation). */
  readonly backward: boolean;
  /** Whether LoRA dropout is on (each module's dropped input is kept). */
  readonly dropout: boolean;
}

/** One example's buffers on the device. */
export interface ExamplePlan {
  /** The work buffers by role: f32 elements each. */
  readonly roles: ReadonlyMap<string, number>;
  /** Bytes of every buffer: the roles, each layer's kept input, the RoPE table, the labels. */
  readonly bytes: number;
  /** Bytes of the largest single buffer (it must fit one binding). */
  readonly largest: number;
  /** The role of the largest buffer. */
  readonly largestRole: string;
}

/**
 * The buffers an example of `shape` needs: every role the layer pass, the head and the LoRA
 * pass ask for, at the largest size any layer asks (a role's buffer is shared by the layers).
 *
 * @param spec the model
 * @param modules its LoRA modules (in the model's order)
 * @param shape the example
 * @returns the roles and their bytes
 *
 * @example
 * ```ts
 * import { examplePlan } from "./device_memory.ts";
 * const spec = { architecture: "llama", vocabSize: 32, hidden: 8, intermediate: 16, layers: 2, heads: 2, kvHeads: 2,
 *   headDim: 4, position: { kind: "alibi" } } as never;
 * const plan = examplePlan(spec, [], { tokens: 10, scored: 3, backward: false, dropout: false });
 * // The attention probabilities, heads × n × n, and the logits of the scored rows, 3 × 32.
 * if (plan.roles.get("p") !== 200 || plan.roles.get("logits") !== 96 || plan.roles.has("d-p")) throw new Error();
 * ```
 */
export function examplePlan(spec: ModelSpec, modules: readonly PlannedModule[], shape: ExampleShape): ExamplePlan {
  const n = shape.tokens, s = shape.scored;
  const H = spec.hidden, I = spec.intermediate, V = spec.vocabSize;
  const QD = spec.heads * spec.headDim, KD = spec.kvHeads * spec.headDim, P = spec.heads * n * n;
  const roles = new Map<string, number>();
  const need = (role: string, elements: number) => roles.set(role, Math.max(roles.get(role) ?? 0, elements));
  // A layer forward.
  for (const [role, width] of [["u", H], ["q", QD], ["k", KD], ["v", KD], ["att", QD], ["h", H], ["m", H]] as const) {
    need(role, n * width);
  }
  for (const role of ["gate", "up", "act"]) need(role, n * I);
  need("p", P);
  // Its LoRA modules: `A · input` each, and the dropped input with dropout; the j-th module of
  // a slot shares its buffers with the j-th of that slot in the other layers.
  const seen = new Map<string, number>();
  for (const m of modules) {
    const key = `${m.layer}-${m.slot}`;
    const j = seen.get(key) ?? 0;
    seen.set(key, j + 1);
    need(`lora-h-${m.slot}-${j}`, n * m.r);
    if (shape.dropout) need(`lora-in-${m.slot}-${j}`, n * m.inp);
  }
  // The head: the scored rows' norm, logits and losses; the last layer's output gradient.
  need("losses", s);
  need("xn", s * H);
  need("logits", s * V);
  need("dy", n * H);
  if (shape.backward) {
    need("d-xn", s * H);
    need("dx", n * H);
    for (const role of ["d-act", "d-gate", "d-up"]) need(role, n * I);
    for (const role of ["d-m", "d-h", "d-u"]) need(role, n * H);
    for (const [role, width] of [["d-att", QD], ["d-q", QD], ["d-k", KD], ["d-v", KD]] as const) {
      need(role, n * width);
    }
    need("d-p", P);
    for (const m of modules) {
      need("lora-dh", n * m.r);
      if (shape.dropout) need("lora-dx", n * m.inp);
    }
  }
  let bytes = 0, largest = 0, largestRole = "";
  const add = (role: string, size: number, count = 1) => {
    bytes += size * count;
    if (size > largest) [largest, largestRole] = [size, role];
  };
  for (const [role, elements] of roles) add(role, bufferBytes(elements));
  add("layer input", bufferBytes(n * H), spec.layers + 1);
  if (spec.position.kind === "rope") add("rope", bufferBytes(n * spec.headDim));
  add("labels", bufferBytes(s));
  return { roles, bytes, largest, largestRole };
}

/** Bytes on the device of the LoRA pairs and their gradient accumulators (f32), and the ALiBi slopes. */
function loraDeviceBytes(spec: Pick<ModelSpec, "heads">, modules: readonly PlannedModule[]): number {
  let bytes = bufferBytes(spec.heads);
  for (const m of modules) bytes += 2 * (bufferBytes(m.r * m.inp) + bufferBytes(m.out * m.r));
  return bytes;
}

/** What LoRA training on the WebGPU engine holds on the device. */
export interface TrainMemory {
  /** The frozen weights, as stored. */
  readonly weights: number;
  /** The LoRA pairs and their gradients. */
  readonly lora: number;
  /** The longest example's buffers (freed after it; one example at a time). */
  readonly example: number;
  /** All of it: the most the device holds at once. */
  readonly total: number;
  /** The largest single buffer of the example (the weights are split to fit a binding). */
  readonly largest: number;
}

/** What {@linkcode trainMemory} plans for. */
export interface TrainMemoryOptions {
  /** The weights' format (`f16`, `bf16`, `f32` or a quantization preset). */
  readonly format: QuantPreset;
  /** PEFT target module names, or `all`. */
  readonly targets: readonly string[];
  /** LoRA rank. */
  readonly r: number;
  /** The longest example's tokens (prompt and answer). */
  readonly tokens: number;
  /** Its scored tokens (default: all but the first). */
  readonly scored?: number;
  /** LoRA dropout on (default: off). */
  readonly dropout?: boolean;
}

/**
 * The device memory of training a model's LoRA on the WebGPU engine, from its shape alone: for
 * deciding whether a GPU is big enough before downloading anything.
 *
 * @param spec the model
 * @param o its format, the LoRA, the longest example
 * @returns bytes by part
 * @throws {InputError} for a target the model lacks
 *
 * @example
 * ```ts
 * import { trainMemory } from "./device_memory.ts";
 * const spec = { architecture: "llama", vocabSize: 32000, hidden: 4096, intermediate: 11008, layers: 32, heads: 32,
 *   kvHeads: 32, headDim: 128, normEps: 1e-5, position: { kind: "rope", theta: 1e4 }, qkvBias: false, oBias: false,
 *   tiedEmbeddings: false, normHead: false, maxPositions: 4096, eosIds: [2] } as const;
 * const m = trainMemory(spec, { format: "q4_k_m", targets: ["q_proj", "v_proj"], r: 8, tokens: 1000, scored: 300 });
 * // A 7B model's QLoRA: about 4 GB of weights, under 2 GB for a 1000-token example.
 * if (!(m.weights > 3.9e9 && m.weights < 4.1e9 && m.example < 2e9 && m.total < 6e9)) throw new Error(JSON.stringify(m));
 * ```
 */
export function trainMemory(spec: ModelSpec, o: TrainMemoryOptions): TrainMemory {
  const modules = targetModules(spec, o.targets).map((t) => ({ ...t, r: o.r }));
  const [stored] = weightMemory(spec, [o.format], { inputEmbedding: false });
  // The fused `q | k | v` bias goes up beside the three biases.
  const qkvBias = spec.qkvBias ? spec.layers * bufferBytes((spec.heads + 2 * spec.kvHeads) * spec.headDim) : 0;
  return planDeviceMemory(spec, modules, stored.weightBytes + qkvBias, {
    tokens: o.tokens,
    scored: o.scored ?? o.tokens - 1,
    dropout: o.dropout ?? false,
  });
}

/**
 * What training holds on the device, given its weights' bytes: those, the LoRA pairs and
 * gradients, and a training example's buffers (the engine passes the bytes it uploaded;
 * {@linkcode trainMemory} the bytes a format gives the shape).
 *
 * @param spec the model
 * @param modules its LoRA modules
 * @param weights bytes of the frozen weights on the device
 * @param example the longest example (with its backward pass)
 * @returns bytes by part
 *
 * @example
 * ```ts
 * import { planDeviceMemory } from "./device_memory.ts";
 * const spec = { vocabSize: 32, hidden: 8, intermediate: 16, layers: 1, heads: 2, kvHeads: 2, headDim: 4,
 *   position: { kind: "alibi" } } as never;
 * const m = planDeviceMemory(spec, [{ layer: 0, slot: "o", inp: 8, out: 8, r: 2 }], 1000, { tokens: 4, scored: 2, dropout: false });
 * // A and B (8 × 2 and 2 × 8) and their gradients, 4 × 16 floats, and 2 slopes.
 * if (m.lora !== 4 * 64 + 8 || m.total !== 1000 + m.lora + m.example) throw new Error(JSON.stringify(m));
 * ```
 */
export function planDeviceMemory(
  spec: ModelSpec,
  modules: readonly PlannedModule[],
  weights: number,
  example: Omit<ExampleShape, "backward">,
): TrainMemory {
  const lora = loraDeviceBytes(spec, modules);
  const plan = examplePlan(spec, modules, { ...example, backward: true });
  return { weights, lora, example: plan.bytes, total: weights + lora + plan.bytes, largest: plan.largest };
}

/** Bytes of a buffer of f32 elements (at least 4, as the buffers are made). */
function bufferBytes(elements: number): number {
  return Math.max(elements, 1) * 4;
}

/**
 * The run's line about device memory.
 *
 * @param m the plan
 * @param tokens the longest example's tokens
 * @returns the line
 *
 * @example
 * ```ts
 * import { describeTrainMemory } from "./device_memory.ts";
 * const m = { weights: 7.5 * 2 ** 30, lora: 50 * 2 ** 20, example: 2 ** 31, total: 9.55 * 2 ** 30, largest: 2 ** 28 };
 * const line = describeTrainMemory(m, 1000);
 * if (line !== "device memory: 9.6 GiB (weights 7.5 GiB, LoRA and its gradients 50 MiB, " +
 *   "the longest example's buffers 2.0 GiB at 1000 tokens)") throw new Error(line);
 * ```
 */
export function describeTrainMemory(m: TrainMemory, tokens: number): string {
  return `device memory: ${formatBytes(m.total)} (weights ${formatBytes(m.weights)}, LoRA and its gradients ` +
    `${formatBytes(m.lora)}, the longest example's buffers ${formatBytes(m.example)} at ${tokens} tokens)`;
}

/** LoRA training's device memory in each weight format, as `inspect` states it. */
export interface TrainingReport {
  /** The longest example's tokens the figures are for. */
  readonly tokens: number;
  /** Its scored (answer) tokens. */
  readonly scored: number;
  /** LoRA rank. */
  readonly r: number;
  /** The target modules (the family's defaults). */
  readonly targets: readonly string[];
  /** Per format: the plan. */
  readonly formats: readonly (TrainMemory & { readonly format: QuantPreset })[];
}

/**
 * LoRA training's device memory on the WebGPU engine in each format, at IEPile's lengths by
 * default: a 700-token prompt budget and 300 answer tokens (`--cutoff_len`,
 * `--max_target_length`), r 8, the family's default targets.
 *
 * @param spec the model
 * @param formats the weight formats
 * @param targets the target modules
 * @param o the longest example and the rank
 * @returns the report
 *
 * @example
 * ```ts
 * import { trainingReport } from "./device_memory.ts";
 * const spec = { architecture: "llama", vocabSize: 32000, hidden: 4096, intermediate: 11008, layers: 32, heads: 32,
 *   kvHeads: 32, headDim: 128, normEps: 1e-5, position: { kind: "rope", theta: 1e4 }, qkvBias: false, oBias: false,
 *   tiedEmbeddings: false, normHead: false, maxPositions: 4096, eosIds: [2] } as const;
 * const report = trainingReport(spec, ["f16", "q4_k_m"], ["q_proj", "v_proj"]);
 * if (report.tokens !== 1000 || !(report.formats[1].total < report.formats[0].total)) throw new Error();
 * ```
 */
export function trainingReport(
  spec: ModelSpec,
  formats: readonly QuantPreset[],
  targets: readonly string[],
  o: { readonly tokens?: number; readonly scored?: number; readonly r?: number } = {},
): TrainingReport {
  // A model's examples are no longer than its positions.
  const tokens = Math.min(o.tokens ?? 1000, spec.maxPositions), scored = Math.min(o.scored ?? 300, tokens - 1);
  const r = o.r ?? 8;
  return {
    tokens,
    scored,
    r,
    targets,
    formats: formats.map((format) => ({ format, ...trainMemory(spec, { format, targets, r, tokens, scored }) })),
  };
}

/**
 * `inspect`'s lines about training.
 *
 * @param t the report
 * @param size how bytes are written
 * @returns the lines
 *
 * @example
 * ```ts
 * import { formatTrainingReport } from "./device_memory.ts";
 * const t = { tokens: 1000, scored: 300, r: 8, targets: ["q_proj"],
 *   formats: [{ format: "f16", weights: 3e9, lora: 1e6, example: 1e9, total: 4.001e9, largest: 1e8 }] } as const;
 * const lines = formatTrainingReport(t, (b) => `${(b / 1e9).toFixed(2)} GB`);
 * if (lines[3] !== "  f16            4.00 GB (the example's buffers 1.00 GB)") throw new Error(lines[3]);
 * if (!lines[1].includes("a 1,000-token longest")) throw new Error(lines[1]);
 * ```
 */
export function formatTrainingReport(t: TrainingReport, size: (bytes: number) => string): string[] {
  const n = formatCount;
  return [
    `training       GPU memory of LoRA training (train --engine webgpu) with the weights in each format (f16: a`,
    `               16-bit base as stored; the others: train --quantize P): r ${t.r}, a ${n(t.tokens)}-token longest`,
    `               example (${n(t.scored)} answer tokens), targets ${t.targets.join(", ")}:`,
    ...t.formats.map((f) =>
      `  ${f.format.padEnd(12)} ${size(f.total).padStart(9)} (the example's buffers ${size(f.example)})`
    ),
  ];
}
