/**
 * Loading a model for the engines: the one place where checkpoint tensors become canonical
 * weights. In reading order (the family's row in `architecture_table.ts` names each tensor),
 * each tensor is read once, LoRA-merged (or its update kept apart), split (a fused QKV such as
 * Baichuan's `W_pack`), normalized (NormHead), converted to the format asked for or quantized
 * with a llama.cpp preset, and handed to `place` (an engine uploads it there) before the next
 * tensor is read; 16-bit matrices stay 16-bit unless told otherwise. A GGUF file goes through
 * `gguf_model.ts`, which does the same with the file's tensors (quantized ones as stored).
 *
 * @module
 */

import { InputError } from "../../io/errors.ts";
import { roleTensors } from "./architectures.ts";
import type { ModelConfig } from "./architectures.ts";
import { GLOBAL_ROLES, type GlobalRole, LAYER_ROLES, type LayerRole } from "./architecture_table.ts";
import { type DType, fromF32, toF32 } from "../formats/dtype.ts";
import { AdapterFolder, type LoraDelta, mergeLora } from "./lora.ts";
import { ModelFolder } from "../formats/model_folder.ts";
import { isGgufFile } from "../formats/gguf_read.ts";
import { loadGgufModel } from "./gguf_model.ts";
import type { LayerWeights, ModelSpec, ModelWeights } from "./model_spec.ts";
import { castTensor, type Tensor } from "../formats/tensor.ts";
import { isQuantTensor, quantizeTensor, type WeightTensor } from "../formats/quant_tensor.ts";
import { QuantizePool } from "../formats/quantize_pool.ts";
import { type QuantPreset, tensorTypeFor } from "../formats/quant_preset.ts";
import { GGUF_ARCHITECTURES, layerTensorName } from "./architecture_table.ts";

/** How far loading has got. */
export interface LoadProgress {
  /** Bytes of tensors read so far. */
  readonly bytesRead: number;
  /** Bytes to read in all (base model and adapter). */
  readonly totalBytes: number;
  /** The tensor just read. */
  readonly tensor: string;
}

/** Options of {@linkcode loadModel}; `M` is how matrices are held (see `place`). */
export interface LoadOptions<M = WeightTensor> {
  /** A PEFT LoRA adapter folder to apply. */
  readonly lora?: string;
  /** Format of the weight matrices in memory: as stored (`auto`, the default) or converted. */
  readonly dtype?: DType | "auto";
  /**
   * Quantize the weight matrices as they are read, after the LoRA merge, each to the ggml type
   * llama.cpp's preset gives it (`q4_k_m`: mostly `q4_k`, `q6_k` where more bits pay). Overrides
   * `dtype` for matrices.
   */
  readonly quantize?: QuantPreset;
  /**
   * `merge` (default): merge the adapter into the weights once. `separate`: keep the updates
   * apart in {@linkcode LoadedModel.loraDeltas} for engines that apply them on the fly (the CPU
   * engine, to check the merge).
   */
  readonly loraMode?: "merge" | "separate";
  /** Called after each tensor read. */
  readonly onProgress?: (p: LoadProgress) => void;
  /**
   * Where each weight matrix goes once it is final (LoRA merged, split, normalized, converted),
   * before the next tensor is read: an engine uploads it here, so no host copy of the whole
   * model ever exists. Default: kept as the host tensor.
   */
  readonly place?: (t: WeightTensor, name: string) => M | Promise<M>;
}

/** A loaded model: what to compute and its weights (matrices held as `M`, host tensors by default). */
export interface LoadedModel<M = WeightTensor> {
  /** The model folder. */
  readonly dir: string;
  /** Its `config.json`. */
  readonly config: ModelConfig;
  /** What the model computes. */
  readonly spec: ModelSpec;
  /** The weights, canonical names. */
  readonly weights: ModelWeights<M>;
  /** The adapter folder, when one was applied. */
  readonly lora?: string;
  /**
   * With `loraMode: "separate"`: the updates by canonical weight (`layers.0.wq`, …), to add as
   * `scale · B · (A · x)`.
   */
  readonly loraDeltas?: ReadonlyMap<string, LoraDelta>;
}

