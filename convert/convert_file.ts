/**
 * Streaming conversion: JSON Lines (or a JSON array) in, IEPile instruction lines out, record by
 * record in flat memory, written atomically.
 *
 * @module
 */

import { AtomicTextWriter } from "../io/atomic_write.ts";
import { InputError, UsageError } from "../io/errors.ts";
import { type RawItem, readJsonItemBatches } from "../io/json_items.ts";
import type { ProgressUpdate } from "../io/progress.ts";
import { LoneSurrogateError } from "../io/py_json.ts";
import { parsePyJson } from "../io/py_json_parse.ts";
import { Converter } from "./converter.ts";
import { readHardNegatives } from "./hard_negatives.ts";
import { type ConvertOptionsInput, resolveConvertOptions } from "./options.ts";
import { readRecord } from "./records.ts";
import { readSchema } from "./schema.ts";

/** Counts of a streaming conversion. */
export interface StreamCounts {
  /** Records read (valid or not). */
  records: number;
  /** Instruction lines produced. */
  instructions: number;
  /** Valid records that produced no instruction (EEA without events; no positives at neg_schema 0). */
  withoutInstruction: number;
  /** Invalid records skipped (only with `skipInvalid`). */
  skipped: number;
  /** Skipped records per problem (field + what is wrong). */
  skipReasons: Map<string, number>;
  /** The first skipped records' messages, with file and line. */
  skipExamples: string[];
}

/** Options of {@linkcode convertStream}. */
export interface ConvertStreamOptions {
  /** File name for messages. */
  file?: string;
  /** Skip invalid records (counted in the result) instead of throwing. */
  skipInvalid?: boolean;
  /** Called after every record. */
  onRecord?: (counts: StreamCounts, item: RawItem) => void;
}

/**
 * Convert raw JSON items, yielding the output lines of each record (in order). Parsing and
 * checking errors name the file, line and field.
 *
 * @param items raw items, e.g. from `readJsonItems`
 * @param converter the run's converter
 * @param options file name, `skipInvalid`, progress callback
 * @returns an async iterator of output line groups; `counts` is updated as it goes
 *
 * @example
 * ```ts
 * import { Converter } from "./converter.ts";
 * import { convertStream, newCounts } from "./convert_file.ts";
 * const converter = new Converter(
 *   { task: "NER", language: "en", split: "test", splitNum: -1, negSchema: 1, randomSort: false, clusterMode: false, hashSeed: 0, source: "demo" },
 *   { types: ["person"], roles: [], typeRoles: [] },
 * );
 * async function* items() {
 *   yield { text: '{"text": "Bob", "entity": []}', line: 1, bytesRead: 0 };
 *   yield { text: '{"entity": []}', line: 2, bytesRead: 0 };
 * }
 * const counts = newCounts();
 * const out = [];
 * for await (const lines of convertStream(items(), converter, { skipInvalid: true }, counts)) out.push(...lines);
 * if (out.length !== 1 || counts.skipped !== 1) throw new Error();
 * ```
 */
export async function* convertStream(
  items: AsyncIterable<RawItem>,
  converter: Converter,
  options: ConvertStreamOptions = {},
  counts: StreamCounts = newCounts(),
): AsyncGenerator<string[]> {
  for await (const item of items) {
    const lines = convertItem(item, converter, options, counts);
    if (lines !== undefined) yield lines;
  }
}

/**
 * Convert one raw item, updating `counts`: its output lines, or `undefined` for a skipped invalid
 * record. Synchronous, so a caller converting a block of items pays no asynchronous step per record.
 */
function convertItem(
  item: RawItem,
  converter: Converter,
  options: ConvertStreamOptions,
  counts: StreamCounts,
): string[] | undefined {
  const { task, split } = converter.context.options;
  counts.records++;
  let lines: string[];
  try {
    // Training lines take only strings out of a record; test lines write its annotations back.
    const line = item.text;
    const record = readRecord(parsePyJson(line, split === "test"), task, split, line.indexOf("\\") < 0);
    lines = converter.convert(record);
  } catch (e) {
    const err = asInputError(e, options.file, item.line);
    if (err === undefined) throw e;
    if (!options.skipInvalid) throw err;
    counts.skipped++;
    const reason = (err.field ? `field \`${err.field}\`: ` : "") + err.problem;
    counts.skipReasons.set(reason, (counts.skipReasons.get(reason) ?? 0) + 1);
    if (counts.skipExamples.length < 5) counts.skipExamples.push(err.message);
    options.onRecord?.(counts, item);
    return undefined;
  }
  if (lines.length === 0) counts.withoutInstruction++;
  counts.instructions += lines.length;
  options.onRecord?.(counts, item);
  return lines;
}

/**
 * Fresh zero counts.
 *
 * @returns counts with nothing recorded
 *
 * @example
 * ```ts
 * import { newCounts } from "./convert_file.ts";
 * if (newCounts().records !== 0) throw new Error();
 * ```
 */
export function newCounts(): StreamCounts {
  return { records: 0, instructions: 0, withoutInstruction: 0, skipped: 0, skipReasons: new Map(), skipExamples: [] };
}

