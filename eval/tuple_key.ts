/**
 * A string key per tuple such that two tuples get the same key exactly when Python's `==`
 * holds between them: strings compare exactly (case, spaces, Unicode form all count), numbers
 * compare by value across int and float (`1 == 1.0 == True`), dicts ignore key order, lists do
 * not. `NaN` never equals anything (each gets a key of its own).
 *
 * @module
 */

import { pyFloatRepr, type PyJson, PyNumber } from "../io/py_json.ts";

/**
 * The key of one tuple.
 *
 * @param tuple the tuple's members
 * @returns a key, equal for Python-equal tuples only
 *
 * @example
 * ```ts
 * import { tupleKey } from "./tuple_key.ts";
 * import { PyNumber } from "../io/py_json.ts";
 * if (tupleKey(["a", 1]) !== tupleKey(["a", new PyNumber("1.0", 1)])) throw new Error("1 == 1.0");
 * if (tupleKey(["a", true]) !== tupleKey(["a", 1])) throw new Error("True == 1");
 * if (tupleKey([{ x: 1, y: 2 }]) !== tupleKey([{ y: 2, x: 1 }])) throw new Error("dict order");
 * if (tupleKey(["ab", "c"]) === tupleKey(["a", "bc"]) || tupleKey(["1"]) === tupleKey([1])) throw new Error();
 * ```
 */
export function tupleKey(tuple: readonly PyJson[]): string {
  let out = "";
  for (let i = 0; i < tuple.length; i++) {
    const v = tuple[i];
    const part = typeof v === "string" ? "s" + v : valueKey(v);
    out += part.length + ":" + part;
  }
  return out;
}

function valueKey(v: PyJson): string {
  if (typeof v === "string") return "s" + v;
  if (typeof v === "number") return "n" + numberKey(v);
  if (typeof v === "boolean") return v ? "n1" : "n0";
  if (v === null) return "z";
  if (v instanceof PyNumber) return "n" + (v.isInt ? v.repr : numberKey(v.value));
  if (Array.isArray(v)) return "l" + tupleKey(v);
  const entries = v instanceof Map ? [...v.entries()] : Object.entries(v);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let out = "d";
  for (const [k, x] of entries) {
    const part = valueKey(x);
    out += k.length + ":" + k + part.length + ":" + part;
  }
  return out;
}

/** Exact value of a double: integers in full decimal (so `2**53` ≠ `2**53 + 1` as Python ints), others by repr. */
function numberKey(x: number): string {
  if (Number.isNaN(x)) return "nan" + crypto.randomUUID();
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (Number.isInteger(x)) return Number.isSafeInteger(x) ? String(x === 0 ? 0 : x) : BigInt(x).toString();
  return pyFloatRepr(x);
}
