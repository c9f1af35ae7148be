/**
 * The hard-negative dictionary of cluster mode: `{schema_key: [hard negative keys, …]}`.
 *
 * @module
 */

import { InputError } from "../io/errors.ts";
import { entriesOf, getField, isJsonObject } from "../io/json_object.ts";
import type { PyJson } from "../io/py_json.ts";
import { parsePyJson } from "../io/py_json_parse.ts";

/**
 * Parse a hard-negative dictionary. IEPile's `hard_dict.json` is nested
 * (`{TASK: {DATASET: {key: [...]}}}`); pass `path` = `"NER/MSRA"` to use one inner dictionary
 * of such a file directly.
 *
 * @param text the JSON text
 * @param file the file name, for errors
 * @param path optional `/`-separated keys leading to the flat dictionary inside a nested file
 * @returns key → hard negatives, in file order
 * @throws {InputError} when the JSON or the shape is wrong
 *
 * @example
 * ```ts
 * import { parseHardNegatives } from "./hard_negatives.ts";
 * const flat = parseHardNegatives('{"人物": ["地理位置"]}', "hard.json");
 * const nested = parseHardNegatives('{"NER": {"MSRA": {"人物": ["地理位置"]}}}', "hard_dict.json", "NER/MSRA");
 * if (flat.get("人物")?.[0] !== "地理位置" || nested.size !== 1) throw new Error();
 * ```
 */
export function parseHardNegatives(text: string, file: string, path?: string): Map<string, string[]> {
  let value: PyJson;
  try {
    value = parsePyJson(text);
  } catch (e) {
    throw new InputError((e as Error).message, { file });
  }
  for (const key of path ? path.split("/") : []) {
    const inner = isJsonObject(value) ? getField(value, key) : undefined;
    if (inner === undefined) throw new InputError(`no key "${key}" (from "${path}") in the dictionary`, { file });
    value = inner;
  }
  if (!isJsonObject(value)) throw new InputError("expected a JSON object {schema key: [hard negatives]}", { file });
  const out = new Map<string, string[]>();
  for (const [k, v] of entriesOf(value)) {
    if (isJsonObject(v)) {
      throw new InputError(
        `"${k}" holds an object: this is a nested dictionary like IEPile's hard_dict.json; ` +
          `choose the inner dictionary (e.g. --hard-negative-key NER/MSRA)`,
        { file },
      );
    }
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
      throw new InputError(`the value of "${k}" must be a list of strings`, { file });
    }
    out.set(k, v as string[]);
  }
  return out;
}

/**
 * Read a hard-negative dictionary file.
 *
 * @param file the file
 * @param path optional keys into a nested file (see `parseHardNegatives`)
 * @returns key → hard negatives
 * @throws {InputError} when missing or malformed
 *
 * @example
 * ```ts
 * import { readHardNegatives } from "./hard_negatives.ts";
 * const f = await Deno.makeTempFile();
 * await Deno.writeTextFile(f, '{"a": ["b"]}');
 * if ((await readHardNegatives(f)).get("a")?.[0] !== "b") throw new Error();
 * ```
 */
export async function readHardNegatives(file: string, path?: string): Promise<Map<string, string[]>> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new InputError("hard-negative file not found", { file });
    throw new InputError(`cannot read: ${(e as Error).message}`, { file });
  }
  return parseHardNegatives(text, file, path);
}
