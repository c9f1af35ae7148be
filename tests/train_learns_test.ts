/**
 * `train` teaches: the tiny random demo model, LoRA-trained on a simple extraction task in
 * IEPile's format (en and zh sentences, every test sentence unseen), extracts the held-out
 * entities through `infer --lora` and `eval` with F1 ≥ 0.9 in each language, where the untrained
 * model scores about 0.
 */

import { equal, ok } from "node:assert/strict";
import { evaluateFile } from "../eval/mod.ts";
import { learnableNer } from "../scripts/learnable_ner.ts";
import { writeDemoModel } from "../scripts/demo_model.ts";
import { LEARNABLE_TRAINING } from "../scripts/demo_training.ts";
import { train, TRAIN_DEFAULTS } from "../train/mod.ts";
import { runCli, tempDir } from "./_shared.ts";

/** F1 (percent) per source of a prediction file. */
async function f1BySource(pred: string): Promise<Record<string, number>> {
  const report = await evaluateFile(pred, { task: "NER" });
  const f1: Record<string, number> = {};
  for (const c of report.categories) {
    const { tp, pred: p, gold } = c.strict.main;
    f1[c.name] = p + gold === 0 ? 0 : 200 * tp / (p + gold);
  }
  return f1;
}

Deno.test({
  name: "train: the tiny demo model learns a held-out extraction task (F1 ≥ 0.9 in en and zh; untrained ≈ 0)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using tmp = await tempDir();
    const model = `${tmp.dir}/model`;
    await Deno.mkdir(model);
    await writeDemoModel(model);
    const data = learnableNer();
    await Deno.writeTextFile(`${tmp.dir}/train.json`, data.train);
    await Deno.writeTextFile(`${tmp.dir}/test.json`, data.test);

    const predict = async (lora: string[], out: string) => {
      const r = await runCli([
        "infer",
        ...["--model", model, ...lora, "--template", LEARNABLE_TRAINING.template, "--engine", "cpu"],
        ...["--input", `${tmp.dir}/test.json`, "--output", out, "--quiet"],
      ]);
      equal(r.code, 0, r.stderr);
      return await f1BySource(out);
    };
    const before = await predict([], `${tmp.dir}/before.json`);

    const result = await train({
      ...TRAIN_DEFAULTS,
      ...LEARNABLE_TRAINING,
      modelNameOrPath: model,
      trainFile: `${tmp.dir}/train.json`,
      outputDir: `${tmp.dir}/lora`,
    });
    ok(result.loss < 0.1, `final loss ${result.loss}`);
    const after = await predict(["--lora", `${tmp.dir}/lora`], `${tmp.dir}/after.json`);
    for (const source of ["en", "zh"]) {
      ok(before[source] < 10, `untrained ${source}: F1 ${before[source]}`);
      ok(after[source] >= 90, `trained ${source}: F1 ${after[source]} (untrained ${before[source]})`);
    }
  },
});
