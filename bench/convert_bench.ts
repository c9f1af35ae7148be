/**
 * `convert` speed and memory as a user gets them: the CLI run as a whole process (start-up
 * included) on generated zh and en data of IEPile's shape (`gen_data.ts`: NER over eight types,
 * RE, EE read as EE, EET and EEA), train split with `--random_sort` and test split, next to the
 * I/O and JSON floor (`convert_floor.ts`, also a whole `deno run` process) measured in the same
 * run. One warm-up run of each, then interleaved runs; medians.
 *
 * Prints per job: records/s and MB/s of `convert`, the ratio of its wall time to the floor's (and
 * of its CPU time, which other load on the machine disturbs less), and the peak resident memory
 * of both; then the peak memory for 10× the records (flat memory: the peak
 * does not grow with the input).
 *
 *     deno run -A bench/convert_bench.ts [--records 100000] [--runs 5] [--only zh:NER] [--no-memory]
 *
 * @module
 */

import { type BenchLanguage, benchSchema, type BenchShape, writeBenchRecords } from "./gen_data.ts";
import { benchArgs, interleave, loadAverage, machine, median, type ProcessRun, runDeno } from "./_process.ts";

const args = benchArgs(Deno.args);
const RECORDS = args.records;
const RUNS = args.runs;

/** Jobs: language, task, the record shape it reads. */
const JOBS: Array<[BenchLanguage, string, BenchShape]> = [
  ["zh", "NER", "NER"],
  ["zh", "RE", "RE"],
  ["zh", "EE", "EE"],
  ["zh", "EET", "EE"],
  ["zh", "EEA", "EE"],
  ["en", "NER", "NER"],
  ["en", "RE", "RE"],
  ["en", "EE", "EE"],
];

const root = new URL("..", import.meta.url).pathname;
const cli = `${root}mod.ts`;
const floor = `${root}bench/convert_floor.ts`;
const dir = await Deno.makeTempDir({ prefix: "iepile-convert-bench-" });

/** Write (once) the records and schema of a shape and language; returns paths and size. */
const inputs = new Map<string, { src: string; schema: string; bytes: number }>();
async function input(shape: BenchShape, language: BenchLanguage, n: number) {
  const key = `${shape}.${language}.${n}`;
  let found = inputs.get(key);
  if (found === undefined) {
    // The parent folder names the "source" of every instruction, as in IEPile.
    await Deno.mkdir(`${dir}/${key}`, { recursive: true });
    const src = `${dir}/${key}/records.json`;
    const schema = `${dir}/${key}/schema.json`;
    await Deno.writeTextFile(schema, benchSchema(shape, language));
    found = { src, schema, bytes: await writeBenchRecords(src, shape, language, n) };
    inputs.set(key, found);
  }
  return found;
}

function commands(task: string, language: BenchLanguage, split: string, src: string, schema: string) {
  const flags = ["--task", task, "--language", language, "--split", split];
  if (split === "train") flags.push("--random_sort");
  return {
    convert: ["run", "-A", cli, "convert", "--src_path", src, "--tgt_path", `${dir}/out.json`, "--schema_path", schema]
      .concat(flags),
    floor: ["run", "-A", floor, src, `${dir}/floor.json`, schema, task, split, language],
  };
}

const mb = (bytes: number) => bytes / 1e6;
const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
const peak = (runs: ProcessRun[]) => Math.max(...runs.map((r) => r.peakMiB));

console.log(`convert as whole processes, ${fmt(RECORDS)} records per job, median of ${RUNS} interleaved runs`);
console.log(`machine: ${machine()}`);
console.log(`started ${new Date().toISOString()}\n`);
console.log(
  "| job              | input MB | convert | floor   | ratio | CPU ratio | records/s | MB/s | out MB (floor) | peak MiB (floor) |",
);
console.log(
  "| ---------------- | -------- | ------- | ------- | ----- | --------- | --------- | ---- | -------------- | ---------------- |",
);
const ratios: number[] = [];
const cpuRatios: number[] = [];
for (const [language, task, shape] of JOBS) {
  for (const split of ["train", "test"]) {
    const name = `${language} ${task} ${split}`;
    if (args.only !== undefined && !`${language}:${task}:${split}`.startsWith(args.only)) continue;
    const { src, schema, bytes } = await input(shape, language, RECORDS);
    const cmd = commands(task, language, split, src, schema);
    const runs = await interleave(cmd, RUNS);
    const c = median(runs.convert.map((r) => r.seconds));
    const f = median(runs.floor.map((r) => r.seconds));
    const cpu = median(runs.convert.map((r) => r.cpuSeconds)) / median(runs.floor.map((r) => r.cpuSeconds));
    ratios.push(c / f);
    cpuRatios.push(cpu);
    const outBytes = (await Deno.stat(`${dir}/out.json`)).size;
    const floorBytes = (await Deno.stat(`${dir}/floor.json`)).size;
    console.log(
      `| ${name.padEnd(16)} | ${mb(bytes).toFixed(1).padStart(8)} | ${c.toFixed(2).padStart(5)} s | ${
        f.toFixed(2).padStart(5)
      } s | ${(c / f).toFixed(2).padStart(5)} | ${cpu.toFixed(2).padStart(9)} | ${fmt(RECORDS / c).padStart(9)} | ${
        (mb(bytes) / c).toFixed(1).padStart(4)
      } | ${`${mb(outBytes).toFixed(0)} (${mb(floorBytes).toFixed(0)})`.padStart(14)} | ${
        `${peak(runs.convert).toFixed(0)} (${peak(runs.floor).toFixed(0)})`.padStart(16)
      } |`,
    );
  }
}
console.log(
  `\nworst ratio to the floor: ${Math.max(...ratios).toFixed(2)}× wall time (target ≤ 1.3×), ` +
    `${Math.max(...cpuRatios).toFixed(2)}× CPU time; load average at the end ${loadAverage()}`,
);

if (!args.noMemory) {
  // Peak memory for 10× the records: a converter that streams keeps it flat.
  const big = await input("NER", "zh", RECORDS * 10);
  const cmd = commands("NER", "zh", "train", big.src, big.schema);
  const small = await input("NER", "zh", RECORDS);
  const smallCmd = commands("NER", "zh", "train", small.src, small.schema);
  const c1 = await runDeno(smallCmd.convert), f1 = await runDeno(smallCmd.floor);
  const c10 = await runDeno(cmd.convert), f10 = await runDeno(cmd.floor);
  console.log(`\npeak memory (VmHWM), zh NER train, --random_sort, one run each:`);
  console.log(`| records   | input MB | convert            | floor              |`);
  console.log(`| --------- | -------- | ------------------ | ------------------ |`);
  for (const [n, bytes, cr, fr] of [[RECORDS, small.bytes, c1, f1], [RECORDS * 10, big.bytes, c10, f10]] as const) {
    console.log(
      `| ${fmt(n).padStart(9)} | ${mb(bytes).toFixed(0).padStart(8)} | ${
        `${cr.seconds.toFixed(2)} s, ${cr.peakMiB.toFixed(0)} MiB`.padStart(18)
      } | ${`${fr.seconds.toFixed(2)} s, ${fr.peakMiB.toFixed(0)} MiB`.padStart(18)} |`,
    );
  }
  console.log(`growth of convert's peak for 10× the input: ${(c10.peakMiB / c1.peakMiB).toFixed(2)}× (flat ≈ 1)`);
}

await Deno.remove(dir, { recursive: true });
