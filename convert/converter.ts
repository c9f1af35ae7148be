/**
 * Turning checked records into IEPile instruction lines, one record at a time.
 *
 * @module
 */

import { digestOf } from "../io/digest.ts";
import { pyDumpsEscaped, pyStr } from "../io/py_json.ts";
import { type ConvertOptions, createContext, type SamplingContext } from "./context.ts";
import { instructionText } from "./instructions.ts";
import { filterRecord, type IeRecord } from "./records.ts";
import type { SchemaLists } from "./schema.ts";
import { splitSchemas } from "./split_schemas.ts";
import { concatList, escapedJson, jsonList, TASK_ADAPTERS, type TaskAdapter } from "./tasks/mod.ts";

/**
 * Converts records in file order. Keeps the run's random generators, so records must be fed
 * in order, each once (as IEPile consumes one stream across the whole file).
 *
 * @example
 * ```ts
 * import { Converter } from "./converter.ts";
 * const c = new Converter(
 *   { task: "NER", language: "en", split: "train", splitNum: 2, negSchema: 1, randomSort: false, clusterMode: false, hashSeed: 0, source: "NER" },
 *   { types: ["person", "location", "organization"], roles: [], typeRoles: [] },
 * );
 * const lines = c.convert({ text: "Bob and Alice visited Paris.", annotations: [
 *   { entity: "Bob", entity_type: "person", raw: { entity: "Bob", entity_type: "person" } },
 * ] });
 * // sorted schema [location, organization, person] in batches of 2: two instructions
 * if (lines.length !== 2 || !lines[1].endsWith('"output": "{\\"person\\": [\\"Bob\\"]}"}\n')) throw new Error(lines[1]);
 * ```
 */
export class Converter {
  /** The run's shared state (schema sets, generators). */
  readonly context: SamplingContext;
  readonly #adapter: TaskAdapter;
  readonly #head: string;
  /** The start of every instruction text, already escaped as the inside of a JSON string. */
  readonly #instructionHead: string;
  /** A training line up to its schema: `{"task": …, "instruction": "{\"instruction\": …, \"schema\": `. */
  readonly #trainHead: string;
  #fixedTestBatches: string[] | undefined;
  /** Test batches by the item array they were cut from (see `#testBatches`). */
  #testBatchesByItems = new WeakMap<readonly string[], string[]>();
  /** Escaped schema items (see `#escapedSchema`). */
  #escapedItems = new Map<string, string>();

