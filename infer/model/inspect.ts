/**
 * `inspect`: what a model folder (and an adapter) holds, without loading the weights:
 * architecture, sizes, parameter count, dtypes, memory needed, and whether the adapter fits.
 *
 * @module
 */

import { InputError } from "../../io/errors.ts";
import { AdapterFolder, type LoraBase } from "./lora.ts";
import { ModelFolder } from "../formats/model_folder.ts";
import { isGgufFile } from "../formats/gguf_read.ts";
import { GgufModelFile } from "./gguf_model.ts";
import { type ModelSpec, parameterCount } from "./model_spec.ts";
import { type FormatMemory, kvBytesPerToken, weightMemory } from "./memory_plan.ts";
import type { QuantPreset } from "../formats/quant_preset.ts";

/** What {@linkcode inspectModel} reports. */
export interface ModelReport {
  /** The model folder. */
  readonly model: string;
  /** The family. */
  readonly architecture: string;
  /** `config.json`'s `model_type`. */
  readonly modelType: string;
  /** The spec. */
  readonly spec: ModelSpec;
  /** Parameters the engine uses. */
  readonly parameters: number;
  /** Tensors per stored dtype (all tensors in the files). */
  readonly dtypes: Readonly<Record<string, number>>;
  /** Bytes of the safetensors files. */
  readonly fileBytes: number;
  /** Bytes of the weights the engine holds (as stored). */
  readonly weightBytes: number;
  /** Bytes of KV cache per token (f32 keys and values). */
  readonly kvBytesPerToken: number;
  /** The context the memory figures are for. */
  readonly contextSize: number;
  /** Weight bytes in f16 and in each quantization preset. */
  readonly formats: readonly FormatMemory[];
  /** The preset `--quantize` asks for, when given. */
  readonly quantize?: QuantPreset;
  /** Shards (1 for a GGUF file). */
  readonly shards: number;
  /** For a GGUF file: its version, llama.cpp architecture, and tensors and bytes per ggml type. */
  readonly gguf?: {
    readonly version: number;
    readonly architecture: string;
    readonly types: Readonly<Record<string, { readonly tensors: number; readonly bytes: number }>>;
  };
  /** The adapter, when one was given. */
  readonly adapter?: {
    readonly dir: string;
    readonly r: number;
    readonly alpha: number;
    readonly useRslora: boolean;
    readonly targets: number;
    readonly modules: readonly string[];
    readonly replaced: number;
    readonly parameters: number;
    /** `undefined` when it fits, else why not. */
    readonly misfit?: string;
  };
}

/**
 * Inspect a model folder and an optional adapter (headers only).
 *
 * @param modelDir the model folder
 * @param loraDir an adapter folder
 * @param options the context size of the memory figures (default: the model's, at most 4096) and
 * the `--quantize` preset to mark
 * @returns the report
 * @throws {InputError} for a bad model folder or adapter files
 *
 * @example
 * ```ts
 * import { inspectModel } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const r = await inspectModel(dir);
 * if (r.parameters !== 2 * 128 + 4 * 64 + 3 * 128 + 16 + 8) throw new Error(String(r.parameters));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function inspectModel(
  modelDir: string,
  loraDir?: string,
  options: { readonly contextSize?: number; readonly quantize?: QuantPreset } = {},
): Promise<ModelReport> {
  if (await isGgufFile(modelDir)) return await inspectGguf(modelDir, loraDir, options);
  using folder = await ModelFolder.open(modelDir);
  const spec = folder.spec;
  const dtypes: Record<string, number> = {};
  let fileBytes = 0;
  for (const f of folder.files) {
    fileBytes += f.size;
    for (const e of f.header.tensors.values()) dtypes[e.dtype] = (dtypes[e.dtype] ?? 0) + 1;
  }
  const used = new Set<string>();
  let weightBytes = 0;
  for (const f of folder.files) {
    for (const e of f.header.tensors.values()) {
      if (!used.has(e.name)) weightBytes += e.end - e.begin;
      used.add(e.name);
    }
  }
  const adapter = loraDir === undefined ? undefined : await adapterReport(loraDir, folder);
  return {
    model: modelDir,
    architecture: spec.architecture,
    modelType: String(folder.config.model_type ?? ""),
    spec,
    parameters: parameterCount(spec),
    dtypes,
    fileBytes,
    weightBytes,
    ...memoryReport(spec, options),
    shards: folder.files.length,
    adapter,
  };
}

/** The report of a GGUF file: its header only (quantized tensors included). */
async function inspectGguf(
  path: string,
  loraDir: string | undefined,
  options: { readonly contextSize?: number; readonly quantize?: QuantPreset },
): Promise<ModelReport> {
  using model = await GgufModelFile.open(path);
  const spec = model.spec;
  const types: Record<string, { tensors: number; bytes: number }> = {};
  const dtypes: Record<string, number> = {};
  let weightBytes = 0;
  for (const t of model.file.tensors) {
    const entry = types[t.typeName] ??= { tensors: 0, bytes: 0 };
    entry.tensors++;
    entry.bytes += t.bytes;
    dtypes[t.typeName] = (dtypes[t.typeName] ?? 0) + 1;
  }
  for (const s of model.sources) weightBytes += model.file.entry(s.name)!.bytes;
  return {
    model: path,
    architecture: spec.architecture,
    modelType: String(model.config.model_type ?? ""),
    spec,
    parameters: parameterCount(spec),
    dtypes,
    fileBytes: model.file.size,
    weightBytes,
    ...memoryReport(spec, options),
    shards: 1,
    gguf: { version: model.file.version, architecture: model.ggufArchitecture, types },
    adapter: loraDir === undefined ? undefined : await adapterReport(loraDir, model.loraBase()),
  };
}

