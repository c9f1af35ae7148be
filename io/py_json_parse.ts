/**
 * Parse JSON text as Python's `json.loads` reads it, keeping what a plain `JSON.parse` loses
 * when the value is written back with `pyDumps`: the order of integer-like object keys, the
 * spelling of numbers (`1.0` stays a float, big integers stay exact), and the `NaN` /
 * `Infinity` literals Python accepts. The common case (no such values) goes through the
 * native `JSON.parse` and costs one extra walk over the result.
 *
 * @module
 */

import { pyFloatRepr, type PyJson, PyNumber } from "./py_json.ts";

/**
 * Invalid JSON text, with the 1-based column where reading stopped.
 *
 * @example
 * ```ts
 * import { JsonSyntaxError, parsePyJson } from "./py_json_parse.ts";
 * try { parsePyJson('{"a": }'); } catch (e) { if (!(e instanceof JsonSyntaxError) || e.column !== 7) throw e; }
 * ```
 */
export class JsonSyntaxError extends Error {
  /** 1-based column (UTF-16 units) in the text. */
  readonly column: number;
  /**
   * Create a `JsonSyntaxError`.
   *
   * @param message what was expected
   * @param column 1-based column
   */
  constructor(message: string, column: number) {
    super(`invalid JSON: ${message} at column ${column}`);
    this.name = "JsonSyntaxError";
    this.column = column;
  }
}

/**
 * Parse one JSON text with Python `json.loads` semantics.
 *
 * @param text the JSON text (surrounding whitespace allowed)
 * @param rewritten whether the value may be written back with `pyDumps` (default true). When
 *   false (a reader that only takes strings out of it), the native result is kept as it is,
 *   without the walk that looks for integer-like keys and number spellings; Python's literals
 *   (`NaN`, `Infinity`) are still read.
 * @returns the value; objects are plain objects, or `Map`s where key order would otherwise change
 *
 * @example
 * ```ts
 * import { parsePyJson } from "./py_json_parse.ts";
 * import { pyDumps } from "./py_json.ts";
 * const t = '{"b": 1.0, "1": [NaN, 12345678901234567890]}';
 * if (pyDumps(parsePyJson(t)) !== t) throw new Error(pyDumps(parsePyJson(t)));
 * // Not written back: the same values, read by the native parser alone.
 * if ((parsePyJson('{"1": "a", "b": 1.0}', false) as { b: number }).b !== 1) throw new Error();
 * ```
 */
export function parsePyJson(text: string, rewritten = true): PyJson {
  let value: PyJson;
  try {
    value = JSON.parse(text);
  } catch {
    return new FaithfulParser(text).parseDocument();
  }
  return rewritten && needsFaithful(value) ? new FaithfulParser(text).parseDocument() : value;
}

/** True when `JSON.parse` may have lost something `pyDumps` would print differently. */
function needsFaithful(v: unknown): boolean {
  if (typeof v === "number") return Number.isInteger(v); // `1` or `1.0`? big or -0? ask the text
  if (typeof v !== "object" || v === null) return false;
  if (Array.isArray(v)) {
    for (const x of v) if (needsFaithful(x)) return true;
    return false;
  }
  for (const k in v) {
    if (isIndexKey(k)) return true;
    if (needsFaithful((v as Record<string, unknown>)[k])) return true;
  }
  return false;
}

