/**
 * `QuantizePool`: matrices quantized in pieces of rows on worker threads give the bytes of
 * `quantizeTensor` on one thread, for every block family and for 16-bit sources; bad shapes are
 * refused as on one thread; a worker that fails rejects the work and the pool refuses more.
 *
 * @module
 */

import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { fromF32 } from "../infer/formats/dtype.ts";
import { quantizeTensor } from "../infer/formats/quant_tensor.ts";
import { QuantizePool } from "../infer/formats/quantize_pool.ts";
import type { GgmlTypeName } from "../infer/formats/ggml_types.ts";
import type { Tensor } from "../infer/formats/tensor.ts";
import { InputError } from "../io/errors.ts";

/** A matrix big enough for the pool to split (2^20 values and more), values of varied scale. */
function matrix(rows: number, cols: number, dtype: "f32" | "bf16" | "f16"): Tensor {
  let s = 7;
  const values = Float32Array.from({ length: rows * cols }, (_, i) => {
    s = (s * 1103515245 + 12345) >>> 0;
    return ((s / 2 ** 32) - 0.5) * (1 + (i % 97) / 10);
  });
  return { dtype, shape: [rows, cols], data: dtype === "f32" ? values : fromF32(values, dtype) };
}

Deno.test("QuantizePool: the bytes of quantizeTensor on one thread, in pieces on the workers", async () => {
  using pool = new QuantizePool(3);
  const cases: Array<[GgmlTypeName, "f32" | "bf16" | "f16"]> = [
    ["q4_k", "f32"],
    ["q6_k", "bf16"],
    ["q5_k", "f16"],
    ["q8_0", "f32"],
    ["q4_0", "bf16"],
  ];
  for (const [type, dtype] of cases) {
    // 1,027 rows: the pieces (rows / 12, rounded up) do not divide them evenly.
    const t = matrix(1027, 1024, dtype);
    const got = await pool.quantize(t, type);
    const want = quantizeTensor(t, type);
    equal(got.dtype, type);
    deepEqual(got.shape, t.shape);
    ok(got.data.length === want.data.length && got.data.every((b, i) => b === want.data[i]), `${type} from ${dtype}`);
  }
  // Matrices quantized at once go through one queue.
  const [x, y] = [matrix(1024, 1024, "f32"), matrix(2048, 512, "f32")];
  const [a, b] = await Promise.all([pool.quantize(x, "q4_k"), pool.quantize(y, "q8_0")]);
  const [wantA, wantB] = [quantizeTensor(x, "q4_k").data, quantizeTensor(y, "q8_0").data];
  ok(a.data.every((v, i) => v === wantA[i]) && b.data.every((v, i) => v === wantB[i]));
});

Deno.test("QuantizePool: rows that are not whole blocks are refused as on one thread", async () => {
  using pool = new QuantizePool(2);
  const t = matrix(8192, 200, "f32"); // 200 is not a multiple of 32
  await rejects(pool.quantize(t, "q8_0"), (e) => e instanceof InputError && /block/.test(e.message));
  // A plain type is a cast, here.
  equal((await pool.quantize(matrix(4, 32, "f32"), "f16")).dtype, "f16");
});

Deno.test("QuantizePool: a worker that fails rejects the matrix, and the pool refuses more", async () => {
  const broken = new URL("data:text/javascript,throw new Error('no kernels here')");
  using pool = new QuantizePool(2, broken);
  const t = matrix(2048, 512, "f32");
  await rejects(pool.quantize(t, "q8_0"), /a quantizing worker failed/);
  await rejects(pool.quantize(t, "q8_0"), /a quantizing worker failed/);
});
