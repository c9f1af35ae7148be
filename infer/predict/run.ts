/**
 * A prediction run: every record of a converted test file gets an `output` from a predictor
 * (a local engine or a remote server), written in input order to an output file that a killed
 * run can continue: records already there (by `id` + instruction) are skipped, appends are
 * flushed in small batches, a torn last line is cut off and redone. A record whose prediction
 * fails is written with an `error` field, never dropped.
 *
 * @module
 */

import { InputError } from "../../io/errors.ts";
import { readJsonItemBatches } from "../../io/json_items.ts";
import { pyDumps, type PyJson } from "../../io/py_json.ts";
import { parseRecordLine } from "../../io/record.ts";
import { prepareResume, recordKey } from "./resume.ts";

/** One record to predict. */
export interface PredictRequest {
  /** The record's fields as read (`id`, `task`, `instruction`, …). */
  record: Record<string, unknown>;
  /** Its 1-based line in the input file. */
  line: number;
}

/** A predictor's answer for one record. */
export interface Prediction {
  /** The model's answer text. */
  output: string;
  /** Prompt tokens used, when known. */
  promptTokens?: number;
  /** Tokens generated, when known. */
  completionTokens?: number;
  /** Why generation ended: `stop` (end of answer), `length` (token limit), … */
  finish?: string;
}

/** Anything that turns a record into an answer: a local engine or an OpenAI-compatible server. */
export interface Predictor {
  /** How many predictions may run at once (1 for a local engine). */
  readonly concurrency: number;
  /**
   * Predict one record.
   *
   * @param request the record
   * @param signal aborts the prediction when the run is stopped
   * @returns the answer
   */
  predict(request: PredictRequest, signal: AbortSignal): Promise<Prediction>;
}

/**
 * An error after which no record can succeed (a server that cannot be reached, a wrong URL or
 * key): a predictor throws it to stop the whole run at once instead of writing an error record
 * for every record.
 *
 * @example
 * ```ts
 * import { FatalPredictionError, runPredictions } from "./run.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/test.json`, '{"id": "1", "instruction": "x"}\n');
 * const predictor = { concurrency: 1, predict: () => Promise.reject(new FatalPredictionError("no server")) };
 * const run = runPredictions({ input: `${dir}/test.json`, output: `${dir}/pred.json`, predictor });
 * if (await run.then(() => "ran", (e) => e.message) !== "no server") throw new Error();
 * ```
 */
export class FatalPredictionError extends Error {
  /**
   * Create a `FatalPredictionError`.
   *
   * @param message what went wrong, as one line
   */
  constructor(message: string) {
    super(message);
    this.name = "FatalPredictionError";
  }
}

/** Counts reported while a run goes on. */
export interface RunProgress {
  /** Records in the input. */
  total: number;
  /** Records written or found done so far. */
  done: number;
  /** Records predicted in this run so far. */
  predicted: number;
  /** Tokens generated in this run so far. */
  completionTokens: number;
  /** Seconds since this run started. */
  seconds: number;
}

/** What a run did. */
export interface RunSummary extends RunProgress {
  /** Records found already done in the output file (skipped). */
  skipped: number;
  /** Records written with an `error` field in this run. */
  errors: number;
  /** The first of them (input line and reason), when there is one. */
  firstError?: { line: number; message: string };
  /** Prompt tokens of this run's predictions. */
  promptTokens: number;
  /** Predictions that hit the token limit. */
  truncated: number;
  /** A torn last line of an earlier run was cut off (and its record redone). */
  repairedTail: boolean;
  /** Earlier error records removed to be redone (`retryErrors`). */
  retried: number;
  /** The run was stopped before the end (`signal`). */
  interrupted: boolean;
}

/** Options of {@linkcode runPredictions}. */
export interface RunOptions {
  /** Converted test records (JSON Lines or a JSON array). */
  input: string;
  /**
   * Prediction file: created, or continued when it exists; or a function receiving the lines
   * (standard output: no resume, every record predicted).
   */
  output: string | ((text: string) => void);
  /** Who answers. */
  predictor: Predictor;
  /** Redo records an earlier run wrote with an `error` field. */
  retryErrors?: boolean;
  /** Write after this many finished records (default: the predictor's concurrency). */
  flushEvery?: number;
  /** Only the first N records of the input (for trials). */
  limit?: number;
  /** Stops the run: finished predictions are written, the rest is left for the next run. */
  signal?: AbortSignal;
  /** Called after each written record. */
  onProgress?: (progress: RunProgress) => void;
  /**
   * Awaited once, just before the first record is written (not at all when none is): for what
   * must exist only beside records, such as the run file of their settings. A failure stops the
   * run before anything is written.
   */
  beforeFirstWrite?: () => Promise<void>;
}

