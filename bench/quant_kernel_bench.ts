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
 *     deno run -A bench/quant_kernel_bench.ts [--runs 7] [--rows 8192] [--cols 4096] [--tokens 1] [--split] [--against DIR] [--formats q4_k,q6_k]
 *
 * `--formats` times only the kernels of the formats named (f32, bf16, f16 and the block formats;
 * `mv_f32`, the bandwidth-bound reference, always runs).
 *
 * `--split` times the kernels' build for weights in memories of their own (what a model past
 * 4 GiB runs), the weights in a second memory.
 *
 * `--tokens N` (N > 1) times the prompt kernels instead, N tokens per call, as a prefill runs
 * them: `mm_<format>` (f32 activations; f32, bf16 and f16 too), `i8_<format>` and, where the
 * format has one, `p8_<format>` (the same sums as `i8_<format>`, each group of rows unpacked once
 * for all the tokens), and prints multiply-adds per second, then the rounding of the
 * activations to 8 bits that feeds `i8_*` and `p8_*` (the `q8_act` kernel against
 * `writeInt8Input`, its JavaScript reference); try `--rows 2816 --cols 1024 --tokens 32`, a
 * layer of the infer bench's model and its prompt.
 *
 * `--against DIR` times a second build of the kernels in the same process, interleaved with
 * this one's on the same matrices: the embedded kernels of another checkout of this project (a
 * `git worktree` at an earlier commit, say), and prints how many times faster this build is. A
 * kernel change is measured this way, not by two runs on a shared machine whose speed drifts.
 * A kernel the other build lacks is timed in this one alone.
 *
 * @module
 */

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { instantiateKernels, kernelsModule, relaxedKernelsModule, scratchBytes } from "../infer/engine/wasm/kernels.ts";
import { placeWasmMatrix, type WasmMatrix } from "../infer/engine/wasm/wasm_matrix.ts";
import { WasmMemory, WeightMemories } from "../infer/engine/wasm/wasm_memory.ts";
import { writeInt8Input } from "../infer/engine/wasm/int8_input.ts";
import { INT8_DOT_FORMATS } from "../infer/formats/int8_dot.ts";
import { f32ToBf16, f32ToF16 } from "../infer/formats/dtype.ts";
import { quantizeTensor, type WeightTensor } from "../infer/formats/quant_tensor.ts";
import { readBandwidth } from "./_bandwidth.ts";
import { benchOptions, loadAverage, machine, median } from "./_process.ts";

const { values } = benchOptions(
  Deno.args,
  "deno run -A bench/quant_kernel_bench.ts [--runs 7] [--rows 8192] [--cols 4096] [--tokens 1] [--split] [--against DIR] [--formats q4_k,q6_k]",
  {
    runs: { type: "string", default: "7" },
    rows: { type: "string", default: "8192" },
    cols: { type: "string", default: "4096" },
    split: { type: "boolean", default: false },
    tokens: { type: "string", default: "1" },
    against: { type: "string" },
    formats: { type: "string" },
  },
);
/** The formats to time (all by default). */
const ONLY = values.formats === undefined ? undefined : new Set(values.formats.split(",").map((f) => f.trim()));
const picked = (format: string): boolean => ONLY === undefined || ONLY.has(format);
for (const f of ONLY ?? []) {
  if (f !== "f32" && f !== "bf16" && f !== "f16" && !(INT8_DOT_FORMATS as readonly string[]).includes(f)) {
    console.error(`--formats: no kernels for "${f}"; give f32, bf16, f16, ${INT8_DOT_FORMATS.join(", ")}`);
    Deno.exit(2);
  }
}
const RUNS = Number(values.runs);
const ROWS = Number(values.rows);
const COLS = Number(values.cols);
/** Tokens per call: 1 times the decode kernels, more the prompt kernels. */
const TOKENS = Number(values.tokens);
if (!Number.isInteger(TOKENS) || TOKENS < 1) {
  console.error(`--tokens ${values.tokens}: give a whole number of tokens, 1 or more`);
  Deno.exit(2);
}
const PROMPT = TOKENS > 1;

