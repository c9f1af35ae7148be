/**
 * Batched decoding: how many tokens per second N sequences decoded in lockstep give, on the
 * benches' ~170M-parameter random Llama (`_bench_model.ts`), for N = 1, 4, 16 (`--batch`): our `cpu`
 * engine (one `forwardBatch` per step: the weights read once per block of rows for all
 * sequences), our `webgpu` engine (one `forwardBatch` per step: each weight read once per
 * pass for all sequences, each sequence's attention over its own cache) and
 * llama.cpp (`node-llama-cpp@3.21.1`, one context of N sequences whose evaluations it batches
 * into one `llama_decode` per step), at the same thread count.
 *
 * Each sequence gets its own 32-token prompt (computed before the clock starts), then 16 greedy
 * steps are timed. Runs are interleaved (every contender's rep 1, then rep 2, …) after one
 * warm-up each; medians of `--reps`. Printed per batch size: decode tokens/s of all sequences
 * together, the ratio to llama.cpp's at the same batch size, the ratio to the same engine's
 * batch 1, the weight bytes a step reads from memory per decoded token (the model's weights ÷
 * N: deterministic), and, for `webgpu`, the dispatches per step. Our engines must decode, for
 * each sequence, the tokens they decode for it alone (batching never changes an answer); a
 * difference stops the bench. llama.cpp's tokens are not checked (its batched sums may differ).
 *
 * Run: `deno bench -A bench/batch_bench.ts [-- --batch 1,4,16] [--threads 1] [--reps 3]
 * [--format f32] [--engines cpu,webgpu]` (a few minutes; llama.cpp always runs).
 *
 * @module
 */

import { benchOptions } from "./_process.ts";
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { argmax } from "../infer/engine/engine.ts";
import {
  exportGguf,
  type LoadedModel,
  loadModel,
  type Session,
  WasmEngine,
  webGpuAvailable,
  WebGpuEngine,
} from "../infer/mod.ts";
import { writeRandomModel } from "../infer/testing/mod.ts";
import type { QuantPreset } from "../infer/formats/quant_preset.ts";
import { weightRowBytes, type WeightTensor } from "../infer/formats/quant_tensor.ts";
import { interleaved, median, type Speed } from "./_timing.ts";
import { BENCH_LLAMA } from "./_bench_model.ts";

const { values: args } = benchOptions(
  Deno.args,
  "deno bench -A bench/batch_bench.ts [-- --batch 1,4,16] [--threads 1] [--reps 3] [--format f32] [--engines cpu,webgpu]",
  {
    batch: { type: "string", default: "1,4,16" },
    threads: { type: "string", default: "1" },
    reps: { type: "string", default: "3" },
    format: { type: "string", default: "f32" },
    engines: { type: "string", default: "cpu,webgpu" },
  },
);
const BATCHES = args.batch.split(",").map(Number);
const THREADS = Number(args.threads);
const REPS = Number(args.reps);
const FORMAT = args.format as QuantPreset;
const ENGINES = new Set(args.engines.split(","));
const PROMPT = 32, STEPS = 16, CONTEXT = 64;
const SHAPE = BENCH_LLAMA;

/** Sequence `j`'s prompt. */
const promptOf = (j: number) => Array.from({ length: PROMPT }, (_, i) => (i * 7919 + 13 + j * 101) % SHAPE.vocabSize);

/** Weight bytes a decode step reads: every matrix once, one embedding row per sequence (left out). */
function stepBytes(model: LoadedModel): number {
  const w = model.weights;
  const bytes = (t: WeightTensor) => t.shape[0] * weightRowBytes(t);
  let n = bytes(w.output);
  for (const l of w.layers) for (const m of [l.wq, l.wk, l.wv, l.wo, l.w1, l.w2, l.w3]) n += bytes(m);
  return n;
}

/** One engine at one batch size: its timed runs give tokens/s of all sequences together. */
interface Contender {
  readonly engine: string;
  readonly batch: number;
  /** Dispatches per step, where the engine counts them. */
  dispatches?: number;
  /** Each sequence's greedy tokens in the last run. */
  tokens: number[][];
  run(): Promise<Speed>;
  dispose(): Promise<void>;
}

/** Time `STEPS` lockstep steps after the prompts: `step` takes every sequence's token, gives the next ones. */
async function timeSteps(
  first: number[],
  step: (tokens: number[]) => Promise<number[]>,
): Promise<{ speed: Speed; tokens: number[][] }> {
  const tokens = first.map((t) => [t]);
  let next = first;
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) {
    next = await step(next);
    next.forEach((t, j) => tokens[j].push(t));
  }
  const seconds = (performance.now() - t0) / 1e3;
  return { speed: { prefill: 0, decode: (STEPS * first.length) / seconds }, tokens };
}

/** Our engine's sessions, prompts computed untimed; `step` runs one lockstep step. */
function ours(
  engine: string,
  batch: number,
  create: () => Session,
  step: (sessions: Session[], tokens: number[]) => Promise<number[]>,
  dispatches?: () => number,
): Contender {
  const c: Contender = {
    engine,
    batch,
    tokens: [],
    async run() {
      const sessions = Array.from({ length: batch }, () => create());
      try {
        const first = await Promise.all(sessions.map((s, j) => s.forwardGreedy(promptOf(j))));
        const r = await timeSteps(first, (t) => step(sessions, t));
        c.tokens = r.tokens;
        c.dispatches = dispatches?.();
        return r.speed;
      } finally {
        for (const s of sessions) s.dispose();
      }
    },
    dispose: () => Promise.resolve(),
  };
  return c;
}

