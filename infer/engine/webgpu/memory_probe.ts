/**
 * How many more sessions' caches a GPU holds. WebGPU does not say how much memory a device has
 * left, so {@linkcode probeSessions} allocates caches until the device reports that it is out of
 * memory (or enough were found), then frees them all.
 *
 * @module
 */

import { USAGE } from "./buffers.ts";

/** The part of a `GPUDevice` the probe uses. */
export type ProbeDevice = Pick<GPUDevice, "createBuffer" | "pushErrorScope" | "popErrorScope">;

/**
 * Allocate sessions' caches (`buffers` buffers of `bufferBytes` each per session) one session at
 * a time, each inside `out-of-memory` and `validation` error scopes, until one fails (an error
 * in either scope, a thrown error, a scope that cannot be read) or `most + 1` fitted; free them
 * all. Where one failed, an eighth of what fitted (at least one session) is left free for the
 * rest (activations of new passes, other programs): the answer is `⌊7/8 · fitted⌋`, at most
 * `most`; where `most + 1` fitted, `most`. For a moment it holds `most + 1` sessions' caches,
 * or all the device had.
 *
 * @param device the device
 * @param buffers buffers per session (keys and values per layer)
 * @param bufferBytes bytes of each
 * @param most the most sessions wanted
 * @returns sessions that fit, at most `most` (0 when none does)
 *
 * @example
 * ```ts
 * import { probeSessions } from "./memory_probe.ts";
 * // A stand-in device with room for 10 buffers.
 * let made = 0;
 * let failed = false;
 * const device = {
 *   pushErrorScope: () => undefined,
 *   popErrorScope() {
 *     const out = failed;
 *     failed = false;
 *     return Promise.resolve(out ? ({ message: "out of memory" } as GPUError) : null);
 *   },
 *   createBuffer() {
 *     if (++made > 10) failed = true;
 *     return { destroy() {} } as GPUBuffer;
 *   },
 * };
 * // Two buffers a session: 5 fit, 7/8 of that is kept.
 * if (await probeSessions(device, 2, 64, 32) !== 4) throw new Error();
 * ```
 */
export async function probeSessions(
  device: ProbeDevice,
  buffers: number,
  bufferBytes: number,
  most: number,
): Promise<number> {
  const held: GPUBuffer[] = [];
  let fitted = 0;
  let ranOut = false;
  const failure = { message: "the error scope could not be read" };
  try {
    while (fitted <= most) {
      device.pushErrorScope("validation"); // a buffer past maxBufferSize
      device.pushErrorScope("out-of-memory");
      let thrown = false;
      try {
        for (let i = 0; i < buffers; i++) {
          held.push(device.createBuffer({ size: bufferBytes, usage: USAGE.STORAGE }));
        }
      } catch {
        thrown = true;
      }
      const outOfMemory = await device.popErrorScope().catch(() => failure);
      const invalid = await device.popErrorScope().catch(() => failure);
      if (thrown || outOfMemory || invalid) {
        ranOut = true;
        break;
      }
      fitted++;
    }
  } finally {
    for (const b of held) b.destroy();
  }
  return ranOut ? Math.min(most, Math.floor(fitted * 7 / 8)) : most;
}
