/**
 * Inference speed on a ~150M-parameter random-weight Llama (hidden 1024, 8 layers, 16 heads,
 * MLP 2816, vocabulary 32,000; `--shape 1b`: a 1.1B one, hidden 2048, 22 layers, MLP 5632) in
 * each weight format (f32, f16 and the quantization presets, `--formats f32,q4_k_m,...`):
 * prefill and decode tokens/s of the `cpu` and `webgpu` engines and of llama.cpp
 * (`node-llama-cpp@3.21.1`, one thread, F32 KV cache) on the same weights (the quantized ones
 * exported to GGUF in the same blocks our engines run), printed as ratios to llama.cpp from one
 * run, with the bytes of weights read per decoded token; then where the WebGPU time goes per
 * kernel role (timestamp queries) and the dispatches recorded per decoded token. For `q8_0` and
 * `q4_0`, also the WebGPU engine with 8-bit activations (`int8Dot`, `dot4I8Packed`), where the
 * adapter has it.
 *
 * The models are written to a temporary folder (never into the repository) and removed at the
 * end. Run: `deno bench -A bench/infer_bench.ts [-- --formats f32,f16,q8_0,q4_k_m] [--shape 1b]`
 * (a few minutes; WebGPU runs on whatever adapter Deno finds, here the software one, and is left
 * out where there is none).
 *
 * @module
 */

import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import {
  CpuEngine,
  exportGguf,
  type LoadedModel,
  loadModel,
  parameterCount,
  type Session,
  webGpuAvailable,
  WebGpuEngine,
} from "../infer/mod.ts";
import { writeRandomModel } from "../infer/testing/mod.ts";
import type { QuantPreset } from "../infer/formats/quant_preset.ts";
import { weightRowBytes, type WeightTensor } from "../infer/formats/quant_tensor.ts";
import { int8DotAvailable } from "../infer/engine/webgpu/kernels/int8_dot.ts";

const argValue = (name: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
};
const FORMATS = (argValue("formats") ?? "f32,f16,q8_0,q4_k_m").split(",") as QuantPreset[];

const PREFILL = 32;
const DECODE = 16;
const SHAPE = argValue("shape") === "1b"
  ? { architecture: "llama", vocabSize: 32000, hidden: 2048, intermediate: 5632, layers: 22, heads: 32 } as const
  : { architecture: "llama", vocabSize: 32000, hidden: 1024, intermediate: 2816, layers: 8, heads: 16 } as const;

/** Bytes of weights a decoded token reads: every matrix once, but one row of the embedding. */
function bytesPerToken(model: LoadedModel): number {
  const w = model.weights;
  const bytes = (t: WeightTensor) => t.shape[0] * weightRowBytes(t);
  let n = weightRowBytes(w.embed) + bytes(w.output);
  for (const l of w.layers) for (const m of [l.wq, l.wk, l.wv, l.wo, l.w1, l.w2, l.w3]) n += bytes(m);
  return n;
}
const prompt = Array.from({ length: PREFILL }, (_, i) => (i * 7919 + 13) % SHAPE.vocabSize);

interface Speed {
  prefill: number; // tokens/s
  decode: number; // tokens/s
}

async function timeSession(session: Session): Promise<Speed> {
  let t0 = performance.now();
  let next = await session.forwardGreedy(prompt);
  const prefill = PREFILL / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  for (let i = 0; i < DECODE; i++) next = await session.forwardGreedy([next]);
  return { prefill, decode: DECODE / ((performance.now() - t0) / 1000) };
}

async function timeLlamaCpp(path: string): Promise<Speed> {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize: 256,
    threads: 1,
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
  });
  const seq = context.getSequence();
  try {
    let t0 = performance.now();
    const res = await seq.controlledEvaluate(
      prompt.map((t, i) => i === PREFILL - 1 ? [t as Token, { generateNext: { token: true } }] : t as Token),
    );
    const prefill = PREFILL / ((performance.now() - t0) / 1000);
    let next = res[PREFILL - 1]!.next.token!;
    t0 = performance.now();
    for (let i = 0; i < DECODE; i++) {
      const [r] = await seq.controlledEvaluate([[next, { generateNext: { token: true } }]]);
      next = r!.next.token!;
    }
    return { prefill, decode: DECODE / ((performance.now() - t0) / 1000) };
  } finally {
    await seq.dispose(); // before its context
    await context.dispose();
    await model.dispose();
  }
}

