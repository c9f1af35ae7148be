// The trainable model as a whole: its loss equals the inference engine's negative
// log-likelihood (base alone, and with the adapter it saves loaded by `--lora`), and its LoRA
// gradients equal central finite differences of its loss, for every family and target module.

import assert, { ok } from "node:assert";
import { loadModel, openEngine } from "../infer/mod.ts";
import { writeRandomModel } from "../infer/testing/mod.ts";
import { createLoraModel, exampleLoss, zeroGrads } from "../train/lora_model.ts";
import { loadAdapter, saveAdapter } from "../train/peft_adapter.ts";
import { EXAMPLE, FAMILIES, randomizeB } from "./_train_fixtures.ts";

/** The engine's summed NLL of the scored tokens. */
async function engineNll(dir: string, lora?: string): Promise<number> {
  const engine = await openEngine(dir, { engine: "cpu", lora });
  const session = engine.createSession();
  const logits = await session.forwardAll(EXAMPLE.ids);
  session.dispose();
  engine.dispose();
  let sum = 0;
  for (let t = EXAMPLE.promptLength - 1; t < EXAMPLE.ids.length - 1; t++) {
    const z = logits[t];
    const max = z.reduce((m, x) => Math.max(m, x), -Infinity);
    const logZ = max + Math.log(z.reduce((s, x) => s + Math.exp(x - max), 0));
    sum += logZ - z[EXAMPLE.ids[t + 1]];
  }
  return sum;
}

Deno.test("trainable model: loss = the engine's NLL; LoRA gradients = finite differences", async (t) => {
  for (const [label, family] of FAMILIES) {
    await t.step(label, async () => {
      const dir = await Deno.makeTempDir(), lora = await Deno.makeTempDir();
      try {
        await writeRandomModel(dir, { ...family, vocabSize: 40, hidden: 16, intermediate: 24, layers: 2 });
        const base = await loadModel(dir);
        const model = createLoraModel(base, { r: 2, alpha: 6, targets: ["all"], seed: 5 });
        const kinds = new Set(model.modules.map((m) => m.name.split(".").at(-1)));
        const want = family.architecture === "baichuan" ? 5 : 7;
        assert.equal(kinds.size, want, [...kinds].join());

        // B = 0: the base model's loss.
        const plain = exampleLoss(model, EXAMPLE).sum;
        const nll0 = await engineNll(dir);
        assert(Math.abs(plain - nll0) < 1e-4 * Math.abs(nll0), `base loss ${plain} vs engine ${nll0}`);

        // With B ≠ 0, saved as PEFT and loaded by the engine's --lora.
        randomizeB(model, 9);
        const adapted = exampleLoss(model, EXAMPLE).sum;
        await saveAdapter(lora, model.modules, { r: 2, alpha: 6, dropout: 0, targets: ["all"], baseModel: dir });
        const nll1 = await engineNll(dir, lora);
        assert(Math.abs(adapted - nll1) < 1e-4 * Math.abs(nll1), `adapted loss ${adapted} vs engine ${nll1}`);
        assert(Math.abs(adapted - plain) > 1e-3, "the adapter changes the loss");

        // The adapter read back computes the same loss.
        const again = await loadAdapter(lora, base);
        assert.equal(again.modules.length, model.modules.length);
        const back = exampleLoss({ ...model, modules: again.modules }, EXAMPLE).sum;
        assert(Math.abs(back - adapted) < 1e-5 * Math.abs(adapted), `${back} vs ${adapted}`);

        // Gradients against central differences, a few elements of each A and B.
        const grads = zeroGrads(model);
        const weight = 0.25;
        exampleLoss(model, EXAMPLE, { grads, weight });
        const eps = 1e-5;
        let worst = 0;
        model.modules.forEach((m, i) => {
          for (const [param, grad] of [[m.pair.a, grads.a[i]], [m.pair.b, grads.b[i]]]) {
            for (const j of [0, Math.floor(param.length / 2), param.length - 1]) {
              const keep = param[j];
              param[j] = keep + eps;
              const up = exampleLoss(model, EXAMPLE).sum;
              param[j] = keep - eps;
              const down = exampleLoss(model, EXAMPLE).sum;
              param[j] = keep;
              const numeric = weight * (up - down) / (2 * eps);
              worst = Math.max(worst, Math.abs(numeric - grad[j]) / Math.max(1e-3, Math.abs(numeric)));
            }
          }
        });
        assert(worst < 1e-5, `${label}: worst relative gradient error ${worst}`);
      } finally {
        await Deno.remove(dir, { recursive: true });
        await Deno.remove(lora, { recursive: true });
      }
    });
  }
});

