/**
 * `iepile eval` end to end on small prediction files built here: the reports, the options, the
 * fixes for the reference's broken paths, and every kind of bad input. All expected numbers are
 * worked out by hand in the comments.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { EVAL_HELP } from "../eval/cli_command.ts";
import { failure, runEvalCaptured as run } from "./_eval.ts";
import { InputError, UsageError } from "../io/errors.ts";
import { tempDir } from "./_shared.ts";

/** JSON as Python's json.dumps writes it. */
function py(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return "[" + v.map(py).join(", ") + "]";
  if (typeof v === "object" && v !== null) {
    return "{" + Object.entries(v).map(([k, x]) => JSON.stringify(k) + ": " + py(x)).join(", ") + "}";
  }
  return JSON.stringify(v);
}

interface Line {
  id: string;
  source?: string;
  task?: string;
  schema?: unknown[];
  label: unknown[];
  output: unknown; // a string is used as it is; anything else is serialized
}

/** A prediction line as the converter (test split) plus a model writes it. */
function line(l: Line): string {
  const record: Record<string, unknown> = { id: l.id };
  if (l.task) record.task = l.task;
  if (l.source !== undefined) record.source = l.source;
  record.instruction = py({ instruction: "Extract.", schema: l.schema ?? [], input: "some text" });
  record.label = py(l.label);
  record.output = typeof l.output === "string" ? l.output : py(l.output);
  return py(record);
}

async function file(dir: string, name: string, lines: Array<Line | string>): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, lines.map((l) => (typeof l === "string" ? l : line(l))).join("\n") + "\n");
  return path;
}

const ANN = { entity: "Ann", entity_type: "person" };
const OSLO = { entity: "Oslo", entity_type: "place" };
const CY = { entity: "Cy", entity_type: "person" };

/**
 * Two records in two schema batches each.
 * A (source S1): gold Ann/person, Oslo/place; answers person: Ann, Bob; place: Oslo and an
 *   unasked key org: X → 4 predicted, 2 correct.
 * B (source S2): gold Cy/person; answers cut off (`{"person": ["Cy"`) and empty → 2 errors.
 * Strict: tp 2, pred 4, gold 3 → P 50.0, R 66.67, F1 = 2·50·66.67/116.67 = 57.14.
 * Lenient: the cut-off answer reads as {"person": ["Cy"]} → tp 3, pred 5, gold 3 → P 60.0,
 *   R 100.0, F1 = 2·60·100/160 = 75.0; the empty answer stays an error.
 */
function nerLines(): Line[] {
  return [
    { id: "a", source: "S1", task: "NER", schema: ["person"], label: [ANN, OSLO], output: { person: ["Ann", "Bob"] } },
    {
      id: "a",
      source: "S1",
      task: "NER",
      schema: ["place"],
      label: [ANN, OSLO],
      output: { place: ["Oslo"], org: ["X"] },
    },
    { id: "b", source: "S2", task: "NER", schema: ["person"], label: [CY], output: '{"person": ["Cy"' },
    { id: "b", source: "S2", task: "NER", schema: ["place"], label: [CY], output: "" },
  ];
}

Deno.test("eval: result numbers, the reference's dict line and JSON", async () => {
  await using tmp = await tempDir();
  const path = await file(tmp.dir, "ner.jsonl", nerLines());
  equal(
    (await run([path, "--repr"])).out, // task from the records' "task"
    "{'total': {'总样本数': 2, '错误数': 2, 'P': 50.0, 'R': 66.67, 'F1': 57.14}}\n",
  );
  // --sort_by source: S1 tp 2, pred 4, gold 2 → 50.0 / 100.0 / 66.67; S2 nothing predicted → 0.0
  const bySource = await run(["--path1", path, "--task", "NER", "--sort_by", "source", "--json"]);
  equal(
    bySource.out,
    '{"total": {"总样本数": 2, "错误数": 2, "P": 50.0, "R": 66.67, "F1": 57.14}, ' +
      '"S1": {"总样本数": 1, "错误数": 0, "P": 50.0, "R": 100.0, "F1": 66.67}, ' +
      '"S2": {"总样本数": 1, "错误数": 2, "P": 0.0, "R": 0.0, "F1": 0.0}}\n',
  );
  // --sort_by any string field of the records: here "task", one category
  equal(
    (await run([path, "--sort_by", "task", "--repr"])).out,
    "{'total': {'总样本数': 2, '错误数': 2, 'P': 50.0, 'R': 66.67, 'F1': 57.14}, " +
      "'NER': {'总样本数': 2, '错误数': 2, 'P': 50.0, 'R': 66.67, 'F1': 57.14}}\n",
  );
  const lenient = JSON.parse((await run([path, "--json", "--lenient"])).out);
  deepEqual(lenient.strict.total, { "总样本数": 2, "错误数": 2, P: 50, R: 66.67, F1: 57.14 });
  deepEqual(lenient.lenient.total, { "总样本数": 2, "错误数": 1, P: 60, R: 100, F1: 75 });
});

