/**
 * io/: streaming JSON item reader, Python-compatible JSON, atomic writer.
 */

import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { readJsonItems } from "../io/json_items.ts";
import { AtomicTextWriter } from "../io/atomic_write.ts";
import { InputError } from "../io/errors.ts";
import { LoneSurrogateError, pyDumps, pyDumpsEscaped, pyFloatRepr, PyNumber } from "../io/py_json.ts";
import { type JsonSyntaxError, parsePyJson } from "../io/py_json_parse.ts";
import { formatCount } from "../io/progress.ts";
import { tempDir } from "./_shared.ts";

async function items(content: string | Uint8Array, chunkSize?: number): Promise<Array<[number, string]>> {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/in.jsonl`;
  if (typeof content === "string") await Deno.writeTextFile(path, content);
  else await Deno.writeFile(path, content);
  const read = async (decodeSize?: number) => {
    const out: Array<[number, string]> = [];
    for await (const it of readJsonItems(path, { chunkSize, decodeSize })) out.push([it.line, it.text]);
    return out;
  };
  const out = await read();
  for (const decodeSize of [1, 5, 20]) deepEqual(await read(decodeSize), out, `decodeSize ${decodeSize}`);
  return out;
}

Deno.test("readJsonItems: JSON Lines", async (t) => {
  await t.step("blank lines skipped, line numbers kept, CRLF and BOM accepted, no final newline", async () => {
    deepEqual(await items('\ufeff{"a": 1}\r\n\r\n  \n{"a": 2}\n{"a": 3}'), [[1, '{"a": 1}'], [4, '{"a": 2}'], [
      5,
      '{"a": 3}',
    ]]);
  });
  await t.step("lines longer than the read chunk, multi-byte characters split across chunks", async () => {
    const long = JSON.stringify({ text: "人".repeat(1000) });
    for (const size of [7, 64, 1 << 16]) {
      deepEqual(await items(`${long}\n{"b": 2}\n`, size), [[1, long], [2, '{"b": 2}']]);
    }
  });
  await t.step("U+2028 inside a line is not a line break", async () => {
    deepEqual(await items('{"t": "a\u2028b"}\n'), [[1, '{"t": "a\u2028b"}']]);
  });
  await t.step("invalid UTF-8 names its line", async () => {
    const bytes = new Uint8Array([
      ...new TextEncoder().encode('{"a": 1}\n{"a": "'),
      0xff,
      ...new TextEncoder().encode('"}\n'),
    ]);
    await rejects(() => items(bytes, 4), (e: InputError) => e.line === 2 && /invalid UTF-8/.test(e.message));
    const path = await Deno.makeTempFile();
    await Deno.writeFile(path, bytes);
    await rejects(async () => {
      for await (const _ of readJsonItems(path, { chunkSize: 64, decodeSize: 3 }));
    }, (e: InputError) => e.line === 2 && /invalid UTF-8/.test(e.message));
    await Deno.remove(path);
  });
  await t.step("a U+FFFD written in the file is read as it is", async () => {
    deepEqual(await items('{"a": "\ufffd"}\n{"b": "x\ufffdy"}\n'), [[1, '{"a": "\ufffd"}'], [2, '{"b": "x\ufffdy"}']]);
  });
  await t.step("a missing file is an InputError naming it", async () => {
    await rejects(async () => {
      for await (const _ of readJsonItems("/nonexistent/x.jsonl"));
    }, (e: InputError) => e.message === "/nonexistent/x.jsonl: file not found");
  });
});

Deno.test("readJsonItems: one JSON array", async (t) => {
  await t.step("elements with nested brackets, commas and escaped quotes in strings", async () => {
    const a = '{"text": "a, [b] {c} \\"d\\"", "entity": [{"x": ["]"]}]}';
    const b = '{"text": "second"}';
    for (const size of [3, 1 << 16]) deepEqual(await items(`[\n  ${a},\n\n  ${b}\n]\n`, size), [[2, a], [4, b]]);
  });
  await t.step("empty array; unterminated array; trailing data", async () => {
    deepEqual(await items("[ ]"), []);
    await rejects(() => items('[{"a": 1},'), /unterminated top-level JSON array/);
    await rejects(() => items('[{"a": 1}] x'), /extra data after the top-level JSON array/);
  });
});

Deno.test("pyDumps writes what Python's json.dumps(ensure_ascii=False) writes", () => {
  // Expected strings: python3 -c 'import json; print(json.dumps(VALUE, ensure_ascii=False))'
  equal(
    pyDumps({ a: [1, 2.5, true, null, 'é"\\\n\t\u0001\u007f\u2028😀/'] }),
    '{"a": [1, 2.5, true, null, "é\\"\\\\\\n\\t\\u0001\u007f\u2028😀/"]}',
  );
  equal(pyDumps(new Map([["b", 1], ["1", 2]])), '{"b": 1, "1": 2}');
  equal(pyDumps([]), "[]");
  equal(pyDumps({}), "{}");
  deepEqual([1e16, 1e15, 1e-4, 1e-5, 0.1, -0.0, 1e22, 123456789.125, 5e-324, Infinity].map(pyFloatRepr), [
    "1e+16",
    "1000000000000000.0",
    "0.0001",
    "1e-05",
    "0.1",
    "-0.0",
    "1e+22",
    "123456789.125",
    "5e-324",
    "Infinity",
  ]);
});

Deno.test("pyDumpsEscaped writes pyDumps escaped once more as the inside of a JSON string", () => {
  const values = [
    { a: [1, 2.5, true, null, 'é"\\\n\t\u0001\u007f\u2028😀/'], 'k"\n': "plain", "": [] },
    new Map<string, unknown>([["b\\", 1], ["1", new PyNumber("1.0", 1)], ["x", {}]]),
    ["", "中文", -0, 1e-5, 1e300, NaN, [[]]],
    "a\u0000b",
  ];
  for (const v of values) {
    const once = JSON.stringify(pyDumps(v as never));
    equal(pyDumpsEscaped(v as never), once.slice(1, once.length - 1));
  }
  throws(() => pyDumpsEscaped(["\ud800"]), LoneSurrogateError);
});

Deno.test("parsePyJson keeps what Python keeps", async (t) => {
  await t.step("round trip of numbers, integer-like keys, literals", () => {
    for (
      const text of [
        '{"b": 1, "10": 2, "1": 3}',
        "[1.0, -0.0, 0, 12345678901234567890, 1.5e+300, 1e+16, NaN, -Infinity, 2.5]",
        '{"a": {"2": [{"1": true}]}}',
      ]
    ) equal(pyDumps(parsePyJson(text)), text);
  });
  await t.step("spellings Python normalizes", () => {
    equal(pyDumps(parsePyJson("[1E2, -0, 1e400, 0.10]")), "[100.0, 0, Infinity, 0.1]");
  });
  await t.step("duplicate keys: last value at the first position", () => {
    equal(pyDumps(parsePyJson('{"a": 1, "b": 2, "a": 3}')), '{"a": 3, "b": 2}');
    equal(pyDumps(parsePyJson('{"1": 1, "b": 2, "1": 3}')), '{"1": 3, "b": 2}');
  });
  await t.step("syntax errors carry a column", () => {
    throws(() => parsePyJson('{"a": 1,}'), (e: JsonSyntaxError) => e.column === 9);
    throws(() => parsePyJson('{"a": "x'), /unterminated string/);
    throws(() => parsePyJson('{"a": 1} 2'), /extra data/);
  });
});

Deno.test("long lines cost time linear in their length", async (t) => {
  await using tmp = await tempDir();
  /** Best of five timings of each, taken in turn so a busy machine slows both alike; in ms. */
  const bestOf = async (a: () => unknown, b: () => unknown): Promise<[number, number]> => {
    const ms: [number, number] = [Infinity, Infinity];
    for (let i = 0; i < 5; i++) {
      for (const [k, f] of [a, b].entries()) {
        const t0 = performance.now();
        await f();
        ms[k] = Math.min(ms[k], performance.now() - t0);
      }
    }
    return ms;
  };
  /** `{"text": "xxx…` of `bytes` bytes, without the closing quote. */
  const unterminated = (bytes: number) => '{"text": "' + "x".repeat(bytes - 10);
  await t.step("one 8 MiB line reads about as fast as 2048 lines of 4 KiB (same bytes, same 4 KiB reads)", async () => {
    const reader = async (content: string, name: string) => {
      const path = `${tmp.dir}/${name}.jsonl`;
      await Deno.writeTextFile(path, content);
      return async () => {
        let n = 0;
        for await (const it of readJsonItems(path, { chunkSize: 1 << 12 })) n += it.text.length + 1;
        equal(n, content.length);
      };
    };
    const short = await reader((unterminated((1 << 12) - 1) + "\n").repeat(2048), "short");
    const long = await reader(unterminated((8 << 20) - 1) + "\n", "long");
    const [shortMs, longMs] = await bestOf(short, long);
    ok(longMs < 8 * Math.max(shortMs, 10), `short lines: ${shortMs.toFixed(0)} ms, one line: ${longMs.toFixed(0)} ms`);
  });
  await t.step("rejecting an unterminated 16 MiB string costs at most 4× reading a valid one", async () => {
    const bad = unterminated(16 << 20);
    // The integer sends the valid text through the same exact parser as the invalid one.
    const good = bad + '", "n": 1}';
    let message = "";
    const [baseline, ms] = await bestOf(() => equal(parsePyJson(good) instanceof Object, true), () => {
      try {
        parsePyJson(bad);
      } catch (e) {
        message = (e as Error).message;
      }
    });
    equal(message, `invalid JSON: unterminated string at column ${bad.length + 1}`);
    ok(ms < 4 * Math.max(baseline, 5), `valid: ${baseline.toFixed(0)} ms, unterminated: ${ms.toFixed(0)} ms`);
  });
  await t.step("strings with escapes still read right (the exact parser: an integer needs it)", () => {
    const text = '["a\\nb\\u4eba' + "c".repeat(1000) + '\\"", 1]';
    deepEqual(parsePyJson(text), ["a\nb人" + "c".repeat(1000) + '"', 1]);
    throws(() => parsePyJson('["a\\q", 1]'), (e: JsonSyntaxError) => e.column === 4);
  });
});

