/**
 * The JSON shape an IE model must answer in, built from an instruction's `schema` as IEPile's
 * converter writes training targets: the keys are the schema items in order, with Python's `json.dumps` spelling. NER/EET:
 * lists of strings; RE/SPO: lists of `{subject, object}`; EE: events with `trigger` and
 * `arguments`; EEA: argument objects; KG: instances mapped to attribute objects.
 *
 * @module
 */

import { IEPILE_TASKS, schemaKeyField, type Task } from "../../io/tasks.ts";
import { InputError } from "../../io/errors.ts";

/** A JSON string. `span`: an answer taken from the input text (subject to `--extractive`). */
export interface StringShape {
  /** The kind of shape. */
  kind: "string";
  /** The value is a span of the input text. */
  span: boolean;
  /** The literal `"NAN"` (IEPile's "absent") is also accepted. */
  nan?: boolean;
}

/** `[item, item, …]` (possibly empty). */
export interface ListShape {
  /** The kind of shape. */
  kind: "list";
  /** The shape of each item. */
  item: Shape;
}

/** An object with known keys, in order. */
export interface ObjectShape {
  /** The kind of shape. */
  kind: "object";
  /** The keys, in order. */
  keys: readonly string[];
  /** The value shape of each key. */
  values: readonly Shape[];
  /** Keys may be left out (those present keep the order); else every key is present. */
  optional?: boolean;
  /** `{}` is accepted even when keys are required (EE: an event with none of the asked roles). */
  allowEmpty?: boolean;
}

/** An object whose keys are spans (KG instances), each mapped to `value`. */
export interface MapShape {
  /** The kind of shape. */
  kind: "map";
  /** The shape of each key (a span). */
  key: StringShape;
  /** The shape of each value. */
  value: Shape;
}

/** One of several shapes that start differently (a string `"`, a list `[`, an object `{`). */
export interface AltShape {
  /** The kind of shape. */
  kind: "alt";
  /** The conversion options. */
  options: readonly Shape[];
}

/** A JSON shape. */
export type Shape = StringShape | ListShape | ObjectShape | MapShape | AltShape;

/** Options of {@linkcode shapeForSchema}. */
export interface ShapeOptions {
  /** Keys of RE/SPO pairs (default `["subject", "object"]`, as IEPile's README and corpus; the converter writes `head`/`tail`). */
  pairKeys?: readonly [string, string];
}

const span: StringShape = { kind: "string", span: true };
const spanOrNan: StringShape = { kind: "string", span: true, nan: true };
const argumentValue: Shape = { kind: "alt", options: [spanOrNan, { kind: "list", item: span }] };

/**
 * The answer shape for one instruction's schema.
 *
 * @param task the IEPile task
 * @param schema the instruction's `schema` list
 * @param options pair keys for RE/SPO
 * @returns the shape
 * @throws {InputError} when a schema item does not have the task's form
 *
 * @example
 * ```ts
 * import { shapeForSchema } from "./shape.ts";
 * const s = shapeForSchema("NER", ["person", "location"]);
 * if (s.kind !== "object" || s.keys.join() !== "person,location") throw new Error();
 * ```
 */