function asInputError(e: unknown, file: string | undefined, line: number): InputError | undefined {
  if (e instanceof InputError) return e.at({ file, line });
  if (e instanceof LoneSurrogateError) return new InputError(e.message, { file, line });
  if (e instanceof SyntaxError || (e instanceof Error && e.name === "JsonSyntaxError")) {
    return new InputError(e.message, { file, line });
  }
  return undefined;
}

/** Options of {@linkcode convertFile}: IEPile's flags plus paths and run controls. */
export interface ConvertFileOptions extends Omit<ConvertOptionsInput, "srcPath"> {
  /** Input JSON Lines file (`--src_path`). */
  srcPath: string;
  /** Output file, written atomically (`--tgt_path`); `-` for standard output. */
  tgtPath: string;
  /** Three-line schema file (`--schema_path`). */
  schemaPath: string;
  /** Hard-negative dictionary (`--hard_negative_path`), needed with `clusterMode` for training. */
  hardNegativePath?: string;
  /** Keys into a nested dictionary such as `hard_dict.json`, e.g. `NER/MSRA`. */
  hardNegativeKey?: string;
  /** Skip invalid records instead of stopping. */
  skipInvalid?: boolean;
  /** Called as records are converted. */
  onProgress?: (update: ProgressUpdate) => void;
}

/** What a file conversion did. */
export interface ConvertSummary extends StreamCounts {
  /** Input bytes. */
  bytesIn: number;
  /** Output bytes. */
  bytesOut: number;
  /** Wall time in seconds. */
  seconds: number;
}

/**
 * Convert a file: read the schema (and hard negatives), stream the records, write the output
 * atomically (a failed run leaves no partial output behind).
 *
 * @param options paths, IEPile options, `skipInvalid`, progress callback
 * @returns the counts
 * @throws {InputError} for bad input (unless `skipInvalid` and the problem is one record)
 * @throws {UsageError} for bad options
 *
 * @example
 * ```ts
 * import { convertFile } from "./convert_file.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/NER`);
 * await Deno.writeTextFile(`${dir}/NER/sample.json`, '{"text": "Bob met Ann.", "entity": [{"entity": "Bob", "entity_type": "person"}]}\n');
 * await Deno.writeTextFile(`${dir}/schema.json`, '["person", "place"]\n[]\n{}\n');
 * const summary = await convertFile({
 *   task: "NER", language: "en", split: "train", splitNum: -1,
 *   srcPath: `${dir}/NER/sample.json`, tgtPath: `${dir}/out.json`, schemaPath: `${dir}/schema.json`,
 * });
 * const line = JSON.parse(await Deno.readTextFile(`${dir}/out.json`));
 * if (summary.instructions !== 1 || line.output !== '{"person": ["Bob"], "place": []}') throw new Error(line.output);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function convertFile(options: ConvertFileOptions): Promise<ConvertSummary> {
  const start = performance.now();
  const resolved = resolveConvertOptions(options);
  const schema = await readSchema(options.schemaPath);
  let hard: Map<string, string[]> | undefined;
  if (resolved.clusterMode) {
    if (options.hardNegativePath === undefined) {
      throw new UsageError("--cluster_mode needs --hard_negative_path (a {schema key: [hard negatives]} file)");
    }
    hard = await readHardNegatives(options.hardNegativePath, options.hardNegativeKey);
  }
  const converter = new Converter(resolved, schema, hard);
  let totalBytes: number | undefined;
  try {
    totalBytes = (await Deno.stat(options.srcPath)).size;
  } catch { /* readJsonItems reports a missing file */ }
  const batches = readJsonItemBatches(options.srcPath);
  // Open the input first so a missing input does not create an output temp file.
  const first = await batches.next();
  let writer: AtomicTextWriter;
  try {
    writer = await AtomicTextWriter.open(options.tgtPath);
  } catch (e) {
    await batches.return(undefined);
    throw e;
  }
  const counts = newCounts();
  const streamOptions: ConvertStreamOptions = {
    file: options.srcPath,
    skipInvalid: options.skipInvalid,
    onRecord: options.onProgress === undefined
      ? undefined
      : (c, item) => options.onProgress!({ done: c.records, bytesRead: item.bytesRead, totalBytes }),
  };
  try {
    // A block of input (about 256 KiB) at a time: records are converted synchronously, and the
    // writer is flushed (asynchronously, overlapping the next block) once its buffer is full.
    for await (const batch of prepend(first, batches)) {
      let full = false;
      for (const item of batch) {
        const lines = convertItem(item, converter, streamOptions, counts);
        if (lines !== undefined) { for (const line of lines) full = writer.append(line); }
      }
      if (full) await writer.flush();
    }
    await writer.commit();
  } catch (e) {
    await writer.abort();
    throw e;
  }
  return {
    ...counts,
    bytesIn: totalBytes ?? 0,
    bytesOut: writer.bytesWritten,
    seconds: (performance.now() - start) / 1000,
  };
}

/** `first` then the rest of the iterator; the iterator is closed (its file too) however this ends. */
async function* prepend<T>(first: IteratorResult<T>, rest: AsyncGenerator<T>): AsyncGenerator<T> {
  try {
    if (first.done) return;
    yield first.value;
    yield* rest;
  } finally {
    await rest.return(undefined);
  }
}
