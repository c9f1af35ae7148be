/**
 * The run file beside a prediction file (`PRED.json.run.json`): the settings that decide the
 * answers (model, adapter, template, engine family, answer shape, limits, sampling, server), so
 * that continuing a run with other settings is caught instead of mixing answers made two ways
 * in one file. The prediction file itself stays in IEPile's record format.
 *
 * @module
 */

import { AtomicTextWriter } from "../../io/atomic_write.ts";
import { InputError, UsageError } from "../../io/errors.ts";
import type { SamplingOptions } from "../decode/sampling.ts";
import { isGgufFile } from "../formats/gguf_read.ts";

/** Settings by name (the option that sets them); `null`: not used by this run. */
export type RunSettings = Record<string, string | number | boolean | null>;

/**
 * A run file's content: the settings of the records appended by the latest runs and, when the
 * output holds records made otherwise (continued with `--force-resume`, or without a run file),
 * `mixed` and the settings of those earlier records.
 */
export interface RunFile {
  /** The settings of the records the latest runs appended. */
  settings: RunSettings;
  /** The output also holds records made with other (or unknown) settings. */
  mixed?: boolean;
  /** The settings of the earlier records, oldest first; `unknown` where no run file recorded them. */
  earlier?: Array<RunSettings | "unknown">;
}

/** What {@linkcode checkRunSettings} found. */
export interface RunSettingsCheck {
  /**
   * `fresh`: no earlier records; `same`: every earlier record was made with these settings;
   * `unrecorded`: the output has records but no run file, and `force` continued it; `forced`:
   * the settings differ, or the output already mixes settings, and `force` continued it.
   */
  status: "fresh" | "same" | "unrecorded" | "forced";
  /** The differing settings, as `name: old → new` (for `forced`). */
  differences: string[];
  /**
   * Differences that do not change the answers, as `name: old → new`: a model, adapter or GGUF
   * path that changed while its files stayed the same.
   */
  notes: string[];
  /** Whether the output already mixes records of different (or unknown) settings. */
  mixed: boolean;
  /**
   * What to write as the run file once this run appends its first record (never before: a run
   * that appends nothing must not change what the run file says); undefined: leave it as it is.
   */
  runFile?: RunFile;
}

/** Settings that only say where the files were: their fingerprints decide. */
const PATH_SETTINGS = new Set(["model", "lora", "gguf"]);

/**
 * The run file of an output file.
 *
 * @param output the prediction file
 * @returns its run file's path
 *
 * @example
 * ```ts
 * import { runFilePath } from "./run_settings.ts";
 * if (runFilePath("out/NER_pred.json") !== "out/NER_pred.json.run.json") throw new Error();
 * ```
 */
export function runFilePath(output: string): string {
  return `${output}.run.json`;
}

/**
 * The settings that differ between two runs, one line each, in `b`'s order (then `a`'s).
 *
 * @param a the earlier run's settings
 * @param b this run's settings
 * @returns `name: old → new` for each difference (`unset` for a missing value)
 *
 * @example
 * ```ts
 * import { settingsDifferences } from "./run_settings.ts";
 * const d = settingsDifferences({ template: "llama2", lora: null }, { template: "alpaca", lora: "a" });
 * if (d.join("; ") !== "template: llama2 → alpaca; lora: unset → a") throw new Error(d.join("; "));
 * ```
 */
export function settingsDifferences(a: RunSettings, b: RunSettings): string[] {
  const show = (v: RunSettings[string] | undefined) => v === null || v === undefined ? "unset" : String(v);
  const out: string[] = [];
  for (const key of new Set([...Object.keys(b), ...Object.keys(a)])) {
    if ((a[key] ?? null) !== (b[key] ?? null)) out.push(`${key}: ${show(a[key])} → ${show(b[key])}`);
  }
  return out;
}

