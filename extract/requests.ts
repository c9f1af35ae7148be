/**
 * The model requests of an `extract` run: for every document, the converter's test-split
 * instructions (the schema in batches of `--split_num`, the task's instruction text, exactly as
 * `convert --split test` writes them), each asked once per chunk of the document and once per
 * schema order, with descriptions (OneKE's description form) and few-shot examples where the
 * schema has them.
 *
 * @module
 */

import { getField, isJsonObject } from "../io/json_object.ts";
import { pyDumps, type PyJson } from "../io/py_json.ts";
import { parsePyJson } from "../io/py_json_parse.ts";
import { parseRecordLine } from "../io/record.ts";
import type { Task } from "../io/tasks.ts";
import { ANNOTATION_FIELD, Converter, instructionText, type Language, PyRandom, readRecord } from "../convert/mod.ts";
import type { Chunk } from "./chunk.ts";
import type { InputDocument } from "./documents.ts";
import { type ExtractSchema, hasDescriptions } from "./schema_input.ts";

/** Settings that decide the requests. */
export interface RequestSettings {
  /** The task. */
  task: Task;
  /** Instruction language. */
  language: Language;
  /** Schemas per instruction (`--split_num`; -1: all in one). */
  splitNum: number;
  /** Schema orders asked per batch (`--orders`, default 1: the converter's order alone). */
  orders?: number;
  /** Seed of the extra orders (default 0). */
  seed?: number;
  /** `source` written on the records (default `extract`). */
  source?: string;
}

/** One schema batch of one document, as the converter writes it for the test split. */
export interface DocumentBatch {
  /** The converter's test record (id, task, source, instruction, label), parsed. */
  record: Record<string, PyJson>;
  /** The batch's schema elements in the converter's order. */
  schema: PyJson[];
}

/** One request: a batch, in one order, on one chunk. */
export interface ExtractRequest {
  /** The request's id (document id, chunk, batch and order). */
  id: string;
  /** The instruction JSON text the model reads. */
  instruction: string;
  /** Index of the document in the input. */
  doc: number;
  /** Index of the chunk in the document. */
  chunk: number;
  /** Index of the batch in the document's batches. */
  batch: number;
  /** Index of the order (0: the converter's). */
  order: number;
}

/** The suffix OneKE's instructions carry when examples are given, per language. */
export const EXAMPLE_SUFFIX: Readonly<Record<Language, string>> = {
  zh: "你可以参考example进行抽取。",
  en: " You can refer to the example for extraction.",
};

/**
 * The converter's test-split batches for a document. A JSON Lines document carrying the task's
 * annotation field keeps it (its `label` is then the converter's); otherwise the document is
 * converted with no annotations (EEA, which asks about known events, with one empty event per
 * event type of the schema).
 *
 * @param doc the document
 * @param schema the schema
 * @param settings task, language, split number, source
 * @returns the batches in the converter's order
 *
 * @example
 * ```ts
 * import { documentBatches } from "./requests.ts";
 * import { parseExtractSchema } from "./schema_input.ts";
 * const schema = parseExtractSchema('["person", "location", "organization"]', "NER", "s");
 * const doc = { id: "1", text: "Bob and Alice visited Paris.", file: "x" };
 * const batches = documentBatches(doc, schema, { task: "NER", language: "en", splitNum: 2 });
 * if (JSON.stringify(batches.map((b) => b.schema)) !== '[["organization","location"],["person"]]') throw new Error();
 * ```
 */
