/**
 * A model from a GGUF file, the inverse of `gguf_export.ts`: the architecture and
 * hyper-parameters read back into a `config.json` (through the GGUF keys of the family's row in
 * `architecture_table.ts`), llama.cpp's tensor names mapped back to the canonical weights, the
 * Q/K rows of llama-style RoPE put back in rotate-half order, the output tied to the embedding
 * when the file has none. Plain f32/f16/bf16 tensors are loaded one at a time; quantized ones
 * are listed (and shown by `inspect`) but not yet computed.
 *
 * @module
 */

import { InputError } from "../../io/errors.ts";
import { castTensor, type Tensor } from "../formats/tensor.ts";
import { GgufFile, type GgufTensorEntry, isPlainGgmlType } from "../formats/gguf_read.ts";
import {
  ARCHITECTURES,
  GGUF_ARCHITECTURES,
  type GgufArchitecture,
  GLOBAL_ROLES,
  type GlobalRole,
  LAYER_ROLES,
  type LayerRole,
  layerTensorName,
} from "./architecture_table.ts";
import { type ModelConfig, specFromConfig } from "./architectures.ts";
import { type ModelSpec, ropeInvFreq } from "./model_spec.ts";
import { assembleWeights, type LoadedModel, type LoadOptions, placeMatrix } from "./load_model.ts";
import { QuantizePool } from "../formats/quantize_pool.ts";
import { AdapterFolder, type LoraBase, type LoraDelta, mergeLora } from "./lora.ts";
import { toF32 } from "../formats/dtype.ts";
import type { WeightTensor } from "../formats/quant_tensor.ts";
import type { QuantType } from "../formats/ggml_types.ts";

/** One weight the engine needs, where the GGUF file keeps it. */
export interface GgufWeightSource {
  /** The canonical role. */
  readonly role: GlobalRole | LayerRole;
  /** Its layer, for a layer role. */
  readonly layer?: number;
  /** The GGUF tensor name. */
  readonly name: string;
  /** The row-major shape the metadata implies. */
  readonly shape: readonly number[];
  /** For Q and K on llama-style RoPE: heads whose rows are stored pair-interleaved. */
  readonly permutedHeads?: number;
  /** Its Hugging Face checkpoint name (none for the parts of a fused QKV, stored split). */
  readonly hfName?: string;
}