/**
 * Load a Hugging Face model folder (and a LoRA adapter) into canonical weights; or a GGUF
 * file (see `gguf_model.ts`).
 *
 * @param dir the model folder, or a `.gguf` file
 * @param options adapter, format and progress
 * @returns the loaded model
 * @throws {InputError} for a bad folder or adapter, before any large read
 *
 * @example
 * ```ts
 * import { loadModel } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "baichuan", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1,
 *   heads: 2, dtype: "bf16" });
 * const m = await loadModel(dir);
 * if (m.weights.layers[0].wq.shape.join() !== "8,8" || m.weights.embed.dtype !== "bf16") throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadModel<M = WeightTensor>(dir: string, options: LoadOptions<M> = {}): Promise<LoadedModel<M>> {
  if (await isGgufFile(dir)) return await loadGgufModel(dir, options);
  using folder = await ModelFolder.open(dir);
  using adapter = options.lora === undefined ? undefined : await AdapterFolder.open(options.lora);
  adapter?.checkFits(folder);
  const spec = folder.spec;
  const sources = roleTensors(spec);
  const entryBytes = (e: { begin: number; end: number }) => e.end - e.begin;
  let totalBytes = sources.reduce((n, s) => n + entryBytes(folder.entry(s.name)), 0);
  if (adapter) totalBytes += adapter.file.names.reduce((n, name) => n + entryBytes(adapter.file.entry(name)), 0);
  let bytesRead = 0;
  const progress = (tensor: string, bytes: number) => {
    bytesRead += bytes;
    options.onProgress?.({ bytesRead, totalBytes, tensor });
  };
  const separate = options.loraMode === "separate";
  const deltas = new Map<string, LoraDelta>();
  const pending = new Map<string, LoraDelta>();
  const targets = new Map((adapter?.targets ?? []).map((t) => [t.base, t]));

  /** Read one checkpoint tensor with the adapter applied (or its update set aside). */
  const read = async (name: string): Promise<Tensor> => {
    let t: Tensor;
    const replacement = adapter?.replacements.get(name);
    if (replacement !== undefined) {
      t = await adapter!.file.read(replacement);
      progress(replacement, t.data.byteLength);
      progress(name, entryBytes(folder.entry(name)));
    } else {
      t = await folder.read(name);
      progress(name, t.data.byteLength);
    }
    const target = targets.get(name);
    if (target && adapter) {
      const a = await adapter.file.read(target.a);
      const b = await adapter.file.read(target.b);
      progress(target.a, a.data.byteLength);
      progress(target.b, b.data.byteLength);
      const delta = { a: toF32(a.data, a.dtype), b: toF32(b.data, b.dtype), r: target.r, scale: target.scale };
      if (separate) {
        if (adapter.config.fanInFanOut) {
          throw new InputError("loraMode separate does not support fan_in_fan_out adapters", { file: adapter.dir });
        }
        pending.set(name, delta);
      } else {
        t = mergeLora(t, delta.a, delta.b, delta.r, delta.scale, adapter.config.fanInFanOut);
      }
    }
    return t;
  };
  // Quantizing as it loads takes every core (the workers end with this load).
  using pool = options.quantize !== undefined ? new QuantizePool() : undefined;
  const matrix = (t: Tensor, name: string): Promise<M> => placeMatrix(t, name, options, spec, pool);
  const vector = (t: Tensor): Tensor => castTensor(t, "f32");
  /** Move a separate update from a checkpoint name to canonical names (rows `from..to` of B). */
  const keep = (source: string, canonical: string, rows?: [number, number]) => {
    const d = pending.get(source);
    if (!d) return;
    const b = rows ? d.b.slice(rows[0] * d.r, rows[1] * d.r) : d.b;
    deltas.set(canonical, { ...d, b });
  };

  const q = spec.heads * spec.headDim;
  const kv = spec.kvHeads * spec.headDim;
  const global: Partial<Record<GlobalRole, M | Tensor>> = {};
  const perLayer: Partial<Record<LayerRole, M | Tensor>>[] = Array.from({ length: spec.layers }, () => ({}));
  for (const source of sources) {
    const t = await read(source.name);
    if (source.layer === undefined) {
      const role = source.role as GlobalRole;
      if (role === "output" && spec.normHead) {
        global.output = await matrix(normalizeRows(t), role);
        if (pending.has(source.name)) {
          throw new InputError("loraMode separate cannot apply an adapter to a NormHead lm_head", {
            file: options.lora,
          });
        }
      } else {
        global[role] = GLOBAL_ROLES[role].kind === "matrix" ? await matrix(t, role) : vector(t);
      }
      if (GLOBAL_ROLES[role].kind === "matrix") keep(source.name, role);
      continue;
    }
    const role = source.role as LayerRole;
    const c = `layers.${source.layer}.`;
    const w = perLayer[source.layer];
    if (role === "wqkv") {
      // A fused projection: rows q, then k, then v.
      w.wq = await matrix(sliceRows(t, 0, q), c + "wq");
      w.wk = await matrix(sliceRows(t, q, q + kv), c + "wk");
      w.wv = await matrix(sliceRows(t, q + kv, q + 2 * kv), c + "wv");
      keep(source.name, c + "wq", [0, q]);
      keep(source.name, c + "wk", [q, q + kv]);
      keep(source.name, c + "wv", [q + kv, q + 2 * kv]);
    } else if (LAYER_ROLES[role].kind === "matrix") {
      w[role] = await matrix(t, c + role);
      keep(source.name, c + role);
    } else {
      w[role] = vector(t);
    }
  }
  return {
    dir,
    config: folder.config,
    spec,
    weights: assembleWeights(global, perLayer),
    lora: options.lora,
    loraDeltas: separate && adapter ? deltas : undefined,
  };
}

