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

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
