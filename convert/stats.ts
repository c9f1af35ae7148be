/**
 * `stats`: what a converted file holds. The kind of file is read from its lines — training
 * instructions (`output` holds the target), test instructions (no `output`; `label` holds the
 * gold when the data had annotations) or predictions (test instructions with the model's
 * answer in `output`, or an `error` where inference failed) — and one kind is described per file.
 *
 * Every kind gets instructions per task, source and language, schema-batch sizes and text sizes.
 * Training adds IEPile's view of a corpus: the positive : negative balance of schema items and the
 * share of all-negative instructions (IEPile recommends roughly 1 : 2 to 1 : 3). Test and
 * predictions add the gold annotations; predictions add how the answers read (JSON objects,
 * keys outside the asked schema, empty, failed at inference).
 *
 * @module
 */

import { InputError } from "../io/errors.ts";
import { type RawItem, readJsonItems } from "../io/json_items.ts";
import { type AnswerStats, emptyAnswerStats, foldAnswer } from "./stats_answers.ts";
import { instructionText, LANGUAGES, TASKS } from "./instructions.ts";

export type { AnswerStats } from "./stats_answers.ts";

/**
 * The kinds of converted file: `training` (`output` holds the target, no `id` or `label`),
 * `test` (no `output`), `predictions` (`output` or `error` beside the test record's `id` / `label`).
 */
export type FileKind = "training" | "test" | "predictions";

/** Gold annotations of test and prediction files, counted once per record. */
export interface GoldStats {
  /** Records with a `label`. */
  records: number;
  /** Annotations in all labels. */
  annotations: number;
  /** Records whose label is empty (`[]`). */
  empty: number;
}

/** Summary of a converted file. */
export interface InstructionStats {
  /** What the file holds; `null` while no line was read. */
  kind: FileKind | null;
  /** Instruction lines. */
  instructions: number;
  /** Records (runs of consecutive lines with the same source and input text). */
  records: number;
  /** Lines per kind (only one is non-zero: a file holds one kind). */
  splits: { train: number; test: number; predictions: number };
  /** Lines per `task`. */
  byTask: Record<string, number>;
  /** Lines per `source`. */
  bySource: Record<string, number>;
  /** Lines per instruction language (`other` for custom texts). */
  byLanguage: Record<string, number>;
  /** Instructions per schema-batch size. */
  batchSizes: Record<string, number>;
  /** Training schema items with a non-empty answer. */
  positiveItems: number;
  /** Training schema items with an empty answer. */
  negativeItems: number;
  /** Training instructions whose every item is negative. */
  allNegative: number;
  /** Characters (UTF-16 units) of the instruction JSON. */
  instructionChars: { total: number; max: number };
  /** Characters of the `output` JSON (training lines). */
  outputChars: { total: number; max: number };
  /** Gold annotations (test and predictions files with a `label`); `null` for training files. */
  gold: GoldStats | null;
  /** How the model's answers read (predictions files); `null` otherwise. */
  answers: AnswerStats | null;
}

const LANGUAGE_OF = new Map<string, string>();
for (const task of TASKS) for (const lang of LANGUAGES) LANGUAGE_OF.set(instructionText(task, lang), lang);

/** How each kind is recognised, for messages. */
const KIND_SIGNS: Record<FileKind, string> = {
  training: "`output` without `id` or `label`",
  test: "no `output`",
  predictions: "`output` or `error` beside `id` / `label`",
};

/**
 * An empty summary to fold lines into.
 *
 * @returns zero counts
 *
 * @example
 * ```ts
 * import { emptyStats } from "./stats.ts";
 * if (emptyStats().instructions !== 0 || emptyStats().kind !== null) throw new Error();
 * ```
 */
