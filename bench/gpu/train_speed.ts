/**
 * The WebGPU trainer's speed on a device: tokens/s of one LoRA training example (forward, the
 * per-layer recompute, backward; r 8 on q,k,v,o,gate,up,down; the gradients read back) on
 * LLaMA-shaped random models in f16 and Q4_K_M, against the same device's matrix-multiply rate
 * measured in the same run as the WebGPU inference engine's prefill of the same weights (about
 * `2P` FLOPs per token, `P` the decoder layers' parameters). Training costs about `4P` per token
 * (the recompute not counted as useful), so the share is `4P · train ÷ (2P · prefill)`. Runs are
 * interleaved (prefill, train, prefill, …) after one untimed warm-up each; medians printed.
 * `bench/gpu/run.sh` runs it on a GPU machine; `--shapes tiny` tries it on a software adapter.
 *
 * Run: `deno run -A bench/gpu/train_speed.ts [--shapes 1b] [--formats f16,q4_k_m] [--tokens 512] [--reps 3]`
 *
 * @module
 */

import { benchOptions } from "../_process.ts";
import { type LoadedModel, WebGpuEngine } from "../../infer/mod.ts";
import { adapterName } from "../../infer/engine/webgpu/adapter.ts";
import { requestEngineDevice } from "../../infer/engine/webgpu/context.ts";
import type { QuantPreset } from "../../infer/formats/quant_preset.ts";
import { createLoraModel, WebGpuLoss, zeroGrads } from "../../train/mod.ts";
import { type LlamaSizes, llamaSpec } from "../_llama_spec.ts";
import { median } from "../_timing.ts";
import { tiledWeights } from "./_tiled_weights.ts";

const SHAPES: Record<string, LlamaSizes> = {
  tiny: { vocab: 512, hidden: 256, inter: 512, layers: 2, heads: 4, kv: 2 },
  "1b": { vocab: 32000, hidden: 2048, inter: 5632, layers: 22, heads: 32, kv: 4 },
  "7b": { vocab: 32000, hidden: 4096, inter: 11008, layers: 32, heads: 32, kv: 32 },
};

const { values: args } = benchOptions(
  Deno.args,
  "deno run -A bench/gpu/train_speed.ts [--shapes 1b] [--formats f16,q4_k_m] [--tokens 512] [--reps 3]",
  {
    shapes: { type: "string", default: "1b" },
    formats: { type: "string", default: "f16,q4_k_m" },
    tokens: { type: "string", default: "512" },
    reps: { type: "string", default: "3" },
  },
);
const n = Number(args.tokens), reps = Number(args.reps);

const device = await requestEngineDevice();
console.log(`adapter: ${adapterName(device.adapterInfo)}`);
console.log(
  "| shape | format | prefill tokens/s | train tokens/s | share of the prefill rate (4P·train ÷ 2P·prefill) |",
);
console.log("| --- | --- | ---: | ---: | ---: |");
for (const shape of args.shapes.split(",")) {
  if (!SHAPES[shape]) throw new Error(`--shapes: "${shape}" is not one of ${Object.keys(SHAPES).join(", ")}`);
  for (const format of args.formats.split(",") as QuantPreset[]) {
    const spec = llamaSpec(SHAPES[shape]);
    const weights = await tiledWeights(spec, format, (t) => Promise.resolve(t));
    const base = { spec, weights } as unknown as LoadedModel;
    const engine = await WebGpuEngine.create(base, { device, contextSize: n + 8 });
    const model = createLoraModel(base, {
      r: 8,
      alpha: 16,
      targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
      seed: 1,
    });
    const gpu = await WebGpuLoss.create(model, { device });
    const ids = Array.from({ length: n }, (_, i) => 1 + (i * 7919) % (spec.vocabSize - 1));
    const example = { ids, promptLength: Math.floor(n * 0.75) };
    const prefill = async () => {
      const s = engine.createSession();
      const t0 = performance.now();
      await s.forwardGreedy(ids);
      s.dispose();
      return n / ((performance.now() - t0) / 1e3);
    };
    const trainOnce = async () => {
      const t0 = performance.now();
      await gpu.loss(example, { backward: true, weight: 1 / (n - example.promptLength) });
      await gpu.takeGrads(zeroGrads(model));
      return n / ((performance.now() - t0) / 1e3);
    };
    await prefill();
    await trainOnce();
    const p: number[] = [], t: number[] = [];
    for (let r = 0; r < reps; r++) {
      p.push(await prefill());
      t.push(await trainOnce());
    }
    const [pm, tm] = [median(p), median(t)];
    console.log(
      `| ${shape} | ${format} | ${pm.toFixed(0)} | ${tm.toFixed(1)} | ${(100 * 2 * tm / pm).toFixed(1)}% |`,
    );
    gpu.dispose();
    engine.dispose();
  }
}
device.destroy();