/** The memory fields of a report: KV cache per token, the context they are for, each format's weights. */
function memoryReport(
  spec: ModelSpec,
  options: { readonly contextSize?: number; readonly quantize?: QuantPreset },
): Pick<ModelReport, "kvBytesPerToken" | "contextSize" | "formats" | "quantize"> {
  return {
    kvBytesPerToken: kvBytesPerToken(spec),
    contextSize: options.contextSize ?? Math.min(spec.maxPositions, 4096),
    formats: weightMemory(spec),
    quantize: options.quantize,
  };
}

/** What an adapter holds and whether it fits the base. */
async function adapterReport(loraDir: string, base: LoraBase): Promise<ModelReport["adapter"]> {
  using a = await AdapterFolder.open(loraDir);
  let misfit: string | undefined;
  try {
    a.checkFits(base);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    misfit = e.message;
  }
  let params = 0;
  for (const name of a.file.names) params += a.file.entry(name).shape.reduce((x, y) => x * y, 1);
  const modules = [...new Set(a.targets.map((t) => t.base.replace(/\.weight$/, "").split(".").pop()!))].sort();
  return {
    dir: loraDir,
    r: a.config.r,
    alpha: a.config.loraAlpha,
    useRslora: a.config.useRslora,
    targets: a.targets.length,
    modules,
    replaced: a.replacements.size,
    parameters: params,
    misfit,
  };
}

/**
 * Bytes as the report writes them: GB with two decimals from 1 GB, else MB with one.
 *
 * @param bytes the size
 * @returns the text
 *
 * @example
 * ```ts
 * import { reportSize } from "./inspect.ts";
 * if (reportSize(7.87e9) !== "7.87 GB" || reportSize(2.5e6) !== "2.5 MB") throw new Error();
 * ```
 */
export function reportSize(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/**
 * The report as text.
 *
 * @param r the report
 * @returns readable lines
 *
 * @example
 * ```ts
 * import { formatModelReport, inspectModel } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "qwen2", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * if (!formatModelReport(await inspectModel(dir)).includes("architecture   qwen2")) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function formatModelReport(r: ModelReport): string {
  const s = r.spec;
  const n = (x: number) => x.toLocaleString("en-US");
  const size = reportSize;
  const pos = s.position.kind === "alibi"
    ? "ALiBi"
    : `RoPE θ=${s.position.theta}${
      s.position.scaling ? ` (${s.position.scaling.type} ×${s.position.scaling.factor})` : ""
    }`;
  const ctx = r.contextSize;
  const lines = [
    `model          ${r.model}`,
    `architecture   ${r.architecture} (model_type ${r.modelType})`,
    `parameters     ${n(r.parameters)} (${(r.parameters / 1e9).toFixed(2)} B)`,
    `layers         ${s.layers}, hidden ${s.hidden}, MLP ${s.intermediate}, vocabulary ${n(s.vocabSize)}`,
    `attention      ${s.heads} heads × ${s.headDim}, ${s.kvHeads} key/value heads${
      s.kvHeads < s.heads ? " (grouped-query)" : ""
    }${s.qkvBias ? ", q/k/v bias" : ""}`,
    `positions      ${pos}, up to ${n(s.maxPositions)} tokens`,
    `output         ${s.tiedEmbeddings ? "tied to the embedding" : "own matrix"}${s.normHead ? ", NormHead" : ""}`,
    `dtypes         ${Object.entries(r.dtypes).map(([d, c]) => `${d} × ${c}`).join(", ")}`,
    r.gguf
      ? `files          GGUF v${r.gguf.version} (llama.cpp architecture ${r.gguf.architecture}), ${size(r.fileBytes)}`
      : `files          ${r.shards} safetensors file${r.shards === 1 ? "" : "s"}, ${size(r.fileBytes)}`,
    ...(r.gguf
      ? [
        `tensor types   ${
          Object.entries(r.gguf.types).map(([t, e]) => `${t} × ${e.tensors} (${n(e.bytes)} bytes)`).join(", ")
        }`,
      ]
      : []),
    `memory         weights ${size(r.weightBytes)} + KV cache ${size(r.kvBytesPerToken * ctx)} at ${n(ctx)} tokens ` +
    `(${n(r.kvBytesPerToken)} bytes/token) = ${size(r.weightBytes + r.kvBytesPerToken * ctx)}${
      r.quantize ? " (as stored)" : ""
    }`,
    `formats        weights + KV cache at ${n(ctx)} tokens (f32; llama.cpp's f16 cache is half) = total:`,
    ...r.formats.map((f) =>
      `  ${(f.format + (f.format === r.quantize ? " ←" : "")).padEnd(12)} ${size(f.weightBytes).padStart(9)} ` +
      `(${f.bitsPerWeight.toFixed(2)} bits/weight) + ${size(r.kvBytesPerToken * ctx)} = ${
        size(f.weightBytes + r.kvBytesPerToken * ctx)
      }`
    ),
  ];
  if (r.adapter) {
    const a = r.adapter;
    lines.push(
      `adapter        ${a.dir}: LoRA r=${a.r}, alpha=${a.alpha}${
        a.useRslora ? " (rsLoRA)" : ""
      }, ${a.targets} tensors ` +
        `(${a.modules.join(", ")})${a.replaced ? `, ${a.replaced} replaced` : ""}, ${n(a.parameters)} parameters`,
      `adapter fit    ${a.misfit === undefined ? "yes: every update matches its base tensor" : `NO: ${a.misfit}`}`,
    );
  }
  return lines.join("\n") + "\n";
}
