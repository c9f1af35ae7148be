/**
 * The `cpu` engine's block-format kernels one at a time, on one thread, against the machine's
 * read bandwidth measured in the same run (`_bandwidth.ts`): for each format, the matrix–vector
 * product with f32 activations (`mv_<format>`, what decode runs by default) and with 8-bit
 * activations (`i8_<format>`, `--activations int8`; relaxed SIMD where the runtime has it),
 * over a matrix larger than the caches. Beside them `mv_f32` over the same shape, the
 * bandwidth-bound reference. One warm-up pass, then interleaved timed passes; medians.
 *
 * Prints per kernel: weights per second, packed bytes per second and their share of the read
 * bandwidth. A kernel far below its bandwidth share is bound by its arithmetic (unpacking levels,
 * scales); that is where the engine's quantized decode loses to llama.cpp.
 *
 *     deno run -A bench/quant_kernel_bench.ts [--runs 7] [--rows 8192] [--cols 4096] [--split]
 *
 * `--split` times the kernels' build for weights in memories of their own (what a model past
 * 4 GiB runs), the weights in a second memory.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { instantiateKernels, kernelsModule, relaxedKernelsModule } from "../infer/engine/wasm/kernels.ts";
import { placeWasmMatrix, type WasmMatrix } from "../infer/engine/wasm/wasm_matrix.ts";
import { WasmMemory, WeightMemories } from "../infer/engine/wasm/wasm_memory.ts";
import { writeInt8Input } from "../infer/engine/wasm/int8_input.ts";
import { INT8_DOT_FORMATS } from "../infer/formats/int8_dot.ts";
import { f32ToBf16, f32ToF16 } from "../infer/formats/dtype.ts";
import { quantizeTensor, type WeightTensor } from "../infer/formats/quant_tensor.ts";
import { readBandwidth } from "./_bandwidth.ts";
import { loadAverage, machine, median } from "./_process.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "7" },
    rows: { type: "string", default: "8192" },
    cols: { type: "string", default: "4096" },
    split: { type: "boolean", default: false },
  },
});
const RUNS = Number(values.runs);
const ROWS = Number(values.rows);
const COLS = Number(values.cols);

const SPLIT = values.split;
console.log(
  `block-format kernels${
    SPLIT ? " (the split build: weights in a memory of their own)" : ""
  }, one thread, ${ROWS}×${COLS} weights, median of ${RUNS} interleaved passes`,
);
console.log(`machine: ${machine()}`);
const [bandwidth] = await readBandwidth([1]);
console.log(`read bandwidth, 1 thread: ${bandwidth.best.toFixed(1)} GB/s\n`);

// As the engine holds them: weights and activations in one memory, or (--split, a model past
// 4 GiB) the weights in a memory of their own.
const memory = new WasmMemory();
const store = SPLIT ? new WeightMemories() : memory;
const weightsMemory = store instanceof WeightMemories ? store.reserve(0).memory.memory : memory.memory;
const relaxed = await relaxedKernelsModule(SPLIT);
const module = await kernelsModule(undefined, SPLIT);
const kernels = instantiateKernels(module, memory.memory, relaxed, weightsMemory) as unknown as Record<
  string,
  (...args: number[]) => void
>;

/** A matrix placed where the kernels above read it (with --split: the first weights' memory). */
function place(t: WeightTensor): WasmMatrix {
  const m = placeWasmMatrix(store, t);
  if (m.mem !== 0) throw new Error("with --split the matrices must fit one memory: use fewer --rows or --cols");
  return m;
}

// Smooth weights and activations; the kernels' speed does not depend on the values.
const weights = Float32Array.from({ length: ROWS * COLS }, (_, i) => Math.sin(i * 0.37) * 0.1);
const x = Float32Array.from({ length: COLS }, (_, i) => Math.cos(i));
const xf = memory.floats(COLS);
xf.set(x);
const xq = memory.alloc(COLS * 2);
writeInt8Input(x, 1, COLS, memory.memory.buffer, xq);
const y = memory.floats(ROWS);

/** A kernel to time: its name, the bytes it reads, and one call. */
interface Job {
  name: string;
  bytes: number;
  run: () => void;
}

const jobs: Job[] = [];
const f32 = place({ dtype: "f32", shape: [ROWS, COLS], data: weights });
jobs.push({
  name: "mv_f32",
  bytes: ROWS * COLS * 4,
  run: () => kernels.mv_f32(f32.ptr, xf.byteOffset, y.byteOffset, COLS, 0, ROWS),
});
// The 16-bit kernels read their input de-interleaved: the even elements, then the odd ones.
const xd = memory.floats(COLS);
xd.set(Float32Array.from({ length: COLS }, (_, i) => i < COLS / 2 ? x[2 * i] : x[2 * (i - COLS / 2) + 1]));
for (const dtype of ["bf16", "f16"] as const) {
  const to16 = dtype === "f16" ? f32ToF16 : f32ToBf16;
  const m = place({ dtype, shape: [ROWS, COLS], data: Uint16Array.from(weights, to16) });
  jobs.push({
    name: `mv_${dtype}`,
    bytes: ROWS * COLS * 2,
    run: () => kernels[`mv_${dtype}`](m.ptr, xd.byteOffset, y.byteOffset, COLS, 0, ROWS),
  });
}
for (const format of INT8_DOT_FORMATS) {
  const q = quantizeTensor({ dtype: "f32", shape: [ROWS, COLS], data: weights }, format);
  const m = place(q);
  const bytes = (q.data as Uint8Array).length;
  jobs.push({
    name: `mv_${format}`,
    bytes,
    run: () => kernels[`mv_${format}`](m.ptr, xf.byteOffset, y.byteOffset, COLS, 0, ROWS),
  });
  jobs.push({
    name: `i8_${format}${relaxed ? " (relaxed)" : ""}`,
    bytes,
    run: () => kernels[`i8_${format}`](m.ptr, xq, y.byteOffset, COLS, ROWS, 0, ROWS, 1),
  });
}

const times = jobs.map((): number[] => []);
for (const job of jobs) job.run();
for (let pass = 0; pass < RUNS; pass++) {
  jobs.forEach((job, i) => {
    const start = performance.now();
    job.run();
    times[i].push((performance.now() - start) / 1000);
  });
}

console.log("| kernel             | ms     | G weights/s | GB/s  | share of bandwidth |");
console.log("| ------------------ | ------ | ----------- | ----- | ------------------ |");
jobs.forEach((job, i) => {
  const s = median(times[i]);
  const gbs = job.bytes / s / 1e9;
  console.log(
    `| ${job.name.padEnd(18)} | ${(s * 1000).toFixed(2).padStart(6)} | ${
      (ROWS * COLS / s / 1e9).toFixed(2).padStart(11)
    } | ${gbs.toFixed(1).padStart(5)} | ${(100 * gbs / bandwidth.best).toFixed(0).padStart(17)}% |`,
  );
});
console.log(`\nload average after: ${loadAverage()}`);