const SPLIT = values.split;
console.log(
  `block-format kernels${
    SPLIT ? " (the split build: weights in a memory of their own)" : ""
  }, one thread, ${ROWS}×${COLS} weights${
    PROMPT ? `, ${TOKENS} tokens a call (prompt kernels)` : ""
  }, median of ${RUNS} interleaved passes`,
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
/** The kernels by name, as the jobs below call them. */
type Kernels = Record<string, (...args: number[]) => void>;
const kernels = instantiateKernels(module, memory.memory, relaxed, weightsMemory) as unknown as Kernels;

/** With --against: the other checkout's embedded kernels, on the same memories. */
async function againstKernels(dir: string): Promise<Kernels> {
  const url = pathToFileURL(resolve(dir, "infer/engine/wasm/kernels.ts")).href;
  let other: typeof import("../infer/engine/wasm/kernels.ts");
  try {
    other = await import(url);
  } catch (e) {
    console.error(`--against ${dir}: cannot load its kernels (${url}): ${(e as Error).message.split("\n")[0]}`);
    Deno.exit(2);
  }
  const m = await other.kernelsModule(undefined, SPLIT);
  const r = await other.relaxedKernelsModule(SPLIT);
  return other.instantiateKernels(m, memory.memory, r, weightsMemory) as unknown as Kernels;
}
const builds: Kernels[] = [kernels];
if (values.against !== undefined) {
  builds.push(await againstKernels(values.against));
  console.log(`against: the kernels of ${resolve(values.against)}\n`);
}

/** A matrix placed where the kernels above read it (with --split: the first weights' memory). */
function place(t: WeightTensor): WasmMatrix {
  const m = placeWasmMatrix(store, t);
  if (m.mem !== 0) throw new Error("with --split the matrices must fit one memory: use fewer --rows or --cols");
  return m;
}

// Smooth weights and activations; the kernels' speed does not depend on the values.
const weights = Float32Array.from({ length: ROWS * COLS }, (_, i) => Math.sin(i * 0.37) * 0.1);
const x = Float32Array.from({ length: TOKENS * COLS }, (_, i) => Math.cos(i));
const xf = memory.floats(TOKENS * COLS);
xf.set(x);
const xq = memory.alloc(TOKENS * COLS * 2);
writeInt8Input(x, TOKENS, COLS, memory.memory.buffer, xq);
const y = memory.floats(TOKENS * ROWS);
// As the engine gives each thread.
const scratch = memory.alloc(scratchBytes(COLS));

/** A kernel to time: its name, the bytes it reads, the kernel it calls, and one call on a build's kernels. */
interface Job {
  name: string;
  bytes: number;
  kernel: string;
  run: (k: Kernels) => void;
}

const jobs: Job[] = [];
/** The matrix–vector job of a kernel, or with --tokens its matrix–matrix one (`mm`, `i8`, `p8`). */
function job(kind: "mv" | "mm" | "i8" | "p8", dtype: string, m: WasmMatrix, bytes: number, xv = xf.byteOffset): void {
  const kernel = `${kind}_${dtype}`;
  const name = `${kernel}${kind === "i8" || kind === "p8" ? (relaxed ? " (relaxed)" : "") : ""}`;
  const [w, xi, yo] = [m.ptr, kind === "i8" || kind === "p8" ? xq : xv, y.byteOffset];
  const run = kind === "mv"
    ? (k: Kernels) => k[kernel](w, xi, yo, COLS, 0, ROWS)
    : kind === "i8" || (kind === "mm" && dtype === "f32")
    ? (k: Kernels) => k[kernel](w, xi, yo, COLS, ROWS, 0, ROWS, TOKENS)
    : (k: Kernels) => k[kernel](w, xi, yo, COLS, ROWS, 0, ROWS, TOKENS, scratch);
  jobs.push({ name, bytes, kernel, run });
}
const f32 = place({ dtype: "f32", shape: [ROWS, COLS], data: weights });
job(PROMPT ? "mm" : "mv", "f32", f32, ROWS * COLS * 4);
// The 16-bit matrix–vector kernels read their input de-interleaved: the even elements, then the odd ones.
const xd = memory.floats(COLS);
xd.set(Float32Array.from({ length: COLS }, (_, i) => i < COLS / 2 ? x[2 * i] : x[2 * (i - COLS / 2) + 1]));
for (const dtype of (["bf16", "f16"] as const).filter(picked)) {
  const to16 = dtype === "f16" ? f32ToF16 : f32ToBf16;
  const m = place({ dtype, shape: [ROWS, COLS], data: Uint16Array.from(weights, to16) });
  job(PROMPT ? "mm" : "mv", dtype, m, ROWS * COLS * 2, PROMPT ? xf.byteOffset : xd.byteOffset);
}
for (const format of INT8_DOT_FORMATS.filter(picked)) {
  const q = quantizeTensor({ dtype: "f32", shape: [ROWS, COLS], data: weights }, format);
  const m = place(q);
  const bytes = (q.data as Uint8Array).length;
  job(PROMPT ? "mm" : "mv", format, m, bytes);
  job("i8", format, m, bytes);
  if (PROMPT && typeof kernels[`p8_${format}`] === "function") job("p8", format, m, bytes);
}

// times[build][job]: each pass runs every job on every build that has its kernel, in turn.
const has = (k: Kernels, j: Job): boolean => typeof k[j.kernel] === "function";
const times = builds.map(() => jobs.map((): number[] => []));
for (const j of jobs) for (const k of builds) if (has(k, j)) j.run(k);
for (let pass = 0; pass < RUNS; pass++) {
  jobs.forEach((j, i) => {
    // Every other pass the other build first, so neither always follows the same kernel.
    const order = builds.map((_, b) => pass % 2 ? builds.length - 1 - b : b);
    for (const b of order) {
      if (!has(builds[b], j)) continue;
      const start = performance.now();
      j.run(builds[b]);
      times[b][i].push((performance.now() - start) / 1000);
    }
  });
}

const against = builds.length > 1;
const rate = PROMPT ? "G MAC/s    " : "G weights/s";
console.log(
  `| kernel             | ms     | ${rate} | GB/s  | share of bandwidth |` +
    (against ? " against: ms | × faster |" : ""),
);
console.log(
  "| ------------------ | ------ | ----------- | ----- | ------------------ |" +
    (against ? " ----------- | -------- |" : ""),
);
jobs.forEach((j, i) => {
  const s = median(times[0][i]);
  const gbs = j.bytes / s / 1e9;
  const other = against && times[1][i].length ? median(times[1][i]) : undefined;
  const vs = other === undefined
    ? ` ${"—".padStart(11)} | ${"—".padStart(8)} |`
    : ` ${(other * 1000).toFixed(2).padStart(11)} | ${(other / s).toFixed(2).padStart(8)} |`;
  console.log(
    `| ${j.name.padEnd(18)} | ${(s * 1000).toFixed(2).padStart(6)} | ${
      (ROWS * COLS * TOKENS / s / 1e9).toFixed(2).padStart(11)
    } | ${gbs.toFixed(1).padStart(5)} | ${(100 * gbs / bandwidth.best).toFixed(0).padStart(17)}% |` +
      (against ? vs : ""),
  );
});
if (PROMPT) {
  // The rounding that feeds i8_* and p8_*: the q8_act kernel against the JavaScript reference,
  // interleaved, on the same activations.
  const xr = memory.alloc(TOKENS * COLS * 2);
  const round = [
    () => writeInt8Input(x, TOKENS, COLS, memory.memory.buffer, xr),
    () => kernels.q8_act(xf.byteOffset, TOKENS, COLS, xr),
  ];
  const spent = round.map((): number[] => []);
  for (let pass = 0; pass <= RUNS; pass++) {
    round.forEach((f, i) => {
      const start = performance.now();
      f();
      if (pass > 0) spent[i].push(performance.now() - start);
    });
  }
  const [js, wasm] = spent.map(median);
  console.log(
    `\nrounding ${TOKENS} × ${COLS} activations to 8 bits: writeInt8Input (JavaScript) ${js.toFixed(3)} ms, ` +
      `q8_act ${wasm.toFixed(3)} ms (${(js / wasm).toFixed(1)}× faster)`,
  );
}
console.log(`\nload average after: ${loadAverage()}`);
