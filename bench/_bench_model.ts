/**
 * The random Llama the engine benches share, so that their figures are of one model.
 *
 * @module
 */

/**
 * About 170M parameters (103M in the decoder layers): hidden 1024, 8 layers, 16 heads, MLP 2816,
 * a 32,000-token vocabulary (the LLaMA-2 and Mistral tokenizers' size). In f32 a decoded token
 * reads 542 MB of weights.
 *
 * @example
 * ```ts
 * import { BENCH_LLAMA } from "./_bench_model.ts";
 * if (BENCH_LLAMA.hidden / BENCH_LLAMA.heads !== 64) throw new Error();
 * ```
 */
export const BENCH_LLAMA = {
  architecture: "llama",
  vocabSize: 32000,
  hidden: 1024,
  intermediate: 2816,
  layers: 8,
  heads: 16,
} as const;
