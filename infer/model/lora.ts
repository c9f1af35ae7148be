/**
 * PEFT LoRA adapters: `adapter_config.json` + `adapter_model.safetensors`, checked against the
 * base model before any large read, and the merge `W += scale · B · A` (scale = `lora_alpha / r`,
 * or `lora_alpha / √r` with `use_rslora`).
 *
 * @module
 */

import { join } from "node:path";
import { InputError } from "../../io/errors.ts";
import { type DType, fromF32, table16 } from "../formats/dtype.ts";
import { readJsonObject } from "../formats/model_folder.ts";
import { SafetensorsFile } from "../formats/safetensors.ts";
import type { Tensor } from "../formats/tensor.ts";

/** The settings of an adapter that matter for merging. */
export interface AdapterConfig {
  /** Default rank. */
  readonly r: number;
  /** Default alpha. */
  readonly loraAlpha: number;
  /** Modules the adapter targets (names or one regular expression). */
  readonly targetModules: readonly string[] | string;
  /** Whether the base weights are stored transposed (`[in, out]`, GPT-2 Conv1D style). */
  readonly fanInFanOut: boolean;
  /** Rank-stabilized scaling (`alpha / √r`). */
  readonly useRslora: boolean;
  /** Per-module rank overrides (PEFT `rank_pattern`). */
  readonly rankPattern: Readonly<Record<string, number>>;
  /** Per-module alpha overrides (PEFT `alpha_pattern`). */
  readonly alphaPattern: Readonly<Record<string, number>>;
}

/** One adapted base tensor: where its A and B are, and the scale. */
export interface AdapterTarget {
  /** The base tensor it changes, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  readonly base: string;
  /** Name of `lora_A` in the adapter file (`[r, in]`). */
  readonly a: string;
  /** Name of `lora_B` in the adapter file (`[out, r]`). */
  readonly b: string;
  /** Rank. */
  readonly r: number;
  /** `alpha / r` (or `alpha / √r`). */
  readonly scale: number;
}

/**
 * The base model an adapter is checked against, by Hugging Face tensor name: a model folder, or
 * a GGUF file seen under the names its exporter read.
 */
export interface LoraBase {
  /** The model (for messages). */
  readonly dir: string;
  /** Whether it has a tensor. */
  has(name: string): boolean;
  /** A tensor's row-major shape. */
  entry(name: string): { readonly shape: readonly number[] };
  /** The file holding a tensor (for messages). */
  fileOf(name: string): { readonly path: string };
}

/** A low-rank update kept apart from its base weight (for on-the-fly application). */
export interface LoraDelta {
  /** `lora_A` as f32 `[r, in]`. */
  readonly a: Float32Array;
  /** `lora_B` as f32 `[out, r]`. */
  readonly b: Float32Array;
  /** Rank. */
  readonly r: number;
  /** Scale applied to `B · A`. */
  readonly scale: number;
}

/**
 * An open PEFT LoRA adapter folder.
 *
 * @example
 * ```ts
 * import { AdapterFolder } from "./mod.ts";
 * import { ModelFolder } from "../formats/mod.ts";
 * import { writeRandomLora, writeRandomModel } from "../testing/mod.ts";
 * const base = await Deno.makeTempDir();
 * const lora = await Deno.makeTempDir();
 * await writeRandomModel(base, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * await writeRandomLora(lora, base, { r: 2, alpha: 4, targets: ["q_proj", "v_proj"] });
 * using model = await ModelFolder.open(base);
 * using adapter = await AdapterFolder.open(lora);
 * adapter.checkFits(model);
 * if (adapter.targets.length !== 2 || adapter.targets[0].scale !== 2) throw new Error();
 * await Deno.remove(base, { recursive: true });
 * await Deno.remove(lora, { recursive: true });
 * ```
 */
export class AdapterFolder implements Disposable {
  /** The folder. */
  readonly dir: string;
  /** Its settings. */
  readonly config: AdapterConfig;
  /** The adapter's tensors. */
  readonly file: SafetensorsFile;
  /** The base tensors it updates. */
  readonly targets: readonly AdapterTarget[];
  /** Base tensors it replaces whole (PEFT `modules_to_save`, trained biases): base name → adapter name. */
  readonly replacements: ReadonlyMap<string, string>;

  private constructor(
    dir: string,
    config: AdapterConfig,
    file: SafetensorsFile,
    targets: AdapterTarget[],
    replacements: Map<string, string>,
  ) {
    this.dir = dir;
    this.config = config;
    this.file = file;
    this.targets = targets;
    this.replacements = replacements;
  }