export function emptyStats(): InstructionStats {
  return {
    kind: null,
    instructions: 0,
    records: 0,
    splits: { train: 0, test: 0, predictions: 0 },
    byTask: {},
    bySource: {},
    byLanguage: {},
    batchSizes: {},
    positiveItems: 0,
    negativeItems: 0,
    allNegative: 0,
    instructionChars: { total: 0, max: 0 },
    outputChars: { total: 0, max: 0 },
    gold: null,
    answers: null,
  };
}

/**
 * The kind of file one converted record belongs to.
 *
 * @param record a parsed line of a converted file
 * @returns `predictions` when it holds an `error`, or an `output` beside an `id` or `label`;
 *   `training` for an `output` alone; `test` without `output`
 *
 * @example
 * ```ts
 * import { recordKind } from "./stats.ts";
 * if (recordKind({ instruction: "{}", output: "{}" }) !== "training") throw new Error();
 * if (recordKind({ id: "1", instruction: "{}", label: "[]" }) !== "test") throw new Error();
 * if (recordKind({ id: "1", instruction: "{}", label: "[]", output: "{}" }) !== "predictions") throw new Error();
 * if (recordKind({ id: "1", instruction: "{}", output: "", error: "timeout" }) !== "predictions") throw new Error();
 * ```
 */
export function recordKind(record: Record<string, unknown>): FileKind {
  if (record.error !== undefined && record.error !== null) return "predictions";
  if (record.output === undefined) return "test";
  return record.id !== undefined || record.label !== undefined ? "predictions" : "training";
}

/** Whether a target value answers nothing: `[]`, `{}`, or (KG) every instance without attributes. */
function isEmptyAnswer(v: unknown): boolean {
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object" && v !== null) return Object.values(v).every((x) => isEmptyAnswer(x));
  return false;
}

/**
 * Fold one converted line into the summary.
 *
 * @param stats the summary (updated in place)
 * @param line one JSON line of a converted file
 * @param previousKey the previous line's record key (source + input), to count records
 * @param lineNumber the line's 1-based number, kept with the first inference failure (default 0)
 * @returns this line's record key
 * @throws {InputError} when the line is not a converted IEPile record, or is of another kind than
 *   the lines before it (caller adds file and line)
 *
 * @example
 * ```ts
 * import { addLine, emptyStats } from "./stats.ts";
 * const s = emptyStats();
 * const inner = JSON.stringify({ instruction: "x", schema: ["person", "place"], input: "Bob" });
 * addLine(s, JSON.stringify({ task: "NER", source: "demo", instruction: inner, output: '{"person": ["Bob"], "place": []}' }), "");
 * if (s.kind !== "training" || s.positiveItems !== 1 || s.negativeItems !== 1 || s.allNegative !== 0) throw new Error();
 * ```
 */
