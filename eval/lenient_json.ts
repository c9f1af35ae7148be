/**
 * Repair the JSON damage language models commonly produce, for `eval --lenient`: a Markdown
 * code fence around the answer, text before or after the JSON object, an answer cut off
 * mid-way (the incomplete last value is dropped and the open brackets are closed), single-quoted
 * strings, Python literals (`True`, `False`, `None`) and trailing commas.
 *
 * @module
 */

import type { PyJson } from "../io/py_json.ts";
import { PyNumber } from "../io/py_json.ts";

/** One kind of repair applied to a model output. */
export type Repair =
  | "fence"
  | "leading-text"
  | "trailing-text"
  | "truncated"
  | "single-quotes"
  | "python-literals"
  | "trailing-comma";

/** Every repair kind, in the order reports list them. */
export const REPAIRS: readonly Repair[] = [
  "fence",
  "leading-text",
  "trailing-text",
  "truncated",
  "single-quotes",
  "python-literals",
  "trailing-comma",
];

/** A repaired output: the JSON object found and what had to be fixed to read it. */
export interface Repaired {
  /** The object read from the text (objects are `Map`s, in document order). */
  value: Map<string, PyJson>;
  /** The repairs applied, in {@linkcode REPAIRS} order, without duplicates. */
  repairs: Repair[];
}

/**
 * Find and read the JSON object in a damaged model output.
 *
 * @param text the raw model output
 * @returns the object and the repairs applied, or `undefined` when no object can be recovered
 *
 * @example
 * ```ts
 * import { repairJson } from "./lenient_json.ts";
 * const fence = "\x60\x60\x60";
 * const r = repairJson(fence + "json\n{'person': ['Ann', 'Bo\n");
 * if (!r || JSON.stringify([...r.value]) !== '[["person",["Ann"]]]') throw new Error();
 * if (r.repairs.join() !== "fence,truncated,single-quotes") throw new Error(r.repairs.join());
 * ```
 */
export function repairJson(text: string): Repaired | undefined {
  const repairs = new Set<Repair>();
  let body = text;
  const fence = /```[\w-]*[^\S\n]*\n?([\s\S]*?)(?:```|$)/.exec(text);
  if (fence !== null) {
    body = fence[1];
    repairs.add("fence");
  }
  const start = body.indexOf("{");
  if (start < 0) return undefined;
  if (body.slice(0, start).trim() !== "") repairs.add("leading-text");
  const parser = new TolerantParser(body, start, repairs);
  let value: PyJson | typeof CUT;
  try {
    value = parser.parseValue();
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  }
  if (value === CUT || !(value instanceof Map)) return undefined;
  if (!parser.truncated && body.slice(parser.pos).trim() !== "") repairs.add("trailing-text");
  return { value, repairs: REPAIRS.filter((r) => repairs.has(r)) };
}

