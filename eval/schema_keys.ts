/**
 * The keys a model was asked for: the schema inside each prediction line's `instruction`
 * (entity types, relations, predicates, event types, entity types for KG). Used to count
 * outputs that answer with keys outside the asked schema.
 *
 * @module
 */

import { schemaKeyField } from "../io/tasks.ts";
import { getField, isJsonObject } from "../io/json_object.ts";
import type { PyJson } from "../io/py_json.ts";
import { parsePyJson } from "../io/py_json_parse.ts";
import type { EvalTask } from "./tasks.ts";

/**
 * The schema keys of one parsed schema batch.
 *
 * @param task the task
 * @param schema the `schema` value of an instruction
 * @returns the keys an output may use, or `undefined` when the schema has an unknown shape
 *
 * @example
 * ```ts
 * import { schemaKeysOf } from "./schema_keys.ts";
 * const keys = schemaKeysOf("SPO", [{ subject_type: "person", predicate: "born in", object_type: "city" }]);
 * if (!keys?.has("born in")) throw new Error();
 * ```
 */
export function schemaKeysOf(task: EvalTask, schema: PyJson): Set<string> | undefined {
  if (!Array.isArray(schema)) return undefined;
  const field = schemaKeyField(task) ?? "entity_type"; // string items are keys; objects name theirs
  const keys = new Set<string>();
  for (const item of schema) {
    if (typeof item === "string") keys.add(item);
    else if (isJsonObject(item)) {
      const k = getField(item, field);
      if (typeof k === "string") keys.add(k);
    }
  }
  return keys;
}

const PREFIX = '{"instruction": "';
const SCHEMA = ', "schema": ';
const INPUT = ', "input": ';
const RECENT = 32;

/**
 * Reads the schema keys of instruction strings. The converter writes few distinct schema
 * batches and one instruction text per task, so the reader remembers where the schema starts
 * and the schema texts it has seen: most lines are recognised by two string comparisons,
 * without parsing or scanning the instruction.
 *
 * @example
 * ```ts
 * import { SchemaKeyReader } from "./schema_keys.ts";
 * const reader = new SchemaKeyReader("NER");
 * const keys = reader.read('{"instruction": "x", "schema": ["person", "place"], "input": "Ann"}');
 * if (keys?.size !== 2 || reader.read("not json") !== undefined) throw new Error();
 * ```
 */
export class SchemaKeyReader {
  readonly #task: EvalTask;
  /** `{"instruction": "…", "schema": ` of the last instruction in the converter's layout. */
  #head = "";
  /** Recently seen schema texts, each followed by `, "input": `, with their keys. */
  readonly #recent: Array<{ probe: string; keys: Set<string> | undefined }> = [];
  #next = 0;
  readonly #cache = new Map<string, Set<string> | undefined>();
  readonly #limit: number;

  /**
   * A reader for one task's schema shape.
   *
   * @param task the task whose schema shape to read
   * @param limit distinct schema texts remembered before the memory is cleared (default 10 000)
   */
  constructor(task: EvalTask, limit = 10_000) {
    this.#task = task;
    this.#limit = limit;
  }

  /**
   * The schema keys of an instruction string.
   *
   * @param instruction the record's `instruction` (a JSON text with a `schema` key)
   * @returns the keys, or `undefined` when the instruction has no readable schema
   *
   * @example
   * ```ts
   * import { SchemaKeyReader } from "./schema_keys.ts";
   * const keys = new SchemaKeyReader("EE").read('{"schema": [{"event_type": "attack"}], "input": "x"}');
   * if (!keys?.has("attack")) throw new Error();
   * ```
   */
  read(instruction: string): Set<string> | undefined {
    let start = this.#head.length;
    if (start === 0 || !hasAt(instruction, this.#head, 0)) {
      start = schemaStart(instruction);
      if (start < 0) return this.#readWhole(instruction);
      this.#head = instruction.slice(0, start);
    }
    // A remembered schema text that is complete JSON and followed by `, "input": ` here is this
    // line's schema: the value starting at `start` ends where the remembered one ends.
    for (const r of this.#recent) if (hasAt(instruction, r.probe, start)) return r.keys;
    const stop = instruction.indexOf(INPUT, start);
    if (stop < 0) return this.#readWhole(instruction);
    const text = instruction.slice(start, stop);
    let keys: Set<string> | undefined;
    if (this.#cache.has(text)) {
      keys = this.#cache.get(text);
    } else {
      let schema: PyJson;
      try {
        schema = JSON.parse(text);
      } catch {
        return this.#readWhole(instruction); // the schema itself holds an `input` key
      }
      keys = schemaKeysOf(this.#task, schema);
      if (this.#cache.size >= this.#limit) this.#cache.clear();
      this.#cache.set(text, keys);
    }
    this.#recent[this.#next] = { probe: text + INPUT, keys };
    this.#next = (this.#next + 1) % RECENT;
    return keys;
  }

  #readWhole(instruction: string): Set<string> | undefined {
    let parsed: PyJson;
    try {
      parsed = parsePyJson(instruction);
    } catch {
      return undefined;
    }
    if (!isJsonObject(parsed)) return undefined;
    const schema = getField(parsed, "schema");
    return schema === undefined ? undefined : schemaKeysOf(this.#task, schema);
  }
}

/** `s.startsWith(sub, pos)`, written as slice and compare, which V8 runs several times faster. */
function hasAt(s: string, sub: string, pos: number): boolean {
  return s.length >= pos + sub.length && s.slice(pos, pos + sub.length) === sub;
}

/**
 * Where the schema value starts when the instruction has the converter's layout
 * `{"instruction": "…", "schema": …, "input": "…"}`, else -1. A raw `, "input": ` cannot occur
 * inside a JSON string (its quotes would be escaped), so the text up to the next one is the
 * schema, unless the schema itself holds an `input` key; then that text is not valid JSON and
 * the caller parses the whole instruction instead.
 */
function schemaStart(instruction: string): number {
  if (!instruction.startsWith(PREFIX)) return -1;
  let end = PREFIX.length;
  for (;;) {
    end = instruction.indexOf('"', end);
    if (end < 0) return -1;
    let backslashes = 0;
    for (let j = end - 1; instruction.charCodeAt(j) === 92; j--) backslashes++;
    if (backslashes % 2 === 0) break;
    end++;
  }
  return instruction.startsWith(SCHEMA, end + 1) ? end + 1 + SCHEMA.length : -1;
}
