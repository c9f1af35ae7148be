/**
 * A GPU's memory bandwidth as a buffer copy measures it: the roofline a decode step's weight
 * reads are compared with.
 *
 * @module
 */

/** What {@linkcode gpuCopyBandwidth} measured. */
export interface GpuCopy {
  /** Bytes of each buffer. */
  readonly bytes: number;
  /** Bytes read and written per second (2 × bytes × copies ÷ seconds), the median pass. */
  readonly median: number;
  /** The best pass. */
  readonly best: number;
}

/**
 * Copy one buffer into another `copies` times per submit, after a warm-up pass, and time each
 * pass from submit to `onSubmittedWorkDone` (so a submit's fixed cost is included: make the
 * buffers large).
 *
 * @param device the device
 * @param bytes bytes per buffer (at most the device's `maxBufferSize`)
 * @param passes timed passes
 * @param copies copies per pass
 * @returns bytes moved per second (read plus written)
 *
 * @example
 * ```ts
 * import { gpuCopyBandwidth } from "./_gpu_copy.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const bw = await gpuCopyBandwidth(device, 2 ** 20, 3, 2);
 *   if (!(bw.best >= bw.median && bw.median > 0)) throw new Error();
 *   device.destroy();
 * }
 * ```
 */
export async function gpuCopyBandwidth(device: GPUDevice, bytes: number, passes = 7, copies = 4): Promise<GpuCopy> {
  const usage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const a = device.createBuffer({ size: bytes, usage });
  const b = device.createBuffer({ size: bytes, usage });
  try {
    const pass = async (): Promise<number> => {
      const encoder = device.createCommandEncoder();
      for (let i = 0; i < copies; i++) {
        if (i % 2 === 0) encoder.copyBufferToBuffer(a, 0, b, 0, bytes);
        else encoder.copyBufferToBuffer(b, 0, a, 0, bytes);
      }
      const t0 = performance.now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      return (2 * bytes * copies) / ((performance.now() - t0) / 1e3);
    };
    await pass();
    const rates: number[] = [];
    for (let i = 0; i < passes; i++) rates.push(await pass());
    rates.sort((x, y) => x - y);
    return { bytes, median: rates[Math.floor(rates.length / 2)], best: rates[rates.length - 1] };
  } finally {
    a.destroy();
    b.destroy();
  }
}
