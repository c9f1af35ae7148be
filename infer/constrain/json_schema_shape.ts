/**
 * The way back from JSON Schema to an answer shape, for clients that send the schema
 * themselves (`response_format: {type: "json_schema"}` to `iepile serve`). Exactly the subset
 * {@linkcode shapeToJsonSchema} writes is understood: strings, arrays with `items`, objects with
 * `properties` (key order is the properties' order), `required` listing every key or none and
 * `additionalProperties: false`, maps (`additionalProperties` a schema, no properties), and
 * `anyOf` (or `oneOf`) of alternatives that start differently. Annotations (`title`,
 * `description`, `$schema`, `$comment`) are ignored; anything else is refused with the path to it.
 *
 * @module
 */

import type { JsonSchema } from "./json_schema.ts";
import type { ObjectShape, Shape, StringShape } from "./shape.ts";

/** A JSON Schema outside the subset answer shapes can express; `path` points at the part (JSON Pointer). */
export class UnsupportedSchemaError extends Error {
  /** Where in the schema, as a JSON Pointer (`""` for the root). */
  readonly path: string;
  /** What is wrong there. */
  readonly problem: string;

  /**
   * A refusal of part of a schema.
   *
   * @param problem what is not supported
   * @param path JSON Pointer to the part of the schema
   */
  constructor(problem: string, path: string) {
    super(`${path === "" ? "schema" : `schema at ${path}`}: ${problem}`);
    this.name = "UnsupportedSchemaError";
    this.problem = problem;
    this.path = path;
  }
}

const ANNOTATIONS = new Set(["title", "description", "$schema", "$comment"]);
const STRING: StringShape = { kind: "string", span: false };

/**
 * The answer shape a JSON Schema describes (the inverse of {@linkcode shapeToJsonSchema}; string
 * shapes come back without the `span`/`nan` marks, which only `--extractive` uses).
 *
 * @param schema the JSON Schema (parsed JSON)
 * @returns the shape
 * @throws {UnsupportedSchemaError} for a schema outside the subset
 *
 * @example
 * ```ts
 * import { jsonSchemaToShape } from "./json_schema_shape.ts";
 * const shape = jsonSchemaToShape({
 *   type: "object",
 *   properties: { person: { type: "array", items: { type: "string" } } },
 *   required: ["person"],
 *   additionalProperties: false,
 * });
 * if (shape.kind !== "object" || shape.keys.join() !== "person" || shape.values[0].kind !== "list") throw new Error();
 * try {
 *   jsonSchemaToShape({ type: "number" });
 *   throw new Error("unreachable");
 * } catch (e) {
 *   if ((e as Error).name !== "UnsupportedSchemaError") throw e;
 * }
 * ```
 */
export function jsonSchemaToShape(schema: JsonSchema): Shape {
  return toShape(schema, "");
}

function toShape(schema: unknown, path: string): Shape {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new UnsupportedSchemaError("must be a JSON object", path);
  }
  const s = schema as Record<string, unknown>;
  const alts = s.anyOf !== undefined ? "anyOf" : s.oneOf !== undefined ? "oneOf" : undefined;
  if (alts !== undefined) {
    only(s, [alts], path);
    return alternatives(s[alts], `${path}/${alts}`);
  }
  switch (s.type) {
    case "string":
      only(s, ["type"], path);
      return STRING;
    case "array":
      only(s, ["type", "items"], path);
      if (s.items === undefined) throw new UnsupportedSchemaError('an array needs "items"', path);
      return { kind: "list", item: toShape(s.items, `${path}/items`) };
    case "object":
      return object(s, path);
    case undefined:
      throw new UnsupportedSchemaError('needs "type" (string, array or object) or "anyOf"', path);
    default:
      throw new UnsupportedSchemaError(
        `type ${JSON.stringify(s.type)} is not supported (answers hold strings, arrays and objects only)`,
        `${path}/type`,
      );
  }
}

function object(s: Record<string, unknown>, path: string): Shape {
  only(s, ["type", "properties", "required", "additionalProperties"], path);
  const extra = s.additionalProperties;
  if (s.properties === undefined && typeof extra === "object" && extra !== null) {
    if (s.required !== undefined && !(Array.isArray(s.required) && s.required.length === 0)) {
      throw new UnsupportedSchemaError('a map (additionalProperties schema) cannot have "required" keys', path);
    }
    return { kind: "map", key: STRING, value: toShape(extra, `${path}/additionalProperties`) };
  }
  const props = s.properties ?? {};
  if (typeof props !== "object" || props === null || Array.isArray(props)) {
    throw new UnsupportedSchemaError('"properties" must be an object', `${path}/properties`);
  }
  if (extra !== false) {
    throw new UnsupportedSchemaError(
      'an object with properties needs "additionalProperties": false (answers have exactly the asked keys)',
      path,
    );
  }
  const keys = Object.keys(props);
  const values = keys.map((k) => toShape((props as Record<string, unknown>)[k], `${path}/properties/${pointer(k)}`));
  const required = s.required ?? [];
  if (!Array.isArray(required) || required.some((r) => typeof r !== "string")) {
    throw new UnsupportedSchemaError('"required" must be a list of property names', `${path}/required`);
  }
  const unknown = required.find((r) => !keys.includes(r));
  if (unknown !== undefined) {
    throw new UnsupportedSchemaError(`"required" names ${JSON.stringify(unknown)}, which is not a property`, path);
  }
  const all = new Set(required).size === keys.length;
  if (required.length > 0 && !all) {
    throw new UnsupportedSchemaError('"required" must list every property or none', `${path}/required`);
  }
  const shape: ObjectShape = { kind: "object", keys, values };
  return keys.length > 0 && !all ? { ...shape, optional: true } : shape;
}

function alternatives(list: unknown, path: string): Shape {
  if (!Array.isArray(list) || list.length === 0) throw new UnsupportedSchemaError("must be a non-empty list", path);
  const options = list.map((o, i) => toShape(o, `${path}/${i}`));
  if (options.length === 1) return options[0];
  // `{}` or a required-keys object: how shapeToJsonSchema writes `allowEmpty`.
  if (options.length === 2) {
    const [a, b] = options;
    if (a.kind === "object" && a.keys.length === 0 && !a.optional && b.kind === "object" && !b.optional) {
      return { ...b, allowEmpty: true };
    }
  }
  const starts = new Map<string, number>();
  options.forEach((o, i) => {
    const first = o.kind === "string" ? '"' : o.kind === "list" ? "[" : o.kind === "alt" ? "" : "{";
    if (first === "") throw new UnsupportedSchemaError("nested alternatives are not supported", `${path}/${i}`);
    if (starts.has(first)) {
      throw new UnsupportedSchemaError(
        `alternatives ${
          starts.get(first)
        } and ${i} both start with ${first} (each must be a different one of string, array, object)`,
        path,
      );
    }
    starts.set(first, i);
  });
  return { kind: "alt", options };
}

function only(s: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(s)) {
    if (!allowed.includes(k) && !ANNOTATIONS.has(k)) {
      throw new UnsupportedSchemaError(`keyword ${JSON.stringify(k)} is not supported here`, path);
    }
  }
}

function pointer(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}
