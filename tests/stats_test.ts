/**
 * `stats` on a converted bundled file, against counts worked out by hand, and the
 * `split_schemas` batching rule against the spec's examples.
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { splitSchemas, splitSchemasKg } from "../convert/split_schemas.ts";
import { runCli, tempDir } from "./_shared.ts";

const DATA = new URL("../data/", import.meta.url).pathname;

Deno.test("stats of NER train (split_num 4): counts worked out by hand", async () => {
  await using tmp = await tempDir();
  const out = `${tmp.dir}/ner.json`;
  await runCli([
    "convert",
    ...["--src_path", `${DATA}NER/sample.json`, "--schema_path", `${DATA}NER/schema.json`, "--tgt_path", out],
    ...["--task", "NER", "--language", "en", "--split_num", "4", "--quiet"],
  ]);
  const r = await runCli(["stats", out, "--json"]);
  equal(r.code, 0);
  const s = JSON.parse(r.stdout);
  // 6 records × batches [location organization person 人物] + [地理位置 组织机构].
  equal(s.instructions, 12);
  equal(s.records, 6);
  deepEqual(s.batchSizes, { "2": 6, "4": 6 });
  deepEqual(s.byLanguage, { en: 12 });
  // Positives per record and batch: 3+0, 1+0, 0+0, 1+2, 0+2, 2+0 = 11 of 36 items.
  equal(s.positiveItems, 11);
  equal(s.negativeItems, 25);
  // All-negative: r1b2, r2b2, r3b1, r3b2, r5b1, r6b2.
  equal(s.allNegative, 6);
  const text = await runCli(["stats", out]);
  match(text.stdout, /positive : negative schema items = 1 : 2\.27 \(11 : 25; IEPile suggests 1:2 to 1:3\)/);
  match(text.stdout, /all-negative instructions: 6 \(50\.0% of training\)/);
});

Deno.test("stats rejects a file that is not converted output, naming the line", async () => {
  await using tmp = await tempDir();
  await Deno.writeTextFile(`${tmp.dir}/x.json`, '{"text": "raw record"}\n');
  const r = await runCli(["stats", `${tmp.dir}/x.json`]);
  equal(r.code, 1);
  match(r.stderr, /x\.json:1: field `instruction`: not a converted record/);
});

const NER_PRED = `${DATA}predictions/NER.json`;

Deno.test("stats describes a predictions file as predictions (bundled NER and RE), counts worked out by hand", async () => {
  const ner = await runCli(["stats", NER_PRED, "--json"]);
  equal(ner.code, 0, ner.stderr);
  const s = JSON.parse(ner.stdout);
  equal(s.kind, "predictions");
  equal(s.instructions, 6);
  equal(s.records, 6);
  deepEqual(s.splits, { train: 0, test: 0, predictions: 6 });
  // Labels: 4 + 3 + 0 + 4 + 2 + 3 annotations; the third record has none.
  deepEqual(s.gold, { records: 6, annotations: 16, empty: 1 });
  // Lines 1-4 are JSON objects (1, 2 and 4 name something); line 5 is cut off, line 6 is in a
  // Markdown fence: not valid JSON for the reference's json.loads.
  equal(s.answers.answered, 6);
  equal(s.answers.failed, 0);
  equal(s.answers.objects, 4);
  equal(s.answers.withContent, 3);
  equal(s.answers.invalidJson, 2);
  equal(s.answers.empty, 0);
  equal(s.answers.offSchema, 0);
  equal(s.positiveItems, 0); // the training balance is not computed from answers

  const text = await runCli(["stats", NER_PRED]);
  equal(text.code, 0, text.stderr);
  match(
    text.stdout,
    /^\S*NER\.json: 6 instructions from 6 records: predictions \(test instructions with the model's answer\)\n/,
  );
  match(text.stdout, /gold: +16 annotations in 6 records \(1 with none\)/);
  match(text.stdout, /answers: +6 \(100\.0%\); failed at inference \(`error` field\): 0/);
  match(text.stdout, /unreadable: 2 not valid JSON, 0 JSON but not an object, 0 empty/);
  match(text.stdout, /score with: iepile eval \S*NER\.json --task NER/);
  ok(!text.stdout.includes("∞") && !/positive : negative|training/.test(text.stdout), text.stdout);

  // RE: 10 lines, 5 records in two schema batches each; gold 1 + 3 + 0 + 2 + 1; line 7 is cut off.
  const re = JSON.parse((await runCli(["stats", `${DATA}predictions/RE.json`, "--json"])).stdout);
  equal(re.kind, "predictions");
  equal(re.records, 5);
  deepEqual(re.gold, { records: 5, annotations: 7, empty: 1 });
  equal(re.answers.objects, 9);
  equal(re.answers.invalidJson, 1);
  equal(re.answers.withContent, 5);
});

Deno.test("stats counts lines that failed at inference apart from empty answers", async () => {
  await using tmp = await tempDir();
  const [first, second] = (await Deno.readTextFile(NER_PRED)).split("\n");
  const failed = { ...JSON.parse(second), output: "", error: "the model ran out of memory" };
  const empty = { ...JSON.parse(first), id: "x", output: "" };
  const path = `${tmp.dir}/pred.json`;
  await Deno.writeTextFile(path, [first, JSON.stringify(failed), JSON.stringify(empty)].join("\n") + "\n");
  const s = JSON.parse((await runCli(["stats", path, "--json"])).stdout);
  equal(s.kind, "predictions");
  equal(s.answers.answered, 2);
  equal(s.answers.failed, 1);
  equal(s.answers.empty, 1);
  deepEqual(s.answers.firstError, { line: 2, message: "the model ran out of memory" });
  const text = await runCli(["stats", path]);
  match(
    text.stdout,
    /failed at inference \(`error` field\): 1 \(33\.3%\), first at line 2: the model ran out of memory/,
  );
});

Deno.test("stats names the kind of converted file: training without positives, test", async () => {
  await using tmp = await tempDir();
  const inner = JSON.stringify({ instruction: "x", schema: ["person", "place"], input: "nothing here" });
  const train = `${tmp.dir}/train.json`;
  await Deno.writeTextFile(
    train,
    JSON.stringify({ task: "NER", source: "s", instruction: inner, output: '{"person": [], "place": []}' }) + "\n",
  );
  const t = await runCli(["stats", train]);
  equal(t.code, 0);
  match(t.stdout, /training instructions/);
  match(t.stdout, /positive : negative schema items = 0 : 2 \(no positive item; IEPile suggests 1:2 to 1:3\)/);
  ok(!t.stdout.includes("∞"), t.stdout);

  const test = `${tmp.dir}/test.json`;
  const label = JSON.stringify([{ entity: "Ann", entity_type: "person" }]);
  await Deno.writeTextFile(
    test,
    JSON.stringify({ id: "1", task: "NER", source: "s", instruction: inner, label }) + "\n",
  );
  const s = JSON.parse((await runCli(["stats", test, "--json"])).stdout);
  equal(s.kind, "test");
  deepEqual(s.gold, { records: 1, annotations: 1, empty: 0 });
  equal(s.answers, null);
});

Deno.test("stats reads every bundled sample converted (train and test) and every bundled predictions file", async (t) => {
  await using tmp = await tempDir();
  for (const task of ["NER", "RE", "SPO", "EE", "EET", "EEA", "KG"]) {
    for (const split of ["train", "test"]) {
      await t.step(`${task} ${split}`, async () => {
        const out = `${tmp.dir}/${task}.${split}.json`;
        const c = await runCli([
          "convert",
          ...["--src_path", `${DATA}${task}/sample.json`, "--schema_path", `${DATA}${task}/schema.json`],
          ...["--tgt_path", out, "--task", task, "--language", "zh", "--split", split, "--quiet"],
        ]);
        equal(c.code, 0, c.stderr);
        const r = await runCli(["stats", out, "--json"]);
        equal(r.code, 0, r.stderr);
        const s = JSON.parse(r.stdout);
        equal(s.kind, split === "train" ? "training" : "test");
        deepEqual(Object.keys(s.byTask), [task]);
        ok(s.instructions >= s.records && s.records > 0);
        equal(s.answers, null);
        if (split === "test") ok(s.gold.records === s.records && s.gold.annotations > 0, r.stdout);
      });
    }
  }
  for (const name of ["NER", "RE"]) {
    await t.step(`predictions/${name}.json`, async () => {
      const r = await runCli(["stats", `${DATA}predictions/${name}.json`]);
      equal(r.code, 0, r.stderr);
      match(r.stdout, /: predictions \(test instructions with the model's answer\)\n/);
    });
  }
});

Deno.test("stats refuses a file mixing kinds with one line naming the first odd line", async () => {
  await using tmp = await tempDir();
  const [first] = (await Deno.readTextFile(NER_PRED)).split("\n");
  const training = JSON.parse(first);
  delete training.id;
  delete training.label;
  const path = `${tmp.dir}/mixed.json`;
  await Deno.writeTextFile(path, [first, first, JSON.stringify(training)].join("\n") + "\n");
  const r = await runCli(["stats", path]);
  equal(r.code, 1);
  match(
    r.stderr,
    /mixed\.json:3: a training line \(`output` without `id` or `label`\) among predictions lines .*one kind of file at a time/,
  );
  equal(r.stderr.trim().split("\n").length, 1, r.stderr);
});

Deno.test("splitSchemas follows the spec's examples", () => {
  const sizes = (n: number, k: number) => splitSchemas([...Array(n).keys()], k).map((b) => b.length);
  deepEqual(sizes(9, 4), [4, 5]);
  deepEqual(sizes(10, 4), [4, 4, 2]);
  deepEqual(sizes(3, 4), [3]);
  deepEqual(sizes(8, 6), [8]);
  deepEqual(sizes(9, 6), [6, 3]);
  deepEqual(sizes(3, 2), [2, 1]);
  deepEqual(sizes(3, 1), [1, 1, 1]);
  deepEqual(sizes(4, 3), [3, 1]);
  deepEqual(sizes(5, 3), [3, 2]);
  deepEqual(sizes(7, 3), [3, 3, 1]);
  deepEqual(sizes(0, 4), [0]);
  deepEqual(sizes(5, -1), [5]);
  deepEqual(splitSchemasKg(["only"], -1), [[], ["only"]]);
  deepEqual(splitSchemasKg([], -1), [[]]);
});
