/**
 * Tuples from outputs and labels, per task, matching, and the Python equality the matching
 * relies on. Expected tuples are written out by hand from IEPile's evaluator rules for each
 * small input.
 */

import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { extractTuples, UnscorableOutputError } from "../eval/extract.ts";
import { goldTuples } from "../eval/gold.ts";
import { countMatches, matchCounts } from "../eval/match.ts";
import { tupleKey } from "../eval/tuple_key.ts";
import { TupleBag } from "../eval/tuple_bag.ts";
import { mergeGroups, predictionLine } from "../eval/groups.ts";
import { SchemaKeyReader, schemaKeysOf } from "../eval/schema_keys.ts";
import { InputError } from "../io/errors.ts";
import { PyNumber } from "../io/py_json.ts";
import type { JsonObject } from "../io/json_object.ts";

Deno.test("extractTuples: per task, as the reference reads outputs", async (t) => {
  await t.step("NER and EET: (item, key) for string items; other values skipped", () => {
    const out = { "人物": ["张三", 3, null, "李四"], "地点": "北京", "组织": [] };
    const r = extractTuples("NER", out);
    deepEqual(r.tuples, [["张三", "人物"], ["李四", "人物"]]);
    equal(r.skipped, 3); // 3, null, and the non-list "北京"
    deepEqual(extractTuples("EET", { "地震": ["震"] }).tuples, [["震", "地震"]]);
  });
  await t.step("RE and SPO: (subject, key, object); head/tail accepted unless reference keys", () => {
    const out: JsonObject = {
      "出生地": [
        { subject: "张三", object: "北京" },
        { head: "李四", tail: "上海" },
        { subject: "王五", tail: "天津" }, // subject present, object missing → tail
        { subject: "赵六" }, // object missing, no tail → ""
        { subject: 1, object: "x" }, // non-string → skipped
        "not an object", // skipped
      ],
    };
    deepEqual(extractTuples("RE", out).tuples, [
      ["张三", "出生地", "北京"],
      ["李四", "出生地", "上海"],
      ["王五", "出生地", "天津"],
      ["赵六", "出生地", ""],
    ]);
    deepEqual(extractTuples("SPO", out, { headTail: false }).tuples, [
      ["张三", "出生地", "北京"],
      ["", "出生地", ""],
      ["王五", "出生地", ""],
      ["赵六", "出生地", ""],
    ]);
    equal(extractTuples("RE", out).skipped, 2);
  });
  await t.step("EE: events (type, trigger); arguments (type, value, role) without NAN; lists expanded", () => {
    const out: JsonObject = {
      "袭击": [
        { trigger: "打", arguments: { "受害者": ["甲", "NAN", "乙"], "地点": "NAN", "时间": 2020, "x": "nan" } },
        { arguments: { "地点": "城" } }, // no trigger → ""
        { trigger: 5, arguments: {} }, // non-string trigger → skipped
      ],
      "会见": [],
    };
    const r = extractTuples("EE", out);
    deepEqual(r.tuples, [["袭击", "打"], ["袭击", ""]]);
    deepEqual(r.arguments, [
      ["袭击", "甲", "受害者"],
      ["袭击", "乙", "受害者"],
      ["袭击", 2020, "时间"], // non-string values take part as they are
      ["袭击", "nan", "x"], // only "NAN" (exact case) is the no-value marker
      ["袭击", "城", "地点"],
    ]);
    equal(r.skipped, 1);
  });
  await t.step("EE: `arguments` that is not an object is unscorable (the reference crashes)", () => {
    throws(
      () => extractTuples("EE", { "袭击": [{ trigger: "打", arguments: ["甲"] }] }),
      (err: unknown) => err instanceof UnscorableOutputError && err.path === "袭击[0].arguments",
    );
  });
  await t.step('EEA: each object is one event (type, "") with its arguments', () => {
    const r = extractTuples("EEA", { "袭击": [{ "受害者": "甲", "地点": "NAN" }, {}, "x"] });
    deepEqual(r.tuples, [["袭击", ""], ["袭击", ""]]);
    deepEqual(r.arguments, [["袭击", "甲", "受害者"]]);
    equal(r.skipped, 1);
  });
  await t.step("KG: (entity, attribute, value); 无 and nan dropped; other value types dropped", () => {
    const out = {
      "人物": {
        "张三": { "别名": ["三", "无", "NaN"], "父亲": "张大", "国籍": "nan", "年龄": 30, "籍贯": "无" },
        "李四": "not an object",
      },
      "地点": [],
    };
    const r = extractTuples("KG", out);
    deepEqual(r.tuples, [["张三", "别名", "三"], ["张三", "父亲", "张大"]]);
    equal(r.skipped, 2); // 李四's value, and the non-object "地点"
    throws(() => extractTuples("KG", { "人物": { "张三": { "别名": ["三", 1] } } }), UnscorableOutputError);
  });
  await t.step("Map objects (integer-like keys) read like plain ones", () => {
    const out = new Map([["2", ["x"]], ["1", ["y"]]]);
    deepEqual(extractTuples("NER", out).tuples, [["x", "2"], ["y", "1"]]);
  });
});

