/**
 * Dispatches per decode step of the WebGPU engine with the `matvec` decode kernel (what GPUs
 * get): at most 6 per layer for one session (the norms folded into the products after them;
 * Q/K/V, gate/up/SwiGLU, the cache append and the attention one dispatch each), and in a
 * batched step at most 4 per layer for all sessions together plus 2 per layer for each session.
 * Counted as the difference between models of 2 and 3 layers (and 1 and 2 sessions), so the
 * embedding and the logits do not enter. Each step's result is checked in the other test files.
 */

import { ok } from "node:assert/strict";
import { loadModel, webGpuAvailable, WebGpuEngine } from "../infer/mod.ts";
import { type RandomModelOptions, writeRandomModel } from "../infer/testing/mod.ts";
import type { QuantPreset } from "../infer/formats/quant_preset.ts";
import { sharedGpuDevice, skipNotice, tempDir } from "./_shared.ts";

const HAVE_GPU = await webGpuAvailable();
if (!HAVE_GPU) skipNotice(import.meta.url, "the WebGPU dispatch counts", "no WebGPU adapter on this machine");

const PROMPT = [1, 17, 200, 42, 99];
const shape = { vocabSize: 320, hidden: 256, intermediate: 512, heads: 4, kvHeads: 2, layers: 2 };

/** Dispatches of one decode step and of batched steps of 1 and 2 sessions, for a model of `layers` layers. */
async function count(
  model: RandomModelOptions,
  layers: number,
  quantize?: QuantPreset,
): Promise<{ single: number; batch1: number; batch2: number }> {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, { ...model, layers });
  const engine = await WebGpuEngine.create(await loadModel(tmp.dir, { quantize }), {
    device: await sharedGpuDevice(),
    contextSize: 16,
    matmul: "cooperative",
    decodeKernel: "matvec",
  });
  try {
    const [a, b] = [engine.createSession(), engine.createSession()];
    await a.forward(PROMPT);
    await b.forward(PROMPT);
    await a.forward([3]);
    const single = engine.lastDispatches;
    await engine.forwardBatch([{ session: a, token: 4 }]);
    const batch1 = engine.lastDispatches;
    await engine.forwardBatch([{ session: a, token: 5 }, { session: b, token: 6 }]);
    return { single, batch1, batch2: engine.lastDispatches };
  } finally {
    engine.dispose();
  }
}

Deno.test({
  name: "webgpu dispatches: a decode step ≤ 6 per layer; a batched step ≤ 4 per layer + 2 per layer and session",
  ignore: !HAVE_GPU,
  async fn(t) {
    // One model: the counts do not depend on the weights' format (the fused kernels' results are
    // checked for every format in infer_webgpu_test.ts); every model here costs its shaders' compile.
    const cases: Array<{ name: string; model: RandomModelOptions; quantize?: QuantPreset }> = [
      { name: "llama f16, RoPE, GQA", model: { architecture: "llama", ...shape, dtype: "f16" } },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        const two = await count(c.model, 2, c.quantize);
        const three = await count(c.model, 3, c.quantize);
        const perLayer = three.single - two.single;
        ok(perLayer <= 6, `${perLayer} dispatches per layer`);
        const perSession = (three.batch2 - three.batch1) - (two.batch2 - two.batch1);
        const shared = (three.batch1 - two.batch1) - perSession;
        ok(perSession <= 2, `${perSession} dispatches per layer and session`);
        ok(shared <= 4, `${shared} dispatches per layer for all sessions`);
      });
    }
  },
});
