/**
 * The `wasm` engine's `q6_k` layout against ggml's blocks: every level where `q6kLevelAt` says,
 * equal to what `dequantizeRow` (checked against hand-worked ggml blocks) reads, and back again.
 *
 * @module
 */

import { deepEqual, equal } from "node:assert/strict";
import { Q6K_GGML_BYTES, Q6K_WASM_BYTES, q6kFromWasm, q6kLevelAt, q6kToWasm } from "../infer/engine/wasm/q6k_layout.ts";
import { dequantizeRow } from "../infer/formats/ggml_quant.ts";
import { Q6K_BYTES } from "../scripts/wasm/quant_wat.ts";

/** A ggml q6_k block of pseudo-random levels, its 16 scales and d given. */
function block(seed: number, scales: (m: number) => number, d: number[]): Uint8Array {
  const b = new Uint8Array(Q6K_GGML_BYTES);
  let s = seed;
  for (let i = 0; i < 192; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    b[i] = s >>> 24;
  }
  for (let m = 0; m < 16; m++) b[192 + m] = scales(m) & 255;
  b.set(d, 208);
  return b;
}

Deno.test("q6_k layout: the kernels' block size is the layout's; q6kLevelAt is a permutation, its own inverse", () => {
  equal(Q6K_BYTES, Q6K_WASM_BYTES);
  const seen = new Set<number>();
  for (let p = 0; p < 256; p++) {
    equal(q6kLevelAt(q6kLevelAt(p)), p);
    seen.add(q6kLevelAt(p));
    // The same quad (64 elements) and the same element within its 4-element chunk.
    equal(q6kLevelAt(p) >> 6, p >> 6);
    equal(q6kLevelAt(p) & 3, p & 3);
  }
  equal(seen.size, 256);
  // Vector c of a quad holds elements 4c … 4c + 3 of each of its 4 runs in turn (worked by hand).
  deepEqual(
    Array.from({ length: 16 }, (_, i) => q6kLevelAt(64 * 2 + 16 * 3 + i)),
    [140, 141, 142, 143, 156, 157, 158, 159, 172, 173, 174, 175, 188, 189, 190, 191],
  );
});

Deno.test("q6_k layout: each held level is u = q + 32 of the element q6kLevelAt names, as dequantizeRow reads it; scales and d as stored; back to ggml's bytes exactly", () => {
  for (let seed = 1; seed <= 40; seed++) {
    // d = 1 (f16 0x3c00) and every scale 1: dequantizeRow gives q = u − 32 itself.
    const unit = block(seed, () => 1, [0x00, 0x3c]);
    const q = dequantizeRow("q6_k", unit, new Float32Array(256));
    const w = new Uint8Array(Q6K_WASM_BYTES + 8);
    q6kToWasm(unit, 0, w, 8);
    for (let p = 0; p < 256; p++) equal(w[8 + p] - 32, q[q6kLevelAt(p)], `seed ${seed}, byte ${p}`);
    // Any scales and d: copied as they are, and the block comes back byte for byte.
    const any = block(seed, (m) => 7 * m - 60 + seed, [seed, 0x30 + (seed & 7)]);
    const held = new Uint8Array(3 * Q6K_WASM_BYTES);
    q6kToWasm(any, 0, held, Q6K_WASM_BYTES);
    deepEqual([...held.subarray(2 * Q6K_WASM_BYTES - 18, 2 * Q6K_WASM_BYTES)], [...any.subarray(192)]);
    const back = new Uint8Array(Q6K_GGML_BYTES + 5);
    q6kFromWasm(held, Q6K_WASM_BYTES, back, 5);
    deepEqual([...back.subarray(5)], [...any]);
  }
});
