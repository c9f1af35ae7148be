/**
 * `eval` speed and memory as a user gets them: the CLI run as a whole process (start-up
 * included) on generated prediction files, zh and en, NER, RE and EE, next to the I/O and JSON
 * floor (`eval_floor.ts`, also a whole `deno run` process) measured in the same run. One warm-up
 * run of each, then interleaved runs; medians.
 *
 * A prediction file is what users score: generated records (`gen_data.ts`) converted by this
 * project's converter into the test split, with a model answer added to every line, mostly
 * right, some with an invented answer (5%), a missed one (5%), or cut off mid-way, which is
 * invalid JSON (5%).
 *
 *     deno run -A bench/eval_bench.ts [--records 100000] [--runs 5] [--only zh:NER] [--no-memory]
 *
 * @module
 */

import { convertFile } from "../convert/mod.ts";
import { readJsonItems } from "../io/json_items.ts";
import { pyDumps, type PyJson } from "../io/py_json.ts";
import { type BenchLanguage, benchSchema, type BenchShape, writeBenchRecords } from "./gen_data.ts";
import { benchArgs, interleave, loadAverage, machine, median, type ProcessRun, runDeno } from "./_process.ts";

const args = benchArgs(Deno.args, "bench/eval_bench.ts");
const RECORDS = args.records;
const RUNS = args.runs;
const JOBS: Array<[BenchLanguage, BenchShape]> = [["zh", "NER"], ["zh", "RE"], ["zh", "EE"], ["en", "NER"], [
  "en",
  "RE",
], ["en", "EE"]];

const root = new URL("..", import.meta.url).pathname;
const dir = await Deno.makeTempDir({ prefix: "iepile-eval-bench-" });

type Gold = Record<string, unknown>;

/** The model's answer for one test line: the gold answer of the asked schema, in IEPile's output shape. */
function answer(shape: BenchShape, schema: PyJson[], gold: Gold[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of schema) {
    if (shape === "NER") {
      out[item as string] = gold.filter((g) => g.entity_type === item).map((g) => g.entity);
    } else if (shape === "RE") {
      out[item as string] = gold.filter((g) => g.relation === item).map((g) => ({ subject: g.head, object: g.tail }));
    } else {
      const { event_type: type, arguments: roles } = item as { event_type: string; arguments: string[] };
      out[type] = gold.filter((g) => g.event_type === type).map((g) => {
        const args: Record<string, string> = {};
        for (const role of roles) {
          args[role] = (g.arguments as Gold[]).find((a) => a.role === role)?.argument as string ?? "NAN";
        }
        return { trigger: g.event_trigger, arguments: args };
      });
    }
  }
  return out;
}

/** Write the prediction file of a shape and language; returns its path, bytes and lines. */
async function writePredictions(shape: BenchShape, language: BenchLanguage, n: number) {
  const base = `${dir}/${shape}.${language}.${n}`;
  await Deno.mkdir(base, { recursive: true });
  await Deno.writeTextFile(`${base}/schema.json`, benchSchema(shape, language));
  await writeBenchRecords(`${base}/records.json`, shape, language, n);
  await convertFile({
    task: shape,
    language,
    split: "test",
    srcPath: `${base}/records.json`,
    tgtPath: `${base}/test.json`,
    schemaPath: `${base}/schema.json`,
  });
  let seed = 2024;
  const rand = (k: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % k;
  };
  const path = `${base}/pred.json`;
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  let chunk: string[] = [];
  let bytes = 0, lines = 0;
  const flush = async () => {
    const data = enc.encode(chunk.join(""));
    bytes += data.length;
    for (let off = 0; off < data.length;) off += await file.write(data.subarray(off));
    chunk = [];
  };
  for await (const item of readJsonItems(`${base}/test.json`)) {
    const record = JSON.parse(item.text);
    const schema: PyJson[] = JSON.parse(record.instruction).schema;
    const out = answer(shape, schema, JSON.parse(record.label));
    const roll = rand(20);
    const first = Object.keys(out)[0];
    const list = out[first] as unknown[];
    if (roll === 0) list.push(shape === "NER" ? "虚构实体" : list[0] ?? { subject: "虚构", object: "实体" });
    if (roll === 1) out[first] = list.slice(1);
    let output = pyDumps(out as PyJson);
    if (roll === 2) output = output.slice(0, -3);
    chunk.push(pyDumps({ ...record, output }) + "\n");
    lines++;
    if (chunk.length >= 5000) await flush();
  }
  await flush();
  file.close();
  await Deno.remove(`${base}/test.json`);
  await Deno.remove(`${base}/records.json`);
  return { path, bytes, lines };
}