Deno.test("goldTuples: from the label list, with clear errors for a broken label", () => {
  deepEqual(goldTuples("NER", [{ entity: "张三", entity_type: "人物" }]).tuples, [["张三", "人物"]]);
  deepEqual(goldTuples("RE", [{ head: "a", relation: "r" }]).tuples, [["a", "r", ""]]);
  deepEqual(goldTuples("KG", [{ head: "a", relation: "r", tail: "b" }]).tuples, [["a", "r", "b"]]);
  deepEqual(goldTuples("EET", [{ event_type: "t", event_trigger: "g", arguments: [] }]).tuples, [["g", "t"]]);
  const ee = [{
    event_type: "t",
    event_trigger: "g",
    arguments: [{ argument: "", role: "r" }, { argument: "x", role: "s" }],
  }];
  deepEqual(goldTuples("EE", ee), { tuples: [["t", "g"]], arguments: [["t", "", "r"], ["t", "x", "s"]] });
  deepEqual(goldTuples("EEA", ee), { tuples: [["t", ""]], arguments: [["t", "", "r"], ["t", "x", "s"]] });
  for (
    const [label, field] of [
      [{ a: 1 }, "label"],
      [["x"], "label[0]"],
      [[{ entity: "a" }], "label[0]"],
    ] as const
  ) {
    throws(() => goldTuples("NER", label as never), (e: unknown) => e instanceof InputError && e.field === field);
  }
  throws(() => goldTuples("EE", [{ event_type: "t", arguments: [{ role: "r" }] }]), /label\[0\]\.arguments\[0\]/);
});

Deno.test("matching: multisets in normal mode, distinct tuples in set mode", () => {
  // gold: A, A, B; pred: A, C, C → normal: tp = min(2,1) = 1, pred 3, gold 3;
  // set: gold {A, B}, pred {A, C} → tp 1, pred 2, gold 2.
  const gold = [["A", "t"], ["A", "t"], ["B", "t"]];
  const pred = [["A", "t"], ["C", "t"], ["C", "t"]];
  deepEqual(matchCounts(gold, pred, "normal"), { tp: 1, pred: 3, gold: 3 });
  deepEqual(matchCounts(gold, pred, "set"), { tp: 1, pred: 2, gold: 2 });
  deepEqual(countMatches([[3, 2], [0, 4]], "normal"), { tp: 2, pred: 6, gold: 3 });
  // exact comparison: case, spaces and Unicode form all count
  deepEqual(matchCounts([["Ann", "p"]], [["ann", "p"], ["Ann ", "p"], ["A\u030ann", "p"]], "normal").tp, 0);
});