/** Returned for a value that the end of the text cut off before it was complete. */
const CUT: unique symbol = Symbol("cut");

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?/y;
const ESCAPES: Record<string, string> = { b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/**
 * A forgiving recursive-descent JSON reader. Reaching the end of the text sets `truncated`;
 * every open container then returns what it holds so far, without the cut-off value.
 */
class TolerantParser {
  pos: number;
  truncated = false;
  constructor(private readonly text: string, start: number, private readonly repairs: Set<Repair>) {
    this.pos = start;
  }

  private skipWs(): void {
    const t = this.text;
    while (this.pos < t.length && /\s/.test(t[this.pos])) this.pos++;
  }

  private atEnd(): boolean {
    this.skipWs();
    if (this.pos < this.text.length) return false;
    this.truncated = true;
    this.repairs.add("truncated");
    return true;
  }

  parseValue(): PyJson | typeof CUT {
    if (this.atEnd()) return CUT;
    const t = this.text;
    const c = t[this.pos];
    if (c === "{") return this.parseObject();
    if (c === "[") return this.parseArray();
    if (c === '"' || c === "'") return this.parseString();
    for (const [word, value, python] of LITERALS) {
      if (t.startsWith(word, this.pos)) {
        this.pos += word.length;
        if (python) this.repairs.add("python-literals");
        return value;
      }
      if (t.length - this.pos < word.length && word.startsWith(t.slice(this.pos))) {
        this.pos = t.length; // a literal cut off by the end
        return this.cut();
      }
    }
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(t);
    if (m === null) {
      if (t[this.pos] === "-" && this.pos === t.length - 1) return this.pos++, this.cut();
      throw new SyntaxError(`unexpected character at ${this.pos}`);
    }
    this.pos += m[0].length;
    if (this.pos >= t.length) return this.cut(); // the number may go on
    const n = Number(m[0]);
    if (Number.isInteger(n) && !Number.isSafeInteger(n) && !/[.eE]/.test(m[0])) {
      return new PyNumber(BigInt(m[0]).toString(), n, true);
    }
    return n;
  }

  private cut(): typeof CUT {
    this.truncated = true;
    this.repairs.add("truncated");
    return CUT;
  }

  private parseObject(): Map<string, PyJson> {
    this.pos++;
    const out = new Map<string, PyJson>();
    for (;;) {
      if (this.atEnd()) return out;
      const c = this.text[this.pos];
      if (c === "}") return this.pos++, out;
      if (c !== '"' && c !== "'") throw new SyntaxError(`expected a key at ${this.pos}`);
      const key = this.parseString();
      if (key === CUT || this.atEnd()) return out;
      if (this.text[this.pos] !== ":") throw new SyntaxError(`expected ':' at ${this.pos}`);
      this.pos++;
      const value = this.parseValue();
      if (value === CUT) return out;
      out.set(key, value);
      if (this.truncated || this.atEnd()) return out;
      const sep = this.text[this.pos++];
      if (sep === "}") return out;
      if (sep !== ",") throw new SyntaxError(`expected ',' or '}' at ${this.pos - 1}`);
      if (this.atEnd()) return out;
      if (this.text[this.pos] === "}") {
        this.repairs.add("trailing-comma");
        return this.pos++, out;
      }
    }
  }

  private parseArray(): PyJson[] {
    this.pos++;
    const out: PyJson[] = [];
    for (;;) {
      if (this.atEnd()) return out;
      if (this.text[this.pos] === "]") return this.pos++, out;
      const value = this.parseValue();
      if (value === CUT) return out;
      out.push(value);
      if (this.truncated || this.atEnd()) return out;
      const sep = this.text[this.pos++];
      if (sep === "]") return out;
      if (sep !== ",") throw new SyntaxError(`expected ',' or ']' at ${this.pos - 1}`);
      if (this.atEnd()) return out;
      if (this.text[this.pos] === "]") {
        this.repairs.add("trailing-comma");
        return this.pos++, out;
      }
    }
  }

  private parseString(): string | typeof CUT {
    const t = this.text;
    const quote = t[this.pos++];
    if (quote === "'") this.repairs.add("single-quotes");
    let out = "";
    while (this.pos < t.length) {
      const c = t[this.pos];
      if (c === quote) return this.pos++, out;
      if (c !== "\\") {
        out += c;
        this.pos++;
        continue;
      }
      const e = t[this.pos + 1];
      if (e === undefined) break;
      if (e === "u") {
        const hex = t.slice(this.pos + 2, this.pos + 6);
        if (/^[0-9a-fA-F]{4}$/.test(hex)) {
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 6;
          continue;
        }
        if (this.pos + 6 > t.length) break; // escape cut off by the end
      }
      out += ESCAPES[e] ?? e; // `\"`, `\'`, `\\`, `\/` and unknown escapes keep the character
      this.pos += 2;
    }
    this.pos = t.length;
    return this.cut();
  }
}

const LITERALS: ReadonlyArray<readonly [string, PyJson, boolean]> = [
  ["true", true, false],
  ["false", false, false],
  ["null", null, false],
  ["True", true, true],
  ["False", false, true],
  ["None", null, true],
  ["NaN", new PyNumber("NaN", NaN), false],
  ["Infinity", new PyNumber("Infinity", Infinity), false],
  ["-Infinity", new PyNumber("-Infinity", -Infinity), false],
];
