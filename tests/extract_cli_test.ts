/**
 * `iepile extract` end to end. Most cases drive it against a small OpenAI-compatible stub server
 * started here on loopback, which answers each request with known extractions for the chunk it
 * is asked about (duplicates across chunks, strings in the overlaps, a string not in the text,
 * an item the fuzzy match must find, keys written in another order than asked); the merged,
 * grounded output must equal the expectation worked out by hand below, offsets included. One
 * case runs the real CPU engine on a demo model (random weights, real Mistral tokenizer) over the
 * bundled multi-page document: its answers are noise, but every string it writes (`--extractive`)
 * must come back at offsets that hold it.
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { writeDemoModel } from "../scripts/demo_model.ts";
import { mergeDocument } from "../extract/mod.ts";
import { shapeForInstruction } from "../infer/constrain/shape.ts";
import { runCli, tempDir } from "./_shared.ts";

const DATA = new URL("../data/", import.meta.url).pathname;

/** What the stub answers: per chunk text, per answer key, the strings (or items) it writes. */
type AnswerTable = Record<string, Record<string, unknown[]>>;

interface Stub {
  url: string;
  /** Requests answered so far. */
  calls: () => number;
  /** The schemas asked, in the order asked (keys of each request). */
  asked: string[][];
  close: () => Promise<void>;
}

/**
 * A stub server: the chat request's content is the instruction JSON; the answer holds, for every
 * key the schema asks (in the reverse of the order asked), what the table says for that input.
 */
