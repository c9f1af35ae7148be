/**
 * `stats`: the IEPile §2.2 view of a converted file — instructions per task, source and
 * language, schema-batch sizes, the positive : negative balance of schema items and the share
 * of all-negative instructions (IEPile recommends roughly 1 : 2 to 1 : 3), and text sizes.
 *
 * @module
 */

import { InputError } from "../io/errors.ts";
import { type RawItem, readJsonItems } from "../io/json_items.ts";
import { instructionText, LANGUAGES, TASKS } from "./instructions.ts";

/** Summary of a converted file. */
export interface InstructionStats {
  /** Instruction lines. */
  instructions: number;
  /** Records (runs of consecutive lines with the same source and input text). */
  records: number;
  /** Lines with an `output` (training) and with a `label` (test). */
  splits: { train: number; test: number };
  /** Lines per task, per source, per instruction language (`other` for custom texts). */
  byTask: Record<string, number>;
  /** Lines per `source`. */
  bySource: Record<string, number>;
  /** Lines per instruction language (`other` for custom texts). */
  byLanguage: Record<string, number>;
  /** Instructions per schema-batch size. */
  batchSizes: Record<string, number>;
  /** Training schema items with a non-empty answer, and with an empty one. */
  positiveItems: number;
  /** Training schema items with an empty answer. */
  negativeItems: number;
  /** Training instructions whose every item is negative. */
  allNegative: number;
  /** Characters (UTF-16 units) of the instruction JSON and the output JSON. */
  instructionChars: { total: number; max: number };
  /** Characters of the `output` JSON (training lines). */
  outputChars: { total: number; max: number };
}

const LANGUAGE_OF = new Map<string, string>();
for (const task of TASKS) for (const lang of LANGUAGES) LANGUAGE_OF.set(instructionText(task, lang), lang);

/**
 * An empty summary to fold lines into.
 *
 * @returns zero counts
 *
 * @example
 * ```ts
 * import { emptyStats } from "./stats.ts";
 * if (emptyStats().instructions !== 0) throw new Error();
 * ```
 */
