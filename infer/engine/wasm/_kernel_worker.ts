/**
 * A worker thread of the `wasm` engine: binds the kernels to the engine's shared memories (one
 * instance for each weights' memory), then
 * waits on the control block and computes its share of each job (see `_matmul_job.ts`).
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { CTRL, runShare } from "./_matmul_job.ts";
import { instantiateKernels } from "./kernels.ts";

/** What the engine sends once. */
interface Init {
  readonly module: WebAssembly.Module;
  readonly relaxed?: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly weights: readonly WebAssembly.Memory[];
  readonly ctrl: SharedArrayBuffer;
  readonly part: number;
  readonly scratch: number;
  readonly spin: number;
}

self.onmessage = (e: MessageEvent<Init>) => {
  const { module, relaxed, memory, weights, part, scratch, spin } = e.data;
  const ctrl = new Int32Array(e.data.ctrl);
  const kernels = weights.map((w) => instantiateKernels(module, memory, relaxed, w));
  let generation = Atomics.load(ctrl, CTRL.generation);
  self.postMessage("ready");
  for (;;) {
    for (let i = 0; i < spin && Atomics.load(ctrl, CTRL.generation) === generation; i++);
    Atomics.wait(ctrl, CTRL.generation, generation);
    generation = Atomics.load(ctrl, CTRL.generation);
    if (Atomics.load(ctrl, CTRL.stop) !== 0) break;
    runShare(kernels, ctrl, part, scratch);
    Atomics.add(ctrl, CTRL.done, 1);
    Atomics.notify(ctrl, CTRL.done);
  }
  self.close();
};
