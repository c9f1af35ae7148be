/**
 * Tuples from a parsed model output, per task, as IEPile's evaluator extracts them, with the
 * fixes this project makes where that evaluator is broken: EET is read like NER, SPO
 * like RE, KG gives real (entity, attribute, value) tuples, and RE/SPO items may use
 * `head`/`tail` where `subject`/`object` are missing.
 *
 * @module
 */

import { entriesOf, isJsonObject, type JsonObject } from "../io/json_object.ts";
import { type PyJson, PyNumber } from "../io/py_json.ts";
import type { EvalTask } from "./tasks.ts";

/**
 * The tuples one output (or one label) contributes to matching.
 *
 * | task | `tuples` | `arguments` |
 * |---|---|---|
 * | NER | (entity, entity type) | — |
 * | EET | (trigger, event type) | — |
 * | RE, SPO | (subject, relation, object) | — |
 * | KG | (entity, attribute, value) | — |
 * | EE | (event type, trigger) | (event type, argument, role) |
 * | EEA | (event type, `""`) | (event type, argument, role) |
 */
export interface TupleSet {
  /** The tuples of the task's single match (NER, RE, SPO, EET, KG) or of the event match (EE, EEA). */
  tuples: PyJson[][];
  /** EE and EEA: the argument tuples, pooled per event type; empty for other tasks. */
  arguments: PyJson[][];
}

/** Tuples from one output plus what was skipped on the way. */
export interface Extraction extends TupleSet {
  /** Values and items of the wrong shape that were skipped (the reference prints a diagnostic for each). */
  skipped: number;
}

/**
 * A model output whose shape the reference evaluator crashes on (EE `arguments` that is not an
 * object; a KG attribute list holding a non-string). `eval` stops with the record's location,
 * unless asked to count such outputs as errors.
 *
 * @example
 * ```ts
 * import { UnscorableOutputError } from "./extract.ts";
 * const e = new UnscorableOutputError("`arguments` is a list, not an object", "组织关系-裁员[0].arguments");
 * if (!e.message.includes("组织关系-裁员[0].arguments")) throw new Error(e.message);
 * ```
 */
export class UnscorableOutputError extends Error {
  /** Where in the output the problem is, e.g. `组织关系-裁员[0].arguments`. */
  readonly path: string;
  /** The problem alone. */
  readonly problem: string;
  /**
   * An output shape the reference cannot score.
   *
   * @param problem what is wrong
   * @param path where in the output
   */
  constructor(problem: string, path: string) {
    super(`${path}: ${problem}`);
    this.name = "UnscorableOutputError";
    this.problem = problem;
    this.path = path;
  }
}

/** Options for {@linkcode extractTuples}. */
export interface ExtractOptions {
  /**
   * RE/SPO: read `head`/`tail` where `subject`/`object` are missing (default true). The
   * converter writes RE targets with `head`/`tail`, but the reference evaluator reads only
   * `subject`/`object` and scores such items as `("", relation, "")`; false does the same.
   */
  headTail?: boolean;
}

/** The reference's "no value" marker for EE/EEA arguments (compared case-sensitively). */
const NAN_MARK = "NAN";

/**
 * Extract a parsed output's tuples for a task.
 *
 * @param task the task
 * @param output the output's top-level JSON object
 * @param options `headTail`: RE/SPO items may use `head`/`tail` (default true)
 * @returns the tuples and the count of skipped values
 * @throws {UnscorableOutputError} for shapes the reference crashes on
 *
 * @example
 * ```ts
 * import { extractTuples } from "./extract.ts";
 * const ner = extractTuples("NER", { person: ["Ann", 3], place: "Oslo" });
 * if (JSON.stringify(ner.tuples) !== '[["Ann","person"]]' || ner.skipped !== 2) throw new Error();
 * const ee = extractTuples("EE", { attack: [{ trigger: "hit", arguments: { victim: ["Bo", "NAN"], place: "NAN" } }] });
 * if (JSON.stringify(ee) !== '{"tuples":[["attack","hit"]],"arguments":[["attack","Bo","victim"]],"skipped":0}') {
 *   throw new Error(JSON.stringify(ee));
 * }
 * const kg = extractTuples("KG", { person: { Ann: { born: "1990", alias: ["A", "无"], job: "nan" } } });
 * if (JSON.stringify(kg.tuples) !== '[["Ann","born","1990"],["Ann","alias","A"]]') throw new Error();
 * const re = { "born in": [{ head: "Ann", tail: "Oslo" }] };
 * if (JSON.stringify(extractTuples("RE", re).tuples) !== '[["Ann","born in","Oslo"]]') throw new Error();
 * if (JSON.stringify(extractTuples("RE", re, { headTail: false }).tuples) !== '[["","born in",""]]') throw new Error();
 * ```
 */
export function extractTuples(task: EvalTask, output: JsonObject, options: ExtractOptions = {}): Extraction {
  const out: Extraction = { tuples: [], arguments: [], skipped: 0 };
  extractInto(task, output, out, options);
  return out;
}

/**
 * {@linkcode extractTuples} into caller-owned lists (appended to; `skipped` is added to), so a
 * caller scoring many outputs can reuse them.
 *
 * @param task the task
 * @param output the output's top-level JSON object
 * @param out where the tuples go
 * @param options `headTail`: RE/SPO items may use `head`/`tail` (default true)
 * @throws {UnscorableOutputError} for shapes the reference crashes on (`out` may then hold some tuples)
 *
 * @example
 * ```ts
 * import { type Extraction, extractInto } from "./extract.ts";
 * const out: Extraction = { tuples: [], arguments: [], skipped: 0 };
 * extractInto("NER", { person: ["Ann"] }, out);
 * extractInto("NER", { place: ["Oslo"] }, out);
 * if (out.tuples.length !== 2) throw new Error();
 * ```
 */
