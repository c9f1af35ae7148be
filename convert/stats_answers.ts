/**
 * How the model's answers in a predictions file read, for `stats`: read as IEPile's evaluator
 * reads them (Python `json.loads`, nothing repaired), with lines whose inference failed (an
 * `error` field and no answer) counted apart from empty answers.
 *
 * @module
 */

import { entriesOf, isJsonObject } from "../io/json_object.ts";
import type { PyJson } from "../io/py_json.ts";
import { parsePyJson } from "../io/py_json_parse.ts";

/** How the answers of a predictions file read. */
export interface AnswerStats {
  /** Lines with the model's answer. */
  answered: number;
  /** Lines whose inference failed: an `error` field and an empty `output`. */
  failed: number;
  /** Answers that are empty or blank (the model answered nothing). */
  empty: number;
  /** Answers that are not valid JSON (cut off, in a Markdown fence, text around the JSON, …). */
  invalidJson: number;
  /** Answers that are valid JSON but not an object. */
  notObject: number;
  /** Answers that are a JSON object. */
  objects: number;
  /** Objects with at least one non-empty value (they extract something). */
  withContent: number;
  /** Objects with a top-level key outside the schema asked in their instruction. */
  offSchema: number;
  /** Characters (UTF-16 units) of the answers. */
  chars: { total: number; max: number };
  /** The first failed line: its number and the `error` text. */
  firstError: { line: number; message: string } | null;
}

/**
 * Zero counts.
 *
 * @returns an empty `AnswerStats`
 *
 * @example
 * ```ts
 * import { emptyAnswerStats } from "./stats_answers.ts";
 * if (emptyAnswerStats().failed !== 0 || emptyAnswerStats().firstError !== null) throw new Error();
 * ```
 */
export function emptyAnswerStats(): AnswerStats {
  return {
    answered: 0,
    failed: 0,
    empty: 0,
    invalidJson: 0,
    notObject: 0,
    objects: 0,
    withContent: 0,
    offSchema: 0,
    chars: { total: 0, max: 0 },
    firstError: null,
  };
}

/**
 * Fold one prediction line's answer into the counts.
 *
 * @param stats the counts (updated in place)
 * @param record the parsed line (`output`, optional `error`)
 * @param schema the `schema` list of the line's instruction (to find keys outside it)
 * @param line the line's 1-based number (kept with the first failure)
 *
 * @example
 * ```ts
 * import { emptyAnswerStats, foldAnswer } from "./stats_answers.ts";
 * const s = emptyAnswerStats();
 * foldAnswer(s, { output: '{"person": ["Ann"], "city": []}' }, ["person"], 1);
 * foldAnswer(s, { output: "", error: "out of memory" }, ["person"], 2);
 * foldAnswer(s, { output: "" }, ["person"], 3);
 * if (s.objects !== 1 || s.withContent !== 1 || s.offSchema !== 1) throw new Error();
 * if (s.failed !== 1 || s.empty !== 1 || s.firstError?.line !== 2) throw new Error();
 * ```
 */
export function foldAnswer(stats: AnswerStats, record: Record<string, unknown>, schema: unknown[], line: number): void {
  const output = typeof record.output === "string" ? record.output : "";
  const blank = output.trim() === "";
  if (record.error !== undefined && record.error !== null && blank) {
    stats.failed++;
    if (stats.firstError === null) stats.firstError = { line, message: String(record.error) };
    return;
  }
  stats.answered++;
  stats.chars.total += output.length;
  stats.chars.max = Math.max(stats.chars.max, output.length);
  if (blank) return void stats.empty++;
  const value = readJson(output);
  if (value === undefined) return void stats.invalidJson++;
  if (!isJsonObject(value)) return void stats.notObject++;
  stats.objects++;
  const entries = entriesOf(value);
  if (entries.some(([, v]) => hasContent(v))) stats.withContent++;
  const keys = schemaKeys(schema);
  if (keys.size > 0 && entries.some(([k]) => !keys.has(k))) stats.offSchema++;
}

/** Python `json.loads`: JSON, plus `NaN` / `Infinity`; `undefined` when invalid. */
function readJson(text: string): PyJson | undefined {
  try {
    return JSON.parse(text);
  } catch {
    if (!text.includes("NaN") && !text.includes("Infinity")) return undefined;
    try {
      return parsePyJson(text);
    } catch {
      return undefined;
    }
  }
}

/** Whether a value names something: a non-empty list, a string, or an object holding such a value. */
function hasContent(v: PyJson): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (isJsonObject(v)) return entriesOf(v).some(([, x]) => hasContent(x));
  return v !== null && v !== "";
}

/** The keys an answer may use: the schema's strings, or its items' predicate / event type / entity type. */
function schemaKeys(schema: unknown[]): Set<string> {
  const keys = new Set<string>();
  for (const item of schema) {
    if (typeof item === "string") keys.add(item);
    else if (typeof item === "object" && item !== null) {
      const o = item as Record<string, unknown>;
      const k = o.predicate ?? o.event_type ?? o.entity_type;
      if (typeof k === "string") keys.add(k);
    }
  }
  return keys;
}
