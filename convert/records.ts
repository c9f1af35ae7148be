/**
 * Annotated input records: reading one parsed JSON record into a typed, checked form for a
 * task, and the read-time filters of IEPile (duplicate entities and triples removed, EEA
 * records without events dropped).
 *
 * @module
 */

import { InputError } from "../io/errors.ts";
import { getField, isJsonObject, type JsonObject } from "../io/json_object.ts";
import type { PyJson } from "../io/py_json.ts";
import type { Task } from "./instructions.ts";

/** An NER annotation. */
export interface Entity {
  /** The entity text. */
  entity: string;
  /** Its type. */
  entity_type: string;
  /** The element as it was read (re-serialized into `label`). */
  raw: PyJson;
}

/** An RE, SPO or KG annotation (KG: head = instance, relation = attribute, tail = value). */
export interface Relation {
  /** Subject (KG: the entity instance). */
  head: string;
  /** Relation (KG: the attribute). */
  relation: string;
  /** Object (KG: the value). */
  tail: string;
  /** SPO only. */
  head_type?: string;
  /** SPO only. */
  tail_type?: string;
  /** The element as it was read. */
  raw: PyJson;
}

/** One argument of an event. */
export interface EventArgument {
  /** The argument text. */
  argument: string;
  /** Its role. */
  role: string;
}

/** An EE, EET or EEA annotation. */
export interface IeEvent {
  /** Missing in the input → `""` (EE/EEA treat it as no trigger). */
  event_trigger: string;
  /** The event type. */
  event_type: string;
  /** Missing in the input → `[]`. */
  arguments: EventArgument[];
  /** The element as it was read. */
  raw: PyJson;
}

/** Any annotation element. */
export type Annotation = Entity | Relation | IeEvent;

/** A checked input record. */
export interface IeRecord<A extends Annotation = Annotation> {
  /** The text to extract from. */
  text: string;
  /** The annotation list; `undefined` when the field is absent (allowed for EE and EET test data). */
  annotations: A[] | undefined;
  /**
   * True when no string of the record holds a character JSON escapes (`"`, `\\`, controls) or an
   * unpaired surrogate, so each is written between quotes as it is. A reader knows it when the
   * record's JSON line has no backslash: JSON can only write those characters escaped.
   */
  plain?: boolean;
}

/** The annotation field of each task. */
export const ANNOTATION_FIELD: Readonly<Record<Task, "entity" | "relation" | "event">> = {
  NER: "entity",
  RE: "relation",
  SPO: "relation",
  KG: "relation",
  EE: "event",
  EET: "event",
  EEA: "event",
};

/**
 * Check a parsed JSON record and type it for a task. Fields the task reads must be strings;
 * other fields are kept as they are (they reappear in `label`).
 *
 * @param value the parsed record
 * @param task the task
 * @param split `train` requires the annotation field for every task; `test` allows EE/EET without it
 * @param plain the record's `plain` (see {@linkcode IeRecord}): true when its JSON line has no backslash
 * @returns the typed record
 * @throws {InputError} naming the field that is missing or wrong (the caller adds file and line)
 *
 * @example
 * ```ts
 * import { readRecord } from "./records.ts";
 * const r = readRecord({ text: "Bob", entity: [{ entity: "Bob", entity_type: "person" }] }, "NER", "train");
 * if (r.annotations?.length !== 1) throw new Error();
 * ```
 */
export function readRecord(value: PyJson, task: Task, split: "train" | "test", plain = false): IeRecord {
  if (!isJsonObject(value)) throw new InputError("a record must be a JSON object");
  const text = getField(value, "text");
  if (text === undefined) throw new InputError("missing (every record needs its text)", { field: "text" });
  const field = ANNOTATION_FIELD[task];
  if (typeof text !== "string") throw new InputError("must be a string", { field: "text" });
  checkWellFormed(text, "text");
  const list = getField(value, field);
  if (list === undefined) {
    if ((task === "EE" || task === "EET") && split === "test") return { text, annotations: undefined, plain };
    throw new InputError(
      `missing (${task} records need it${task === "EE" || task === "EET" ? " for training" : ""}; use [] for none)`,
      {
        field,
      },
    );
  }
  if (!Array.isArray(list)) throw new InputError("must be a JSON list", { field });
  const annotations = new Array<Annotation>(list.length);
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    // The field path (`entity[3]`) is only spelled out for a message.
    if (!isJsonObject(item)) throw new InputError("must be a JSON object", { field: `${field}[${i}]` });
    if (field === "entity") annotations[i] = readEntity(item, field, i);
    else if (field === "event") annotations[i] = readEvent(item, field, i, task);
    else annotations[i] = readRelation(item, field, i, task === "SPO");
  }
  return { text, annotations, plain };
}

// Each reader takes the usual record (plain objects, well-formed strings) directly, and checks
// anything else field by field, spelling out the field path (`event[2].arguments[0]`) only then.

function readEntity(item: JsonObject, field: string, i: number): Entity {
  if (!(item instanceof Map)) {
    const { entity, entity_type } = item;
    if (isText(entity) && isText(entity_type)) return { entity, entity_type, raw: item };
  }
  const at = `${field}[${i}]`;
  return { entity: str(item, "entity", at), entity_type: str(item, "entity_type", at), raw: item };
}