Deno.test("AtomicTextWriter", async (t) => {
  await using tmp = await tempDir();
  await t.step("commit replaces the target; abort leaves the old target and no temp file", async () => {
    const path = `${tmp.dir}/out.txt`;
    await Deno.writeTextFile(path, "old");
    const w = await AtomicTextWriter.open(path, { bufferChars: 4 });
    for (let i = 0; i < 100; i++) await w.write(`line ${i}\n`);
    equal(await Deno.readTextFile(path), "old");
    await w.commit();
    equal((await Deno.readTextFile(path)).split("\n").length, 101);
    const w2 = await AtomicTextWriter.open(path);
    await w2.write("partial");
    await w2.flush();
    await w2.abort();
    equal((await Deno.readTextFile(path)).startsWith("line 0\n"), true);
    deepEqual([...Deno.readDirSync(tmp.dir)].map((e) => e.name), ["out.txt"]);
  });
  await t.step("a missing output folder is an InputError naming the file", async () => {
    await rejects(
      () => AtomicTextWriter.open(`${tmp.dir}/no/such/out.txt`),
      (e: InputError) => e instanceof InputError && /output folder does not exist/.test(e.message),
    );
  });
  ok(true);
});

Deno.test("formatCount writes what toLocaleString('en-US') writes for integers", () => {
  const xs = [0, 1, 12, 999, 1000, 1001, 99999, 100000, 1234567, -1, -999, -1000, -9876543, 2 ** 53 - 1];
  for (let x = 1; x < 1e15; x = x * 7 + 3) xs.push(x);
  for (const x of xs) equal(formatCount(x), x.toLocaleString("en-US"), String(x));
});
