/**
 * `deno task demo-infer`: every stage on the bundled data, with a tiny model the demo writes itself
 * (random weights): convert → prompt → infer (schema-constrained, and unconstrained for
 * comparison) → eval with the UNTRAINED model (its answers are noise — the point is the
 * pipeline); then `train` teaches it a small extraction task, and infer → eval shows what it
 * learned on held-out sentences, with and without the constraint; last, `extract` on a multi-page
 * document (chunked, every span located in the text).
 * It prints one short section per stage; the files it writes are in `.out/demo-infer/`.
 *
 * @module
 */

import { main } from "../cli.ts";
import { writeDemoModel } from "./demo_model.ts";
import { learnableNer } from "./learnable_ner.ts";
import { LEARNABLE_TRAINING } from "./demo_training.ts";

const root = new URL("../", import.meta.url).pathname;
const out = `${root}.out/demo-infer`;
await Deno.remove(out, { recursive: true }).catch(() => {});
await Deno.mkdir(`${out}/model`, { recursive: true });
const enc = new TextEncoder();
const print = (t: string) => Deno.stdout.writeSync(enc.encode(t));
const short = (path: string) => path.replaceAll(root, "");

/** Run one CLI command; show the command and what `show` keeps of its output. Stops the demo on failure. */
async function step(args: string[], show: (text: string) => string = (t) => t): Promise<string> {
  print(`$ iepile ${short(args.join(" "))}\n`);
  let text = "";
  const code = await main(args, { out: (t) => text += t, err: (t) => text += t });
  if (code !== 0) {
    print(text);
    print(`${args[0]} failed (exit ${code})\n`);
    Deno.exit(code);
  }
  const kept = short(show(text)).trimEnd();
  if (kept) print(kept.replace(/^/gm, "  ") + "\n");
  return text;
}

/** A predictions file's table cells: answers, valid JSON (count and share), F1 (IEPile's eval). Stops on failure. */
async function scores(pred: string, task: string): Promise<string> {
  let json = "";
  const code = await main(["eval", "--path1", pred, "--task", task, "--json"], { out: (t) => json += t, err: print });
  if (code !== 0) Deno.exit(code);
  const total = JSON.parse(json).total;
  const answers = (await Deno.readTextFile(pred)).trim().split("\n").length;
  const valid = answers - total["错误数"];
  return `${answers} | ${valid} (${(100 * valid / answers).toFixed(0)}%) | ${total.F1}`;
}

print("1. convert the bundled NER and RE samples into test instructions\n");
for (const task of ["NER", "RE"]) {
  await step([
    "convert",
    ...["--src_path", `${root}data/${task}/sample.json`, "--schema_path", `${root}data/${task}/schema.json`],
    ...["--tgt_path", `${out}/${task}_test.json`, "--task", task, "--language", "en", "--split", "test"],
    ...["--split_num", "3"],
  ]);
}

print("\n2. write the demo model: LLaMA architecture, 2 layers, RANDOM UNTRAINED weights, Mistral tokenizer\n");
await writeDemoModel(`${out}/model`);
print(`  ${short(out)}/model\n`);

print("\n3. the prompt the model sees for the first record (template llama2_zh, as OneKE)\n");
await step(
  ["prompt", "--input", `${out}/NER_test.json`, "--template", "llama2_zh", "--model", `${out}/model`, "--explain"],
  (t) => {
    const header = t.split("\n")[1] ?? ""; // "template … · N tokens · BOS … · stop: …"
    const text = t.slice(t.indexOf("text:\n") + 6, t.indexOf("\ntokens (")).trim();
    return `${header}\n${text}`;
  },
);

print("\n4. infer on the CPU engine: schema-constrained (default) and unconstrained (IEPile's behaviour)\n");
for (const task of ["NER", "RE"]) {
  for (const [name, extra] of [["pred", []], ["pred_free", ["--no-constrain"]]] as const) {
    await step([
      "infer",
      ...["--model", `${out}/model`, "--template", "llama2_zh", "--engine", "cpu"],
      ...["--input", `${out}/${task}_test.json`, "--output", `${out}/${task}_${name}.json`, "--max-new-tokens", "64"],
      ...extra,
    ]);
  }
}
const firstOutput = async (file: string) => JSON.parse((await Deno.readTextFile(file)).split("\n")[0]).output;
const clip = (s: string) => s.length > 70 ? `${s.slice(0, 70)}…` : s;
print(`  first constrained answer:   ${(await firstOutput(`${out}/NER_pred.json`)).trim()}\n`);
print(`  first unconstrained answer: ${clip(JSON.stringify(await firstOutput(`${out}/NER_pred_free.json`)))}\n`);

