/**
 * `deno task demo-infer`: every stage on the bundled data, with a tiny UNTRAINED model the demo
 * writes itself (random weights; its answers are noise — the point is the pipeline):
 * convert → prompt → infer (schema-constrained, and unconstrained for comparison) → eval.
 *
 * @module
 */

import { main } from "../cli.ts";
import { writeDemoModel } from "./demo_model.ts";

const root = new URL("../", import.meta.url).pathname;
const out = `${root}.out/demo-infer`;
await Deno.remove(out, { recursive: true }).catch(() => {});
await Deno.mkdir(`${out}/model`, { recursive: true });
const enc = new TextEncoder();
const print = (t: string) => Deno.stdout.writeSync(enc.encode(t));
const io = { out: print, err: print };
const step = async (title: string, args: string[]) => {
  print(`\n$ iepile ${args.join(" ").replaceAll(root, "")}\n`);
  const code = await main(args, io);
  if (code !== 0) {
    print(`${title} failed (exit ${code})\n`);
    Deno.exit(code);
  }
};

print("1. convert the bundled NER and RE samples into test instructions\n");
for (const [task, splitNum] of [["NER", "3"], ["RE", "3"]]) {
  await step("convert", [
    "convert",
    ...["--src_path", `${root}data/${task}/sample.json`, "--schema_path", `${root}data/${task}/schema.json`],
    ...[
      "--tgt_path",
      `${out}/${task}_test.json`,
      "--task",
      task,
      "--language",
      "en",
      "--split",
      "test",
      "--split_num",
      splitNum,
    ],
  ]);
}

print(
  "\n2. write the demo model: LLaMA architecture, 2 layers, RANDOM UNTRAINED weights, Mistral tokenizer (512 tokens)\n",
);
await writeDemoModel(`${out}/model`);

print("\n3. the prompt the model sees (template llama2_zh, as OneKE), token by token\n");
await step("prompt", [
  "prompt",
  ...["--input", `${out}/NER_test.json`, "--template", "llama2_zh", "--model", `${out}/model`, "--explain"],
]);

print("\n4. infer on the CPU engine: schema-constrained (default) and unconstrained (IEPile's behaviour)\n");
for (const task of ["NER", "RE"]) {
  for (const [name, extra] of [["pred", []], ["pred_free", ["--no-constrain"]]] as const) {
    await step("infer", [
      "infer",
      ...["--model", `${out}/model`, "--template", "llama2_zh", "--engine", "cpu"],
      ...["--input", `${out}/${task}_test.json`, "--output", `${out}/${task}_${name}.json`, "--max-new-tokens", "64"],
      ...extra,
    ]);
  }
}
const first = JSON.parse((await Deno.readTextFile(`${out}/NER_pred.json`)).split("\n")[0]);
print(`\nfirst constrained answer: ${first.output}\n`);
const free = JSON.parse((await Deno.readTextFile(`${out}/NER_pred_free.json`)).split("\n")[0]);
print(`first unconstrained answer: ${JSON.stringify(free.output)}\n`);

print("\n5. eval (IEPile's metrics)\n");
await step("eval", ["eval", "--path1", `${out}/NER_pred.json`, "--task", "NER"]);
print(
  "\nvalid JSON and F1, constrained vs unconstrained (IEPile's 错误数 counts answers that are not valid JSON):\n\n",
);
print("| task | decoding | answers | valid JSON | F1 |\n| --- | --- | ---: | ---: | ---: |\n");
for (const task of ["NER", "RE"]) {
  for (const [name, label] of [["pred", "constrained"], ["pred_free", "unconstrained"]]) {
    let json = "";
    const code = await main(["eval", "--path1", `${out}/${task}_${name}.json`, "--task", task, "--json"], {
      out: (t) => json += t,
      err: print,
    });
    if (code !== 0) Deno.exit(code);
    const total = JSON.parse(json).total;
    const answers = (await Deno.readTextFile(`${out}/${task}_${name}.json`)).trim().split("\n").length;
    const valid = answers - total["错误数"];
    print(`| ${task} | ${label} | ${answers} | ${valid} (${(100 * valid / answers).toFixed(0)}%) | ${total.F1} |\n`);
  }
}
print(
  "\nThe model is untrained, so F1 is about 0 either way; with the constraint every answer is valid JSON with exactly\n" +
    "the asked keys, without it almost none is. Files are in .out/demo-infer/.\n",
);
