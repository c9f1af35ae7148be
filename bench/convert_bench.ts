/**
 * `convert` speed and memory, as issue 2 asks: a generated 100k-record NER file, train split with
 * `--random_sort`, one core.
 *
 * Prints, from one run:
 * - records/s and MB/s of `convertFile`, and the ratio to IEPile's Python converter, whose time
 *   for the same job on this machine kind is recorded in the issue (9.8 s for 100k records);
 * - the ratio to a same-run baseline that only reads, parses, re-serializes and writes every line
 *   (the I/O and JSON floor any converter pays);
 * - peak resident memory of a separate process converting 100k and 1M records (flat memory:
 *   the peak must not grow with the input; target < 300 MB).
 *
 *     deno bench -A bench/convert_bench.ts
 *
 * @module
 */

import { convertFile } from "../convert/mod.ts";
import { BENCH_NER_SCHEMA, writeNerRecords } from "./gen_data.ts";

/** IEPile `convert_func.py` on a generated 100k-record NER file (train, --random_sort), from issue 2. */
const REFERENCE_SECONDS_100K = 9.8;

const dir = await Deno.makeTempDir({ prefix: "iepile-bench-" });
await Deno.mkdir(`${dir}/NER`);
const src = `${dir}/NER/train.json`;
const schema = `${dir}/schema.json`;
await Deno.writeTextFile(schema, BENCH_NER_SCHEMA);
const bytes = await writeNerRecords(src, 100_000);

async function convertOnce(): Promise<number> {
  const t = performance.now();
  await convertFile({
    task: "NER",
    split: "train",
    randomSort: true,
    srcPath: src,
    tgtPath: `${dir}/out.json`,
    schemaPath: schema,
  });
  return (performance.now() - t) / 1000;
}

/** Same-run floor: read, JSON.parse, JSON.stringify and write every line. */
async function baselineOnce(): Promise<number> {
  const t = performance.now();
  const lines = (await Deno.readTextFile(src)).split("\n");
  let out = "";
  for (const line of lines) if (line !== "") out += JSON.stringify(JSON.parse(line)) + "\n";
  await Deno.writeTextFile(`${dir}/baseline.json`, out);
  return (performance.now() - t) / 1000;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function peakMemory(path: string): Promise<{ records: number; bytesIn: number; peakMiB: number }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./convert_peak_memory.ts", import.meta.url).pathname, path, `${dir}/mem.json`, schema],
    stdout: "piped",
  }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

await convertOnce(); // warm-up
const convertTimes = [await convertOnce(), await convertOnce(), await convertOnce()];
const baselineTimes = [await baselineOnce(), await baselineOnce(), await baselineOnce()];
const sec = median(convertTimes);
const base = median(baselineTimes);
const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
console.log(`convert, 100,000 NER records (${(bytes / 1e6).toFixed(1)} MB), train, --random_sort, median of 3:`);
console.log(`  ${sec.toFixed(3)} s = ${fmt(100_000 / sec)} records/s, ${(bytes / 1e6 / sec).toFixed(1)} MB/s`);
console.log(
  `  vs IEPile convert_func.py (${REFERENCE_SECONDS_100K} s recorded in issue 2): ${
    (REFERENCE_SECONDS_100K / sec).toFixed(1)
  }× faster (target ≥ 10×)`,
);
console.log(
  `  vs same-run floor (read + JSON.parse + JSON.stringify + write, ${base.toFixed(3)} s): ${
    (sec / base).toFixed(2)
  }× the floor's time`,
);

const big = `${dir}/NER/big.json`;
const bigBytes = await writeNerRecords(big, 1_000_000);
const small = await peakMemory(src);
const large = await peakMemory(big);
console.log(`peak memory of a convert process (VmHWM):`);
console.log(`  ${fmt(small.records)} records (${(bytes / 1e6).toFixed(0)} MB): ${small.peakMiB.toFixed(0)} MiB`);
console.log(`  ${fmt(large.records)} records (${(bigBytes / 1e6).toFixed(0)} MB): ${large.peakMiB.toFixed(0)} MiB`);
console.log(
  `  growth for 10× the input: ${(large.peakMiB / small.peakMiB).toFixed(2)}× (flat = about 1; target peak < 300 MB)`,
);
await Deno.remove(big);

Deno.bench({
  name: "convert 100k NER records (train, --random_sort)",
  group: "convert",
  n: 3,
  warmup: 1,
  fn: async () => {
    await convertOnce();
  },
});

Deno.bench({
  name: "floor: read + JSON.parse + JSON.stringify + write",
  group: "convert",
  baseline: true,
  n: 3,
  warmup: 1,
  fn: async () => {
    await baselineOnce();
  },
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
