/**
 * A model past 4 GiB on the `cpu` engine: a 32-bit WebAssembly memory holds at most 4 GiB, so the
 * engine keeps its weights in memories of their own, as many as they need. This bench makes a
 * whole model of a 13B model's shape in memory (default: OneKE / LLaMA2-13B, hidden 5120, MLP
 * 13824, vocabulary 55296, 40 layers, in `q4_k_m`: about 7.9 GB; each matrix random rows repeated,
 * see `gpu/_tiled_weights.ts`), places it on the engine, and prints how many memories the
 * weights took, the load time, the process's peak memory, then prompt and decode tokens/s
 * (medians of interleaved runs) and the decode's bytes of weights per second against the read
 * bandwidth measured in the same run (the I/O floor: a decode step reads every weight once).
 *
 *     deno run -A bench/big_model_bench.ts [--preset q4_k_m] [--layers 40] [--threads 2]
 *       [--hidden 5120] [--inter 13824] [--vocab 55296] [--heads 40] [--runs 3] [--int8]
 *
 * @module
 */

import { WasmEngine } from "../infer/engine/wasm/wasm_engine.ts";
import { placeWasmMatrix, type WasmMatrix } from "../infer/engine/wasm/wasm_matrix.ts";
import { WeightMemories } from "../infer/engine/wasm/wasm_memory.ts";
import type { QuantPreset } from "../infer/formats/quant_preset.ts";
import { readBandwidth } from "./_bandwidth.ts";
import { llamaSpec } from "./_llama_spec.ts";
import { benchOptions, machine, median } from "./_process.ts";
import { tiledWeights } from "./gpu/_tiled_weights.ts";

const { values: v } = benchOptions(
  Deno.args,
  "deno run -A bench/big_model_bench.ts [--preset q4_k_m] [--layers 40] [--threads 2] [--hidden 5120] [--inter 13824] [--vocab 55296] [--heads 40] [--runs 3] [--int8]",
  {
    preset: { type: "string", default: "q4_k_m" },
    layers: { type: "string", default: "40" },
    hidden: { type: "string", default: "5120" },
    inter: { type: "string", default: "13824" },
    vocab: { type: "string", default: "55296" },
    heads: { type: "string", default: "40" },
    threads: { type: "string", default: "2" },
    runs: { type: "string", default: "3" },
    int8: { type: "boolean", default: false },
  },
);
const n = (s: string | undefined) => Number(s);
const spec = llamaSpec({
  vocab: n(v.vocab),
  hidden: n(v.hidden),
  inter: n(v.inter),
  layers: n(v.layers),
  heads: n(v.heads),
  kv: n(v.heads),
});
const threads = n(v.threads);
const PROMPT = 32, DECODE = 8;

function peakRss(): number {
  const s = Deno.readTextFileSync("/proc/self/status");
  return Number(/VmHWM:\s+(\d+) kB/.exec(s)?.[1] ?? NaN) * 1024;
}

console.log(`machine: ${machine()}`);
const t0 = performance.now();
const store = new WeightMemories();
const weights = await tiledWeights<WasmMatrix>(
  spec,
  v.preset as QuantPreset,
  (t) => Promise.resolve(placeWasmMatrix(store, t)),
);
const engine = await WasmEngine.open({ spec, weights }, store, {
  threads,
  contextSize: PROMPT + DECODE + 8,
  int8Dot: v.int8,
});
const load = (performance.now() - t0) / 1e3;
const GB = 1e9;
console.log(
  `${spec.layers} layers, hidden ${spec.hidden}, ${v.preset}: ${
    (store.used / GB).toFixed(2)
  } GB of weights in ${store.parts.length} WebAssembly memories (${
    store.parts.map((p) => (p.used / GB).toFixed(2)).join(" + ")
  } GB), placed in ${load.toFixed(1)} s; peak memory of the process ${(peakRss() / GB).toFixed(2)} GB`,
);

const ids = Array.from({ length: PROMPT }, (_, i) => (i * 7919 + 3) % spec.vocabSize);
async function run(): Promise<{ prefill: number; decode: number }> {
  const s = engine.createSession();
  try {
    let t = performance.now();
    let next = await s.forwardGreedy(ids);
    const prefill = PROMPT / ((performance.now() - t) / 1e3);
    t = performance.now();
    for (let i = 0; i < DECODE; i++) next = await s.forwardGreedy([next]);
    return { prefill, decode: DECODE / ((performance.now() - t) / 1e3) };
  } finally {
    s.dispose();
  }
}

await run(); // warm-up
const runs: { prefill: number; decode: number }[] = [];
const bandwidths: number[] = [];
for (let r = 0; r < n(v.runs); r++) {
  runs.push(await run());
  const [b] = await readBandwidth([threads], { passes: 3 });
  bandwidths.push(b.best);
}
const prefill = median(runs.map((r) => r.prefill));
const decode = median(runs.map((r) => r.decode));
const bandwidth = median(bandwidths);
const readPerToken = store.used; // every weight once per decode step
console.log(
  `${threads} thread(s)${v.int8 ? ", int8 activations" : ""}: prefill ${prefill.toFixed(2)} tokens/s, decode ${
    decode.toFixed(2)
  } tokens/s = ${(decode * readPerToken / GB).toFixed(1)} GB/s of weights, ${
    (100 * decode * readPerToken / GB / bandwidth).toFixed(0)
  }% of the read bandwidth measured between the runs (${bandwidth.toFixed(1)} GB/s); medians of ${runs.length}`,
);
engine.dispose();
