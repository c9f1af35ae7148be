/**
 * Inference speed on a ~170M-parameter random-weight Llama (hidden 1024, 8 layers, 16 heads,
 * MLP 2816, vocabulary 32,000; `--shape 1b`: a 1.1B one, hidden 2048, 22 layers, MLP 5632) in
 * each weight format (f32, f16 and the quantization presets): prefill and decode tokens/s of
 * the engines in `_infer_engines.ts` (`cpu` — the WebAssembly SIMD path, at each thread
 * count —, the `cpu oracle`, `webgpu`, `webgpu` with 8-bit activations on
 * `q8_0`/`q4_0` where the adapter has `dot4I8Packed`) and of llama.cpp (`node-llama-cpp@3.21.1`,
 * F32 KV cache) on the same weights (the quantized ones exported to GGUF in the same blocks our
 * engines run).
 *
 * Fairness: each engine is loaded once per format; every one, llama.cpp included, gets one
 * untimed warm-up run, then `--reps` timed runs interleaved (rep 1 of every engine, then rep 2,
 * …), each on a fresh sequence (a new session; llama.cpp's sequence cleared), each checked to
 * decode the same greedy tokens as the first. A run is a 32-token prompt in one call (prefill),
 * then 16 greedy tokens one at a time (decode); `--prompt 400 --decode 50` times IEPile-sized
 * records instead (its prompts are 300–500 tokens).
 *
 * Printed: the machine's read bandwidth at each thread count (a WebAssembly SIMD sum of 512 MiB,
 * `_bandwidth.ts`, best of 7 passes before any model is loaded); then per format the weight bytes
 * read per decoded token, the bandwidth again (best of the probe passes taken after each rep, so
 * from the same stretch of a shared machine) and a table of the median prefill and decode
 * tokens/s of each engine and thread count, their ratios to llama.cpp's median at the same
 * thread count from the same run, the bytes/s decode reads (weight bytes per token × decode
 * tokens/s) and their share of that format's bandwidth at that thread count. llama.cpp runs at
 * each `--threads` count (its `threads` sets both the decode and the batch/prefill threads); an
 * engine with a `threads` option runs at each count too; one without runs once and is compared
 * at the threads it really uses (the `cpu oracle`: 1) or, for a software WebGPU adapter that picks its own,
 * at the most asked (a real GPU's rows get no share: its weights are not in host memory). Then
 * where the WebGPU time goes per kernel role (timestamp queries) and the dispatches recorded per
 * decoded token. Finally `deno bench` times one decoded token of each of our engines.
 *
 * The models are written to a temporary folder (never into the repository) and removed at the
 * end. Run: `deno bench -A bench/infer_bench.ts [-- --formats f32,f16,q8_0,q4_k_m] [--shape 1b]
 * [--reps 5] [--threads 1,2] [--engines llama.cpp,cpu,…] [--prompt 32] [--decode 16]` (defaults shown; `--engines` picks
 * rows, llama.cpp always runs; a few minutes; WebGPU runs on whatever adapter Deno
 * finds, here the software one, and is left out where there is none). On a machine with as many
 * cores as threads asked, or shared with other work, the multi-thread rows are noisy.
 *
 * @module
 */

import { badOption, benchOptions } from "./_process.ts";
import { exportGguf, type LoadedModel, loadModel, parameterCount, type Session } from "../infer/mod.ts";
import { probeGpu } from "../infer/engine/create_engine.ts";
import { writeRandomModel } from "../infer/testing/mod.ts";
import type { QuantPreset } from "../infer/formats/quant_preset.ts";
import { weightRowBytes, type WeightTensor } from "../infer/formats/quant_tensor.ts";
import { type Bandwidth, BandwidthProbe } from "./_bandwidth.ts";
import { BASELINE, type Contender, ENGINES, type FormatSetup } from "./_infer_engines.ts";
import { interleaved, medianSpeed, type Speed } from "./_timing.ts";
import { BENCH_LLAMA } from "./_bench_model.ts";

const USAGE =
  "deno bench -A bench/infer_bench.ts [-- --formats f32,f16,q8_0,q4_k_m] [--shape 1b] [--reps 5] [--threads 1,2] [--engines llama.cpp,cpu,…] [--prompt 32] [--decode 16]";