/**
 * The weights read, by role, as {@linkcode ModelWeights} (the output matrix is the embedding's
 * when the model has none of its own).
 *
 * @param global the model-wide weights by role
 * @param perLayer each layer's weights by role
 * @returns the weights
 *
 * @example
 * ```ts
 * import { assembleWeights } from "./load_model.ts";
 * const v = { dtype: "f32" as const, shape: [1], data: new Float32Array(1) };
 * const w = assembleWeights({ embed: v, norm: v }, []);
 * if (w.output !== w.embed || w.layers.length !== 0) throw new Error();
 * ```
 */
export function assembleWeights<M>(
  global: Partial<Record<GlobalRole, M | Tensor>>,
  perLayer: readonly Partial<Record<LayerRole, M | Tensor>>[],
): ModelWeights<M> {
  const embed = global.embed as M;
  const layers: LayerWeights<M>[] = perLayer.map((w) => ({
    attnNorm: w.attnNorm as Tensor,
    wq: w.wq as M,
    wk: w.wk as M,
    wv: w.wv as M,
    wo: w.wo as M,
    bq: w.bq as Tensor | undefined,
    bk: w.bk as Tensor | undefined,
    bv: w.bv as Tensor | undefined,
    bo: w.bo as Tensor | undefined,
    ffnNorm: w.ffnNorm as Tensor,
    w1: w.w1 as M,
    w2: w.w2 as M,
    w3: w.w3 as M,
  }));
  return { embed, layers, norm: global.norm as Tensor, output: (global.output ?? embed) as M };
}

