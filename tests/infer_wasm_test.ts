/**
 * The `wasm` engine against the CPU oracle: its kernels against products worked in double
 * precision (every row count of a group, every token count of a tile, split across threads),
 * and whole models (each architecture and weight format, 1 and 2 threads, chunked prefill,
 * decoding, LoRA kept apart, f16 cache, prefix reuse and fork) within 1e-4 of the oracle's
 * logits, relative to their scale.
 */

import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { CpuEngine, generate, loadModel, loadWasmEngine, WasmEngine } from "../infer/mod.ts";
import { type RandomModelOptions, writeRandomLora, writeRandomModel } from "../infer/testing/mod.ts";
import { kernelsModule, KernelThreads, WasmMemory, WeightMemories } from "../infer/engine/wasm/mod.ts";
import { instantiateKernels, relaxedKernelsModule, scratchBytes } from "../infer/engine/wasm/kernels.ts";
import { placeWasmMatrix, wasmMatrixRow } from "../infer/engine/wasm/wasm_matrix.ts";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "../infer/formats/dtype.ts";
import { dequantizeRow } from "../infer/formats/ggml_quant.ts";
import { GGML_TYPE_LAYOUTS } from "../infer/formats/ggml_types.ts";
import { quantizeTensor, type QuantTensor } from "../infer/formats/quant_tensor.ts";
import type { QuantPreset } from "../infer/formats/quant_preset.ts";
import { INT8_DOT_FORMATS, int8Activations, int8DotRow } from "../infer/formats/int8_dot.ts";
import { int8InputBytes, writeInt8Input } from "../infer/engine/wasm/int8_input.ts";
import { InputError, UsageError } from "../io/errors.ts";
import { relDiff, tempDir } from "./_shared.ts";
import { checkBatchedSteps } from "./_batch_steps.ts";

/**
 * Per position, |Δ| relative to the oracle's largest |logit| there: sorted, so the median and the
 * largest can be read.
 */
function positionDiffs(got: Float32Array[], want: Float32Array[]): number[] {
  return want.map((w, t) => relDiff([got[t]], [w])).sort((a, b) => a - b);
}

/**
 * 8-bit activations against their oracle: most positions within 1e-4, every one within 1e-2. An
 * activation whose `x / dx` lies within f32 rounding of a half-way point rounds one way here and
 * the other in the oracle (the f32 sums differ in order), moving that input by one step `dx`:
 * the logits it reaches then differ by ~1e-3, as they would between two runs of llama.cpp with
 * different thread counts.
 */
function closeInt8(got: Float32Array[], want: Float32Array[], what: string): void {
  const d = positionDiffs(got, want);
  ok(d[d.length >> 1] < 1e-4 && d[d.length - 1] < 1e-2, `${what}: ${d.map((v) => v.toExponential(1))}`);
}

/** Both builds of the main kernels: fused multiply-add (relaxed SIMD; what Deno runs) and plain. */
const BUILDS = ["fma", "plain"] as const;

/** A deterministic pseudo-random value in [-1, 1). */
const noise = (i: number) => Math.sin(i * 12.9898 + 78.233) * 43758.5453 % 1;

Deno.test("wasm kernels: products of every group remainder and token count equal double-precision sums", async (t) => {
  for (const build of BUILDS) {
    const module = await kernelsModule(build);
    for (const dtype of ["f32", "bf16", "f16"] as const) {
      await t.step(`${build}: ${dtype}`, async () => {
        const mem = new WasmMemory();
        const scratch = [0, 1, 2].map(() => mem.alloc(scratchBytes(64)));
        const pool = await KernelThreads.start({ module, memory: mem.memory, threads: 3, scratch });
        try {
          // 12 rows and more: the 16-bit formats widen 12 at a time (25 alone: two blocks and a
          // row; 40 on 3 threads: shares of 12, 16 and 12 rows).
          for (const [rows, cols] of [[1, 8], [5, 16], [7, 24], [12, 64], [13, 40], [25, 16], [40, 8]]) {
            // f16: some weights subnormal halves (below 2^-14), some near the largest half.
            const scale = (i: number) => dtype !== "f16" ? 1 : i % 7 === 3 ? 4e-6 : i % 11 === 5 ? 6e4 : 1;
            const values = Float32Array.from({ length: rows * cols }, (_, i) => noise(i + rows) * scale(i));
            const data = dtype === "f32" ? values : Uint16Array.from(values, dtype === "f16" ? f32ToF16 : f32ToBf16);
            const exact = dtype === "f32"
              ? values
              : Float32Array.from(data as Uint16Array, dtype === "f16" ? f16ToF32 : bf16ToF32);
            const m = placeWasmMatrix(mem, { dtype, shape: [rows, cols], data });
            ok(m.grouped);
            // The embedding lookup reads each row back from the groups.
            for (let r = 0; r < rows; r++) {
              deepEqual(wasmMatrixRow(mem, m, r, new Float32Array(cols)), exact.slice(r * cols, (r + 1) * cols));
            }
            for (const n of [1, 2, 3, 5]) {
              const x = mem.floats(n * cols);
              x.set(Float32Array.from({ length: n * cols }, (_, i) => noise(1000 + i)));
              const xd = mem.floats(cols); // the 16-bit matrix–vector kernels take x de-interleaved
              for (let i = 0; i < cols / 2; i++) [xd[i], xd[cols / 2 + i]] = [x[2 * i], x[2 * i + 1]];
              const y = mem.floats(n * rows + 4).fill(NaN);
              for (const threads of [1, 3]) {
                y.fill(NaN);
                const kernel = `${n === 1 ? "mv" : "mm"}_${dtype}` as const;
                const xp = n === 1 && dtype !== "f32" ? xd.byteOffset : x.byteOffset;
                const item = { kernel, w: m.ptr, x: xp, y: y.byteOffset, inp: cols, out: rows, n };
                if (threads === 1) {
                  // The caller alone: a pool of one.
                  const solo = await KernelThreads.start({ module, memory: mem.memory, threads: 1, scratch });
                  solo.run([item]);
                  solo.close();
                } else pool.run([item]);
                for (let tok = 0; tok < n; tok++) {
                  for (let o = 0; o < rows; o++) {
                    let s = 0;
                    for (let i = 0; i < cols; i++) s += exact[o * cols + i] * x[tok * cols + i];
                    const got = y[tok * rows + o];
                    ok(
                      Math.abs(got - s) <= 1e-5 * (1 + Math.abs(s)),
                      `${rows}×${cols}, n ${n}, row ${o}: ${got} ≠ ${s}`,
                    );
                  }
                }
                ok(Number.isNaN(y[n * rows]), "nothing written past the output (padding rows are not stored)");
                if (threads === 1 && n > 1 && dtype !== "f32") {
                  // Rows 12 at a time give the sums of rows a group of 4 at a time, bit for bit.
                  const k = instantiateKernels(module, mem.memory);
                  const groups = mem.floats(n * rows);
                  for (let g = 0; g < rows; g += 4) {
                    k[`mm_${dtype}`](
                      m.ptr,
                      x.byteOffset,
                      groups.byteOffset,
                      cols,
                      rows,
                      g,
                      Math.min(rows, g + 4),
                      n,
                      scratch[0],
                    );
                  }
                  ok(groups.every((v, i) => v === y[i]), `${rows}×${cols}, n ${n}: 12 rows at a time ≠ groups of 4`);
                }
              }
            }
          }
        } finally {
          pool.close();
        }
      });
    }
  }
});

