/**
 * Sliding-window attention (Mistral 7B v0.1's `sliding_window`): read from `config.json` and
 * GGUF (Qwen2's own key is not applied); the oracle checked by an identity of one-layer models
 * (with one layer, position p's logits depend only on the window's tokens and their distances,
 * so they equal the logits of those tokens alone); the `cpu` engine's fast path and the WebGPU
 * engine (fused and split attention) against the oracle. The WebGPU part is skipped, visibly,
 * only where Deno finds no adapter.
 */

import { equal, ok, throws } from "node:assert/strict";
import {
  CpuEngine,
  exportGguf,
  loadModel,
  type Session,
  WasmEngine,
  webGpuAvailable,
  WebGpuEngine,
} from "../infer/mod.ts";
import { type RandomModelOptions, writeRandomModel } from "../infer/testing/mod.ts";
import { specFromConfig } from "../infer/model/architectures.ts";
import { relDiff, sharedGpuDevice, skipNotice, tempDir } from "./_shared.ts";

const HAVE_GPU = await webGpuAvailable();
if (!HAVE_GPU) skipNotice(import.meta.url, "the WebGPU sliding-window test", "no WebGPU adapter on this machine");

const W = 4;
const PROMPT = [1, 17, 200, 42, 99, 5, 260, 7, 8, 9, 10, 300];
const base = {
  architecture: "llama",
  vocabSize: 320,
  hidden: 64,
  intermediate: 96,
  heads: 4,
  kvHeads: 2,
  seed: 5,
} as const satisfies Partial<RandomModelOptions>;

Deno.test("sliding window: config.json and GGUF carry it; Qwen2's key is not applied", async () => {
  const mistral = {
    model_type: "mistral",
    vocab_size: 100,
    hidden_size: 8,
    intermediate_size: 16,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    rms_norm_eps: 1e-5,
    max_position_embeddings: 32768,
  };
  equal(specFromConfig({ ...mistral, sliding_window: 4096 }).slidingWindow, 4096);
  equal(specFromConfig({ ...mistral, sliding_window: null }).slidingWindow, undefined);
  equal(specFromConfig(mistral).slidingWindow, undefined);
  throws(() => specFromConfig({ ...mistral, sliding_window: 0 }, "config.json"), /sliding_window/);
  const qwen2 = { ...mistral, model_type: "qwen2", sliding_window: 32768, use_sliding_window: false };
  equal(specFromConfig(qwen2).slidingWindow, undefined);

  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, { ...base, layers: 1, slidingWindow: W });
  const model = await loadModel(tmp.dir);
  equal(model.spec.slidingWindow, W);
  const gguf = `${tmp.dir}/model.gguf`;
  await exportGguf(model, gguf, { dtype: "f32" });
  equal((await loadModel(gguf)).spec.slidingWindow, W);
});

Deno.test("sliding window: one layer's logits at each position are those of the window's tokens alone (oracle)", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(`${tmp.dir}/w`, { ...base, layers: 1, slidingWindow: W });
  await writeRandomModel(`${tmp.dir}/full`, { ...base, layers: 1 });
  const windowed = new CpuEngine(await loadModel(`${tmp.dir}/w`));
  const got = await windowed.createSession().forwardAll(PROMPT);
  for (let p = W - 1; p < PROMPT.length; p++) {
    const alone = await windowed.createSession().forwardAll(PROMPT.slice(p - W + 1, p + 1));
    const d = relDiff([got[p]], [alone[W - 1]]);
    ok(d < 1e-5, `position ${p}: ${d}`);
  }
  // The same weights without the window: equal while the window holds every key, then not.
  const full = await new CpuEngine(await loadModel(`${tmp.dir}/full`)).createSession().forwardAll(PROMPT);
  for (let p = 0; p < W; p++) ok(relDiff([full[p]], [got[p]]) < 1e-6, `position ${p}`);
  for (let p = W; p < PROMPT.length; p++) ok(relDiff([full[p]], [got[p]]) > 1e-3, `position ${p} ignores the window`);
});

/** Prompt logits, then three decoded tokens' logits, of a session. */
async function run(session: Session): Promise<Float32Array[]> {
  const out = await session.forwardAll(PROMPT);
  for (const id of [3, 150, 319]) out.push(await session.forward([id]));
  return out;
}

Deno.test("sliding window: the cpu engine's fast path and the WebGPU engine compute the oracle's logits", async (t) => {
  const models: [string, RandomModelOptions][] = [
    ["head width 16 (the attention kernels)", { ...base, layers: 2, slidingWindow: W }],
    ["head width 6 (the oracle's loop)", { ...base, hidden: 24, intermediate: 36, layers: 2, slidingWindow: 3 }],
  ];
  for (const [name, options] of models) {
    await using tmp = await tempDir();
    await writeRandomModel(tmp.dir, options);
    const model = await loadModel(tmp.dir);
    const want = await run(new CpuEngine(model).createSession());
    for (const threads of [1, 2]) {
      await t.step(`${name}: cpu, ${threads} thread(s)`, async () => {
        const engine = await WasmEngine.create(model, { contextSize: 64, threads });
        try {
          const d = relDiff(await run(engine.createSession()), want);
          ok(d < 1e-4, `${d}`);
        } finally {
          engine.dispose();
        }
      });
    }
    if (!HAVE_GPU || name.includes("width 6")) continue;
    for (const attention of ["fused", "split"] as const) {
      await t.step(`${name}: webgpu, ${attention} attention`, async () => {
        const engine = await WebGpuEngine.create(model, {
          device: await sharedGpuDevice(),
          contextSize: 64,
          maxBatch: 8,
          attention,
        });
        try {
          const d = relDiff(await run(engine.createSession()), want);
          ok(d < 1e-3, `${d}`);
        } finally {
          engine.dispose();
        }
      });
    }
  }
});
