/**
 * Training speed: tokens per second of one LoRA training example (forward, backward, the
 * per-layer recompute) on a random LLaMA, and the share of this machine's matrix-multiply rate
 * it reaches. The rate is measured in the same run: llama.cpp's prompt processing of the same
 * model (the GGUF export, all cores), whose work is almost all matrix products at `2P` FLOPs per
 * token, `P` the decoder layers' parameters (the embedding is a lookup; llama.cpp computes the
 * output head for the last token only). Training costs about `4P` FLOPs per token (one forward,
 * one backward through the frozen weights; the recomputed forward of the backward pass is not
 * counted as useful work), so the share is `4P · train tokens/s ÷ (2P · llama.cpp prompt
 * tokens/s)`. Runs are interleaved and medians reported.
 *
 * ```sh
 * deno run -A bench/train_bench.ts                 # the ~150M-parameter LLaMA, 64-token examples
 * deno run -A bench/train_bench.ts --shape tiny    # a quick look
 * ```
 *
 * Both engines are timed where a WebGPU adapter exists: `cpu` (the double-precision oracle, one
 * thread) and `webgpu` (f32 on the device; on a software adapter such as llvmpipe, the CPU's
 * cores behind WebGPU). The `webgpu` time is one example's whole round: its submit, the loss read
 * back, and the gradients read back (as a step with one example reads them).
 *
 * @module
 */

import { badOption, benchOptions } from "./_process.ts";
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { exportGguf, loadModel, parameterCount } from "../infer/mod.ts";
import { writeRandomModel } from "../infer/testing/mod.ts";
import { createLoraModel, exampleLoss, WebGpuLoss, zeroGrads } from "../train/mod.ts";
import { webGpuAvailable } from "../infer/mod.ts";
import { median } from "./_timing.ts";
import { BENCH_LLAMA } from "./_bench_model.ts";

const USAGE = "deno run -A bench/train_bench.ts [--shape 150m|tiny] [--tokens 64] [--runs 3]";
const args = benchOptions(Deno.args, USAGE, {
  shape: { type: "string", default: "150m" },
  tokens: { type: "string", default: "64" },
  runs: { type: "string", default: "3" },
});
const SHAPES = {
  "150m": BENCH_LLAMA,
  tiny: { architecture: "llama", vocabSize: 512, hidden: 64, intermediate: 128, layers: 2, heads: 4 },
} as const;
const shape = SHAPES[args.values.shape as keyof typeof SHAPES];
if (!shape) badOption(`--shape ${args.values.shape}: give ${Object.keys(SHAPES).join(" or ")}`, USAGE);
const n = Number(args.values.tokens), runs = Number(args.values.runs);

const dir = await Deno.makeTempDir({ prefix: "iepile-train-bench-" });
try {
  await writeRandomModel(`${dir}/m`, { ...shape, dtype: "f32", seed: 1 });
  const base = await loadModel(`${dir}/m`);
  await exportGguf(base, `${dir}/m.gguf`, { dtype: "f32" });
  const params = parameterCount(base.spec);
  const spec = base.spec;
  const layerParams = params - spec.vocabSize * spec.hidden * (spec.tiedEmbeddings ? 1 : 2) - spec.hidden;
  const ids = Array.from({ length: n }, (_, i) => 1 + (i * 7919) % (shape.vocabSize - 1));
  const example = { ids, promptLength: Math.floor(n * 0.75) };
  const model = createLoraModel(base, {
    r: 8,
    alpha: 16,
    targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    seed: 1,
  });

  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const ggufModel = await llama.loadModel({ modelPath: `${dir}/m.gguf`, gpuLayers: 0 });
  const threads = navigator.hardwareConcurrency;
  const context = await ggufModel.createContext({ contextSize: Math.max(256, n), threads, batchSize: n });
  const seq = context.getSequence();

  const gpu = await webGpuAvailable() ? await WebGpuLoss.create(model) : undefined;
  const gpuOnce = async (): Promise<number> => {
    const t0 = performance.now();
    await gpu!.loss(example, { backward: true, weight: 1 / (n - example.promptLength) });
    await gpu!.takeGrads(zeroGrads(model));
    return n / ((performance.now() - t0) / 1000);
  };
  const trainOnce = (): number => {
    const t0 = performance.now();
    exampleLoss(model, example, { grads: zeroGrads(model), weight: 1 / (n - example.promptLength) });
    return n / ((performance.now() - t0) / 1000);
  };
  const llamaOnce = async (): Promise<number> => {
    await seq.clearHistory();
    const t0 = performance.now();
    await seq.controlledEvaluate(ids as Token[]);
    return n / ((performance.now() - t0) / 1000);
  };
  trainOnce(); // warm-up (and, on the device, the pipelines' compilation)
  await llamaOnce();
  if (gpu) await gpuOnce();
  const train: number[] = [], prompt: number[] = [], device: number[] = [];
  for (let r = 0; r < runs; r++) {
    train.push(trainOnce());
    prompt.push(await llamaOnce());
    if (gpu) device.push(await gpuOnce());
  }
  const gpuName = gpu?.device;
  gpu?.dispose();
  await seq.dispose();
  await context.dispose();
  await ggufModel.dispose();

  const t = median(train), p = median(prompt);
  const trainFlops = 4 * layerParams * t, matmulFlops = 2 * layerParams * p;
  console.log(
    `model: random llama, ${(params / 1e6).toFixed(0)}M parameters (P = ${(layerParams / 1e6).toFixed(0)}M in ` +
      `the decoder layers), f32; example of ${n} tokens ` +
      `(${n - example.promptLength} scored), LoRA r 8 on q,k,v,o,gate,up,down; medians of ${runs} interleaved runs`,
  );
  console.log(
    `machine's matrix-multiply rate (llama.cpp prompt processing, ${threads} threads): ` +
      `${p.toFixed(1)} tokens/s = ${(matmulFlops / 1e9).toFixed(2)} GFLOP/s`,
  );
  console.log("engine  threads  train tokens/s  GFLOP/s (4P/token)  share of the rate");
  console.log(
    `cpu     1        ${t.toFixed(2).padStart(14)}  ${(trainFlops / 1e9).toFixed(3).padStart(19)}  ` +
      `${(100 * trainFlops / matmulFlops).toFixed(2)}%`,
  );
  if (device.length === 0) console.log("webgpu  —        (no WebGPU adapter here)");
  else {
    const g = median(device), gpuFlops = 4 * layerParams * g;
    console.log(
      `webgpu  device   ${g.toFixed(2).padStart(14)}  ${(gpuFlops / 1e9).toFixed(3).padStart(19)}  ` +
        `${(100 * gpuFlops / matmulFlops).toFixed(2)}%   (${gpuName})`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