const QUANT_SHAPES: Record<string, [number, number][]> = {
  32: [[1, 32], [5, 64], [7, 96], [12, 64], [13, 160]],
  256: [[1, 256], [5, 512], [7, 256], [12, 768], [13, 256]],
};

Deno.test("wasm kernels: ggml block formats (interleaved groups) equal double-precision sums over dequantizeRow", async (t) => {
  for (const build of BUILDS) {
    const module = await kernelsModule(build);
    for (const dtype of ["q8_0", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k"] as const) {
      await t.step(`${build}: ${dtype}`, async () => {
        const mem = new WasmMemory();
        const scratch = [0, 1, 2].map(() => mem.alloc(scratchBytes(768)));
        const pool = await KernelThreads.start({ module, memory: mem.memory, threads: 3, scratch });
        const solo = await KernelThreads.start({ module, memory: mem.memory, threads: 1, scratch });
        try {
          for (const [rows, cols] of QUANT_SHAPES[GGML_TYPE_LAYOUTS[dtype].blockSize]) {
            // Rows 1 and 2 tiny (their f16 scales subnormal), row 3 large, the others in [-1, 1).
            const rowScale = (r: number) => r === 1 ? 1e-3 : r === 2 ? 1e-4 : r === 3 ? 300 : 1;
            const values = Float32Array.from(
              { length: rows * cols },
              (_, i) => noise(i + rows) * rowScale(i / cols | 0),
            );
            const q = quantizeTensor({ dtype: "f32", shape: [rows, cols], data: values }, dtype) as QuantTensor;
            const rowBytes = q.data.length / rows;
            const exact = new Float32Array(rows * cols);
            for (let r = 0; r < rows; r++) {
              dequantizeRow(
                dtype,
                q.data.subarray(r * rowBytes, (r + 1) * rowBytes),
                exact.subarray(r * cols, (r + 1) * cols),
              );
            }
            const m = placeWasmMatrix(mem, q);
            ok(m.grouped);
            for (let r = 0; r < rows; r++) {
              deepEqual(wasmMatrixRow(mem, m, r, new Float32Array(cols)), exact.slice(r * cols, (r + 1) * cols));
            }
            for (const n of [1, 2, 3, 5]) {
              const x = mem.floats(n * cols);
              x.set(Float32Array.from({ length: n * cols }, (_, i) => noise(1000 + i)));
              const y = mem.floats(n * rows + 4);
              for (const pool1 of [solo, pool]) {
                y.fill(NaN);
                const kernel = `${n === 1 ? "mv" : "mm"}_${dtype}` as const;
                pool1.run([{ kernel, w: m.ptr, x: x.byteOffset, y: y.byteOffset, inp: cols, out: rows, n }]);
                for (let tok = 0; tok < n; tok++) {
                  for (let o = 0; o < rows; o++) {
                    let s = 0, size = 0;
                    for (let i = 0; i < cols; i++) {
                      s += exact[o * cols + i] * x[tok * cols + i];
                      size += Math.abs(exact[o * cols + i] * x[tok * cols + i]);
                    }
                    const got = y[tok * rows + o];
                    ok(
                      Math.abs(got - s) <= 1e-5 * size,
                      `${rows}×${cols}, n ${n}, ${pool1.threads} threads, row ${o}: ${got} ≠ ${s}`,
                    );
                  }
                }
                ok(Number.isNaN(y[n * rows]), "nothing written past the output (padding rows are not stored)");
              }
            }
          }
        } finally {
          pool.close();
          solo.close();
        }
      });
    }
  }
});

Deno.test("wasm kernels: 8-bit activations (i8_*, 128-bit and relaxed SIMD) equal the int8 oracle up to the order of f32 sums; the prompt kernels (p8_*) equal i8_* of their module, bit for bit", async (t) => {
  const module = await kernelsModule();
  const relaxedModule = await relaxedKernelsModule();
  ok(relaxedModule, "Deno's V8 validates relaxed SIMD");
  for (const [dtype, relaxed] of INT8_DOT_FORMATS.flatMap((f) => [[f, undefined], [f, relaxedModule]] as const)) {
    await t.step(`${dtype}${relaxed ? ", relaxed SIMD" : ""}`, async () => {
      const mem = new WasmMemory();
      // As the engine gives each thread (p8_* unpacks a group of 4 rows there).
      const widest = Math.max(...Object.values(QUANT_SHAPES).flat().map(([, cols]) => cols));
      const scratch = [0, 1, 2].map(() => mem.alloc(scratchBytes(widest)));
      const pool = await KernelThreads.start({ module, relaxed, memory: mem.memory, threads: 3, scratch });
      const solo = await KernelThreads.start({ module, relaxed, memory: mem.memory, threads: 1, scratch });
      equal(pool.relaxed, relaxed !== undefined);
      try {
        for (const [rows, cols] of QUANT_SHAPES[GGML_TYPE_LAYOUTS[dtype].blockSize]) {
          const rowScale = (r: number) => r === 1 ? 1e-3 : r === 2 ? 1e-4 : r === 3 ? 300 : 1;
          const values = Float32Array.from({ length: rows * cols }, (_, i) => noise(i + rows) * rowScale(i / cols | 0));
          const q = quantizeTensor({ dtype: "f32", shape: [rows, cols], data: values }, dtype) as QuantTensor;
          const rowBytes = q.data.length / rows;
          const m = placeWasmMatrix(mem, q);
          ok(m.grouped);
          for (const n of [1, 2, 3, 5]) {
            // Token 1 tiny, so its activation scales are far from the others'.
            const x = Float32Array.from(
              { length: n * cols },
              (_, i) => noise(1000 + i) * ((i / cols | 0) === 1 ? 1e-3 : 1),
            );
            const a = int8Activations(x);
            const xq = mem.alloc(n * cols * 2);
            writeInt8Input(x, n, cols, mem.memory.buffer, xq);
            /** The kernel's output against the oracle, row by row, and nothing written past it. */
            const checkOracle = (y: Float32Array, what: string): void => {
              for (let tok = 0; tok < n; tok++) {
                for (let o = 0; o < rows; o++) {
                  const want = int8DotRow(dtype, q.data, o * rowBytes, a, tok * cols / 32, cols);
                  const w = dequantizeRow(
                    dtype,
                    q.data.subarray(o * rowBytes, (o + 1) * rowBytes),
                    new Float32Array(cols),
                  );
                  let size = 0;
                  for (let i = 0; i < cols; i++) {
                    size += Math.abs(w[i] * a.d[(tok * cols + i) >> 5] * a.q[tok * cols + i]);
                  }
                  const got = y[tok * rows + o];
                  ok(Math.abs(got - want) <= 1e-5 * size, `${what}, row ${o}: ${got} ≠ ${want}`);
                }
              }
              ok(Number.isNaN(y[n * rows]), `${what}: nothing written past the output`);
            };
            const y = mem.floats(n * rows + 4);
            const y8 = mem.floats(n * rows + 4);
            for (const threads of [solo, pool]) {
              const what = `${rows}×${cols}, n ${n}, ${threads.threads} threads`;
              y.fill(NaN);
              threads.run([{ kernel: `i8_${dtype}`, w: m.ptr, x: xq, y: y.byteOffset, inp: cols, out: rows, n }]);
              checkOracle(y, `i8_${dtype}, ${what}`);
              const kernel = `p8_${dtype}` as const;
              y8.fill(NaN);
              threads.run([{ kernel, w: m.ptr, x: xq, y: y8.byteOffset, inp: cols, out: rows, n }]);
              checkOracle(y8, `${kernel}, ${what}`);
              // The prompt kernel repeats i8's sums, bit for bit (the same integers in each lane,
              // converted and scaled alike).
              const bits = (v: Float32Array) => new Uint32Array(v.buffer, v.byteOffset, n * rows);
              deepEqual(bits(y8), bits(y), `${kernel} equals i8_${dtype}, ${what}`);
            }
          }
        }
      } finally {
        pool.close();
        solo.close();
      }
    });
  }
});

Deno.test("wasm kernels: attn_heads equals scores, ALiBi, softmax and weighted values in double precision", async () => {
  const mem = new WasmMemory();
  const k = instantiateKernels(await kernelsModule(), mem.memory);
  // Head sizes of 2, 9 and 16 vectors (the scores take two at a time, then one); 1, 5, 8 and 11
  // positions; query heads sharing a key head in twos, threes or not at all. A token alone reads
  // the cache one row at a time where a key head serves at most two query heads (4/4, 4/2; every
  // call here takes whole rows, as one thread does), and 4 rows at a time, then one at a time,
  // where it serves more (3/1).
  const shapes = [[4, 2], [3, 1], [4, 4]].flatMap(([heads, kvHeads]) =>
    [8, 36, 64].flatMap((dim) => [1, 5, 8, 11].map((count) => ({ heads, kvHeads, dim, count })))
  );
  for (const { heads, kvHeads, dim, count } of shapes) {
    const group = heads / kvHeads, stride = kvHeads * dim;
    for (const alibi of [false, true]) {
      const q = mem.floats(heads * dim), keys = mem.floats(count * stride), values = mem.floats(count * stride);
      const scores = mem.floats(heads * count), out = mem.floats(heads * dim).fill(NaN);
      const slopes = mem.floats(heads);
      q.forEach((_, i) => q[i] = 3 * noise(i + 1));
      keys.forEach((_, i) => keys[i] = 2 * noise(i + 101));
      values.forEach((_, i) => values[i] = noise(i + 307));
      slopes.set([0.5, 0.25, 0.125, 0.0625].slice(0, heads));
      const scale = 1 / Math.sqrt(dim);
      k.attn_heads(
        q.byteOffset,
        keys.byteOffset,
        values.byteOffset,
        stride * 4,
        heads,
        group,
        dim,
        count,
        1,
        heads * dim * 4,
        scale,
        alibi ? slopes.byteOffset : 0,
        scores.byteOffset,
        out.byteOffset,
      );
      for (let h = 0; h < heads; h++) {
        const kv = Math.floor(h / group) * dim;
        const s = Array.from({ length: count }, (_, j) => {
          let dot = 0;
          for (let i = 0; i < dim; i++) dot += q[h * dim + i] * keys[j * stride + kv + i];
          return scale * dot + (alibi ? slopes[h] * (j - count + 1) : 0);
        });
        const max = Math.max(...s);
        const p = s.map((x) => Math.exp(x - max));
        const sum = p.reduce((a, b) => a + b, 0);
        for (let i = 0; i < dim; i++) {
          let want = 0;
          for (let j = 0; j < count; j++) want += p[j] / sum * values[j * stride + kv + i];
          const got = out[h * dim + i];
          ok(
            Math.abs(got - want) <= 1e-5,
            `${heads}/${kvHeads} heads, dim ${dim}, count ${count}${alibi ? ", ALiBi" : ""}, head ${h}[${i}]: ${got} ` +
              `for ${want}`,
          );
        }
      }
    }
  }
});

Deno.test("wasm kernels: attn_heads over a block of tokens equals each token alone, bit for bit", async () => {
  const mem = new WasmMemory();
  // Both builds: plain multiply-adds, and fused (mad: a product of 0 adds nothing either way).
  for (const build of ["plain", "fma"] as const) {
    const k = instantiateKernels(await kernelsModule(build), mem.memory);
    // Blocks of 2, 3, 5 and 8 tokens after 0, 3 and 9 cached positions (4 rows at a time, then
    // one: a block's last rows are masked for its first tokens); heads sharing a key head or not.
    // Alone, a token reads the cache one row at a time for 4/2 and 2/2 heads, so those compare
    // the two ways of reading it; 3/1 reads it 4 rows at a time both ways.
    for (const [heads, kvHeads, dim] of [[4, 2, 8], [3, 1, 36], [2, 2, 64]]) {
      for (const [start, nq] of [[0, 2], [3, 3], [9, 5], [0, 8], [3, 8]]) {
        for (const alibi of [false, true]) {
          const group = heads / kvHeads, stride = kvHeads * dim, count = start + nq, ts = heads * dim;
          const q = mem.floats(nq * ts), keys = mem.floats(count * stride), values = mem.floats(count * stride);
          const scores = mem.floats(nq * heads * count), slopes = mem.floats(heads);
          const block = mem.floats(nq * ts).fill(NaN), alone = mem.floats(nq * ts).fill(NaN);
          q.forEach((_, i) => q[i] = 3 * noise(i + 11));
          keys.forEach((_, i) => keys[i] = 2 * noise(i + 131));
          values.forEach((_, i) => values[i] = noise(i + 337));
          slopes.set([0.5, 0.25, 0.125, 0.0625].slice(0, heads));
          const call = (t: number, n: number, c: number, out: Float32Array) =>
            k.attn_heads(
              q.byteOffset + t * ts * 4,
              keys.byteOffset,
              values.byteOffset,
              stride * 4,
              heads,
              group,
              dim,
              c,
              n,
              ts * 4,
              1 / Math.sqrt(dim),
              alibi ? slopes.byteOffset : 0,
              scores.byteOffset,
              out.byteOffset + t * ts * 4,
            );
          call(0, nq, count, block);
          for (let t = 0; t < nq; t++) call(t, 1, start + t + 1, alone);
          const what = `${heads}/${kvHeads} heads of ${dim}, ${nq} tokens after ${start}${alibi ? ", ALiBi" : ""}`;
          ok(alone.every(Number.isFinite), `${what}: every output written`);
          for (let i = 0; i < nq * ts; i++) {
            if (block[i] !== alone[i]) {
              throw new Error(`${what}, token ${Math.floor(i / ts)}[${i % ts}]: ${block[i]} for ${alone[i]}`);
            }
          }
        }
      }
    }
  }
});

Deno.test("wasm kernels: swiglu equals g / (1 + e^-g) · u in double precision within 1e-6, each value the same wherever it lies and in place", async () => {
  const mem = new WasmMemory();
  const k = instantiateKernels(await kernelsModule(), mem.memory);
  const count = 1003; // not a multiple of 4: the last three go one at a time
  // Gates across exp's range: small, ±20, ±87 (near the argument's bound of 88), ±100 (past it), ±0.
  const gate = (i: number) =>
    i % 11 === 0 ? [0, -0, 87, -87, 100, -100, 1e-8, -1e-8][(i / 11) % 8] : noise(i) * (i % 3 === 0 ? 40 : 4);
  const g = mem.floats(count + 1), u = mem.floats(count + 1), out = mem.floats(count + 1);
  for (let i = 0; i < count + 1; i++) [g[i], u[i]] = [gate(i), noise(i + 7)];
  k.swiglu(g.byteOffset, u.byteOffset, out.byteOffset, count);
  for (let i = 0; i < count; i++) {
    const want = g[i] / (1 + Math.exp(-g[i])) * u[i];
    // Past −88 the kernel's exp holds its argument at 88: both values are below 1e-36.
    const err = Math.abs(out[i] - want);
    ok(err <= 1e-6 * Math.abs(want) || (g[i] < -88 && err < 1e-35), `${i}: gate ${g[i]}: ${out[i]} for ${want}`);
  }
  ok(out[0] === 0 && out[11] === 0, "zero gates give zero");
  equal(out[count], 0, "nothing written past count");
  // Shifted by one element (each value in another lane, or in the one-at-a-time tail) and in place.
  const g2 = mem.floats(count + 1), u2 = mem.floats(count + 1);
  g2.set(g.subarray(0, count), 1);
  u2.set(u.subarray(0, count), 1);
  k.swiglu(g2.byteOffset + 4, u2.byteOffset + 4, g2.byteOffset + 4, count);
  deepEqual(
    [...g2.subarray(1, count + 1)].map((v) => v.toString()),
    [...out.subarray(0, count)].map((v) => v.toString()),
  );
});

Deno.test("wasm kernels: q8_act rounds activations to 8 bits byte for byte as writeInt8Input (the oracle's rounding) does", async () => {
  /** Block b's 32 values: plain, zero, below 2^-120, ties at dx = 1, past ±127.5, and far apart in magnitude. */
  const value = (b: number, j: number, i: number): number => {
    switch (b % 6) {
      case 0:
        return noise(i) * 10 ** ((b % 11) - 5);
      case 1:
        return 0;
      case 2:
        return noise(i) * 2 ** -120;
      case 3:
        // Largest 64, so dx = 1: every j + 0.5 is a tie, rounded to even.
        return j === 0 ? 64 : (j - 16) + 0.5;
      case 4:
        // Largest 127.5: dx = 1, and ±127.5 round to ±128, held at ±127.
        return j === 0 ? 127.5 : j === 1 ? -127.5 : noise(i) * 100;
      default:
        return j === 5 ? -3e4 : noise(i) * 1e-3;
    }
  };
  for (const build of BUILDS) {
    for (const split of [false, true]) {
      const mem = new WasmMemory();
      const k = instantiateKernels(await kernelsModule(build, split), mem.memory);
      for (const [n, inp] of [[1, 32], [3, 96], [7, 384]]) {
        const x = mem.floats(n * inp);
        for (let i = 0; i < x.length; i++) x[i] = value(i >> 5, i & 31, i);
        const bytes = int8InputBytes(n, inp);
        const want = mem.alloc(bytes), got = mem.alloc(bytes + 4);
        writeInt8Input(x, n, inp, mem.memory.buffer, want);
        new Uint8Array(mem.memory.buffer, got, bytes + 4).fill(0xee);
        k.q8_act(x.byteOffset, n, inp, got);
        const what = `${build}${split ? ", split" : ""}: ${n} × ${inp}`;
        deepEqual(
          new Uint8Array(mem.memory.buffer, got, bytes),
          new Uint8Array(mem.memory.buffer, want, bytes),
          what,
        );
        deepEqual(
          [...new Uint8Array(mem.memory.buffer, got + bytes, 4)],
          [0xee, 0xee, 0xee, 0xee],
          `${what}: past the end`,
        );
      }
    }
  }
});

Deno.test("wasm kernels: every kind of 16-bit value widened exactly (subnormal, signed zero, largest)", async () => {
  for (const build of BUILDS) {
    const module = await kernelsModule(build);
    const mem = new WasmMemory();
    const pool = await KernelThreads.start({
      module,
      memory: mem.memory,
      threads: 1,
      scratch: [mem.alloc(scratchBytes(8))],
    });
    try {
      const halves = [0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x3c00, 0xbc00, 0x7bff, 0xfbff, 0x3555, 0x1234];
      for (const dtype of ["f16", "bf16"] as const) {
        const widen = dtype === "f16" ? f16ToF32 : bf16ToF32;
        // 4 rows × 8: each row holds 8 of the values (cycled), so each lane of each step is tried.
        const data = Uint16Array.from({ length: 32 }, (_, i) => halves[(i * 5 + (i >> 3)) % halves.length]);
        const m = placeWasmMatrix(mem, { dtype, shape: [4, 8], data });
        const x = mem.floats(8), xd = mem.floats(8), y = mem.floats(4);
        for (let i = 0; i < 8; i++) {
          // A one-hot input picks column i exactly (× 1, + 0): what the matrix–vector kernel widened.
          x.fill(0)[i] = 1;
          for (let j = 0; j < 4; j++) [xd[j], xd[4 + j]] = [x[2 * j], x[2 * j + 1]];
          pool.run([{ kernel: `mv_${dtype}`, w: m.ptr, x: xd.byteOffset, y: y.byteOffset, inp: 8, out: 4, n: 1 }]);
          for (let o = 0; o < 4; o++) {
            equal(y[o], widen(data[o * 8 + i]) + 0, `${dtype} 0x${data[o * 8 + i].toString(16)}`);
          }
          // And the matrix–matrix kernel's widening (two tokens: the one-hot and its double).
          const x2 = mem.floats(16);
          x2.set(x);
          x2.set(x.map((v) => 2 * v), 8);
          const y2 = mem.floats(8);
          pool.run([{ kernel: `mm_${dtype}`, w: m.ptr, x: x2.byteOffset, y: y2.byteOffset, inp: 8, out: 4, n: 2 }]);
          for (let o = 0; o < 4; o++) {
            equal(y2[o], widen(data[o * 8 + i]) + 0);
            equal(y2[4 + o], 2 * widen(data[o * 8 + i]) + 0);
          }
        }
      }
    } finally {
      pool.close();
    }
  }
});

Deno.test("wasm memory: activations past 4 GiB, or one weight matrix past a memory, get a clear error", () => {
  const mem = new WasmMemory();
  // The CLI prints these as one line (a usage problem, exit 2; a model problem, exit 1).
  throws(
    () => mem.alloc(5 * 2 ** 30),
    (e) => e instanceof UsageError && /holds at most 4\.00 GiB; .* need 5\.00 GiB.*--context-size/.test(e.message),
  );
  // Weights pass 4 GiB by taking more memories; one matrix must fit one.
  const store = new WeightMemories(4 * 65536);
  const take = (bytes: number) => {
    const { index, memory } = store.reserve(bytes);
    memory.alloc(bytes);
    return index;
  };
  equal(take(3 * 65536), 0);
  equal(take(65536 / 2), 0);
  equal(take(2 * 65536), 1, "what does not fit the newest memory starts another");
  equal(store.memories.length, 2);
  throws(
    () => store.reserve(5 * 65536),
    (e) => e instanceof InputError && /more than one WebAssembly memory holds.*--engine llamacpp/.test(e.message),
  );
});

const PROMPT = [1, 17, 200, 42, 99, 5, 260, 7, 8, 9, 10, 300, 301, 2, 44, 45, 46, 47, 48];
const base = { vocabSize: 320, hidden: 64, intermediate: 96, heads: 4, layers: 2 };

const CASES: { name: string; model: RandomModelOptions; quantize?: QuantPreset; grouped?: string[] }[] = [
  { name: "llama f32, GQA", model: { architecture: "llama", ...base, kvHeads: 2 } },
  { name: "llama f16", model: { architecture: "llama", ...base, kvHeads: 1, dtype: "f16" } },
  {
    name: "llama bf16, attention biases, llama3 RoPE scaling",
    model: {
      architecture: "llama",
      ...base,
      dtype: "bf16",
      attentionBias: true,
      ropeScaling: {
        rope_type: "llama3",
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 16,
      },
    },
  },
  {
    name: "qwen2 bf16, tied embeddings (the output read from the groups), q/k/v bias",
    model: { architecture: "qwen2", ...base, kvHeads: 2, dtype: "bf16", tiedEmbeddings: true },
  },
  { name: "baichuan 13B-style: ALiBi, NormHead, f16", model: { architecture: "baichuan", ...base, dtype: "f16" } },
  { name: "baichuan 7B-style: RoPE", model: { architecture: "baichuan", ...base, position: "rope" } },
  {
    name: "widths not a multiple of 8 (those products through the oracle's)",
    model: { architecture: "llama", vocabSize: 320, hidden: 24, intermediate: 36, heads: 4, layers: 2 },
  },
  { name: "llama q8_0", model: { architecture: "llama", ...base, kvHeads: 2 }, quantize: "q8_0", grouped: ["q8_0"] },
  {
    name: "llama q4_k_m",
    model: { architecture: "llama", ...base, hidden: 256, intermediate: 512, kvHeads: 2 },
    quantize: "q4_k_m",
    grouped: ["q4_k", "q6_k"],
  },
  {
    name: "llama q6_k (every matrix q6_k)",
    model: { architecture: "llama", ...base, hidden: 256, intermediate: 512, kvHeads: 2 },
    quantize: "q6_k",
    grouped: ["q6_k"],
  },
  { name: "llama q4_0", model: { architecture: "llama", ...base, kvHeads: 2 }, quantize: "q4_0", grouped: ["q4_0"] },
  {
    name: "llama q4_k_m, rows not a multiple of 256 (q5_0 and q8_0 fallbacks)",
    model: { architecture: "llama", ...base, hidden: 256, intermediate: 288, kvHeads: 2 },
    quantize: "q4_k_m",
    grouped: ["q4_k", "q5_0"],
  },
];

Deno.test("wasm vs cpu: logits at every position and in decoding, each architecture and format, 1 and 2 threads", async (t) => {
  for (const c of CASES) {
    await t.step(c.name, async () => {
      await using tmp = await tempDir();
      await writeRandomModel(tmp.dir, c.model);
      const model = await loadModel(tmp.dir, { quantize: c.quantize });
      const want = await new CpuEngine(model).createSession().forwardAll(PROMPT);
      const decodeWant: Float32Array[] = [];
      const cpu = new CpuEngine(model).createSession();
      await cpu.forward(PROMPT);
      for (const id of [3, 150, 319]) decodeWant.push(await cpu.forward([id]));
      for (const threads of [1, 2]) {
        // A chunk of 8: the 19-token prompt takes three passes.
        const engine = await WasmEngine.create(model, { threads, chunk: 8, int8Dot: false });
        try {
          if (c.grouped) {
            // Every matrix goes through the kernels, in the formats the preset gives.
            const l0 = engine.weights.layers[0];
            const all = [
              engine.weights.output,
              ...engine.weights.layers.flatMap((l) => [l.wq, l.wk, l.wv, l.wo, l.w1, l.w2, l.w3]),
            ];
            ok(
              l0.wq.grouped && all.every((m) => m.grouped),
              `ungrouped: ${all.filter((m) => !m.grouped).map((m) => m.dtype)}`,
            );
            for (const f of c.grouped) ok(all.some((m) => m.dtype === f), `no ${f} matrix`);
          }
          const got = await engine.createSession().forwardAll(PROMPT);
          ok(relDiff(got, want) < 1e-4, `prefill, ${threads} threads: ${relDiff(got, want)}`);
          const s = engine.createSession();
          await s.forward(PROMPT);
          const decoded: Float32Array[] = [];
          for (const id of [3, 150, 319]) decoded.push(await s.forward([id]));
          ok(relDiff(decoded, decodeWant) < 1e-4, `decode, ${threads} threads: ${relDiff(decoded, decodeWant)}`);
        } finally {
          engine.dispose();
        }
      }
    });
  }
});

Deno.test("wasm engine: streamed load with LoRA merged, LoRA kept apart, f16 cache, greedy decoding", async (t) => {
  await using tmp = await tempDir();
  await writeRandomModel(`${tmp.dir}/m`, { architecture: "llama", ...base, kvHeads: 2, dtype: "f16" });
  await writeRandomLora(`${tmp.dir}/a`, `${tmp.dir}/m`, { r: 2, alpha: 4, targets: ["q_proj", "v_proj", "down_proj"] });
  await t.step(
    "loadWasmEngine streams each matrix into the memory: same logits as create() on the merged model",
    async () => {
      const merged = await loadModel(`${tmp.dir}/m`, { lora: `${tmp.dir}/a` });
      const want = await new CpuEngine(merged).createSession().forwardAll(PROMPT);
      const engine = await loadWasmEngine(`${tmp.dir}/m`, { lora: `${tmp.dir}/a`, threads: 2 });
      try {
        ok(relDiff(await engine.createSession().forwardAll(PROMPT), want) < 1e-4);
      } finally {
        engine.dispose();
      }
    },
  );
  await t.step("LoRA kept apart is applied on the fly as the oracle does", async () => {
    const separate = await loadModel(`${tmp.dir}/m`, { lora: `${tmp.dir}/a`, loraMode: "separate" });
    const want = await new CpuEngine(separate).createSession().forwardAll(PROMPT);
    const engine = await WasmEngine.create(separate, { threads: 2 });
    try {
      ok(relDiff(await engine.createSession().forwardAll(PROMPT), want) < 1e-4);
    } finally {
      engine.dispose();
    }
  });
  await t.step("f16 KV cache and greedy decoding: the oracle's 24 tokens", async () => {
    const model = await loadModel(`${tmp.dir}/m`);
    const engine = await WasmEngine.create(model, { threads: 2, kvCache: "f16" });
    try {
      const want = await generate(new CpuEngine(model, { kvCache: "f16" }).createSession(), PROMPT, {
        maxNewTokens: 24,
        stopIds: [],
      });
      const got = await generate(engine.createSession(), PROMPT, { maxNewTokens: 24, stopIds: [] });
      deepEqual(got.ids, want.ids);
    } finally {
      engine.dispose();
    }
  });
});

Deno.test("wasm sessions: a long prompt grows the cache in the memory; disposed caches are reused", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, { architecture: "qwen2", ...base, kvHeads: 2, dtype: "bf16" });
  const model = await loadModel(tmp.dir);
  // Passes of 32 tokens: each session's cache grows through every power of two on the way.
  const engine = await WasmEngine.create(model, { threads: 2, contextSize: 512, chunk: 32 });
  const long = Array.from({ length: 300 }, (_, i) => (i * 37 + 11) % base.vocabSize);
  try {
    const want = await new CpuEngine(model).createSession().forwardAll(long);
    const s = engine.createSession();
    // Fed in uneven pieces: the cache doubles from 16 positions to 512, copying what it holds.
    const got: Float32Array[] = [];
    for (const [from, to] of [[0, 5], [5, 40], [40, 41], [41, 300]]) {
      got.push(...await s.forwardAll(long.slice(from, to)));
    }
    ok(relDiff(got, want) < 1e-4, `${relDiff(got, want)}`);
    s.dispose();
    const used = engine.memory.used;
    const again = engine.createSession();
    ok(relDiff(await again.forwardAll(long), want) < 1e-4);
    equal(engine.memory.used, used, "the second session reuses the first one's blocks");
  } finally {
    engine.dispose();
  }
  // The default passes (256 tokens), every position's logits computed 32 rows at a time.
  const wide = await WasmEngine.create(model, { threads: 2, contextSize: 512 });
  try {
    equal(wide.chunk, 256);
    const want = await new CpuEngine(model).createSession().forwardAll(long);
    ok(relDiff(await wide.createSession().forwardAll(long), want) < 1e-4);
  } finally {
    wide.dispose();
  }
});