export function addLine(stats: InstructionStats, line: string, previousKey: string, lineNumber = 0): string {
  let rec: Record<string, unknown>;
  let inner: { instruction?: unknown; schema?: unknown; input?: unknown };
  try {
    rec = JSON.parse(line);
  } catch (e) {
    throw new InputError(`invalid JSON: ${(e as Error).message}`);
  }
  if (typeof rec !== "object" || rec === null || typeof rec.instruction !== "string") {
    throw new InputError(
      "not a converted record (needs a string `instruction`; stats reads what convert and infer write)",
      { field: "instruction" },
    );
  }
  try {
    inner = JSON.parse(rec.instruction);
  } catch {
    throw new InputError("does not hold JSON text", { field: "instruction" });
  }
  if (typeof inner !== "object" || inner === null || Array.isArray(inner)) {
    throw new InputError("does not hold a JSON object", { field: "instruction" });
  }
  if (rec.output !== undefined && typeof rec.output !== "string") {
    throw new InputError("must be a string holding JSON text", { field: "output" });
  }
  const kind = recordKind(rec);
  if (stats.kind === null) {
    stats.kind = kind;
    if (kind !== "training") stats.gold = { records: 0, annotations: 0, empty: 0 };
    if (kind === "predictions") stats.answers = emptyAnswerStats();
  } else if (kind !== stats.kind) {
    throw new InputError(
      `a ${kind} line (${KIND_SIGNS[kind]}) among ${stats.kind} lines (${KIND_SIGNS[stats.kind]}): ` +
        "stats describes one kind of file at a time",
    );
  }
  const schema = Array.isArray(inner.schema) ? inner.schema : [];
  const bump = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);
  stats.instructions++;
  bump(stats.byTask, String(rec.task ?? "?"));
  bump(stats.bySource, String(rec.source ?? "?"));
  bump(stats.byLanguage, LANGUAGE_OF.get(String(inner.instruction)) ?? "other");
  bump(stats.batchSizes, String(schema.length));
  stats.instructionChars.total += rec.instruction.length;
  stats.instructionChars.max = Math.max(stats.instructionChars.max, rec.instruction.length);
  const key = `${rec.source}\u0000${inner.input}`;
  const firstOfRecord = key !== previousKey;
  if (firstOfRecord) stats.records++;
  if (kind === "training") {
    stats.splits.train++;
    foldTarget(stats, rec.output as string, schema.length);
  } else {
    if (kind === "test") stats.splits.test++;
    else stats.splits.predictions++;
    if (firstOfRecord && rec.label !== undefined) foldGold(stats.gold!, rec.label);
    if (kind === "predictions") foldAnswer(stats.answers!, rec, schema, lineNumber);
  }
  return key;
}

/** A training target: positive and negative schema items. */
function foldTarget(stats: InstructionStats, outputText: string, schemaItems: number): void {
  stats.outputChars.total += outputText.length;
  stats.outputChars.max = Math.max(stats.outputChars.max, outputText.length);
  let output: unknown;
  try {
    output = JSON.parse(outputText);
  } catch {
    throw new InputError("does not hold JSON text", { field: "output" });
  }
  const values = typeof output === "object" && output !== null ? Object.values(output) : [];
  let positives = 0;
  for (const v of values) if (!isEmptyAnswer(v)) positives++;
  const negatives = Math.max(schemaItems - positives, 0);
  stats.positiveItems += positives;
  stats.negativeItems += negatives;
  if (positives === 0) stats.allNegative++;
}

/** A record's gold annotations (its first line's `label`). */
function foldGold(gold: GoldStats, labelText: unknown): void {
  let label: unknown;
  try {
    label = typeof labelText === "string" ? JSON.parse(labelText) : undefined;
  } catch { /* reported below */ }
  if (!Array.isArray(label)) throw new InputError("must be a string holding a JSON list", { field: "label" });
  gold.records++;
  gold.annotations += label.length;
  if (label.length === 0) gold.empty++;
}

/**
 * Summarize a converted file.
 *
 * @param path a file written by `convert` (training or test split) or by `infer` (predictions)
 * @returns the summary
 * @throws {InputError} naming the line that is not a converted record, or that is of another
 *   kind than the first line
 *
 * @example
 * ```ts
 * import { statsFile } from "./stats.ts";
 * const f = await Deno.makeTempFile();
 * const inner = JSON.stringify({ instruction: "x", schema: ["a"], input: "t" });
 * await Deno.writeTextFile(f, JSON.stringify({ task: "NER", source: "s", instruction: inner, output: '{"a": []}' }) + "\n");
 * const s = await statsFile(f);
 * if (s.allNegative !== 1 || s.records !== 1) throw new Error();
 * ```
 */
export async function statsFile(path: string): Promise<InstructionStats> {
  const stats = emptyStats();
  let key = "";
  for await (const item of readJsonItems(path) as AsyncIterable<RawItem>) {
    try {
      key = addLine(stats, item.text, key, item.line);
    } catch (e) {
      if (e instanceof InputError) throw e.at({ file: path, line: item.line });
      throw e;
    }
  }
  return stats;
}

export { formatStats } from "./stats_format.ts";
