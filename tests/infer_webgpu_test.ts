/**
 * The WebGPU engine against the CPU oracle: logits at every position within 1e-3 of their
 * scale for each architecture and weight format, with chunked prefill, matrices split across
 * bindings, greedy decoding on the device (one submit and a 4-byte readback per token), the
 * logits path used for sampling and masks, prefix reuse and fork. Runs on any adapter Deno
 * finds (in CI: the software adapter); skipped only where there is none.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { CpuEngine, generate, type LoadedModel, loadModel, webGpuAvailable, WebGpuEngine } from "../infer/mod.ts";
import { type RandomModelOptions, writeRandomLora, writeRandomModel } from "../infer/testing/mod.ts";
import type { QuantPreset } from "../infer/formats/quant_preset.ts";
import { int8DotAvailable } from "../infer/engine/webgpu/kernels/int8_dot.ts";
import { isSoftwareAdapter } from "../infer/engine/webgpu/adapter.ts";
import { relDiff, sharedGpuDevice, skipNotice, tempDir } from "./_shared.ts";
import { checkBatchedSteps } from "./_batch_steps.ts";

const HAVE_GPU = await webGpuAvailable();
if (!HAVE_GPU) skipNotice(import.meta.url, "the WebGPU engine tests", "no WebGPU adapter on this machine");

const PROMPT = [1, 17, 200, 42, 99, 5, 260, 7, 8, 9, 10, 300, 301, 2, 44, 45, 46, 47, 48];
const base = { vocabSize: 320, hidden: 64, intermediate: 96, heads: 4, layers: 2 };

const CASES: { name: string; model: RandomModelOptions; split?: boolean }[] = [
  { name: "llama f32, GQA", model: { architecture: "llama", ...base, kvHeads: 2 } },
  {
    name: "llama f16 (unpacked in the shader), split across bindings",
    model: { architecture: "llama", ...base, kvHeads: 1, dtype: "f16" },
    split: true,
  },
  {
    name: "llama bf16 with attention biases and llama3 RoPE scaling",
    model: {
      architecture: "llama",
      ...base,
      dtype: "bf16",
      attentionBias: true,
      ropeScaling: {
        rope_type: "llama3",
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 16,
      },
    },
  },
  {
    name: "qwen2 bf16, tied embeddings, q/k/v bias",
    model: { architecture: "qwen2", ...base, kvHeads: 2, dtype: "bf16", tiedEmbeddings: true },
  },
  {
    name: "baichuan 13B-style: ALiBi, NormHead, f16, split",
    model: { architecture: "baichuan", ...base, dtype: "f16", heads: 8, hidden: 64 },
    split: true,
  },
  { name: "baichuan 7B-style: RoPE", model: { architecture: "baichuan", ...base, position: "rope" } },
];

Deno.test({
  name: "webgpu vs cpu: logits at every position, each architecture and format",
  ignore: !HAVE_GPU,
  async fn(t) {
    for (const c of CASES) {
      // Both matmul strategies: "cooperative" (what GPUs get) and "rows" (software adapters); the tiled
      // prefill kernel (GPUs' default) has its own test below.
      for (const matmul of ["cooperative", "rows"] as const) {
        await t.step(`${c.name} (${matmul} matmul)`, async () => {
          await using tmp = await tempDir();
          await writeRandomModel(tmp.dir, c.model);
          const model = await loadModel(tmp.dir);
          const cpu = new CpuEngine(model).createSession();
          const gpuEngine = await WebGpuEngine.create(model, {
            device: await sharedGpuDevice(),
            contextSize: 64,
            maxBatch: 8, // the 19-token prompt takes three submits
            maxBindingBytes: c.split ? 8192 : undefined,
            matmul,
            prefillKernel: "matmul",
          });
          try {
            if (c.split) ok(gpuEngine.maxChunks > 1, "matrices must be split");
            const gpu = gpuEngine.createSession();
            const want = await cpu.forwardAll(PROMPT);
            const got = await gpu.forwardAll(PROMPT);
            ok(relDiff(got, want) < 1e-3, `prefill: ${relDiff(got, want)}`);
            // Decoding one token at a time, on the logits path.
            for (const id of [3, 150, 319]) {
              const d = relDiff([await gpu.forward([id])], [await cpu.forward([id])]);
              ok(d < 1e-3, `decode: ${d}`);
            }
          } finally {
            gpuEngine.dispose();
          }
        });
      }
    }
  },
});

Deno.test({
  name: "webgpu tiled prefill kernel: the cpu engine's greedy tokens and logits (±1e-3), chunked or one submit",
  ignore: !HAVE_GPU,
  async fn(t) {
    const cases: Array<
      { name: string; model: RandomModelOptions; maxBatch?: number; lora?: boolean; f16kv?: boolean }
    > = [
      { name: "llama f32 GQA, three submits", model: { architecture: "llama", ...base, kvHeads: 2 }, maxBatch: 8 },
      {
        name: "llama f16, LoRA kept apart, split",
        model: { architecture: "llama", ...base, kvHeads: 1, dtype: "f16" },
        lora: true,
      },
      {
        name: "qwen2 bf16 with q/k/v biases, f16 KV cache",
        model: { architecture: "qwen2", ...base, kvHeads: 2, dtype: "bf16" },
        f16kv: true,
      },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        await using tmp = await tempDir();
        await writeRandomModel(`${tmp.dir}/m`, c.model);
        if (c.lora) {
          await writeRandomLora(`${tmp.dir}/a`, `${tmp.dir}/m`, { r: 3, alpha: 6, targets: ["q_proj", "down_proj"] });
        }
        const model = await loadModel(`${tmp.dir}/m`, c.lora ? { lora: `${tmp.dir}/a`, loraMode: "separate" } : {});
        const kvCache = c.f16kv ? "f16" as const : "f32" as const;
        const cpu = new CpuEngine(model, { kvCache });
        const engine = await WebGpuEngine.create(model, {
          device: await sharedGpuDevice(),
          contextSize: 64,
          maxBatch: c.maxBatch,
          maxBindingBytes: c.lora ? 8192 : undefined,
          matmul: "cooperative",
          prefillKernel: "tiled",
          kvCache,
        });
        try {
          equal(engine.prefillKernel, "tiled");
          equal(engine.maxBatch, c.maxBatch ?? 256, "the tiled kernel's default batch");
          const want = await cpu.createSession().forwardAll(PROMPT);
          const got = await engine.createSession().forwardAll(PROMPT);
          ok(relDiff(got, want) < 1e-3, `prefill: ${relDiff(got, want)}`);
          const opts = { maxNewTokens: 8, stopIds: [] };
          const a = await generate(cpu.createSession(), PROMPT, opts);
          const b = await generate(engine.createSession(), PROMPT, opts);
          deepEqual(b.ids, a.ids);
        } finally {
          engine.dispose();
        }
      });
    }
  },
});

Deno.test({
  name: "webgpu greedy decoding: same 32 tokens as the CPU, one submit and one id read back per token",
  ignore: !HAVE_GPU,
  async fn() {
    await using tmp = await tempDir();
    await writeRandomModel(tmp.dir, { architecture: "qwen2", ...base, kvHeads: 2, dtype: "f16", seed: 4 });
    const model: LoadedModel = await loadModel(tmp.dir);
    const engine = await WebGpuEngine.create(model, { device: await sharedGpuDevice(), contextSize: 96, maxBatch: 32 });
    try {
      const want = await generate(new CpuEngine(model).createSession(), PROMPT, { maxNewTokens: 32, stopIds: [] });
      const before = engine.submits;
      const got = await generate(engine.createSession(), PROMPT, { maxNewTokens: 32, stopIds: [] });
      deepEqual(got.ids, want.ids);
      equal(engine.submits - before, 32, "one submit per generated token (the prompt fits one batch)");
      // A step's dispatches: embed, then per layer 12 (attention one), then norm, logits, argmax.
      equal(engine.lastDispatches, 1 + 12 * base.layers + 3);
      // Sampling with a mask goes through the logits path and still agrees with the CPU.
      const hook = (l: Float32Array) => {
        for (let i = 0; i < l.length; i += 2) l[i] = -Infinity; // odd ids only
      };
      const opts = {
        maxNewTokens: 12,
        stopIds: [],
        sampling: { temperature: 0.7, topK: 40 },
        seed: 3,
        logitsHook: hook,
      };
      const a = await generate(new CpuEngine(model).createSession(), PROMPT, opts);
      const b = await generate(engine.createSession(), PROMPT, opts);
      deepEqual(b.ids, a.ids);
      ok(b.ids.every((id) => id % 2 === 1));
    } finally {
      engine.dispose();
    }
  },
});

Deno.test({
  name: "webgpu matvec decode: one-token steps by matvec give the cpu's logits (±1e-3) and greedy tokens",
  ignore: !HAVE_GPU,
  async fn(t) {
    const k = { vocabSize: 320, hidden: 256, intermediate: 512, heads: 4, layers: 2, kvHeads: 2 };
    const cases: Array<{ name: string; model: RandomModelOptions; quantize?: QuantPreset; split?: boolean }> = [
      { name: "llama f32, GQA", model: { architecture: "llama", ...base, kvHeads: 2 } },
      {
        name: "llama f16, split across bindings",
        model: { architecture: "llama", ...base, dtype: "f16" },
        split: true,
      },
      { name: "qwen2 bf16 with q/k/v bias", model: { architecture: "qwen2", ...base, kvHeads: 2, dtype: "bf16" } },
      { name: "llama q4_k_m (q4_k, q6_k)", model: { architecture: "llama", ...k }, quantize: "q4_k_m" },
      { name: "qwen2 q8_0 with biases", model: { architecture: "qwen2", ...k }, quantize: "q8_0" },
      // Rows of 64 are no whole q4_k blocks: q5_0 and q8_0 instead, q5_0 left to matmul.
      {
        name: "llama q4_k_m on rows of 64 (matmul's fallback)",
        model: { architecture: "llama", ...base },
        quantize: "q4_k_m",
      },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        await using tmp = await tempDir();
        await writeRandomModel(tmp.dir, c.model);
        const model = await loadModel(tmp.dir, { quantize: c.quantize });
        const engine = await WebGpuEngine.create(model, {
          device: await sharedGpuDevice(),
          contextSize: 64,
          maxBatch: 8,
          maxBindingBytes: c.split ? 8192 : undefined,
          matmul: "cooperative",
          decodeKernel: "matvec",
        });
        try {
          equal(engine.decodeKernel, "matvec");
          const cpu = new CpuEngine(model).createSession();
          const gpu = engine.createSession();
          const want = await cpu.forwardAll(PROMPT);
          const got = await gpu.forwardAll(PROMPT);
          ok(relDiff(got, want) < 1e-3, `prefill: ${relDiff(got, want)}`);
          for (const id of [3, 150, 319]) {
            const d = relDiff([await gpu.forward([id])], [await cpu.forward([id])]);
            ok(d < 1e-3, `decode: ${d}`);
          }
          // forwardAll of one token takes the decode dispatches too.
          const d = relDiff(await gpu.forwardAll([8]), await cpu.forwardAll([8]));
          ok(d < 1e-3, `decode (all): ${d}`);
          const opts = { maxNewTokens: 12, stopIds: [] };
          const a = await generate(new CpuEngine(model).createSession(), PROMPT, opts);
          const b = await generate(engine.createSession(), PROMPT, opts);
          deepEqual(b.ids, a.ids);
        } finally {
          engine.dispose();
        }
      });
    }
    await t.step("LoRA kept apart on a q8_0 base (A and B by matvec too)", async () => {
      await using tmp = await tempDir();
      await writeRandomModel(`${tmp.dir}/m`, { architecture: "llama", ...k });
      await writeRandomLora(`${tmp.dir}/a`, `${tmp.dir}/m`, {
        r: 3,
        alpha: 6,
        targets: ["q_proj", "up_proj", "down_proj"],
      });
      const model = await loadModel(`${tmp.dir}/m`, { lora: `${tmp.dir}/a`, loraMode: "separate", quantize: "q8_0" });
      const engine = await WebGpuEngine.create(model, {
        device: await sharedGpuDevice(),
        contextSize: 32,
        matmul: "cooperative",
        decodeKernel: "matvec",
      });
      try {
        const cpu = new CpuEngine(model).createSession();
        const gpu = engine.createSession();
        ok(relDiff(await gpu.forwardAll(PROMPT), await cpu.forwardAll(PROMPT)) < 1e-3);
        const d = relDiff([await gpu.forward([150])], [await cpu.forward([150])]);
        ok(d < 1e-3, `decode: ${d}`);
      } finally {
        engine.dispose();
      }
    });
    await t.step({
      name: "int8Dot: q8_0 and q4_0 products keep their kernel, the others take matvec",
      ignore: !int8DotAvailable(),
      async fn() {
        await using tmp = await tempDir();
        await writeRandomModel(tmp.dir, { architecture: "llama", ...k });
        const model = await loadModel(tmp.dir, { quantize: "q4_k_m" });
        const logits = async (decodeKernel: "matvec" | "matmul") => {
          const engine = await WebGpuEngine.create(model, {
            device: await sharedGpuDevice(),
            contextSize: 32,
            matmul: "cooperative",
            decodeKernel,
            int8Dot: true,
          });
          try {
            const s = engine.createSession();
            await s.forward(PROMPT);
            return await s.forward([150]);
          } finally {
            engine.dispose();
          }
        };
        const d = relDiff([await logits("matvec")], [await logits("matmul")]);
        ok(d < 1e-3, `matvec vs matmul decode: ${d}`);
      },
    });
    await t.step("the default: matvec for cooperative matmul, matmul for rows", async () => {
      await using tmp = await tempDir();
      await writeRandomModel(tmp.dir, { architecture: "llama", ...base });
      const model = await loadModel(tmp.dir);
      for (const [matmul, want] of [["cooperative", "matvec"], ["rows", "matmul"]] as const) {
        const engine = await WebGpuEngine.create(model, { device: await sharedGpuDevice(), contextSize: 16, matmul });
        equal(engine.decodeKernel, want);
        engine.dispose();
      }
      // Without a matmul option the strategy follows the adapter, a given device's too.
      const device = await sharedGpuDevice();
      const software = isSoftwareAdapter(device.adapterInfo);
      for (const given of [device, undefined]) {
        const engine = await WebGpuEngine.create(model, { device: given, contextSize: 16 });
        equal(engine.matmulStrategy, software ? "rows" : "cooperative");
        engine.dispose();
      }
    });
  },
});

Deno.test({
  name: "webgpu sessions: prefix reuse and fork keep the cache on the device",
  ignore: !HAVE_GPU,
  async fn() {
    await using tmp = await tempDir();
    await writeRandomModel(tmp.dir, { architecture: "llama", ...base, kvHeads: 2 });
    const model = await loadModel(tmp.dir);
    const engine = await WebGpuEngine.create(model, { device: await sharedGpuDevice(), contextSize: 64 });
    try {
      const cpuAll = await new CpuEngine(model).createSession().forwardAll(PROMPT);
      const s = engine.createSession();
      await s.forward(PROMPT.slice(0, 10));
      equal(s.reusePrefix([...PROMPT.slice(0, 6), 5, 5]), 6);
      const fork = s.fork();
      const a = await s.forward(PROMPT.slice(6, 12));
      const b = await fork.forward(PROMPT.slice(6, 12));
      ok(relDiff([a], [cpuAll[11]]) < 1e-3);
      ok(relDiff([b], [cpuAll[11]]) < 1e-3);
      fork.dispose();
      s.dispose();
    } finally {
      engine.dispose();
    }
  },
});

Deno.test({
  name: "webgpu streaming load: each matrix uploaded as read gives the same logits as uploading a loaded model",
  ignore: !HAVE_GPU,
  async fn(t) {
    const cases: Array<{ name: string; model: RandomModelOptions; targets: string[] }> = [
      {
        name: "llama f16 + LoRA on q, v and MLP",
        model: { architecture: "llama", ...base, kvHeads: 2, dtype: "f16" },
        targets: ["q_proj", "v_proj", "down_proj"],
      },
      {
        name: "baichuan (fused W_pack split, NormHead) + LoRA on W_pack",
        model: { architecture: "baichuan", ...base, dtype: "bf16" },
        targets: ["W_pack", "o_proj"],
      },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        await using tmp = await tempDir();
        await writeRandomModel(`${tmp.dir}/m`, c.model);
        await writeRandomLora(`${tmp.dir}/a`, `${tmp.dir}/m`, { r: 2, alpha: 4, targets: c.targets });
        const held = await WebGpuEngine.create(await loadModel(`${tmp.dir}/m`, { lora: `${tmp.dir}/a` }), {
          device: await sharedGpuDevice(),
          contextSize: 32,
        });
        const streamed = await WebGpuEngine.load(`${tmp.dir}/m`, {
          device: await sharedGpuDevice(),
          lora: `${tmp.dir}/a`,
          contextSize: 32,
        });
        try {
          equal(streamed.weightBytes, held.weightBytes);
          const want = await held.createSession().forwardAll(PROMPT);
          const got = await streamed.createSession().forwardAll(PROMPT);
          equal(relDiff(got, want), 0);
        } finally {
          held.dispose();
          streamed.dispose();
        }
      });
    }
  },
});

Deno.test({
  name: "webgpu LoRA kept apart (y = W·x + s·B·(A·x)) equals the cpu engine's, on a 16-bit and a quantized base",
  ignore: !HAVE_GPU,
  async fn(t) {
    await using tmp = await tempDir();
    // Rows of 256: whole q8_0 blocks; rank 3 (odd: padded on the device).
    await writeRandomModel(`${tmp.dir}/m`, { architecture: "llama", ...base, hidden: 256, kvHeads: 2, dtype: "f16" });
    await writeRandomLora(`${tmp.dir}/a`, `${tmp.dir}/m`, {
      r: 3,
      alpha: 6,
      targets: ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
    });
    const lora = `${tmp.dir}/a`;
    const merged = await new CpuEngine(await loadModel(`${tmp.dir}/m`, { lora })).createSession().forwardAll(PROMPT);
    const plain = await new CpuEngine(await loadModel(`${tmp.dir}/m`)).createSession().forwardAll(PROMPT);
    ok(relDiff(plain, merged) > 1e-2, "the update changes the logits visibly");
    for (const quantize of [undefined, "q8_0"] as const) {
      await t.step(quantize ?? "f16", async () => {
        const apart = await loadModel(`${tmp.dir}/m`, { lora, loraMode: "separate", quantize });
        equal(apart.loraDeltas?.size, 2 * 6);
        const want = await new CpuEngine(apart).createSession().forwardAll(PROMPT);
        // Kept apart on a 16-bit base, the update is the merge's, up to rounding.
        if (!quantize) ok(relDiff(want, merged) < 1e-3, `cpu apart vs merged: ${relDiff(want, merged)}`);
        const gpu = await WebGpuEngine.create(apart, { device: await sharedGpuDevice(), contextSize: 32, maxBatch: 8 });
        try {
          const got = await gpu.createSession().forwardAll(PROMPT);
          ok(relDiff(got, want) < 1e-3, `webgpu vs cpu: ${relDiff(got, want)}`);
        } finally {
          gpu.dispose();
        }
      });
    }
  },
});

Deno.test({
  name:
    "webgpu attention: fused (default) and split (four dispatches a layer) give the same logits (±1e-4) in fewer dispatches",
  ignore: !HAVE_GPU,
  async fn(t) {
    const cases: Array<{ name: string; model: RandomModelOptions; kvCache?: "f16" }> = [
      { name: "llama GQA", model: { architecture: "llama", ...base, kvHeads: 2 } },
      { name: "llama GQA, f16 KV cache", model: { architecture: "llama", ...base, kvHeads: 2 }, kvCache: "f16" },
      { name: "baichuan ALiBi", model: CASES[4].model },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        await using tmp = await tempDir();
        await writeRandomModel(tmp.dir, c.model);
        const model = await loadModel(tmp.dir);
        const o = { device: await sharedGpuDevice(), contextSize: 96, maxBatch: 8, kvCache: c.kvCache };
        const fused = await WebGpuEngine.create(model, o);
        const split = await WebGpuEngine.create(model, { ...o, attention: "split" });
        try {
          equal(fused.attention, "fused");
          equal(split.attention, "split");
          const a = fused.createSession(), b = split.createSession();
          // Three prompt submits (8 tokens each), then decode steps past 64 keys (the workgroup's width).
          ok(relDiff(await a.forwardAll(PROMPT), await b.forwardAll(PROMPT)) < 1e-4, "prompt");
          for (let i = 0; i < 50; i++) {
            const id = (i * 37) % 320;
            const d = relDiff([await a.forward([id])], [await b.forward([id])]);
            ok(d < 1e-4, `decode at ${PROMPT.length + i}: ${d}`);
          }
          // Four dispatches a layer become one (three with ALiBi, which has no RoPE on the queries).
          const fewer = model.spec.position.kind === "rope" ? 3 : 2;
          equal(split.lastDispatches - fused.lastDispatches, fewer * model.spec.layers, "dispatches fewer a layer");
        } finally {
          fused.dispose();
          split.dispose();
        }
      });
    }
  },
});

Deno.test({
  name: "webgpu f16 KV cache: half the cache memory, logits as the cpu engine rounding its cache to f16 (±1e-3)",
  ignore: !HAVE_GPU,
  async fn(t) {
    const cases: Array<{ name: string; model: RandomModelOptions }> = [
      { name: "llama GQA (RoPE on the staged keys)", model: { architecture: "llama", ...base, kvHeads: 2 } },
      { name: "qwen2 with k/v biases", model: { architecture: "qwen2", ...base, kvHeads: 2, dtype: "bf16" } },
      { name: "baichuan ALiBi", model: { architecture: "baichuan", ...base, heads: 8 } },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        await using tmp = await tempDir();
        await writeRandomModel(tmp.dir, c.model);
        const model = await loadModel(tmp.dir);
        const cpu = new CpuEngine(model, { kvCache: "f16" }).createSession();
        const gpuEngine = await WebGpuEngine.create(model, {
          device: await sharedGpuDevice(),
          contextSize: 64,
          maxBatch: 8,
          kvCache: "f16",
        });
        try {
          equal(gpuEngine.kvCache, "f16");
          const gpu = gpuEngine.createSession();
          const want = await cpu.forwardAll(PROMPT);
          const got = await gpu.forwardAll(PROMPT);
          ok(relDiff(got, want) < 1e-3, `prefill: ${relDiff(got, want)}`);
          for (const id of [3, 150]) {
            const d = relDiff([await gpu.forward([id])], [await cpu.forward([id])]);
            ok(d < 1e-3, `decode: ${d}`);
          }
          // A fork copies the half-precision cache (half the bytes) and goes on from it.
          const fork = gpu.fork();
          const d = relDiff([await fork.forward([7])], [await cpu.fork().forward([7])]);
          ok(d < 1e-3, `fork: ${d}`);
          fork.dispose();
        } finally {
          gpuEngine.dispose();
        }
      });
    }
  },
});

Deno.test({
  name:
    "webgpu forwardBatch: batched decode (each weight read once for all sessions), each session's logits bit for bit its own step's",
  ignore: !HAVE_GPU,
  async fn(t) {
    const lengths = [19, 5, 1, 12];
    const k = { vocabSize: 320, hidden: 256, intermediate: 512, heads: 4, layers: 2, kvHeads: 2 };
    const both = ["cooperative", "rows"] as const;
    const variants: Array<{
      name: string;
      model: RandomModelOptions;
      quantize?: QuantPreset;
      lora?: boolean;
      options?: Parameters<typeof WebGpuEngine.create>[1];
      matmuls?: readonly ("cooperative" | "rows")[];
    }> = [
      ...CASES.slice(0, 3).map((c) => ({
        name: c.name,
        model: c.model,
        options: c.split ? { maxBindingBytes: 8192 } : {},
      })),
      { name: "llama q4_k_m (q4_k, q6_k)", model: { architecture: "llama", ...k }, quantize: "q4_k_m" },
      { name: "qwen2 q8_0 with biases", model: { architecture: "qwen2", ...k }, quantize: "q8_0" },
      {
        name: "f16 KV cache, GQA",
        model: { architecture: "llama", ...base, kvHeads: 2 },
        options: { kvCache: "f16" },
      },
      { name: "baichuan ALiBi, f16", model: CASES[4].model, matmuls: ["rows"] },
      {
        name: "LoRA kept apart on a q8_0 base",
        model: { architecture: "llama", ...k },
        quantize: "q8_0",
        lora: true,
      },
      {
        name: "more sessions than maxBatch (two passes of 3 and 1 in one submit)",
        model: { architecture: "llama", ...base, kvHeads: 2, dtype: "f16" },
        options: { maxBatch: 3 },
      },
      {
        name: "split attention (rope, attn_scores, softmax, attn_values)",
        model: { architecture: "llama", ...base, kvHeads: 2 },
        options: { attention: "split" },
        matmuls: ["rows"],
      },
      {
        name: "the tiled prefill kernel with matmul decode",
        model: { architecture: "llama", ...base, kvHeads: 2 },
        options: { prefillKernel: "tiled", decodeKernel: "matmul" },
        matmuls: ["cooperative"],
      },
      ...(int8DotAvailable()
        ? [{
          name: "int8Dot on q8_0",
          model: { architecture: "llama", ...k } as RandomModelOptions,
          quantize: "q8_0" as const,
          options: { int8Dot: true },
          matmuls: ["rows"] as const,
        }]
        : []),
    ];
    for (const c of variants) {
      for (const matmul of c.matmuls ?? both) {
        await t.step(`${c.name} (${matmul})`, async () => {
          await using tmp = await tempDir();
          await writeRandomModel(`${tmp.dir}/m`, c.model);
          if (c.lora) {
            await writeRandomLora(`${tmp.dir}/a`, `${tmp.dir}/m`, { r: 3, alpha: 6, targets: ["q_proj", "down_proj"] });
          }
          const model = await loadModel(`${tmp.dir}/m`, {
            quantize: c.quantize,
            ...(c.lora ? { lora: `${tmp.dir}/a`, loraMode: "separate" as const } : {}),
          });
          const engine = await WebGpuEngine.create(model, {
            device: await sharedGpuDevice(),
            contextSize: 32,
            matmul,
            ...c.options,
          });
          try {
            await checkBatchedSteps(engine, PROMPT, lengths, 320, async (step) => {
              const submits = engine.submits;
              const got = await step();
              equal(engine.submits, submits + 1, "one submit");
              return got;
            });
          } finally {
            engine.dispose();
          }
        });
      }
    }
  },
});
