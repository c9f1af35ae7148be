/**
 * JSON text exactly as Python's `json.dumps(value, ensure_ascii=False)` writes it: `", "` and
 * `": "` separators, raw non-ASCII, lowercase `\u00XX` escapes, Python float spelling
 * (`1.0`, `1e-05`, `NaN`), and object keys in insertion order even when they look like
 * integers (use a `Map` for those; plain JS objects move integer-like keys to the front).
 *
 * @module
 */

/**
 * A JSON number kept as Python would print it. The faithful parser uses it for numbers whose
 * spelling a JS `number` would lose: integral floats (`1.0`), big integers, `-0`.
 *
 * @example
 * ```ts
 * import { PyNumber, pyDumps } from "./py_json.ts";
 * if (pyDumps([new PyNumber("1.0", 1)]) !== "[1.0]") throw new Error();
 * ```
 */
export class PyNumber {
  /** The Python spelling (`repr`) of the number. */
  readonly repr: string;
  /** The value as a JS number (may be inexact for big integers). */
  readonly value: number;
  /** Whether Python holds it as `int` (else `float`). */
  readonly isInt: boolean;
  /**
   * Create a `PyNumber`.
   *
   * @param repr the Python spelling
   * @param value the numeric value
   * @param isInt true for Python `int`
   */
  constructor(repr: string, value: number, isInt = false) {
    this.repr = repr;
    this.value = value;
    this.isInt = isInt;
  }
}

/** A JSON value as read by Python: objects may be `Map`s (ordered, integer-like keys kept in place). */
export type PyJson =
  | string
  | number
  | boolean
  | null
  | PyNumber
  | PyJson[]
  | Map<string, PyJson>
  | { [key: string]: PyJson };

/**
 * A string as a JSON string literal, as Python writes it with `ensure_ascii=False`.
 * Throws on lone surrogates (Python cannot encode them to UTF-8 either).
 *
 * @param s the string
 * @returns the quoted, escaped literal
 *
 * @example
 * ```ts
 * import { pyStr } from "./py_json.ts";
 * if (pyStr('a"\u0001é') !== '"a\\"\\u0001é"') throw new Error();
 * ```
 */
export function pyStr(s: string): string {
  if (!s.isWellFormed()) throw new LoneSurrogateError(s);
  // For well-formed strings ECMAScript's escaping equals Python's: `"`, `\`, \b \f \n \r \t,
  // other controls as lowercase \u00xx, everything else (DEL, U+2028, astral) raw.
  return JSON.stringify(s);
}

/**
 * Thrown when a string with an unpaired UTF-16 surrogate would be written.
 *
 * @example
 * ```ts
 * import { LoneSurrogateError, pyStr } from "./py_json.ts";
 * try { pyStr("\ud800"); throw new Error("no throw"); } catch (e) { if (!(e instanceof LoneSurrogateError)) throw e; }
 * ```
 */
export class LoneSurrogateError extends Error {
  /**
   * Create a `LoneSurrogateError`.
   *
   * @param s the offending string
   */
  constructor(s: string) {
    super(`string contains an unpaired surrogate and cannot be written as UTF-8: ${JSON.stringify(s.slice(0, 40))}`);
    this.name = "LoneSurrogateError";
  }
}

