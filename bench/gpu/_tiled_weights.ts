/**
 * Weights of a LLaMA-shaped model made in memory in seconds, whatever its size, for benches of
 * speed: each matrix is a block of random rows (quantized once, in the type the preset gives
 * that tensor) repeated to the matrix's height, and every matrix of the same type and shape
 * shares one host array. What a kernel reads is as large as the real model's, and only the
 * values repeat, which a GPU's or CPU's caches cannot tell from different values (the
 * addresses differ). Norm scales are ones.
 *
 * @module
 */

import { isQuantTensor, quantizeTensor, type WeightTensor } from "../../infer/formats/quant_tensor.ts";
import { type QuantPreset, tensorTypeFor } from "../../infer/formats/quant_preset.ts";
import type { Tensor } from "../../infer/formats/tensor.ts";
import type { LayerWeights, ModelSpec, ModelWeights } from "../../infer/model/model_spec.ts";

/** Rows of random values each matrix repeats. */
const BLOCK_ROWS = 64;

/**
 * A model's weights in a preset's formats, each matrix handed to `place` as it is made (an
 * uploader, say) and the results assembled.
 *
 * @param spec the model's sizes (LLaMA: its own output matrix, no biases)
 * @param preset the weight formats (`f16`, `q4_k_m`, …; per tensor as llama.cpp's presets pick)
 * @param place what each matrix becomes (awaited in order: embedding, layers, output)
 * @param seed the random rows' seed
 * @returns the weights
 *
 * @example
 * ```ts
 * import { tiledWeights } from "./_tiled_weights.ts";
 * import { llamaSpec } from "../_llama_spec.ts";
 * const spec = llamaSpec({ vocab: 64, hidden: 256, inter: 512, layers: 2, heads: 4, kv: 2 });
 * const w = await tiledWeights(spec, "q4_k_m", (t) => Promise.resolve(t));
 * if (w.embed.dtype !== "q4_k" || w.output.dtype !== "q6_k" || w.layers.length !== 2) throw new Error();
 * if (w.layers[0].wq.data !== w.layers[1].wq.data) throw new Error("same type and shape: one array");
 * ```
 */
export async function tiledWeights<M>(
  spec: ModelSpec,
  preset: QuantPreset,
  place: (t: WeightTensor) => Promise<M>,
  seed = 1,
): Promise<ModelWeights<M>> {
  const made = new Map<string, WeightTensor>();
  const matrix = (name: string, rows: number, cols: number): Promise<M> => {
    const type = tensorTypeFor(preset, { name, shape: [rows, cols] }, { layers: spec.layers });
    const key = `${type} ${rows}x${cols}`;
    let t = made.get(key);
    if (!t) {
      t = repeatRows(quantizeTensor(randomRows(Math.min(rows, BLOCK_ROWS), cols, seed + made.size), type), rows);
      made.set(key, t);
    }
    return place(t);
  };
  const ones = (n: number): Tensor => ({ dtype: "f32", shape: [n], data: new Float32Array(n).fill(1) });
  const q = spec.heads * spec.headDim;
  const kv = spec.kvHeads * spec.headDim;
  const embed = await matrix("token_embd.weight", spec.vocabSize, spec.hidden);
  const layers: LayerWeights<M>[] = [];
  for (let i = 0; i < spec.layers; i++) {
    const b = `blk.${i}.`;
    layers.push({
      attnNorm: ones(spec.hidden),
      ffnNorm: ones(spec.hidden),
      wq: await matrix(b + "attn_q.weight", q, spec.hidden),
      wk: await matrix(b + "attn_k.weight", kv, spec.hidden),
      wv: await matrix(b + "attn_v.weight", kv, spec.hidden),
      wo: await matrix(b + "attn_output.weight", spec.hidden, q),
      w1: await matrix(b + "ffn_gate.weight", spec.intermediate, spec.hidden),
      w2: await matrix(b + "ffn_down.weight", spec.hidden, spec.intermediate),
      w3: await matrix(b + "ffn_up.weight", spec.intermediate, spec.hidden),
    });
  }
  const output = await matrix("output.weight", spec.vocabSize, spec.hidden);
  return { embed, layers, norm: ones(spec.hidden), output };
}

/** `rows × cols` values uniform in ±√(3 / cols) (unit variance of a product with a unit input). */
function randomRows(rows: number, cols: number, seed: number): Tensor {
  const data = new Float32Array(rows * cols);
  const a = Math.sqrt(3 / cols);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < data.length; i++) {
    // xorshift32
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    data[i] = ((s >>> 0) / 2 ** 32 * 2 - 1) * a;
  }
  return { dtype: "f32", shape: [rows, cols], data };
}

/** A matrix of `rows` rows: the given block of rows over and over. */
function repeatRows(block: WeightTensor, rows: number): WeightTensor {
  const cols = block.shape[1];
  const per = block.data.length / block.shape[0];
  const data = isQuantTensor(block)
    ? new Uint8Array(rows * per)
    : block.data instanceof Float32Array
    ? new Float32Array(rows * per)
    : new Uint16Array(rows * per);
  for (let at = 0; at < data.length; at += block.data.length) {
    data.set(block.data.subarray(0, Math.min(block.data.length, data.length - at)), at);
  }
  return { dtype: block.dtype, shape: [rows, cols], data } as WeightTensor;
}