/**
 * Predict every record of a test file that the output file does not hold yet.
 *
 * @param options input, output, predictor and run controls
 * @returns the counts
 * @throws {InputError} for an unreadable or malformed input file (the output is left consistent)
 * @throws {FatalPredictionError} when the predictor says no record can succeed (an output file
 * this run created and left empty is removed)
 *
 * @example
 * ```ts
 * import { runPredictions } from "./run.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/test.json`, '{"id": "1", "instruction": "x"}\n{"id": "2", "instruction": "y"}\n');
 * const predictor = { concurrency: 1, predict: async () => ({ output: '{"person": []}' }) };
 * const first = await runPredictions({ input: `${dir}/test.json`, output: `${dir}/pred.json`, predictor, limit: 1 });
 * const second = await runPredictions({ input: `${dir}/test.json`, output: `${dir}/pred.json`, predictor });
 * if (first.predicted !== 1 || second.skipped !== 1 || second.predicted !== 1) throw new Error();
 * const lines = (await Deno.readTextFile(`${dir}/pred.json`)).trim().split("\n");
 * if (lines[1] !== '{"id": "2", "instruction": "y", "output": "{\\"person\\": []}"}') throw new Error(lines[1]);
 * ```
 */
export async function runPredictions(options: RunOptions): Promise<RunSummary> {
  const start = performance.now();
  const total = await countRecords(options.input, options.limit); // the input must be readable first
  const toFile = typeof options.output === "string";
  const resume = typeof options.output === "string"
    ? await prepareResume(options.output, { dropErrors: options.retryErrors })
    : { done: new Map<string, number>(), repairedTail: false, droppedErrors: 0 };
  const summary: RunSummary = {
    total,
    done: 0,
    predicted: 0,
    completionTokens: 0,
    seconds: 0,
    skipped: 0,
    errors: 0,
    promptTokens: 0,
    truncated: 0,
    repairedTail: resume.repairedTail,
    retried: resume.droppedErrors,
    interrupted: false,
  };
  const sink = typeof options.output === "string" ? await openOutput(options.output) : {
    created: false,
    write: (bytes: Uint8Array) => (options.output as (text: string) => void)(new TextDecoder().decode(bytes)),
    close: () => {},
  };
  const writer = new OrderedAppender(
    sink,
    options.flushEvery ?? Math.max(1, options.predictor.concurrency),
    options.beforeFirstWrite,
  );
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  if (options.signal?.aborted) stop.abort();
  options.signal?.addEventListener("abort", onAbort);
  const running = new Set<Promise<void>>();
  let failure: unknown;
  const progress = () => {
    summary.seconds = (performance.now() - start) / 1000;
    options.onProgress?.({ ...summary });
  };
  try {
    let seq = 0;
    let count = 0;
    outer: for await (const batch of readJsonItemBatches(options.input)) {
      for (const item of batch) {
        if (options.limit !== undefined && count >= options.limit) break outer;
        count++;
        const { fields, value } = parseRecordLine(item.text, options.input, item.line);
        const key = recordKey(fields);
        const already = resume.done.get(key) ?? 0;
        if (already > 0) {
          resume.done.set(key, already - 1);
          summary.skipped++;
          summary.done++;
          continue;
        }
        if (stop.signal.aborted || failure !== undefined) break outer;
        while (running.size >= Math.max(1, options.predictor.concurrency)) await Promise.race(running);
        if (stop.signal.aborted || failure !== undefined) break outer;
        const mySeq = seq++;
        const task = predictOne(options.predictor, { record: fields, line: item.line }, stop.signal)
          .then(async (result) => {
            if ("error" in result && stop.signal.aborted) return writer.skip(mySeq); // stopped: redo next run
            // Counted when the line is certain to be written (in order; lines after a skipped one are not).
            const tally = () => {
              if ("error" in result) {
                summary.errors++;
                summary.firstError ??= { line: item.line, message: result.error };
              } else {
                summary.predicted++;
                summary.promptTokens += result.promptTokens ?? 0;
                summary.completionTokens += result.completionTokens ?? 0;
                if (result.finish === "length") summary.truncated++;
              }
              summary.done++;
            };
            await writer.put(mySeq, formatLine(value, result), tally);
            progress();
          })
          .catch((e) => {
            failure ??= e;
            stop.abort(); // do not keep predicting what cannot be written
          });
        running.add(task);
        task.finally(() => running.delete(task));
      }
    }
    await Promise.all(running);
    if (failure !== undefined) throw failure;
    summary.interrupted = stop.signal.aborted && summary.done < total;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await Promise.allSettled(running);
    try {
      await writer.close();
    } finally {
      // A run that failed before writing anything leaves no empty file behind.
      if (failure !== undefined && sink.created && toFile && writer.bytes === 0) {
        await Deno.remove(options.output as string).catch(() => {});
      }
    }
  }
  summary.seconds = (performance.now() - start) / 1000;
  return summary;
}