/** Keys that JS objects enumerate first (array indices): canonical integers below 2^32 − 1. */
function isIndexKey(k: string): boolean {
  const c = k.charCodeAt(0);
  if (c < 48 || c > 57) return false;
  if (k.length > 10 || (k.length > 1 && c === 48)) return false;
  for (let i = 1; i < k.length; i++) {
    const d = k.charCodeAt(i);
    if (d < 48 || d > 57) return false;
  }
  return Number(k) < 4294967295;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;

class FaithfulParser {
  private pos = 0;
  constructor(private readonly text: string) {}

  parseDocument(): PyJson {
    this.skipWs();
    const v = this.parseValue();
    this.skipWs();
    if (this.pos < this.text.length) this.fail("extra data after the value");
    return v;
  }

  private fail(msg: string): never {
    throw new JsonSyntaxError(msg, this.pos + 1);
  }

  private skipWs(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos++;
      else break;
    }
  }

  private parseValue(): PyJson {
    const t = this.text;
    const c = t[this.pos];
    if (c === "{") return this.parseObject();
    if (c === "[") return this.parseArray();
    if (c === '"') return this.parseString();
    if (t.startsWith("true", this.pos)) return this.pos += 4, true;
    if (t.startsWith("false", this.pos)) return this.pos += 5, false;
    if (t.startsWith("null", this.pos)) return this.pos += 4, null;
    if (t.startsWith("NaN", this.pos)) return this.pos += 3, new PyNumber("NaN", NaN);
    if (t.startsWith("Infinity", this.pos)) return this.pos += 8, new PyNumber("Infinity", Infinity);
    if (t.startsWith("-Infinity", this.pos)) return this.pos += 9, new PyNumber("-Infinity", -Infinity);
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(t);
    if (m === null) this.fail(this.pos >= t.length ? "unexpected end, expected a value" : "expected a value");
    this.pos += m[0].length;
    const value = Number(m[0]);
    if (m[1] === undefined && m[2] === undefined) {
      if (Number.isSafeInteger(value)) return Object.is(value, -0) ? 0 : value;
      return new PyNumber(BigInt(m[0]).toString(), value, true);
    }
    return Number.isInteger(value) || !Number.isFinite(value) ? new PyNumber(pyFloatRepr(value), value) : value;
  }

  private parseArray(): PyJson[] {
    this.pos++;
    const out: PyJson[] = [];
    this.skipWs();
    if (this.text[this.pos] === "]") return this.pos++, out;
    for (;;) {
      this.skipWs();
      out.push(this.parseValue());
      this.skipWs();
      const c = this.text[this.pos++];
      if (c === "]") return out;
      if (c !== ",") this.pos--, this.fail("expected ',' or ']'");
    }
  }

  private parseObject(): PyJson {
    this.pos++;
    const out = new Map<string, PyJson>();
    this.skipWs();
    if (this.text[this.pos] === "}") return this.pos++, out;
    for (;;) {
      this.skipWs();
      if (this.text[this.pos] !== '"') this.fail("expected a property name in double quotes");
      const key = this.parseString();
      this.skipWs();
      if (this.text[this.pos] !== ":") this.fail("expected ':'");
      this.pos++;
      this.skipWs();
      out.set(key, this.parseValue()); // duplicate key: last value, first position (as Python)
      this.skipWs();
      const c = this.text[this.pos++];
      if (c === "}") return out;
      if (c !== ",") this.pos--, this.fail("expected ',' or '}'");
    }
  }

  private parseString(): string {
    const t = this.text;
    let i = ++this.pos;
    let run = i; // start of the text not yet copied to `out`
    let out = "";
    while (i < t.length) {
      const c = t.charCodeAt(i);
      if (c === 34) return this.pos = i + 1, out + t.slice(run, i);
      if (c < 32) this.pos = i, this.fail("control character in string");
      if (c !== 92) {
        i++;
        continue;
      }
      // Copy the plain run in one piece, then the escape.
      out += t.slice(run, i);
      const e = t[i + 1];
      const simple = ESCAPES[e];
      if (simple !== undefined) {
        out += simple;
        i += 2;
      } else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(t.slice(i + 2, i + 6))) {
        out += String.fromCharCode(parseInt(t.slice(i + 2, i + 6), 16));
        i += 6;
      } else {
        this.pos = i, this.fail("invalid escape");
      }
      run = i;
    }
    this.pos = t.length;
    this.fail("unterminated string");
  }
}

const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};
