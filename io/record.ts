/**
 * One JSON record (an object) from a line of a JSON Lines file, read as Python reads it
 * (`NaN`, big integers and integer-like keys kept), with errors naming file and line.
 *
 * @module
 */

import { InputError } from "./errors.ts";
import { isJsonObject } from "./json_object.ts";
import type { PyJson } from "./py_json.ts";
import { parsePyJson } from "./py_json_parse.ts";

/** A parsed record: its fields, and the value as parsed (for writing it back unchanged). */
export interface ParsedRecord {
  /** The fields by name. */
  fields: Record<string, PyJson>;
  /** The parsed value (a plain object, or a `Map` where Python's key order needed one). */
  value: PyJson;
}

/**
 * Parse one record line.
 *
 * @param text the line
 * @param file the file name, for errors
 * @param line the 1-based line number, for errors
 * @returns the record's fields and parsed value
 * @throws {InputError} when the line is not JSON or not a JSON object
 *
 * @example
 * ```ts
 * import { parseRecordLine } from "./record.ts";
 * const { fields } = parseRecordLine('{"id": 1.0, "x": NaN}', "a.jsonl", 1);
 * if (!("x" in fields)) throw new Error();
 * ```
 */
export function parseRecordLine(text: string, file: string, line: number): ParsedRecord {
  let value: PyJson;
  try {
    value = parsePyJson(text);
  } catch (e) {
    throw new InputError((e as Error).message, { file, line });
  }
  if (!isJsonObject(value)) throw new InputError("a record must be a JSON object", { file, line });
  return { fields: value instanceof Map ? Object.fromEntries(value) : value, value };
}