/**
 * Python's `repr(float(x))`: shortest round-trip digits, fixed notation when the decimal exponent
 * is in (-4, 16], otherwise `d.ddde±XX` with at least two exponent digits.
 *
 * @param x a JS number taken as a Python float
 * @returns the Python spelling
 *
 * @example
 * ```ts
 * import { pyFloatRepr } from "./py_json.ts";
 * const got = [1, 0.1, 1e16, 1e-5, -0, 123.5, NaN].map(pyFloatRepr).join(" ");
 * if (got !== "1.0 0.1 1e+16 1e-05 -0.0 123.5 NaN") throw new Error(got);
 * ```
 */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const [mantissa, expText] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const exp = Number(expText);
  const decpt = exp + 1; // value = 0.DIGITS × 10^decpt
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${"0".repeat(-decpt)}${digits}`;
    if (decpt >= digits.length) return `${sign}${digits}${"0".repeat(decpt - digits.length)}.0`;
    return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
  }
  const frac = digits.length > 1 ? "." + digits.slice(1) : "";
  const e = Math.abs(exp);
  return `${sign}${digits[0]}${frac}e${exp < 0 ? "-" : "+"}${e < 10 ? "0" + e : e}`;
}

/**
 * A JS number printed as Python prints the JSON number it came from: safe integers as `int`,
 * everything else as `float`.
 *
 * @param x the number
 * @returns its Python spelling
 *
 * @example
 * ```ts
 * import { pyNumber } from "./py_json.ts";
 * if (pyNumber(3) !== "3" || pyNumber(0.5) !== "0.5" || pyNumber(1e300) !== "1e+300") throw new Error();
 * ```
 */
export function pyNumber(x: number): string {
  if (Number.isSafeInteger(x)) return Object.is(x, -0) ? "0" : String(x);
  return pyFloatRepr(x);
}

/**
 * Serialize like Python `json.dumps(value, ensure_ascii=False)`.
 *
 * @param value strings, numbers, booleans, null, `PyNumber`, arrays, `Map`s and plain objects
 * @returns the JSON text
 *
 * @example
 * ```ts
 * import { pyDumps } from "./py_json.ts";
 * const m = new Map<string, unknown>([["b", 1], ["1", ["é", true, null]]]);
 * if (pyDumps(m as never) !== '{"b": 1, "1": ["é", true, null]}') throw new Error(pyDumps(m as never));
 * ```
 */
export function pyDumps(value: PyJson): string {
  switch (typeof value) {
    case "string":
      return pyStr(value);
    case "number":
      return pyNumber(value);
    case "boolean":
      return value ? "true" : "false";
  }
  if (value === null) return "null";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    let out = "[" + pyDumps(value[0]);
    for (let i = 1; i < value.length; i++) out += ", " + pyDumps(value[i]);
    return out + "]";
  }
  if (value instanceof PyNumber) return value.repr;
  let out = "";
  if (value instanceof Map) {
    for (const [k, v] of value) out += (out === "" ? "{" : ", ") + pyStr(k) + ": " + pyDumps(v);
  } else {
    // Keys without the [key, value] pairs of Object.entries: the usual record is many small objects.
    const keys = Object.keys(value);
    for (let i = 0; i < keys.length; i++) {
      out += (i === 0 ? "{" : ", ") + quotedKey(keys[i]) + ": " + pyDumps(value[keys[i]]);
    }
  }
  return out === "" ? "{}" : out + "}";
}

/**
 * `pyDumps(value)` escaped once more, as the inside of a JSON string literal: the same text as
 * `JSON.stringify(pyDumps(value)).slice(1, -1)`, written in one pass. Strings with nothing to
 * escape (the usual case) are copied between `\\"` quotes instead of being escaped twice.
 *
 * @param value strings, numbers, booleans, null, `PyNumber`, arrays, `Map`s and plain objects
 * @param plain true when the caller knows no string value holds a character to escape or an
 *   unpaired surrogate (e.g. it was read from a JSON line without a backslash): string values
 *   are then copied between quotes unchecked
 * @returns the JSON text, escaped as the inside of a JSON string
 *
 * @example
 * ```ts
 * import { pyDumpsEscaped } from "./py_json.ts";
 * const got = pyDumpsEscaped({ a: ["x\n", 1] });
 * if (got !== '{\\"a\\": [\\"x\\\\n\\", 1]}') throw new Error(got);
 * if (pyDumpsEscaped({ a: ["x", 1] }, true) !== '{\\"a\\": [\\"x\\", 1]}') throw new Error();
 * ```
 */
export function pyDumpsEscaped(value: PyJson, plain?: boolean): string {
  switch (typeof value) {
    case "string":
      return pyStrEscaped(value, plain);
    case "number":
      return pyNumber(value);
    case "boolean":
      return value ? "true" : "false";
  }
  if (value === null) return "null";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    let out = "[" + pyDumpsEscaped(value[0], plain);
    for (let i = 1; i < value.length; i++) out += ", " + pyDumpsEscaped(value[i], plain);
    return out + "]";
  }
  // Number spellings (`1.0`, `NaN`, `-1e+300`) hold nothing JSON escapes.
  if (value instanceof PyNumber) return value.repr;
  let out = "";
  if (value instanceof Map) {
    for (const [k, v] of value) {
      out += (out === "" ? "{" : ", ") + pyStrEscaped(k) + ": " + pyDumpsEscaped(v, plain);
    }
  } else {
    const keys = Object.keys(value);
    for (let i = 0; i < keys.length; i++) {
      out += (i === 0 ? "{" : ", ") + escapedKey(keys[i]) + ": " + pyDumpsEscaped(value[keys[i]], plain);
    }
  }
  return out === "" ? "{}" : out + "}";
}

/** Characters JSON escapes (`"`, `\\`, controls); text without them is written as it is. */
// deno-lint-ignore no-control-regex -- the control characters are what it looks for
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

