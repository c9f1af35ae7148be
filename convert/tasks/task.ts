/**
 * What every task adapter provides to the converter.
 *
 * @module
 */

import type { SamplingContext } from "../context.ts";
import type { IeRecord } from "../records.ts";

/** One training instruction of a record: its schema batch and its target. */
export interface TrainBatch {
  /**
   * The `schema` value's items, JSON text each, e.g. `['"location"', '"person"']` for
   * `["location", "person"]` (escaped as the inside of a JSON string where the adapter's
   * `trainItemsRepeat` is false).
   */
  schema: readonly string[];
  /**
   * The `output` value, already escaped as the inside of a JSON string, e.g.
   * `{\\"location\\": [\\"Paris\\"], \\"person\\": []}` for `{"location": ["Paris"], "person": []}`
   * (built escaped from its pieces, so the whole text is not escaped a second time).
   */
  output: string;
}

/** A task's conversion rules. */
export interface TaskAdapter {
  /**
   * Sample the record's schema (positives plus negatives), cut it into batches and build the
   * target of each batch. An empty result means the record yields no instruction.
   */
  train(ctx: SamplingContext, record: IeRecord): TrainBatch[];
  /**
   * True when the converter is to escape the training schema items (they repeat from record to
   * record, so it escapes each distinct item once and remembers it); false when the adapter gives
   * them already escaped as the inside of a JSON string, as `output` (items holding the record's
   * own text, or items whose escaped text the adapter remembers itself).
   */
  readonly trainItemsRepeat: boolean;
  /**
   * The schema items (JSON text each) a test instruction asks about, before batching; they
   * repeat from record to record (the converter remembers their escaped text). The same array
   * may come back for another record (the converter then reuses its batches), so it must not
   * be changed.
   */
  testItems(ctx: SamplingContext, record: IeRecord): string[];
  /** True when `testItems` is the same for every record of a run (so it can be computed once). */
  readonly testItemsFixed: boolean;
}

/**
 * A JSON list from items that are already JSON text.
 *
 * @param items JSON texts
 * @returns `[a, b]` with Python's separators
 *
 * @example
 * ```ts
 * import { jsonList } from "./task.ts";
 * if (jsonList(['"a"', "1"]) !== '["a", 1]' || jsonList([]) !== "[]") throw new Error();
 * ```
 */
export function jsonList(items: readonly string[]): string {
  return "[" + items.join(", ") + "]";
}

/**
 * `jsonList` for a training line, which the converter flattens once whole: the items are
 * concatenated, not joined (a join copies them into a new flat string first, and costs more per
 * call; a line left unflattened would instead pay for the deeper tree when written).
 *
 * @param items JSON texts
 * @returns `[a, b]` with Python's separators
 *
 * @example
 * ```ts
 * import { concatList, jsonList } from "./task.ts";
 * if (concatList(['"a"', "1"]) !== jsonList(['"a"', "1"]) || concatList([]) !== "[]") throw new Error();
 * ```
 */
export function concatList(items: readonly string[]): string {
  if (items.length === 0) return "[]";
  let out = "[" + items[0];
  for (let i = 1; i < items.length; i++) out += ", " + items[i];
  return out + "]";
}

/**
 * A JSON object from keys and values that are already JSON text; a repeated key keeps its first
 * position and takes the last value, like a Python dict.
 *
 * @param entries `[key JSON, value JSON]` pairs
 * @returns `{k: v, …}` with Python's separators
 *
 * @example
 * ```ts
 * import { jsonObject } from "./task.ts";
 * if (jsonObject([['"a"', "1"], ['"b"', "2"], ['"a"', "3"]]) !== '{"a": 3, "b": 2}') throw new Error();
 * ```
 */
export function jsonObject(entries: ReadonlyArray<readonly [string, string]>): string {
  if (entries.length === 0) return "{}";
  // A short list (a schema batch) is checked for repeated keys (rare: SPO predicates) pair by
  // pair and, without any, written directly; others go through a Map.
  if (entries.length > 16) return jsonObjectOfMap(entries);
  for (let i = 1; i < entries.length; i++) {
    for (let j = 0; j < i; j++) if (entries[i][0] === entries[j][0]) return jsonObjectOfMap(entries);
  }
  let out = "{" + entries[0][0] + ": " + entries[0][1];
  for (let i = 1; i < entries.length; i++) out += ", " + entries[i][0] + ": " + entries[i][1];
  return out + "}";
}

function jsonObjectOfMap(entries: ReadonlyArray<readonly [string, string]>): string {
  const m = new Map<string, string>();
  for (const [k, v] of entries) m.set(k, v);
  let out = "";
  for (const [k, v] of m) out += (out === "" ? "{" : ", ") + k + ": " + v;
  return out + "}";
}

/**
 * `f` with its results remembered (up to `limit` keys, then forgotten at once): for JSON spellings
 * of schema names, which every record repeats.
 *
 * @param f a function of a string
 * @param limit keys kept before the memory is cleared
 * @returns the remembering function
 *
 * @example
 * ```ts
 * import { memoized } from "./task.ts";
 * let calls = 0;
 * const quote = memoized((s) => (calls++, JSON.stringify(s)));
 * if (quote("a") !== '"a"' || quote("a") !== '"a"' || calls !== 1) throw new Error();
 * ```
 */
export function memoized(f: (key: string) => string, limit = 100_000): (key: string) => string {
  let cache = new Map<string, string>();
  return (key) => {
    let v = cache.get(key);
    if (v === undefined) {
      if (cache.size >= limit) cache = new Map();
      cache.set(key, v = f(key));
    }
    return v;
  };
}

/**
 * JSON text as the inside of a JSON string literal (`JSON.stringify` without the quotes): how a
 * schema item or target appears in an instruction line, whose `instruction` and `output` values
 * are JSON texts written as JSON strings.
 *
 * @param text the JSON text
 * @returns it escaped once more
 *
 * @example
 * ```ts
 * import { escapedJson } from "./task.ts";
 * if (escapedJson('["a"]') !== '[\\"a\\"]') throw new Error(escapedJson('["a"]'));
 * ```
 */
export function escapedJson(text: string): string {
  const quoted = JSON.stringify(text);
  return quoted.slice(1, quoted.length - 1);
}
