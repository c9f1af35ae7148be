/**
 * One step on the device: the step's ids and uniform written, its recorded dispatches replayed
 * into one command encoder (one pass, or one timed pass per dispatch when profiling), one
 * submit, and one small readback: the argmax id (4 bytes; over the ids a mask allows, or all), the
 * last logits, or every token's.
 *
 * @module
 */

import type { Activations } from "./activations.ts";
import type { GpuContext } from "./context.ts";
import { STEP, stepBytes } from "./kernels/step.ts";
import type { Profiler } from "./profile.ts";
import type { BatchDispatches } from "./llama_graph.ts";
import type { RecordedDispatch, StepDispatches } from "./record.ts";

/**
 * What a step reads back: nothing, the argmax id (`maskedArgmax`: over the ids the request's
 * mask allows), the last token's logits, or every token's.
 */
export type ReadMode = "none" | "argmax" | "maskedArgmax" | "last" | "all";

/** One step's request. */
export interface StepRequest {
  /** The session's dispatches. */
  readonly ops: StepDispatches;
  /** The step's tokens (at most the batch). */
  readonly tokens: readonly number[];
  /** Position of the first. */
  readonly pos0: number;
  /** What to read back. */
  readonly mode: ReadMode;
  /** The vocabulary size (the width of a logits row). */
  readonly vocab: number;
  /** With `maskedArgmax`: the allowed ids, `ceil(vocab / 32)` words (written to `Activations.mask`). */
  readonly mask?: Uint32Array;
}

/**
 * Run one step (not serialized: the caller queues it).
 *
 * @param ctx the device
 * @param act the work buffers
 * @param r the step
 * @param profiler times each dispatch when given
 * @param submitted called with the dispatch count, and the bytes the step reads back, once submitted
 * @returns the id (`0xffffffff` from a mask that allows nothing), the logits rows, or nothing
 * @throws {RangeError} for `maskedArgmax` without a mask of `ceil(vocab / 32)` words
 *
 * @example
 * ```ts
 * import { runStep } from "./submit.ts";
 * if (typeof runStep !== "function") throw new Error();
 * ```
 */
export async function runStep(
  ctx: GpuContext,
  act: Activations,
  r: StepRequest,
  profiler: Profiler | undefined,
  submitted: (dispatches: number, readBytes: number) => void,
): Promise<number | Float32Array[] | undefined> {
  const { tokens, pos0, mode, vocab } = r;
  const n = tokens.length;
  const device = ctx.device;
  if (mode === "maskedArgmax") {
    const words = Math.ceil(vocab / 32);
    if (r.mask?.length !== words) throw new RangeError(`a masked argmax needs a mask of ${words} words`);
    device.queue.writeBuffer(act.mask, 0, r.mask as Uint32Array<ArrayBuffer>);
  }
  device.queue.writeBuffer(act.ids, 0, Uint32Array.from(tokens));
  device.queue.writeBuffer(act.step, 0, stepBytes(n, pos0));
  const ops = n === 1 && r.ops.decode ? r.ops.decode : r.ops;
  const list: RecordedDispatch[] = [...ops.body, ...(mode === "none" ? [] : ops[mode])];
  const encoder = device.createCommandEncoder();
  if (profiler) {
    list.forEach((op, i) => {
      const pass = encoder.beginComputePass(profiler.pass(i));
      pass.setPipeline(op.pipeline);
      pass.setBindGroup(0, op.bindGroup);
      pass.dispatchWorkgroups(...op.grid(n, pos0 + n));
      pass.end();
    });
    profiler.resolve(encoder, list.length);
  } else {
    const pass = encoder.beginComputePass();
    for (const op of list) {
      pass.setPipeline(op.pipeline);
      pass.setBindGroup(0, op.bindGroup);
      pass.dispatchWorkgroups(...op.grid(n, pos0 + n));
    }
    pass.end();
  }
  const id = mode === "argmax" || mode === "maskedArgmax";
  const readBytes = id ? 4 : mode === "last" ? vocab * 4 : mode === "all" ? n * vocab * 4 : 0;
  if (readBytes > 0) encoder.copyBufferToBuffer(id ? act.argmax : act.logits, 0, act.readback, 0, readBytes);
  device.queue.submit([encoder.finish()]);
  submitted(list.length, readBytes);
  if (profiler) await profiler.collect(list);
  if (readBytes === 0) return undefined;
  await act.readback.mapAsync(1, /* GPUMapMode.READ */ 0, readBytes);
  const data = new Float32Array(act.readback.getMappedRange(0, readBytes).slice(0));
  act.readback.unmap();
  if (id) return new Uint32Array(data.buffer)[0];
  if (mode === "last") return [data];
  return Array.from({ length: n }, (_, t) => data.subarray(t * vocab, (t + 1) * vocab));
}

