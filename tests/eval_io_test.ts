/**
 * The io helpers `eval` uses: the batch reader,
 * Python `repr` and `json.dump(indent=4)` output (checked against CPython when installed), and
 * `evaluateFile`'s reading of records whose lines are adjacent or apart.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { readJsonItemBatches } from "../io/json_items.ts";
import { pyRepr, pyStrRepr } from "../io/py_repr.ts";
import { pyDumpsIndent } from "../io/py_json_indent.ts";
import { PyNumber } from "../io/py_json.ts";
import { announceSkip, HAVE_REFERENCE, REFERENCE_DATA, tempDir } from "./_shared.ts";
import { type EvalReport, evaluateFile, Evaluator, RecordRevisitedError } from "../eval/evaluator.ts";

async function collect(iter: AsyncIterable<unknown>): Promise<unknown[] | string> {
  const out: unknown[] = [];
  try {
    for await (const x of iter) out.push(x);
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
  return out;
}

Deno.test("readJsonItemBatches: every file shape, any chunk size, non-empty batches", async () => {
  await using tmp = await tempDir();
  const enc = new TextEncoder();
  const long = '{"t": "' + "长".repeat(700) + '"}';
  const cases: Record<string, [Uint8Array, Array<[number, string]> | RegExp]> = {
    plain: [enc.encode('{"a": 1}\n{"a": 2}\n'), [[1, '{"a": 1}'], [2, '{"a": 2}']]],
    crlf_bom_blank: [enc.encode('\ufeff{"a": 1}\r\n\r\n  \n{"a": 2}'), [[1, '{"a": 1}'], [4, '{"a": 2}']]],
    array: [enc.encode('[\n {"a": 1},\n {"a": [2, 3]}\n]\n'), [[2, '{"a": 1}'], [3, '{"a": [2, 3]}']]],
    long_lines: [enc.encode(Array(3).fill(long).join("\n") + "\n"), [[1, long], [2, long], [3, long]]],
    empty: [new Uint8Array(0), []],
    only_blank: [enc.encode("\n\n  \n"), []],
    bad_utf8: [
      new Uint8Array([...enc.encode('{"a": 1}\n{"a": 2}\n'), 0x22, 0xc3, 0x28, 0x22, 10]),
      /:3: invalid UTF-8$/,
    ],
  };
  for (const [name, [bytes, want]] of Object.entries(cases)) {
    const path = `${tmp.dir}/${name}.jsonl`;
    await Deno.writeFile(path, bytes);
    for (const chunkSize of [7, 64, 1 << 20]) {
      const batches = await collect(readJsonItemBatches(path, { chunkSize }));
      if (want instanceof RegExp) {
        ok(typeof batches === "string" && want.test(batches), `${name}: ${batches}`);
        continue;
      }
      ok(typeof batches !== "string", String(batches));
      ok((batches as unknown[][]).every((b) => b.length > 0));
      const got = (batches as Array<Array<{ text: string; line: number }>>).flat().map((i) => [i.line, i.text]);
      deepEqual(got, want, `${name}, chunk ${chunkSize}`);
    }
  }
  const missing = await collect(readJsonItemBatches(`${tmp.dir}/missing.jsonl`));
  equal(missing, `InputError: ${tmp.dir}/missing.jsonl: file not found`);
});

const SAMPLE = new Map<string, unknown>([
  [
    "total",
    new Map<string, unknown>([["总样本数", 6], ["错误数", 1], ["P", new PyNumber("28.57", 28.57)], [
      "F1",
      new PyNumber("40.0", 40),
    ]]),
  ],
  ["it's", [true, false, null, 'a"b', "tab\there", "\u0001", "é", "😀", "\u200b", "\\"]],
  ["e", []],
  ["d", new Map()],
]);

Deno.test("pyRepr and pyDumpsIndent: as Python prints them", () => {
  equal(
    pyRepr(SAMPLE as never),
    "{'total': {'总样本数': 6, '错误数': 1, 'P': 28.57, 'F1': 40.0}, \"it's\": [True, False, None, 'a\"b', " +
      "'tab\\there', '\\x01', 'é', '😀', '\\u200b', '\\\\'], 'e': [], 'd': {}}",
  );
  equal(pyStrRepr(`both ' and "`), `'both \\' and "'`);
  equal(
    pyDumpsIndent(SAMPLE as never),
    '{\n    "total": {\n        "总样本数": 6,\n        "错误数": 1,\n        "P": 28.57,\n        "F1": 40.0\n    },\n' +
      '    "it\'s": [\n        true,\n        false,\n        null,\n        "a\\"b",\n        "tab\\there",\n' +
      '        "\\u0001",\n        "é",\n        "😀",\n        "\u200b",\n        "\\\\"\n    ],\n    "e": [],\n    "d": {}\n}',
  );
});

function havePython(): boolean {
  try {
    return new Deno.Command("python3", { args: ["-c", "pass"], stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "pyRepr and pyDumpsIndent: byte for byte against CPython (live, when python3 is installed)",
  ignore: !havePython(),
  async fn() {
    const script = `
import json
v = {"total": {"总样本数": 6, "错误数": 1, "P": 28.57, "F1": 40.0},
     "it's": [True, False, None, 'a"b', "tab\\there", "\\x01", "é", "😀", "\\u200b", "\\\\"], "e": [], "d": {}}
print(repr(v))
print(json.dumps(v, indent=4, ensure_ascii=False), end="")
`;
    const out = await new Deno.Command("python3", { args: ["-c", script], stdout: "piped" }).output();
    const text = new TextDecoder().decode(out.stdout);
    const nl = text.indexOf("\n");
    equal(pyRepr(SAMPLE as never), text.slice(0, nl));
    equal(pyDumpsIndent(SAMPLE as never), text.slice(nl + 1));
  },
});

announceSkip(import.meta.url, "folding checked on the reference's eval cases");

Deno.test({
  name: "evaluateFile scores each record when its lines end, and reads a file again whose records' lines are apart",
  ignore: !HAVE_REFERENCE,
  fn: async (t) => {
    const cases = `${REFERENCE_DATA}eval-cases/`;
    await using tmp = await tempDir();
    for (const task of ["NER", "RE", "EE", "EEA", "EET", "KG", "SPO"] as const) {
      await t.step(task, async () => {
        const lines = (await Deno.readTextFile(`${cases}pred_${task}.jsonl`)).split("\n").filter((l) => l.trim());
        // The same lines, round-robin over records (first lines of all records, then second lines…).
        const byRecord = new Map<string, string[]>();
        for (const l of lines) {
          const r = JSON.parse(l);
          const key = `${r.source}\u0000${r.id}`;
          byRecord.set(key, [...byRecord.get(key) ?? [], l]);
        }
        const apart: string[] = [];
        for (let i = 0; apart.length < lines.length; i++) {
          for (const group of byRecord.values()) if (i < group.length) apart.push(group[i]);
        }
        const path = `${tmp.dir}/${task}.jsonl`;
        await Deno.writeTextFile(path, apart.join("\n") + "\n");
        const options = { task, lenient: true, sortBy: "source", skipUnscorable: true };
        const scored = (r: EvalReport) => JSON.stringify([r.lines, r.total, r.categories, r.labels]);
        const together = await evaluateFile(`${cases}pred_${task}.jsonl`, options);
        const kept = await evaluateFile(path, { ...options, foldFinishedRecords: false });
        equal(scored(await evaluateFile(path, options)), scored(kept));
        equal(scored(together), scored(kept));
        // Folding stops at the first line that returns to a scored record (when records have several lines).
        const ev = new Evaluator({ ...options, foldFinishedRecords: true });
        const several = [...byRecord.values()].some((g) => g.length > 1) && byRecord.size > 1;
        let revisited = false;
        try {
          apart.forEach((l, i) => ev.addLine(l, i + 1));
        } catch (e) {
          if (!(e instanceof RecordRevisitedError)) throw e;
          revisited = true;
        }
        equal(revisited, several);
      });
    }
  },
});

Deno.test("folding remembers every scored record, however many", () => {
  const line = (id: string) => ({ id, label: "[]", output: "{}" });
  const ev = new Evaluator({ task: "NER", foldFinishedRecords: true });
  for (let i = 0; i < 20_000; i++) ev.addRecord(line(`r${i}`), i + 1);
  for (const back of ["r0", "r1", "r4095", "r4096", "r12345", "r19998"]) {
    let revisited = false;
    try {
      ev.addRecord(line(back), 20_001);
    } catch (e) {
      if (!(e instanceof RecordRevisitedError)) throw e;
      revisited = true;
    }
    ok(revisited, back);
  }
  ev.addRecord(line("r19999"), 20_001); // the record still open takes more lines
  ev.addRecord(line("new"), 20_002);
  equal(ev.finish().total.groups, 20_001);
});
