/**
 * Resuming a prediction run: which records an output file already holds (by `id` + instruction,
 * counted, so duplicate input records are each done once), and repair of a torn last line left
 * by a run that was killed mid-write.
 *
 * @module
 */

import { digestOf } from "../../io/digest.ts";
import { AtomicTextWriter } from "../../io/atomic_write.ts";
import { InputError } from "../../io/errors.ts";
import { pyDumps, type PyJson } from "../../io/py_json.ts";
import { parseRecordLine } from "../../io/record.ts";

/**
 * The resume key of a record: a digest of its `id` and `instruction` (what makes two records the
 * same prediction job), from their Python JSON spelling, so a record read back from the output
 * file gets the key it had in the input (ids like `2.0` or `NaN` included).
 *
 * @param record a converted test record, as `parseRecordLine` reads it
 * @returns a short digest
 *
 * @example
 * ```ts
 * import { recordKey } from "./resume.ts";
 * const a = recordKey({ id: "1", instruction: "x" });
 * if (a !== recordKey({ id: "1", instruction: "x", output: "y" }) || a === recordKey({ id: "1", instruction: "z" })) throw new Error();
 * ```
 */
export function recordKey(record: { readonly [field: string]: PyJson | undefined }): string {
  return digestOf("sha1", pyDumps([record.id ?? null, record.instruction ?? null]), "base64");
}

/** What an existing output file holds. */
export interface ResumeState {
  /** Completed records per key (error records too, unless they are to be retried). */
  done: Map<string, number>;
  /** Lines kept. */
  records: number;
  /** Records written with an `error` field. */
  errors: number;
  /** A torn (incomplete) last line was found and cut off. */
  repairedTail: boolean;
  /** Error records removed so that they are predicted again (`dropErrors`). */
  droppedErrors: number;
}

/**
 * Read an output file left by an earlier run: count its records by key, cut off a torn last
 * line (a line without its newline, or not valid JSON, at the very end), and with
 * `dropErrors` rewrite it without its error records so they are predicted again.
 *
 * @param path the output file (may be missing: nothing done yet)
 * @param options `dropErrors`: remove records with an `error` field so they are redone
 * @returns what is done
 * @throws {InputError} when a line other than the last is not a JSON object
 *
 * @example
 * ```ts
 * import { prepareResume } from "./resume.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, '{"id": "1", "instruction": "x", "output": "{}"}\n{"id": "2", "instru');
 * const state = await prepareResume(path);
 * if (state.records !== 1 || !state.repairedTail) throw new Error();
 * if (!(await Deno.readTextFile(path)).endsWith("}\n")) throw new Error("torn line cut off");
 * ```
 */
export async function prepareResume(path: string, options: { dropErrors?: boolean } = {}): Promise<ResumeState> {
  const state: ResumeState = { done: new Map(), records: 0, errors: 0, repairedTail: false, droppedErrors: 0 };
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return state;
    throw new InputError(`cannot read: ${(e as Error).message}`, { file: path });
  }
  // Keep whole lines only: everything after the last newline is a torn write.
  let end = bytes.lastIndexOf(10) + 1;
  const text = new TextDecoder().decode(bytes.subarray(0, end));
  const lines = text.split("\n");
  lines.pop();
  const kept: string[] = [];
  let offset = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let record: Record<string, PyJson>;
    try {
      record = parseRecordLine(line, path, i + 1).fields;
    } catch {
      if (i === lines.length - 1) {
        end = offset; // a last line cut by a crash that happened to end in a newline
        break;
      }
      throw new InputError("not a JSON object: this does not look like a prediction file", { file: path, line: i + 1 });
    }
    offset += new TextEncoder().encode(line).length + 1;
    const failed = record.error !== undefined;
    if (failed && options.dropErrors) {
      state.droppedErrors++;
      continue;
    }
    kept.push(line);
    const key = recordKey(record);
    state.done.set(key, (state.done.get(key) ?? 0) + 1);
    state.records++;
    if (failed) state.errors++;
  }
  state.repairedTail = end < bytes.length;
  if (state.droppedErrors > 0) {
    const writer = await AtomicTextWriter.open(path);
    for (const l of kept) writer.append(l + "\n");
    await writer.commit();
  } else if (state.repairedTail) {
    await Deno.truncate(path, end);
  }
  return state;
}
