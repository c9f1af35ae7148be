/**
 * `extract`: a schema and your own documents in, grounded extractions out. Long documents are
 * cut into chunks that fit the model's prompt, each chunk × schema batch is asked as the
 * converter's test split asks it, and the answers are merged per document with every string
 * located in the text (character offsets; `grounded: false` where it cannot be found).
 *
 * Map:
 * - `schema_input.ts`: the schema as people write it (IEPile's three lines, lists, OneKE's
 *   descriptions, few-shot examples).
 * - `documents.ts`: text files, folders, JSON Lines, standard input.
 * - `chunk.ts`: sentences and chunks within a token budget, with overlap.
 * - `requests.ts`: the instructions per chunk, batch and schema order.
 * - `answers.ts`: a model answer read into items; `ground.ts`: strings located in the text;
 *   `merge.ts`: votes, grounding and deduplication per document; `offsets.ts`: UTF-16 and
 *   code-point offsets.
 * - `iepile_format.ts`: the merged result as IEPile prediction records (for `eval`).
 * - `html_report.ts`: the report page.
 * - `cli_command.ts`: the `extract` command (its requests are answered by `infer`).
 *
 * @example
 * ```ts
 * import { Grounder, mergeDocument, parseExtractSchema } from "./mod.ts";
 * const schema = parseExtractSchema('["person"]', "NER", "schema.json");
 * if (schema.lists.types[0] !== "person") throw new Error();
 * if (new Grounder("Ann met ＢＯＢ.").locate("bob")?.start !== 8) throw new Error();
 * const text = "Ann met Bob.";
 * const doc = mergeDocument("d", text, [{ start: 0, end: 12, text }], [{ record: {}, schema: ["person"] }],
 *   [{ chunk: 0, batch: 0, order: 0, output: '{"person": ["Bob"]}' }], { task: "NER" });
 * if (doc.extractions.length !== 1) throw new Error();
 * ```
 *
 * @module
 */

export type {
  DocumentExtractions,
  EntityExtraction,
  EventArgument,
  EventExtraction,
  Extraction,
  KgAttribute,
  KgExtraction,
  MatchKind,
  RelationExtraction,
  Span,
} from "./types.ts";
export { spansOf } from "./types.ts";
export {
  type ExtractSchema,
  hasDescriptions,
  parseExtractSchema,
  readExtractSchema,
  type SchemaExample,
} from "./schema_input.ts";
export {
  type InputDocument,
  type InputFormat,
  MAX_DOCUMENT_CHARS,
  readDocuments,
  type ReadDocumentsOptions,
} from "./documents.ts";
export { type Chunk, chunkDocument, type ChunkOptions, splitSentences } from "./chunk.ts";
export {
  type DocumentBatch,
  documentBatches,
  documentRequests,
  EXAMPLE_SUFFIX,
  type ExtractRequest,
  instructionFor,
  type RequestSettings,
} from "./requests.ts";
export { batchKeys, type RawItem, type RawPart, type ReadAnswer, readAnswer } from "./answers.ts";
export { Grounder, type GroundOptions, type Located } from "./ground.ts";
export { OffsetConverter } from "./offsets.ts";
export { type MergeCounts, mergeDocument, type MergeOptions, type RequestAnswer } from "./merge.ts";
export { batchAnswer, predictionLines } from "./iepile_format.ts";
export { renderReport, type ReportDocument, type ReportOptions } from "./html_report.ts";
export { DEFAULT_SPLIT_NUM, EXTRACT_HELP, runExtract } from "./cli_command.ts";