/**
 * An open GGUF model file: its metadata read back as a `config.json` and spec, and each
 * weight's tensor checked against them (present, shape) before any data is read.
 *
 * @example
 * ```ts
 * import { exportGguf, loadModel } from "../mod.ts";
 * import { GgufModelFile } from "./gguf_model.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "qwen2", vocabSize: 300, hidden: 8, intermediate: 16, layers: 2, heads: 2 });
 * await exportGguf(await loadModel(dir), dir + "/m.gguf", { dtype: "f32" });
 * using m = await GgufModelFile.open(dir + "/m.gguf");
 * if (m.spec.architecture !== "qwen2" || m.spec.layers !== 2 || !m.spec.qkvBias) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class GgufModelFile implements Disposable {
  /** The open file. */
  readonly file: GgufFile;
  /** The llama.cpp architecture (`general.architecture`). */
  readonly ggufArchitecture: GgufArchitecture;
  /** The metadata as a Hugging Face `config.json`. */
  readonly config: ModelConfig;
  /** What the model computes. */
  readonly spec: ModelSpec;
  /** The weights, in reading order. */
  readonly sources: readonly GgufWeightSource[];
  #scratch = new Uint8Array(0);

  private constructor(file: GgufFile, arch: GgufArchitecture, config: ModelConfig, spec: ModelSpec) {
    this.file = file;
    this.ggufArchitecture = arch;
    this.config = config;
    this.spec = spec;
    this.sources = weightSources(spec, arch);
  }

  /**
   * Open a GGUF file as a model and check its tensors against its metadata.
   *
   * @param path the `.gguf` file
   * @returns the open model file (close it, or `using`)
   * @throws {InputError} for a malformed file, an unsupported architecture, a missing tensor or
   *   one whose shape contradicts the metadata (naming the file and the tensor or key)
   */
  static async open(path: string): Promise<GgufModelFile> {
    const file = await GgufFile.open(path);
    try {
      const { arch, config } = configFromGguf(file);
      const llama3 = await llama3ScalingFromGguf(file, config, arch);
      if (llama3) config[ARCHITECTURES.llama.config.ropeScaling] = llama3;
      let spec: ModelSpec;
      try {
        spec = specFromConfig(config);
      } catch (e) {
        if (e instanceof InputError) throw new InputError(`metadata: ${e.problem}`, { file: path });
        throw e;
      }
      // NormHead rows are stored normalized (llama.cpp does not normalize them).
      spec = { ...spec, normHead: false };
      const model = new GgufModelFile(file, arch, config, spec);
      model.#check();
      return model;
    } catch (e) {
      file.close();
      throw e;
    }
  }

  #check(): void {
    const hp = `${this.ggufArchitecture}.`;
    for (const s of this.sources) {
      const e = this.file.entry(s.name);
      if (!e) {
        throw new InputError(`no tensor "${s.name}" (the metadata says ${this.spec.layers} layers)`, {
          file: this.file.path,
        });
      }
      if (e.shape.join() !== s.shape.join()) {
        throw new InputError(
          `tensor "${s.name}" has shape [${e.shape.join(", ")}] but the metadata (${hp}embedding_length ` +
            `${this.spec.hidden}, ${hp}feed_forward_length ${this.spec.intermediate}, heads ${this.spec.heads}/` +
            `${this.spec.kvHeads}, vocabulary ${this.spec.vocabSize}) implies [${s.shape.join(", ")}]`,
          { file: this.file.path },
        );
      }
    }
  }

  /**
   * The first weight stored in a quantized type, or `undefined` when all are f32, f16 or bf16.
   *
   * @returns its entry, or `undefined`
   */
  firstQuantized(): GgufTensorEntry | undefined {
    for (const s of this.sources) {
      const e = this.file.entry(s.name)!;
      if (!isPlainGgmlType(e.typeName)) return e;
    }
    return undefined;
  }

  /**
   * Read one weight as the engine wants it (Q/K rows back in rotate-half order; a quantized
   * matrix's rows are moved as whole rows of blocks).
   *
   * @param s the weight, from {@linkcode sources}
   * @returns the tensor, in its stored format (quantized ones stay packed)
   */
  async read(s: GgufWeightSource): Promise<WeightTensor> {
    const e = this.file.entry(s.name)!;
    const type = e.typeName;
    // Rows stored permuted are read into one buffer reused for the whole load and copied out in
    // order, so each read leaves no garbage the size of a tensor behind.
    let bytes: Uint8Array;
    if (s.permutedHeads) {
      if (this.#scratch.length < e.bytes) this.#scratch = new Uint8Array(e.bytes);
      bytes = await this.file.read(s.name, this.#scratch);
    } else bytes = await this.file.read(s.name);
    const t: WeightTensor = type === "f32"
      ? { dtype: type, shape: s.shape, data: new Float32Array(bytes.buffer, bytes.byteOffset, e.elements) }
      : isPlainGgmlType(type)
      ? {
        dtype: type as "f16" | "bf16",
        shape: s.shape,
        data: new Uint16Array(bytes.buffer, bytes.byteOffset, e.elements),
      }
      : { dtype: type as QuantType, shape: s.shape, data: bytes };
    return s.permutedHeads ? unpermuteRows(t, s.permutedHeads) : t;
  }

  /**
   * The model under the Hugging Face names its exporter read, for checking a LoRA adapter.
   *
   * @returns the base, by checkpoint name
   */
  loraBase(): LoraBase {
    const byName = new Map(this.sources.flatMap((s) => s.hfName === undefined ? [] : [[s.hfName, s]]));
    const file = { path: this.file.path };
    return {
      dir: this.file.path,
      has: (name) => byName.has(name),
      entry: (name) => ({ shape: byName.get(name)!.shape }),
      fileOf: () => file,
    };
  }

  /** Close the file. */
  close(): void {
    this.file.close();
  }

  /** Close the file (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Load a GGUF file into canonical weights, one tensor at a time.
 *
 * @param path the `.gguf` file
 * @param options format, progress, and a LoRA adapter merged at load (by the Hugging Face names
 *   the exporter read; not with `loraMode: "separate"`, fan-in-fan-out adapters or fused-QKV families)
 * @returns the loaded model (`dir` is the file)
 * @throws {InputError} for a bad file, quantized weights, or an adapter that does not fit
 *
 * @example
 * ```ts
 * import { exportGguf, loadModel } from "../mod.ts";
 * import { loadGgufModel } from "./gguf_model.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 300, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const folder = await loadModel(dir);
 * await exportGguf(folder, dir + "/m.gguf", { dtype: "f32" });
 * const m = await loadGgufModel(dir + "/m.gguf");
 * if (m.weights.layers[0].wq.data.join() !== folder.weights.layers[0].wq.data.join()) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadGgufModel<M = WeightTensor>(
  path: string,
  options: LoadOptions<M> = {},
): Promise<LoadedModel<M>> {
  using model = await GgufModelFile.open(path);
  using adapter = options.lora === undefined ? undefined : await AdapterFolder.open(options.lora);
  const quantizedBase = model.firstQuantized() !== undefined;
  if (adapter) {
    const why = adapter.config.fanInFanOut
      ? "a fan_in_fan_out adapter"
      : model.spec.architecture !== "llama" && ARCHITECTURES[model.spec.architecture].fusedQkv
      ? `a ${ARCHITECTURES[model.spec.architecture].label} GGUF (its fused QKV is stored split)`
      : undefined;
    if (why) {
      throw new InputError(
        `a LoRA adapter on ${why} is not supported: merge it into the model folder's weights ` +
          `(iepile export-gguf --model DIR --lora ADAPTER) or give --model DIR`,
        { file: options.lora },
      );
    }
    adapter.checkFits(model.loraBase());
  }
  // Quantized weights are not merged into (that would quantize them again): their updates are
  // kept apart and applied at run time, y = W·x + s·B·(A·x).
  const separate = options.loraMode === "separate" || quantizedBase;
  const spec = model.spec;
  const targets = new Map((adapter?.targets ?? []).map((t) => [t.base, t]));
  const adapterBytes = adapter
    ? adapter.file.names.reduce((n, name) => n + adapter.file.entry(name).end - adapter.file.entry(name).begin, 0)
    : 0;
  const totalBytes = model.sources.reduce((n, s) => n + model.file.entry(s.name)!.bytes, 0) + adapterBytes;
  let bytesRead = 0;
  const progress = (tensor: string, bytes: number) => {
    bytesRead += bytes;
    options.onProgress?.({ bytesRead, totalBytes, tensor });
  };
  const deltas = new Map<string, LoraDelta>();
  // Quantizing as it loads takes every core (the workers end with this load).
  using pool = options.quantize !== undefined ? new QuantizePool() : undefined;
  const global: Partial<Record<GlobalRole, M | Tensor>> = {};
  const perLayer: Partial<Record<LayerRole, M | Tensor>>[] = Array.from({ length: spec.layers }, () => ({}));
  for (const s of model.sources) {
    // The adapter's tensors are in Hugging Face order, as is what `read` returns.
    const replacement = s.hfName === undefined ? undefined : adapter?.replacements.get(s.hfName);
    let t: WeightTensor = replacement === undefined ? await model.read(s) : await adapter!.file.read(replacement);
    progress(replacement ?? s.name, model.file.entry(s.name)!.bytes);
    const canonical = s.layer === undefined ? s.role : `layers.${s.layer}.${s.role}`;
    const target = s.hfName === undefined ? undefined : targets.get(s.hfName);
    if (target && adapter) {
      const a = await adapter.file.read(target.a);
      const b = await adapter.file.read(target.b);
      progress(target.a, a.data.byteLength);
      progress(target.b, b.data.byteLength);
      const [fa, fb] = [toF32(a.data, a.dtype), toF32(b.data, b.dtype)];
      if (separate) deltas.set(canonical, { a: fa, b: fb, r: target.r, scale: target.scale });
      else t = mergeLora(t as Tensor, fa, fb, target.r, target.scale, false);
    }
    const kind = s.layer === undefined
      ? GLOBAL_ROLES[s.role as GlobalRole].kind
      : LAYER_ROLES[s.role as LayerRole].kind;
    let value: M | Tensor;
    if (kind !== "matrix") value = castTensor(t as Tensor, "f32");
    else value = await placeMatrix(t, canonical, options, spec, pool);
    if (s.layer === undefined) global[s.role as GlobalRole] = value;
    else perLayer[s.layer][s.role as LayerRole] = value;
  }
  return {
    dir: path,
    config: model.config,
    spec,
    weights: assembleWeights(global, perLayer),
    lora: options.lora,
    loraDeltas: separate && adapter ? deltas : undefined,
  };
}

/**
 * Put the rows of a Q or K projection (or bias) back from interleaved pairs to rotate-half
 * order: per head, row `j · d/2 + i` of the result is row `2i + j` of the input (the inverse of
 * `permuteRows` in `gguf_export.ts`).
 *
 * @param t the weight `[heads·d, in]` or bias `[heads·d]`
 * @param heads number of heads
 * @returns the reordered tensor
 *
 * @example
 * ```ts
 * import { unpermuteRows } from "./gguf_model.ts";
 * const t = unpermuteRows({ dtype: "f32", shape: [4], data: new Float32Array([0, 2, 1, 3]) }, 1);
 * if (t.data.join() !== "0,1,2,3") throw new Error(t.data.join());
 * ```
 */
export function unpermuteRows<T extends WeightTensor>(t: T, heads: number): T {
  const rows = t.shape[0];
  // Array elements per row: values, or bytes of blocks for a quantized matrix.
  const cols = t.data.length / rows;
  const d = rows / heads;
  const half = d / 2;
  const out = new (t.data.constructor as { new (n: number): Float32Array | Uint16Array | Uint8Array })(t.data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = h * d + 2 * i + j;
        const to = h * d + j * half + i;
        out.set(t.data.subarray(from * cols, (from + 1) * cols), to * cols);
      }
    }
  }
  return { dtype: t.dtype, shape: t.shape, data: out } as T;
}

