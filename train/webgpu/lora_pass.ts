/**
 * LoRA in the WebGPU trainer: a slot's updates `scale · B · (A · dropout(u))` added into its
 * outputs (the slot's outputs may be several buffers, `q | k | v`, and a module's columns may
 * span them: Baichuan's `W_pack`), and their backward — the gradients of `A` and `B` added to the
 * module's accumulators, and the updates' share of the input's gradient. Every product is a
 * `gemm` on strided views; dropout is the CPU oracle's counter-based mask.
 *
 * @module
 */

import type { LoraSlot } from "../lora_model.ts";
import type { EngineLossOptions } from "../loss_engine.ts";
import { dropout } from "./kernels/elementwise.ts";
import { gemm } from "./kernels/gemm.ts";
import type { Work } from "./example_work.ts";
import type { WorkList } from "./work_list.ts";

/** A LoRA pair and its gradient accumulators on the device. */
export interface GpuModule {
  /** Its index among the model's modules (dropout's masks derive from it). */
  readonly index: number;
  /** The product it adds to. */
  readonly slot: LoraSlot;
  /** Its first column among the slot's outputs. */
  readonly offset: number;
  /** Rank. */
  readonly r: number;
  /** Input size. */
  readonly inp: number;
  /** Output size. */
  readonly out: number;
  /** `alpha / r`. */
  readonly scale: number;
  /** `A`, `r × in`, f32. */
  readonly a: GPUBuffer;
  /** `B`, `out × r`, f32. */
  readonly b: GPUBuffer;
  /** `∂L/∂A`, accumulated. */
  readonly ga: GPUBuffer;
  /** `∂L/∂B`, accumulated. */
  readonly gb: GPUBuffer;
}

/** One output of a slot: its buffer, width, and where its columns start among the slot's. */
export interface Part {
  /** Its buffer, `n × width`. */
  readonly buffer: GPUBuffer;
  /** Its columns. */
  readonly width: number;
  /** Where its columns start among the slot's. */
  readonly start: number;
}

/**
 * A slot's LoRA updates added into its outputs.
 *
 * @param list the work list
 * @param work the example's buffers (each module's input and `A · input` are kept there)
 * @param wide wide product tiles (GPUs) or narrow ones
 * @param mods the slot's modules
 * @param input the slot's input, `n × in`
 * @param parts the slot's outputs
 * @param o dropout
 *
 * @example
 * ```ts
 * import { loraForward } from "./lora_pass.ts";
 * import type { WorkList } from "./work_list.ts";
 * const b = { size: 4096 } as GPUBuffer;
 * const calls: string[] = [];
 * const list = { call: (c: { role: string }) => calls.push(c.role) } as unknown as WorkList;
 * const work = { n: 4, get: () => b, loraIn: new Map(), loraH: new Map() } as never;
 * // W_pack's update spans q, k and v: one product into A·u, then one per part.
 * const mod = { index: 0, slot: "qkv", offset: 0, r: 2, inp: 8, out: 24, scale: 2, a: b, b, ga: b, gb: b } as const;
 * const parts = [0, 8, 16].map((start) => ({ buffer: b, width: 8, start }));
 * loraForward(list, work, false, [mod], b, parts, { backward: false });
 * if (calls.length !== 4) throw new Error(calls.join());
 * ```
 */
export function loraForward(
  list: WorkList,
  work: Work,
  wide: boolean,
  mods: GpuModule[],
  input: GPUBuffer,
  parts: Part[],
  o: EngineLossOptions,
): void {
  const n = work.n, p = o.dropout ?? 0;
  mods.forEach((m, j) => {
    let u = input;
    if (p > 0) {
      u = work.get(`lora-in-${m.slot}-${j}`, n * m.inp);
      list.call(dropout(input, u, n * m.inp, { p, seed: o.dropoutSeed ?? 0, index: m.index }));
    }
    const h = work.get(`lora-h-${m.slot}-${j}`, n * m.r);
    work.loraIn.set(m.index, u);
    work.loraH.set(m.index, h);
    list.call(gemm({
      wide: wide,
      m: n,
      n: m.r,
      k: m.inp,
      a: { buffer: u, row: m.inp, col: 1 },
      b: { buffer: m.a, row: 1, col: m.inp },
      c: { buffer: h, row: m.r },
    }));
    for (const { part, c0, c1 } of overlaps(m, parts)) {
      list.call(gemm({
        wide: wide,
        m: n,
        n: c1 - c0,
        k: m.r,
        a: { buffer: h, row: m.r, col: 1 },
        b: { buffer: m.b, off: (c0 - m.offset) * m.r, row: 1, col: m.r },
        c: { buffer: part.buffer, off: c0 - part.start, row: part.width },
        alpha: m.scale,
        accumulate: true,
      }));
    }
  });
}