/** One session's part of a batched decode step: {@linkcode runBatch}. */
export interface BatchPart {
  /** The session's dispatches (of its own steps). */
  readonly ops: StepDispatches;
  /** Its step uniform and its own dispatches of batched steps, per layer. */
  readonly batch: { readonly step: GPUBuffer; readonly layers: readonly (readonly RecordedDispatch[])[] };
  /** The token it appends. */
  readonly token: number;
  /** Its position. */
  readonly pos0: number;
}

/**
 * Bytes per pass in the staging buffer of {@linkcode runBatch}: the pass's ids (`batch` of them,
 * rounded up to 16 bytes), then its step uniform, rounded up to 256.
 *
 * @param batch the most rows of a pass (the engine's `maxBatch`)
 * @returns bytes
 *
 * @example
 * ```ts
 * import { batchStageBytes } from "./submit.ts";
 * if (batchStageBytes(32) !== 256 || batchStageBytes(64) !== 512) throw new Error();
 * ```
 */
export function batchStageBytes(batch: number): number {
  return Math.ceil((Math.ceil(batch * 4 / 16) * 16 + STEP.size) / 256) * 256;
}

/**
 * Batched decode steps of several sessions in one submit, `act.batch` sessions per pass (one
 * row each, session `i` of a pass in row `i`): per pass, its ids and step uniform (`n` =
 * sessions) copied from `stage` into the engine's buffers; the embedding; per layer the shared
 * norm and Q/K/V products over all rows (each weight read once for the pass), each session's
 * own dispatches (RoPE, cache writes, attention over its cache; over its own step uniform,
 * written here: `n = 1`, its position, its row), the shared output projection and MLP; every
 * row's logits, copied into `readback` at the session's place. Then one read of them all. The
 * products' kernels compute each row as a one-token step does, and each session's own
 * dispatches are those of its step, so each session's logits are its own step's bit for bit.
 *
 * @param ctx the device and pipelines
 * @param act the engine's work buffers
 * @param shared the engine's dispatches of batched steps
 * @param parts the sessions' steps (each session once)
 * @param vocab the vocabulary size
 * @param stage `COPY_SRC | COPY_DST`, at least `ceil(parts / act.batch) · batchStageBytes(act.batch)` bytes
 * @param readback `MAP_READ | COPY_DST`, at least `parts.length · vocab · 4` bytes
 * @param submitted called with the dispatches recorded
 * @returns each session's next-token logits
 */
export async function runBatch(
  ctx: GpuContext,
  act: Activations,
  shared: BatchDispatches,
  parts: readonly BatchPart[],
  vocab: number,
  stage: GPUBuffer,
  readback: GPUBuffer,
  submitted: (dispatches: number) => void,
): Promise<Float32Array[]> {
  const device = ctx.device;
  const B = act.batch;
  const region = batchStageBytes(B);
  const idsBytes = Math.ceil(B * 4 / 16) * 16;
  const passes: BatchPart[][] = [];
  for (let i = 0; i < parts.length; i += B) passes.push(parts.slice(i, i + B));
  const bytes = new Uint8Array(passes.length * region);
  const view = new DataView(bytes.buffer);
  passes.forEach((pass, p) => {
    pass.forEach((part, i) => {
      view.setUint32(p * region + 4 * i, part.token, true);
      device.queue.writeBuffer(part.batch.step, 0, stepBytes(1, part.pos0, i));
    });
    bytes.set(new Uint8Array(stepBytes(pass.length, 0)), p * region + idsBytes);
  });
  device.queue.writeBuffer(stage, 0, bytes);
  const encoder = device.createCommandEncoder();
  let dispatches = 0;
  passes.forEach((pass, p) => {
    const n = pass.length;
    encoder.copyBufferToBuffer(stage, p * region, act.ids, 0, n * 4);
    encoder.copyBufferToBuffer(stage, p * region + idsBytes, act.step, 0, STEP.size);
    const cpass = encoder.beginComputePass();
    const run = (ops: readonly RecordedDispatch[], rows: number, kvLen: number) => {
      for (const op of ops) {
        cpass.setPipeline(op.pipeline);
        cpass.setBindGroup(0, op.bindGroup);
        cpass.dispatchWorkgroups(...op.grid(rows, kvLen));
        dispatches++;
      }
    };
    run(shared.head, n, n);
    shared.layers.forEach((layer, l) => {
      run(layer.before, n, n);
      for (const part of pass) run(part.batch.layers[l], 1, part.pos0 + 1);
      run(layer.after, n, n);
    });
    run(shared.tail, n, n);
    cpass.end();
    encoder.copyBufferToBuffer(act.logits, 0, readback, p * B * vocab * 4, n * vocab * 4);
  });
  device.queue.submit([encoder.finish()]);
  submitted(dispatches);
  const size = parts.length * vocab * 4;
  await readback.mapAsync(1, /* GPUMapMode.READ */ 0, size);
  const data = new Float32Array(readback.getMappedRange(0, size).slice(0));
  readback.unmap();
  return parts.map((_, i) => data.subarray(i * vocab, (i + 1) * vocab));
}
