/**
 * Where a training run computes its losses and gradients: `cpu`, the oracle of
 * `./lora_model.ts` in double precision, or `webgpu`, the same graph on a WebGPU device in f32
 * (`./webgpu/gpu_loss.ts`). The trainer sees one interface: the loss of an example (adding its
 * gradients to the engine's accumulators), the accumulated gradients taken once per step, and
 * word that the LoRA pairs changed.
 *
 * @module
 */

import { UsageError } from "../io/errors.ts";
import {
  type ExampleLoss,
  exampleLoss,
  type LoraGrads,
  type LoraModel,
  type ScoredIds,
  zeroGrads,
} from "./lora_model.ts";
import { WebGpuLoss } from "./webgpu/gpu_loss.ts";
import type { TrainMemory } from "./webgpu/device_memory.ts";

import type { TrainEngineName } from "./settings.ts";

/** How one example's loss is computed. */
export interface EngineLossOptions {
  /** Compute the gradients too (added to the engine's accumulators). */
  readonly backward: boolean;
  /** The factor of the gradient (default 1). */
  readonly weight?: number;
  /** LoRA dropout probability (default 0). */
  readonly dropout?: number;
  /** Seed of this example's dropout masks. */
  readonly dropoutSeed?: number;
}

/** Losses and LoRA gradients of a model. */
export interface LossEngine {
  /** `cpu` or `webgpu`. */
  readonly name: TrainEngineName;
  /** What it runs on, for the run's first lines. */
  readonly device: string;
  /**
   * The summed loss of an example's scored tokens; with `backward`, its gradients times `weight`
   * are added to the engine's accumulators.
   */
  loss(example: ScoredIds, o: EngineLossOptions): Promise<ExampleLoss>;
  /** Add the accumulated gradients into `into` and zero the accumulators. */
  takeGrads(into: LoraGrads): Promise<void>;
  /** The LoRA pairs changed (an optimiser step, a restored checkpoint). */
  paramsChanged(): void;
  /**
   * Throw a `UsageError` when an example of `tokens` tokens (`scored` of them scored) cannot run
   * here (the trainer asks once, for its longest example, before the first step).
   */
  checkFits?(tokens: number, scored: number): void;
  /**
   * What training holds on the device with a longest example of `tokens` tokens (`scored` of
   * them scored), for the run's first lines (engines on a device only).
   */
  deviceMemory?(tokens: number, scored: number, dropout: boolean): TrainMemory;
  /** Free what the engine holds. */
  dispose(): void;
}

/**
 * The CPU oracle as a {@linkcode LossEngine}.
 *
 * @example
 * ```ts
 * import { CpuLoss } from "./loss_engine.ts";
 * import { createLoraModel, zeroGrads } from "./lora_model.ts";
 * import { loadModel } from "../infer/mod.ts";
 * import { writeRandomModel } from "../infer/testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const model = createLoraModel(await loadModel(dir), { r: 2, alpha: 4, targets: ["v_proj"], seed: 1 });
 * const cpu = new CpuLoss(model);
 * const { tokens } = await cpu.loss({ ids: [1, 5, 6, 7], promptLength: 2 }, { backward: true });
 * const grads = zeroGrads(model);
 * await cpu.takeGrads(grads);
 * if (tokens !== 2 || grads.b[0].every((x) => x === 0)) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class CpuLoss implements LossEngine {
  /** `cpu`. */
  readonly name = "cpu";
  /** This machine's CPU. */
  readonly device = "the CPU (double precision)";
  readonly #model: LoraModel;
  readonly #grads: LoraGrads;

  /**
   * Compute a model's losses on the CPU.
   *
   * @param model the trainable model
   */
  constructor(model: LoraModel) {
    this.#model = model;
    this.#grads = zeroGrads(model);
  }

  /**
   * See {@linkcode LossEngine.loss}.
   *
   * @param example ids and prompt length
   * @param o backward or not, the gradient's factor, dropout
   * @returns the summed loss and the scored tokens
   */
  loss(example: ScoredIds, o: EngineLossOptions): Promise<ExampleLoss> {
    const { weight, dropout, dropoutSeed } = o;
    return Promise.resolve(
      exampleLoss(this.#model, example, { grads: o.backward ? this.#grads : undefined, weight, dropout, dropoutSeed }),
    );
  }

  /**
   * See {@linkcode LossEngine.takeGrads}.
   *
   * @param into gradients to add to
   * @returns when done
   */
  takeGrads(into: LoraGrads): Promise<void> {
    for (const [mine, theirs] of [[this.#grads.a, into.a], [this.#grads.b, into.b]]) {
      mine.forEach((g, i) => {
        const t = theirs[i];
        for (let j = 0; j < g.length; j++) t[j] += g[j];
        g.fill(0);
      });
    }
    return Promise.resolve();
  }

  /** Nothing to do: the oracle reads the pairs where they are. */
  paramsChanged(): void {}

  /** Nothing to free. */
  dispose(): void {}
}

/**
 * The engine of a name, ready for a model.
 *
 * @param name `cpu` or `webgpu`
 * @param model the trainable model
 * @param o a WebGPU device to use
 * @returns the engine
 * @throws {UsageError} for another name, or `webgpu` without an adapter
 *
 * @example
 * ```ts
 * import { openLossEngine } from "./loss_engine.ts";
 * const cpu = await openLossEngine("cpu", { modules: [] } as never);
 * if (cpu.name !== "cpu") throw new Error();
 * ```
 */
export async function openLossEngine(
  name: string,
  model: LoraModel,
  o: { readonly device?: GPUDevice } = {},
): Promise<LossEngine> {
  if (name === "cpu") return new CpuLoss(model);
  if (name !== "webgpu") throw new UsageError(`train: --engine is cpu or webgpu, not "${name}"`);
  return await WebGpuLoss.create(model, o);
}