/** The weights of a spec and where a GGUF file of `arch` keeps them. */
function weightSources(spec: ModelSpec, arch: GgufArchitecture): GgufWeightSource[] {
  const g = GGUF_ARCHITECTURES[arch];
  const row = ARCHITECTURES[spec.architecture];
  const out: GgufWeightSource[] = [];
  const global = (role: GlobalRole) => {
    if (GLOBAL_ROLES[role].present(spec)) {
      out.push({
        role,
        name: g.tensors.global[role]!,
        shape: GLOBAL_ROLES[role].shape(spec),
        hfName: row.hf.global[role],
      });
    }
  };
  global("embed");
  const split = new Set<LayerRole>(["wq", "wk", "wv"]);
  for (let layer = 0; layer < spec.layers; layer++) {
    for (const role of Object.keys(LAYER_ROLES) as LayerRole[]) {
      const info = LAYER_ROLES[role];
      const stored = row.hf.layer[role] !== undefined || (row.fusedQkv && split.has(role));
      const name = g.tensors.layer[role];
      if (role === "wqkv" || !stored || name === undefined || !info.present(spec)) continue;
      out.push({
        role,
        layer,
        name: layerTensorName(name, layer),
        shape: info.shape(spec),
        permutedHeads: g.neoxRope ? undefined : info.ropeHeads?.(spec),
        hfName: row.hf.layer[role] === undefined ? undefined : layerTensorName(row.hf.layer[role]!, layer),
      });
    }
  }
  global("norm");
  global("output");
  return out;
}