Deno.test("wasm engine: int8Dot (the i8_* and p8_* kernels) equals the cpu engine's int8Dot, prefill and decode, 1 and 2 threads, both SIMDs", async (t) => {
  for (const c of CASES.filter((c) => c.quantize)) {
    await t.step(c.name, async () => {
      await using tmp = await tempDir();
      await writeRandomModel(tmp.dir, c.model);
      const model = await loadModel(tmp.dir, { quantize: c.quantize });
      const want = await new CpuEngine(model, { int8Dot: true }).createSession().forwardAll(PROMPT);
      const f32 = await new CpuEngine(model).createSession().forwardAll(PROMPT);
      // Rounding activations moves the logits visibly: the comparison can tell the schemes apart.
      ok(relDiff(f32, want) > 1e-3, `8-bit vs f32 activations: ${relDiff(f32, want)}`);
      const cpu = new CpuEngine(model, { int8Dot: true }).createSession();
      await cpu.forward(PROMPT);
      const decodeWant: Float32Array[] = [];
      for (const id of [3, 150, 319]) decodeWant.push(await cpu.forward([id]));
      for (const [threads, relaxedSimd] of [[1, true], [2, true], [2, false]] as const) {
        const engine = await WasmEngine.create(model, { threads, chunk: 8, int8Dot: true, relaxedSimd });
        try {
          ok(engine.int8Dot && engine.weights.layers[0].wq.grouped);
          equal(engine.threads.relaxed, relaxedSimd);
          closeInt8(await engine.createSession().forwardAll(PROMPT), want, `prefill, ${threads} threads`);
          const s = engine.createSession();
          await s.forward(PROMPT);
          const decoded: Float32Array[] = [];
          for (const id of [3, 150, 319]) decoded.push(await s.forward([id]));
          closeInt8(decoded, decodeWant, `decode, ${threads} threads`);
        } finally {
          engine.dispose();
        }
      }
    });
  }
});

