/**
 * The WebGPU engine on a real GPU: for LLaMA-shaped random models of 1B, 7B and 13B sizes in
 * f16 and Q4_K_M, prefill tokens/s of a 512-token prompt, greedy decode tokens/s at batch 1
 * and of 32 sequences stepped together (`forwardBatch`, each after a 16-token prompt),
 * dispatches per decode step, and the share of the memory-bandwidth roofline a batch-1 decode
 * step reaches (weight bytes read per token × tokens/s ÷ the copy bandwidth measured here
 * first). Variants (`--variants`): `default` (what users get: on a GPU the fused `matvec`
 * decode kernels, 6 dispatches per layer, and the `tiled` prefill kernel) and `matmul` (the
 * earlier kernels: `matmul` for both, the attention split in four, 32 tokens per prefill submit).
 * `bench/gpu/run.sh` runs it on a GPU machine; it runs anywhere WebGPU does (`--shapes tiny`
 * on a software adapter to try it).
 *
 * Weights are made in memory (`_tiled_weights.ts`: random rows repeated, one host array per
 * type and shape) and uploaded as they are made, so a 13B model costs seconds, not the
 * minutes of writing and reading a file. Each engine variant (`--variants`: named option
 * sets, e.g. the kernels to use) is created once per model; each gets one untimed warm-up
 * run, then `--reps` timed runs interleaved across variants (rep 1 of each, then rep 2, …),
 * each on a fresh session: the prompt in one `forwardGreedy` (its last chunk's 4-byte argmax
 * read back), then `--decode` greedy tokens one step at a time; medians are printed. Every run
 * must decode the same tokens as the first. With the adapter's `timestamp-query`, the GPU time
 * of a few decode steps per kernel role follows each model's table.
 *
 * `--check` first compares the engine's logits at every position of a prompt with the CPU
 * oracle's on a small model of each format (the kernels as this GPU compiles them) and exits
 * non-zero where they differ by more than 1e-3 of their scale.
 *
 * The batch-32 step is one `forwardBatch`: one submit, each product once over the 32 rows (each
 * weight read once for all sequences), each sequence's attention over its own cache.
 *
 * Run: `deno run -A bench/gpu/gpu_table.ts [--shapes 1b,7b,13b] [--formats f16,q4_k_m]
 * [--prompt 512] [--decode 32] [--reps 3] [--variants default,matmul] [--batch 32] [--check]
 * [--budget 420]`
 * (`--budget`: seconds after which models not yet started are skipped, said so).
 *
 * @module
 */

import { benchOptions } from "../_process.ts";
import {
  chooseBatch,
  CpuEngine,
  describeBatch,
  type Session,
  WebGpuEngine,
  type WebGpuEngineOptions,
} from "../../infer/mod.ts";
import { argmax } from "../../infer/engine/engine.ts";
import { describeAdapter } from "../../infer/engine/webgpu/adapter.ts";
import { GpuContext } from "../../infer/engine/webgpu/context.ts";
import { type GpuMatrix, WeightUploader } from "../../infer/engine/webgpu/weights.ts";
import type { QuantPreset } from "../../infer/formats/quant_preset.ts";
import type { ModelSpec, ModelWeights } from "../../infer/model/model_spec.ts";
import { type LlamaSizes, llamaSpec } from "../_llama_spec.ts";
import { tiledWeights } from "./_tiled_weights.ts";
import { gpuCopyBandwidth } from "./_gpu_copy.ts";

/** Model shapes (LLaMA-2 7B and 13B; TinyLlama's 1.1B; a tiny one to try the script). */
const SHAPES: Record<string, LlamaSizes> = {
  tiny: { vocab: 512, hidden: 256, inter: 512, layers: 2, heads: 4, kv: 2 },
  "1b": { vocab: 32000, hidden: 2048, inter: 5632, layers: 22, heads: 32, kv: 4 },
  "7b": { vocab: 32000, hidden: 4096, inter: 11008, layers: 32, heads: 32, kv: 32 },
  "13b": { vocab: 32000, hidden: 5120, inter: 13824, layers: 40, heads: 40, kv: 40 },
};