function stub(table: AnswerTable, options: { fail?: (input: string) => boolean } = {}): Stub {
  let calls = 0;
  const asked: string[][] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/v1/models") return Response.json({ data: [{ id: "stub" }] });
    if (path !== "/v1/chat/completions") return new Response("not found", { status: 404 });
    const body = await req.json();
    const instruction = JSON.parse(body.messages[0].content);
    const schema = instruction.schema;
    const keys: string[] = Array.isArray(schema)
      ? schema.map((e: Record<string, string> | string) =>
        typeof e === "string" ? e : e.event_type ?? e.entity_type ?? e.predicate
      )
      : Object.keys(schema);
    calls++;
    asked.push(keys);
    if (options.fail?.(instruction.input)) return Response.json({ error: { message: "boom" } }, { status: 400 });
    const row = table[instruction.input] ?? {};
    const answer: Record<string, unknown[]> = {};
    for (const k of [...keys].reverse()) answer[k] = row[k] ?? [];
    return Response.json({ choices: [{ message: { content: JSON.stringify(answer) }, finish_reason: "stop" }] });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/v1`,
    calls: () => calls,
    asked,
    close: () => server.shutdown(),
  };
}

// The document, worked by hand. UTF-16 indices:
//   "Ann Lee met Bob in Oslo. "              0–25   Ann Lee 0–7, Bob 12–15, Oslo 19–23
//   "Bob works at ACME Corp.\r\n"           25–50   Bob 25–28, ACME Corp 38–47
//   "Later, 🚀 Ann flew to Paris. "          50–79   🚀 57–59, Ann 60–63, Paris 72–77
//   "Carl stayed."                           79–91   Carl 79–83
// Code points: one less from index 59 on (the emoji is two UTF-16 units): Ann 59–62, Paris 71–76,
// Carl 78–82.
const DOC = "Ann Lee met Bob in Oslo. Bob works at ACME Corp.\r\nLater, 🚀 Ann flew to Paris. Carl stayed.";
// --chunk-chars 60 --overlap 30, sentence sizes as JSON-escaped characters: 25, 27 (\r\n is
// written \\r\\n), 29, 12. Chunk 0 = sentences 1–2 (52); chunk 1 starts with sentence 2 again (27
// ≤ 30 of overlap): 2–3 (56); chunk 2 = 3–4 (41).
const CHUNKS = [DOC.slice(0, 50), DOC.slice(25, 79), DOC.slice(50, 91)];
const NER_TABLE: AnswerTable = {
  // "Bob" twice: the second is the second occurrence; "Acme corp" is found ignoring case.
  [CHUNKS[0]]: { person: ["Ann Lee", "Bob", "Bob"], location: ["Oslo"], organization: ["Acme corp"] },
  // In the overlap with chunk 0: Bob (25–28) and ACME Corp (38–47) again, kept once.
  [CHUNKS[1]]: { person: ["Bob", "Ann"], location: ["Paris"], organization: ["ACME Corp"] },
  // "Pariss" is Paris by a fuzzy match (5/6 alike): the same span as chunk 1's, kept once; Zed is nowhere.
  [CHUNKS[2]]: { person: ["Ann", "Carl", "Zed"], location: ["Pariss"] },
};
const SCHEMA = '{"person": "a human being", "location": "a place", "organization": "a company or institution"}';

function entity(type: string, text: string, start: number | null, end: number | null, m?: string) {
  return start === null
    ? { kind: "entity", type, text, start, end, grounded: false }
    : { kind: "entity", type, text, start, end, grounded: true, match: m ?? "exact" };
}

/** The expected extractions, in code points. */
const EXPECTED = [
  entity("person", "Ann Lee", 0, 7),
  entity("person", "Bob", 12, 15),
  entity("location", "Oslo", 19, 23),
  entity("person", "Bob", 25, 28),
  entity("organization", "Acme corp", 38, 47, "normalized"),
  entity("person", "Ann", 59, 62),
  entity("location", "Paris", 71, 76),
  entity("person", "Carl", 78, 82),
  entity("person", "Zed", null, null),
];

function extractArgs(server: Stub, input: string, output: string, more: string[] = []): string[] {
  return [
    "extract",
    ...["--task", "NER", "--language", "en", "--schema", SCHEMA, "--split-num", "2"],
    ...["--input", input, "--output", output, "--chunk-chars", "60", "--overlap", "30"],
    ...["--engine", "openai", "--base-url", server.url, "--api", "chat", "--concurrency", "1"],
    ...more,
  ];
}

function lines(text: string): Array<Record<string, unknown>> {
  return text.trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test("extract: chunks, votes, grounding and merging against a stub server, as worked by hand", async (t) => {
  await using tmp = await tempDir();
  const server = stub(NER_TABLE);
  try {
    const input = `${tmp.dir}/doc.txt`;
    await Deno.writeTextFile(input, DOC);
    const out = `${tmp.dir}/out.jsonl`;
    await t.step("the output equals the hand-worked extractions (code-point offsets)", async () => {
      const r = await runCli(extractArgs(server, input, out, ["--html", `${tmp.dir}/report.html`]));
      equal(r.code, 0, r.stderr);
      // 3 chunks × 2 schema batches (split-num 2 of 3 types).
      equal(server.calls(), 6);
      deepEqual(lines(await Deno.readTextFile(out)), [{ id: "doc.txt", extractions: EXPECTED }]);
      match(r.stderr, /extracted 9 items \(9 strings\) from 1 documents/);
      match(r.stderr, /1 strings were not found in the text/);
    });
    await t.step(
      "the requests are the converter's instructions, with OneKE's descriptions, one per chunk",
      async () => {
        const requests = lines(await Deno.readTextFile(`${out}.parts/requests.jsonl`));
        equal(requests.length, 6);
        const inputs = requests.map((r) => JSON.parse(r.instruction as string).input);
        deepEqual([...new Set(inputs)], CHUNKS);
        const first = JSON.parse(requests[0].instruction as string);
        ok(first.instruction.startsWith("You are an expert in named entity recognition."));
        equal(Object.values(first.schema).every((d) => typeof d === "string" && d.startsWith("a ")), true);
        deepEqual(requests.map((r) => r.id), [
          "doc.txt#c0.b0.o0",
          "doc.txt#c0.b1.o0",
          "doc.txt#c1.b0.o0",
          "doc.txt#c1.b1.o0",
          "doc.txt#c2.b0.o0",
          "doc.txt#c2.b1.o0",
        ]);
      },
    );
    await t.step("the report page holds the document and its spans", async () => {
      const html = await Deno.readTextFile(`${tmp.dir}/report.html`);
      equal(html.match(/<mark\b/g)?.length, 8, "8 grounded spans, none nested or overlapping");
      match(html, /not found in the text/);
    });
    await t.step("--offsets utf16 gives JavaScript's indices after the emoji", async () => {
      const r = await runCli(extractArgs(server, input, out, ["--offsets", "utf16", "--quiet"]));
      equal(r.code, 0, r.stderr);
      const [doc] = lines(await Deno.readTextFile(out));
      const ann = (doc.extractions as Array<Record<string, unknown>>)[5];
      deepEqual([ann.text, ann.start, ann.end], ["Ann", 60, 63]);
      equal(DOC.slice(60, 63), "Ann");
    });
    await t.step(
      "run again: nothing is asked, the output is rewritten the same; --grounded-only drops Zed",
      async () => {
        const before = server.calls();
        const r = await runCli(extractArgs(server, input, out, ["--grounded-only"]));
        equal(r.code, 0, r.stderr);
        equal(server.calls(), before, "every request was answered already");
        deepEqual(lines(await Deno.readTextFile(out)), [{ id: "doc.txt", extractions: EXPECTED.slice(0, 8) }]);
        match(r.stderr, /1 items and arguments not found in the text were dropped/);
      },
    );
    await t.step("a stopped run continues: only the missing answers are asked", async () => {
      const pred = `${out}.parts/predictions.jsonl`;
      const kept = (await Deno.readTextFile(pred)).split("\n").slice(0, 4).join("\n") + "\n";
      await Deno.writeTextFile(pred, kept);
      const before = server.calls();
      const r = await runCli(extractArgs(server, input, out, ["--quiet"]));
      equal(r.code, 0, r.stderr);
      equal(server.calls() - before, 2);
      deepEqual(lines(await Deno.readTextFile(out)), [{ id: "doc.txt", extractions: EXPECTED }]);
    });
    await t.step(
      "--orders 3: each batch asked in its distinct orders (the converter's first), same answers kept",
      async () => {
        const out3 = `${tmp.dir}/out3.jsonl`;
        server.asked.length = 0;
        const r = await runCli(extractArgs(server, input, out3, ["--orders", "3", "--quiet"]));
        equal(r.code, 0, r.stderr);
        // Per chunk: the batch of two types in its 2 orders, the batch of one in its only one.
        equal(server.asked.length, 3 * (2 + 1));
        const byBatch = new Map<string, string[]>();
        for (const keys of server.asked) {
          const key = [...keys].sort().join();
          byBatch.set(key, [...byBatch.get(key) ?? [], keys.join()]);
        }
        deepEqual([...byBatch.values()].map((orders) => new Set(orders).size).sort(), [1, 2]);
        deepEqual(lines(await Deno.readTextFile(out3)), [{ id: "doc.txt", extractions: EXPECTED }]);
      },
    );
  } finally {
    await server.close();
  }
});

Deno.test("extract: votes across schema orders keep what most orders found", () => {
  // Hand-worked: 3 orders of one batch of three types; Ann in all three, Bob in two, Oslo in one.
  const text = "Ann met Bob in Oslo.";
  const answers = [
    '{"person": ["Ann", "Bob"], "location": ["Oslo"], "organization": []}',
    '{"location": [], "organization": [], "person": ["Bob", "Ann"]}',
    '{"organization": [], "person": ["Ann"], "location": []}',
  ].map((output, order) => ({ chunk: 0, batch: 0, order, output }));
  const chunk = [{ start: 0, end: text.length, text }];
  const batch = [{ record: {}, schema: ["person", "location", "organization"] }];
  const texts = (minVotes: number, b = batch, a = answers) =>
    mergeDocument("d", text, chunk, b, a, { task: "NER", orders: 3, minVotes }).extractions
      .map((x) => x.kind === "entity" ? x.text : "");
  deepEqual(texts(2), ["Ann", "Bob"]);
  deepEqual(texts(3), ["Ann"]);
  deepEqual(texts(1), ["Ann", "Bob", "Oslo"]);
  // A batch of one type has one order: with --orders 3 --min-votes 2 its single answer decides
  // (2 of 3 is a share of at least 2/3: 1 of its 1 order).
  const one = [{ record: {}, schema: ["person"] }];
  deepEqual(texts(2, one, [{ chunk: 0, batch: 0, order: 0, output: '{"person": ["Bob"]}' }]), ["Bob"]);
});

Deno.test("extract: events, relations and KG entities get offsets for every string", async (t) => {
  await using tmp = await tempDir();
  // "Rebels attacked the town. Police arrived.": Rebels 0–6, attacked 7–15, the town 16–24, Police 26–32,
  // arrived 33–40.
  const ee = "Rebels attacked the town. Police arrived.";
  // "Ann Lee lives in Oslo with Bob.": Ann Lee 0–7, Oslo 17–21, Bob 27–30.
  const re = "Ann Lee lives in Oslo with Bob.";
  // "Marie Curie (1867–1934) won the Nobel Prize.": Marie Curie 0–11, 1867 13–17, Nobel Prize 32–43.
  const kg = "Marie Curie (1867–1934) won the Nobel Prize.";
  const server = stub({
    [ee]: {
      attack: [{ trigger: "attacked", arguments: { attacker: "Rebels", target: ["the town", "NAN"] } }],
      arrive: [{ trigger: "arrived", arguments: { entity: "Police" } }],
    },
    [re]: { "lives in": [{ subject: "Ann Lee", object: "Oslo" }, { head: "Bob", tail: "Oslo" }], "born in": [] },
  });
  const span = (text: string, start: number, end: number) => ({ text, start, end, grounded: true, match: "exact" });
  const run = async (task: string, schema: string, text: string) => {
    await Deno.writeTextFile(`${tmp.dir}/docs.jsonl`, JSON.stringify({ id: task, text }) + "\n");
    const r = await runCli([
      "extract",
      ...["--task", task, "--language", "en", "--schema", schema, "--input", `${tmp.dir}/docs.jsonl`],
      ...["--output", `${tmp.dir}/${task}.jsonl`, "--engine", "openai", "--base-url", server.url, "--api", "chat"],
      "--quiet",
    ]);
    equal(r.code, 0, r.stderr);
    return lines(await Deno.readTextFile(`${tmp.dir}/${task}.jsonl`))[0].extractions;
  };
  try {
    await t.step("EE: trigger and arguments", async () => {
      const schema = '[{"event_type": "attack", "arguments": ["attacker", "target"]}, ' +
        '{"event_type": "arrive", "arguments": ["entity"]}]';
      deepEqual(await run("EE", schema, ee), [
        {
          kind: "event",
          type: "attack",
          trigger: span("attacked", 7, 15),
          arguments: [{ role: "attacker", ...span("Rebels", 0, 6) }, { role: "target", ...span("the town", 16, 24) }],
        },
        {
          kind: "event",
          type: "arrive",
          trigger: span("arrived", 33, 40),
          arguments: [{ role: "entity", ...span("Police", 26, 32) }],
        },
      ]);
    });
    await t.step("RE: head and tail (subject/object or head/tail keys)", async () => {
      deepEqual(await run("RE", '["lives in", "born in"]', re), [
        { kind: "relation", relation: "lives in", head: span("Ann Lee", 0, 7), tail: span("Oslo", 17, 21) },
        { kind: "relation", relation: "lives in", head: span("Bob", 27, 30), tail: span("Oslo", 17, 21) },
      ]);
    });
  } finally {
    await server.close();
  }
  // KG answers are objects ({type: {entity: {attribute: value}}}): a stub of its own.
  const kgServer = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    if (new URL(req.url).pathname === "/v1/models") return Response.json({ data: [{ id: "stub" }] });
    await req.json();
    const content = JSON.stringify({ person: { "Marie Curie": { born: "1867", award: ["Nobel Prize", "无"] } } });
    return Response.json({ choices: [{ message: { content }, finish_reason: "stop" }] });
  });
  try {
    await t.step("KG: the entity and its attributes (无 dropped)", async () => {
      await Deno.writeTextFile(`${tmp.dir}/kg.jsonl`, JSON.stringify({ id: "KG", text: kg }) + "\n");
      const r = await runCli([
        "extract",
        ...[
          "--task",
          "KG",
          "--language",
          "en",
          "--schema",
          '[{"entity_type": "person", "attributes": ["born", "award"]}]',
        ],
        ...["--input", `${tmp.dir}/kg.jsonl`, "--output", `${tmp.dir}/KG.jsonl`, "--engine", "openai"],
        ...["--base-url", `http://127.0.0.1:${kgServer.addr.port}/v1`, "--api", "chat", "--quiet"],
      ]);
      equal(r.code, 0, r.stderr);
      deepEqual(lines(await Deno.readTextFile(`${tmp.dir}/KG.jsonl`))[0].extractions, [{
        kind: "kg",
        type: "person",
        entity: span("Marie Curie", 0, 11),
        attributes: [{ attribute: "born", ...span("1867", 13, 17) }, {
          attribute: "award",
          ...span("Nobel Prize", 32, 43),
        }],
      }]);
    });
  } finally {
    await kgServer.shutdown();
  }
});