Deno.test("wasm sessions: prefix reuse and fork", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, { architecture: "llama", ...base, kvHeads: 2 });
  const model = await loadModel(tmp.dir);
  const engine = await WasmEngine.create(model, { threads: 2, contextSize: 64 });
  try {
    const cpuAll = await new CpuEngine(model).createSession().forwardAll(PROMPT);
    const s = engine.createSession();
    await s.forward(PROMPT.slice(0, 10));
    equal(s.reusePrefix([...PROMPT.slice(0, 6), 5, 5]), 6);
    const fork = s.fork();
    const a = await s.forward(PROMPT.slice(6, 12));
    const b = await fork.forward(PROMPT.slice(6, 12));
    ok(relDiff([a], [cpuAll[11]]) < 1e-4);
    ok(relDiff([b], [cpuAll[11]]) < 1e-4);
    equal(engine.createSession({ contextSize: 8 }).contextSize, 8);
  } finally {
    engine.dispose();
  }
});

Deno.test("wasm engine: forwardBatch gives each session its own step's logits bit for bit, each format, 1 and 2 threads, int8, f16 cache", async (t) => {
  const lengths = [19, 5, 1, 12, 19];
  for (const c of CASES) {
    await t.step(c.name, async () => {
      await using tmp = await tempDir();
      await writeRandomModel(tmp.dir, c.model);
      const model = await loadModel(tmp.dir, { quantize: c.quantize });
      const variants = [
        { threads: 1, int8Dot: false },
        { threads: 2, int8Dot: false, kvCache: "f16" as const },
        ...(c.grouped ? [{ threads: 2, int8Dot: true }] : []),
      ];
      for (const o of variants) {
        // A chunk of 4: five sessions' decode rows take two passes.
        const engine = await WasmEngine.create(model, { ...o, chunk: 4 });
        try {
          await checkBatchedSteps(engine, PROMPT, lengths, 320);
        } finally {
          engine.dispose();
        }
      }
    });
  }
});

