/**
 * The ggml formats side by side: the relative RMS error of quantize → dequantize on Gaussian and on
 * heavy-tailed (Student-t, 3 degrees of freedom) weights, next to each format's bits per weight;
 * then the speed of `quantizeRow` (what `export-gguf --dtype` spends), of `dequantizeRow` and of the
 * fused `dotRow` in MB/s of packed weights, with a
 * plain f32 dot product over a `Float32Array` (the floor a quantized dot is compared to) measured
 * in the same run. One warm-up pass, then interleaved timed passes; medians.
 *
 *     deno run -A bench/quant_error.ts [--runs 7]
 *
 * @module
 */

import { dequantizeRow, dotRow, ggmlRowBytes, type GgmlTypeName, quantizeRow } from "../infer/formats/mod.ts";
import { Rng } from "../infer/decode/random.ts";

const runsAt = Deno.args.indexOf("--runs");
const RUNS = runsAt >= 0 ? Number(Deno.args[runsAt + 1]) : 7;
const TYPES: GgmlTypeName[] = ["f32", "f16", "bf16", "q8_0", "q6_k", "q5_k", "q5_0", "q4_k", "q4_0"];
const ROW = 4096;
const ROWS = 256;

const rng = new Rng(2024);
const gaussian = Float32Array.from({ length: ROW * ROWS }, () => rng.normal());
/** Student-t with 3 degrees of freedom: a normal over the root of a χ²(3) / 3. */
const studentT = Float32Array.from({ length: ROW * ROWS }, () => {
  const chi2 = rng.normal() ** 2 + rng.normal() ** 2 + rng.normal() ** 2;
  return rng.normal() / Math.sqrt(chi2 / 3);
});

function relRms(x: Float32Array, type: GgmlTypeName): number {
  const y = dequantizeRow(type, quantizeRow(type, x), new Float32Array(x.length));
  let e = 0, s = 0;
  for (let i = 0; i < x.length; i++) {
    e += (x[i] - y[i]) ** 2;
    s += x[i] ** 2;
  }
  return Math.sqrt(e / s);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

console.log(`relative RMS error of quantize → dequantize (${ROWS} rows of ${ROW})`);
console.log("format  bits/weight  Gaussian   Student-t(3)");
for (const type of TYPES) {
  const bpw = (8 * ggmlRowBytes(type, ROW)!) / ROW;
  console.log(
    `${type.padEnd(6)}  ${bpw.toFixed(4).padStart(11)}  ${relRms(gaussian, type).toFixed(5).padStart(8)}  ` +
      `${relRms(studentT, type).toFixed(5).padStart(12)}`,
  );
}

// Speed: every row of the matrix unpacked, or dotted with one activation vector.
const x = gaussian.subarray(0, ROW);
const packed = new Map(TYPES.map((t) => [t, quantizeRow(t, gaussian)]));
const out = new Float32Array(ROW);
let sink = 0;

function timeDequantize(type: GgmlTypeName): number {
  const b = packed.get(type)!;
  const rowBytes = ggmlRowBytes(type, ROW)!;
  const t0 = performance.now();
  for (let r = 0; r < ROWS; r++) sink += dequantizeRow(type, b.subarray(r * rowBytes), out)[0];
  return performance.now() - t0;
}
function timeQuantize(type: GgmlTypeName): number {
  const t0 = performance.now();
  sink += quantizeRow(type, gaussian)[0];
  return performance.now() - t0;
}
function timeDot(type: GgmlTypeName): number {
  const b = packed.get(type)!;
  const rowBytes = ggmlRowBytes(type, ROW)!;
  const t0 = performance.now();
  for (let r = 0; r < ROWS; r++) sink += dotRow(type, b, r * rowBytes, x, ROW);
  return performance.now() - t0;
}
function timeFloor(): number {
  const t0 = performance.now();
  for (let r = 0; r < ROWS; r++) {
    let s = 0;
    const w = gaussian.subarray(r * ROW, (r + 1) * ROW);
    for (let i = 0; i < ROW; i++) s += w[i] * x[i];
    sink += s;
  }
  return performance.now() - t0;
}

const times = new Map<string, number[]>();
const record = (key: string, ms: number) => times.set(key, [...(times.get(key) ?? []), ms]);
for (let run = 0; run <= RUNS; run++) {
  for (const type of TYPES) {
    const q = timeQuantize(type);
    const dq = timeDequantize(type);
    const dot = timeDot(type);
    if (run > 0) { // run 0 warms up
      record(`q ${type}`, q);
      record(`dq ${type}`, dq);
      record(`dot ${type}`, dot);
    }
  }
  const floor = timeFloor();
  if (run > 0) record("floor", floor);
}

const floorMs = median(times.get("floor")!);
const weightsPerMs = (ms: number) => (ROW * ROWS) / ms / 1e3; // million weights per second
console.log(`\nspeed (${RUNS} runs, medians), MB/s of packed weights; floor: a plain f32 dot over a Float32Array`);
console.log(
  `floor f32 dot: ${((ROW * ROWS * 4) / floorMs / 1e3).toFixed(0)} MB/s, ${
    weightsPerMs(floorMs).toFixed(0)
  } M weights/s`,
);
console.log("format  quantize M weights/s  dequantize MB/s  dot MB/s  dot M weights/s  dot time / floor");
for (const type of TYPES) {
  const bytes = ggmlRowBytes(type, ROW)! * ROWS;
  const dq = median(times.get(`dq ${type}`)!);
  const dot = median(times.get(`dot ${type}`)!);
  const q = median(times.get(`q ${type}`)!);
  console.log(
    `${type.padEnd(6)}  ${weightsPerMs(q).toFixed(1).padStart(20)}  ${(bytes / dq / 1e3).toFixed(0).padStart(15)}  ${
      (bytes / dot / 1e3).toFixed(0).padStart(8)
    }  ` +
      `${weightsPerMs(dot).toFixed(0).padStart(15)}  ${(dot / floorMs).toFixed(2).padStart(16)}`,
  );
}
if (Number.isNaN(sink)) console.log("(unreachable: keeps the results alive)");