Deno.test("eval: readable report with per-label scores and output statistics", async () => {
  await using tmp = await tempDir();
  const path = await file(tmp.dir, "ner.jsonl", nerLines());
  const text = (await run([path, "--lenient"])).out;
  // Per label (strict): person pred Ann, Bob / gold Ann, Cy → 1 of 2: 50.00 / 50.00 / 50.00;
  // place 1/1/1 → 100.00; org pred 1, gold 0 → 0.00.
  for (
    const want of [
      "NER, match mode normal: 2 records from 4 prediction lines",
      /total\s+2\s+2\s+4\s+3\s+2\s+50\.00\s+66\.67\s+57\.14\s+1\s+5\s+3\s+60\.00\s+100\.00\s+75\.00/,
      /S1\s+1\s+0\s+4\s+2\s+2\s+50\.00\s+100\.00\s+66\.67/,
      /person\s+2\s+2\s+1\s+50\.00\s+50\.00\s+50\.00/,
      /place\s+1\s+1\s+1\s+100\.00\s+100\.00\s+100\.00/,
      /org\s+1\s+0\s+0\s+0\.00\s+0\.00\s+0\.00/,
      /not valid JSON\s+1/,
      /empty\s+1/,
      /keys outside the asked schema\s+1/,
      /read only after repair \(--lenient\): truncated 1\s+1/,
      /still unreadable with --lenient\s+1/,
    ]
  ) ok(typeof want === "string" ? text.includes(want) : want.test(text), `${want}\n${text}`);
  const md = (await run([path, "--markdown"])).out;
  ok(md.includes("| total | 2 | 2 | 4 | 3 | 2 | 50.00 | 66.67 | 57.14 |"), md);
  ok(md.includes("| S2 | 1 | 2 | 0 | 1 | 0 | 0.00 | 0.00 | 0.00 |"), md);
  ok(md.includes("| --- | ---: |"), md);
});

Deno.test("eval: --out writes the full JSON report atomically; --output-msg the reference's file", async () => {
  await using tmp = await tempDir();
  const path = await file(tmp.dir, "ner.jsonl", nerLines());
  const out = `${tmp.dir}/report.json`;
  const msg = `${tmp.dir}/msg.json`;
  const r = await run([path, "--out", out, "--output-msg", msg, "--lenient"]);
  equal(r.code, 0);
  const report = JSON.parse(await Deno.readTextFile(out));
  equal(report.task, "NER");
  deepEqual(report.result.total, { "总样本数": 2, "错误数": 2, P: 50, R: 66.67, F1: 57.14 });
  deepEqual(report.lenient_result.total.F1, 75);
  deepEqual(report.scopes.map((s: { name: string }) => s.name), ["total", "S1", "S2"]);
  deepEqual(report.scopes[0].strict.tuples, { tp: 2, pred: 4, gold: 3, P: 50, R: 66.67, F1: 57.14 });
  equal(report.scopes[0].outputs.offSchema, 1);
  equal(report.scopes[0].outputs.repairs.truncated, 1);
  deepEqual(report.labels.map((l: { label: string }) => l.label), ["org", "person", "place"]);
  equal(
    await Deno.readTextFile(msg),
    '{\n    "total": {\n        "总样本数": 2,\n        "错误数": 2,\n        "P": 50.0,\n        "R": 66.67,\n        "F1": 57.14\n    }\n}',
  );
  deepEqual([...Deno.readDirSync(tmp.dir)].map((e) => e.name).sort(), ["msg.json", "ner.jsonl", "report.json"]);
  // `--out -` prints the report instead of the tables
  const stdout = await run([path, "--out", "-"]);
  equal(JSON.parse(stdout.out).lines, 4);
  // nothing is written beside the input unless asked
  const quiet = await run([path, "--repr"]);
  equal(quiet.err, "");
  deepEqual([...Deno.readDirSync(tmp.dir)].length, 3);
});

