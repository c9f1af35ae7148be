/**
 * `deno task demo`: convert the bundled samples of every task, in both instruction languages,
 * into training and test instructions under `.out/demo/`, and show what came out.
 *
 * @module
 */

import { main } from "../cli.ts";
import { formatStats, statsFile } from "../convert/stats.ts";
import { TASKS } from "../convert/instructions.ts";

const root = new URL("../", import.meta.url).pathname;
const outDir = `${root}.out/demo`;
await Deno.mkdir(outDir, { recursive: true });

const SPLIT_NUM: Record<string, string> = { NER: "6", RE: "4", SPO: "4", EE: "4", EET: "4", EEA: "4", KG: "1" };
const quietIo = { out: () => {}, err: (t: string) => Deno.stderr.writeSync(new TextEncoder().encode(t)) };

console.log(`Converting data/<TASK>/sample.json for ${TASKS.join(", ")} (zh and en, train and test) into .out/demo/\n`);
const count = async (path: string) => (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "").length;
for (const task of ["NER", "RE", "SPO", "EE", "EET", "EEA", "KG"]) {
  const counts: string[] = [];
  for (const language of ["en", "zh"]) {
    for (const split of ["train", "test"]) {
      const tgt = `${outDir}/${task}.${language}.${split}.json`;
      const code = await main([
        "convert",
        ...["--src_path", `${root}data/${task}/sample.json`, "--schema_path", `${root}data/${task}/schema.json`],
        ...["--tgt_path", tgt, "--task", task, "--language", language, "--split", split],
        ...["--split_num", SPLIT_NUM[task], "--quiet"],
      ], quietIo);
      if (code !== 0) Deno.exit(code);
      counts.push(`${language} ${split} ${await count(tgt)}`);
    }
  }
  const first = JSON.parse((await Deno.readTextFile(`${outDir}/${task}.en.train.json`)).split("\n")[0]);
  const inner = JSON.parse(first.instruction);
  console.log(`${task.padEnd(4)} instructions: ${counts.join(", ")} (--split_num ${SPLIT_NUM[task]})`);
  console.log(`     schema ${JSON.stringify(inner.schema)}`);
  console.log(`     input  ${JSON.stringify(inner.input)}`);
  console.log(`     output ${first.output}\n`);
}
console.log(formatStats(await statsFile(`${outDir}/NER.en.train.json`), ".out/demo/NER.en.train.json"));

console.log("\nScoring the bundled sample predictions (data/predictions/NER.json: fabricated model outputs for the");
console.log("converted NER test split, some wrong, one truncated, one in a Markdown fence) with IEPile's metrics:\n");
const evalCode = await main(["eval", "--path1", `${root}data/predictions/NER.json`, "--task", "NER", "--lenient"], {
  out: (t: string) => Deno.stdout.writeSync(new TextEncoder().encode(t)),
  err: quietIo.err,
});
if (evalCode !== 0) Deno.exit(evalCode);
console.log("\nEvery file is in .out/demo/; summarize one with:  deno run -A mod.ts stats .out/demo/RE.zh.test.json");
