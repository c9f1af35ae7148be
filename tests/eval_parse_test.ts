/**
 * Reading model outputs: strict (Python `json.loads`, what the reference counts as an error)
 * and lenient (the repairs of `--lenient`). Expected values are what `json.loads` does with
 * each text (checked with CPython 3) and, for repairs, the JSON a person reads in the answer.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { parseJsonAsPython, parseOutput } from "../eval/parse_output.ts";
import { repairJson } from "../eval/lenient_json.ts";
import { type PyJson, PyNumber } from "../io/py_json.ts";

const FENCE = "\x60\x60\x60";

/** Plain JSON of a value read by the parsers (Maps as objects), for comparisons. */
function plain(v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof PyNumber) return v.value;
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

Deno.test("parseOutput strict: json.loads semantics", async (t) => {
  await t.step("accepted as Python accepts them", () => {
    const cases: Array<[string, unknown]> = [
      ['{"人物": ["张三"]}', { "人物": ["张三"] }],
      [' \n\t{"a": []}\r\n ', { a: [] }], // JSON whitespace around the value
      ['{"a": [1], "a": [2]}', { a: [2] }], // duplicate key: last value wins
      ['{"a": NaN, "b": [Infinity, -Infinity]}', { a: NaN, b: [Infinity, -Infinity] }], // Python-only literals
      ['{"\\u4eba\\u7269": ["\\u5f20"]}', { "人物": ["张"] }], // \\u escapes
    ];
    for (const [text, want] of cases) {
      const r = parseOutput(text);
      ok(r.ok, text);
      deepEqual(plain(r.value), want, text);
    }
  });
  await t.step("errors as Python reports them", () => {
    const cases: Array<[string, string]> = [
      ["", "empty"],
      ["  \n", "empty"],
      ['{"a": [', "invalid-json"], // cut off
      ['{"a": []} done', "invalid-json"], // json.loads: "Extra data"
      [FENCE + 'json\n{"a": []}\n' + FENCE, "invalid-json"], // fences are not stripped
      ["{'a': []}", "invalid-json"], // single quotes
      ['{"a": [],}', "invalid-json"], // trailing comma
      ['\u00a0{"a": []}', "invalid-json"], // NBSP is not JSON whitespace
      ['\ufeff{"a": []}', "invalid-json"], // json.loads(str) rejects a BOM
      ['["a"]', "not-object"],
      ['"text"', "not-object"],
      ["12", "not-object"],
      ["null", "not-object"],
    ];
    for (const [text, problem] of cases) {
      const r = parseOutput(text);
      ok(!r.ok, JSON.stringify(text));
      equal(r.problem, problem, JSON.stringify(text));
    }
  });
  await t.step("integers beyond 2^53 stay exact (Python ints)", () => {
    const v = parseJsonAsPython('{"a": [12345678901234567891, 12345678901234567892]}') as Map<string, PyNumber[]>;
    equal(v.get("a")![0].repr, "12345678901234567891");
    equal(v.get("a")![1].repr, "12345678901234567892");
  });
  await t.step("a long integer is kept exact wherever it stands, with or without text around it", () => {
    for (let pad = 0; pad < 40; pad++) {
      for (const digits of ["12345678901234567891", "9007199254740993"]) {
        const v = parseJsonAsPython(`${" ".repeat(pad)}[${digits}]`) as PyNumber[];
        ok(v[0] instanceof PyNumber, `pad ${pad}, ${digits}`);
        equal(v[0].repr, digits);
        const w = parseJsonAsPython(`{"t": "${"字".repeat(pad)}", "n": ${digits}, "u": "x${"y".repeat(pad)}"}`);
        equal(((w as Map<string, PyJson>).get("n") as PyNumber).repr, digits);
      }
      // 15 digits are exact as a double: plain numbers.
      const short = parseJsonAsPython(`${" ".repeat(pad)}[123456789012345, "a123456789012345b"]`);
      deepEqual(short, [123456789012345, "a123456789012345b"]);
    }
  });
});

Deno.test("parseOutput lenient: repairs what models typically break, and says which repair", async (t) => {
  const cases: Array<[string, string, unknown, string[]]> = [
    ["fence", FENCE + 'json\n{"人物": ["张三"]}\n' + FENCE, { "人物": ["张三"] }, ["fence"]],
    ["fence without language", FENCE + '\n{"a": ["x"]}\n' + FENCE + "\nThat is all.", { a: ["x"] }, ["fence"]],
    ["text before", 'Answer: {"a": ["x"]}', { a: ["x"] }, ["leading-text"]],
    ["text after", '{"a": ["x"]}\nI hope this helps.', { a: ["x"] }, ["trailing-text"]],
    ["cut in a string", '{"a": ["x", "y', { a: ["x"] }, ["truncated"]],
    ["cut after a key", '{"a": ["x"], "b": ', { a: ["x"] }, ["truncated"]],
    ["cut in a key", '{"a": ["x"], "b', { a: ["x"] }, ["truncated"]],
    ["cut in a number", '{"a": [1, 23', { a: [1] }, ["truncated"]],
    ["cut in a literal", '{"a": [true, fal', { a: [true] }, ["truncated"]],
    ["cut in an escape", '{"a": ["x", "\\u4e', { a: ["x"] }, ["truncated"]],
    ["cut inside a nested object", '{"e": [{"trigger": "t", "arguments": {"r": "v", "s": "w', {
      e: [{ trigger: "t", arguments: { r: "v" } }],
    }, ["truncated"]],
    ["single quotes", "{'a': ['it\\'s', \"b\"]}", { a: ["it's", "b"] }, ["single-quotes"]],
    ["Python literals", "{'a': [True, None], 'b': False}", { a: [true, null], b: false }, [
      "single-quotes",
      "python-literals",
    ]],
    ["trailing commas", '{"a": ["x",], "b": [],}', { a: ["x"], b: [] }, ["trailing-comma"]],
    ["raw newline in a string", '{"a": ["x\ny"]}\n', { a: ["x\ny"] }, []],
  ];
  for (const [name, text, want, repairs] of cases) {
    await t.step(name, () => {
      ok(!parseOutput(text).ok, "strict reading fails");
      const r = parseOutput(text, { lenient: true });
      ok(r.ok, "lenient reading succeeds");
      deepEqual(plain(r.value), want);
      deepEqual([...r.repairs], repairs);
    });
  }
  await t.step("what cannot be repaired stays an error", () => {
    for (const text of ["", "no json here", '["a", "b"]', '{"a": [1 2]}', "{oops}"]) {
      ok(!parseOutput(text, { lenient: true }).ok, text);
    }
    equal(repairJson("plain text"), undefined);
  });
  await t.step("valid outputs are never changed by lenient mode", () => {
    const r = parseOutput('{"a": ["x"]}', { lenient: true });
    ok(r.ok);
    deepEqual([...r.repairs], []);
  });
});