Deno.test("QLoRA: on a quantized base the loss = the engine's on the same quantized weights; gradients = finite differences", async (t) => {
  for (const [quantize, hidden] of [["q8_0", 32], ["q4_k_m", 256]] as const) {
    await t.step(quantize, async () => {
      const dir = await Deno.makeTempDir();
      try {
        await writeRandomModel(dir, {
          architecture: "llama",
          vocabSize: 40,
          hidden,
          intermediate: hidden,
          layers: 1,
          heads: 2,
        });
        const base = await loadModel(dir, { quantize });
        ok(base.weights.layers[0].wq.dtype !== "f32", "the base is quantized");
        const model = createLoraModel(base, { r: 2, alpha: 4, targets: ["q_proj", "down_proj"], seed: 3 });
        const engine = await openEngine(dir, { engine: "cpu", quantize });
        const session = engine.createSession();
        const logits = await session.forwardAll(EXAMPLE.ids);
        engine.dispose();
        let nll = 0;
        for (let i = EXAMPLE.promptLength - 1; i < EXAMPLE.ids.length - 1; i++) {
          const z = logits[i], max = z.reduce((m, x) => Math.max(m, x), -Infinity);
          nll += max + Math.log(z.reduce((s, x) => s + Math.exp(x - max), 0)) - z[EXAMPLE.ids[i + 1]];
        }
        const loss = exampleLoss(model, EXAMPLE).sum;
        ok(Math.abs(loss - nll) < 1e-4 * nll, `${loss} vs ${nll}`);

        randomizeB(model, 4);
        const grads = zeroGrads(model);
        exampleLoss(model, EXAMPLE, { grads });
        const m = model.modules[1], eps = 1e-5;
        for (const [param, grad] of [[m.pair.a, grads.a[1]], [m.pair.b, grads.b[1]]]) {
          const keep = param[1];
          param[1] = keep + eps;
          const up = exampleLoss(model, EXAMPLE).sum;
          param[1] = keep - eps;
          const down = exampleLoss(model, EXAMPLE).sum;
          param[1] = keep;
          const numeric = (up - down) / (2 * eps);
          ok(Math.abs(numeric - grad[1]) < 1e-5 * Math.max(1e-3, Math.abs(numeric)), `${numeric} vs ${grad[1]}`);
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
});

Deno.test("activations kept or recomputed: the same gradients, bit for bit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeRandomModel(dir, {
      architecture: "qwen2",
      vocabSize: 40,
      hidden: 16,
      intermediate: 24,
      layers: 3,
      heads: 2,
    });
    const model = createLoraModel(await loadModel(dir), { r: 2, alpha: 4, targets: ["all"], seed: 2 });
    randomizeB(model, 3);
    const kept = zeroGrads(model), recomputed = zeroGrads(model);
    const a = exampleLoss(model, EXAMPLE, { grads: kept, dropout: 0.3, dropoutSeed: 9 });
    const b = exampleLoss(model, EXAMPLE, { grads: recomputed, dropout: 0.3, dropoutSeed: 9, activationBudget: 0 });
    assert.equal(a.sum, b.sum);
    assert.deepEqual(kept, recomputed);
    assert(kept.a.some((g) => g.some((x) => x !== 0)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
