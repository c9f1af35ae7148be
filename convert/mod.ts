/**
 * `convert`: annotated IE data (NER, RE, SPO, EE, EET, EEA, KG) → IEPile instructions, exactly
 * as IEPile's `ie2instruction/convert_func.py` writes them, streaming.
 *
 * @example
 * ```ts
 * import { Converter, readRecord } from "./mod.ts";
 * const converter = new Converter(
 *   { task: "NER", language: "en", split: "train", splitNum: -1, negSchema: 1, randomSort: false, clusterMode: false, hashSeed: 0, source: "demo" },
 *   { types: ["person", "location"], roles: [], typeRoles: [] },
 * );
 * const record = readRecord({ text: "Ann lives in Oslo.", entity: [{ entity: "Oslo", entity_type: "location" }] }, "NER", "train");
 * const [line] = converter.convert(record);
 * if (JSON.parse(line).output !== '{"location": ["Oslo"], "person": []}') throw new Error(line);
 * ```
 *
 * @module
 */

export { instructionText, type Language, LANGUAGES, type Task, TASKS } from "./instructions.ts";
export { type ConvertOptions, createContext, type SamplingContext, TypeRoles } from "./context.ts";
export { type ConvertOptionsInput, resolveConvertOptions, sourceFromPath } from "./options.ts";
export { parseSchema, readSchema, type SchemaLists } from "./schema.ts";
export { parseHardNegatives, readHardNegatives } from "./hard_negatives.ts";
export {
  type Annotation,
  ANNOTATION_FIELD,
  type Entity,
  type EventArgument,
  filterRecord,
  type IeEvent,
  type IeRecord,
  readRecord,
  type Relation,
} from "./records.ts";
export { splitSchemas, splitSchemasKg } from "./split_schemas.ts";
export {
  type HashedStr,
  hashSeedKeys,
  MT19937,
  NumpyLegacyRandom,
  PyRandom,
  PySet,
  PyStrHasher,
} from "./pycompat/mod.ts";
export { compareCodePoints } from "../io/code_points.ts";
export { sortByPosition, sortOrShuffle } from "./order.ts";
export { type ClusterSample, clusterSample } from "./tasks/cluster.ts";
export type { TaskAdapter, TrainBatch } from "./tasks/task.ts";
export { Converter } from "./converter.ts";
export {
  convertFile,
  type ConvertFileOptions,
  convertStream,
  type ConvertStreamOptions,
  type ConvertSummary,
  newCounts,
  type StreamCounts,
} from "./convert_file.ts";
