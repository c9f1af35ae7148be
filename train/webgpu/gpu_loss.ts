/**
 * The WebGPU trainer: the loss of an example and its LoRA gradients computed on the device, the
 * same graph as the CPU oracle (`../lora_model.ts`) in f32 (`layer_pass.ts`, `lora_pass.ts`; an
 * example's buffers in `example_work.ts`). The frozen weights go up once in their stored format
 * (f32, 16-bit, or ggml's quantized blocks: QLoRA) and are read as they are, forward by the
 * inference engine's products and backward (`dy · W`) by the trainer's `gemm`. LoRA pairs, their
 * gradients and the optimiser's inputs stay small; the gradients accumulate on the device over a
 * step's examples and are read back once per step.
 *
 * Memory: each layer's input is kept between the passes (`layers × n × hidden`); the backward
 * pass recomputes one layer's activations at a time from it, so a layer's activations and its
 * attention probabilities (`heads × n × n`) are held for one layer only.
 *
 * Each example is one submit: its whole forward and backward pass encoded into one command
 * buffer, then its per-token losses read back.
 *
 * @module
 */

import { GpuBuffers, USAGE } from "../../infer/engine/webgpu/buffers.ts";
import { adapterName } from "../../infer/engine/webgpu/adapter.ts";
import { GpuContext } from "../../infer/engine/webgpu/context.ts";
import { uploadWeights } from "../../infer/engine/webgpu/weights.ts";
import { UsageError } from "../../io/errors.ts";
import type { ExampleLoss, LoraGrads, LoraModel, LoraSlot, ScoredIds } from "../lora_model.ts";
import { scoredPositions } from "../lora_model.ts";
import { exampleWork } from "./example_work.ts";
import {
  type ExamplePlan,
  examplePlan,
  type ExampleShape,
  planDeviceMemory,
  type PlannedModule,
  type TrainMemory,
} from "./device_memory.ts";
import { encodeExample, type Graph } from "./layer_pass.ts";
import type { GpuModule } from "./lora_pass.ts";
import { UniformCache, WorkList } from "./work_list.ts";
import type { EngineLossOptions, LossEngine } from "../loss_engine.ts";

/** Options of {@linkcode WebGpuLoss.create}. */
export interface WebGpuLossOptions {
  /** A device to use (default: one requested as the inference engine requests it). */
  readonly device?: GPUDevice;
  /** Split weight matrices into buffers of at most this many bytes (default: the binding limit). */
  readonly maxBindingBytes?: number;
  /**
   * Wide product tiles (64 × 64 `gemm`, the tiled forward product) or narrow ones (16 × 16, the
   * row-per-invocation product). Default: wide on a GPU, narrow on a software adapter.
   */
  readonly wide?: boolean;
}