export function documentBatches(doc: InputDocument, schema: ExtractSchema, settings: RequestSettings): DocumentBatch[] {
  const task = settings.task;
  const converter = new Converter({
    task,
    language: settings.language,
    split: "test",
    splitNum: settings.splitNum,
    negSchema: 1,
    randomSort: false,
    clusterMode: false,
    hashSeed: 0,
    source: settings.source ?? "extract",
  }, schema.lists);
  const field = ANNOTATION_FIELD[task];
  const annotated = isJsonObject(doc.record ?? null) && getField(doc.record as never, field) !== undefined;
  const value: PyJson = annotated ? doc.record! : {
    text: doc.text,
    [field]: task === "EEA"
      ? schema.lists.typeRoles.map(([t]) => ({ event_type: t, event_trigger: "", arguments: [] }))
      : [],
  };
  const lines = converter.convert(readRecord(value, task, "test"));
  return lines.map((line) => {
    const { fields } = parseRecordLine(line, "converter", 1);
    if (!annotated) delete fields.label;
    const instruction = parsePyJson(String(fields.instruction));
    const batch = isJsonObject(instruction) ? getField(instruction, "schema") : undefined;
    return { record: fields, schema: Array.isArray(batch) ? batch : [] };
  });
}

/**
 * Every request for a document: each batch in each of its orders ({@linkcode orderCount}) on each
 * chunk.
 *
 * @param docIndex the document's index in the input
 * @param doc the document
 * @param batches its batches ({@linkcode documentBatches})
 * @param chunks its chunks
 * @param schema the schema (descriptions, examples)
 * @param settings task, language, orders, seed
 * @returns the requests, chunk by chunk, batch by batch, order by order
 *
 * @example
 * ```ts
 * import { documentBatches, documentRequests } from "./requests.ts";
 * import { parseExtractSchema } from "./schema_input.ts";
 * const schema = parseExtractSchema('{"person": "a human"}', "NER", "s");
 * const doc = { id: "d", text: "Ann ran.", file: "x" };
 * const settings = { task: "NER" as const, language: "en" as const, splitNum: 4 };
 * const [r] = documentRequests(0, doc, documentBatches(doc, schema, settings), [{ start: 0, end: 8, text: "Ann ran." }], schema, settings);
 * if (!r.instruction.includes('"schema": {"person": "a human"}, "input": "Ann ran."')) throw new Error(r.instruction);
 * ```
 */
export function documentRequests(
  docIndex: number,
  doc: InputDocument,
  batches: readonly DocumentBatch[],
  chunks: readonly Chunk[],
  schema: ExtractSchema,
  settings: RequestSettings,
): ExtractRequest[] {
  const orders = settings.orders ?? 1;
  const out: ExtractRequest[] = [];
  chunks.forEach((chunk, c) => {
    batches.forEach((batch, b) => {
      const permutations = schemaOrders(batch.schema, orders, (settings.seed ?? 0) * 7919 + b);
      for (let o = 0; o < permutations.length; o++) {
        const elements = permutations[o];
        out.push({
          id: `${doc.id}#c${c}.b${b}.o${o}`,
          instruction: instructionFor(elements, chunk.text, schema, settings),
          doc: docIndex,
          chunk: c,
          batch: b,
          order: o,
        });
      }
    });
  });
  return out;
}

/**
 * The instruction JSON text for a schema batch and an input: `{"instruction", "schema",
 * ["example",] "input"}`, serialised as the converter does (Python's `json.dumps` with
 * `ensure_ascii=False`).
 *
 * @param elements the batch's schema elements, in the order asked
 * @param input the text to extract from
 * @param schema the schema (descriptions and examples)
 * @param settings the task and language
 * @returns the instruction text
 *
 * @example
 * ```ts
 * import { instructionFor } from "./requests.ts";
 * import { parseExtractSchema } from "./schema_input.ts";
 * const schema = parseExtractSchema('["person"]', "NER", "s");
 * const text = instructionFor(["person"], "Ann.", schema, { task: "NER", language: "en", splitNum: 4 });
 * if (!text.endsWith('"schema": ["person"], "input": "Ann."}')) throw new Error(text);
 * ```
 */
export function instructionFor(
  elements: readonly PyJson[],
  input: string,
  schema: ExtractSchema,
  settings: RequestSettings,
): string {
  const examples = schema.examples;
  const text = instructionText(settings.task, settings.language) +
    (examples.length > 0 ? EXAMPLE_SUFFIX[settings.language] : "");
  const object = new Map<string, PyJson>([["instruction", text], ["schema", describe(elements, schema)]]);
  if (examples.length > 0) {
    object.set("example", examples.map((e) => new Map<string, PyJson>([["input", e.input], ["output", e.output]])));
  }
  object.set("input", input);
  return pyDumps(object);
}