/**
 * Compare this run's settings with those recorded beside an existing output file, before any
 * record is predicted. A resume goes on without `force` only when every record of the output
 * is known to be made with these settings; a model, adapter or GGUF that moved with the same
 * files is a note, not a difference.
 *
 * @param output the prediction file
 * @param settings this run's settings
 * @param options `force`: continue although the settings differ, are unknown (no run file) or
 * already mixed; `ignore`: settings not known yet (left out of the comparison)
 * @returns what was found, and the run file to write once a record is appended
 * @throws {UsageError} naming every differing setting (old → new) when the output holds records
 * made with other settings, or saying why, when they are unknown or mixed, and `force` is not set
 * @throws {InputError} for a run file that cannot be read
 *
 * @example
 * ```ts
 * import { checkRunSettings, writeRunFile } from "./run_settings.ts";
 * const dir = await Deno.makeTempDir();
 * const out = `${dir}/pred.json`;
 * await Deno.writeTextFile(out, '{"id": "1", "instruction": "x", "output": "{}"}\n');
 * await writeRunFile(out, { settings: { template: "llama2" } });
 * if ((await checkRunSettings(out, { template: "llama2" })).status !== "same") throw new Error();
 * const refused = await checkRunSettings(out, { template: "alpaca" }).then(() => "", (e) => e.message);
 * if (!refused.includes("template: llama2 → alpaca")) throw new Error(refused);
 * const forced = await checkRunSettings(out, { template: "alpaca" }, { force: true });
 * if (!forced.runFile?.mixed || forced.runFile.earlier?.[0] === "unknown") throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function checkRunSettings(
  output: string,
  settings: RunSettings,
  options: { force?: boolean; ignore?: readonly string[] } = {},
): Promise<RunSettingsCheck> {
  const size = (await Deno.stat(output).catch(() => undefined))?.size ?? 0;
  if (size === 0) return { status: "fresh", differences: [], notes: [], mixed: false, runFile: { settings } };
  const path = runFilePath(output);
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new InputError(`cannot read: ${(e as Error).message}`, { file: path });
    }
  }
  if (text === undefined) {
    if (!options.force) {
      throw new UsageError(
        `infer: ${output} holds records but has no run file (${path}: written by an older iepile, or deleted), ` +
          "so the settings they were made with are unknown; continuing could mix answers: use another --output, " +
          "or --force-resume to continue anyway (the run file then marks the output as mixed)",
      );
    }
    return {
      status: "unrecorded",
      differences: [],
      notes: [],
      mixed: true,
      runFile: { settings, mixed: true, earlier: ["unknown"] },
    };
  }
  const recorded = parseRunFile(text, path);
  const known = (s: RunSettings) =>
    Object.fromEntries(Object.entries(s).filter(([key]) => !(options.ignore ?? []).includes(key)));
  const all = settingsDifferences(known(recorded.settings), known(settings));
  const moved = all.filter((d) => PATH_SETTINGS.has(d.slice(0, d.indexOf(":"))));
  const differences = all.length > moved.length ? all : [];
  const notes = differences.length === 0 ? moved : [];
  const mixed = recorded.mixed === true;
  if (!options.force && differences.length > 0) {
    // Quantized weights met f32 activations by default before they met 8-bit ones.
    const f32 = differences.includes("activations: unset → int8") ? " (--activations f32 gives the former)" : "";
    throw new UsageError(
      `infer: ${output} holds answers made with other settings (${differences.join("; ")})${f32}; ` +
        "continuing would mix them: use another --output, or --force-resume to continue anyway",
    );
  }
  if (!options.force && mixed) {
    throw new UsageError(
      `infer: ${output} already mixes answers made with different settings (continued with --force-resume ` +
        `or without a run file; see "earlier" in ${path}); continuing would add to the mix: use another ` +
        "--output, or --force-resume to continue anyway",
    );
  }
  if (differences.length > 0) {
    const earlier = [...(recorded.earlier ?? []), recorded.settings];
    return { status: "forced", differences, notes, mixed, runFile: { settings, mixed: true, earlier } };
  }
  const runFile = notes.length > 0 ? { ...recorded, settings } : undefined;
  return { status: mixed ? "forced" : "same", differences, notes, mixed, runFile };
}

function parseRunFile(text: string, path: string): RunFile {
  try {
    const parsed = JSON.parse(text);
    const settings = parsed?.settings;
    if (!settings || typeof settings !== "object" || Array.isArray(settings)) throw new Error();
    const earlier = Array.isArray(parsed.earlier) ? parsed.earlier : undefined;
    return { settings, ...(parsed.mixed === true ? { mixed: true, earlier: earlier ?? ["unknown"] } : {}) };
  } catch {
    throw new InputError("not a run file of iepile infer (delete it to continue without the check)", { file: path });
  }
}

/**
 * Write the run file beside an output file (atomically).
 *
 * @param output the prediction file
 * @param file the settings of its records (and, for a mixed output, of its earlier records)
 * @returns once written
 * @throws {InputError} when the file cannot be written
 *
 * @example
 * ```ts
 * import { runFilePath, writeRunFile } from "./run_settings.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRunFile(`${dir}/pred.json`, { settings: { "max-new-tokens": 300 } });
 * if (JSON.parse(await Deno.readTextFile(runFilePath(`${dir}/pred.json`))).settings["max-new-tokens"] !== 300) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeRunFile(output: string, file: RunFile): Promise<void> {
  const writer = await AtomicTextWriter.open(runFilePath(output));
  try {
    const note = file.mixed
      ? `mixed: the records of ${basename(output)} were made with different settings; "settings" are those ` +
        'of the records the latest runs appended, "earlier" those of the records before them, oldest first ' +
        "(unknown: no run file recorded them). A run continuing the file needs --force-resume"
      : `the settings of 'iepile infer' that made the answers in ${basename(output)}; ` +
        "a run continuing that file with other settings is refused";
    const content = file.mixed ? { note, settings: file.settings, mixed: true, earlier: file.earlier ?? [] } : {
      note,
      settings: file.settings,
    };
    await writer.write(JSON.stringify(content, null, 2) + "\n");
    await writer.commit();
  } catch (e) {
    await writer.abort();
    throw e;
  }
}

/** Files up to this size are hashed whole (configs, tokenizers, LoRA adapters of usual ranks). */
const HASHED_WHOLE = 64 << 20;
/** Of a bigger file (base weights), its first and last this many bytes are hashed. */
const HASHED_ENDS = 1 << 20;

