/**
 * The schema of an `extract` run, as people write it: IEPile's three-line `schema.json`, or one
 * JSON value per task (a list of names, or OneKE's `{name: description}` form), optionally
 * wrapped as `{"schema": …, "examples": [{"input", "output"}]}` for few-shot examples.
 *
 * @module
 */

import { InputError } from "../io/errors.ts";
import { entriesOf, getField, isJsonObject, type JsonObject } from "../io/json_object.ts";
import type { PyJson } from "../io/py_json.ts";
import { parsePyJson } from "../io/py_json_parse.ts";
import type { Task } from "../io/tasks.ts";
import { parseSchema, type SchemaLists } from "../convert/mod.ts";

/** A few-shot example shown to the model (OneKE's `example` field). */
export interface SchemaExample {
  /** The example's input text. */
  input: string;
  /** The answer for it, as the model should write it. */
  output: PyJson;
}

/** A parsed schema: the converter's three lists, plus descriptions and examples where given. */
export interface ExtractSchema {
  /** The task the schema is for. */
  task: Task;
  /** Types, roles and type → roles, as the converter takes them. */
  lists: SchemaLists;
  /** Type (entity type, relation, event type) → its description. */
  descriptions: Map<string, string>;
  /** `type + "\u0000" + role` → the role's (EE/EEA argument's, KG attribute's) description. */
  roleDescriptions: Map<string, string>;
  /** Few-shot examples. */
  examples: SchemaExample[];
}

/**
 * Parse a schema for a task.
 *
 * Accepted forms: IEPile's three-line file (type list, role list, type → roles object); or one
 * JSON value — NER/EET: `["type", …]` or `{"type": "description"}`; RE: `["relation", …]` or
 * `{"relation": "description"}`; SPO: `["subject_predicate_object", …]` or
 * `[{"subject_type", "predicate", "object_type"}]`; EE/EEA: `[{"event_type", "arguments": [role, …]
 * or {role: description}, "description"?}]` or OneKE's `{type: {type: description, "arguments": …}}`;
 * KG: `[{"entity_type", "attributes": [attr, …] or {attr: description}}]`. Any of these may be
 * wrapped as `{"schema": value, "examples": [{"input": text, "output": answer}]}`.
 *
 * @param text the schema file's content (or the JSON given on the command line)
 * @param task the task
 * @param file the file name, for messages
 * @returns the schema
 * @throws {InputError} naming the file, line or field that is wrong
 *
 * @example
 * ```ts
 * import { parseExtractSchema } from "./schema_input.ts";
 * const s = parseExtractSchema('{"person": "a human being", "city": "a town"}', "NER", "schema.json");
 * if (s.lists.types.join() !== "person,city" || s.descriptions.get("city") !== "a town") throw new Error();
 * const ee = parseExtractSchema('[{"event_type": "meet", "arguments": ["entity", "place"]}]', "EE", "s.json");
 * if (ee.lists.typeRoles[0][1].join() !== "entity,place") throw new Error();
 * ```
 */
export function parseExtractSchema(text: string, task: Task, file: string): ExtractSchema {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: PyJson;
  try {
    value = parsePyJson(text);
  } catch (e) {
    // One line that is not JSON: say so (not that a three-line file has too few lines).
    if (text.trim().split(/\r\n|\r|\n/).length < 3) {
      throw new InputError(`not valid JSON: ${(e as Error).message}`, { file });
    }
    // Not one JSON value: IEPile's three-line file (its parser names the line that is wrong).
    const lists = parseSchema(text, file);
    return finish({ task, lists, descriptions: new Map(), roleDescriptions: new Map(), examples: [] }, file);
  }
  let examples: SchemaExample[] = [];
  if (isJsonObject(value) && getField(value, "schema") !== undefined && isWrapper(value)) {
    const ex = getField(value, "examples") ?? getField(value, "example");
    if (ex !== undefined) examples = readExamples(ex, file);
    value = getField(value, "schema")!;
  }
  const schema = readValue(value, task, file);
  schema.examples = examples;
  return finish(schema, file);
}

