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

console.log(`Converting data/<TASK>/sample.json for ${TASKS.join(", ")} (zh and en, train and test) into ${outDir}/\n`);
for (const task of ["NER", "RE", "SPO", "EE", "EET", "EEA", "KG"]) {
  for (const language of ["en", "zh"]) {
    for (const split of ["train", "test"]) {
      const tgt = `${outDir}/${task}.${language}.${split}.json`;
      const code = await main([
        "convert",
        "--src_path",
        `${root}data/${task}/sample.json`,
        "--schema_path",
        `${root}data/${task}/schema.json`,
        "--tgt_path",
        tgt,
        "--task",
        task,
        "--language",
        language,
        "--split",
        split,
        "--split_num",
        SPLIT_NUM[task],
        "--quiet",
      ], quietIo);
      if (code !== 0) Deno.exit(code);
    }
  }
  const stats = await statsFile(`${outDir}/${task}.en.train.json`);
  console.log(formatStats(stats, `${task}.en.train.json`));
  const first = (await Deno.readTextFile(`${outDir}/${task}.en.train.json`)).split("\n")[0];
  const rec = JSON.parse(first);
  const inner = JSON.parse(rec.instruction);
  console.log(`  first instruction:  schema ${JSON.stringify(inner.schema)}`);
  console.log(`                      input  ${JSON.stringify(inner.input)}`);
  console.log(`                      output ${rec.output}\n`);
}
const files = [...Deno.readDirSync(outDir)].map((e) => e.name).sort();
console.log(`${files.length} files in .out/demo/: ${files.join(" ")}`);
console.log("Inspect one with:  npx -y deno@2.9.6 run -A mod.ts stats .out/demo/NER.zh.train.json");