export function emptyStats(): InstructionStats {
  return {
    instructions: 0,
    records: 0,
    splits: { train: 0, test: 0 },
    byTask: {},
    bySource: {},
    byLanguage: {},
    batchSizes: {},
    positiveItems: 0,
    negativeItems: 0,
    allNegative: 0,
    instructionChars: { total: 0, max: 0 },
    outputChars: { total: 0, max: 0 },
  };
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
 * @returns this line's record key
 * @throws {InputError} when the line is not a converted IEPile record (caller adds file and line)
 *
 * @example
 * ```ts
 * import { addLine, emptyStats } from "./stats.ts";
 * const s = emptyStats();
 * const inner = JSON.stringify({ instruction: "x", schema: ["person", "place"], input: "Bob" });
 * addLine(s, JSON.stringify({ task: "NER", source: "demo", instruction: inner, output: '{"person": ["Bob"], "place": []}' }), "");
 * if (s.positiveItems !== 1 || s.negativeItems !== 1 || s.allNegative !== 0) throw new Error();
 * ```
 */
export function addLine(stats: InstructionStats, line: string, previousKey: string): string {
  let rec: Record<string, unknown>;
  let inner: { instruction?: unknown; schema?: unknown; input?: unknown };
  try {
    rec = JSON.parse(line);
  } catch (e) {
    throw new InputError(`invalid JSON: ${(e as Error).message}`);
  }
  if (typeof rec !== "object" || rec === null || typeof rec.instruction !== "string") {
    throw new InputError("not a converted record (needs a string `instruction`)", { field: "instruction" });
  }
  try {
    inner = JSON.parse(rec.instruction);
  } catch {
    throw new InputError("does not hold JSON text", { field: "instruction" });
  }
  if (typeof inner !== "object" || inner === null || Array.isArray(inner)) {
    throw new InputError("does not hold a JSON object", { field: "instruction" });
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
  if (typeof rec.output === "string") {
    stats.splits.train++;
    stats.outputChars.total += rec.output.length;
    stats.outputChars.max = Math.max(stats.outputChars.max, rec.output.length);
    let output: unknown;
    try {
      output = JSON.parse(rec.output);
    } catch {
      throw new InputError("does not hold JSON text", { field: "output" });
    }
    const values = typeof output === "object" && output !== null ? Object.values(output) : [];
    let positives = 0;
    for (const v of values) if (!isEmptyAnswer(v)) positives++;
    const negatives = Math.max(schema.length - positives, 0);
    stats.positiveItems += positives;
    stats.negativeItems += negatives;
    if (positives === 0) stats.allNegative++;
  } else if (rec.label !== undefined) {
    stats.splits.test++;
  }
  const key = `${rec.source}\u0000${inner.input}`;
  if (key !== previousKey) stats.records++;
  return key;
}

/**
 * Summarize a converted file.
 *
 * @param path a file written by `convert`
 * @returns the summary
 * @throws {InputError} naming the line that is not a converted record
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
      key = addLine(stats, item.text, key);
    } catch (e) {
      if (e instanceof InputError) throw e.at({ file: path, line: item.line });
      throw e;
    }
  }
  return stats;
}

/**
 * The summary as a readable report.
 *
 * @param stats the summary
 * @param name the file name shown in the heading
 * @returns multi-line text
 *
 * @example
 * ```ts
 * import { emptyStats, formatStats } from "./stats.ts";
 * if (!formatStats(emptyStats(), "x.json").startsWith("x.json: 0 instructions")) throw new Error();
 * ```
 */
export function formatStats(stats: InstructionStats, name: string): string {
  const n = (x: number) => x.toLocaleString("en-US");
  const pct = (x: number, of: number) => (of === 0 ? "0.0" : (100 * x / of).toFixed(1)) + "%";
  const table = (m: Record<string, number>) =>
    Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${n(v)} (${pct(v, stats.instructions)})`).join(
      ", ",
    ) || "-";
  const sizes = Object.entries(stats.batchSizes).sort((a, b) => Number(a[0]) - Number(b[0]));
  const meanSize = sizes.reduce((s, [k, v]) => s + Number(k) * v, 0) / Math.max(stats.instructions, 1);
  const lines = [
    `${name}: ${n(stats.instructions)} instructions from ${n(stats.records)} records` +
    ` (train ${n(stats.splits.train)}, test ${n(stats.splits.test)})`,
    `  tasks:      ${table(stats.byTask)}`,
    `  sources:    ${table(stats.bySource)}`,
    `  languages:  ${table(stats.byLanguage)}`,
    `  schema items per instruction: ${sizes.map(([k, v]) => `${k}×${n(v)}`).join(", ") || "-"} (mean ${
      meanSize.toFixed(2)
    })`,
  ];
  if (stats.splits.train > 0) {
    const ratio = stats.positiveItems === 0 ? "∞" : (stats.negativeItems / stats.positiveItems).toFixed(2);
    lines.push(
      `  positive : negative schema items = 1 : ${ratio} (${n(stats.positiveItems)} : ${
        n(stats.negativeItems)
      }; IEPile suggests 1:2 to 1:3)`,
      `  all-negative instructions: ${n(stats.allNegative)} (${
        pct(stats.allNegative, stats.splits.train)
      } of training)`,
      `  characters: instruction mean ${n(Math.round(stats.instructionChars.total / stats.instructions))}, max ${
        n(stats.instructionChars.max)
      }; output mean ${n(Math.round(stats.outputChars.total / stats.splits.train))}, max ${n(stats.outputChars.max)}`,
    );
  } else if (stats.instructions > 0) {
    lines.push(
      `  characters: instruction mean ${n(Math.round(stats.instructionChars.total / stats.instructions))}, max ${
        n(stats.instructionChars.max)
      }`,
    );
  }
  return lines.join("\n");
}