  /**
   * Open an adapter folder and pair its `lora_A`/`lora_B` tensors (reads headers only).
   *
   * @param dir the adapter folder
   * @returns the open adapter
   * @throws {InputError} for a missing or unsupported config, or unpaired tensors
   */
  static async open(dir: string): Promise<AdapterFolder> {
    const configPath = join(dir, "adapter_config.json");
    const raw = await readJsonObject(configPath);
    const bad = (field: string, why: string) => new InputError(why, { file: configPath, field });
    const peftType = raw.peft_type ?? "LORA";
    if (peftType !== "LORA") throw bad("peft_type", `peft_type ${JSON.stringify(peftType)} is not LORA`);
    if (raw.use_dora === true) throw bad("use_dora", "DoRA adapters are not supported");
    const r = raw.r;
    if (typeof r !== "number" || !Number.isSafeInteger(r) || r <= 0) {
      throw bad("r", `"r" must be a positive integer, got ${JSON.stringify(r)}`);
    }
    const alpha = raw.lora_alpha ?? 8;
    if (typeof alpha !== "number" || !Number.isFinite(alpha)) {
      throw bad("lora_alpha", `"lora_alpha" must be a number, got ${JSON.stringify(alpha)}`);
    }
    const targetsRaw = raw.target_modules ?? [];
    if (
      !(typeof targetsRaw === "string" || (Array.isArray(targetsRaw) && targetsRaw.every((t) => typeof t === "string")))
    ) {
      throw bad("target_modules", "target_modules must be a list of names or a regular expression");
    }
    const numbers = (field: string): Record<string, number> => {
      const v = raw[field] ?? {};
      if (typeof v !== "object" || v === null) throw bad(field, `${field} must be an object`);
      return v as Record<string, number>;
    };
    const config: AdapterConfig = {
      r,
      loraAlpha: alpha,
      targetModules: targetsRaw as string[] | string,
      fanInFanOut: raw.fan_in_fan_out === true,
      useRslora: raw.use_rslora === true,
      rankPattern: numbers("rank_pattern"),
      alphaPattern: numbers("alpha_pattern"),
    };
    const weights = join(dir, "adapter_model.safetensors");
    try {
      await Deno.stat(weights);
    } catch {
      const hasBin = [...Deno.readDirSync(dir)].some((e) => e.name === "adapter_model.bin");
      throw new InputError(
        `no adapter_model.safetensors${
          hasBin ? " (adapter_model.bin is not read: save with safe_serialization=True)" : ""
        }`,
        { file: dir },
      );
    }
    const file = await SafetensorsFile.open(weights);
    try {
      const { targets, replacements } = pairTensors(file, config);
      return new AdapterFolder(dir, config, file, targets, replacements);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /**
   * Check that the adapter fits a base model: each adapted tensor exists in the base with the
   * shape `B · A` has, and each replaced tensor has the base's shape.
   *
   * @param model the open base model
   * @throws {InputError} naming the adapter tensor and the base tensor that disagree
   */
  checkFits(model: LoraBase): void {
    const baseFile = (name: string) => model.has(name) ? model.fileOf(name).path : model.dir;
    for (const t of this.targets) {
      const a = this.file.entry(t.a);
      const b = this.file.entry(t.b);
      if (!model.has(t.base)) {
        throw new InputError(
          `adapter tensor "${t.a}" (${this.file.path}) targets base tensor "${t.base}", which ${model.dir} lacks ` +
            `(adapter for another architecture or size?)`,
          { file: this.file.path },
        );
      }
      const w = model.entry(t.base).shape;
      const [out, inp] = this.config.fanInFanOut ? [w[1], w[0]] : [w[0], w[1]];
      if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[0] !== b.shape[1]) {
        throw new InputError(
          `adapter tensors "${t.a}" [${a.shape}] and "${t.b}" [${b.shape}] are not a rank-r pair`,
          { file: this.file.path },
        );
      }
      if (w.length !== 2 || a.shape[1] !== inp || b.shape[0] !== out) {
        throw new InputError(
          `adapter tensors "${t.a}" [${a.shape.join(", ")}] · "${t.b}" [${b.shape.join(", ")}] (${this.file.path}) ` +
            `do not fit base tensor "${t.base}" [${w.join(", ")}] (${baseFile(t.base)})`,
          { file: this.file.path },
        );
      }
      if (a.shape[0] !== t.r) {
        throw new InputError(
          `adapter tensor "${t.a}" has rank ${a.shape[0]} but adapter_config.json says r = ${t.r}`,
          { file: this.file.path },
        );
      }
    }
    for (const [base, name] of this.replacements) {
      const e = this.file.entry(name);
      if (!model.has(base)) {
        throw new InputError(`adapter tensor "${name}" replaces base tensor "${base}", which ${model.dir} lacks`, {
          file: this.file.path,
        });
      }
      const w = model.entry(base).shape;
      if (e.shape.join() !== w.join()) {
        throw new InputError(
          `adapter tensor "${name}" [${e.shape.join(", ")}] (${this.file.path}) does not fit base tensor "${base}" ` +
            `[${w.join(", ")}] (${baseFile(base)})`,
          { file: this.file.path },
        );
      }
    }
  }

  /** Close the adapter file. */
  close(): void {
    this.file.close();
  }

  /** Close the adapter file (`using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

const PAIR = /^(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$/;

function pairTensors(
  file: SafetensorsFile,
  config: AdapterConfig,
): { targets: AdapterTarget[]; replacements: Map<string, string> } {
  const halves = new Map<string, { a?: string; b?: string }>();
  const replacements = new Map<string, string>();
  for (const name of file.names) {
    if (/lora_embedding_[AB]/.test(name)) {
      throw new InputError(`tensor "${name}": LoRA on embeddings is not supported`, { file: file.path });
    }
    if (/lora_magnitude_vector/.test(name)) {
      throw new InputError(`tensor "${name}": DoRA adapters are not supported`, { file: file.path });
    }
    const m = PAIR.exec(name);
    if (m) {
      const h = halves.get(m[1]) ?? {};
      if (m[2] === "A") h.a = name;
      else h.b = name;
      halves.set(m[1], h);
    } else {
      replacements.set(name.replace(/^base_model\.model\./, ""), name);
    }
  }
  const targets: AdapterTarget[] = [];
  for (const [module, h] of halves) {
    if (!h.a || !h.b) {
      throw new InputError(`tensor "${h.a ?? h.b}" has no matching lora_${h.a ? "B" : "A"}`, { file: file.path });
    }
    const r = patternValue(config.rankPattern, module) ?? config.r;
    const alpha = patternValue(config.alphaPattern, module) ?? config.loraAlpha;
    const scale = config.useRslora ? alpha / Math.sqrt(r) : alpha / r;
    targets.push({ base: module + ".weight", a: h.a, b: h.b, r, scale });
  }
  if (targets.length === 0 && replacements.size === 0) {
    throw new InputError("the adapter holds no LoRA tensors", { file: file.path });
  }
  return { targets, replacements };
}

/** PEFT's rule: a pattern key applies to a module whose name ends with `.key`. */
function patternValue(patterns: Readonly<Record<string, number>>, module: string): number | undefined {
  for (const [key, value] of Object.entries(patterns)) {
    if (module === key || module.endsWith("." + key)) return value;
  }
  return undefined;
}

/**
 * Merge a low-rank update into a weight: `W + scale · B · A` (transposed when `fanInFanOut`),
 * computed in f32 and rounded once into the weight's format.
 *
 * @param w the base weight `[out, in]`
 * @param a `lora_A` values `[r, in]`
 * @param b `lora_B` values `[out, r]`
 * @param r the rank
 * @param scale the scale
 * @param fanInFanOut whether `w` is stored `[in, out]`
 * @returns the merged weight, in `w`'s format
 *
 * @example
 * ```ts
 * import { mergeLora } from "./lora.ts";
 * // W = I, A = [1 2], B = [1; 0], scale 0.5 → W + 0.5·[[1, 2], [0, 0]]
 * const w = { dtype: "f32" as const, shape: [2, 2], data: new Float32Array([1, 0, 0, 1]) };
 * const m = mergeLora(w, new Float32Array([1, 2]), new Float32Array([1, 0]), 1, 0.5, false);
 * if (m.data.join() !== "1.5,1,0,1") throw new Error(m.data.join());
 * ```
 */
export function mergeLora(
  w: Tensor,
  a: Float32Array,
  b: Float32Array,
  r: number,
  scale: number,
  fanInFanOut: boolean,
): Tensor {
  const [rows, cols] = w.shape;
  const out = fanInFanOut ? cols : rows;
  const inp = fanInFanOut ? rows : cols;
  const merged = new Float32Array(rows * cols);
  const table = w.dtype === "f32" ? undefined : table16(w.dtype);
  for (let i = 0; i < merged.length; i++) merged[i] = table ? table[w.data[i]] : w.data[i];
  const delta = new Float64Array(inp);
  for (let o = 0; o < out; o++) {
    delta.fill(0);
    for (let k = 0; k < r; k++) {
      const bk = b[o * r + k];
      if (bk === 0) continue;
      const row = k * inp;
      for (let i = 0; i < inp; i++) delta[i] += bk * a[row + i];
    }
    if (fanInFanOut) { for (let i = 0; i < inp; i++) merged[i * cols + o] += scale * delta[i]; }
    else for (let i = 0; i < inp; i++) merged[o * cols + i] += scale * delta[i];
  }
  return { dtype: w.dtype, shape: w.shape, data: fromF32(merged, w.dtype as DType) };
}