/** The metadata of a GGUF file as the `config.json` its exporter read. */
function configFromGguf(file: GgufFile): { arch: GgufArchitecture; config: Record<string, unknown> } {
  const meta = file.metadata;
  const fail = (key: string, why: string) => new InputError(`key "${key}": ${why}`, { file: file.path });
  const name = meta.get("general.architecture");
  if (typeof name !== "string") throw fail("general.architecture", "missing");
  if (!(name in GGUF_ARCHITECTURES)) {
    throw fail(
      "general.architecture",
      `architecture ${JSON.stringify(name)} is not supported (${Object.keys(GGUF_ARCHITECTURES).join(", ")} are)`,
    );
  }
  const arch = name as GgufArchitecture;
  const row = Object.values(ARCHITECTURES).find((r) => r.gguf.architecture === arch)!;
  const keys = row.config;
  const config: Record<string, unknown> = { model_type: row.modelTypes[0] };
  for (const [field, suffix] of Object.entries(GGUF_ARCHITECTURES[arch].hyperParameters)) {
    const configKey = keys[field as keyof typeof keys];
    const v = meta.get(`${arch}.${suffix}`);
    if (configKey === undefined || v === undefined) continue;
    if (typeof v !== "number") throw fail(`${arch}.${suffix}`, `expected a number, got ${JSON.stringify(v)}`);
    config[configKey] = shortestF32(v);
  }
  const embed = file.entry(GGUF_ARCHITECTURES[arch].tensors.global.embed!);
  if (config[keys.vocabSize] === undefined) {
    const tokens = meta.get("tokenizer.ggml.tokens");
    config[keys.vocabSize] = embed?.shape[0] ?? (Array.isArray(tokens) ? tokens.length : undefined);
  }
  // llama.cpp runs Baichuan with ALiBi at its ALiBi depth, where the config has no max_position_embeddings.
  const depths = row.gguf.depths;
  if (depths && config[keys.layers] === depths.alibi && config[keys.maxPositions] !== undefined) {
    config[keys.maxPositionsFallback] = config[keys.maxPositions];
    delete config[keys.maxPositions];
  }
  const scaling = meta.get(`${arch}.rope.scaling.type`);
  if (scaling === "linear") {
    config[keys.ropeScaling] = { type: "linear", factor: meta.get(`${arch}.rope.scaling.factor`) };
  } else if (scaling !== undefined && scaling !== "none") {
    throw fail(`${arch}.rope.scaling.type`, `RoPE scaling ${JSON.stringify(scaling)} is not supported`);
  }
  const tensors = GGUF_ARCHITECTURES[arch].tensors;
  config[keys.tiedEmbeddings] = file.entry(tensors.global.output!) === undefined;
  if (keys.attentionBias && file.entry(layerTensorName(tensors.layer.bq!, 0))) config[keys.attentionBias] = true;
  const bos = meta.get("tokenizer.ggml.bos_token_id");
  const eos = meta.get("tokenizer.ggml.eos_token_id");
  if (typeof bos === "number") config[keys.bosId] = bos;
  if (typeof eos === "number") config[keys.eosId] = eos;
  return { arch, config };
}

