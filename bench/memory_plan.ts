/**
 * The memory IEPile's models need in each weight format, as `iepile inspect` states it for a
 * model folder (the same functions): weights in f16 and in each quantization preset, plus the KV
 * cache at a context size, for the shapes of the models IEPile trains and publishes. Then the
 * device memory of their LoRA training on the WebGPU engine (`train --engine webgpu`, as its
 * first lines state it): the weights as stored, the LoRA pairs and gradients (rank `--r`, every
 * linear layer), the buffers of a longest example of `--train-tokens` tokens (`--scored` of them
 * answer).
 *
 *     deno run -A bench/memory_plan.ts [--context 1024] [--train-tokens 1000] [--scored 300] [--r 8]
 *
 * @module
 */

import { kvBytesPerToken, weightMemory } from "../infer/model/memory_plan.ts";
import { trainMemory } from "../train/webgpu/device_memory.ts";
import type { ModelSpec } from "../infer/model/model_spec.ts";
import { type LlamaSizes, llamaSpec } from "./_llama_spec.ts";

const arg = (name: string, value: number): number => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : value;
};
const context = arg("--context", 1024);
const trainTokens = arg("--train-tokens", 1000), scored = arg("--scored", 300), r = arg("--r", 8);

const llama = (name: string, o: LlamaSizes): [string, ModelSpec] => [name, llamaSpec(o)];

const MODELS: Array<[string, ModelSpec]> = [
  llama("LLaMA2-7B", { vocab: 32000, hidden: 4096, inter: 11008, layers: 32, heads: 32, kv: 32 }),
  llama("LLaMA3-8B", { vocab: 128256, hidden: 4096, inter: 14336, layers: 32, heads: 32, kv: 8 }),
  llama("LLaMA2-13B", { vocab: 32000, hidden: 5120, inter: 13824, layers: 40, heads: 40, kv: 40 }),
  llama("OneKE-13B", { vocab: 55296, hidden: 5120, inter: 13824, layers: 40, heads: 40, kv: 40 }),
  llama("Baichuan2-13B", { vocab: 125696, hidden: 5120, inter: 13696, layers: 40, heads: 40, kv: 40 }),
  llama("Qwen1.5-14B", { vocab: 152064, hidden: 5120, inter: 13696, layers: 40, heads: 40, kv: 40 }),
];

const gb = (b: number) => (b / 1e9).toFixed(2);
const formats = ["f16", "q8_0", "q6_k", "q4_k_m", "q4_0"] as const;
console.log(
  `weights, GB (bits per weight); KV cache at ${context} tokens, GB; total with the f32 cache our engines keep`,
);
console.log(`| model | ${formats.join(" | ")} | KV f32 (f16) | q4_k_m + KV f32 |`);
console.log(`| ----- | ${formats.map(() => "---").join(" | ")} | --- | --- |`);
for (const [name, spec] of MODELS) {
  const mem = weightMemory(spec, formats);
  const kv = kvBytesPerToken(spec) * context;
  const q4 = mem.find((m) => m.format === "q4_k_m")!;
  console.log(
    `| ${name} | ${mem.map((m) => `${gb(m.weightBytes)} (${m.bitsPerWeight.toFixed(2)})`).join(" | ")} | ` +
      `${gb(kv)} (${gb(kv / 2)}) | ${gb(q4.weightBytes + kv)} (${gb(q4.weightBytes + kv / 2)}) |`,
  );
}

const trained = ["f16", "q8_0", "q4_k_m"] as const;
const targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
console.log(
  `\nLoRA training on the WebGPU engine (r ${r}, every linear layer; the longest example ${trainTokens} tokens, ` +
    `${scored} scored): device memory, GB`,
);
console.log(`| model | ${trained.join(" | ")} | of which the example's buffers |`);
console.log(`| ----- | ${trained.map(() => "---").join(" | ")} | --- |`);
for (const [name, spec] of MODELS) {
  const mem = trained.map((format) => trainMemory(spec, { format, targets, r, tokens: trainTokens, scored }));
  console.log(`| ${name} | ${mem.map((m) => gb(m.total)).join(" | ")} | ${gb(mem[0].example)} |`);
}