  /**
   * Create a `Converter`.
   *
   * @param options the conversion options (see `ConvertOptions`)
   * @param schema the schema lists
   * @param hardNegatives hard negatives per positive key (cluster mode)
   */
  constructor(options: ConvertOptions, schema: SchemaLists, hardNegatives?: ReadonlyMap<string, readonly string[]>) {
    this.context = createContext(options, schema, hardNegatives);
    this.#adapter = TASK_ADAPTERS[options.task];
    this.#head = `"task": ${pyStr(options.task)}, "source": ${pyStr(options.source)}, "instruction": `;
    this.#instructionHead = escapedJson(
      `{"instruction": ${pyStr(instructionText(options.task, options.language))}, "schema": `,
    );
    this.#trainHead = `{${this.#head}"${this.#instructionHead}`;
  }

  /**
   * The output lines (each ending in `\n`) for one record: one per schema batch. Empty when the
   * record yields no instruction (an EEA record without events; a record without positives at
   * `negSchema` 0).
   *
   * @param record a checked record (see `readRecord`); IEPile's read-time filter is applied here
   * @returns JSON Lines text, one entry per instruction
   *
   * @example
   * ```ts
   * import { Converter } from "./converter.ts";
   * const c = new Converter(
   *   { task: "RE", language: "zh", split: "test", splitNum: -1, negSchema: 1, randomSort: false, clusterMode: false, hashSeed: 0, source: "RE" },
   *   { types: [], roles: ["founder"], typeRoles: [] },
   * );
   * const [line] = c.convert({ text: "x", annotations: [] });
   * if (!line.startsWith('{"id": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881", "task": "RE"')) throw new Error(line);
   * ```
   */
  convert(record: IeRecord): string[] {
    const kept = filterRecord(record, this.context.options.task);
    if (kept === null) return [];
    // The "instruction" value is a JSON text written as a JSON string: head + schema + input,
    // escaped once more. Its pieces meet at ASCII characters, so escaping each piece apart gives
    // the same text; the head is escaped once per run and the input (the long part) once per
    // record, however many schema batches it is asked with.
    const input = escapedInput(kept.text, kept.plain);
    if (this.context.options.split === "train") {
      const repeat = this.#adapter.trainItemsRepeat;
      return this.#adapter.train(this.context, kept).map((b) => {
        const schema = repeat ? this.#escapedSchema(b.schema) : concatList(b.schema);
        const line = this.#trainHead + schema + input + '", "output": "' + b.output + '"}\n';
        // A line is a tree of dozens of concatenated pieces, which the writer's `join` would copy
        // piece by piece; made flat here, while its pieces are fresh, it is copied at once (en RE
        // train: 12% less CPU).
        flattened += line.charCodeAt(0);
        return line;
      });
    }
    const id = digestOf("sha256", kept.text);
    // The label is a JSON list written as a JSON string; each item is written escaped directly.
    const label = kept.annotations === undefined
      ? ""
      : `, "label": "${jsonList(kept.annotations.map((a) => pyDumpsEscaped(a.raw, kept.plain)))}"`;
    return this.#testBatches(kept).map((schema) =>
      `{"id": "${id}", ${this.#head}"${this.#instructionHead}${schema}${input}"${label}}\n`
    );
  }

  /**
   * A schema list from items (JSON text each) that repeat from record to record, as the inside
   * of a JSON string: each distinct item is escaped once (the `, ` between them needs none).
   */
  #escapedSchema(items: readonly string[]): string {
    if (items.length === 0) return "[]";
    let out = "[" + this.#escapedItem(items[0]);
    for (let i = 1; i < items.length; i++) out += ", " + this.#escapedItem(items[i]);
    return out + "]";
  }

  #escapedItem(item: string): string {
    let escaped = this.#escapedItems.get(item);
    if (escaped === undefined) {
      if (this.#escapedItems.size >= 100_000) this.#escapedItems = new Map();
      escaped = escapedJson(item);
      this.#escapedItems.set(item, escaped);
    }
    return escaped;
  }

  /** A test record's schema batches, each escaped as the inside of a JSON string. */
  #testBatches(record: IeRecord): string[] {
    if (this.#fixedTestBatches !== undefined) return this.#fixedTestBatches;
    const items = this.#adapter.testItems(this.context, record);
    // An adapter may give the same (unchanged) item array again: its batches are then reused.
    let batches = this.#testBatchesByItems.get(items);
    if (batches === undefined) {
      batches = splitSchemas(items, this.context.options.splitNum).map((batch) => this.#escapedSchema(batch));
      this.#testBatchesByItems.set(items, batches);
    }
    if (this.#adapter.testItemsFixed) this.#fixedTestBatches = batches;
    return batches;
  }
}

/** Where the line-flattening reads go (kept, so the reads are not optimized away). */
let flattened = 0;

/** Characters JSON escapes (`"`, `\\`, controls); text without them is written as it is. */
// deno-lint-ignore no-control-regex -- the control characters are what it looks for
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

/**
 * `, "input": TEXT}` as it appears inside the instruction string: the text escaped twice (once
 * as a JSON string, once more inside the instruction). Most texts hold nothing to escape, and
 * are then copied instead of escaped twice.
 */
function escapedInput(text: string, plain: boolean | undefined): string {
  if (plain !== true && (!text.isWellFormed() || NEEDS_ESCAPE.test(text))) {
    return escapedJson(`, "input": ${pyStr(text)}}`);
  }
  return `, \\"input\\": \\"${text}\\"}`;
}
