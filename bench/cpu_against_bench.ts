/**
 * The `cpu` engine of this checkout against the `cpu` engine of another (a `git worktree` at an
 * earlier commit, say), in one process, on the infer bench's model (`_bench_model.ts`) and its
 * run: a 32-token prompt in one call (prefill), then 16 greedy tokens one at a time (decode);
 * `--prompt N --decode N` for other sizes (IEPile's records: about 400 and 50).
 * Both engines are loaded once per format on the same weights and thread count; each gets one
 * untimed run, then `--reps` timed runs interleaved (the other build first every other rep),
 * each on a fresh session and checked to decode the same greedy tokens as that build's first
 * (`greedyContender`, `sessionRun` and `timeGreedy` of the infer bench).
 * Prints per format the median prefill and decode tokens/s of each build and how many times
 * faster this one is. A change to the engine is measured this way, not by two runs of the infer
 * bench on a shared machine whose speed drifts by a third from run to run.
 *
 *     deno run -A bench/cpu_against_bench.ts --against DIR [--formats q4_k_m,q8_0] [--activations int8] [--threads 1] [--reps 9] [--prompt 32] [--decode 16]
 *
 * `--activations int8` gives the block formats 8-bit activations (the infer bench's `cpu i8`
 * row); f32, bf16 and f16 always take f32 ones.
 *
 * @module
 */

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as here from "../infer/mod.ts";
import { writeRandomModel } from "../infer/testing/mod.ts";
import { QUANT_PRESETS, type QuantPreset } from "../infer/formats/quant_preset.ts";
import { BENCH_LLAMA } from "./_bench_model.ts";
import { greedyContender, sessionRun } from "./_infer_engines.ts";
import { badOption, benchOptions, loadAverage, machine } from "./_process.ts";
import { medianSpeed, type Speed } from "./_timing.ts";

const USAGE = "deno run -A bench/cpu_against_bench.ts --against DIR [--formats q4_k_m,q8_0] " +
  "[--activations int8|f32] [--threads 1] [--reps 9] [--prompt 32] [--decode 16]";
const { values } = benchOptions(Deno.args, USAGE, {
  against: { type: "string" },
  formats: { type: "string", default: "q4_k_m,q8_0" },
  activations: { type: "string", default: "int8" },
  threads: { type: "string", default: "1" },
  reps: { type: "string", default: "9" },
  prompt: { type: "string", default: "32" },
  decode: { type: "string", default: "16" },
});
const FORMATS = values.formats.split(",");
const THREADS = Number(values.threads);
const REPS = Number(values.reps);
const PLAIN = ["f32", "bf16", "f16"];
const usage = (why: string): never => badOption(why, USAGE);
if (values.against === undefined) usage("--against: give the other checkout's folder");
for (const f of FORMATS) {
  if (!Object.hasOwn(QUANT_PRESETS, f)) {
    usage(`--formats: "${f}" is not one of ${Object.keys(QUANT_PRESETS).join(", ")}`);
  }
}
if (values.activations !== "int8" && values.activations !== "f32") {
  usage(`--activations ${values.activations}: int8 or f32`);
}
if (!(Number.isInteger(THREADS) && THREADS >= 1 && Number.isInteger(REPS) && REPS >= 1)) {
  usage(`--threads ${values.threads} --reps ${values.reps}: whole numbers, 1 or more`);
}

const url = pathToFileURL(resolve(values.against!, "infer/mod.ts")).href;
let other: typeof here;
try {
  other = await import(url);
} catch (e) {
  usage(`--against ${values.against}: cannot load its engine (${url}): ${(e as Error).message.split("\n")[0]}`);
}
const builds = [{ name: "this build", m: here }, { name: "against", m: other! }];

const PREFILL = Number(values.prompt);
const DECODE = Number(values.decode);
if (!(Number.isInteger(PREFILL) && PREFILL >= 1 && Number.isInteger(DECODE) && DECODE >= 1)) {
  usage(`--prompt ${values.prompt} --decode ${values.decode}: whole numbers of tokens, 1 or more`);
}
const PROMPT = Array.from({ length: PREFILL }, (_, i) => 1 + (i * 37) % 31_000);
/** Each engine's context: the run's tokens, at least 256. */
const CONTEXT = Math.max(256, 2 ** Math.ceil(Math.log2(PREFILL + DECODE + 1)));

console.log(
  `cpu engine, this build against ${resolve(values.against!)}: random llama (hidden ${BENCH_LLAMA.hidden}, ` +
    `${BENCH_LLAMA.layers} layers), ${PROMPT.length}-token prompt, ${DECODE} decoded, ${THREADS} thread(s), ` +
    `${values.activations} activations on block formats; medians of ${REPS} interleaved reps after 1 warm-up`,
);
console.log(`machine: ${machine()}\n`);
console.log(`| format | prefill, this build | against | × faster | decode, this build | against | × faster |`);
console.log(`| ------ | ------------------: | ------: | -------: | -----------------: | ------: | -------: |`);
const dir = await Deno.makeTempDir({ prefix: "iepile-cpu-against-" });
try {
  const source = `${dir}/f32`;
  await writeRandomModel(source, { ...BENCH_LLAMA, dtype: "f32", seed: 1 });
  for (const format of FORMATS) {
    const plain = PLAIN.includes(format);
    const folder = plain && format !== "f32" ? `${dir}/${format}` : source;
    if (folder !== source) await writeRandomModel(folder, { ...BENCH_LLAMA, dtype: format as "f16", seed: 1 });
    const engines: here.WasmEngine[] = [];
    for (const { m } of builds) {
      const model = await m.loadModel(folder, { quantize: plain ? undefined : format as QuantPreset });
      engines.push(
        await m.WasmEngine.create(model as never, {
          threads: THREADS,
          int8Dot: values.activations === "int8",
          contextSize: CONTEXT,
        }),
      );
    }
    try {
      // Each build's runs must decode the tokens of its first (a fresh session each); one warm-up each.
      const contenders = builds.map(({ name }, b) =>
        greedyContender(
          {
            engine: name,
            threadsLabel: String(THREADS),
            compareThreads: THREADS,
            hostMemory: true,
            async dispose() {
              // The engines are freed below, whatever happens.
            },
          },
          sessionRun({ prompt: PROMPT, decode: DECODE }, () => engines[b].createSession()),
        )
      );
      for (const c of contenders) await c.run();
      const runs = contenders.map((): Speed[] => []);
      for (let rep = 0; rep < REPS; rep++) {
        for (const b of rep % 2 ? [1, 0] : [0, 1]) runs[b].push(await contenders[b].run());
      }
      const [{ prefill: p0, decode: d0 }, { prefill: p1, decode: d1 }] = runs.map(medianSpeed);
      console.log(
        `| ${format} | ${p0.toFixed(1)} | ${p1.toFixed(1)} | ${(p0 / p1).toFixed(2)} | ${d0.toFixed(1)} | ` +
          `${d1.toFixed(1)} | ${(d0 / d1).toFixed(2)} |`,
      );
    } finally {
      for (const e of engines) e.dispose();
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
console.log(`\nload average after: ${loadAverage()}`);