print("\n5. eval (IEPile's metrics; 'iepile eval --path1 FILE --task T' prints the full report)\n\n");
print("| task | decoding | answers | valid JSON | F1 |\n| --- | --- | ---: | ---: | ---: |\n");
for (const task of ["NER", "RE"]) {
  for (const [name, label] of [["pred", "constrained"], ["pred_free", "unconstrained"]]) {
    print(`| ${task} | ${label} | ${await scores(`${out}/${task}_${name}.json`, task)} |\n`);
  }
}
print(
  "\nThe model is untrained, so F1 is about 0 either way; with the constraint every answer is valid JSON with exactly\n" +
    "the asked keys, without it almost none is.\n",
);

print("\n6. train: LoRA fine-tuning teaches the demo model a small extraction task (en + zh; test sentences unseen)\n");
const learn = learnableNer();
await Deno.mkdir(`${out}/learn`, { recursive: true });
await Deno.writeTextFile(`${out}/learn/train.json`, learn.train);
await Deno.writeTextFile(`${out}/learn/test.json`, learn.test);
const t = LEARNABLE_TRAINING;
await step([
  "train",
  ...["--model_name_or_path", `${out}/model`, "--template", t.template, "--train_file", `${out}/learn/train.json`],
  ...["--output_dir", `${out}/learn/lora`, "--num_train_epochs", String(t.numTrainEpochs)],
  ...["--learning_rate", String(t.learningRate), "--per_device_train_batch_size", String(t.perDeviceTrainBatchSize)],
  ...["--lora_r", String(t.loraR), "--lora_alpha", String(t.loraAlpha), "--lora_dropout", String(t.loraDropout)],
  ...["--lora_target_modules", ...t.loraTargetModules],
], (text) => text.split("\n").filter((l) => l.startsWith("trained") || l.startsWith("train: LoRA")).join("\n"));

print("\n7. infer and eval on the held-out test sentences: untrained, then trained (constrained and not)\n\n");
print("| model | decoding | answers | valid JSON | F1 |\n| --- | --- | ---: | ---: | ---: |\n");
const runs: [string, string[]][] = [
  ["untrained", ["--model", `${out}/model`]],
  ["trained", ["--model", `${out}/model`, "--lora", `${out}/learn/lora`]],
  ["trained", ["--model", `${out}/model`, "--lora", `${out}/learn/lora`, "--no-constrain"]],
];
for (const [label, extra] of runs) {
  const pred = `${out}/learn/pred_${label}${extra.length > 4 ? "_free" : ""}.json`;
  const args = ["infer", ...extra, "--template", t.template, "--engine", "cpu", "--input", `${out}/learn/test.json`];
  let text = "";
  const code = await main([...args, "--output", pred, "--quiet"], { out: (x) => text += x, err: (x) => text += x });
  if (code !== 0) {
    print(text);
    Deno.exit(code);
  }
  const decoding = extra.includes("--no-constrain") ? "unconstrained" : "constrained";
  print(`| ${label} | ${decoding} | ${await scores(pred, "NER")} |\n`);
}
const firstTrained = JSON.parse((await Deno.readTextFile(`${out}/learn/pred_trained.json`)).split("\n")[0]);
print(`\n  ${JSON.parse(firstTrained.instruction).input} → ${firstTrained.output}\n`);
print("\n8. extract: a multi-page document and a schema in, grounded spans out (chunked, every span located)\n");
await Deno.mkdir(`${out}/extract`, { recursive: true });
await step([
  "extract",
  ...["--task", "NER", "--language", "en", "--schema", `${root}data/extract/ner_schema.json`],
  ...["--input", `${root}data/extract/report.txt`, "--output", `${out}/extract/report.jsonl`],
  ...["--html", `${out}/extract/report.html`, "--model", `${out}/model`, "--lora", `${out}/learn/lora`],
  ...["--template", t.template, "--engine", "cpu"],
  ...["--cutoff-len", "1024", "--max-new-tokens", "64", "--extractive"],
], (text) => text.split("\n").filter((l) => l.startsWith("extract") || l.includes("strings were")).join("\n"));
print(
  "  The demo model was trained on another instruction text, so these spans are noise; the chunks, requests and\n" +
    "  offsets are what a real model (OneKE, or an IEPile LoRA) gets.\n",
);
print("\nFiles are in .out/demo-infer/ (the adapter in .out/demo-infer/learn/lora/, the extract page in extract/).\n");
