/**
 * Weight upload: a model's weights onto the device once, in their format (16-bit weights stay
 * 16-bit and are widened in the shader), each matrix split into row chunks that fit one binding
 * and one dispatch grid. Norms and biases go up as f32.
 *
 * @module
 */

import type { GgmlTypeName } from "../../formats/ggml_types.ts";
import { isQuantTensor, weightRowBytes, type WeightTensor } from "../../formats/quant_tensor.ts";
import { castTensor, type Tensor } from "../../formats/tensor.ts";
import type { LoraDelta } from "../../model/lora.ts";
import type { ModelWeights } from "../../model/model_spec.ts";
import { type GpuBuffers, USAGE } from "./buffers.ts";
import { MATMUL_ROWS } from "./kernels/matmul.ts";

/** A weight matrix on the device, in row chunks that each fit one binding. */
export interface GpuMatrix {
  /** Format on the device (quantized matrices keep their blocks). */
  readonly dtype: GgmlTypeName;
  /** Rows of the whole matrix. */
  readonly rows: number;
  /** Values per row. */
  readonly cols: number;
  /** Bytes on the device. */
  readonly bytes: number;
  /** The chunks, in row order. */
  readonly chunks: readonly { readonly buffer: GPUBuffer; readonly rowStart: number; readonly rows: number }[];
}

/** One layer's weights on the device. */
export interface GpuLayer {
  /** Norm before attention. */
  readonly attnNorm: GPUBuffer;
  /** Norm before the MLP. */
  readonly ffnNorm: GPUBuffer;
  /** Query projection. */
  readonly wq: GpuMatrix;
  /** Key projection. */
  readonly wk: GpuMatrix;
  /** Value projection. */
  readonly wv: GpuMatrix;
  /** Attention output projection. */
  readonly wo: GpuMatrix;
  /** MLP gate. */
  readonly w1: GpuMatrix;
  /** MLP down. */
  readonly w2: GpuMatrix;
  /** MLP up. */
  readonly w3: GpuMatrix;
  /** Query bias. */
  readonly bq?: GPUBuffer;
  /** Key bias. */
  readonly bk?: GPUBuffer;
  /** Value bias. */
  readonly bv?: GPUBuffer;
  /** Output bias. */
  readonly bo?: GPUBuffer;
  /** The query, key and value biases in one buffer, `q | k | v` (zeros for a missing one), where any exists. */
  readonly bqkv?: GPUBuffer;
}

/** A model's weights on the device. */
export interface GpuWeights {
  /** Token embedding. */
  readonly embed: GpuMatrix;
  /** Output projection (the embedding itself when tied). */
  readonly output: GpuMatrix;
  /** Final norm. */
  readonly norm: GPUBuffer;
  /** The layers. */
  readonly layers: readonly GpuLayer[];
  /** Bytes uploaded. */
  readonly bytes: number;
  /** The most chunks one matrix was split into. */
  readonly maxChunks: number;
  /** Unmerged LoRA updates by canonical weight name (`layers.0.wq`): `y += B' · (A · x)`. */
  readonly lora: ReadonlyMap<string, GpuLora>;
  /** The largest padded rank among them (0 without). */
  readonly loraRank: number;
}

/** A LoRA update kept apart from its (e.g. quantized) base matrix, on the device. */
export interface GpuLora {
  /** `A` `[r, in]`, f32, its rank padded to even with a zero row. */
  readonly a: GpuMatrix;
  /** `scale · B` `[out, r]`, f32, padded with a zero column to match. */
  readonly b: GpuMatrix;
  /** The padded rank. */
  readonly r: number;
}