/**
 * `pyStr(s)` as the inside of a JSON string literal: the same text as
 * `JSON.stringify(pyStr(s)).slice(1, -1)`. A string with nothing to escape (the usual case) is
 * copied between `\\"` quotes instead of being escaped twice.
 *
 * @param s the string
 * @param plain true when the caller knows `s` holds no character to escape and no unpaired
 *   surrogate (e.g. it was read from a JSON line without a backslash): it is then copied
 *   between quotes unchecked
 * @returns the quoted literal, escaped once more
 * @throws {LoneSurrogateError} on an unpaired surrogate, as `pyStr`
 *
 * @example
 * ```ts
 * import { pyStrEscaped } from "./py_json.ts";
 * if (pyStrEscaped("Bob") !== '\\"Bob\\"' || pyStrEscaped('a"b') !== '\\"a\\\\\\"b\\"') throw new Error();
 * if (pyStrEscaped("Bob", true) !== '\\"Bob\\"') throw new Error();
 * // Short and long, plain, astral, with controls: as escaping `pyStr` once more gives.
 * for (const s of ["é😀", "a\tb", "x".repeat(60) + "\u0001", "😀".repeat(30)]) {
 *   if (pyStrEscaped(s) !== JSON.stringify(JSON.stringify(s)).slice(1, -1)) throw new Error(s);
 * }
 * try { pyStrEscaped("a\ud800"); throw new Error("no throw"); } catch (e) { if ((e as Error).name !== "LoneSurrogateError") throw e; }
 * ```
 */
export function pyStrEscaped(s: string, plain?: boolean): string {
  if (plain === true || plainText(s)) return '\\"' + s + '\\"';
  const twice = JSON.stringify(pyStr(s));
  return twice.slice(1, twice.length - 1);
}

/**
 * True when `s` holds nothing JSON escapes and no unpaired surrogate. Short strings (names,
 * answers) are read in a loop, which costs less per call than a regular expression; a
 * surrogate sends them the long way, which checks the pairing.
 */
function plainText(s: string): boolean {
  if (s.length > 48) return s.isWellFormed() && !NEEDS_ESCAPE.test(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 34 || c === 92) return false;
    if (c >= 0xd800 && c <= 0xdfff) return s.isWellFormed() && !NEEDS_ESCAPE.test(s);
  }
  return true;
}

/** Object keys as escaped JSON text (see `pyStrEscaped`), remembered like `quotedKey`. */
let escapedKeys = new Map<string, string>();

function escapedKey(key: string): string {
  let q = escapedKeys.get(key);
  if (q === undefined) {
    if (escapedKeys.size >= 10_000) escapedKeys = new Map();
    escapedKeys.set(key, q = pyStrEscaped(key));
  }
  return q;
}

/** Object keys as JSON text, remembered: records repeat the same few field names. */
let quotedKeys = new Map<string, string>();

function quotedKey(key: string): string {
  let q = quotedKeys.get(key);
  if (q === undefined) {
    if (quotedKeys.size >= 10_000) quotedKeys = new Map();
    quotedKeys.set(key, q = pyStr(key));
  }
  return q;
}

/**
 * A list of strings as Python writes it (fast path of `pyDumps` for the common case).
 *
 * @param items the strings
 * @returns the JSON text, e.g. `["a", "b"]`
 *
 * @example
 * ```ts
 * import { pyStrList } from "./py_json.ts";
 * if (pyStrList(["a", "b"]) !== '["a", "b"]' || pyStrList([]) !== "[]") throw new Error();
 * ```
 */
export function pyStrList(items: readonly string[]): string {
  if (items.length === 0) return "[]";
  let out = "[" + pyStr(items[0]);
  for (let i = 1; i < items.length; i++) out += ", " + pyStr(items[i]);
  return out + "]";
}

/**
 * `pyStrList(items)` as the inside of a JSON string literal (see `pyStrEscaped`).
 *
 * @param items the strings
 * @returns the JSON text escaped once more, e.g. `[\\"a\\", \\"b\\"]`
 *
 * @example
 * ```ts
 * import { pyStrList, pyStrListEscaped } from "./py_json.ts";
 * const items = ["a", 'q"'];
 * if (pyStrListEscaped(items) !== JSON.stringify(pyStrList(items)).slice(1, -1)) throw new Error();
 * ```
 */
export function pyStrListEscaped(items: readonly string[]): string {
  if (items.length === 0) return "[]";
  let out = "[" + pyStrEscaped(items[0]);
  for (let i = 1; i < items.length; i++) out += ", " + pyStrEscaped(items[i]);
  return out + "]";
}