Deno.test("extract --format iepile: prediction records that eval scores", async () => {
  await using tmp = await tempDir();
  // The stub answers each bundled NER sample with its gold entities, except "Paris" (location).
  const table: AnswerTable = {};
  for (const line of (await Deno.readTextFile(`${DATA}NER/sample.json`)).trim().split("\n")) {
    const record = JSON.parse(line);
    const row: Record<string, unknown[]> = {};
    for (const e of record.entity) {
      if (e.entity === "Paris") continue;
      if (!(row[e.entity_type] ??= []).includes(e.entity)) row[e.entity_type].push(e.entity);
    }
    table[record.text] = row;
  }
  const server = stub(table);
  try {
    const out = `${tmp.dir}/pred.json`;
    const r = await runCli([
      "extract",
      ...["--task", "NER", "--language", "en", "--schema", `${DATA}NER/schema.json`, "--format", "iepile"],
      ...["--input", `${DATA}NER/sample.json`, "--output", out, "--engine", "openai", "--base-url", server.url],
      ...["--api", "chat", "--quiet"],
    ]);
    equal(r.code, 0, r.stderr);
    const records = lines(await Deno.readTextFile(out));
    equal(records.length, 6, "one record per document (6 types, split-num 6: one batch)");
    ok(records.every((x) => typeof x.output === "string"));
    // Without their output, the records are the converted test set: `convert --split test` on the same file.
    const converted = `${tmp.dir}/test.json`;
    const c = await runCli([
      "convert",
      ...["--src_path", `${DATA}NER/sample.json`, "--schema_path", `${DATA}NER/schema.json`, "--tgt_path", converted],
      ...["--task", "NER", "--language", "en", "--split", "test", "--split_num", "6", "--quiet"],
    ]);
    equal(c.code, 0, c.stderr);
    const testSet = lines(await Deno.readTextFile(converted));
    deepEqual(records.map(({ output: _, ...rest }) => rest), testSet);
    const scored = await runCli(["eval", "--path1", out, "--task", "NER"]);
    equal(scored.code, 0, scored.stderr);
    // 16 gold entities (the converter keeps one of the two identical 杭州), 15 answered, all right:
    // P = 100, R = 15/16 = 93.75, F1 = 2 · 100 · 93.75 / 193.75 = 96.77.
    match(scored.stdout, /total +6 +0 +15 +16 +15 +100\.00 +93\.75 +96\.77\n/);
  } finally {
    await server.close();
  }
});

