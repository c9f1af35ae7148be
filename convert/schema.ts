/**
 * The IEPile schema file: three JSON lines — the type list, the role list, and the
 * type → roles object — read and checked.
 *
 * @module
 */

import { InputError } from "../io/errors.ts";
import type { PyJson } from "../io/py_json.ts";
import { parsePyJson } from "../io/py_json_parse.ts";
import { entriesOf, isJsonObject } from "../io/json_object.ts";

/** The three lines of a schema file. */
export interface SchemaLists {
  /** Line 1: entity types (NER), event types (EE, EET, EEA), `subject_predicate_object` strings (SPO), KG types. */
  types: string[];
  /** Line 2: relation names (RE) or attribute names (KG); informational for EE/EEA. */
  roles: string[];
  /** Line 3: event type → argument roles (EE, EEA) or entity type → attributes (KG), in file order. */
  typeRoles: Array<[string, string[]]>;
}

/**
 * Parse the text of a schema file. Only the first three lines are read (more are ignored, as
 * in IEPile); each must be a JSON value of the right shape.
 *
 * @param text the file content
 * @param file the file name, for error messages
 * @returns the three lists
 * @throws {InputError} naming the line and what is wrong
 *
 * @example
 * ```ts
 * import { parseSchema } from "./schema.ts";
 * const s = parseSchema('["person", "place"]\n[]\n{"person": ["born"]}\n');
 * if (s.types.length !== 2 || s.typeRoles[0][0] !== "person") throw new Error();
 * ```
 */
export function parseSchema(text: string, file = "schema"): SchemaLists {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split(/\r\n|\r|\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  if (lines.length < 3) {
    throw new InputError(
      `a schema file has three JSON lines (type list, role list, type → roles object); found ${lines.length}`,
      { file },
    );
  }
  const value = (i: number): PyJson => {
    try {
      return parsePyJson(lines[i]);
    } catch (e) {
      throw new InputError((e as Error).message, { file, line: i + 1 });
    }
  };
  const types = stringList(value(0), file, 1, "a JSON list of type names");
  const roles = stringList(value(1), file, 2, "a JSON list of role names");
  const third = value(2);
  if (!isJsonObject(third)) {
    throw new InputError("expected a JSON object mapping each type to its list of roles", { file, line: 3 });
  }
  const typeRoles: Array<[string, string[]]> = [];
  for (const [k, v] of entriesOf(third)) {
    typeRoles.push([k, stringList(v, file, 3, `a JSON list of role names under "${k}"`)]);
  }
  return { types, roles, typeRoles };
}

/**
 * Read and parse a schema file.
 *
 * @param path the schema file
 * @returns the three lists
 * @throws {InputError} for a missing file or a wrong shape
 *
 * @example
 * ```ts
 * import { readSchema } from "./schema.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, '["a"]\n[]\n{}\n');
 * if ((await readSchema(path)).types[0] !== "a") throw new Error();
 * ```
 */
export async function readSchema(path: string): Promise<SchemaLists> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new InputError("schema file not found", { file: path });
    throw new InputError(`cannot read schema file: ${(e as Error).message}`, { file: path });
  }
  return parseSchema(text, path);
}

function stringList(v: PyJson, file: string, line: number, what: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw new InputError(`expected ${what}`, { file, line });
  }
  const list = v as string[];
  const bad = list.find((x) => !x.isWellFormed());
  if (bad !== undefined) throw new InputError("string with an unpaired surrogate", { file, line });
  return list;
}