export function shapeForSchema(task: string, schema: readonly unknown[], options: ShapeOptions = {}): ObjectShape {
  const [subjectKey, objectKey] = options.pairKeys ?? ["subject", "object"];
  const pair: Shape = { kind: "list", item: { kind: "object", keys: [subjectKey, objectKey], values: [span, span] } };
  const field = (item: unknown, key: string, i: number): unknown => {
    if (typeof item !== "object" || item === null || !(key in item)) {
      throw new InputError(`${task} schema item ${i + 1} has no "${key}"`, { field: "instruction.schema" });
    }
    return (item as Record<string, unknown>)[key];
  };
  const text = (v: unknown, what: string): string => {
    if (typeof v !== "string") throw new InputError(`${what} must be a string`, { field: "instruction.schema" });
    return v;
  };
  const roles = (v: unknown): string[] => {
    // OneKE's description form names them as keys: {role: description}.
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return Object.keys(v);
    if (!Array.isArray(v) || v.some((r) => typeof r !== "string")) {
      throw new InputError("arguments/attributes must be a list of strings", { field: "instruction.schema" });
    }
    return v as string[];
  };
  // SPO, EE, EEA and KG items name their answer key in this field; the other tasks' items are keys.
  const keyField = IEPILE_TASKS.includes(task as Task) ? schemaKeyField(task as Task) : undefined;
  const entries: Array<[string, Shape]> = [];
  schema.forEach((item, i) => {
    switch (task) {
      case "NER":
      case "EET":
        entries.push([text(item, `${task} schema item`), { kind: "list", item: span }]);
        break;
      case "RE":
        entries.push([text(item, "RE schema item"), pair]);
        break;
      case "SPO":
        entries.push([text(field(item, keyField!, i), keyField!), pair]);
        break;
      case "EE": {
        const r = roles(field(item, "arguments", i));
        const args: ObjectShape = { kind: "object", keys: r, values: r.map(() => argumentValue), allowEmpty: true };
        const event: ObjectShape = { kind: "object", keys: ["trigger", "arguments"], values: [spanOrNan, args] };
        entries.push([text(field(item, keyField!, i), keyField!), { kind: "list", item: event }]);
        break;
      }
      case "EEA": {
        const r = roles(field(item, "arguments", i));
        const args: ObjectShape = { kind: "object", keys: r, values: r.map(() => argumentValue) };
        entries.push([text(field(item, keyField!, i), keyField!), { kind: "list", item: args }]);
        break;
      }
      case "KG": {
        const a = roles(field(item, "attributes", i));
        const attrs: ObjectShape = {
          kind: "object",
          keys: a,
          values: a.map(() => ({ kind: "alt", options: [span, { kind: "list", item: span }] })),
          optional: true,
        };
        entries.push([text(field(item, keyField!, i), keyField!), { kind: "map", key: span, value: attrs }]);
        break;
      }
      default:
        throw new InputError(`no answer shape for task "${task}"`);
    }
  });
  // A Python dict keeps the first position of a repeated key (SPO predicates can repeat).
  const keys: string[] = [];
  const values: Shape[] = [];
  for (const [k, v] of entries) {
    if (!keys.includes(k)) {
      keys.push(k);
      values.push(v);
    }
  }
  return { kind: "object", keys, values };
}

/**
 * The answer shape for an IEPile record: its task and the `schema` inside its `instruction`.
 *
 * @param task the task (the record's `task` field)
 * @param instruction the record's `instruction` (JSON text with `schema` and `input`)
 * @param options pair keys for RE/SPO
 * @returns the shape and the record's input text
 * @throws {InputError} when the instruction is not JSON or lacks a schema list (or OneKE's
 *   description form of one: `{type: description}` for NER/EET/RE, `{type: {type: description,
 *   "arguments": {role: description}}}` for EE/EEA, attributes as `{attribute: description}` for KG)
 *
 * @example
 * ```ts
 * import { shapeForInstruction } from "./shape.ts";
 * const { shape, input } = shapeForInstruction("RE", JSON.stringify({ instruction: "…", schema: ["born in"], input: "Ann, born in Oslo." }));
 * if (shape.keys[0] !== "born in" || input !== "Ann, born in Oslo.") throw new Error();
 * ```
 */
export function shapeForInstruction(
  task: string,
  instruction: string,
  options: ShapeOptions = {},
): { shape: ObjectShape; input: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(instruction);
  } catch {
    throw new InputError("does not hold JSON text", { field: "instruction" });
  }
  const schema = listForm(task, (parsed as { schema?: unknown })?.schema);
  if (!Array.isArray(schema)) throw new InputError("has no schema list", { field: "instruction" });
  const input = (parsed as { input?: unknown }).input;
  return { shape: shapeForSchema(task, schema, options), input: typeof input === "string" ? input : "" };
}

/** OneKE's description form of a schema (an object keyed by type) as the converter's list form. */
function listForm(task: string, schema: unknown): unknown {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return schema;
  const entries = Object.entries(schema as Record<string, unknown>);
  if (task === "NER" || task === "EET" || task === "RE") return entries.map(([type]) => type);
  if (task === "EE" || task === "EEA") {
    return entries.map(([type, body]) => ({
      event_type: type,
      arguments: (body as { arguments?: unknown })?.arguments,
    }));
  }
  return schema;
}
