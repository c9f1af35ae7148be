/**
 * Checks of an `infer` input before any model loads: that the file holds instruction records
 * (not annotated records still to be converted), and that the context can hold at least one of
 * its prompts with an answer. Each failure is one usage error saying what to do instead.
 *
 * @module
 */

import { UsageError } from "../../io/errors.ts";
import { readJsonItems } from "../../io/json_items.ts";
import { parseRecordLine } from "../../io/record.ts";

/** Fields of IEPile's annotated records, by the task whose converter reads them. */
const ANNOTATION_FIELDS: ReadonlyArray<readonly [string, string]> = [
  ["entity", "NER"],
  ["relation", "RE"],
  ["event", "EE"],
];

/**
 * Check that the first records of a file are instruction records (as `iepile convert --split
 * test` writes them): each has an `instruction` and, when answers are constrained, a `task`.
 *
 * @param path the input file
 * @param options `needTask`: the answer shape needs `task`; `records`: how many to look at (default 5)
 * @returns once checked
 * @throws {UsageError} naming the line and what the record looks like instead (annotated records:
 * the `iepile convert` command that makes instruction records of them)
 * @throws {InputError} for a line that is not a JSON object
 *
 * @example
 * ```ts
 * import { checkInstructionRecords } from "./preflight.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, '{"text": "Ann met Bob.", "entity": []}\n');
 * const message = await checkInstructionRecords(path).then(() => "", (e) => e.message);
 * if (!message.includes("iepile convert")) throw new Error(message);
 * await Deno.remove(path);
 * ```
 */
export async function checkInstructionRecords(
  path: string,
  options: { needTask?: boolean; records?: number } = {},
): Promise<void> {
  let seen = 0;
  for await (const item of readJsonItems(path)) {
    if (seen++ >= (options.records ?? 5)) break;
    const { fields } = parseRecordLine(item.text, path, item.line);
    const where = `${path}:${item.line}`;
    if (fields.instruction === undefined) {
      throw new UsageError(
        `infer: ${where}: not an instruction record (no "instruction" field): ${looksLike(fields, path)}`,
      );
    }
    if (options.needTask && fields.task === undefined) {
      throw new UsageError(
        `infer: ${where}: the record has no "task" field, which the answer shape needs ` +
          "(records of 'iepile convert --split test' have it); add it, or run with --no-constrain",
      );
    }
  }
}

/** What a record without an instruction looks like, and what to do with it. */
function looksLike(fields: Record<string, unknown>, path: string): string {
  const keys = Object.keys(fields);
  const shown = keys.length === 0
    ? "no fields"
    : `fields ${keys.slice(0, 6).join(", ")}${keys.length > 6 ? ", …" : ""}`;
  const annotation = ANNOTATION_FIELDS.find(([field]) => field in fields);
  if (typeof fields.text === "string" && annotation !== undefined) {
    return `it looks like annotated records (${shown}); convert it first: iepile convert --src_path ${path} ` +
      `--schema_path SCHEMA.json --task ${annotation[1]} --split test --tgt_path TEST.json, then infer on TEST.json`;
  }
  return `it has ${shown}; infer takes the records of 'iepile convert --split test' (or any records with an "instruction")`;
}

/**
 * Check that a context of `contextSize` tokens can hold at least one prompt of the file and one
 * new token. Reads records until one fits (usually the first), so it costs one prompt when the
 * context is big enough.
 *
 * @param path the input file
 * @param promptTokens the prompt length of a record (as the run renders it); may throw for a bad
 * record, which is then passed over (the run reports it)
 * @param contextSize the context, in tokens
 * @param limit only the first `limit` records (as the run)
 * @returns once checked
 * @throws {UsageError} when no prompt fits, giving the shortest prompt's length
 *
 * @example
 * ```ts
 * import { checkPromptsFit } from "./preflight.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, '{"instruction": "abcdef"}\n{"instruction": "abc"}\n');
 * const tokens = (r: Record<string, unknown>) => String(r.instruction).length;
 * await checkPromptsFit(path, tokens, 4); // "abc" and one new token fit
 * const message = await checkPromptsFit(path, tokens, 3).then(() => "", (e) => e.message);
 * if (!message.includes("the shortest prompt has 3 tokens")) throw new Error(message);
 * await Deno.remove(path);
 * ```
 */
export async function checkPromptsFit(
  path: string,
  promptTokens: (record: Record<string, unknown>) => number,
  contextSize: number,
  limit?: number,
): Promise<void> {
  let shortest = Infinity;
  let seen = 0;
  for await (const item of readJsonItems(path)) {
    if (limit !== undefined && seen >= limit) break;
    seen++;
    let n: number;
    try {
      n = promptTokens(parseRecordLine(item.text, path, item.line).fields);
    } catch {
      continue; // a bad record: the run writes its error
    }
    if (n + 1 <= contextSize) return;
    shortest = Math.min(shortest, n);
  }
  if (shortest === Infinity) return;
  throw new UsageError(
    `infer: --context-size ${contextSize} is smaller than every prompt of ${path}: the shortest prompt has ` +
      `${shortest} tokens, and an answer needs at least one more; raise --context-size (or lower --cutoff-len)`,
  );
}