/**
 * A weight matrix made final and handed to `options.place`: a quantized one as stored; a plain
 * one quantized with `options.quantize` (each in the type the preset gives its GGUF name) or
 * converted to `options.dtype`. The one step folders and GGUF files share.
 *
 * @param t the matrix (LoRA merged, split, normalized)
 * @param canonical its canonical name (`embed`, `layers.3.wv`)
 * @param options the load's format, preset and `place`
 * @param spec the model (its layer count and tied embeddings decide some presets' types)
 * @param pool the workers that quantize large matrices (absent: this thread does)
 * @returns where `place` put it (the tensor itself without `place`)
 *
 * @example
 * ```ts
 * import { placeMatrix } from "./load_model.ts";
 * import type { ModelSpec } from "./model_spec.ts";
 * const t = { dtype: "f32" as const, shape: [1, 32], data: new Float32Array(32).fill(127) };
 * const q = await placeMatrix(t, "layers.0.wv", { quantize: "q8_0" }, { layers: 1, tiedEmbeddings: false } as ModelSpec);
 * if (q.dtype !== "q8_0") throw new Error();
 * ```
 */
export async function placeMatrix<M = WeightTensor>(
  t: WeightTensor,
  canonical: string,
  options: LoadOptions<M>,
  spec: ModelSpec,
  pool?: QuantizePool,
): Promise<M> {
  const place = options.place ?? ((w: WeightTensor) => w as unknown as M);
  if (isQuantTensor(t)) return await place(t, canonical); // run as stored, never quantized again
  if (options.quantize !== undefined) {
    const type = tensorTypeFor(options.quantize, { name: ggufName(canonical), shape: t.shape }, spec);
    return await place(pool ? await pool.quantize(t, type) : quantizeTensor(t, type), canonical);
  }
  return await place(options.dtype && options.dtype !== "auto" ? castTensor(t, options.dtype) : t, canonical);
}

/** The GGUF name of a canonical weight (`layers.3.wv` → `blk.3.attn_v.weight`), for the presets' rules. */
function ggufName(canonical: string): string {
  const names = GGUF_ARCHITECTURES.llama.tensors;
  const m = /^layers\.(\d+)\.(\w+)$/.exec(canonical);
  if (m) return layerTensorName(names.layer[m[2] as LayerRole] ?? canonical, Number(m[1]));
  return names.global[canonical as GlobalRole] ?? canonical;
}

/**
 * Rows `from..to` of a matrix (a copy).
 *
 * @param t the matrix `[rows, cols]`
 * @param from first row
 * @param to row past the last
 * @returns the rows as a new tensor
 *
 * @example
 * ```ts
 * import { sliceRows } from "./load_model.ts";
 * const t = sliceRows({ dtype: "f32", shape: [3, 2], data: new Float32Array([1, 2, 3, 4, 5, 6]) }, 1, 3);
 * if (t.data.join() !== "3,4,5,6" || t.shape[0] !== 2) throw new Error();
 * ```
 */
export function sliceRows(t: Tensor, from: number, to: number): Tensor {
  const cols = t.shape[1];
  return { dtype: t.dtype, shape: [to - from, cols], data: t.data.slice(from * cols, to * cols) };
}

/**
 * Baichuan 2's NormHead, applied once: each row divided by its Euclidean norm
 * (`F.normalize(w)`, epsilon 1e-12), in f32 and rounded back into the tensor's format.
 *
 * @param t the matrix
 * @returns the normalized matrix
 *
 * @example
 * ```ts
 * import { normalizeRows } from "./load_model.ts";
 * const t = normalizeRows({ dtype: "f32", shape: [1, 2], data: new Float32Array([3, 4]) });
 * if (t.data.join() !== "0.6000000238418579,0.800000011920929") throw new Error(t.data.join());
 * ```
 */
export function normalizeRows(t: Tensor): Tensor {
  const v = toF32(t.data, t.dtype);
  const cols = t.shape[1];
  for (let r = 0; r < t.shape[0]; r++) {
    let ss = 0;
    for (let i = r * cols; i < (r + 1) * cols; i++) ss += v[i] * v[i];
    const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
    for (let i = r * cols; i < (r + 1) * cols; i++) v[i] *= inv;
  }
  return { dtype: t.dtype, shape: t.shape, data: fromF32(v, t.dtype) };
}