const { values: args } = benchOptions(Deno.args, USAGE, {
  formats: { type: "string", default: "f32,f16,q8_0,q4_k_m" },
  shape: { type: "string", default: "150m" },
  reps: { type: "string", default: "5" },
  threads: { type: "string", default: "1,2" },
  engines: { type: "string", default: ENGINES.map((e) => e.name).join(",") },
  prompt: { type: "string", default: "32" },
  decode: { type: "string", default: "16" },
});
const PICKED = new Set(args.engines.split(","));
for (const name of PICKED) {
  if (!ENGINES.some((e) => e.name === name)) {
    badOption(`--engines ${args.engines}: "${name}" is not one of ${ENGINES.map((e) => e.name).join(", ")}`, USAGE);
  }
}
const FORMATS = args.formats.split(",") as QuantPreset[];
const REPS = Number(args.reps);
const THREADS = [...new Set(args.threads.split(",").map(Number))];
if (!(REPS >= 1) || THREADS.some((t) => !(Number.isInteger(t) && t >= 1))) {
  badOption(`--reps ${args.reps} --threads ${args.threads}: want a count ≥ 1 and thread counts ≥ 1`, USAGE);
}

const PREFILL = Number(args.prompt);
const DECODE = Number(args.decode);
if (!(Number.isInteger(PREFILL) && PREFILL >= 1 && Number.isInteger(DECODE) && DECODE >= 1)) {
  badOption(`--prompt ${args.prompt} --decode ${args.decode}: want whole numbers of tokens ≥ 1`, USAGE);
}
/** Every engine's context: the run's tokens, at least 256. */
const CONTEXT = Math.max(256, 2 ** Math.ceil(Math.log2(PREFILL + DECODE + 1)));
const SHAPE = args.shape === "1b"
  ? { architecture: "llama", vocabSize: 32000, hidden: 2048, intermediate: 5632, layers: 22, heads: 32 } as const
  : BENCH_LLAMA;

/** Bytes of weights a decoded token reads: every matrix once, but one row of the embedding. */
function bytesPerToken(model: LoadedModel): number {
  const w = model.weights;
  const bytes = (t: WeightTensor) => t.shape[0] * weightRowBytes(t);
  let n = weightRowBytes(w.embed) + bytes(w.output);
  for (const l of w.layers) for (const m of [l.wq, l.wk, l.wv, l.wo, l.w1, l.w2, l.w3]) n += bytes(m);
  return n;
}
const prompt = Array.from({ length: PREFILL }, (_, i) => (i * 7919 + 13) % SHAPE.vocabSize);

/** The table of one format: a row per contender, with its medians. */
function table(bytes: number, rows: { c: Contender; speed: Speed }[], bandwidth: Bandwidth[]): string[] {
  const base = (threads: number) => rows.find((r) => r.c.engine === BASELINE && r.c.compareThreads === threads)?.speed;
  const ratio = (value: number, ref: number | undefined) => (ref ? (value / ref).toFixed(3) : "-").padStart(11);
  return [
    `  ${"engine".padEnd(10)} ${"threads".padEnd(10)} ${"prefill tok/s".padStart(13)} ${"× llama.cpp".padStart(11)}` +
    `  ${"decode tok/s".padStart(12)} ${"× llama.cpp".padStart(11)}  ${"decode GB/s".padStart(11)}  share of bandwidth`,
    ...rows.map(({ c, speed }) => {
      const ref = base(c.compareThreads);
      const gbs = bytes * speed.decode / 1e9;
      const bw = bandwidth.find((b) => b.threads === c.compareThreads);
      const share = c.hostMemory && bw
        ? `${(100 * gbs / bw.best).toFixed(1).padStart(5)}% of ${c.compareThreads}-thread`
        : "    - (not host memory)";
      return `  ${c.engine.padEnd(10)} ${c.threadsLabel.padEnd(10)} ${speed.prefill.toFixed(1).padStart(13)} ` +
        `${ratio(speed.prefill, ref?.prefill)}  ${speed.decode.toFixed(2).padStart(12)} ${
          ratio(speed.decode, ref?.decode)
        }  ${gbs.toFixed(2).padStart(11)}  ${share}`;
    }),
  ];
}