Deno.test("extract: bad input is one line naming file, line and field, before any request", async (t) => {
  await using tmp = await tempDir();
  const server = stub({});
  try {
    const doc = `${tmp.dir}/doc.txt`;
    await Deno.writeTextFile(doc, "Ann met Bob.");
    const run = (args: string[]) =>
      runCli([
        "extract",
        ...["--language", "en", "--output", `${tmp.dir}/out.jsonl`],
        ...["--engine", "openai", "--base-url", server.url, "--api", "chat"],
        ...args,
      ]);
    await t.step("a schema of the wrong shape for the task", async () => {
      await Deno.writeTextFile(`${tmp.dir}/ee.json`, '[{"event_type": "meet", "arguments": "place"}]');
      const r = await run(["--task", "EE", "--schema", `${tmp.dir}/ee.json`, "--input", doc]);
      equal(r.code, 1);
      equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      match(r.stderr, /ee\.json: field `schema\[0\]\.arguments`: expected a list of role names/);
    });
    await t.step("a JSON Lines document without text", async () => {
      await Deno.writeTextFile(`${tmp.dir}/docs.jsonl`, '{"id": "a", "text": "x"}\n{"id": "b", "body": "y"}\n');
      const r = await run(["--task", "NER", "--schema", '["person"]', "--input", `${tmp.dir}/docs.jsonl`]);
      equal(r.code, 1);
      match(r.stderr, /docs\.jsonl:2: field `text`: missing/);
      equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    });
    await t.step("a document over the size limit", async () => {
      const r = await run(["--task", "NER", "--schema", '["person"]', "--input", doc, "--max-document-chars", "5"]);
      equal(r.code, 1);
      match(r.stderr, /doc\.txt: the document has 12 characters, more than the limit of 5/);
    });
    await t.step("an unreadable input and a missing option", async () => {
      const r = await run(["--task", "NER", "--schema", '["person"]', "--input", `${tmp.dir}/nope.txt`]);
      equal(r.code, 1);
      match(r.stderr, /nope\.txt: file not found/);
      const u = await run(["--schema", '["person"]', "--input", doc]);
      equal(u.code, 2);
      match(u.stderr, /--task is required/);
    });
    await t.step(
      "an unknown option, a stray argument, a budget too small, a report into a missing folder",
      async () => {
        const base = ["--task", "NER", "--schema", '["person"]', "--input", doc];
        const unknown = await run([...base, "--groundedonly"]);
        equal(unknown.code, 2);
        match(unknown.stderr, /unknown option --groundedonly/);
        const stray = await run([...base, "stray"]);
        equal(stray.code, 2);
        match(stray.stderr, /unexpected argument "stray"/);
        const tiny = await run([...base, "--chunk-chars", "1"]);
        equal(tiny.code, 2);
        match(tiny.stderr, /--chunk-chars/);
        const html = await run([...base, "--html", `${tmp.dir}/nope/r.html`]);
        equal(html.code, 1);
        match(html.stderr, /nope/);
        for (const x of [unknown, stray, tiny, html]) equal(x.stderr.trim().split("\n").length, 1, x.stderr);
      },
    );
    equal(server.calls(), 0, "no request was sent");
  } finally {
    await server.close();
  }
});

