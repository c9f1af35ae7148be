/**
 * One example's buffers on the device for the WebGPU trainer: its embedded tokens (looked up on
 * the host), every layer's input (kept between the passes), the RoPE table, and work buffers by
 * role, made on first use and shared by the layers (a list runs in order, so a layer's buffers
 * are free once the next layer's work is encoded after it). Freed together after the example.
 *
 * @module
 */

import { GpuBuffers, USAGE } from "../../infer/engine/webgpu/buffers.ts";
import { stepBytes } from "../../infer/engine/webgpu/kernels/step.ts";
import { weightRow } from "../../infer/formats/mod.ts";
import type { LoraModel } from "../lora_model.ts";
import { ropeTable } from "../../infer/engine/webgpu/rope_table.ts";

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
  /** The example's buffer of a role (made on first use; layers reuse it, the list runs in order). */
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
 * @returns the buffers (destroy `own` after the example)
 *
 * @example
 * ```ts
 * import { exampleWork } from "./example_work.ts";
 * import { createLoraModel } from "../lora_model.ts";
 * import { loadModel } from "../../infer/mod.ts";
 * import { writeRandomModel } from "../../infer/testing/mod.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const dir = await Deno.makeTempDir();
 *   await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 2, heads: 2 });
 *   const model = createLoraModel(await loadModel(dir), { r: 2, alpha: 4, targets: ["v_proj"], seed: 1 });
 *   const work = exampleWork(device, model, [1, 2, 3]);
 *   if (work.xs.length !== 3 || work.get("u", 24) !== work.get("u", 24) || !work.table) throw new Error();
 *   work.own.destroy();
 *   device.destroy();
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export function exampleWork(device: GPUDevice, model: LoraModel, ids: readonly number[]): Work {
  const { spec, weights } = model;
  const n = ids.length, hidden = spec.hidden;
  const own = new GpuBuffers(device);
  const f = (elements: number) =>
    own.create(Math.max(elements, 1) * 4, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST);
  const byRole = new Map<string, GPUBuffer>();
  const get = (role: string, elements: number) => {
    let b = byRole.get(role);
    if (!b || b.size < elements * 4) byRole.set(role, b = f(elements));
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