/** Sequence 0's tokens per engine of ours at the first batch size. */
const tokensAlone = new Map<string, string>();
const dir = await Deno.makeTempDir({ prefix: "iepile-batch-bench-" });
const disposers: (() => Promise<void> | void)[] = [];
try {
  await writeRandomModel(dir, { ...SHAPE, dtype: FORMAT === "f16" || FORMAT === "bf16" ? FORMAT : "f32", seed: 1 });
  const plain = FORMAT === "f32" || FORMAT === "f16" || FORMAT === "bf16";
  const model = await loadModel(dir, { quantize: plain ? undefined : FORMAT });
  const gguf = `${dir}/model.gguf`;
  await exportGguf(model, gguf, { dtype: FORMAT, tokenizer: null });
  const bytes = stepBytes(model);

  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: 0 });
  disposers.push(() => llama.dispose());
  const lmodel = await llama.loadModel({ modelPath: gguf, gpuLayers: 0 });
  disposers.push(() => lmodel.dispose());
  const cpu = ENGINES.has("cpu")
    ? await WasmEngine.create(model, { threads: THREADS, contextSize: CONTEXT })
    : undefined;
  if (cpu) disposers.push(() => cpu.dispose());
  const gpu = ENGINES.has("webgpu") && await webGpuAvailable()
    ? await WebGpuEngine.create(model, { contextSize: CONTEXT })
    : undefined;
  if (gpu) disposers.push(() => gpu.dispose());

  console.log(
    `model: random llama ${FORMAT}, ${(bytes / 1e6).toFixed(0)} MB of weights per step; ${PROMPT}-token prompts, ` +
      `${STEPS} lockstep greedy steps timed; ${THREADS} thread(s); medians of ${REPS} interleaved reps after a warm-up`,
  );
  const rows: string[] = [];
  const base = new Map<string, number>();
  for (const batch of BATCHES) {
    const contenders: Contender[] = [];
    // llama.cpp: one context holding `batch` sequences; their concurrent evaluations form one batch.
    const context = await lmodel.createContext({
      contextSize: CONTEXT * batch,
      sequences: batch,
      threads: { ideal: THREADS, min: THREADS },
      flashAttention: false,
      experimentalKvCacheKeyType: "F32",
      experimentalKvCacheValueType: "F32",
    });
    const seqs = Array.from({ length: batch }, () => context.getSequence());
    const next = { generateNext: { token: true } } as const;
    const lc: Contender = {
      engine: "llama.cpp",
      batch,
      tokens: [],
      async run() {
        await Promise.all(seqs.map((s) => s.clearHistory()));
        const first = await Promise.all(seqs.map(async (s, j) => {
          const p = promptOf(j);
          const res = await s.controlledEvaluate(p.map((t, i) => i === p.length - 1 ? [t as Token, next] : t as Token));
          return res[p.length - 1]!.next.token!;
        }));
        const r = await timeSteps(
          first,
          (tokens) =>
            Promise.all(
              seqs.map(async (s, j) => (await s.controlledEvaluate([[tokens[j] as Token, next]]))[0]!.next.token!),
            ),
        );
        lc.tokens = r.tokens;
        return r.speed;
      },
      async dispose() {
        for (const s of seqs) await s.dispose();
        await context.dispose();
      },
    };
    contenders.push(lc);
    if (cpu) {
      contenders.push(ours("cpu", batch, () => cpu.createSession(), async (sessions, tokens) => {
        const logits = await cpu.forwardBatch(sessions.map((session, j) => ({ session, token: tokens[j] })));
        return logits.map((l) => argmax(l));
      }));
    }
    if (gpu) {
      contenders.push(ours("webgpu", batch, () => gpu.createSession(), async (sessions, tokens) => {
        const logits = await gpu.forwardBatch(sessions.map((session, j) => ({ session, token: tokens[j] })));
        return logits.map((l) => argmax(l));
      }, () => gpu.lastDispatches));
    }
    try {
      const runs = await interleaved(contenders, REPS, 1);
      const lcSpeed = median(runs[0].map((r) => r.decode));
      for (const [i, c] of contenders.entries()) {
        const speed = median(runs[i].map((r) => r.decode));
        if (batch === BATCHES[0]) base.set(c.engine, speed);
        const alone = base.get(c.engine)!;
        rows.push(
          `| ${batch} | ${c.engine} | ${speed.toFixed(1)} | ${(speed / lcSpeed).toFixed(2)} | ` +
            `${(speed / alone).toFixed(2)} | ${(bytes / batch / 1e6).toFixed(1)} | ${c.dispatches ?? "-"} |`,
        );
      }
      // Batching must not change our engines' answers: sequence 0 decodes what it decodes alone.
      for (const c of contenders.slice(1)) {
        const alone = tokensAlone.get(c.engine);
        if (alone === undefined) tokensAlone.set(c.engine, c.tokens[0].join());
        else if (alone !== c.tokens[0].join()) {
          throw new Error(`${c.engine}: batch ${batch} changed sequence 0's tokens`);
        }
      }
    } finally {
      for (const c of contenders) await c.dispose();
    }
  }
  console.log(
    `\n| batch | engine | decode tok/s, all sequences | × llama.cpp | × its batch ${BATCHES[0]} | ` +
      `weight MB read per token | dispatches per step |`,
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) console.log(r);
} finally {
  for (const d of disposers.reverse()) await d();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
