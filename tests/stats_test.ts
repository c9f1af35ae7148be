/**
 * `stats` on a converted bundled file, against counts worked out by hand, and the
 * `split_schemas` batching rule against the spec's examples.
 */

import { deepEqual, equal, match } from "node:assert/strict";
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
