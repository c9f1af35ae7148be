/**
 * Activations rounded to 8 bits as the `wasm` engine's `i8_*` kernels read them, written into the
 * shared memory: per token, `in` signed bytes `qx`, then `in/32` f32 scales `dx`, then `in/32`
 * f32 `dx · Σ qx` (`5·in/4` bytes). The rounding is the oracle's (`int8Activations`), so the
 * kernels see exactly the integers the `cpu` engine's `int8Dot` multiplies. The engine rounds
 * with the `q8_act` kernel, which writes these bytes exactly, without allocating; this is its
 * reference.
 *
 * @module
 */

import { int8Activations } from "../../formats/int8_dot.ts";

/**
 * Bytes of `n` tokens of `inp` activations in the kernels' 8-bit layout.
 *
 * @param n tokens
 * @param inp activations per token (a multiple of 32)
 * @returns the bytes
 *
 * @example
 * ```ts
 * import { int8InputBytes } from "./int8_input.ts";
 * if (int8InputBytes(2, 64) !== 2 * (64 + 8 + 8)) throw new Error();
 * ```
 */
export function int8InputBytes(n: number, inp: number): number {
  return n * (inp + (inp >> 2));
}

/**
 * Round `n` tokens of `x` to 8 bits per block of 32 into the memory at `ptr` (4-byte aligned).
 *
 * @param x the activations (`n × inp`)
 * @param n tokens
 * @param inp activations per token (a multiple of 32)
 * @param buffer the shared memory's buffer
 * @param ptr where the layout starts
 *
 * @example
 * ```ts
 * import { writeInt8Input } from "./int8_input.ts";
 * const mem = new ArrayBuffer(80);
 * const x = new Float32Array(32).fill(1);
 * x[0] = 127; // dx = 1
 * writeInt8Input(x, 1, 32, mem, 0);
 * const f = new Float32Array(mem, 32, 2);
 * if (new Int8Array(mem)[0] !== 127 || f[0] !== 1 || f[1] !== 127 + 31) throw new Error();
 * ```
 */
export function writeInt8Input(
  x: Float32Array,
  n: number,
  inp: number,
  buffer: ArrayBufferLike,
  ptr: number,
): void {
  const a = int8Activations(x.subarray(0, n * inp));
  const blocks = inp / 32;
  const stride = inp + (inp >> 2);
  const bytes = new Int8Array(buffer, ptr, n * stride);
  for (let t = 0; t < n; t++) {
    bytes.set(a.q.subarray(t * inp, (t + 1) * inp), t * stride);
    const f = new Float32Array(buffer, ptr + t * stride + inp, 2 * blocks);
    for (let b = 0; b < blocks; b++) {
      const dx = a.d[t * blocks + b];
      f[b] = dx;
      f[blocks + b] = dx * a.sum[t * blocks + b];
    }
  }
}