Deno.test("extract: failed requests, retries, other infer options on a finished run", async (t) => {
  await using tmp = await tempDir();
  let broken = true;
  const server = stub({ "Ann ran.": { person: ["Ann"] }, "Bob ran.": { person: ["Bob"] } }, {
    fail: (input) => broken && input.startsWith("Bob"),
  });
  try {
    await Deno.writeTextFile(
      `${tmp.dir}/docs.jsonl`,
      '{"id": "a", "text": "Ann ran."}\n{"id": "b", "text": "Bob ran."}\n{"id": "c", "text": "  \\n "}\n',
    );
    const out = `${tmp.dir}/out.jsonl`;
    const args = [
      "extract",
      ...["--task", "NER", "--language", "en", "--schema", '["person"]', "--input", `${tmp.dir}/docs.jsonl`],
      ...["--output", out, "--engine", "openai", "--base-url", server.url, "--api", "chat", "--retries", "0"],
    ];
    const person = (text: string, start: number) => ({
      kind: "entity",
      type: "person",
      text,
      start,
      end: start + text.length,
      grounded: true,
      match: "exact",
    });
    await t.step(
      "a failed request: exit 1, its document marked, the others written; empty ones not asked",
      async () => {
        const r = await runCli(args);
        equal(r.code, 1, r.stderr);
        equal(server.calls(), 2, "the whitespace-only document is not asked about");
        deepEqual(lines(await Deno.readTextFile(out)), [
          { id: "a", extractions: [person("Ann", 0)] },
          { id: "b", extractions: [], failed_requests: 1 },
          { id: "c", extractions: [] },
        ]);
        match(r.stderr, /1 requests have no answer .*--retry-errors/);
        match(r.stderr, /1 documents are empty or only whitespace/);
      },
    );
    await t.step("--retry-errors asks the failed request again", async () => {
      broken = false;
      const before = server.calls();
      const r = await runCli([...args, "--retry-errors"]);
      equal(r.code, 0, r.stderr);
      equal(server.calls() - before, 1);
      deepEqual(lines(await Deno.readTextFile(out))[1], { id: "b", extractions: [person("Bob", 0)] });
    });
    await t.step("a finished run asked again with other answer settings is refused by infer, naming them", async () => {
      const r = await runCli([...args, "--temperature", "0.7"]);
      equal(r.code === 0, false, r.stderr);
      match(r.stderr, /temperature/);
      // Options that only steer the run do not matter: merged again, nothing asked.
      const before = server.calls();
      const q = await runCli([...args, "--concurrency", "2", "--quiet"]);
      equal(q.code, 0, q.stderr);
      equal(server.calls(), before);
    });
  } finally {
    await server.close();
  }
});

