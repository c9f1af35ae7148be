/**
 * `train --engine webgpu`: the WebGPU trainer's loss and LoRA gradients equal the CPU oracle's
 * (double precision, itself checked against finite differences and llama.cpp) within 1e-3, for
 * every family and target module, with dropout, with matrices split over several bindings, on
 * 16-bit and quantized bases; its `gemm` equals a hand-written product on strided, batched,
 * grouped operands; a run through the command line reports the loss llama.cpp computes; a
 * run stopped and started again ends with the same adapter, bit for bit.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { loadModel, Rng, webGpuAvailable } from "../infer/mod.ts";
import { type RandomModelOptions, writeRandomModel } from "../infer/testing/mod.ts";
import { GpuContext } from "../infer/engine/webgpu/context.ts";
import { USAGE } from "../infer/engine/webgpu/buffers.ts";
import {
  createLoraModel,
  exampleLoss,
  type LoraGrads,
  type LoraModel,
  train,
  type TrainSettings,
  WebGpuLoss,
  zeroGrads,
} from "../train/mod.ts";
import { gemm } from "../train/webgpu/kernels/gemm.ts";
import { UniformCache, WorkList } from "../train/webgpu/work_list.ts";
import { runCli, sharedGpuDevice, skipNotice, tempDir } from "./_shared.ts";
import {
  checkTrainLossAgainstLlamaCpp,
  EXAMPLE,
  FAMILIES,
  randomizeB,
  RECORDS,
  smallRun,
  writeTrainModel,
} from "./_train_fixtures.ts";

const HAVE_GPU = await webGpuAvailable();
if (!HAVE_GPU) skipNotice(import.meta.url, "train --engine webgpu", "no WebGPU adapter on this machine");

/** The worst relative difference (in norm, module by module) between two sets of gradients. */
function gradError(want: LoraGrads, got: LoraGrads): number {
  let worst = 0;
  for (const [w, g] of [[want.a, got.a], [want.b, got.b]]) {
    w.forEach((wi, i) => {
      let diff = 0, norm = 0;
      for (let j = 0; j < wi.length; j++) {
        diff += (wi[j] - g[i][j]) ** 2;
        norm += wi[j] ** 2;
      }
      ok(norm > 0, "every module has a gradient");
      worst = Math.max(worst, Math.sqrt(diff / norm));
    });
  }
  return worst;
}

/** The CPU oracle's and the WebGPU trainer's loss and gradients of EXAMPLE, over two calls (accumulated). */
async function compare(
  model: LoraModel,
  o: { dropout?: number; maxBindingBytes?: number; wide?: boolean } = {},
): Promise<{ loss: number; grads: number }> {
  const weight = 0.25, dropout = o.dropout ?? 0;
  const want = zeroGrads(model);
  let cpu = 0;
  for (const seed of [3, 4]) {
    cpu += exampleLoss(model, EXAMPLE, { grads: want, weight, dropout, dropoutSeed: seed }).sum;
  }
  const gpu = await WebGpuLoss.create(model, {
    device: await sharedGpuDevice(),
    maxBindingBytes: o.maxBindingBytes,
    wide: o.wide,
  });
  try {
    let sum = 0;
    for (const seed of [3, 4]) {
      sum += (await gpu.loss(EXAMPLE, { backward: true, weight, dropout, dropoutSeed: seed })).sum;
    }
    const got = zeroGrads(model);
    await gpu.takeGrads(got);
    // Taken once: the accumulators start again from zero.
    const none = zeroGrads(model);
    await gpu.takeGrads(none);
    ok(none.a.every((g) => g.every((x) => x === 0)), "gradients are taken once");
    // Loss only: the same loss, no gradient.
    const alone = await gpu.loss(EXAMPLE, { backward: false, dropout: 0 });
    await gpu.takeGrads(none);
    ok(none.b.every((g) => g.every((x) => x === 0)), "a loss without backward adds no gradient");
    const plain = exampleLoss(model, EXAMPLE).sum;
    ok(Math.abs(alone.sum - plain) < 1e-4 * plain, `forward only: ${alone.sum} vs ${plain}`);
    return { loss: Math.abs(sum - cpu) / cpu, grads: gradError(want, got) };
  } finally {
    gpu.dispose();
  }
}

