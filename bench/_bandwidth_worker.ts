/**
 * Worker of the read-bandwidth probe ({@linkcode ./_bandwidth.ts}): instantiates the summing
 * module over the shared memory it is sent, warms it up, then sums the byte range of each
 * message and answers with the sum and its start and end times (ms since the epoch, so the
 * main thread can span all workers of a pass).
 *
 * Messages in: `{ wasm, memory, streams }` once (`streams`: the `sumN` functions to use), then
 * `{ start, end, streams }` per pass (byte offsets, multiples of 128). Messages out: `"ready"`, then `{ sum, t0, t1 }` per pass.
 *
 * @module
 */

/// <reference lib="deno.worker" />

type Sum = (start: number, end: number) => number;
let sums: Record<number, Sum> = {};

self.onmessage = async (e: MessageEvent) => {
  const data = e.data;
  if (data.wasm) {
    const { instance } = await WebAssembly.instantiate(data.wasm as Uint8Array<ArrayBuffer>, {
      env: { memory: data.memory as WebAssembly.Memory },
    });
    sums = Object.fromEntries((data.streams as number[]).map((n) => [n, instance.exports[`sum${n}`] as Sum]));
    // Enough calls on a small range that V8 tiers the functions up from its baseline compiler.
    for (const sum of Object.values(sums)) for (let i = 0; i < 200; i++) sum(0, 1 << 16);
    self.postMessage("ready");
    return;
  }
  const t0 = performance.timeOrigin + performance.now();
  const s = sums[data.streams](data.start, data.end);
  const t1 = performance.timeOrigin + performance.now();
  self.postMessage({ sum: s, t0, t1 });
};