Deno.test("extract: a long run of text with emoji and no sentence end is cut between code points", async () => {
  await using tmp = await tempDir();
  const server = stub({});
  try {
    // 3,000 words with emoji and no end mark: cut by the character budget, never inside 😀 or 🚀.
    const words = Array.from({ length: 3000 }, (_, i) => (i % 7 === 0 ? "😀🚀" : `word${i}`));
    const text = words.join(" ");
    await Deno.writeTextFile(`${tmp.dir}/long.txt`, text);
    const r = await runCli([
      "extract",
      ...["--task", "NER", "--language", "en", "--schema", '["person"]', "--input", `${tmp.dir}/long.txt`],
      ...["--output", `${tmp.dir}/out.jsonl`, "--engine", "openai", "--base-url", server.url, "--api", "chat"],
      ...["--chunk-chars", "97", "--overlap", "0", "--quiet"],
    ]);
    equal(r.code, 0, r.stderr);
    const inputs = lines(await Deno.readTextFile(`${tmp.dir}/out.jsonl.parts/requests.jsonl`))
      .map((q) => JSON.parse(q.instruction as string).input as string);
    equal(inputs.join(""), text, "the chunks tile the text");
    ok(inputs.every((c) => c.isWellFormed() && c.length <= 97), "no chunk splits a pair or exceeds the budget");
  } finally {
    await server.close();
  }
});