/**
 * LoRA losses and gradients on a WebGPU device.
 *
 * @example
 * ```ts
 * import { WebGpuLoss } from "./gpu_loss.ts";
 * import { createLoraModel, exampleLoss, zeroGrads } from "../lora_model.ts";
 * import { loadModel } from "../../infer/mod.ts";
 * import { writeRandomModel } from "../../infer/testing/mod.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   const dir = await Deno.makeTempDir();
 *   await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 *   const model = createLoraModel(await loadModel(dir), { r: 2, alpha: 4, targets: ["v_proj"], seed: 1 });
 *   const gpu = await WebGpuLoss.create(model);
 *   const example = { ids: [1, 5, 6, 7], promptLength: 2 };
 *   const { sum } = await gpu.loss(example, { backward: true });
 *   const grads = zeroGrads(model);
 *   await gpu.takeGrads(grads);
 *   const cpu = exampleLoss(model, example).sum;
 *   if (Math.abs(sum - cpu) > 1e-4 * cpu || grads.b[0].every((x) => x === 0)) throw new Error(`${sum} vs ${cpu}`);
 *   gpu.dispose();
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export class WebGpuLoss implements LossEngine {
  /** `webgpu`. */
  readonly name = "webgpu";
  readonly #model: LoraModel;
  readonly #ctx: GpuContext;
  readonly #own: GpuBuffers;
  readonly #modules: GpuModule[];
  readonly #uniforms: UniformCache;
  readonly #graph: Graph;
  readonly #planned: PlannedModule[];

  private constructor(model: LoraModel, ctx: GpuContext, limit: number, wide: boolean) {
    this.#model = model;
    this.#ctx = ctx;
    this.#own = new GpuBuffers(ctx.device);
    this.#uniforms = new UniformCache(ctx.device);
    // The embedding is looked up on the host: only the output matrix goes up (once, when tied).
    const weights = uploadWeights(this.#own, { ...model.weights, embed: model.weights.output }, limit);
    const grad = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
    this.#modules = model.modules.map((m, index) => ({
      index,
      slot: m.slot,
      offset: m.offset,
      r: m.pair.r,
      inp: m.pair.inp,
      out: m.pair.out,
      scale: m.pair.scale,
      a: this.#own.create(m.pair.a.length * 4, USAGE.STORAGE | USAGE.COPY_DST),
      b: this.#own.create(m.pair.b.length * 4, USAGE.STORAGE | USAGE.COPY_DST),
      ga: this.#own.create(m.pair.a.length * 4, grad),
      gb: this.#own.create(m.pair.b.length * 4, grad),
    }));
    const bySlot: Record<LoraSlot, GpuModule[]>[] = Array.from(
      { length: model.spec.layers },
      () => ({ qkv: [], o: [], gateup: [], down: [] }),
    );
    for (const m of this.#modules) bySlot[model.modules[m.index].layer][m.slot].push(m);
    const alibi = model.slopes.length > 0 ? Float32Array.from(model.slopes) : new Float32Array(model.spec.heads);
    const slopes = this.#own.f32(alibi, USAGE.STORAGE);
    this.#graph = { model, weights, bySlot, slopes, wide };
    this.#planned = model.modules.map((m) => ({
      layer: m.layer,
      slot: m.slot,
      inp: m.pair.inp,
      out: m.pair.out,
      r: m.pair.r,
    }));
    this.paramsChanged();
  }

  /**
   * Upload a model's frozen weights and LoRA pairs.
   *
   * @param model the trainable model
   * @param o a device, a binding limit
   * @returns the engine
   * @throws {UsageError} when no WebGPU adapter is available
   */
  static async create(model: LoraModel, o: WebGpuLossOptions = {}): Promise<WebGpuLoss> {
    const ctx = await GpuContext.open({ device: o.device });
    const limit = ctx.device.limits.maxStorageBufferBindingSize;
    ctx.device.pushErrorScope("out-of-memory");
    let engine: WebGpuLoss | undefined, failure: unknown;
    try {
      engine = new WebGpuLoss(model, ctx, Math.min(limit, o.maxBindingBytes ?? limit), o.wide ?? !ctx.software);
    } catch (e) {
      failure = e;
    }
    const oom = await ctx.device.popErrorScope();
    if (oom || !engine) {
      if (engine) engine.dispose();
      else ctx.dispose();
      if (!oom) throw failure;
      throw new UsageError(
        `train --engine webgpu: the model's weights do not fit this device's memory (${firstLine(oom.message)}); ` +
          "try --quantize q4_k_m",
      );
    }
    return engine;
  }

  /** The adapter's description (vendor, architecture), for logs. */
  get device(): string {
    return adapterName(this.#ctx.device.adapterInfo) || "a WebGPU device";
  }

  /** Write the modules' `A` and `B` to the device again (after an optimiser step or a restore). */
  paramsChanged(): void {
    this.#model.modules.forEach((m, i) => {
      this.#ctx.device.queue.writeBuffer(this.#modules[i].a, 0, Float32Array.from(m.pair.a));
      this.#ctx.device.queue.writeBuffer(this.#modules[i].b, 0, Float32Array.from(m.pair.b));
    });
  }

  /**
   * The summed loss of an example's scored tokens; with `backward`, its gradients times `weight`
   * are added to the device's accumulators ({@linkcode WebGpuLoss.takeGrads} reads them).
   *
   * @param example ids and prompt length
   * @param o backward or not, the gradient's factor, dropout
   * @returns the summed loss and the scored tokens
   * @throws {UsageError} when the example's attention or logits pass the device's binding limit,
   *   or its buffers its memory
   */
  async loss(example: ScoredIds, o: EngineLossOptions): Promise<ExampleLoss> {
    const scored = scoredPositions(example);
    if (scored === 0) return { sum: 0, tokens: 0 };
    const plan = this.#plan({
      tokens: example.ids.length,
      scored,
      backward: o.backward,
      dropout: (o.dropout ?? 0) > 0,
    });
    const device = this.#ctx.device;
    device.pushErrorScope("out-of-memory");
    let values: Float32Array | undefined, failure: unknown;
    const work = exampleWork(device, this.#model, example.ids, plan);
    try {
      const list = new WorkList(this.#ctx, this.#uniforms);
      const losses = encodeExample(this.#graph, list, work, example, o);
      values = await list.submit({ buffer: losses, count: scored });
    } catch (e) {
      failure = e;
    } finally {
      work.own.destroy();
    }
    const oom = await device.popErrorScope();
    if (oom) {
      throw new UsageError(
        `train --engine webgpu: an example of ${example.ids.length} tokens does not fit this device's memory ` +
          `(${firstLine(oom.message)}); lower --cutoff_len`,
      );
    }
    if (failure !== undefined) throw failure;
    let sum = 0;
    for (const v of values!) sum += v;
    return { sum, tokens: scored };
  }

  /**
   * Add the gradients accumulated since the last call into `into`, and zero the accumulators.
   *
   * @param into gradients (the model's module order)
   * @returns when read
   */
  async takeGrads(into: LoraGrads): Promise<void> {
    const device = this.#ctx.device;
    const total = this.#modules.reduce((s, m) => s + m.ga.size + m.gb.size, 0);
    const staging = device.createBuffer({ size: total, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    try {
      const encoder = device.createCommandEncoder();
      const offsets: number[] = [];
      let at = 0;
      for (const m of this.#modules) {
        for (const g of [m.ga, m.gb]) {
          encoder.copyBufferToBuffer(g, 0, staging, at, g.size);
          encoder.clearBuffer(g);
          offsets.push(at / 4);
          at += g.size;
        }
      }
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const all = new Float32Array(staging.getMappedRange());
      this.#modules.forEach((_, i) => {
        [into.a[i], into.b[i]].forEach((g, ab) => {
          const from = offsets[2 * i + ab];
          for (let j = 0; j < g.length; j++) g[j] += all[from + j];
        });
      });
      staging.unmap();
    } finally {
      staging.destroy();
    }
  }

  /** Free the device's buffers (and the device, when it was requested here). */
  dispose(): void {
    this.#uniforms.destroy();
    this.#own.destroy();
    this.#ctx.dispose();
  }

  /**
   * Throw when a training example of `n` tokens (`scored` of them scored) needs a buffer past
   * the device's binding limit (its attention probabilities or its logits, usually).
   *
   * @param n tokens
   * @param scored scored tokens
   * @throws {UsageError} naming the buffer, its bytes and the limit
   */
  checkFits(n: number, scored: number): void {
    this.#plan({ tokens: n, scored, backward: true, dropout: false });
  }

  /**
   * What training holds on this device with a longest example of `n` tokens (`scored` scored):
   * the frozen weights as uploaded, the LoRA pairs and gradients, the example's buffers.
   *
   * @param n tokens
   * @param scored scored tokens
   * @param dropout LoRA dropout on
   * @returns bytes by part
   */
  deviceMemory(n: number, scored: number, dropout = false): TrainMemory {
    return planDeviceMemory(this.#model.spec, this.#planned, this.#graph.weights.bytes, { tokens: n, scored, dropout });
  }

  /** An example's plan, refused where a buffer passes the binding limit. */
  #plan(shape: ExampleShape): ExamplePlan {
    const plan = examplePlan(this.#model.spec, this.#planned, shape);
    const { maxStorageBufferBindingSize: binding, maxBufferSize: most } = this.#ctx.device.limits;
    const limit = Math.min(binding, most);
    if (plan.largest > limit) {
      const what = plan.largestRole === "p" || plan.largestRole === "d-p"
        ? "its attention probabilities"
        : plan.largestRole === "logits"
        ? "its logits"
        : `its buffer "${plan.largestRole}"`;
      throw new UsageError(
        `train --engine webgpu: an example of ${shape.tokens} tokens needs ${plan.largest} bytes in one buffer ` +
          `(${what}), past this device's limit of ${limit} bytes; lower --cutoff_len`,
      );
    }
    return plan;
  }
}

/** The first line of a device's error message (wgpu's run over several). */
function firstLine(message: string): string {
  return message.split("\n")[0].trim();
}
