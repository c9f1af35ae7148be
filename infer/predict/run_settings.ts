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
import type { SamplingOptions } from "../sampling.ts";

/** Settings by name (the option that sets them); `null`: not used by this run. */
export type RunSettings = Record<string, string | number | boolean | null>;

/** What {@linkcode checkRunSettings} found. */
export interface RunSettingsCheck {
  /**
   * `fresh`: no earlier records; `same`: the earlier run's settings are these; `unrecorded`: the
   * output was written without a run file (an older iepile), so nothing could be compared;
   * `forced`: the settings differ and `force` continued anyway.
   */
  status: "fresh" | "same" | "unrecorded" | "forced";
  /** The differing settings, as `name: old → new` (for `forced`). */
  differences: string[];
}

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
 * record is predicted.
 *
 * @param output the prediction file
 * @param settings this run's settings
 * @param options `force`: continue although the settings differ; `ignore`: settings not known
 * yet (left out of the comparison)
 * @returns whether the output is new, continued with the same settings, unrecorded, or forced
 * @throws {UsageError} naming every differing setting (old → new) when the output holds records
 * made with other settings and `force` is not set
 * @throws {InputError} for a run file that cannot be read
 *
 * @example
 * ```ts
 * import { checkRunSettings, writeRunSettings } from "./run_settings.ts";
 * const dir = await Deno.makeTempDir();
 * const out = `${dir}/pred.json`;
 * await Deno.writeTextFile(out, '{"id": "1", "instruction": "x", "output": "{}"}\n');
 * await writeRunSettings(out, { template: "llama2" });
 * if ((await checkRunSettings(out, { template: "llama2" })).status !== "same") throw new Error();
 * const refused = await checkRunSettings(out, { template: "alpaca" }).then(() => "", (e) => e.message);
 * if (!refused.includes("template: llama2 → alpaca")) throw new Error(refused);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function checkRunSettings(
  output: string,
  settings: RunSettings,
  options: { force?: boolean; ignore?: readonly string[] } = {},
): Promise<RunSettingsCheck> {
  const size = (await Deno.stat(output).catch(() => undefined))?.size ?? 0;
  if (size === 0) return { status: "fresh", differences: [] };
  const path = runFilePath(output);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { status: "unrecorded", differences: [] };
    throw new InputError(`cannot read: ${(e as Error).message}`, { file: path });
  }
  let recorded: RunSettings;
  try {
    const parsed = JSON.parse(text);
    recorded = parsed?.settings;
    if (!recorded || typeof recorded !== "object" || Array.isArray(recorded)) throw new Error();
  } catch {
    throw new InputError("not a run file of iepile infer (delete it to continue without the check)", { file: path });
  }
  const known = (s: RunSettings) =>
    Object.fromEntries(Object.entries(s).filter(([key]) => !(options.ignore ?? []).includes(key)));
  const differences = settingsDifferences(known(recorded), known(settings));
  if (differences.length === 0) return { status: "same", differences };
  if (options.force) return { status: "forced", differences };
  throw new UsageError(
    `infer: ${output} holds answers made with other settings (${differences.join("; ")}); ` +
      "continuing would mix them: use another --output, or --force-resume to continue anyway",
  );
}

/**
 * Record a run's settings beside its output file (atomically).
 *
 * @param output the prediction file
 * @param settings the run's settings
 * @returns once written
 * @throws {InputError} when the file cannot be written
 *
 * @example
 * ```ts
 * import { runFilePath, writeRunSettings } from "./run_settings.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRunSettings(`${dir}/pred.json`, { "max-new-tokens": 300 });
 * if (JSON.parse(await Deno.readTextFile(runFilePath(`${dir}/pred.json`))).settings["max-new-tokens"] !== 300) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeRunSettings(output: string, settings: RunSettings): Promise<void> {
  const writer = await AtomicTextWriter.open(runFilePath(output));
  try {
    const note = `the settings of 'iepile infer' that made the answers in ${basename(output)}; ` +
      "a run continuing that file with other settings is refused";
    await writer.write(JSON.stringify({ note, settings }, null, 2) + "\n");
    await writer.commit();
  } catch (e) {
    await writer.abort();
    throw e;
  }
}

/**
 * What identifies the files of a folder cheaply: how many there are, their total size and the
 * newest change time, over the files whose names pass `keep` (not their contents: reading
 * gigabytes of weights on every run would cost more than the check is worth).
 *
 * @param dir the folder
 * @param keep which file names count
 * @returns e.g. `3 files, 1234567 bytes, newest 2026-01-02T03:04:05.000Z`
 * @throws {InputError} when the folder cannot be read
 *
 * @example
 * ```ts
 * import { filesFingerprint } from "./run_settings.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/config.json`, "{}");
 * if (!(await filesFingerprint(dir, (n) => n.endsWith(".json"))).startsWith("1 files, 2 bytes, newest ")) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function filesFingerprint(dir: string, keep: (name: string) => boolean): Promise<string> {
  let count = 0, bytes = 0, newest = 0;
  try {
    const info = await Deno.stat(dir);
    const entries = info.isDirectory ? await Array.fromAsync(Deno.readDir(dir)) : [];
    const files = info.isDirectory ? entries.filter((e) => keep(e.name)).map((e) => `${dir}/${e.name}`).sort() : [dir];
    for (const path of files) {
      const s = await Deno.stat(path);
      if (!s.isFile) continue;
      count++;
      bytes += s.size;
      newest = Math.max(newest, s.mtime?.getTime() ?? 0);
    }
  } catch (e) {
    throw new InputError(`cannot read: ${(e as Error).message}`, { file: dir });
  }
  return `${count} files, ${bytes} bytes, newest ${new Date(newest).toISOString()}`;
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
  const files = async (path: string | undefined) =>
    path !== undefined ? await filesFingerprint(path, MODEL_FILES) : null;
  const openai = c.family === "openai" || c.engine === "openai";
  const local = c.family === "local" || c.engine === "cpu" || c.engine === "webgpu";
  const cuts = !openai || c.hasTokenizer;
  return {
    engine: c.family,
    model: await real(c.model),
    "model files": await files(c.model),
    lora: await real(c.lora),
    "lora files": await files(c.lora),
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