function commands(task: string, path: string) {
  return {
    eval: ["run", "-A", `${root}mod.ts`, "eval", "--path1", path, "--task", task],
    floor: ["run", "-A", `${root}bench/eval_floor.ts`, path],
  };
}

const mb = (bytes: number) => bytes / 1e6;
const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
const peak = (runs: ProcessRun[]) => Math.max(...runs.map((r) => r.peakMiB));

console.log(`eval as whole processes, ${fmt(RECORDS)} records per job, median of ${RUNS} interleaved runs`);
console.log(`machine: ${machine()}`);
console.log(`started ${new Date().toISOString()}\n`);
console.log(
  "| job    | lines   | input MB | eval    | floor   | ratio | CPU ratio | lines/s   | MB/s  | peak MiB (floor) |",
);
console.log(
  "| ------ | ------- | -------- | ------- | ------- | ----- | --------- | --------- | ----- | ---------------- |",
);
const ratios: number[] = [];
const cpuRatios: number[] = [];
for (const [language, shape] of JOBS) {
  if (args.only !== undefined && !`${language}:${shape}`.startsWith(args.only)) continue;
  const { path, bytes, lines } = await writePredictions(shape, language, RECORDS);
  const runs = await interleave(commands(shape, path), RUNS);
  const e = median(runs.eval.map((r) => r.seconds));
  const f = median(runs.floor.map((r) => r.seconds));
  const cpu = median(runs.eval.map((r) => r.cpuSeconds)) / median(runs.floor.map((r) => r.cpuSeconds));
  ratios.push(e / f);
  cpuRatios.push(cpu);
  console.log(
    `| ${`${language} ${shape}`.padEnd(6)} | ${fmt(lines).padStart(7)} | ${mb(bytes).toFixed(1).padStart(8)} | ${
      e.toFixed(2).padStart(5)
    } s | ${f.toFixed(2).padStart(5)} s | ${(e / f).toFixed(2).padStart(5)} | ${cpu.toFixed(2).padStart(9)} | ${
      fmt(lines / e).padStart(9)
    } | ${(mb(bytes) / e).toFixed(1).padStart(5)} | ${
      `${peak(runs.eval).toFixed(0)} (${peak(runs.floor).toFixed(0)})`.padStart(16)
    } |`,
  );
  if (args.noMemory || language !== "zh" || shape !== "NER") await Deno.remove(path);
}
console.log(
  `\nworst ratio to the floor: ${Math.max(...ratios).toFixed(2)}× wall time (target ≤ 1.5×), ` +
    `${Math.max(...cpuRatios).toFixed(2)}× CPU time; load average at the end ${loadAverage()}`,
);

if (!args.noMemory) {
  // Peak memory for 10× the records: an evaluator that streams keeps it flat.
  const small = `${dir}/NER.zh.${RECORDS}/pred.json`;
  const big = await writePredictions("NER", "zh", RECORDS * 10);
  const rows: Array<[number, number, ProcessRun, ProcessRun]> = [];
  for (const [n, path] of [[RECORDS, small], [RECORDS * 10, big.path]] as const) {
    const cmd = commands("NER", path);
    rows.push([n, (await Deno.stat(path)).size, await runDeno(cmd.eval), await runDeno(cmd.floor)]);
  }
  console.log(`\npeak memory (VmHWM), zh NER, one run each:`);
  console.log(`| records   | input MB | eval               | floor              |`);
  console.log(`| --------- | -------- | ------------------ | ------------------ |`);
  for (const [n, bytes, er, fr] of rows) {
    console.log(
      `| ${fmt(n).padStart(9)} | ${mb(bytes).toFixed(0).padStart(8)} | ${
        `${er.seconds.toFixed(2)} s, ${er.peakMiB.toFixed(0)} MiB`.padStart(18)
      } | ${`${fr.seconds.toFixed(2)} s, ${fr.peakMiB.toFixed(0)} MiB`.padStart(18)} |`,
    );
  }
  console.log(
    `growth of eval's peak for 10× the input: ${(rows[1][2].peakMiB / rows[0][2].peakMiB).toFixed(2)}× (flat ≈ 1)`,
  );
}

await Deno.remove(dir, { recursive: true });