async function predictOne(
  predictor: Predictor,
  request: PredictRequest,
  signal: AbortSignal,
): Promise<Prediction | { error: string }> {
  try {
    const p = await predictor.predict(request, signal);
    if (typeof p?.output !== "string") return { error: "the predictor returned no output text" };
    return p;
  } catch (e) {
    if (e instanceof FatalPredictionError) throw e; // stops the run
    return { error: (e as Error)?.message ?? String(e) };
  }
}

/** Where the lines go: an output file opened for appending. */
interface LineSink {
  /** The file did not exist before this run. */
  created: boolean;
  write(bytes: Uint8Array): Promise<number> | void;
  close(): void;
}

async function openOutput(path: string): Promise<LineSink> {
  const existed = await Deno.lstat(path).then(() => true, () => false);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { append: true, create: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new InputError("output folder does not exist", { file: path });
    if (e instanceof Deno.errors.IsADirectory || (e as Error).message.includes("directory")) {
      throw new InputError("is a directory, expected a file to write", { file: path });
    }
    throw new InputError(`cannot write: ${(e as Error).message}`, { file: path });
  }
  return { created: !existed, write: (bytes) => file.write(bytes), close: () => file.close() };
}

/** The record as read, with `output` set (kept in place, or added last) and `error` on failure. */
function formatLine(record: PyJson, result: Prediction | { error: string }): string {
  const fields = record instanceof Map ? new Map(record) : new Map(Object.entries(record as Record<string, PyJson>));
  if ("error" in result) {
    fields.set("output", "");
    fields.set("error", result.error);
  } else {
    fields.set("output", result.output);
    fields.delete("error");
  }
  return pyDumps(fields) + "\n";
}

async function countRecords(path: string, limit: number | undefined): Promise<number> {
  let n = 0;
  for await (const batch of readJsonItemBatches(path)) {
    n += batch.length;
    if (limit !== undefined && n >= limit) return limit;
  }
  return n;
}

/** Writes lines in sequence order although they finish out of order; flushes every few lines. */
class OrderedAppender {
  readonly #file: LineSink;
  readonly #every: number;
  #before: (() => Promise<void>) | undefined;
  readonly #pending = new Map<number, { line: string; written: () => void } | null>();
  #next = 0;
  #buffer: string[] = [];
  #encoder = new TextEncoder();
  #lock: Promise<void> = Promise.resolve();

  /** Bytes written so far. */
  bytes = 0;

  constructor(file: LineSink, every: number, before?: () => Promise<void>) {
    this.#file = file;
    this.#every = every;
    this.#before = before;
  }

  /** The line of record `seq` (written once every earlier one is; `written` is called then). */
  put(seq: number, line: string, written: () => void): Promise<void> {
    this.#pending.set(seq, { line, written });
    return this.#drain(false);
  }

  /** Record `seq` will not be written (an interrupted prediction). */
  skip(seq: number): Promise<void> {
    this.#pending.set(seq, null);
    return this.#drain(false);
  }

  async close(): Promise<void> {
    try {
      await this.#drain(true);
    } finally {
      this.#file.close();
    }
  }

  #drain(force: boolean): Promise<void> {
    while (this.#pending.has(this.#next)) {
      const entry = this.#pending.get(this.#next)!;
      this.#pending.delete(this.#next++);
      if (entry === null) {
        // Nothing after a skipped record may be written, or resuming would lose it.
        for (const k of [...this.#pending.keys()]) this.#pending.delete(k);
        this.#next = Infinity;
        break;
      }
      this.#buffer.push(entry.line);
      entry.written();
    }
    if (this.#buffer.length === 0 || (!force && this.#buffer.length < this.#every)) return this.#lock;
    const bytes = this.#encoder.encode(this.#buffer.join(""));
    this.#buffer = [];
    this.#lock = this.#lock.then(async () => {
      const before = this.#before;
      this.#before = undefined;
      await before?.();
      for (let off = 0; off < bytes.length;) {
        const n = await this.#file.write(bytes.subarray(off));
        const wrote = typeof n === "number" ? n : bytes.length - off;
        off += wrote;
        this.bytes += wrote;
      }
    });
    return this.#lock;
  }
}
