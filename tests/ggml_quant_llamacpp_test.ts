/**
 * Quantized GGUF files written by `export-gguf --dtype PRESET`, run in llama.cpp
 * (`node-llama-cpp@3.21.1`, one thread, F32 KV cache). llama.cpp is the independent reader of
 * our blocks: its log-probs on the quantized file must match its log-probs on an F32 "twin" that
 * holds exactly the values our dequantizer reads from that file. A twin that differed (a nibble
 * or a scale read differently) would move the log-probs as much as the quantization itself does,
 * so the test also checks that the twin is much closer than the unquantized model is.
 *
 * llama.cpp multiplies quantized weights with activations it rounds to 8 bits, so the quantized
 * file and its twin differ a little even when the blocks are read identically.
 */

import { equal, ok } from "node:assert/strict";
import { getLlama, type Llama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { loadModel } from "../infer/mod.ts";
import { planGgufExport } from "../infer/model/mod.ts";
import {
  dequantizeRow,
  ggmlTypeById,
  type GgufTensor,
  ggufTensorBytes,
  numel,
  readGgufHeader,
  writeGguf,
} from "../infer/formats/mod.ts";
import { Rng } from "../infer/decode/random.ts";
import { type RandomModelOptions, writeRandomModel } from "../infer/testing/mod.ts";
import { runCli, tempDir } from "./_shared.ts";

const VOCAB = 512;
/** Bound on mean |Δ log p| between llama.cpp on a quantized file and on its F32 twin. */
const MAX_MEAN_DIFF = 0.1;

let llamaPromise: Promise<Llama> | undefined;
const llamaCpp = () => llamaPromise ??= getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });

/** llama.cpp's next-token log-probabilities after each prompt position. */
async function logprobs(path: string, prompt: number[]): Promise<Float64Array[]> {
  const llama = await llamaCpp();
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize: 128,
    threads: 1,
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
  });
  const seq = context.getSequence();
  try {
    const res = await seq.controlledEvaluate(
      prompt.map((t) => [t as Token, { generateNext: { probabilities: true } }]),
    );
    return res.map((r) => {
      const lp = new Float64Array(VOCAB).fill(-Infinity);
      for (const [tok, p] of r!.next.probabilities!) lp[tok] = Math.log(p);
      return lp;
    });
  } finally {
    await seq.dispose();
    await context.dispose();
    await model.dispose();
  }
}

/** Mean |Δ log p| over the tokens `ref` gives a probability above 1e-4, at every position. */
function meanLogprobDiff(a: Float64Array[], ref: Float64Array[]): number {
  let sum = 0, n = 0;
  for (let i = 0; i < ref.length; i++) {
    for (let t = 0; t < VOCAB; t++) {
      if (ref[i][t] > Math.log(1e-4)) {
        sum += Math.abs(a[i][t] - ref[i][t]);
        n++;
      }
    }
  }
  return sum / n;
}

/** An F32 GGUF holding exactly the values our dequantizer reads from the quantized file. */
async function writeTwin(quantized: string, twin: string, modelDir: string): Promise<Set<string>> {
  const h = await readGgufHeader(quantized);
  const bytes = await Deno.readFile(quantized);
  const types = new Set<string>();
  const tensors: GgufTensor[] = h.tensors.map((info) => {
    const type = ggmlTypeById(info.type)!.name;
    types.add(type);
    const shape = [...info.dims].reverse();
    const at = h.dataStart + info.offset;
    const packed = bytes.subarray(at, at + ggufTensorBytes({ shape, dtype: type }));
    return {
      name: info.name,
      shape,
      dtype: "f32",
      data: () => dequantizeRow(type, packed, new Float32Array(numel(shape))),
    };
  });
  const { metadata } = await planGgufExport(await loadModel(modelDir), { dtype: "f32" });
  await writeGguf(twin, metadata, tensors);
  return types;
}

interface Case {
  name: string;
  model: RandomModelOptions;
  /**
   * Per preset: the ggml types the file must hold, and `closer`: how much closer to llama.cpp on the
   * quantized file its twin must be than the unquantized model (the quantization error must
   * dominate; q8_0's is about as small as the rounding of activations, so it has no such check).
   */
  presets: { preset: string; fileType: number; types: string[]; closer?: number }[];
}