Deno.test({
  name:
    "WebGPU trainer = CPU oracle (loss, LoRA gradients of every target) within 1e-3: every family, dropout, split matrices",
  ignore: !HAVE_GPU,
  async fn(t) {
    for (const [label, family] of FAMILIES) {
      await t.step(label, async () => {
        await using tmp = await tempDir();
        await writeRandomModel(tmp.dir, { ...family, vocabSize: 40, hidden: 16, intermediate: 24, layers: 2 });
        const model = createLoraModel(await loadModel(tmp.dir), { r: 2, alpha: 6, targets: ["all"], seed: 5 });
        randomizeB(model, 9);
        // Matrices split into 256-byte bindings (4 rows of 16 f32) exercise the chunked products;
        // the wide tiles a GPU gets are checked once (their compilation is slow on a software adapter).
        const wide = label.startsWith("llama") ? [{ wide: true, dropout: 0.1 }] : [];
        for (const o of [{}, { dropout: 0.3, maxBindingBytes: 256 }, ...wide]) {
          const e = await compare(model, o);
          ok(e.loss < 1e-4, `${label} ${JSON.stringify(o)}: loss off by ${e.loss}`);
          ok(e.grads < 1e-3, `${label} ${JSON.stringify(o)}: gradients off by ${e.grads}`);
        }
      });
    }
  },
});

Deno.test({
  name: "WebGPU trainer on 16-bit and quantized bases (QLoRA) = the CPU oracle on the same weights, within 1e-3",
  ignore: !HAVE_GPU,
  async fn(t) {
    const cases: [string, Partial<RandomModelOptions>, string | undefined, number][] = [
      ["f16", { dtype: "f16" }, undefined, 32],
      ["bf16", { dtype: "bf16" }, undefined, 32],
      ["q8_0", {}, "q8_0", 32],
      ["q4_k_m", {}, "q4_k_m", 256],
    ];
    for (const [label, write, quantize, hidden] of cases) {
      await t.step(label, async () => {
        await using tmp = await tempDir();
        await writeRandomModel(tmp.dir, {
          architecture: "llama",
          vocabSize: 40,
          hidden,
          intermediate: hidden,
          layers: 2,
          heads: 2,
          ...write,
        });
        const base = await loadModel(tmp.dir, { quantize: quantize as never });
        ok(base.weights.layers[0].w2.dtype !== "f32", `${label}: the base keeps its format`);
        const model = createLoraModel(base, { r: 2, alpha: 4, targets: ["q_proj", "v_proj", "down_proj"], seed: 3 });
        randomizeB(model, 4);
        const e = await compare(model);
        ok(e.loss < 1e-4, `${label}: loss off by ${e.loss}`);
        ok(e.grads < 1e-3, `${label}: gradients off by ${e.grads}`);
      });
    }
  },
});

Deno.test({
  name: "WebGPU gemm (wide and narrow tiles): strided, transposed, batched, grouped operands, alpha, accumulate",
  ignore: !HAVE_GPU,
  async fn() {
    for (const wide of [false, true]) await checkGemm(wide);
  },
});