/** Bandwidth as printed: `1 thread 33.1 GB/s, 2 threads 60.2 GB/s`. */
const bandwidthText = (bw: Bandwidth[]) =>
  bw.map((b) => `${b.threads} thread${b.threads > 1 ? "s" : ""} ${b.best.toFixed(1)} GB/s`).join(", ");

// The cpu engine is compared at 1 thread whatever --threads says.
const probe = await BandwidthProbe.open([...new Set([1, ...THREADS])].sort((a, b) => a - b));
const gpu = (await probeGpu()).kind;
const dir = await Deno.makeTempDir({ prefix: "iepile-infer-bench-" });
const benchSessions: { name: string; session: Session }[] = [];
try {
  for (let p = 0; p < 7; p++) await probe.round();
  const quiet = probe.take();
  const source = `${dir}/f32`;
  await writeRandomModel(source, { ...SHAPE, dtype: "f32", seed: 1 });
  for (const format of FORMATS) {
    const plain = format === "f32" || format === "f16" || format === "bf16";
    const folder = plain ? `${dir}/${format}` : source;
    if (plain && format !== "f32") await writeRandomModel(folder, { ...SHAPE, dtype: format, seed: 1 });
    const model: LoadedModel = await loadModel(folder, { quantize: plain ? undefined : format });
    if (format === FORMATS[0]) {
      console.log(
        `model: random llama, ${(parameterCount(model.spec) / 1e6).toFixed(0)}M parameters, ` +
          `prompt ${PREFILL} tokens, ${DECODE} decoded (greedy); medians of ${REPS} interleaved reps ` +
          `after 1 warm-up each, every engine loaded once per format`,
      );
      console.log(
        `memory read bandwidth (WebAssembly SIMD sum of ${probe.bytes / 2 ** 20} MiB, best of 7 passes, ` +
          `before loading): ${bandwidthText(quiet)}; WebGPU adapter: ${gpu}`,
      );
    }
    const gguf = `${dir}/model-${format}.gguf`;
    // The GGUF of a quantized model holds the same blocks: quantized from the same f32 values.
    await exportGguf(plain ? model : await loadModel(source), gguf, { dtype: format, tokenizer: null });
    const setup: FormatSetup = { format, model, gguf, prompt, decode: DECODE, contextSize: CONTEXT, gpu };
    const contenders: Contender[] = [];
    try {
      for (const entry of ENGINES) {
        // llama.cpp is the baseline every ratio is to: always run.
        if (entry.name === BASELINE || PICKED.has(entry.name)) contenders.push(...await entry.open(setup, THREADS));
      }
      // Two probe rounds after each rep: the bandwidth a share is of comes from the same stretch.
      const runs = await interleaved(contenders, REPS, 1, async () => {
        for (let i = 0; i < 2; i++) await probe.round();
      });
      const bandwidth = probe.take();
      const bytes = bytesPerToken(model);
      console.log(
        `${format} weights: ${(bytes / 1e6).toFixed(1)} MB read per decoded token; ` +
          `bandwidth between its reps: ${bandwidthText(bandwidth)}`,
      );
      const rows = contenders.map((c, i) => ({ c, speed: medianSpeed(runs[i]) }));
      for (const line of table(bytes, rows, bandwidth)) console.log(line);
      if (gpu === "none") console.log("  webgpu     no adapter here: not measured");
      for (const c of contenders) for (const line of await c.report?.() ?? []) console.log(line);
      for (const c of contenders) {
        const session = c.benchSession?.();
        const several = contenders.filter((x) => x.engine === c.engine).length > 1;
        const name = `${c.engine} ${format}${several ? `, ${c.threadsLabel} threads` : ""}`;
        if (session) benchSessions.push({ name, session });
      }
    } finally {
      for (const c of contenders) await c.dispose();
    }
  }
} finally {
  probe.close();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

// Per-token decode as deno bench measures it (the session is rewound to the prompt each time).
for (const e of benchSessions) {
  await e.session.forward(prompt);
  Deno.bench({
    name: `${e.name}: decode one token after a ${PREFILL}-token prompt`,
    n: 8,
    warmup: 1,
    async fn() {
      e.session.truncate(PREFILL);
      await e.session.forwardGreedy([17]);
    },
  });
}