/** Engine option sets to compare (`--variants`); `default` is what users get. */
const VARIANTS: Record<string, WebGpuEngineOptions> = {
  default: {},
  matmul: { decodeKernel: "matmul", prefillKernel: "matmul", attention: "split", maxBatch: 32 },
};

const { values: args } = benchOptions(
  Deno.args,
  "deno run -A bench/gpu/gpu_table.ts [--shapes 1b,7b,13b] [--formats f16,q4_k_m] [--prompt 512] [--decode 32] [--reps 3] [--variants default,matmul] [--batch 32] [--check] [--budget 420]",
  {
    shapes: { type: "string", default: "1b,7b,13b" },
    formats: { type: "string", default: "f16,q4_k_m" },
    prompt: { type: "string", default: "512" },
    decode: { type: "string", default: "32" },
    reps: { type: "string", default: "3" },
    variants: { type: "string", default: "default,matmul" },
    batch: { type: "string", default: "32" },
    budget: { type: "string", default: "1e9" },
    check: { type: "boolean", default: false },
  },
);
const shapes = args.shapes.split(",");
const formats = args.formats.split(",") as QuantPreset[];
const variants = args.variants.split(",");
for (const s of shapes) if (!SHAPES[s]) fail(`--shapes: "${s}" is not one of ${Object.keys(SHAPES).join(", ")}`);
for (const v of variants) {
  if (!VARIANTS[v]) fail(`--variants: "${v}" is not one of ${Object.keys(VARIANTS).join(", ")}`);
}
const PROMPT = Number(args.prompt), DECODE = Number(args.decode), REPS = Number(args.reps);
const BATCH = Number(args.batch);
const BUDGET_MS = Number(args.budget) * 1e3;
const started = performance.now();

function fail(message: string): never {
  console.error(`gpu_table: ${message}`);
  Deno.exit(2);
}

const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
if (!adapter) fail("no WebGPU adapter here");
for (const line of describeAdapter(adapter)) console.log(line);
const lim = adapter.limits;
const profiling = adapter.features.has("timestamp-query");

/** Weight bytes a decoded token reads: every matrix once, one row of the embedding. */
function bytesPerToken(w: ModelWeights<GpuMatrix>): number {
  let n = w.embed.bytes / w.embed.rows + w.output.bytes;
  for (const l of w.layers) for (const m of [l.wq, l.wk, l.wv, l.wo, l.w1, l.w2, l.w3]) n += m.bytes;
  return n;
}

const prompt = (spec: ModelSpec, n: number) => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % spec.vocabSize);

/** Logits of the CPU oracle and each variant at every position of a small model, per format. */
async function check(): Promise<boolean> {
  let ok = true;
  const spec = llamaSpec(SHAPES.tiny);
  const ids = prompt(spec, 40);
  for (const format of formats) {
    const weights = await tiledWeights(spec, format, (t) => Promise.resolve(t));
    const want = await new CpuEngine({ spec, weights }).createSession().forwardAll(ids);
    for (const v of variants) {
      const engine = await WebGpuEngine.create({ spec, weights }, { contextSize: 64, ...VARIANTS[v] });
      const got = await engine.createSession().forwardAll(ids);
      engine.dispose();
      let worst = 0;
      for (let p = 0; p < ids.length; p++) {
        let diff = 0, scale = 0;
        for (let i = 0; i < want[p].length; i++) {
          diff = Math.max(diff, Math.abs(got[p][i] - want[p][i]));
          scale = Math.max(scale, Math.abs(want[p][i]));
        }
        worst = Math.max(worst, diff / scale);
      }
      const pass = worst <= 1e-3;
      ok &&= pass;
      console.log(
        `check ${format} ${v}: logits at ${ids.length} positions vs the CPU oracle, largest difference ` +
          `${worst.toExponential(2)} of their scale: ${pass ? "ok" : "FAILED (over 1e-3)"}`,
      );
    }
  }
  return ok;
}