Deno.test("wasm engine: a batched step of 40 sessions (more than the 32 rows of logits computed at a time) gives each its own step's logits bit for bit", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, CASES[0].model);
  const engine = await WasmEngine.create(await loadModel(tmp.dir), { threads: 2 });
  try {
    await checkBatchedSteps(engine, PROMPT, Array.from({ length: 40 }, (_, i) => 1 + (i % 7)), 320);
  } finally {
    engine.dispose();
  }
});

Deno.test("wasm engine: weights split across several memories give the logits of one memory, bit for bit", async (t) => {
  // Small memories stand in for 4 GiB ones: the smallest that holds the largest matrix, so most
  // matrices get a memory of their own, and each product runs on the kernels bound to its matrix's.
  const smallest = async (create: (bytes: number) => Promise<WasmEngine>) => {
    for (let bytes = 65536;; bytes += 65536) {
      try {
        return await create(bytes);
      } catch (e) {
        if (!(e instanceof InputError && /more than one WebAssembly memory holds/.test(e.message))) throw e;
      }
    }
  };
  // Every architecture and format (the kernels' split form has one of each), and q8_0 on
  // matrices larger than the embedding.
  const q8 = { ...CASES[8], name: "llama q8_0, hidden 256", quantize: "q8_0" as const };
  for (const c of [...CASES, q8]) {
    await t.step(c.name, async () => {
      await using tmp = await tempDir();
      await writeRandomModel(tmp.dir, c.model);
      const model = await loadModel(tmp.dir, { quantize: c.quantize });
      for (const int8Dot of c.quantize ? [false, true] : [false]) {
        const one = await WasmEngine.create(model, { threads: 1, chunk: 8, int8Dot });
        const want = await one.createSession().forwardAll(PROMPT);
        const step = await one.createSession().forward([3]);
        for (const threads of [1, 2]) {
          const split = await smallest((weightMemoryBytes) =>
            WasmEngine.create(model, { threads, chunk: 8, int8Dot, weightMemoryBytes })
          );
          try {
            const store = split.weightStore as WeightMemories;
            const { embed, output, layers } = split.weights;
            const all = [embed, output, ...layers.flatMap((l) => [l.wq, l.wk, l.wv, l.wo, l.w1, l.w2, l.w3])];
            const mems = new Set(all.map((m) => m.mem));
            ok(split.splitWeights && !one.splitWeights);
            ok(
              store.parts.length >= 2 && mems.size === store.parts.length,
              `${store.parts.length} memories, matrices in ${[...mems]}`,
            );
            ok(store.parts.every((p) => p.used <= p.maxBytes));
            deepEqual(await split.createSession().forwardAll(PROMPT), want, `${threads} threads, int8 ${int8Dot}`);
            deepEqual(await split.createSession().forward([3]), step);
          } finally {
            split.dispose();
          }
        }
        one.dispose();
      }
    });
  }
  await t.step("loadWasmEngine splits as it reads", async () => {
    await using tmp = await tempDir();
    await writeRandomModel(tmp.dir, CASES[1].model);
    const want = await new CpuEngine(await loadModel(tmp.dir)).createSession().forwardAll(PROMPT);
    const engine = await smallest((weightMemoryBytes) => loadWasmEngine(tmp.dir, { threads: 2, weightMemoryBytes }));
    try {
      ok((engine.weightStore as WeightMemories).parts.length >= 4);
      ok(relDiff(await engine.createSession().forwardAll(PROMPT), want) < 1e-4);
    } finally {
      engine.dispose();
    }
  });
});