Deno.test("eval: where the reference is broken, what it evidently meant", async (t) => {
  await using tmp = await tempDir();
  const repr = async (name: string, task: string, lines: Line[], extra: string[] = []) =>
    (await run([await file(tmp.dir, name, lines), "--task", task, "--repr", ...extra])).out.trim();

  await t.step("EET: (trigger, type) like NER", async () => {
    // gold (quake, disaster), (met, meet); predicted (quake, disaster) ×2, (saw, meet).
    // normal: tp min(1, 2) = 1, pred 3, gold 2 → P 33.33, R 50.0, F1 = 2·33.33·50/83.33 = 39.998 → 40.0
    // set: pred {quake, saw} = 2, tp 1 → P 50.0, R 50.0, F1 50.0
    const events = [
      { event_trigger: "quake", event_type: "disaster", arguments: [] },
      { event_trigger: "met", event_type: "meet", arguments: [{ argument: "Ann", role: "who" }] },
    ];
    const lines = [{ id: "1", label: events, output: { disaster: ["quake", "quake"], meet: ["saw"] } }];
    equal(
      await repr("eet.jsonl", "EET", lines),
      "{'total': {'总样本数': 1, '错误数': 0, 'P': 33.33, 'R': 50.0, 'F1': 40.0}}",
    );
    equal(
      await repr("eet.jsonl", "EET", lines, ["--match_mode", "set"]),
      "{'total': {'总样本数': 1, '错误数': 0, 'P': 50.0, 'R': 50.0, 'F1': 50.0}}",
    );
  });
  await t.step("SPO: (subject, predicate, object) against the label's (head, relation, tail)", async () => {
    // gold (Ann, born in, Oslo); predicted (Ann, born in, Oslo), (Oslo, capital of, Norway)
    // tp 1, pred 2, gold 1 → P 50.0, R 100.0, F1 = 2·50·100/150 = 66.67
    const label = [{ head: "Ann", head_type: "person", relation: "born in", tail: "Oslo", tail_type: "city" }];
    const output = {
      "born in": [{ subject: "Ann", object: "Oslo" }],
      "capital of": [{ subject: "Oslo", object: "Norway" }],
    };
    equal(
      await repr("spo.jsonl", "SPO", [{ id: "1", label, output }]),
      "{'total': {'总样本数': 1, '错误数': 0, 'P': 50.0, 'R': 100.0, 'F1': 66.67}}",
    );
  });
  await t.step("KG: (entity, attribute, value); 无 and nan are no value", async () => {
    // gold (Ann, alias, A), (Ann, born, 1990), (Bo, father, Ann)
    // predicted (Ann, alias, A), (Ann, job, poet), (Bo, father, Ann); "无" and "nan" dropped
    // tp 2, pred 3, gold 3 → P 66.67, R 66.67, F1 = 2·66.67·66.67/133.34 = 66.67
    const label = [
      { head: "Ann", relation: "alias", tail: "A" },
      { head: "Ann", relation: "born", tail: "1990" },
      { head: "Bo", relation: "father", tail: "Ann" },
    ];
    const output = { person: { Ann: { alias: ["A", "无"], born: "nan", job: "poet" }, Bo: { father: "Ann" } } };
    equal(
      await repr("kg.jsonl", "KG", [{ id: "1", label, output }]),
      "{'total': {'总样本数': 1, '错误数': 0, 'P': 66.67, 'R': 66.67, 'F1': 66.67}}",
    );
  });
  await t.step("RE: head/tail answers count; --reference-keys reads them as the reference does", async () => {
    // gold (Ann, born in, Oslo); answer {"born in": [{"head": "Ann", "tail": "Oslo"}]}
    // default: (Ann, born in, Oslo) → 100.0 everywhere; reference keys: ("", born in, "") → 0.0
    const lines = [{
      id: "1",
      label: [{ head: "Ann", relation: "born in", tail: "Oslo" }],
      output: { "born in": [{ head: "Ann", tail: "Oslo" }] },
    }];
    equal(
      await repr("re.jsonl", "RE", lines),
      "{'total': {'总样本数': 1, '错误数': 0, 'P': 100.0, 'R': 100.0, 'F1': 100.0}}",
    );
    equal(
      await repr("re.jsonl", "RE", lines, ["--reference-keys"]),
      "{'total': {'总样本数': 1, '错误数': 0, 'P': 0.0, 'R': 0.0, 'F1': 0.0}}",
    );
  });
});