/** The batch in OneKE's description form when the schema has descriptions; as it is otherwise. */
function describe(elements: readonly PyJson[], schema: ExtractSchema): PyJson {
  if (!hasDescriptions(schema)) return [...elements];
  const d = (name: string) => schema.descriptions.get(name) ?? name;
  const r = (type: string, role: string) => schema.roleDescriptions.get(`${type}\u0000${role}`) ?? role;
  switch (schema.task) {
    case "NER":
    case "EET":
    case "RE":
      return new Map<string, PyJson>(elements.map((e) => [String(e), d(String(e))]));
    case "EE":
    case "EEA":
      return new Map<string, PyJson>(elements.map((e): [string, PyJson] => {
        const type = String(getField(e as never, "event_type"));
        const roles = getField(e as never, "arguments") as string[];
        const body = new Map<string, PyJson>([[type, d(type)]]);
        if (schema.task === "EE") body.set("trigger", true);
        body.set("arguments", new Map<string, PyJson>(roles.map((role) => [role, r(type, role)])));
        return [type, body];
      }));
    case "KG":
      return elements.map((e) => {
        const type = String(getField(e as never, "entity_type"));
        const attrs = getField(e as never, "attributes") as string[];
        return new Map<string, PyJson>([
          ["entity_type", type],
          ["attributes", new Map<string, PyJson>(attrs.map((a) => [a, r(type, a)]))],
        ]);
      });
    case "SPO":
      return [...elements];
  }
}

/**
 * How many orders a batch of `size` schema items is asked in: `orders`, or all its orders when it
 * has fewer (`size!`: one for a single item, two for a pair).
 *
 * @param size the batch's number of schema items
 * @param orders the orders asked for (`--orders`)
 * @returns the number of distinct orders asked
 *
 * @example
 * ```ts
 * import { orderCount } from "./requests.ts";
 * if (orderCount(1, 3) !== 1 || orderCount(2, 3) !== 2 || orderCount(4, 3) !== 3) throw new Error();
 * ```
 */
export function orderCount(size: number, orders: number): number {
  let distinct = 1;
  for (let k = 2; k <= size && distinct < orders; k++) distinct *= k;
  return Math.min(orders, distinct);
}

/**
 * The orders of a batch: its own, then seeded shuffles, all different ({@linkcode orderCount} of
 * them). Small batches draw from the list of their permutations; larger ones redraw a repeat.
 */
function schemaOrders(schema: readonly PyJson[], orders: number, seed: number): PyJson[][] {
  const count = orderCount(schema.length, orders);
  const out: PyJson[][] = [[...schema]];
  if (count <= 1) return out;
  if (schema.length <= 5) {
    const others = permutations(schema.map((_, i) => i)).slice(1); // the first is the batch's own order
    for (const p of shuffled(others, seed).slice(0, count - 1)) out.push(p.map((i) => schema[i]));
    return out;
  }
  const seen = new Set([pyDumps([...schema])]);
  for (let o = 1; o < count; o++) {
    let order = shuffled(schema, seed + o * 104729);
    for (let attempt = 1; seen.has(pyDumps(order)); attempt++) {
      order = shuffled(schema, seed + o * 104729 + attempt * 15485863);
    }
    seen.add(pyDumps(order));
    out.push(order);
  }
  return out;
}

/** Every permutation of `items`, the identity first (lexicographic order of positions). */
function permutations(items: readonly number[]): number[][] {
  if (items.length <= 1) return [[...items]];
  const out: number[][] = [];
  items.forEach((x, i) => {
    for (const rest of permutations([...items.slice(0, i), ...items.slice(i + 1)])) out.push([x, ...rest]);
  });
  return out;
}

/** A seeded shuffle (Python's `random.shuffle`), so a run's extra orders are the same every time. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  new PyRandom(seed).shuffle(out);
  return out;
}
