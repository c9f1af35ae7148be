/**
 * Schema-constrained decoding: the JSON shape an IE answer must have (from the instruction's
 * schema), a byte-level matcher for it, token masks over a tokenizer's vocabulary, greedy choice
 * under the constraint, and the shortest completion of a cut-off answer.
 *
 * @example
 * ```ts
 * import { JsonShapeMatcher, shapeForSchema } from "./mod.ts";
 * const m = new JsonShapeMatcher(shapeForSchema("NER", ["person"]));
 * if (!m.isDone(m.feed(m.start(), '{"person": ["Ann"]}')!)) throw new Error();
 * ```
 *
 * @module
 */

export {
  type AltShape,
  type ListShape,
  type MapShape,
  type ObjectShape,
  type Shape,
  shapeForInstruction,
  shapeForSchema,
  type ShapeOptions,
  type StringShape,
} from "./shape.ts";
export { JsonShapeMatcher, MATCH_DONE, type MatchStack, type MatchState, utf8Step } from "./json_matcher.ts";
export { type JsonSchema, shapeToJsonSchema } from "./json_schema.ts";
export { SubstringAutomaton } from "./substring.ts";
export {
  ConstraintVocab,
  JsonConstraint,
  type JsonConstraintOptions,
  pickGreedy,
  type TokenBytesSource,
  type TokenWalk,
} from "./token_constraint.ts";
export { jsonSchemaToShape, UnsupportedSchemaError } from "./json_schema_shape.ts";
