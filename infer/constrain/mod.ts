/**
 * Schema-constrained decoding: the JSON shape an IE answer must have (from the instruction's
 * schema), a byte-level matcher for it, token masks over a tokenizer's vocabulary, greedy choice
 * under the constraint, and the shortest completion of a cut-off answer.
 *
 * Map:
 * - `shape.ts`: the answer {@linkcode Shape} read from an instruction's `schema`, per task.
 * - `json_matcher.ts`: {@linkcode JsonShapeMatcher}, a byte-level matcher of one shape in
 *   Python `json.dumps` spelling, with immutable states.
 * - `substring.ts`: {@linkcode SubstringAutomaton}, which keeps extractive answers spans of the
 *   input text.
 * - `token_constraint.ts`: {@linkcode JsonConstraint}, the tokens allowed next over a
 *   {@linkcode ConstraintVocab} (a list, or a bitset for masked argmax, cached per state class),
 *   and greedy choice under it.
 * - `json_schema.ts` / `json_schema_shape.ts`: a shape as JSON Schema (for servers that
 *   constrain themselves) and the way back (for clients that send one).
 *
 * Data enters as an instruction (or a JSON Schema) and a tokenizer's vocabulary, and leaves as
 * a logits hook for `decode/` and, for a cut answer, the bytes that close it.
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
  type TokenTrie,
  type TokenWalk,
} from "./token_constraint.ts";
export { jsonSchemaToShape, UnsupportedSchemaError } from "./json_schema_shape.ts";