Deno.test("eval: EE and EEA match events and arguments separately", async () => {
  await using tmp = await tempDir();
  const label = [{
    event_type: "attack",
    event_trigger: "hit",
    arguments: [{ argument: "Bo", role: "victim" }, { argument: "Ann", role: "attacker" }],
  }];
  // EE: events predicted (attack, hit) ×2, gold ×1 → normal tp 1, pred 2 → 50.0 / 100.0 / 66.67;
  //   set: 1 distinct → 100.0. Arguments predicted (Bo, victim), (park, place) ("NAN" is no
  //   value), gold (Bo, victim), (Ann, attacker) → tp 1, pred 2, gold 2 → 50.0 / 50.0 / 50.0.
  const ee = await file(tmp.dir, "ee.jsonl", [{
    id: "1",
    label,
    output: {
      attack: [{ trigger: "hit", arguments: { victim: "Bo", attacker: "NAN", place: "park" } }, {
        trigger: "hit",
        arguments: {},
      }],
    },
  }]);
  equal(
    (await run([ee, "--task", "EE", "--repr"])).out,
    "{'total': {'总样本数': 1, '错误数': 0, 'event_P': 50.0, 'event_R': 100.0, 'event_F1': 66.67, " +
      "'argument_P': 50.0, 'argument_R': 50.0, 'argument_F1': 50.0}}\n",
  );
  equal(
    (await run([ee, "--task", "EE", "--repr", "--match-mode", "set"])).out,
    "{'total': {'总样本数': 1, '错误数': 0, 'event_P': 100.0, 'event_R': 100.0, 'event_F1': 100.0, " +
      "'argument_P': 50.0, 'argument_R': 50.0, 'argument_F1': 50.0}}\n",
  );
  // EEA: one event object → (attack, "") 1 of 1; arguments Bo/victim, Ann/attacker, Cy/attacker
  // (a list gives one each) → tp 2, pred 3, gold 2 → 66.67 / 100.0 / 2·66.67·100/166.67 = 80.0
  const eea = await file(tmp.dir, "eea.jsonl", [{
    id: "1",
    label,
    output: { attack: [{ victim: "Bo", attacker: ["Ann", "Cy"] }] },
  }]);
  equal(
    (await run([eea, "--task", "EEA", "--repr"])).out,
    "{'total': {'总样本数': 1, '错误数': 0, 'event_P': 100.0, 'event_R': 100.0, 'event_F1': 100.0, " +
      "'argument_P': 66.67, 'argument_R': 100.0, 'argument_F1': 80.0}}\n",
  );
});

Deno.test("eval: usage errors", async () => {
  await using tmp = await tempDir();
  const path = await file(tmp.dir, "ner.jsonl", nerLines());
  const noTask = await file(tmp.dir, "notask.jsonl", [{ id: "1", label: [], output: {} }]);
  const cases: Array<[string[], RegExp]> = [
    [[], /give the prediction file/],
    [[path, "--bogus"], /Unknown option '--bogus'/],
    [[path, "--match_mode", "fuzzy"], /--match_mode must be normal or set/],
    [[path, "--metrics_list", "f1,rouge"], /rouge is not supported/],
    [[path, "--metrics_list", "bleu"], /unknown metric "bleu"/],
    [[path, "--task", "XYZ"], /--task must be one of NER, RE, SPO, EE, EET, EEA, KG, got "XYZ"/],
    [[path, "--task", "MRC"], /MRC has no metric/],
    [[path, "--json", "--markdown"], /choose one of --json, --markdown/],
    [["--path1", path, "other.jsonl"], /unexpected argument "other.jsonl"/],
    [[path, "--sort_by", ""], /--sort_by needs a field name/],
    [[noTask], /give --task/],
  ];
  for (const [args, message] of cases) {
    const e = await failure(run(args));
    ok(e instanceof UsageError, `${args.join(" ")}: ${e}`);
    ok(message.test(e.message), e.message);
  }
  equal((await run(["--help"])).out, EVAL_HELP);
  // the reference's other flags are accepted and ignored; kebab-case aliases work
  equal(
    (await run([
      "--path",
      path,
      "--task",
      "ner",
      "--language",
      "zh",
      "--NAN",
      "x",
      "--prefix",
      "p",
      "--sort-by",
      "source",
      "--repr",
    ]))
      .code,
    0,
  );
});