Deno.test("the answer constraint reads OneKE's description form of a schema", () => {
  const instruction = (schema: unknown) => JSON.stringify({ instruction: "x", schema, input: "Ann met Bob." });
  deepEqual(shapeForInstruction("NER", instruction({ person: "a human", city: "a town" })).shape.keys, [
    "person",
    "city",
  ]);
  const ee = shapeForInstruction("EE", instruction({ meet: { meet: "d", trigger: true, arguments: { place: "p" } } }));
  deepEqual(ee.shape.keys, ["meet"]);
  const kg = shapeForInstruction("KG", instruction([{ entity_type: "person", attributes: { born: "b" } }]));
  deepEqual(kg.shape.keys, ["person"]);
});

Deno.test("extract on the demo model: a multi-page document, chunks within --cutoff-len, every span in the text", async () => {
  await using tmp = await tempDir();
  await Deno.mkdir(`${tmp.dir}/model`);
  // Seed 1: a random model whose constrained answers are not all empty lists (seed 0's are).
  await writeDemoModel(`${tmp.dir}/model`, { seed: 1 });
  const input = `${DATA}extract/report.txt`;
  const out = `${tmp.dir}/out.jsonl`;
  const r = await runCli([
    "extract",
    ...["--task", "NER", "--language", "en", "--schema", `${DATA}extract/ner_schema.json`, "--input", input],
    ...["--output", out, "--model", `${tmp.dir}/model`, "--template", "llama2_zh", "--engine", "cpu"],
    ...["--cutoff-len", "1024", "--max-new-tokens", "64", "--extractive", "--html", `${tmp.dir}/report.html`],
  ]);
  equal(r.code, 0, r.stderr);
  const text = await Deno.readTextFile(input);
  const requests = lines(await Deno.readTextFile(`${out}.parts/requests.jsonl`));
  const chunks = new Set(requests.map((q) => JSON.parse(q.instruction as string).input));
  ok(chunks.size >= 10, `a multi-page document gives many chunks (${chunks.size})`);
  doesNotMatchShortened(r.stderr);
  const [doc] = lines(await Deno.readTextFile(out));
  const points = [...text];
  ok((doc.extractions as unknown[]).length >= 10, `spans to check (${(doc.extractions as unknown[]).length})`);
  for (const x of doc.extractions as Array<Record<string, unknown>>) {
    // With --extractive every answer is a span of its chunk: found exactly, at its code-point offsets.
    equal(x.grounded, true, JSON.stringify(x));
    equal(points.slice(x.start as number, x.end as number).join(""), x.text);
  }
});

function doesNotMatchShortened(stderr: string): void {
  ok(!/prompts were longer than --cutoff-len/.test(stderr), `no prompt was cut:\n${stderr}`);
}