const CASES: Case[] = [
  {
    name: "llama, hidden 256: real k-quant blocks",
    model: {
      architecture: "llama",
      vocabSize: VOCAB,
      hidden: 256,
      intermediate: 512,
      layers: 8,
      heads: 4,
      kvHeads: 2,
      seed: 61,
    },
    presets: [
      { preset: "q4_k_m", fileType: 15, types: ["f32", "q4_k", "q6_k"], closer: 0.25 },
      { preset: "q6_k", fileType: 18, types: ["f32", "q6_k"], closer: 0.75 },
      { preset: "q8_0", fileType: 7, types: ["f32", "q8_0"] },
      { preset: "q4_0", fileType: 2, types: ["f32", "q4_0", "q6_k"], closer: 0.25 },
    ],
  },
  {
    name: "qwen2, hidden 64, tied embeddings: rows of 64 and 160 fall back",
    model: {
      architecture: "qwen2",
      vocabSize: VOCAB,
      hidden: 64,
      intermediate: 160,
      layers: 2,
      heads: 4,
      kvHeads: 2,
      tiedEmbeddings: true,
      seed: 62,
    },
    presets: [
      { preset: "q4_k_m", fileType: 15, types: ["f32", "q5_0", "q8_0"], closer: 0.75 },
      { preset: "q8_0", fileType: 7, types: ["f32", "q8_0"] },
    ],
  },
];

Deno.test({
  name: "export-gguf --dtype PRESET: llama.cpp reads our blocks as our dequantizer does",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    for (const c of CASES) {
      await using tmp = await tempDir();
      const dir = `${tmp.dir}/model`;
      await writeRandomModel(dir, c.model);
      const rng = new Rng(c.model.seed ?? 1);
      const prompt = [1, ...Array.from({ length: 23 }, () => 3 + Math.floor(rng.next() * (VOCAB - 3)))];
      equal(
        (await runCli(["export-gguf", "--model", dir, "--out", `${tmp.dir}/f32.gguf`, "--dtype", "f32", "--quiet"]))
          .code,
        0,
      );
      const exact = await logprobs(`${tmp.dir}/f32.gguf`, prompt);
      for (const p of c.presets) {
        await t.step(`${c.name}: ${p.preset}`, async () => {
          const quantized = `${tmp.dir}/${p.preset}.gguf`;
          const twin = `${tmp.dir}/${p.preset}-twin.gguf`;
          const r = await runCli(["export-gguf", "--model", dir, "--out", quantized, "--dtype", p.preset]);
          equal(r.code, 0, r.stderr);
          equal((await readGgufHeader(quantized)).metadata.get("general.file_type"), p.fileType);
          const types = await writeTwin(quantized, twin, dir);
          equal([...types].sort().join(), [...p.types].sort().join());
          const theirs = await logprobs(quantized, prompt);
          ok(theirs.every((lp) => lp.some((v) => v > -20) && lp.every((v) => !Number.isNaN(v))), "finite log-probs");
          const twinDiff = meanLogprobDiff(theirs, await logprobs(twin, prompt));
          const quantDiff = meanLogprobDiff(theirs, exact);
          console.log(
            `${c.name} ${p.preset} (${r.stderr.match(/[\d.]+ bits per weight/)?.[0]}): ` +
              `mean |Δ log p| vs twin ${twinDiff.toFixed(4)}, vs unquantized ${quantDiff.toFixed(4)}`,
          );
          // Rounding activations to 8 bits alone moves these peaked random models' log-probs by
          // 0.01–0.07 on average (measured); a block read differently would move them by the
          // quantization error itself (0.17–0.76 for 6 and 4 bits).
          ok(twinDiff < MAX_MEAN_DIFF, `mean |Δ log p| vs twin ${twinDiff}`);
          if (p.closer !== undefined) {
            ok(twinDiff < p.closer * quantDiff, `the twin (${twinDiff}) must be closer than f32 (${quantDiff})`);
          }
        });
      }
    }
  },
});
