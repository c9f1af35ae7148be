/**
 * One example's buffers on the device for the WebGPU trainer: its embedded tokens (looked up on
 * the host), every layer's input (kept between the passes), the RoPE table, and work buffers by
 * role, made on first use at the size the example's plan (`device_memory.ts`) gives the role (the
 * most any layer asks) and shared by the layers (a list runs in order, so a layer's buffers are
 * free once the next layer's work is encoded after it). A role the plan lacks, or asked bigger
 * than planned, is refused. Freed together after the example.
 *
 * @module
 */

import { GpuBuffers, USAGE } from "../../infer/engine/webgpu/buffers.ts";
import { stepBytes } from "../../infer/engine/webgpu/kernels/step.ts";
import { weightRow } from "../../infer/formats/mod.ts";
import type { LoraModel } from "../lora_model.ts";
import { ropeTable } from "../../infer/engine/webgpu/rope_table.ts";
import type { ExamplePlan } from "./device_memory.ts";

/** One example's work buffers (freed after it). */
export interface Work {
  /** Tokens of the example. */
  readonly n: number;
  /** The owner of every buffer here (destroy it after the example). */
  readonly own: GpuBuffers;
  /** The step uniform of `n` tokens from position 0 (the inference engine's products read it). */
  readonly step: GPUBuffer;
  /** Each layer's input, then the last layer's output (`n × hidden` each). */
  readonly xs: GPUBuffer[];
  /**
   * The example's buffer of a role, of at least `elements` f32 values (made on first use at the
   * plan's size; layers reuse it, the list runs in order). Throws for a role the plan lacks or
   * gives fewer elements.
   */
  readonly get: (role: string, elements: number) => GPUBuffer;
  /** RoPE's cosines and sines for `n` positions (absent with ALiBi). */
  readonly table?: GPUBuffer;
  /** Per module of the current layer: its (dropped) input. */
  readonly loraIn: Map<number, GPUBuffer>;
  /** Per module of the current layer: `A · input`. */
  readonly loraH: Map<number, GPUBuffer>;
}

/**
 * An example's buffers.
 *
 * @param device the device
 * @param model the trainable model (its embedding is read on the host)
 * @param ids the example's tokens
 * @param plan its buffers' sizes by role ({@linkcode examplePlan})
 * @returns the buffers (destroy `own` after the example)
 *
 * @example
 * ```ts
 * import { exampleWork } from "./example_work.ts";
 * import { examplePlan } from "./device_memory.ts";
 * import { createLoraModel } from "../lora_model.ts";
 * import { loadModel } from "../../infer/mod.ts";
 * import { writeRandomModel } from "../../infer/testing/mod.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const dir = await Deno.makeTempDir();
 *   await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 2, heads: 2 });
 *   const model = createLoraModel(await loadModel(dir), { r: 2, alpha: 4, targets: ["v_proj"], seed: 1 });
 *   const plan = examplePlan(model.spec, [], { tokens: 3, scored: 1, backward: false, dropout: false });
 *   const work = exampleWork(device, model, [1, 2, 3], plan);
 *   if (work.xs.length !== 3 || work.get("u", 24) !== work.get("u", 24) || !work.table) throw new Error();
 *   let refused = false;
 *   try {
 *     work.get("d-u", 24); // a backward role, not in a forward pass's plan
 *   } catch {
 *     refused = true;
 *   }
 *   if (!refused) throw new Error();
 *   work.own.destroy();
 *   device.destroy();
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export function exampleWork(device: GPUDevice, model: LoraModel, ids: readonly number[], plan: ExamplePlan): Work {
  const { spec, weights } = model;
  const n = ids.length, hidden = spec.hidden;
  const own = new GpuBuffers(device);
  const f = (elements: number) =>
    own.create(Math.max(elements, 1) * 4, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST);
  const byRole = new Map<string, GPUBuffer>();
  const get = (role: string, elements: number) => {
    const planned = plan.roles.get(role);
    if (planned === undefined || elements > planned) {
      throw new Error(`the example's plan has no ${elements}-value buffer "${role}" (it has ${planned ?? "none"})`);
    }
    let b = byRole.get(role);
    if (!b) byRole.set(role, b = f(planned));
    return b;
  };
  const x0 = new Float32Array(n * hidden);
  const row = new Float32Array(hidden);
  for (let t = 0; t < n; t++) x0.set(weightRow(weights.embed, ids[t], row), t * hidden);
  const xs = [own.f32(x0, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST)];
  for (let l = 0; l < spec.layers; l++) xs.push(f(n * hidden));
  const table = spec.position.kind === "rope" ? own.f32(ropeTable(spec, n), USAGE.STORAGE) : undefined;
  return {
    n,
    own,
    step: own.bytes(stepBytes(n, 0), USAGE.UNIFORM),
    xs,
    get,
    table,
    loraIn: new Map(),
    loraH: new Map(),
  };
}