/**
 * What identifies the files of a folder (or one file) wherever they lie: their names relative
 * to the folder, their sizes and a SHA-256 of their contents, over the files whose names pass
 * `keep`. Files up to 64 MiB are hashed whole; of bigger ones (base weights, where reading
 * gigabytes on every run would cost more than the check is worth) the first and last MiB,
 * which hold a safetensors or GGUF file's header. Change times and the folder's own path do not
 * count: a copied, moved or downloaded-again model is the same model.
 *
 * @param path the folder, or one file (its name then does not count)
 * @param keep which file names of a folder count
 * @returns e.g. `3 files, 1234567 bytes, sha-256 0123456789abcdef`
 * @throws {InputError} when the folder or a file cannot be read
 *
 * @example
 * ```ts
 * import { filesFingerprint } from "./run_settings.ts";
 * const a = await Deno.makeTempDir(), b = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${a}/config.json`, "{}");
 * await Deno.writeTextFile(`${b}/config.json`, "{}");
 * const json = (n: string) => n.endsWith(".json");
 * const fa = await filesFingerprint(a, json);
 * if (!/^1 files, 2 bytes, sha-256 [0-9a-f]{16}$/.test(fa) || fa !== await filesFingerprint(b, json)) throw new Error(fa);
 * await Deno.writeTextFile(`${b}/config.json`, "[]");
 * if (fa === await filesFingerprint(b, json)) throw new Error("same size, other content");
 * await Deno.remove(a, { recursive: true });
 * await Deno.remove(b, { recursive: true });
 * ```
 */
export async function filesFingerprint(path: string, keep: (name: string) => boolean): Promise<string> {
  let count = 0, bytes = 0;
  const parts: string[] = [];
  try {
    const info = await Deno.stat(path);
    const names = info.isDirectory
      ? (await Array.fromAsync(Deno.readDir(path))).filter((e) => keep(e.name)).map((e) => e.name).sort()
      : [""];
    for (const name of names) {
      const file = name === "" ? path : `${path}/${name}`;
      const s = await Deno.stat(file);
      if (!s.isFile) continue;
      count++;
      bytes += s.size;
      parts.push(`${name}\t${s.size}\t${await contentHash(file, s.size)}`);
    }
  } catch (e) {
    throw new InputError(`cannot read: ${(e as Error).message}`, { file: path });
  }
  return `${count} files, ${bytes} bytes, sha-256 ${
    (await sha256(new TextEncoder().encode(parts.join("\n")))).slice(0, 16)
  }`;
}

/** SHA-256 of a file's content: all of it, or of a big file its first and last {@linkcode HASHED_ENDS} bytes. */
async function contentHash(path: string, size: number): Promise<string> {
  if (size <= HASHED_WHOLE) return await sha256(await Deno.readFile(path));
  using file = await Deno.open(path);
  const ends = new Uint8Array(2 * HASHED_ENDS);
  for (const [at, offset] of [[0, 0], [HASHED_ENDS, size - HASHED_ENDS]]) {
    await file.seek(offset, Deno.SeekMode.Start);
    for (let got = 0; got < HASHED_ENDS;) {
      const n = await file.read(ends.subarray(at + got, at + HASHED_ENDS));
      if (n === null) throw new Error("the file shrank while read");
      got += n;
    }
  }
  return await sha256(ends);
}

