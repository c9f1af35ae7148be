/**
 * Read one model output string as the reference does (Python `json.loads`, nothing repaired),
 * or leniently (see `repairJson`) when asked.
 *
 * @module
 */

import { isJsonObject, type JsonObject } from "../io/json_object.ts";
import type { PyJson } from "../io/py_json.ts";
import { parsePyJson } from "../io/py_json_parse.ts";
import { type Repair, repairJson } from "./lenient_json.ts";

/** Why an output gives no tuples at all. */
export type OutputProblem =
  /** The text is empty or blank. */
  | "empty"
  /** `json.loads` fails (and, when lenient, no repair helps). */
  | "invalid-json"
  /** Valid JSON, but not an object (a list, a string, …). */
  | "not-object";

/** The result of reading one model output. */
export type ParsedOutput =
  | {
    /** The output is a JSON object. */
    ok: true;
    /** The object. */
    value: JsonObject;
    /** Repairs applied to read it (always empty in strict mode). */
    repairs: readonly Repair[];
  }
  | {
    /** The output cannot be scored; the reference counts it in `错误数`. */
    ok: false;
    /** What is wrong. */
    problem: OutputProblem;
  };

/** Options for {@linkcode parseOutput}. */
export interface ParseOutputOptions {
  /** Repair common damage when strict reading fails (default false). */
  lenient?: boolean;
}

const NO_REPAIRS: readonly Repair[] = Object.freeze([]);
const EMPTY: ParsedOutput = Object.freeze({ ok: false, problem: "empty" });
const INVALID: ParsedOutput = Object.freeze({ ok: false, problem: "invalid-json" });
const NOT_OBJECT: ParsedOutput = Object.freeze({ ok: false, problem: "not-object" });

/**
 * Read a model output. Strict mode is Python's `json.loads` (surrounding whitespace, `NaN`,
 * duplicate keys as Python reads them; no fence or prefix stripping); an output that is not a
 * JSON object is a failure, counted as one error by the reference.
 *
 * @param text the raw output string
 * @param options `lenient`: when strict reading fails, try {@linkcode repairJson}
 * @returns the object, or why there is none
 *
 * @example
 * ```ts
 * import { parseOutput } from "./parse_output.ts";
 * const strict = parseOutput('{"person": ["Ann"]} trailing words');
 * if (strict.ok || strict.problem !== "invalid-json") throw new Error();
 * const lenient = parseOutput('{"person": ["Ann"]} trailing words', { lenient: true });
 * if (!lenient.ok || lenient.repairs.join() !== "trailing-text") throw new Error();
 * if (parseOutput('["Ann"]').ok || parseOutput(" \n").ok) throw new Error();
 * ```
 */
export function parseOutput(text: string, options: ParseOutputOptions = {}): ParsedOutput {
  const strict = readOutputObject(text);
  if (typeof strict !== "string") return { ok: true, value: strict, repairs: NO_REPAIRS };
  if (!options.lenient || strict !== "invalid-json") return PROBLEMS[strict];
  const repaired = repairJson(text);
  return repaired === undefined ? PROBLEMS[strict] : { ok: true, value: repaired.value, repairs: repaired.repairs };
}

const PROBLEMS: Record<OutputProblem, ParsedOutput> = {
  "empty": EMPTY,
  "invalid-json": INVALID,
  "not-object": NOT_OBJECT,
};

/**
 * Strict {@linkcode parseOutput} without the result wrapper: the object, or what is wrong.
 *
 * @param text the raw output string
 * @returns the JSON object, or the problem
 *
 * @example
 * ```ts
 * import { readOutputObject } from "./parse_output.ts";
 * if (readOutputObject('{"a": [') !== "invalid-json" || readOutputObject("[]") !== "not-object") throw new Error();
 * ```
 */
export function readOutputObject(text: string): JsonObject | OutputProblem {
  // Cheap checks first: most failures are answers cut off mid-way, which cannot end with `}`.
  let a = 0;
  let b = text.length - 1;
  while (a <= b && isJsonSpace(text.charCodeAt(a))) a++;
  if (a > b) return "empty";
  while (isJsonSpace(text.charCodeAt(b))) b--;
  if (text.charCodeAt(a) === 123 && text.charCodeAt(b) !== 125) return "invalid-json"; // `{…` must end with `}`
  let value: PyJson;
  try {
    value = parseJsonAsPython(text);
  } catch {
    return "invalid-json";
  }
  return isJsonObject(value) ? value : "not-object";
}

/** JSON's whitespace, the only kind Python's `json.loads` skips. */
function isJsonSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/**
 * Whether the text holds a run of 16 or more ASCII digits: an integer literal that may exceed
 * 2^53, which only Python-faithful parsing keeps exact. Such a run covers one of every 16
 * positions, so only those are read, and a digit there is widened to its run: several times
 * fewer reads than the regular expression `/\d{16}/` makes on text with few digits.
 */
function hasLongDigitRun(text: string): boolean {
  const n = text.length;
  for (let i = 15; i < n; i += 16) {
    if (!isDigit(text.charCodeAt(i))) continue;
    let a = i - 1;
    while (a >= 0 && isDigit(text.charCodeAt(a))) a--;
    let b = i + 1;
    while (b < n && isDigit(text.charCodeAt(b))) b++;
    if (b - a - 1 >= 16) return true;
  }
  return false;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Parse JSON text with Python `json.loads` semantics where they affect equality: the native
 * `JSON.parse` for the usual text, `parsePyJson` when the text may hold `NaN` / `Infinity` (which
 * only Python accepts) or integers beyond 2^53 (which `JSON.parse` rounds). Key order of
 * integer-like keys may differ from Python's; tuple counts do not depend on it.
 *
 * @param text the JSON text
 * @returns the value
 * @throws {SyntaxError} (or `JsonSyntaxError`) for invalid JSON
 *
 * @example
 * ```ts
 * import { parseJsonAsPython } from "./parse_output.ts";
 * import { PyNumber } from "../io/py_json.ts";
 * const v = parseJsonAsPython('{"a": [NaN, 12345678901234567891]}') as Map<string, PyNumber[]>;
 * if (v.get("a")![1].repr !== "12345678901234567891") throw new Error();
 * ```
 */
export function parseJsonAsPython(text: string): PyJson {
  let value: PyJson;
  try {
    value = JSON.parse(text);
  } catch (e) {
    if (text.includes("NaN") || text.includes("Infinity")) return parsePyJson(text);
    throw e;
  }
  return hasLongDigitRun(text) ? parsePyJson(text) : value;
}