/**
 * A slot's LoRA backward: the gradients of `A` and `B` added to the modules' accumulators, and
 * the updates' share of the input's gradient added into `dInput`.
 *
 * @param list the work list
 * @param work the example's buffers (with what {@linkcode loraForward} kept)
 * @param wide wide product tiles (GPUs) or narrow ones
 * @param mods the slot's modules
 * @param dParts the gradients of the slot's outputs
 * @param dInput the gradient of the slot's input, added to
 * @param o dropout
 *
 * @example
 * ```ts
 * import { loraBackward } from "./lora_pass.ts";
 * import type { WorkList } from "./work_list.ts";
 * const b = { size: 4096 } as GPUBuffer;
 * const calls: string[] = [];
 * const list = { call: (c: { role: string }) => calls.push(c.role) } as unknown as WorkList;
 * const work = { n: 4, get: () => b, loraIn: new Map([[0, b]]), loraH: new Map([[0, b]]) } as never;
 * const mod = { index: 0, slot: "o", offset: 0, r: 2, inp: 8, out: 8, scale: 2, a: b, b, ga: b, gb: b } as const;
 * // ∂B and ∂(A·u) per part, then ∂A and ∂u; with dropout, its mask on ∂u.
 * loraBackward(list, work, false, [mod], [{ buffer: b, width: 8, start: 0 }], b, { backward: true, dropout: 0.1 });
 * if (calls.length !== 5) throw new Error(calls.join());
 * ```
 */
export function loraBackward(
  list: WorkList,
  work: Work,
  wide: boolean,
  mods: GpuModule[],
  dParts: Part[],
  dInput: GPUBuffer,
  o: EngineLossOptions,
): void {
  const n = work.n, p = o.dropout ?? 0;
  for (const m of mods) {
    const u = work.loraIn.get(m.index)!, h = work.loraH.get(m.index)!;
    const dh = work.get("lora-dh", n * m.r);
    overlaps(m, dParts).forEach(({ part, c0, c1 }, i) => {
      const cols = c1 - c0, bOff = (c0 - m.offset) * m.r;
      list.call(gemm({
        wide: wide,
        m: cols,
        n: m.r,
        k: n,
        a: { buffer: part.buffer, off: c0 - part.start, row: 1, col: part.width },
        b: { buffer: h, row: m.r, col: 1 },
        c: { buffer: m.gb, off: bOff, row: m.r },
        alpha: m.scale,
        accumulate: true,
      }));
      list.call(gemm({
        wide: wide,
        m: n,
        n: m.r,
        k: cols,
        a: { buffer: part.buffer, off: c0 - part.start, row: part.width, col: 1 },
        b: { buffer: m.b, off: bOff, row: m.r, col: 1 },
        c: { buffer: dh, row: m.r },
        alpha: m.scale,
        accumulate: i > 0,
      }));
    });
    list.call(gemm({
      wide: wide,
      m: m.r,
      n: m.inp,
      k: n,
      a: { buffer: dh, row: 1, col: m.r },
      b: { buffer: u, row: m.inp, col: 1 },
      c: { buffer: m.ga, row: m.inp },
      accumulate: true,
    }));
    const into = p > 0 ? work.get("lora-dx", n * m.inp) : dInput;
    list.call(gemm({
      wide: wide,
      m: n,
      n: m.inp,
      k: m.r,
      a: { buffer: dh, row: m.r, col: 1 },
      b: { buffer: m.a, row: m.inp, col: 1 },
      c: { buffer: into, row: m.inp },
      accumulate: p === 0,
    }));
    if (p > 0) {
      list.call(dropout(into, dInput, n * m.inp, { p, seed: o.dropoutSeed ?? 0, index: m.index, accumulate: true }));
    }
  }
}

/** The parts a module's outputs fall in, and the slot columns `c0 … c1` of each. */
function overlaps(m: GpuModule, parts: Part[]): { part: Part; c0: number; c1: number }[] {
  const out: { part: Part; c0: number; c1: number }[] = [];
  for (const part of parts) {
    const c0 = Math.max(m.offset, part.start), c1 = Math.min(m.offset + m.out, part.start + part.width);
    if (c0 < c1) out.push({ part, c0, c1 });
  }
  return out;
}
