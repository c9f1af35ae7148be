/**
 * `q6_k` blocks as the `wasm` engine holds them: each level one byte, so the kernels load the
 * levels where ggml's packing (4 low bits in `ql`, 2 high bits in `qh`) makes them rebuild each
 * run of 16 with five vector operations, the largest cost of an 8-bit `q6_k` product measured here.
 *
 * A block is {@linkcode Q6K_WASM_BYTES} bytes: its 256 levels `u = q + 32` (0..63), its 16 signed
 * scales as ggml stores them, then its f16 `d` as stored; `y = d · sc · (u − 32)` for element `e`,
 * `sc` the scale of its run `e >> 4`. That is 274 bytes against ggml's 210 (8.6 bits a weight
 * against 6.6); the conversion is exact both ways.
 *
 * The levels go in "quads" of 4 runs (64 elements), each as 4 vectors of 16 bytes: vector `c`
 * holds elements `4c … 4c + 3` of each of the quad's runs in turn ({@linkcode q6kLevelAt}). A dot
 * product of 4 bytes per 32-bit lane (WebAssembly's relaxed `i32x4` dot, x86's `vpdpbusd`) then
 * sums one run per lane, so a quad's 4 runs are summed by 4 such products with no reduction
 * across lanes; the activations are arranged to match once per quad, not once per row.
 *
 * The scales stay 8-bit with `d` beside them: holding each run's `d · sc` as an f32 instead (320
 * bytes a block) halved the arithmetic of an 8-bit product of a cached matrix but made decoding
 * slower (measured here: 0.92× for an 8192 × 4096 matrix, 0.95× for a `q4_k_m` decode step),
 * because a token reads each block from memory once; the prompt kernel, whose tokens share each
 * read, unpacks them so into its scratch.
 *
 * @module
 */

import { GGML_TYPE_LAYOUTS } from "../../formats/ggml_types.ts";

/**
 * The element whose level the engine's `q6_k` block holds at byte `p` (< 256) of its levels:
 * bits 2–3 and 4–5 of `p` swapped (the 4×4 transposition of 32-bit lanes within each quad), so
 * the map is its own inverse.
 *
 * @param p the byte
 * @returns the element
 *
 * @example
 * ```ts
 * import { q6kLevelAt } from "./q6k_layout.ts";
 * // vector 0 of quad 0: elements 0–3 of run 0, then 0–3 of run 1 (elements 16–19), …
 * if (q6kLevelAt(4) !== 16 || q6kLevelAt(16) !== 4 || q6kLevelAt(64 + 17) !== 64 + 5) throw new Error();
 * ```
 */
export function q6kLevelAt(p: number): number {
  return (p & ~0x3c) | ((p >> 2) & 3) << 4 | ((p >> 4) & 3) << 2;
}

/** Bytes of one `q6_k` block in the engine's layout. */
export const Q6K_WASM_BYTES = 256 + 16 + 2;

/** Bytes of one `q6_k` block as ggml stores it. */
export const Q6K_GGML_BYTES: number = GGML_TYPE_LAYOUTS.q6_k.blockBytes;

/**
 * Write the ggml `q6_k` block at `src[s]` in the engine's layout at `dst[d]`.
 *
 * @param src ggml blocks
 * @param s where the block starts
 * @param dst the engine's blocks
 * @param d where the block goes
 *
 * @example
 * ```ts
 * import { Q6K_WASM_BYTES, q6kToWasm } from "./q6k_layout.ts";
 * const b = new Uint8Array(210);
 * b[0] = 0x57; // ql[0]: element 0's low bits 7, element 64's 5
 * b[128] = 0x21; // qh[0]: element 0's high bits 1, element 64's 2
 * b[192] = 0xfd; // scale of run 0: −3
 * const w = new Uint8Array(Q6K_WASM_BYTES);
 * q6kToWasm(b, 0, w, 0);
 * // element 0 at byte 0; element 64 (quad 1, run 4, its element 0) at byte 64
 * if (w[0] !== 16 + 7 || w[64] !== 32 + 5 || w[256] !== 0xfd) throw new Error();
 * ```
 */
export function q6kToWasm(src: Uint8Array, s: number, dst: Uint8Array, d: number): void {
  for (let half = 0; half < 2; half++) {
    const ql = s + 64 * half, qh = s + 128 + 32 * half, y = 128 * half;
    for (let l = 0; l < 32; l++) {
      const h = src[qh + l], lo = src[ql + l], hi = src[ql + l + 32];
      dst[d + q6kLevelAt(y + l)] = (lo & 15) | ((h & 3) << 4);
      dst[d + q6kLevelAt(y + l + 32)] = (hi & 15) | (((h >> 2) & 3) << 4);
      dst[d + q6kLevelAt(y + l + 64)] = (lo >> 4) | (((h >> 4) & 3) << 4);
      dst[d + q6kLevelAt(y + l + 96)] = (hi >> 4) | (((h >> 6) & 3) << 4);
    }
  }
  dst.set(src.subarray(s + 192, s + 210), d + 256);
}

/**
 * Write the engine's `q6_k` block at `src[s]` back as ggml stores it at `dst[d]` (the inverse of
 * {@linkcode q6kToWasm}).
 *
 * @param src the engine's blocks
 * @param s where the block starts
 * @param dst ggml blocks
 * @param d where the block goes
 *
 * @example
 * ```ts
 * import { Q6K_WASM_BYTES, q6kFromWasm, q6kToWasm } from "./q6k_layout.ts";
 * const b = Uint8Array.from({ length: 210 }, (_, i) => (i * 37) & 255);
 * const w = new Uint8Array(Q6K_WASM_BYTES);
 * q6kToWasm(b, 0, w, 0);
 * const back = new Uint8Array(210);
 * q6kFromWasm(w, 0, back, 0);
 * if (back.join() !== b.join()) throw new Error();
 * ```
 */
export function q6kFromWasm(src: Uint8Array, s: number, dst: Uint8Array, d: number): void {
  const u = (e: number) => src[s + q6kLevelAt(e)];
  for (let half = 0; half < 2; half++) {
    const ql = d + 64 * half, qh = d + 128 + 32 * half, y = 128 * half;
    for (let l = 0; l < 32; l++) {
      const a = u(y + l), b = u(y + l + 32), e = u(y + l + 64), f = u(y + l + 96);
      dst[ql + l] = (a & 15) | ((e & 15) << 4);
      dst[ql + l + 32] = (b & 15) | ((f & 15) << 4);
      dst[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((e >> 4) << 4) | ((f >> 4) << 6);
    }
  }
  dst.set(src.subarray(s + 256, s + 274), d + 192);
}