Deno.test("eval: bad input stops with one line naming file, line and problem", async (t) => {
  await using tmp = await tempDir();
  const ok1 = line({ id: "1", label: [ANN], output: { person: ["Ann"] } });
  const cases: Array<[string, string, number | undefined, RegExp]> = [
    ["empty", "", undefined, /no prediction lines \(the file is empty\)/],
    ["malformed line", `${ok1}\n${ok1}\n{"id": "2", "output": `, 3, /invalid JSON/],
    ["line not an object", `${ok1}\n[1, 2]`, 2, /must be a JSON object, got a list/],
    ["no output", '{"id": "1", "label": "[]"}', 1, /field `output`: record has no `output`/],
    [
      "output not a string",
      '{"id": "1", "label": "[]", "output": {"person": []}}',
      1,
      /field `output`: must be a string/,
    ],
    ["no label", '{"id": "1", "output": "{}"}', 1, /field `label`: record has no `label`/],
    ["label not JSON", '{"id": "1", "label": "[{", "output": "{}"}', 1, /field `label`: invalid JSON/],
    ["label not a list", '{"id": "1", "label": "{}", "output": "{}"}', 1, /field `label`: must hold a JSON list/],
    [
      "annotation without entity",
      '{"id": "1", "label": "[{\\"entity_type\\": \\"p\\"}]", "output": "{}"}',
      1,
      /field `label\[0\]`: annotation has no `entity`/,
    ],
    ["no id", '{"label": "[]", "output": "{}"}', 1, /field `id`: record has no `id`/],
    ["invalid UTF-8", "", 2, /invalid UTF-8/],
  ];
  for (const [name, text, lineNo, message] of cases) {
    await t.step(name, async () => {
      const path = `${tmp.dir}/${name.replaceAll(" ", "_")}.jsonl`;
      if (name === "invalid UTF-8") {
        await Deno.writeFile(path, new Uint8Array([...new TextEncoder().encode(ok1 + "\n"), 0x7b, 0xff, 0x7d, 10]));
      } else {
        await Deno.writeTextFile(path, text);
      }
      const e = await failure(run([path, "--task", "NER"]));
      ok(e instanceof InputError, String(e));
      equal(e.file, path);
      equal(e.line, lineNo);
      ok(message.test(e.message), e.message);
      ok(!e.message.includes("\n") && !e.message.includes("    at "), e.message);
    });
  }
  await t.step("missing file", async () => {
    const e = await failure(run([`${tmp.dir}/nope.jsonl`, "--task", "NER"]));
    ok(e instanceof InputError && /nope\.jsonl: file not found/.test(e.message), String(e));
  });
  await t.step("a line Python reads but JSON.parse does not (NaN) is read as Python reads it", async () => {
    const path = `${tmp.dir}/nan.jsonl`;
    await Deno.writeTextFile(
      path,
      line({ id: "1", label: [ANN], output: { person: ["Ann"] } }).replace(/}$/, ', "score": NaN}'),
    );
    equal(
      (await run([path, "--task", "NER", "--repr"])).out,
      "{'total': {'总样本数': 1, '错误数': 0, 'P': 100.0, 'R': 100.0, 'F1': 100.0}}\n",
    );
  });
  await t.step("an output that is not JSON is not an input error: it is counted", async () => {
    const path = await file(tmp.dir, "bad_output.jsonl", [{
      id: "1",
      label: [ANN],
      output: "I think Ann is a person.",
    }]);
    equal(
      (await run([path, "--task", "NER", "--repr"])).out,
      "{'total': {'总样本数': 1, '错误数': 1, 'P': 0.0, 'R': 0.0, 'F1': 0.0}}\n",
    );
  });
});
