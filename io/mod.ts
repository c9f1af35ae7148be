/**
 * Shared input/output: streaming JSON Lines readers, atomic writers, Python-compatible JSON,
 * typed input errors and progress display.
 *
 * @example
 * ```ts
 * import { parsePyJson, pyDumps } from "./mod.ts";
 * if (pyDumps(parsePyJson('{"a":[1.0,"é"]}')) !== '{"a": [1.0, "é"]}') throw new Error();
 * ```
 *
 * @module
 */

export type { CliIo } from "./cli_io.ts";
export { compareCodePoints } from "./code_points.ts";
export { IEPILE_TASKS, schemaKeyField, type Task } from "./tasks.ts";
export { InputError, UsageError } from "./errors.ts";
export { type RawItem, readJsonItemBatches, readJsonItems, type ReadJsonItemsOptions } from "./json_items.ts";
export { entriesOf, getField, isJsonObject, type JsonObject } from "./json_object.ts";
export { AtomicTextWriter, checkOutputPath, writeAtomically } from "./atomic_write.ts";
export {
  LoneSurrogateError,
  pyDumps,
  pyFloatRepr,
  type PyJson,
  PyNumber,
  pyNumber,
  pyStr,
  pyStrList,
} from "./py_json.ts";
export { JsonSyntaxError, parsePyJson } from "./py_json_parse.ts";
export { pyFloatReprOf, pyRepr, pyStrRepr } from "./py_repr.ts";
export { pyDumpsIndent } from "./py_json_indent.ts";
export {
  formatBytes,
  formatCount,
  formatProgress,
  formatSeconds,
  ProgressLine,
  type ProgressUpdate,
} from "./progress.ts";
export { exitOnSignals, onStopSignals, signalExitCode } from "./signals.ts";
export { removeStaleTempFiles, removeStaleTempFilesIn, tempPathFor } from "./temp_files.ts";
export { type ParsedRecord, parseRecordLine } from "./record.ts";
