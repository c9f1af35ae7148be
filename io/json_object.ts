/**
 * Access to JSON objects whichever way they were parsed: plain objects (the fast path) or
 * `Map`s (where Python key order had to be kept, see `parsePyJson`).
 *
 * @module
 */

import type { PyJson } from "./py_json.ts";

/** A parsed JSON object. */
export type JsonObject = Map<string, PyJson> | { [key: string]: PyJson };

/**
 * Whether a parsed value is a JSON object (not an array, not null).
 *
 * @param v a parsed value
 * @returns true for objects
 *
 * @example
 * ```ts
 * import { isJsonObject } from "./json_object.ts";
 * if (!isJsonObject({}) || isJsonObject([]) || !isJsonObject(new Map())) throw new Error();
 * ```
 */
export function isJsonObject(v: PyJson | undefined): v is JsonObject {
  if (v instanceof Map) return true;
  return typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/**
 * One property of a parsed JSON object.
 *
 * @param obj the object
 * @param key the property name
 * @returns its value, or `undefined` when absent
 *
 * @example
 * ```ts
 * import { getField } from "./json_object.ts";
 * if (getField(new Map([["a", 1]]), "a") !== 1 || getField({ a: 2 }, "a") !== 2) throw new Error();
 * ```
 */
export function getField(obj: JsonObject, key: string): PyJson | undefined {
  if (obj instanceof Map) return obj.get(key);
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/**
 * The entries of a parsed JSON object in document order.
 *
 * @param obj the object
 * @returns its `[key, value]` pairs
 *
 * @example
 * ```ts
 * import { entriesOf } from "./json_object.ts";
 * if (entriesOf(new Map([["1", 2]])).length !== 1) throw new Error();
 * ```
 */
export function entriesOf(obj: JsonObject): Array<[string, PyJson]> {
  return obj instanceof Map ? [...obj.entries()] : Object.entries(obj);
}
