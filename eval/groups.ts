/**
 * Records → scoring groups, as the reference merges them: a test record split into several
 * schema batches comes back as several prediction lines with the same `source` + `id`; their
 * outputs are pooled, and the first line supplies the label.
 *
 * @module
 */

import { InputError } from "../io/errors.ts";
import { getField, type JsonObject } from "../io/json_object.ts";
import { jsonKind } from "./extract.ts";

/** The identity and output of one prediction line. */
export interface PredictionLine {
  /** Group key: `source + id`, plain concatenation as in the reference. */
  readonly key: string;
  /** The record's `source` (`"None"` when absent, as Python prints a missing value). */
  readonly source: string;
  /** The record's `id`. */
  readonly id: string;
  /** The raw model output. */
  readonly output: string;
}

/**
 * Read `id`, `source` and `output` of a prediction record.
 *
 * @param record the parsed line
 * @returns its group key, source, id and output
 * @throws {InputError} (field set, no location) when `id` or `output` is missing or not a string
 *
 * @example
 * ```ts
 * import { predictionLine } from "./groups.ts";
 * const p = predictionLine({ id: "7", source: "NER", output: "{}" });
 * if (p.key !== "NER7") throw new Error();
 * if (predictionLine({ id: "7", output: "{}" }).key !== "None7") throw new Error();
 * ```
 */
export function predictionLine(record: JsonObject): PredictionLine {
  const plain = !(record instanceof Map);
  const id = plain ? record.id : getField(record, "id");
  if (typeof id !== "string") {
    throw new InputError(id === undefined ? "record has no `id`" : `must be a string, got ${jsonKind(id)}`, {
      field: "id",
    });
  }
  const source = (plain ? record.source : getField(record, "source")) ?? "None";
  if (typeof source !== "string") {
    throw new InputError(`must be a string, got ${jsonKind(source)}`, { field: "source" });
  }
  const output = plain ? record.output : getField(record, "output");
  if (typeof output !== "string") {
    throw new InputError(
      output === undefined
        ? "record has no `output` (the model's answer)"
        : `must be a string (the model's raw answer), got ${jsonKind(output)}`,
      { field: "output" },
    );
  }
  return new Line(source, id, output);
}

/** A `PredictionLine` whose key is built only when asked for. */
class Line implements PredictionLine {
  constructor(readonly source: string, readonly id: string, readonly output: string) {}
  get key(): string {
    return this.source + this.id;
  }
}

/** One scoring group: the lines of one test record. */
export interface PredictionGroup {
  /** `source + id`. */
  key: string;
  /** The first line's `source`. */
  source: string;
  /** The first line's `id`. */
  id: string;
  /** The first line's record (it supplies `label` and `instruction`). */
  first: JsonObject;
  /** Every line's output, in file order. */
  outputs: string[];
}

/**
 * Merge prediction records into groups by `source + id`, in first-appearance order.
 *
 * @param records parsed prediction lines, in file order
 * @returns the groups
 * @throws {InputError} as {@linkcode predictionLine}, with the 1-based record number as line
 *
 * @example
 * ```ts
 * import { mergeGroups } from "./groups.ts";
 * const groups = mergeGroups([
 *   { id: "a", source: "S", label: "[]", output: "1" },
 *   { id: "b", source: "S", label: "[]", output: "2" },
 *   { id: "a", source: "S", label: "[]", output: "3" },
 * ]);
 * if (groups.map((g) => g.outputs.join("+")).join() !== "1+3,2") throw new Error();
 * ```
 */
export function mergeGroups(records: Iterable<JsonObject>): PredictionGroup[] {
  const groups = new Map<string, PredictionGroup>();
  let n = 0;
  for (const record of records) {
    n++;
    let p: PredictionLine;
    try {
      p = predictionLine(record);
    } catch (e) {
      throw e instanceof InputError ? e.at({ line: n }) : e;
    }
    const g = groups.get(p.key);
    if (g) g.outputs.push(p.output);
    else groups.set(p.key, { key: p.key, source: p.source, id: p.id, first: record, outputs: [p.output] });
  }
  return [...groups.values()];
}