/** One timed run: the prompt, then greedy steps. */
async function run(
  engine: WebGpuEngine,
  ids: readonly number[],
): Promise<{ prefill: number; decode: number; tokens: number[] }> {
  const s: Session = engine.createSession();
  try {
    const t0 = performance.now();
    let next = await s.forwardGreedy(ids);
    const t1 = performance.now();
    const tokens = [next];
    for (let i = 0; i < DECODE; i++) tokens.push(next = await s.forwardGreedy([next]));
    const t2 = performance.now();
    return { prefill: ids.length / ((t1 - t0) / 1e3), decode: DECODE / ((t2 - t1) / 1e3), tokens };
  } finally {
    s.dispose();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Tokens/s of `BATCH` sequences (16-token prompts) stepped together `DECODE` times. */
async function batchRun(engine: WebGpuEngine, spec: ModelSpec): Promise<number> {
  const sessions = Array.from({ length: BATCH }, () => engine.createSession({ contextSize: 16 + DECODE + 8 }));
  try {
    let next = await Promise.all(sessions.map((s, j) => s.forwardGreedy(prompt(spec, 16 + j).slice(j))));
    const t0 = performance.now();
    for (let i = 0; i < DECODE; i++) {
      const logits = await engine.forwardBatch(sessions.map((session, j) => ({ session, token: next[j] })));
      next = logits.map((l) => argmax(l));
    }
    return (BATCH * DECODE) / ((performance.now() - t0) / 1e3);
  } finally {
    for (const s of sessions) s.dispose();
  }
}

/** GPU time per decoded token by kernel role, the largest first. */
async function profileLines(engine: WebGpuEngine, ids: readonly number[]): Promise<string[]> {
  const s = engine.createSession();
  try {
    engine.profiling = true;
    let next = await s.forwardGreedy(ids.slice(0, 16));
    engine.resetProfile();
    for (let i = 0; i < 4; i++) next = await s.forwardGreedy([next]);
  } finally {
    engine.profiling = false;
    s.dispose();
  }
  const p = engine.profile();
  const total = Object.values(p.ms).reduce((a, b) => a + b, 0);
  return [
    `    GPU time per decoded token ${(total / p.steps).toFixed(3)} ms: ` +
    Object.entries(p.ms).sort((a, b) => b[1] - a[1]).map(([role, ms]) =>
      `${role} ${(ms / p.steps).toFixed(3)} ms (${p.dispatches[role] / p.steps})`
    ).join(", "),
  ];
}

if (args.check && !(await check())) {
  console.error("gpu_table: the engine's logits differ from the CPU oracle's on this adapter");
  Deno.exit(1);
}

const copyDevice = await adapter.requestDevice({ requiredLimits: { maxBufferSize: lim.maxBufferSize } });
const copy = await gpuCopyBandwidth(copyDevice, Math.min(2 ** 30, lim.maxBufferSize - (lim.maxBufferSize % 4)));
copyDevice.destroy();
const copyBandwidth = copy.median;
console.log(
  `copy bandwidth (buffer to buffer, ${copy.bytes / 2 ** 20} MiB, read + written): median ` +
    `${(copy.median / 1e9).toFixed(0)} GB/s, best ${(copy.best / 1e9).toFixed(0)} GB/s`,
);

const header = `| model | format | weights GB | variant | prefill tok/s (${PROMPT}) | decode tok/s, batch 1 | ` +
  `batch ${BATCH} (× batch 1) | dispatches per decode step | weight GB/s | roofline |`;
const rows: string[] = [header, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"];
for (const shape of shapes) {
  for (const format of formats) {
    if (performance.now() - started > BUDGET_MS) {
      rows.push(`| ${shape} | ${format} | | | skipped: --budget reached | | | | | |`);
      continue;
    }
    const spec = llamaSpec(SHAPES[shape]);
    const t0 = performance.now();
    const ctx = await GpuContext.open({ profile: profiling });
    try {
      ctx.device.pushErrorScope("out-of-memory");
      const limit = ctx.device.limits.maxStorageBufferBindingSize;
      const uploader = new WeightUploader(ctx.device, ctx.buffers, limit);
      const weights: ModelWeights<GpuMatrix> = await tiledWeights(spec, format, (t) => uploader.matrix(t));
      await uploader.flush();
      const oom = await ctx.device.popErrorScope();
      const bytes = bytesPerToken(weights);
      const gb = (n: number) => (n / 1e9).toFixed(2);
      if (oom) {
        rows.push(`| ${shape} | ${format} | ${gb(bytes)} | | did not fit: ${oom.message} | | | | | |`);
        continue;
      }
      const load = (performance.now() - t0) / 1e3;
      const engines = await Promise.all(variants.map((v) =>
        WebGpuEngine.create({ spec, weights }, {
          device: ctx.device,
          contextSize: PROMPT + DECODE + 8,
          profile: profiling,
          ...VARIANTS[v],
        })
      ));
      for (const e of engines) e.profiling = false;
      const ids = prompt(spec, PROMPT);
      const first = await Promise.all(engines.map((e) => run(e, ids)));
      const runs = engines.map(() => [] as { prefill: number; decode: number; batch: number }[]);
      for (let r = 0; r < REPS; r++) {
        for (let i = 0; i < engines.length; i++) {
          const got = { ...await run(engines[i], ids), batch: await batchRun(engines[i], spec) };
          if (got.tokens.join() !== first[i].tokens.join()) {
            console.log(`  note: ${shape} ${format} ${variants[i]} rep ${r + 1} decoded other tokens than its warm-up`);
          }
          runs[i].push(got);
        }
      }
      for (let i = 1; i < engines.length; i++) {
        if (first[i].tokens.join() !== first[0].tokens.join()) {
          console.log(`  note: ${shape} ${format}: ${variants[i]} decodes other tokens than ${variants[0]}`);
        }
      }
      console.log(
        `${shape} ${format}: ${gb(bytes)} GB read per decoded token, made and uploaded in ${load.toFixed(1)} s`,
      );
      // What `infer` would choose without --batch, every variant's buffers allocated (on a GPU: by
      // allocating caches until the device runs out).
      console.log(`  ${describeBatch(await chooseBatch(engines[0], engines[0].contextSize))}`);
      for (let i = 0; i < engines.length; i++) {
        const prefill = median(runs[i].map((x) => x.prefill));
        const decode = median(runs[i].map((x) => x.decode));
        const batched = median(runs[i].map((x) => x.batch));
        await run(engines[i], ids.slice(0, 8));
        const dispatches = engines[i].lastDispatches;
        const rate = bytes * decode;
        rows.push(
          `| ${shape} | ${format} | ${gb(bytes)} | ${variants[i]} | ${prefill.toFixed(0)} | ${decode.toFixed(1)} | ` +
            `${batched.toFixed(1)} (×${(batched / decode).toFixed(1)}) | ` +
            `${dispatches} (${(dispatches / spec.layers).toFixed(1)} per layer) | ${(rate / 1e9).toFixed(0)} | ` +
            `${(100 * rate / copyBandwidth).toFixed(1)}% |`,
        );
        console.log(`  ${variants[i]}: ` + rows[rows.length - 1]);
        if (profiling) { for (const line of await profileLines(engines[i], ids)) console.log(line); }
      }
      for (const e of engines) e.dispose();
    } catch (e) {
      rows.push(`| ${shape} | ${format} | | | failed: ${(e as Error).message.split("\n")[0]} | | | | | |`);
      console.log(`  ${shape} ${format} failed: ${(e as Error).stack}`);
    } finally {
      ctx.dispose();
    }
  }
}
console.log(
  `\nroofline: weight bytes per decoded token × decode tokens/s ÷ the copy bandwidth above ` +
    `(${(copyBandwidth / 1e9).toFixed(0)} GB/s); KV cache reads not counted. Elapsed ` +
    `${((performance.now() - started) / 1e3).toFixed(0)} s.\n`,
);
for (const r of rows) console.log(r);