/** One gemm against a hand-written product. */
async function checkGemm(wide: boolean): Promise<void> {
  const ctx = await GpuContext.open({ device: await sharedGpuDevice() });
  const uniforms = new UniformCache(ctx.device);
  try {
    // C[z] = 0.5 · A[z] · B[z / 2]ᵀ + C, A: 4 items of 70 × 19 (row-major), B: 2 items of 67 × 19 read transposed.
    const rng = new Rng(1);
    const [m, n, k, batch] = [70, 67, 19, 4];
    const a = Float32Array.from({ length: batch * m * k }, () => rng.normal());
    const b = Float32Array.from({ length: 2 * n * k }, () => rng.normal());
    const c0 = Float32Array.from({ length: batch * m * n }, () => rng.normal());
    const buf = (x: Float32Array) => ctx.buffers.f32(x, USAGE.STORAGE | USAGE.COPY_SRC);
    const [ab, bb, cb] = [buf(a), buf(b), buf(c0)];
    const list = new WorkList(ctx, uniforms);
    list.call(gemm({
      m,
      n,
      k,
      batch,
      a: { buffer: ab, z: m * k, row: k, col: 1 },
      b: { buffer: bb, z: n * k, div: 2, row: 1, col: k },
      c: { buffer: cb, z: m * n, row: n },
      alpha: 0.5,
      accumulate: true,
      wide,
    }));
    const got = await list.submit({ buffer: cb, count: batch * m * n });
    let worst = 0;
    for (let z = 0; z < batch; z++) {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let q = 0; q < k; q++) s += a[z * m * k + i * k + q] * b[Math.floor(z / 2) * n * k + j * k + q];
          const want = 0.5 * s + c0[z * m * n + i * n + j];
          worst = Math.max(worst, Math.abs(got[z * m * n + i * n + j] - want));
        }
      }
    }
    ok(worst < 1e-5, `${wide ? "wide" : "narrow"}: worst |Δ| ${worst}`);
  } finally {
    uniforms.destroy();
    ctx.dispose();
  }
}

Deno.test({
  name: "train --engine webgpu: the reported loss = llama.cpp's mean NLL on the merged GGUF (±1e-3), before and after",
  ignore: !HAVE_GPU,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const stderr = await checkTrainLossAgainstLlamaCpp(["--engine", "webgpu"]);
    ok(stderr.includes("computing on "), stderr);
    // The device memory the run needs, before step 1.
    ok(
      /\ntrain: device memory: [\d.]+ [KMG]iB \(weights [\d.]+ [KMG]iB, LoRA and its gradients [\d.]+ [KMG]iB, the longest example's buffers [\d.]+ [KMG]iB at \d+ tokens\)\n/
        .test(stderr),
      stderr,
    );
  },
});

Deno.test({
  name:
    "train --engine webgpu: stopped and started again = uninterrupted, bit for bit; a cpu run's folder is not resumed",
  ignore: !HAVE_GPU,
  async fn() {
    await using tmp = await tempDir();
    const model = `${tmp.dir}/m`;
    await writeTrainModel(model);
    await Deno.writeTextFile(`${tmp.dir}/train.json`, RECORDS.join("\n") + "\n");
    const settings = (outputDir: string): TrainSettings => ({
      ...smallRun(model, `${tmp.dir}/train.json`, outputDir),
      engine: "webgpu",
    });
    const device = await sharedGpuDevice();
    const whole = await train(settings(`${tmp.dir}/a`), { device });
    equal(whole.steps, 6);
    const b = `${tmp.dir}/b`;
    const stop = new AbortController();
    const first = await train(settings(b), {
      device,
      signal: stop.signal,
      onProgress: (p) => p.step === 4 && stop.abort(),
    });
    ok(first.stopped && first.steps === 4);
    const again = await train(settings(b), { device });
    equal(again.resumedFrom, 3);
    deepEqual(
      await Deno.readFile(`${b}/adapter_model.safetensors`),
      await Deno.readFile(`${tmp.dir}/a/adapter_model.safetensors`),
    );
    // The CPU oracle's losses for the same steps agree to f32's precision.
    const cpu = await train({ ...settings(`${tmp.dir}/c`), engine: "cpu" });
    ok(Math.abs(cpu.loss - whole.loss) < 1e-3 * cpu.loss, `last step's loss: cpu ${cpu.loss}, webgpu ${whole.loss}`);
    const other = await train(settings(`${tmp.dir}/c`), { device }).catch((e) => e);
    ok(String(other).includes("engine") && String(other).includes("--overwrite_output_dir"), String(other));
  },
});

Deno.test("train --engine: a name it does not know is one line", async () => {
  const r = await runCli([
    "train",
    ...["--model_name_or_path", "m", "--template", "qwen", "--train_file", "t", "--output_dir", "o"],
    ...["--engine", "tpu"],
  ]);
  equal(r.code, 2);
  equal(r.stderr.trim(), 'iepile: train: --engine is cpu or webgpu, not "tpu"');
});