export function extractInto(task: EvalTask, output: JsonObject, out: Extraction, options: ExtractOptions = {}): void {
  const headTail = options.headTail ?? true;
  switch (task) {
    case "NER":
    case "EET":
      forEachList(output, out, (item, key) => {
        if (typeof item === "string") out.tuples.push([item, key]);
        else out.skipped++;
      });
      break;
    case "RE":
    case "SPO":
      forEachList(output, out, (item, key) => {
        if (!isJsonObject(item)) return void out.skipped++;
        const subject = pick(item, "subject", headTail ? "head" : undefined);
        const object = pick(item, "object", headTail ? "tail" : undefined);
        if (typeof subject === "string" && typeof object === "string") out.tuples.push([subject, key, object]);
        else out.skipped++;
      });
      break;
    case "EE":
      forEachList(output, out, (item, key, index) => {
        if (!isJsonObject(item)) return void out.skipped++;
        const trigger = has(item, "trigger") ? get(item, "trigger") : "";
        if (typeof trigger !== "string") return void out.skipped++;
        const args = has(item, "arguments") ? get(item, "arguments") : {};
        if (!isJsonObject(args)) {
          throw new UnscorableOutputError(
            `\`arguments\` is ${jsonKind(args)}, not an object (the reference evaluator stops here too)`,
            `${key}[${index}].arguments`,
          );
        }
        out.tuples.push([key, trigger]);
        addArguments(args, key, out.arguments);
      });
      break;
    case "EEA":
      forEachList(output, out, (item, key) => {
        if (!isJsonObject(item)) return void out.skipped++;
        out.tuples.push([key, ""]);
        addArguments(item, key, out.arguments);
      });
      break;
    case "KG":
      extractKg(output, out);
      break;
  }
}

function has(obj: JsonObject, key: string): boolean {
  return obj instanceof Map ? obj.has(key) : Object.hasOwn(obj, key);
}

function get(obj: JsonObject, key: string): PyJson {
  return (obj instanceof Map ? obj.get(key) : obj[key])!;
}

/** `obj[first]` if present, else `obj[second]` if given and present, else `""`. */
function pick(obj: JsonObject, first: string, second: string | undefined): PyJson {
  if (has(obj, first)) return get(obj, first);
  return second !== undefined && has(obj, second) ? get(obj, second) : "";
}

/** Visit the items of every list-valued top-level key; other values are skipped. */
function forEachList(
  output: JsonObject,
  out: Extraction,
  visit: (item: PyJson, key: string, index: number) => void,
): void {
  if (output instanceof Map) {
    for (const [key, value] of output) visitList(key, value, out, visit);
  } else {
    for (const key in output) visitList(key, output[key], out, visit);
  }
}

function visitList(
  key: string,
  value: PyJson,
  out: Extraction,
  visit: (item: PyJson, key: string, index: number) => void,
): void {
  if (!Array.isArray(value)) return void out.skipped++;
  for (let i = 0; i < value.length; i++) visit(value[i], key, i);
}

/** The reference's argument rule: list values give one tuple per element, `"NAN"` gives none. */
function addArguments(args: JsonObject, type: string, sink: PyJson[][]): void {
  if (args instanceof Map) {
    for (const [role, value] of args) addArgument(type, role, value, sink);
  } else {
    for (const role in args) addArgument(type, role, args[role], sink); // no entry pairs to allocate
  }
}

function addArgument(type: string, role: string, value: PyJson, sink: PyJson[][]): void {
  if (Array.isArray(value)) {
    for (const v of value) if (v !== NAN_MARK) sink.push([type, v, role]);
  } else if (value !== NAN_MARK) {
    sink.push([type, value, role]);
  }
}

/** `无` or any case of `nan`: the KG "no value" markers the reference drops. */
function isKgNone(s: string): boolean {
  return s === "无" || s.toLowerCase() === "nan";
}

function extractKg(output: JsonObject, out: Extraction): void {
  for (const [type, entities] of entriesOf(output)) {
    if (!isJsonObject(entities)) {
      out.skipped++;
      continue;
    }
    for (const [entity, attrs] of entriesOf(entities)) {
      if (!isJsonObject(attrs)) {
        out.skipped++;
        continue;
      }
      for (const [attr, value] of entriesOf(attrs)) {
        if (Array.isArray(value)) {
          value.forEach((v, i) => {
            if (typeof v !== "string") {
              throw new UnscorableOutputError(
                `attribute list holds ${jsonKind(v)}, not a string (the reference evaluator stops here too)`,
                `${type}.${entity}.${attr}[${i}]`,
              );
            }
            if (!isKgNone(v)) out.tuples.push([entity, attr, v]);
          });
        } else if (typeof value === "string") {
          if (!isKgNone(value)) out.tuples.push([entity, attr, value]);
        }
      }
    }
  }
}

/**
 * A JSON value's kind in words, for messages.
 *
 * @param v the value (`undefined` = absent)
 * @returns e.g. `a list`, `a number`, `missing`
 *
 * @example
 * ```ts
 * import { jsonKind } from "./extract.ts";
 * if (jsonKind([1]) !== "a list" || jsonKind(undefined) !== "missing") throw new Error();
 * ```
 */
export function jsonKind(v: PyJson | undefined): string {
  if (v === undefined) return "missing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "string") return "a string";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "number" || v instanceof PyNumber) return "a number";
  return "an object";
}