/**
 * Upload a model's weights; matrices already on the device (placed as they were read, see
 * {@linkcode WeightUploader}) are kept as they are.
 *
 * @param buffers the owner of the buffers
 * @param w the weights
 * @param limit the most bytes of one chunk
 * @returns the weights on the device
 *
 * @example
 * ```ts
 * import { GpuBuffers } from "./buffers.ts";
 * import { uploadWeights } from "./weights.ts";
 * import { f32Tensor } from "../../formats/tensor.ts";
 * import type { ModelWeights } from "../../model/model_spec.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const owned = new GpuBuffers(device);
 *   const embed = f32Tensor([32, 16], new Float32Array(32 * 16));
 *   const weights = { embed, output: embed, norm: f32Tensor([16], new Float32Array(16)), layers: [] };
 *   const w = uploadWeights(owned, weights as unknown as ModelWeights, 256);
 *   if (w.maxChunks !== 8) throw new Error("a 2 KiB embedding goes up in 256-byte chunks");
 *   owned.destroy();
 *   device.destroy();
 * }
 * ```
 */
export function uploadWeights(
  buffers: GpuBuffers,
  w: ModelWeights<WeightTensor | GpuMatrix>,
  limit: number,
  deltas?: ReadonlyMap<string, LoraDelta>,
): GpuWeights {
  let bytes = 0;
  let maxChunks = 1;
  const matrix = (t: WeightTensor | GpuMatrix): GpuMatrix => {
    const m = isGpuMatrix(t) ? t : uploadMatrix(buffers, t, limit);
    bytes += m.bytes;
    maxChunks = Math.max(maxChunks, m.chunks.length);
    return m;
  };
  const vector = (t: Tensor | undefined): GPUBuffer | undefined => {
    if (!t) return undefined;
    bytes += t.data.length * 4;
    return buffers.f32(castTensor(t, "f32").data as Float32Array, USAGE.STORAGE);
  };
  const embed = matrix(w.embed);
  const output = w.output === w.embed ? embed : matrix(w.output);
  const norm = vector(w.norm)!;
  /** The `q | k | v` biases, zeros for a missing one; undefined without any. */
  const qkvBias = (l: ModelWeights<WeightTensor | GpuMatrix>["layers"][number]): GPUBuffer | undefined => {
    if (!l.bq && !l.bk && !l.bv) return undefined;
    const rows = [l.wq, l.wk, l.wv].map((m) => isGpuMatrix(m) ? m.rows : m.shape[0]);
    const all = new Float32Array(rows[0] + rows[1] + rows[2]);
    [l.bq, l.bk, l.bv].forEach((b, i) => {
      if (b) all.set(castTensor(b, "f32").data as Float32Array, i === 0 ? 0 : i === 1 ? rows[0] : rows[0] + rows[1]);
    });
    bytes += all.byteLength;
    return buffers.f32(all, USAGE.STORAGE);
  };
  const layers = w.layers.map((l) => ({
    attnNorm: vector(l.attnNorm)!,
    ffnNorm: vector(l.ffnNorm)!,
    wq: matrix(l.wq),
    wk: matrix(l.wk),
    wv: matrix(l.wv),
    wo: matrix(l.wo),
    w1: matrix(l.w1),
    w2: matrix(l.w2),
    w3: matrix(l.w3),
    bq: vector(l.bq),
    bk: vector(l.bk),
    bv: vector(l.bv),
    bo: vector(l.bo),
    bqkv: qkvBias(l),
  }));
  const lora = new Map<string, GpuLora>();
  let loraRank = 0;
  for (const [name, d] of deltas ?? []) {
    const u = uploadLora(buffers, d, limit);
    bytes += u.a.bytes + u.b.bytes;
    loraRank = Math.max(loraRank, u.r);
    lora.set(name, u);
  }
  return { embed, output, norm, layers, bytes, maxChunks, lora, loraRank };
}

/**
 * An update's matrices for the `matmul` kernel, which reads pairs of values: the rank padded to
 * even (a zero row of `A`, a zero column of `B`), the scale folded into `B`.
 */
