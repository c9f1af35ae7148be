/**
 * `eval` throughput on a generated 100 000-record NER prediction file (300 000 lines: each
 * record split into 3 schema batches by `convert --split test --split_num 1`), against
 *
 * - the reference's time recorded in issue 3 (IEPile's `eval_func.py`: 9.3 s on such a file;
 *   a figure from the issue, not measured here), and
 * - two baselines measured in the same run: streaming the same file with `readJsonItems` and
 *   `JSON.parse` of every line, nothing else (a plain JSON-Lines pass), and the same with the
 *   batch reader `eval` uses (`readJsonItemBatches`): the floor any JSON-Lines evaluator pays.
 *
 * The file is written once to a temporary folder (never into the repository) and removed at the
 * end. Run: `deno bench -A bench/eval_bench.ts`.
 *
 * @module
 */

import { readJsonItems } from "../io/json_items.ts";
import { readJsonItemBatches } from "../io/json_items.ts";
import { convertFile } from "../convert/mod.ts";
import { evaluateFile } from "../eval/evaluator.ts";
import { BENCH_NER_SCHEMA, writeNerRecords } from "./gen_data.ts";

const RECORDS = 100_000;
const BATCHES = 3;
/** The reference's wall time on such a file, as recorded in issue 3 (not measured here). */
const REFERENCE_SECONDS = 9.3;

/** JSON as Python's json.dumps writes it (", " and ": "), as the converter writes outputs. */
function pyJson(value: unknown): string {
  if (Array.isArray(value)) return "[" + value.map(pyJson).join(", ") + "]";
  if (typeof value === "object" && value !== null) {
    return "{" + Object.entries(value).map(([k, v]) => JSON.stringify(k) + ": " + pyJson(v)).join(", ") + "}";
  }
  return JSON.stringify(value);
}

/**
 * Write the prediction file the way users get one: generated NER records (`gen_data.ts`, three
 * entity types) converted by this project's converter into the test split with one type per
 * instruction (3 schema batches per record, as IEPile's `--split_num 1`), then a model answer
 * added to every line: mostly right, some with an invented entity (5%), a missed one (5%), or
 * cut off mid-way, which is invalid JSON (5%).
 */
async function writePredictions(dir: string): Promise<{ bytes: number; lines: number }> {
  await Deno.mkdir(`${dir}/NER`);
  const src = `${dir}/NER/test_src.json`;
  await writeNerRecords(src, RECORDS);
  await Deno.writeTextFile(`${dir}/schema.json`, BENCH_NER_SCHEMA);
  const test = `${dir}/NER_test.json`;
  await convertFile({
    task: "NER",
    split: "test",
    splitNum: 1,
    srcPath: src,
    tgtPath: test,
    schemaPath: `${dir}/schema.json`,
  });
  let seed = 2024;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const file = await Deno.open(`${dir}/pred_NER.jsonl`, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  let chunk: string[] = [];
  let bytes = 0;
  let lines = 0;
  const flush = async () => {
    const data = enc.encode(chunk.join(""));
    bytes += data.length;
    for (let off = 0; off < data.length;) off += await file.write(data.subarray(off));
    chunk = [];
  };
  for await (const item of readJsonItems(test)) {
    const record = JSON.parse(item.text);
    const schema: string[] = JSON.parse(record.instruction).schema;
    const gold: { entity: string; entity_type: string }[] = JSON.parse(record.label);
    const answer: Record<string, string[]> = {};
    for (const t of schema) answer[t] = gold.filter((e) => e.entity_type === t).map((e) => e.entity);
    const roll = rand(20);
    if (roll === 0) answer[schema[0]].push("虚构实体");
    if (roll === 1) answer[schema[0]] = answer[schema[0]].slice(1);
    let output = pyJson(answer);
    if (roll === 2) output = output.slice(0, -3);
    chunk.push(pyJson({ ...record, output }) + "\n");
    lines++;
    if (chunk.length >= 5000) await flush();
  }
  await flush();
  file.close();
  return { bytes, lines };
}

const dir = await Deno.makeTempDir({ prefix: "iepile-eval-bench-" });
const path = `${dir}/pred_NER.jsonl`;
const { bytes, lines } = await writePredictions(dir);
if (lines !== RECORDS * BATCHES) throw new Error(`expected ${RECORDS * BATCHES} lines, got ${lines}`);
const timings = { eval: [] as number[], baseline: [] as number[], batches: [] as number[] };

function report(): void {
  const best = (xs: number[]) => Math.min(...xs) / 1000;
  if (timings.eval.length === 0 || timings.baseline.length === 0 || timings.batches.length === 0) return;
  const e = best(timings.eval), b = best(timings.baseline), f = best(timings.batches);
  console.log(
    `\n${lines.toLocaleString("en-US")} lines / ${RECORDS.toLocaleString("en-US")} records / ` +
      `${(bytes / 1e6).toFixed(0)} MB, best of ${timings.eval.length} runs, one core:\n` +
      `  eval:     ${e.toFixed(3)} s = ${Math.round(lines / e).toLocaleString("en-US")} lines/s, ` +
      `${Math.round(RECORDS / e).toLocaleString("en-US")} records/s\n` +
      `  baseline, readJsonItems + JSON.parse of every line (measured here): ${b.toFixed(3)} s; ` +
      `eval takes ${(e / b).toFixed(2)}× as long\n` +
      `  floor, readJsonItemBatches + JSON.parse of every line (measured here): ${f.toFixed(3)} s; ` +
      `eval takes ${(e / f).toFixed(2)}× as long\n` +
      `  reference (IEPile eval_func.py, ${REFERENCE_SECONDS} s as recorded in issue 3, not measured here): ` +
      `eval is ${(REFERENCE_SECONDS / e).toFixed(1)}× faster (target ≥ 10×, i.e. < ${REFERENCE_SECONDS / 10} s)`,
  );
}

Deno.bench({
  name: "eval NER, 300k lines (100k records × 3 batches)",
  group: "eval",
  n: 5,
  warmup: 1,
  async fn(b) {
    b.start();
    const t0 = performance.now();
    const r = await evaluateFile(path, { task: "NER" });
    timings.eval.push(performance.now() - t0);
    b.end();
    if (r.total.groups !== RECORDS || r.lines !== lines) throw new Error("unexpected counts");
  },
});

Deno.bench({
  name: "baseline: stream + JSON.parse every line",
  group: "eval",
  baseline: true,
  n: 5,
  warmup: 1,
  async fn(b) {
    b.start();
    const t0 = performance.now();
    let n = 0;
    for await (const item of readJsonItems(path)) n += JSON.parse(item.text).output.length;
    timings.baseline.push(performance.now() - t0);
    b.end();
    if (n === 0) throw new Error("nothing read");
  },
});

Deno.bench({
  name: "floor: batch reader + JSON.parse every line",
  group: "eval",
  n: 5,
  warmup: 1,
  async fn(b) {
    b.start();
    const t0 = performance.now();
    let n = 0;
    for await (const batch of readJsonItemBatches(path)) {
      for (const item of batch) n += JSON.parse(item.text).output.length;
    }
    timings.batches.push(performance.now() - t0);
    b.end();
    if (n === 0) throw new Error("nothing read");
  },
});

globalThis.addEventListener("unload", () => {
  report();
  Deno.removeSync(dir, { recursive: true });
});