async function sha256(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The family of an engine whose answers agree: `cpu` and `webgpu` compute the same model
 * (`local`); every other engine is its own family.
 *
 * @param engine the engine's name
 * @returns its family
 *
 * @example
 * ```ts
 * import { engineFamily } from "./run_settings.ts";
 * if (engineFamily("webgpu") !== "local" || engineFamily("llamacpp") !== "llamacpp") throw new Error();
 * ```
 */
export function engineFamily(engine: string): string {
  return engine === "cpu" || engine === "webgpu" ? "local" : engine;
}

/** Files of a model folder or adapter whose change changes the answers. */
const MODEL_FILES = (name: string) =>
  name === "config.json" || name.endsWith(".safetensors") || name.startsWith("tokenizer") ||
  name.startsWith("adapter_") || name.endsWith(".bin");

/** What a run of `iepile infer` was asked for: the inputs of {@linkcode answerSettings}. */
export interface RunChoices {
  /** The engine as given (`auto`, `cpu`, `webgpu`, `llamacpp`, `openai`). */
  engine: string;
  /** Its family ({@linkcode engineFamily}), or `null` while `auto` has not chosen yet. */
  family: string | null;
  /** `--model`, `--lora`, `--gguf`: paths as given. */
  model?: string;
  /** The LoRA adapter folder. */
  lora?: string;
  /** `--quantize` (or IEPile's `--bits`): the preset the weights are quantized with at load. */
  quantize?: string;
  /** `--kv-cache` (cpu, webgpu). */
  kvCache?: "f32" | "f16";
  /**
   * `--activations`: quantized weights meet 8-bit activations (`int8`; llama.cpp's always do) or
   * f32 ones; when not given, the engine's default ({@linkcode recordedActivations}).
   */
  activations?: "int8" | "f32";
  /** The engine that runs (`cpu`, `webgpu`, `llamacpp`, `openai`), once `auto` has chosen it. */
  chosen?: string;
  /** The GGUF file (llama.cpp). */
  gguf?: string;
  /** The template's name. */
  template?: string;
  /** Whether the model's tokenizer is loaded (openai: prompts then go as token ids, cut to cutoff-len). */
  hasTokenizer: boolean;
  /** `--max-new-tokens`. */
  maxNewTokens: number;
  /** `--cutoff-len`. */
  cutoffLen: number;
  /** `--truncate`. */
  truncate: string;
  /** Whether answers are constrained to the schema's shape. */
  constrain: boolean;
  /** `--extractive`. */
  extractive: boolean;
  /** `--pair-keys` (default subject, object). */
  pairKeys?: readonly [string, string];
  /** Sampling options (absent: greedy). */
  sampling?: SamplingOptions;
  /** `--seed`. */
  seed?: number;
  /** `--base-url` (openai). */
  baseUrl?: string;
  /** `--model-name` (openai). */
  modelName?: string;
  /** `--api` (openai). */
  api?: string;
  /**
   * The fingerprint of a model, adapter or GGUF path (default {@linkcode filesFingerprint} over
   * the model files): a caller that builds settings more than once passes a cached one, so that
   * the files are read once.
   */
  filesOf?: (path: string) => Promise<string>;
}

/**
 * A fingerprinting function for {@linkcode RunChoices.filesOf} that reads each path's files once,
 * however often the settings are built.
 *
 * @returns the cached fingerprint of a model, adapter or GGUF path
 *
 * @example
 * ```ts
 * import { cachedFingerprints } from "./run_settings.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/config.json`, "{}");
 * const filesOf = cachedFingerprints();
 * if (filesOf(dir) !== filesOf(dir) || !(await filesOf(dir))) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function cachedFingerprints(): (path: string) => Promise<string> {
  const seen = new Map<string, Promise<string>>();
  return (path) => {
    let f = seen.get(path);
    if (f === undefined) seen.set(path, f = filesFingerprint(path, MODEL_FILES));
    return f;
  };
}

/**
 * The activations a run records: `int8` where quantized weights meet 8-bit activations because
 * `--activations int8` asked for them, or by default on the cpu engine (its default for block
 * weights: quantized as they load, or a GGUF model); else `null` (f32 activations, or weights
 * they do not touch). Runs made before the cpu engine's default recorded `int8` only when asked:
 * their quantized weights met f32 activations, which `--activations f32` continues. While `auto`
 * has not chosen the engine the default is not known: `null`, and the check leaves it out.
 *
 * @param c the run's engine (as given and as chosen), activations, weights
 * @returns `int8` or `null`
 *
 * @example
 * ```ts
 * import { recordedActivations } from "./run_settings.ts";
 * const base = { engine: "cpu", family: "local", hasTokenizer: true, maxNewTokens: 9, cutoffLen: 9, truncate: "input", constrain: true, extractive: false };
 * if (await recordedActivations({ ...base, quantize: "q4_k_m" }) !== "int8") throw new Error();
 * if (await recordedActivations({ ...base, quantize: "q4_k_m", activations: "f32" }) !== null) throw new Error();
 * if (await recordedActivations({ ...base, engine: "webgpu", quantize: "q4_k_m" }) !== null) throw new Error();
 * if (await recordedActivations({ ...base }) !== null) throw new Error(); // f32, bf16 or f16 weights
 * ```
 */
export async function recordedActivations(c: RunChoices): Promise<"int8" | null> {
  if (c.activations !== undefined) return c.activations === "int8" ? "int8" : null;
  if ((c.chosen ?? c.engine) !== "cpu") return null;
  return c.quantize !== undefined || (c.model !== undefined && await isGgufFile(c.model)) ? "int8" : null;
}

/**
 * The settings that decide a run's answers, each under the option that sets it (`null` where
 * this run does not use it). Greedy decoding ignores top-p, top-k and the seed, so they are
 * recorded only when sampling.
 *
 * @param c what the run was asked for
 * @returns the settings to record beside the output and compare on resume
 * @throws {InputError} when a model, adapter or GGUF path cannot be read
 *
 * @example
 * ```ts
 * import { answerSettings } from "./run_settings.ts";
 * const s = await answerSettings({
 *   engine: "openai", family: "openai", template: "llama2", hasTokenizer: false, maxNewTokens: 300,
 *   cutoffLen: 512, truncate: "input", constrain: true, extractive: false, baseUrl: "http://x/v1",
 * });
 * if (s["cutoff-len"] !== null || s.api !== "completions" || s["max-new-tokens"] !== 300) throw new Error();
 * ```
 */
export async function answerSettings(c: RunChoices): Promise<RunSettings> {
  const real = async (path: string | undefined) =>
    path !== undefined ? await Deno.realPath(path).catch(() => path) : null;
  const filesOf = c.filesOf ?? ((path: string) => filesFingerprint(path, MODEL_FILES));
  const files = async (path: string | undefined) => path !== undefined ? await filesOf(path) : null;
  const openai = c.family === "openai" || c.engine === "openai";
  const local = c.family === "local" || c.engine === "cpu" || c.engine === "webgpu";
  const cuts = !openai || c.hasTokenizer;
  return {
    engine: c.family,
    model: await real(c.model),
    "model files": await files(c.model),
    lora: await real(c.lora),
    "lora files": await files(c.lora),
    // A --gguf file runs as it is; the server holds its own weights.
    quantize: openai || c.gguf !== undefined ? null : c.quantize ?? null,
    // Recorded only when not the default, so that earlier run files still match.
    "kv-cache": !openai && c.kvCache === "f16" ? "f16" : null,
    activations: openai ? null : await recordedActivations(c),
    gguf: local || openai ? null : await real(c.gguf), // only llama.cpp runs it
    "gguf file": local || openai ? null : await files(c.gguf),
    template: c.template ?? null,
    constrain: c.constrain,
    extractive: c.extractive,
    "pair-keys": (c.pairKeys ?? ["subject", "object"]).join(","),
    "max-new-tokens": c.maxNewTokens,
    "cutoff-len": cuts ? c.cutoffLen : null,
    truncate: cuts ? c.truncate : null,
    temperature: c.sampling?.temperature ?? 0,
    "top-p": c.sampling?.topP ?? null,
    "top-k": c.sampling?.topK ?? null,
    seed: c.sampling ? c.seed ?? 0 : null,
    "base-url": openai ? c.baseUrl ?? "" : null,
    "model-name": openai ? c.modelName ?? "(the first of GET /models)" : null,
    api: openai ? c.api ?? (c.template ? "completions" : "chat") : null,
  };
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