/**
 * Read a schema file (or, when `spec` starts with `[` or `{`, the JSON itself).
 *
 * @param spec a path, or inline JSON
 * @param task the task
 * @returns the schema
 * @throws {InputError} for a missing file or a wrong shape
 *
 * @example
 * ```ts
 * import { readExtractSchema } from "./schema_input.ts";
 * const s = await readExtractSchema('["person", "place"]', "NER");
 * if (s.lists.types.length !== 2) throw new Error();
 * ```
 */
export async function readExtractSchema(spec: string, task: Task): Promise<ExtractSchema> {
  const inline = /^\s*[[{"]/.test(spec);
  if (inline) return parseExtractSchema(spec, task, "--schema");
  let text: string;
  try {
    text = await Deno.readTextFile(spec);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new InputError("schema file not found", { file: spec });
    throw new InputError(`cannot read schema file: ${(e as Error).message}`, { file: spec });
  }
  return parseExtractSchema(text, task, spec);
}

/**
 * Whether any description was given (the instructions then use OneKE's description form).
 *
 * @param schema the schema
 * @returns true when a type or role has a description
 *
 * @example
 * ```ts
 * import { hasDescriptions, parseExtractSchema } from "./schema_input.ts";
 * if (hasDescriptions(parseExtractSchema('["a"]', "NER", "s"))) throw new Error();
 * ```
 */
export function hasDescriptions(schema: ExtractSchema): boolean {
  return schema.descriptions.size > 0 || schema.roleDescriptions.size > 0;
}

function isWrapper(v: JsonObject): boolean {
  // A string under "schema" is a description: `{"schema": "…"}` names a type called "schema".
  const schema = getField(v, "schema");
  if (!Array.isArray(schema) && !isJsonObject(schema ?? null)) return false;
  return entriesOf(v).every(([k]) => k === "schema" || k === "examples" || k === "example");
}

function readExamples(v: PyJson, file: string): SchemaExample[] {
  if (!Array.isArray(v)) {
    throw new InputError('expected a list of {"input", "output"} objects', { file, field: "examples" });
  }
  return v.map((e, i) => {
    const field = `examples[${i}]`;
    if (!isJsonObject(e)) throw new InputError('expected an object {"input", "output"}', { file, field });
    const input = getField(e, "input");
    const output = getField(e, "output");
    if (typeof input !== "string") throw new InputError("expected a string", { file, field: `${field}.input` });
    if (output === undefined) {
      throw new InputError("missing (the example's answer)", { file, field: `${field}.output` });
    }
    return { input, output };
  });
}

function empty(task: Task): ExtractSchema {
  return {
    task,
    lists: { types: [], roles: [], typeRoles: [] },
    descriptions: new Map(),
    roleDescriptions: new Map(),
    examples: [],
  };
}

function readValue(value: PyJson, task: Task, file: string): ExtractSchema {
  const s = empty(task);
  switch (task) {
    case "NER":
    case "EET":
    case "RE": {
      const names = readNames(value, file, "schema", s.descriptions, "", task === "RE" ? "relation" : "type");
      if (task === "RE") s.lists.roles = names;
      else s.lists.types = names;
      return s;
    }
    case "SPO":
      return readSpo(value, s, file);
    case "EE":
    case "EEA":
      return readTyped(value, s, file, "event_type", "arguments");
    case "KG":
      return readTyped(value, s, file, "entity_type", "attributes");
  }
}

/** `["a", …]` or `{"a": "description", …}` → names (descriptions recorded under `prefix + name`). */
function readNames(
  v: PyJson,
  file: string,
  field: string,
  descriptions: Map<string, string>,
  prefix: string,
  what: string,
): string[] {
  if (Array.isArray(v)) {
    return v.map((x, i) => {
      if (typeof x !== "string") {
        throw new InputError(`expected a ${what} name (a string)`, { file, field: `${field}[${i}]` });
      }
      return x;
    });
  }
  if (isJsonObject(v)) {
    return entriesOf(v).map(([k, d]) => {
      if (typeof d !== "string") {
        throw new InputError(`expected the ${what}'s description (a string)`, { file, field: `${field}.${k}` });
      }
      descriptions.set(prefix + k, d);
      return k;
    });
  }
  throw new InputError(`expected a list of ${what} names or an object ${what} → description`, { file, field });
}

function readSpo(v: PyJson, s: ExtractSchema, file: string): ExtractSchema {
  if (!Array.isArray(v)) {
    throw new InputError(
      'expected a list of "subject_predicate_object" strings or {"subject_type", "predicate", "object_type"} objects',
      { file, field: "schema" },
    );
  }
  const predicates = new Set<string>();
  s.lists.types = v.map((x, i) => {
    const field = `schema[${i}]`;
    if (typeof x === "string") {
      const parts = x.split("_");
      if (parts.length !== 3) throw new InputError('expected "subject_predicate_object"', { file, field });
      predicates.add(parts[1]);
      return x;
    }
    if (!isJsonObject(x)) throw new InputError("expected a string or an object", { file, field });
    const part = (k: string): string => {
      const p = getField(x, k);
      if (typeof p !== "string") throw new InputError("expected a string", { file, field: `${field}.${k}` });
      return p;
    };
    const [subject, predicate, object] = [part("subject_type"), part("predicate"), part("object_type")];
    predicates.add(predicate);
    return `${subject}_${predicate}_${object}`;
  });
  s.lists.roles = [...predicates];
  return s;
}

/** EE/EEA (`event_type` + `arguments`) and KG (`entity_type` + `attributes`). */
function readTyped(v: PyJson, s: ExtractSchema, file: string, typeKey: string, rolesKey: string): ExtractSchema {
  const items: Array<[string, PyJson, string | undefined, string]> = [];
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      const field = `schema[${i}]`;
      if (!isJsonObject(x)) throw new InputError(`expected an object {"${typeKey}", "${rolesKey}"}`, { file, field });
      const type = getField(x, typeKey);
      if (typeof type !== "string") throw new InputError("expected a string", { file, field: `${field}.${typeKey}` });
      const description = getField(x, "description");
      if (description !== undefined && typeof description !== "string") {
        throw new InputError("expected a string", { file, field: `${field}.description` });
      }
      if (description !== undefined && typeKey === "entity_type") {
        // OneKE's KG instructions describe attributes only: a type's description would be dropped.
        throw new InputError(
          'KG instructions have no place for a type\'s description: describe its attributes ({"attribute": "description"})',
          { file, field: `${field}.description` },
        );
      }
      items.push([type, getField(x, rolesKey) ?? [], description as string | undefined, `${field}.${rolesKey}`]);
    });
  } else if (isJsonObject(v)) {
    // OneKE's description form: {type: {type: description, "trigger": true, rolesKey: {role: description}}}.
    for (const [type, body] of entriesOf(v)) {
      if (!isJsonObject(body)) {
        throw new InputError(`expected an object with "${rolesKey}"`, { file, field: `schema.${type}` });
      }
      const description = getField(body, type) ?? getField(body, "description");
      if (description !== undefined && typeof description !== "string") {
        throw new InputError("expected a string", { file, field: `schema.${type}.${type}` });
      }
      items.push([
        type,
        getField(body, rolesKey) ?? [],
        description as string | undefined,
        `schema.${type}.${rolesKey}`,
      ]);
    }
  } else {
    throw new InputError(`expected a list of {"${typeKey}", "${rolesKey}"} objects`, { file, field: "schema" });
  }
  const all = new Set<string>();
  for (const [type, roles, description, field] of items) {
    if (description !== undefined) s.descriptions.set(type, description);
    const names = readNames(
      roles,
      file,
      field,
      s.roleDescriptions,
      `${type}\u0000`,
      rolesKey === "arguments" ? "role" : "attribute",
    );
    for (const r of names) all.add(r);
    s.lists.typeRoles.push([type, names]);
    if (typeKey === "event_type") s.lists.types.push(type);
  }
  s.lists.roles = [...all];
  return s;
}

function finish(s: ExtractSchema, file: string): ExtractSchema {
  const { types, roles, typeRoles } = s.lists;
  const named = s.task === "RE"
    ? roles.length
    : s.task === "KG" || s.task === "EE" || s.task === "EEA"
    ? typeRoles.length
    : types.length;
  if (named === 0) throw new InputError(`the schema names no ${s.task} types`, { file });
  return s;
}