Deno.test("tupleKey and TupleBag: Python equality", () => {
  ok(tupleKey([1]) === tupleKey([new PyNumber("1.0", 1)])); // 1 == 1.0
  ok(tupleKey([true]) === tupleKey([1])); // True == 1
  ok(tupleKey([false]) === tupleKey([0]));
  ok(tupleKey([{ a: 1, b: [2] }]) === tupleKey([new Map<string, unknown>([["b", [2]], ["a", 1]]) as never]));
  ok(tupleKey([[1, 2]]) !== tupleKey([[2, 1]])); // lists are ordered
  ok(tupleKey(["1"]) !== tupleKey([1])); // "1" != 1
  ok(tupleKey([NaN]) !== tupleKey([NaN])); // nan != nan
  ok(tupleKey([new PyNumber("9007199254740993", 9007199254740992, true)]) !== tupleKey([9007199254740992]));
  ok(tupleKey(["a", "bc"]) !== tupleKey(["ab", "c"]));
  ok(tupleKey([null]) !== tupleKey([""]));
  const bag = new TupleBag(2);
  bag.add(["x", 1], 0, "gold");
  bag.add(["x", true], 0, "pred");
  bag.add(["x", "1"], 0, "pred");
  deepEqual(bag.slots.map((s) => [s.gold, s.pred]), [[1, 1], [0, 1]]);
  // past 16 distinct tuples the bag switches to an index; counts stay right
  const big = new TupleBag(2);
  for (let i = 0; i < 50; i++) big.add([`e${i % 25}`, "t"], 1, i < 25 ? "gold" : "pred");
  ok(big.slots.every((s) => s.gold === 1 && s.pred === 1));
});

Deno.test("groups: source + id, first appearance order, outputs pooled", () => {
  const groups = mergeGroups([
    { id: "1", source: "A", label: "[]", output: "a" },
    { id: "1", source: "B", label: "[]", output: "b" }, // same id, other source: another group
    { id: "1", source: "A", label: "[]", output: "c" },
    { id: "bc", source: "a", label: "[]", output: "d" },
    { id: "c", source: "ab", label: "[]", output: "e" }, // "ab" + "c" == "a" + "bc": one group, as in the reference
  ]);
  deepEqual(groups.map((g) => [g.key, g.outputs]), [["A1", ["a", "c"]], ["B1", ["b"]], ["abc", ["d", "e"]]]);
  equal(predictionLine({ id: "x", output: "" }).source, "None");
  throws(() => predictionLine({ output: "" }), /no `id`/);
  throws(() => predictionLine({ id: "x" }), /no `output`/);
  throws(() => predictionLine({ id: "x", output: { a: 1 } }), /must be a string/);
});

Deno.test("schema keys: read from the instruction of each line", () => {
  const reader = new SchemaKeyReader("NER");
  const ins = (schema: unknown, input = "t") =>
    JSON.stringify({ instruction: "i", schema, input }).replaceAll('":', '": ').replaceAll('","', '", "');
  deepEqual([...reader.read(ins(["人物", "地点"]))!], ["人物", "地点"]);
  deepEqual([...reader.read(ins(["组织"], "other text"))!], ["组织"]);
  deepEqual([...reader.read(ins(["人物", "地点"], "x"))!], ["人物", "地点"]); // remembered schema
  // a schema whose text holds `, "input": ` (a KG-like object) still reads right
  deepEqual([...new SchemaKeyReader("KG").read(ins([{ entity_type: "人", input: 1 }]))!], ["人"]);
  // other layouts: parsed whole
  deepEqual([...reader.read('{"input": "x", "schema": ["a"]}')!], ["a"]);
  equal(reader.read("{broken"), undefined);
  deepEqual([...schemaKeysOf("EE", [{ event_type: "e", arguments: [] }])!], ["e"]);
  deepEqual([...schemaKeysOf("KG", [{ entity_type: "k", attributes: [] }])!], ["k"]);
  equal(schemaKeysOf("NER", "not a list"), undefined);
});