function uploadLora(buffers: GpuBuffers, d: LoraDelta, limit: number): GpuLora {
  const inp = d.a.length / d.r, out = d.b.length / d.r;
  const r = d.r + (d.r % 2);
  const a = new Float32Array(r * inp);
  a.set(d.a);
  const b = new Float32Array(out * r);
  for (let o = 0; o < out; o++) for (let j = 0; j < d.r; j++) b[o * r + j] = d.scale * d.b[o * d.r + j];
  return {
    a: uploadMatrix(buffers, { dtype: "f32", shape: [r, inp], data: a }, limit),
    b: uploadMatrix(buffers, { dtype: "f32", shape: [out, r], data: b }, limit),
    r,
  };
}

function isGpuMatrix(t: WeightTensor | GpuMatrix): t is GpuMatrix {
  return "chunks" in t;
}

/**
 * Uploads weight matrices one at a time as a model is read (the `place` of `loadModel`), so
 * that no host copy of the whole model exists: each matrix goes into device buffers written at
 * creation, and every `flushBytes` the queue is submitted and waited on, which frees the staging
 * memory those writes hold until a submit.
 *
 * @example
 * ```ts
 * import { GpuBuffers } from "./buffers.ts";
 * import { WeightUploader } from "./weights.ts";
 * import { f32Tensor } from "../../formats/tensor.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const owned = new GpuBuffers(device);
 *   const up = new WeightUploader(device, owned, 1 << 20, 64);
 *   const m = await up.matrix(f32Tensor([4, 8], new Float32Array(32)));
 *   if (m.rows !== 4 || up.flushes !== 1) throw new Error();
 *   owned.destroy();
 *   device.destroy();
 * }
 * ```
 */
export class WeightUploader {
  readonly #device: GPUDevice;
  readonly #buffers: GpuBuffers;
  readonly #limit: number;
  readonly #flushBytes: number;
  #pending = 0;
  /** Times the queue was flushed so far. */
  flushes = 0;

  /**
   * Create an uploader.
   *
   * @param device the device
   * @param buffers the owner of the buffers
   * @param limit the most bytes of one chunk
   * @param flushBytes bytes written between flushes (default 64 MiB)
   */
  constructor(device: GPUDevice, buffers: GpuBuffers, limit: number, flushBytes = 64 * 2 ** 20) {
    this.#device = device;
    this.#buffers = buffers;
    this.#limit = limit;
    this.#flushBytes = flushBytes;
  }

  /**
   * Upload one matrix (flushing the queue when enough has been written since the last flush).
   *
   * @param t the matrix
   * @returns it on the device
   */
  async matrix(t: WeightTensor): Promise<GpuMatrix> {
    const m = uploadMatrix(this.#buffers, t, this.#limit);
    this.#pending += t.data.byteLength;
    if (this.#pending >= this.#flushBytes) await this.flush();
    return m;
  }

  /** Submit the writes so far and wait for them, freeing their staging memory. */
  async flush(): Promise<void> {
    this.#pending = 0;
    this.flushes++;
    this.#device.queue.submit([]);
    await this.#device.queue.onSubmittedWorkDone();
  }
}

/** Weights in their format, in row chunks of at most `limit` bytes (and dispatchable). */
function uploadMatrix(buffers: GpuBuffers, t: WeightTensor, limit: number): GpuMatrix {
  const [rows, cols] = t.shape;
  // 16-bit pairs are read as one u32: an odd row length would split pairs across rows.
  const tensor = !isQuantTensor(t) && t.dtype !== "f32" && cols % 2 === 1 ? castTensor(t, "f32") : t;
  const rowBytes = weightRowBytes(tensor);
  let per = Math.max(1, Math.floor(limit / rowBytes));
  per = Math.min(per, 65535 * MATMUL_ROWS);
  if ((tensor.dtype === "f16" || tensor.dtype === "bf16") && per > 1) per -= per % 2;
  const bytes = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  const chunks = [];
  for (let r = 0; r < rows; r += per) {
    const n = Math.min(per, rows - r);
    const buffer = buffers.bytes(bytes.subarray(r * rowBytes, (r + n) * rowBytes), USAGE.STORAGE);
    chunks.push({ buffer, rowStart: r, rows: n });
  }
  return { dtype: tensor.dtype, rows, cols, bytes: rows * rowBytes, chunks };
}
