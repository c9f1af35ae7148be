/**
 * An answer shape as JSON Schema, for servers that constrain decoding themselves (vLLM's and
 * llama.cpp's `response_format: {type: "json_schema"}`, OpenAI structured outputs): keys in
 * schema order, all required unless optional, no others.
 *
 * @module
 */

import type { Shape } from "./shape.ts";

/** A JSON Schema document (plain data). */
export type JsonSchema = { [key: string]: unknown };

/**
 * The JSON Schema of an answer shape.
 *
 * @param shape the answer shape
 * @returns the schema
 *
 * @example
 * ```ts
 * import { shapeForSchema } from "./shape.ts";
 * import { shapeToJsonSchema } from "./json_schema.ts";
 * const s = shapeToJsonSchema(shapeForSchema("NER", ["person"]));
 * const want = { type: "object", properties: { person: { type: "array", items: { type: "string" } } }, required: ["person"], additionalProperties: false };
 * if (JSON.stringify(s) !== JSON.stringify(want)) throw new Error(JSON.stringify(s));
 * ```
 */
export function shapeToJsonSchema(shape: Shape): JsonSchema {
  switch (shape.kind) {
    case "string":
      return { type: "string" };
    case "list":
      return { type: "array", items: shapeToJsonSchema(shape.item) };
    case "map":
      return { type: "object", additionalProperties: shapeToJsonSchema(shape.value) };
    case "alt":
      return { anyOf: shape.options.map(shapeToJsonSchema) };
    case "object": {
      const properties: JsonSchema = {};
      shape.keys.forEach((k, i) => (properties[k] = shapeToJsonSchema(shape.values[i])));
      const full = {
        type: "object",
        properties,
        required: shape.optional ? [] : [...shape.keys],
        additionalProperties: false,
      };
      if (!shape.allowEmpty || shape.optional) return full;
      return { anyOf: [{ type: "object", properties: {}, additionalProperties: false }, full] };
    }
  }
}
