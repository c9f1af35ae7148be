/**
 * Python's `repr()` of JSON-like values, as `print(dict)` writes it: single-quoted strings
 * (double quotes when the text holds `'` but no `"`), `': '` and `', '` separators, `True`,
 * `False`, `None`, floats like `66.67` / `100.0` / `inf`, and printable non-ASCII kept raw.
 *
 * @module
 */

import { pyFloatRepr, type PyJson, PyNumber } from "./py_json.ts";

/** Characters Python's `str.isprintable()` rejects (other than the ASCII space). */
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/**
 * Python `repr(s)` of a string.
 *
 * @param s the string
 * @returns the quoted, escaped literal
 *
 * @example
 * ```ts
 * import { pyStrRepr } from "./py_repr.ts";
 * const got = [pyStrRepr("总样本数"), pyStrRepr("it's"), pyStrRepr("a\nb\u0001"), pyStrRepr("\u200b")].join(" ");
 * if (got !== `'总样本数' "it's" 'a\\nb\\x01' '\\u200b'`) throw new Error(got);
 * ```
 */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === "\\") out += "\\" + ch;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (cp < 0x20 || cp === 0x7f) out += "\\x" + hex(cp, 2);
    else if (cp < 0x7f) out += ch;
    else if (!NON_PRINTABLE.test(ch)) out += ch;
    else if (cp <= 0xff) out += "\\x" + hex(cp, 2);
    else if (cp <= 0xffff) out += "\\u" + hex(cp, 4);
    else out += "\\U" + hex(cp, 8);
  }
  return out + quote;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/**
 * Python `repr(float(x))`, with Python's `inf` / `nan` spellings.
 *
 * @param x the number, taken as a Python float
 * @returns its repr
 *
 * @example
 * ```ts
 * import { pyFloatReprOf } from "./py_repr.ts";
 * if ([100, 66.67, 0, Infinity].map(pyFloatReprOf).join() !== "100.0,66.67,0.0,inf") throw new Error();
 * ```
 */
export function pyFloatReprOf(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  return pyFloatRepr(x);
}

/**
 * Python `repr()` of a JSON-like value. Plain JS numbers print as `int` when they are safe
 * integers, else as `float`; use a `PyNumber` to force a float (`new PyNumber("100.0", 100)`).
 *
 * @param value strings, numbers, booleans, null, `PyNumber`, arrays, `Map`s and plain objects
 * @returns the Python repr text
 *
 * @example
 * ```ts
 * import { pyRepr } from "./py_repr.ts";
 * import { PyNumber } from "./py_json.ts";
 * const v = { total: { "总样本数": 6, P: new PyNumber("100.0", 100), ok: true, x: null, l: [1, "a"] } };
 * const got = pyRepr(v);
 * if (got !== "{'total': {'总样本数': 6, 'P': 100.0, 'ok': True, 'x': None, 'l': [1, 'a']}}") throw new Error(got);
 * ```
 */
export function pyRepr(value: PyJson): string {
  switch (typeof value) {
    case "string":
      return pyStrRepr(value);
    case "number":
      return Number.isSafeInteger(value) ? (Object.is(value, -0) ? "0" : String(value)) : pyFloatReprOf(value);
    case "boolean":
      return value ? "True" : "False";
  }
  if (value === null) return "None";
  if (value instanceof PyNumber) return value.isInt ? value.repr : pyFloatReprOf(value.value);
  if (Array.isArray(value)) return "[" + value.map(pyRepr).join(", ") + "]";
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return "{" + entries.map(([k, v]) => pyStrRepr(k) + ": " + pyRepr(v)).join(", ") + "}";
}
