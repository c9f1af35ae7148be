/**
 * Checking conversion options and filling IEPile's defaults.
 *
 * @module
 */

import { UsageError } from "../io/errors.ts";
import type { ConvertOptions } from "./context.ts";
import { type Language, LANGUAGES, type Task, TASKS } from "./instructions.ts";

/** Options as a user gives them: everything but `task` may be left out. */
export type ConvertOptionsInput = Partial<Omit<ConvertOptions, "task" | "language" | "split">> & {
  task: string;
  language?: string;
  split?: string;
  /** Input path; when `source` is absent it is derived from this path, as IEPile does. */
  srcPath?: string;
};

/**
 * Fill defaults (`language` zh, `split` train, `splitNum` 4, `negSchema` 1, `hashSeed` 0) and
 * check every value, with messages that say what is accepted.
 *
 * @param input the options
 * @returns complete options
 * @throws {UsageError} for an unknown task or language, `splitNum` 0, `negSchema` outside [0, 1], …
 *
 * @example
 * ```ts
 * import { resolveConvertOptions } from "./options.ts";
 * const o = resolveConvertOptions({ task: "ner", srcPath: "data/NER/sample.json" });
 * if (o.task !== "NER" || o.splitNum !== 4 || o.source !== "NER" || o.language !== "zh") throw new Error();
 * ```
 */
export function resolveConvertOptions(input: ConvertOptionsInput): ConvertOptions {
  const task = input.task.toUpperCase() as Task;
  if (!TASKS.includes(task)) throw new UsageError(`unknown task "${input.task}"; expected one of ${TASKS.join(", ")}`);
  const language = (input.language ?? "zh") as Language;
  if (!LANGUAGES.includes(language)) {
    throw new UsageError(`unknown language "${input.language}"; expected zh or en`);
  }
  const split = input.split ?? "train";
  if (split !== "train" && split !== "test") throw new UsageError(`unknown split "${split}"; expected train or test`);
  const splitNum = input.splitNum ?? 4;
  if (!Number.isInteger(splitNum) || (splitNum < 1 && splitNum !== -1)) {
    throw new UsageError(`split_num must be a positive integer, or -1 for no splitting; got ${splitNum}`);
  }
  const negSchema = input.negSchema ?? 1;
  if (!(negSchema >= 0 && negSchema <= 1)) {
    throw new UsageError(`neg_schema is a probability in [0, 1]; got ${negSchema}`);
  }
  const hashSeed = input.hashSeed ?? 0;
  if (!Number.isInteger(hashSeed) || hashSeed < 0 || hashSeed > 0xffffffff) {
    throw new UsageError(`hash seed must be an integer in 0..4294967295 (like PYTHONHASHSEED); got ${hashSeed}`);
  }
  const clusterMode = (input.clusterMode ?? false) && split === "train"; // IEPile ignores it for test
  if (clusterMode && (task === "EEA" || task === "KG")) {
    throw new UsageError(`--cluster_mode is not available for ${task} (IEPile has no hard-negative sampler for it)`);
  }
  if (clusterMode && splitNum === -1) {
    throw new UsageError("--cluster_mode needs a positive --split_num (it adds split_num random negatives)");
  }
  let source = input.source;
  if (source === undefined) {
    if (input.srcPath === undefined) throw new UsageError("give `source` or `srcPath`");
    source = sourceFromPath(input.srcPath);
  }
  return {
    task,
    language,
    split,
    splitNum,
    negSchema,
    randomSort: input.randomSort ?? false,
    clusterMode,
    hashSeed,
    source,
  };
}

/**
 * IEPile's `source`: the name of the input file's parent folder as written in the path
 * (`data/NER/sample.json` → `NER`, `./x.json` → `.`). For a bare file name (where IEPile
 * crashes) the current folder's name is used.
 *
 * @param srcPath the input path as given
 * @returns the source name
 *
 * @example
 * ```ts
 * import { sourceFromPath } from "./options.ts";
 * if (sourceFromPath("data/NER/sample.json") !== "NER" || sourceFromPath("./x.json") !== ".") throw new Error();
 * ```
 */
export function sourceFromPath(srcPath: string): string {
  const pieces = srcPath.split("/");
  if (pieces.length >= 2) return pieces[pieces.length - 2];
  const cwd = Deno.cwd().split("/");
  return cwd[cwd.length - 1] || "/";
}
