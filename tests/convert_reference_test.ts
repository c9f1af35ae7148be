/**
 * Byte-for-byte parity with IEPile's converter: every fixture of
 * `../shared/reference-data/convert-cases/` (run matrix, edge cases, worked examples), replayed
 * through the CLI with `--hash-seed` equal to the `PYTHONHASHSEED` the reference ran with.
 */

import { equal } from "node:assert/strict";
import { announceSkip, HAVE_REFERENCE, REFERENCE_DATA, runCli, tempDir } from "./_shared.ts";

announceSkip(import.meta.url, "IEPile converter parity tests");

const CASES = `${REFERENCE_DATA}convert-cases/`;

interface Case {
  name: string;
  args: string[];
  expected: string; // path of the reference output
}

/** Make manifest paths (relative to `base`) absolute; keeps the `<TASK>/` parent folder, hence `source`. */
function absolutize(args: string[], base: string): string[] {
  return args.map((a, i) => (i > 0 && /_path$/.test(args[i - 1]) ? base + a : a));
}

function matrixCases(): Case[] {
  const rows = Deno.readTextFileSync(`${CASES}matrix/MANIFEST.tsv`).trim().split("\n").slice(1);
  return rows.flatMap((row) => {
    const [name, seeds, , argText] = row.split("\t");
    const args = absolutize(argText.split(" "), REFERENCE_DATA);
    return seeds.split(",").map((seed) => ({
      name: `${name} seed ${seed}`,
      args: [...args, "--hash-seed", seed],
      expected: `${CASES}matrix/${name}.seed${seed}.jsonl`,
    }));
  });
}

function edgeCases(): Case[] {
  const rows = Deno.readTextFileSync(`${CASES}edge/MANIFEST.tsv`).trim().split("\n").slice(1)
    .filter((r) => !r.startsWith("("));
  const byName = new Map(rows.map((r) => r.split("\t") as [string, string]));
  // The manifest lists the NER variants; "the same six test/train variants as NER exist" for the other tasks.
  for (const [name, argText] of [...byName]) {
    if (!name.startsWith("NER_") || name.includes("cluster")) continue;
    for (const task of ["RE", "SPO", "EE", "EEA", "EET", "KG"]) {
      byName.set(name.replace("NER", task), argText.replace("--task NER", `--task ${task}`));
    }
  }
  const cases: Case[] = [];
  for (const [name, argText] of byName) {
    const task = name.split("_")[0];
    const args = absolutize(argText.split(" "), CASES);
    for (const seed of ["0", "1"]) {
      const expected = `${CASES}edge/outputs/${name}.seed${seed}.jsonl`;
      cases.push({
        name: `edge ${name} seed ${seed}`,
        args: [
          "--src_path",
          `${CASES}edge/${task}/sample.json`,
          "--schema_path",
          `${CASES}edge/${task}/schema.json`,
          ...args,
          "--hash-seed",
          seed,
        ],
        expected,
      });
    }
  }
  return cases;
}

function miniCases(): Case[] {
  const cases: Case[] = [];
  for (const task of ["NER", "RE", "SPO", "EE", "EEA", "EET", "KG"]) {
    for (const split of ["train", "test"]) {
      for (const seed of ["0", "1"]) {
        cases.push({
          name: `mini ${task} ${split} seed ${seed}`,
          args: [
            "--src_path",
            `${CASES}mini/${task}/sample.json`,
            "--schema_path",
            `${CASES}mini/${task}/schema.json`,
            "--task",
            task,
            "--language",
            "en",
            "--split_num",
            "2",
            "--split",
            split,
            "--hash-seed",
            seed,
          ],
          expected: `${CASES}mini/${task}/${split}.seed${seed}.jsonl`,
        });
      }
    }
  }
  return cases;
}

async function runCases(t: Deno.TestContext, cases: Case[]): Promise<void> {
  await using tmp = await tempDir();
  let i = 0;
  const failures: string[] = [];
  for (const c of cases) {
    const out = `${tmp.dir}/out${i++}.jsonl`;
    const run = await runCli(["convert", ...c.args, "--tgt_path", out, "--quiet"]);
    const ok = await t.step({
      name: c.name,
      fn: async () => {
        equal(run.stderr, "");
        equal(run.code, 0);
        const got = await Deno.readTextFile(out);
        const want = await Deno.readTextFile(c.expected);
        if (got !== want) {
          const g = got.split("\n"), w = want.split("\n");
          const k = g.findIndex((line, j) => line !== w[j]);
          equal(g[k], w[k], `first differing line: ${k + 1}`);
        }
      },
    });
    if (!ok) failures.push(c.name);
  }
  if (failures.length > 0) {
    throw new Error(`${failures.length} of ${cases.length} cases differ: ${failures.join(", ")}`);
  }
}

Deno.test({
  name: "convert reproduces the reference run matrix byte for byte (seeds 0 and 1; KG310 0–2)",
  ignore: !HAVE_REFERENCE,
  fn: (t) => runCases(t, matrixCases()),
});

Deno.test({
  name: "convert reproduces the reference edge cases byte for byte",
  ignore: !HAVE_REFERENCE,
  fn: (t) => runCases(t, edgeCases()),
});

Deno.test({
  name: "convert reproduces the spec's worked examples byte for byte",
  ignore: !HAVE_REFERENCE,
  fn: (t) => runCases(t, miniCases()),
});