const dir = await Deno.makeTempDir({ prefix: "iepile-infer-bench-" });
const lines: string[] = [];
const say = (s: string) => {
  lines.push(s);
  console.log(s);
};
const gpuOk = await webGpuAvailable();
const INT8_DOT = int8DotAvailable();
const benchEngines: { name: string; session: Session; length: number }[] = [];
try {
  const source = `${dir}/f32`;
  await writeRandomModel(source, { ...SHAPE, dtype: "f32", seed: 1 });
  for (const dtype of FORMATS) {
    const plain = dtype === "f32" || dtype === "f16" || dtype === "bf16";
    const folder = plain ? `${dir}/${dtype}` : source;
    if (plain && dtype !== "f32") await writeRandomModel(folder, { ...SHAPE, dtype, seed: 1 });
    const model: LoadedModel = await loadModel(folder, { quantize: plain ? undefined : dtype });
    if (dtype === FORMATS[0]) {
      say(
        `model: random llama, ${(parameterCount(model.spec) / 1e6).toFixed(0)}M parameters, ` +
          `prompt ${PREFILL} tokens, ${DECODE} decoded (greedy)`,
      );
    }
    const gguf = `${dir}/model-${dtype}.gguf`;
    // The GGUF of a quantized model holds the same blocks: quantized from the same f32 values.
    await exportGguf(plain ? model : await loadModel(source), gguf, { dtype, tokenizer: null });
    const ref = await timeLlamaCpp(gguf);
    const cpu = await timeSession(new CpuEngine(model, { contextSize: 256 }).createSession());
    let gpu: Speed | undefined;
    let gpuInt8: Speed | undefined;
    let profileText = "";
    if (gpuOk) {
      const engine = await WebGpuEngine.create(model, { contextSize: 256, maxBatch: 32, profile: true });
      engine.profiling = false;
      await timeSession(engine.createSession()); // compile and warm up
      gpu = await timeSession(engine.createSession());
      const dispatches = engine.lastDispatches;
      engine.profiling = true;
      engine.resetProfile();
      const s = engine.createSession();
      let next = await s.forwardGreedy(prompt);
      engine.resetProfile();
      for (let i = 0; i < 4; i++) next = await s.forwardGreedy([next]);
      const p = engine.profile();
      const total = Object.values(p.ms).reduce((a, b) => a + b, 0);
      profileText =
        `  webgpu decode, GPU time per token by kernel role (${dispatches} dispatches, 1 submit, 4-byte readback):\n` +
        Object.entries(p.ms).sort((a, b) => b[1] - a[1]).map(([role, ms]) =>
          `    ${role.padEnd(12)} ${(ms / p.steps).toFixed(2).padStart(8)} ms  ${
            (100 * ms / total).toFixed(1).padStart(5)
          }%  ` +
          `(${p.dispatches[role] / p.steps} dispatches)`
        ).join("\n");
      engine.profiling = false;
      benchEngines.push({ name: `webgpu ${dtype}`, session: engine.createSession(), length: 0 });
      if ((dtype === "q8_0" || dtype === "q4_0") && INT8_DOT) {
        // The same weights with activations rounded to 8 bits and multiplied with dot4I8Packed.
        const i8 = await WebGpuEngine.create(model, { contextSize: 256, maxBatch: 32, int8Dot: true });
        await timeSession(i8.createSession()); // compile and warm up
        gpuInt8 = await timeSession(i8.createSession());
        i8.dispose();
      }
    }
    benchEngines.push({ name: `cpu ${dtype}`, session: new CpuEngine(model).createSession(), length: 0 });
    const row = (name: string, s: Speed) =>
      `  ${name.padEnd(10)} prefill ${s.prefill.toFixed(1).padStart(7)} tok/s (${
        (s.prefill / ref.prefill).toFixed(3)
      }× llama.cpp)` +
      `   decode ${s.decode.toFixed(2).padStart(6)} tok/s (${(s.decode / ref.decode).toFixed(3)}× llama.cpp)`;
    say(`${dtype} weights: ${(bytesPerToken(model) / 1e6).toFixed(1)} MB read per decoded token`);
    say(row("llama.cpp", ref));
    say(row("cpu", cpu));
    if (gpu) say(row("webgpu", gpu));
    if (gpuInt8) say(row("webgpu i8", gpuInt8));
    else say("  webgpu     no adapter here: not measured");
    if (profileText) say(profileText);
  }
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

// Per-token decode as deno bench measures it (the session is rewound to the prompt each time).
for (const e of benchEngines) {
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
