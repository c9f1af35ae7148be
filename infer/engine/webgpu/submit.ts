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

/** One session's part of a batched decode step: {@linkcode runSteps}. */
export interface BatchPart {
  /** The session's dispatches. */
  readonly ops: StepDispatches;
  /** The token it appends. */
  readonly token: number;
  /** Its position. */
  readonly pos0: number;
}

/** Bytes per session in the staging buffer of {@linkcode runSteps}: its id, then its step. */
export const BATCH_STAGE_BYTES = 256;

/**
 * One decode step of several sessions in one submit: for each in turn, its id and step
 * parameters copied from `stage` into the engine's buffers, its dispatches (the single-token
 * ones), and its logits copied into `readback` at its place; then one read of them all. Each
 * session runs exactly the dispatches its own step would, so its logits are the same bit for bit.
 *
 * @param ctx the device and pipelines
 * @param act the engine's work buffers
 * @param parts the sessions' steps
 * @param vocab the vocabulary size
 * @param stage `COPY_SRC | COPY_DST`, at least `parts.length · BATCH_STAGE_BYTES` bytes
 * @param readback `MAP_READ | COPY_DST`, at least `parts.length · vocab · 4` bytes
 * @param submitted called with the dispatches recorded
 * @returns each session's next-token logits
 */
export async function runSteps(
  ctx: GpuContext,
  act: Activations,
  parts: readonly BatchPart[],
  vocab: number,
  stage: GPUBuffer,
  readback: GPUBuffer,
  submitted: (dispatches: number) => void,
): Promise<Float32Array[]> {
  const device = ctx.device;
  const bytes = new Uint8Array(parts.length * BATCH_STAGE_BYTES);
  parts.forEach((p, i) => {
    new DataView(bytes.buffer).setUint32(i * BATCH_STAGE_BYTES, p.token, true);
    bytes.set(new Uint8Array(stepBytes(1, p.pos0)), i * BATCH_STAGE_BYTES + 16);
  });
  device.queue.writeBuffer(stage, 0, bytes);
  const encoder = device.createCommandEncoder();
  let dispatches = 0;
  parts.forEach((p, i) => {
    encoder.copyBufferToBuffer(stage, i * BATCH_STAGE_BYTES, act.ids, 0, 4);
    encoder.copyBufferToBuffer(stage, i * BATCH_STAGE_BYTES + 16, act.step, 0, STEP.size);
    const ops = p.ops.decode ?? p.ops;
    const pass = encoder.beginComputePass();
    for (const op of [...ops.body, ...ops.last]) {
      pass.setPipeline(op.pipeline);
      pass.setBindGroup(0, op.bindGroup);
      pass.dispatchWorkgroups(...op.grid(1, p.pos0 + 1));
      dispatches++;
    }
    pass.end();
    encoder.copyBufferToBuffer(act.logits, 0, readback, i * vocab * 4, vocab * 4);
  });
  device.queue.submit([encoder.finish()]);
  submitted(dispatches);
  const size = parts.length * vocab * 4;
  await readback.mapAsync(1, /* GPUMapMode.READ */ 0, size);
  const data = new Float32Array(readback.getMappedRange(0, size).slice(0));
  readback.unmap();
  return parts.map((_, i) => data.subarray(i * vocab, (i + 1) * vocab));
}
