/**
 * `train` as a user meets it: the loss it reports equals the mean negative log-likelihood
 * llama.cpp (node-llama-cpp@3.21.1) computes for the same target tokens on the merged GGUF
 * export, before and after training; a run stopped and started again ends with the same adapter,
 * bit for bit, as an uninterrupted run, with each step logged once; the adapter loads in `infer
 * --lora`; bad input is one line before any work.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { writeRandomLora } from "../infer/testing/mod.ts";
import { type LogEntry, train, type TrainSettings } from "../train/mod.ts";
import { runCli, tempDir } from "./_shared.ts";
import { writeDemoModel } from "../scripts/demo_model.ts";
import { checkTrainLossAgainstLlamaCpp, RECORDS, smallRun, writeTrainModel } from "./_train_fixtures.ts";

Deno.test({
  name: "train: the reported loss = llama.cpp's mean NLL on the merged GGUF (±1e-3), before and after training",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await checkTrainLossAgainstLlamaCpp(["--quiet"]);
  },
});

Deno.test("train: stopped and started again = uninterrupted, bit for bit; each step logged once", async () => {
  await using tmp = await tempDir();
  const model = `${tmp.dir}/m`;
  await writeTrainModel(model, 16);
  await Deno.writeTextFile(`${tmp.dir}/train.json`, RECORDS.join("\n") + "\n");
  const settings = (outputDir: string): TrainSettings => smallRun(model, `${tmp.dir}/train.json`, outputDir);
  const whole = await train(settings(`${tmp.dir}/a`));
  equal(whole.steps, 6);

  // Stopped after step 4 (checkpoint at step 3, the first epoch's end); then a kill's leftovers:
  // a half-written checkpoint and a log line cut short.
  const b = `${tmp.dir}/b`;
  const stop = new AbortController();
  const first = await train(settings(b), { signal: stop.signal, onProgress: (p) => p.step === 4 && stop.abort() });
  ok(first.stopped && first.steps === 4);
  await Deno.mkdir(`${b}/.checkpoint-5.partial`);
  await Deno.writeTextFile(`${b}/trainer_log.jsonl`, '{"step":5,"epo', { append: true });
  const messages: string[] = [];
  const again = await train(settings(b), { onMessage: (m) => messages.push(m) });
  equal(again.resumedFrom, 3);
  ok(messages.some((m) => m.startsWith("resuming from")), messages.join("\n"));

  for (const f of ["adapter_model.safetensors", "adapter_config.json"]) {
    deepEqual(await Deno.readFile(`${b}/${f}`), await Deno.readFile(`${tmp.dir}/a/${f}`), f);
  }
  const steps = async (dir: string) =>
    (await Deno.readTextFile(`${dir}/trainer_log.jsonl`)).trim().split("\n").map((l) => {
      const { step, loss, grad_norm, learning_rate } = JSON.parse(l) as LogEntry;
      return { step, loss, grad_norm, learning_rate };
    });
  deepEqual(await steps(b), await steps(`${tmp.dir}/a`));
  deepEqual((await steps(b)).map((e) => e.step), [1, 2, 3, 4, 5, 6]);

  // Other settings in the same folder: refused, not mixed.
  const other = await train({ ...settings(b), learningRate: 2e-2 }).catch((e) => e);
  ok(String(other).includes("learning_rate") && String(other).includes("--overwrite_output_dir"), String(other));
});

Deno.test("train: killed mid-run and run again with the same command ends with the same adapter", async () => {
  await using tmp = await tempDir();
  const model = `${tmp.dir}/m`;
  await writeTrainModel(model, 64);
  await Deno.writeTextFile(`${tmp.dir}/train.json`, RECORDS.join("\n") + "\n");
  const args = (out: string) => [
    "run",
    "-A",
    new URL("../mod.ts", import.meta.url).pathname,
    "train",
    ...["--model_name_or_path", model, "--template", "qwen", "--train_file", `${tmp.dir}/train.json`],
    ...["--output_dir", out, "--per_device_train_batch_size", "1", "--num_train_epochs", "3", "--save_steps", "1"],
    ...["--lora_r", "2", "--learning_rate", "1e-2", "--quiet"],
  ];
  const run = (out: string) => new Deno.Command(Deno.execPath(), { args: args(out), stdout: "null", stderr: "piped" });
  const whole = await run(`${tmp.dir}/a`).output();
  equal(whole.code, 0, new TextDecoder().decode(whole.stderr));

  const b = `${tmp.dir}/b`;
  const child = run(b).spawn();
  const seen = async () =>
    (await Array.fromAsync(Deno.readDir(b)).catch(() => [])).some((e) => e.name === "checkpoint-2");
  while (!await seen()) await new Promise((r) => setTimeout(r, 5));
  child.kill("SIGKILL");
  const killed = await child.output();
  ok(killed.code !== 0, "the run was killed before it ended");
  const resumed = await run(b).output();
  equal(resumed.code, 0, new TextDecoder().decode(resumed.stderr));
  deepEqual(
    await Deno.readFile(`${b}/adapter_model.safetensors`),
    await Deno.readFile(`${tmp.dir}/a/adapter_model.safetensors`),
  );
  const steps = (await Deno.readTextFile(`${b}/trainer_log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l).step);
  deepEqual(steps, Array.from({ length: 18 }, (_, i) => i + 1));
});

Deno.test("train: bad input is one line, before any work", async (t) => {
  await using tmp = await tempDir();
  const model = `${tmp.dir}/m`;
  await writeTrainModel(model, 16);
  const good = `${tmp.dir}/train.json`;
  await Deno.writeTextFile(good, RECORDS.join("\n") + "\n");
  const test = `${tmp.dir}/test.json`;
  await Deno.writeTextFile(test, JSON.stringify({ id: "1", instruction: "q", label: "[]" }) + "\n");
  const base = ["train", "--model_name_or_path", model, "--output_dir", `${tmp.dir}/out`];
  const cases: [string, string[], number, string][] = [
    ["a test split", ["--template", "qwen", "--train_file", test], 1, `${test}:1: field \`output\`: missing`],
    ["a template the tokenizer lacks", ["--template", "baichuan2", "--train_file", good], 1, "--template baichuan2"],
    [
      "a target the model lacks",
      ["--template", "qwen", "--train_file", good, "--lora_target_modules", "W_pack"],
      1,
      '"W_pack"',
    ],
    [
      "a zero learning rate",
      ["--template", "qwen", "--train_file", good, "--learning_rate", "0"],
      2,
      "--learning_rate",
    ],
    [
      "a zero batch",
      ["--template", "qwen", "--train_file", good, "--per_device_train_batch_size", "0"],
      2,
      "batch_size",
    ],
    ["an unknown template", ["--template", "nope", "--train_file", good], 2, "nope"],
    [
      "an adapter of another model",
      [
        ...["--template", "qwen", "--train_file", good, "--checkpoint_dir", `${tmp.dir}/other-lora`],
      ],
      1,
      "other-lora",
    ],
  ];
  await writeTrainModel(`${tmp.dir}/other`, 32);
  await writeRandomLora(`${tmp.dir}/other-lora`, `${tmp.dir}/other`, { r: 2, alpha: 4, targets: ["q_proj"] });
  for (const [label, args, code, says] of cases) {
    await t.step(label, async () => {
      const r = await runCli([...base, ...args]);
      equal(r.code, code, r.stderr);
      equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      ok(r.stderr.includes(says), r.stderr);
      ok(!(await Deno.stat(`${tmp.dir}/out`).catch(() => undefined)), "nothing written");
    });
  }
});

Deno.test({
  name: "train: convert --split train → train → infer --lora → eval, end to end on the bundled NER sample",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using tmp = await tempDir();
    const root = new URL("../", import.meta.url).pathname;
    const model = `${tmp.dir}/model`;
    await Deno.mkdir(model);
    await writeDemoModel(model);
    const sample = ["--src_path", `${root}data/NER/sample.json`, "--schema_path", `${root}data/NER/schema.json`];
    for (const split of ["train", "test"]) {
      const c = await runCli([
        "convert",
        ...sample,
        ...["--tgt_path", `${tmp.dir}/${split}.json`, "--task", "NER", "--language", "en", "--split", split],
      ]);
      equal(c.code, 0, c.stderr);
    }
    const t = await runCli([
      "train",
      ...["--model_name_or_path", model, "--template", "llama2_zh", "--train_file", `${tmp.dir}/train.json`],
      ...["--output_dir", `${tmp.dir}/lora`, "--num_train_epochs", "1", "--per_device_train_batch_size", "4"],
      ...["--learning_rate", "1e-3", "--quiet"],
    ]);
    equal(t.code, 0, t.stderr);
    ok(/^trained 3 steps on 12 examples: loss \d/.test(t.stdout), t.stdout);
    const i = await runCli([
      "infer",
      ...["--model", model, "--lora", `${tmp.dir}/lora`, "--template", "llama2_zh", "--engine", "cpu"],
      ...["--input", `${tmp.dir}/test.json`, "--output", `${tmp.dir}/pred.json`, "--max-new-tokens", "16", "--quiet"],
    ]);
    equal(i.code, 0, i.stderr);
    const e = await runCli(["eval", "--path1", `${tmp.dir}/pred.json`, "--task", "NER", "--json"]);
    equal(e.code, 0, e.stderr);
    ok("F1" in JSON.parse(e.stdout).total, e.stdout);
  },
});

Deno.test("train: a GGUF base (our export of the folder) trains the same adapter as the folder", async () => {
  await using tmp = await tempDir();
  const model = `${tmp.dir}/m`;
  await writeTrainModel(model, 16);
  await Deno.writeTextFile(`${tmp.dir}/train.json`, RECORDS.join("\n") + "\n");
  const g = await runCli(["export-gguf", "--model", model, "--out", `${tmp.dir}/m.gguf`, "--dtype", "f32"]);
  equal(g.code, 0, g.stderr);
  const args = ["--template", "qwen", "--train_file", `${tmp.dir}/train.json`, "--num_train_epochs", "1", "--quiet"];
  for (const [base, out] of [[model, "a"], [`${tmp.dir}/m.gguf`, "b"]]) {
    const r = await runCli(["train", "--model_name_or_path", base, "--output_dir", `${tmp.dir}/${out}`, ...args]);
    equal(r.code, 0, r.stderr);
  }
  deepEqual(
    await Deno.readFile(`${tmp.dir}/b/adapter_model.safetensors`),
    await Deno.readFile(`${tmp.dir}/a/adapter_model.safetensors`),
  );
});