/**
 * Llama 3's RoPE scaling as written to GGUF (`rope_freqs.weight`: one divisor per frequency)
 * back into its parameters: the factor is the largest divisor; the rest are the published
 * values tried in turn and kept when they give the same divisors. `undefined` without the tensor.
 */
async function llama3ScalingFromGguf(
  file: GgufFile,
  config: ModelConfig,
  arch: GgufArchitecture,
): Promise<Record<string, number | string> | undefined> {
  const name = GGUF_ARCHITECTURES[arch].tensors.ropeFreqs;
  const e = file.entry(name);
  if (!e) return undefined;
  if (e.typeName !== "f32") throw new InputError(`tensor "${name}" is ${e.typeName}, not f32`, { file: file.path });
  const bytes = await file.read(name);
  const divisors = new Float32Array(bytes.buffer, bytes.byteOffset, e.elements);
  const headDim = divisors.length * 2;
  const theta = Number(config[ARCHITECTURES.llama.config.ropeTheta] ?? 10000);
  const factor = shortestF32(Math.max(...divisors));
  for (const originalMaxPositions of [8192, 4096, 2048, 16384, 32768, 131072]) {
    for (const [lowFreqFactor, highFreqFactor] of [[1, 4], [1, 32], [1, 2], [2, 4]]) {
      const scaling = { type: "llama3" as const, factor, lowFreqFactor, highFreqFactor, originalMaxPositions };
      const plain = ropeInvFreq({ kind: "rope", theta }, headDim);
      const scaled = ropeInvFreq({ kind: "rope", theta, scaling }, headDim);
      if (plain.every((p, i) => Math.fround(p / scaled[i]) === divisors[i])) {
        return {
          rope_type: "llama3",
          factor,
          low_freq_factor: lowFreqFactor,
          high_freq_factor: highFreqFactor,
          original_max_position_embeddings: originalMaxPositions,
        };
      }
    }
  }
  throw new InputError(`tensor "${name}": Llama 3 RoPE scaling whose parameters could not be recovered`, {
    file: file.path,
  });
}

/** The shortest decimal that reads back as the same f32 (`1e-6`, not `9.999999974752427e-7`). */
function shortestF32(x: number): number {
  if (!Number.isFinite(x) || Number.isInteger(x)) return x;
  for (let p = 1; p <= 17; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return x;
}