function readRelation(item: JsonObject, field: string, i: number, spo: boolean): Relation {
  if (!(item instanceof Map)) {
    const { head, relation, tail, head_type, tail_type } = item;
    if (isText(head) && isText(relation) && isText(tail) && (!spo || (isText(head_type) && isText(tail_type)))) {
      const r: Relation = { head, relation, tail, raw: item };
      if (spo) r.head_type = head_type as string, r.tail_type = tail_type as string;
      return r;
    }
  }
  const at = `${field}[${i}]`;
  const r: Relation = {
    head: str(item, "head", at),
    relation: str(item, "relation", at),
    tail: str(item, "tail", at),
    raw: item,
  };
  if (spo) {
    r.head_type = str(item, "head_type", at);
    r.tail_type = str(item, "tail_type", at);
  }
  return r;
}

function readEvent(item: JsonObject, field: string, i: number, task: Task): IeEvent {
  const fast = fastEvent(item, task);
  if (fast !== undefined) return fast;
  const at = `${field}[${i}]`;
  const event_type = str(item, "event_type", at);
  const event_trigger = task === "EET" ? str(item, "event_trigger", at) : optStr(item, "event_trigger", at) ?? "";
  const argsValue = task === "EET" ? undefined : getField(item, "arguments");
  const args: EventArgument[] = [];
  if (argsValue !== undefined) {
    if (!Array.isArray(argsValue)) throw new InputError("must be a JSON list", { field: `${at}.arguments` });
    argsValue.forEach((a, j) => {
      const aAt = `${at}.arguments[${j}]`;
      if (!isJsonObject(a)) throw new InputError("must be a JSON object", { field: aAt });
      args.push({ argument: str(a, "argument", aAt), role: str(a, "role", aAt) });
    });
  }
  return { event_trigger, event_type, arguments: args, raw: item };
}

/** `readEvent` for the usual event, or `undefined` where a field needs checking with its path. */
function fastEvent(item: JsonObject, task: Task): IeEvent | undefined {
  if (item instanceof Map) return undefined;
  const { event_type, event_trigger } = item;
  if (!isText(event_type)) return undefined;
  if (task === "EET" ? !isText(event_trigger) : event_trigger !== undefined && !isText(event_trigger)) return undefined;
  const args: EventArgument[] = [];
  const list = task === "EET" ? undefined : item.arguments;
  if (list !== undefined) {
    if (!Array.isArray(list)) return undefined;
    for (const a of list) {
      if (!isJsonObject(a) || a instanceof Map) return undefined;
      const { argument, role } = a;
      if (!isText(argument) || !isText(role)) return undefined;
      args.push({ argument, role });
    }
  }
  return { event_trigger: (event_trigger as string | undefined) ?? "", event_type, arguments: args, raw: item };
}

/** A string that can be written as UTF-8 (no unpaired surrogate). */
function isText(v: PyJson | undefined): v is string {
  return typeof v === "string" && v.isWellFormed();
}

function str(obj: JsonObject, key: string, at: string): string {
  const v = getField(obj, key);
  if (v === undefined) throw new InputError("missing", { field: `${at}.${key}` });
  if (typeof v !== "string") throw new InputError("must be a string", { field: `${at}.${key}` });
  checkWellFormed(v, `${at}.${key}`);
  return v;
}

function optStr(obj: JsonObject, key: string, at: string): string | undefined {
  return getField(obj, key) === undefined ? undefined : str(obj, key, at);
}

function checkWellFormed(s: string, field: string): void {
  if (!s.isWellFormed()) throw new InputError("contains an unpaired UTF-16 surrogate (not valid Unicode)", { field });
}

/**
 * IEPile's read-time filter: NER drops later duplicates of an (entity, type) pair; RE and SPO
 * drop later duplicates of a (head, relation, tail) triple; other tasks keep everything.
 * Returns `null` for an EEA record whose event list is empty (IEPile drops such records).
 *
 * @param record a checked record
 * @param task the task
 * @returns the filtered record, or `null` when the record yields nothing
 *
 * @example
 * ```ts
 * import { filterRecord, readRecord } from "./records.ts";
 * const e = { entity: "Bob", entity_type: "person" };
 * const r = filterRecord(readRecord({ text: "Bob", entity: [e, e] }, "NER", "train"), "NER");
 * if (r?.annotations?.length !== 1) throw new Error();
 * ```
 */
export function filterRecord(record: IeRecord, task: Task): IeRecord | null {
  const list = record.annotations;
  if (list === undefined) return record;
  if (task === "EEA" && list.length === 0) return null;
  if (task !== "NER" && task !== "RE" && task !== "SPO") return record;
  let kept: Annotation[];
  if (list.length <= 32) {
    // Keep an annotation unless an earlier one is the same pair/triple (short lists: compare directly).
    const same = task === "NER" ? sameEntity : sameTriple;
    kept = list.filter((a, i) => {
      for (let j = 0; j < i; j++) if (same(a, list[j])) return false;
      return true;
    });
  } else {
    const seen = new Set<string>();
    kept = list.filter((a) => {
      const key = task === "NER"
        ? JSON.stringify([(a as Entity).entity, (a as Entity).entity_type])
        : JSON.stringify([(a as Relation).head, (a as Relation).relation, (a as Relation).tail]);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }
  return kept.length === list.length ? record : { text: record.text, annotations: kept, plain: record.plain };
}

function sameEntity(a: Annotation, b: Annotation): boolean {
  return (a as Entity).entity === (b as Entity).entity && (a as Entity).entity_type === (b as Entity).entity_type;
}

function sameTriple(a: Annotation, b: Annotation): boolean {
  const x = a as Relation, y = b as Relation;
  return x.head === y.head && x.relation === y.relation && x.tail === y.tail;
}
