/**
 * The `convert` command as users meet it: IEPile's flags and kebab aliases, bad input reported
 * as one line with file, line and field (non-zero exit, no partial output), `--skip-invalid`,
 * JSON-array input, standard output, and the real process (no stack traces).
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { runCli, runCliProcess, tempDir } from "./_shared.ts";

const DATA = new URL("../data/", import.meta.url).pathname;
const NER = ["--schema_path", `${DATA}NER/schema.json`, "--task", "NER", "--quiet"];

async function withInput(
  lines: string,
  args: string[],
  check: (r: { code: number; stdout: string; stderr: string; out: string; dir: string }) => Promise<void> | void,
): Promise<void> {
  await using tmp = await tempDir();
  await Deno.mkdir(`${tmp.dir}/src`);
  const src = `${tmp.dir}/src/in.json`;
  await Deno.writeTextFile(src, lines);
  const out = `${tmp.dir}/out.json`;
  const r = await runCli(["convert", "--src_path", src, "--tgt_path", out, ...args]);
  await check({ ...r, out, dir: tmp.dir });
}

const GOOD = '{"text": "Bob", "entity": [{"entity": "Bob", "entity_type": "person"}]}\n';

Deno.test("bad records: one line naming file, line and field; exit 1; no output file", async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    [
      "malformed JSON",
      GOOD + '{"text": "x", "entity": [}\n',
      /in\.json:2: invalid JSON: expected a value at column 26$/,
    ],
    [
      "missing text",
      GOOD + GOOD + '{"entity": []}\n',
      /in\.json:3: field `text`: missing \(every record needs its text\)$/,
    ],
    [
      "missing annotation field",
      '{"text": "x"}\n',
      /in\.json:1: field `entity`: missing \(NER records need it; use \[\] for none\)$/,
    ],
    [
      "non-string entity type",
      '{"text": "x", "entity": [{"entity": "x", "entity_type": 3}]}\n',
      /in\.json:1: field `entity\[0\]\.entity_type`: must be a string$/,
    ],
    ["record not an object", "[1, 2]\n", /in\.json:1: a record must be a JSON object$/],
    [
      "lone surrogate",
      '{"text": "\\ud800", "entity": []}\n',
      /in\.json:1: field `text`: contains an unpaired UTF-16 surrogate/,
    ],
  ];
  for (const [name, input, message] of cases) {
    await t.step(name, () =>
      withInput(input, NER, async ({ code, stderr, out }) => {
        equal(code, 1);
        equal(stderr.split("\n").length, 2, "exactly one line");
        match(stderr.trim(), message);
        ok(stderr.startsWith("iepile: "));
        equal(await Deno.stat(out).then(() => true, () => false), false, "no output file");
      }));
  }
});

Deno.test("a garbage line of 16 MiB: one short line naming it, for every command that reads records", async () => {
  await using tmp = await tempDir();
  await Deno.mkdir(`${tmp.dir}/src`);
  const src = `${tmp.dir}/src/in.json`;
  const column = 16 << 20;
  await Deno.writeTextFile(src, '{"text": "' + "x".repeat(column - 10) + "\n" + GOOD);
  const runs = {
    convert: await runCli(["convert", "--src_path", src, "--tgt_path", `${tmp.dir}/o.json`, ...NER]),
    prompt: await runCli([
      "prompt",
      "--input",
      src,
      "--output",
      `${tmp.dir}/p.json`,
      "--template",
      "vicuna",
      "--quiet",
    ]),
    eval: await runCli(["eval", "--path", src, "--task", "NER"]),
  };
  for (const [command, r] of Object.entries(runs)) {
    equal(r.code, 1, command);
    equal(r.stderr.split("\n").length, 2, `${command}: exactly one line`);
    ok(r.stderr.length < 200, `${command}: ${r.stderr.length} characters`);
    match(r.stderr, new RegExp(`in\\.json:1: invalid JSON: unterminated string at column ${column + 1}\n$`), command);
  }
  deepEqual([...Deno.readDirSync(tmp.dir)].map((e) => e.name), ["src"], "no output, no temp file");
});

Deno.test("an output path that is a folder or in a missing folder: one line, exit 1, for every writing command", async () => {
  await using tmp = await tempDir();
  const test = `${tmp.dir}/test.json`;
  const src = ["--src_path", `${DATA}NER/sample.json`, "--split", "test", ...NER];
  equal((await runCli(["convert", ...src, "--tgt_path", test])).code, 0);
  const pred = `${DATA}predictions/NER.json`;
  for (
    const [out, problem] of [[tmp.dir, "is a folder; give a file path for the output"], [
      `${tmp.dir}/no/o.json`,
      "output folder does not exist",
    ]]
  ) {
    const runs = {
      convert: await runCli(["convert", ...src, "--tgt_path", out]),
      prompt: await runCli(["prompt", "--input", test, "--output", out, "--template", "vicuna", "--quiet"]),
      "eval --out": await runCli(["eval", "--path", pred, "--task", "NER", "--out", out]),
      "eval --output_msg": await runCli(["eval", "--path", pred, "--task", "NER", "--output_msg", out]),
    };
    for (const [command, r] of Object.entries(runs)) {
      equal(r.stderr, `iepile: ${out}: ${problem}\n`, command);
      equal(r.code, 1, command);
    }
  }
  deepEqual([...Deno.readDirSync(tmp.dir)].map((e) => e.name), ["test.json"]);
});

Deno.test("a failed run keeps an existing output file and leaves no temp file", async () => {
  await withInput(GOOD + "{oops\n", NER, async ({ code, out, dir }) => {
    equal(code, 1);
    deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["src"]);
    await Deno.writeTextFile(out, "previous\n");
    const again = await runCli(["convert", "--src_path", `${dir}/src/in.json`, "--tgt_path", out, ...NER]);
    equal(again.code, 1);
    equal(await Deno.readTextFile(out), "previous\n");
    deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["out.json", "src"]);
  });
});

Deno.test("--skip-invalid converts the rest and reports what was skipped and why", async () => {
  const input = GOOD + "{oops\n" + '{"entity": []}\n' + GOOD + '{"entity": []}\n';
  await withInput(input, ["--schema_path", `${DATA}NER/schema.json`, "--task", "NER", "--skip-invalid"], async (r) => {
    equal(r.code, 0);
    equal((await Deno.readTextFile(r.out)).trim().split("\n").length, 4); // 2 records × 2 batches (6 types, split 4)
    match(r.stderr, /converted 5 records → 4 instructions/);
    match(
      r.stderr,
      /skipped 3 invalid records:\n {4}1 × invalid JSON: expected a property name in double quotes at column 2\n {4}2 × field `text`: missing/,
    );
    match(r.stderr, /first: .*in\.json:2: invalid JSON/);
  });
});

Deno.test("bad options and files: one line, exit 2 for usage, 1 for files", async (t) => {
  const src = `${DATA}NER/sample.json`;
  const cases: Array<[string[], number, RegExp]> = [
    [["--task", "XYZ"], 2, /unknown task "XYZ"; expected one of RE, NER, EE, EET, EEA, SPO, KG/],
    [["--language", "fr"], 2, /unknown language "fr"; expected zh or en/],
    [["--split", "dev"], 2, /unknown split "dev"/],
    [["--split_num", "0"], 2, /split_num must be a positive integer, or -1/],
    [["--split_num", "2.5"], 2, /--split_num expects an integer, got "2.5"/],
    [["--neg_schema", "1.5"], 2, /neg_schema is a probability in \[0, 1\]/],
    [["--bogus"], 2, /convert: Unknown option '--bogus'/],
    [["--cluster_mode"], 2, /--cluster_mode needs --hard_negative_path/],
    [["--task", "EEA", "--cluster_mode"], 2, /--cluster_mode is not available for EEA/],
    [["--cluster_mode", "--split_num", "-1"], 2, /--cluster_mode needs a positive --split_num/],
  ];
  for (const [args, code, message] of cases) {
    await t.step(args.join(" "), async () => {
      await using tmp = await tempDir();
      const r = await runCli([
        "convert",
        ...["--src_path", src, "--tgt_path", `${tmp.dir}/o.json`, "--schema_path", `${DATA}NER/schema.json`],
        ...args,
      ]);
      equal(r.code, code);
      match(r.stderr, message);
      equal(r.stderr.trim().split("\n").length, 1);
    });
  }
  await t.step("missing input file, missing schema, wrong schema shape, missing required flag", async () => {
    await using tmp = await tempDir();
    const base = ["convert", "--tgt_path", `${tmp.dir}/o.json`, "--task", "NER"];
    let r = await runCli([...base, "--src_path", `${tmp.dir}/nope.json`, "--schema_path", `${DATA}NER/schema.json`]);
    equal(r.code, 1);
    match(r.stderr, /nope\.json: file not found/);
    r = await runCli([...base, "--src_path", src, "--schema_path", `${tmp.dir}/nope.json`]);
    match(r.stderr, /nope\.json: schema file not found/);
    await Deno.writeTextFile(`${tmp.dir}/bad.json`, '["a"]\n{"x": 1}\n{}\n');
    r = await runCli([...base, "--src_path", src, "--schema_path", `${tmp.dir}/bad.json`]);
    equal(r.code, 1);
    match(r.stderr, /bad\.json:2: expected a JSON list of role names/);
    await Deno.writeTextFile(`${tmp.dir}/short.json`, '["a"]\n');
    r = await runCli([...base, "--src_path", src, "--schema_path", `${tmp.dir}/short.json`]);
    match(r.stderr, /short\.json: a schema file has three JSON lines .*found 1/);
    r = await runCli(["convert", "--src_path", src, "--schema_path", `${DATA}NER/schema.json`]);
    equal(r.code, 2);
    match(r.stderr, /--tgt_path is required/);
    equal(await Deno.stat(`${tmp.dir}/o.json`).then(() => true, () => false), false);
  });
});

Deno.test("IEPile flags verbatim and kebab aliases give the same output; '-1' values parse", async () => {
  await using tmp = await tempDir();
  const src = `${DATA}RE/sample.json`;
  const a = await runCli([
    "convert",
    ...["--src_path", src, "--tgt_path", `${tmp.dir}/a.json`, "--schema_path", `${DATA}RE/schema.json`],
    ...["--task", "RE", "--split_num", "-1", "--neg_schema", "0.5", "--random_sort", "--hash-seed", "3", "--quiet"],
  ]);
  const b = await runCli([
    "convert",
    ...["--src-path", src, "--tgt-path", `${tmp.dir}/b.json`, "--schema-path", `${DATA}RE/schema.json`],
    ...["--task=RE", "--split-num=-1", "--neg-schema", "0.5", "--random-sort", "--hash_seed", "3", "--quiet"],
  ]);
  equal(a.code + b.code, 0);
  equal(await Deno.readTextFile(`${tmp.dir}/a.json`), await Deno.readTextFile(`${tmp.dir}/b.json`));
});

Deno.test("a JSON array input converts exactly like the same records as JSON Lines", async () => {
  await using tmp = await tempDir();
  await Deno.mkdir(`${tmp.dir}/NER`);
  const records = (await Deno.readTextFile(`${DATA}NER/sample.json`)).trim().split("\n");
  await Deno.writeTextFile(`${tmp.dir}/NER/array.json`, "[\n" + records.join(",\n") + "\n]\n");
  const args = ["--task", "NER", "--schema_path", `${DATA}NER/schema.json`, "--random_sort", "--quiet"];
  await runCli(["convert", "--src_path", `${DATA}NER/sample.json`, "--tgt_path", `${tmp.dir}/a.json`, ...args]);
  await runCli(["convert", "--src_path", `${tmp.dir}/NER/array.json`, "--tgt_path", `${tmp.dir}/b.json`, ...args]);
  equal(await Deno.readTextFile(`${tmp.dir}/a.json`), await Deno.readTextFile(`${tmp.dir}/b.json`));
});

Deno.test("cluster mode with the bundled hard negatives; a nested dictionary needs a key", async () => {
  await using tmp = await tempDir();
  const args = ["--src_path", `${DATA}NER/sample.json`, "--schema_path", `${DATA}NER/schema.json`, "--task", "NER"];
  const r = await runCli([
    "convert",
    ...args,
    ...[
      "--tgt_path",
      `${tmp.dir}/c.json`,
      "--cluster_mode",
      "--hard_negative_path",
      `${DATA}hard_negative/NER.json`,
      "--quiet",
    ],
  ]);
  equal(r.code, 0, r.stderr);
  // Record 1 (person, organization, location positives): hard negatives add nothing new, plus split_num (4) random
  // others from the three remaining types: all six types, sorted.
  const first = JSON.parse((await Deno.readTextFile(`${tmp.dir}/c.json`)).split("\n")[0]);
  deepEqual(JSON.parse(first.instruction).schema, ["location", "organization", "person", "人物"]);
  await Deno.writeTextFile(`${tmp.dir}/nested.json`, '{"NER": {"mine": {"person": []}}}');
  const nested = await runCli([
    "convert",
    ...args,
    ...["--tgt_path", `${tmp.dir}/n.json`, "--cluster_mode", "--hard_negative_path", `${tmp.dir}/nested.json`],
  ]);
  equal(nested.code, 1);
  match(nested.stderr, /nested\.json: "NER" holds an object: .*--hard-negative-key NER\/MSRA/);
  const missing = await runCli([
    "convert",
    ...args,
    ...["--tgt_path", `${tmp.dir}/n.json`, "--cluster_mode", "--hard_negative_path", `${tmp.dir}/nested.json`],
    ...["--hard-negative-key", "NER/mine"],
  ]);
  equal(missing.code, 1);
  match(missing.stderr, /sample\.json:1: positive schema "organization" is not a key of the hard-negative dictionary/);
});

Deno.test("--tgt_path - writes to standard output; help and version", async () => {
  const r = await runCliProcess([
    "convert",
    ...["--src_path", `${DATA}KG/sample.json`, "--schema_path", `${DATA}KG/schema.json`, "--task", "KG"],
    ...["--tgt_path", "-", "--split_num", "1", "--quiet"],
  ]);
  equal(r.code, 0);
  equal(r.stdout.trim().split("\n").length, 3);
  match((await runCli(["convert", "--help"])).stdout, /--src_path FILE/);
  match((await runCli(["--help"])).stdout, /Commands:\n {2}convert/);
  equal((await runCli(["frobnicate"])).code, 2);
});

Deno.test("the real process: exit codes, one-line errors, no stack trace", async () => {
  await using tmp = await tempDir();
  const ok0 = await runCliProcess([
    "convert",
    ...["--src_path", `${DATA}NER/sample.json`, "--schema_path", `${DATA}NER/schema.json`, "--task", "NER"],
    ...["--tgt_path", `${tmp.dir}/o.json`],
  ]);
  equal(ok0.code, 0);
  match(ok0.stderr, /^converted 6 records → 12 instructions in .*o\.json in [\d.]+ s \([\d,]+ records\/s\)\n$/);
  const bad = await runCliProcess([
    "convert",
    ...[
      "--src_path",
      `${tmp.dir}/missing.json`,
      "--schema_path",
      `${DATA}NER/schema.json`,
      "--tgt_path",
      `${tmp.dir}/x.json`,
    ],
  ]);
  equal(bad.code, 1);
  equal(bad.stderr, `iepile: ${tmp.dir}/missing.json: file not found\n`);
});
