/**
 * A model's answer to one request, read into items per task (strings not located yet): the
 * answer formats IEPile's models write — NER `{type: [text]}`, RE/SPO `{relation: [{subject,
 * object}]}` (or `head`/`tail`), EE `{type: [{trigger, arguments: {role: text | [text] | "NAN"}}]}`,
 * EET `{type: [trigger]}`, EEA `{type: [{role: text}]}`, KG `{type: {entity: {attribute: text |
 * [text]}}}`. Keys the batch did not ask about are dropped, as are "no value" markers. Answers
 * that are not quite JSON are repaired as `eval --lenient` repairs them.
 *
 * @module
 */

import { entriesOf, getField, isJsonObject } from "../io/json_object.ts";
import type { PyJson } from "../io/py_json.ts";
import type { Task } from "../io/tasks.ts";
import { parseOutput } from "../eval/mod.ts";

/** A string an item holds, with the label it stands for (a role or an attribute), before grounding. */
export interface RawPart {
  /** The role (EE/EEA argument) or attribute (KG); empty for the item's main string. */
  label: string;
  /** The string. */
  text: string;
}

/** One item of an answer. */
export interface RawItem {
  /** What it is. */
  kind: "entity" | "relation" | "event" | "kg";
  /** The type, relation or event type (the answer's key). */
  type: string;
  /** The main strings: entity text; head and tail; the trigger (EE, EET); the KG entity. */
  main: string[];
  /** The parts voted on one by one: event arguments, KG attributes. */
  parts: RawPart[];
}

/** An answer read: its items, or why it could not be read. */
export interface ReadAnswer {
  /** The items. */
  items: RawItem[];
  /** Why the answer could not be read (not JSON, not an object), when it could not. */
  problem?: string;
}

/**
 * The names the answer's keys may take for a batch: its types, relations, predicates or event types.
 *
 * @param task the task
 * @param schema the batch's schema elements (as the converter writes them)
 * @returns the key names
 *
 * @example
 * ```ts
 * import { batchKeys } from "./answers.ts";
 * const keys = batchKeys("EE", [{ event_type: "meet", trigger: true, arguments: ["place"] }]);
 * if ([...keys].join() !== "meet") throw new Error();
 * ```
 */
export function batchKeys(task: Task, schema: readonly PyJson[]): Set<string> {
  const field = task === "SPO" ? "predicate" : task === "EE" || task === "EEA" ? "event_type" : "entity_type";
  return new Set(schema.map((e) => (isJsonObject(e) ? String(getField(e, field)) : String(e))));
}

/**
 * Read one answer.
 *
 * @param task the task
 * @param text the model's output
 * @param keys the keys asked about ({@linkcode batchKeys})
 * @returns the items in answer order
 *
 * @example
 * ```ts
 * import { readAnswer } from "./answers.ts";
 * const { items } = readAnswer("RE", '{"lives in": [{"subject": "Ann", "object": "Oslo"}], "x": []}', new Set(["lives in"]));
 * if (items.length !== 1 || items[0].main.join("|") !== "Ann|Oslo") throw new Error();
 * if (readAnswer("NER", "not json", new Set()).problem === undefined) throw new Error();
 * ```
 */
export function readAnswer(task: Task, text: string, keys: ReadonlySet<string>): ReadAnswer {
  // Lenient, as eval --lenient: an answer cut off at the token limit keeps what it completed.
  const parsed = parseOutput(text, { lenient: true });
  if (!parsed.ok) return { items: [], problem: parsed.problem };
  const items: RawItem[] = [];
  for (const [key, value] of entriesOf(parsed.value)) {
    if (!keys.has(key)) continue;
    readKey(task, key, value, items);
  }
  return { items };
}

function readKey(task: Task, type: string, value: PyJson, items: RawItem[]): void {
  if (task === "KG") {
    if (!isJsonObject(value)) return;
    for (const [entity, attrs] of entriesOf(value)) {
      if (!present(entity)) continue;
      const parts: RawPart[] = [];
      if (isJsonObject(attrs)) {
        for (const [attribute, v] of entriesOf(attrs)) {
          for (const s of strings(v)) parts.push({ label: attribute, text: s });
        }
      }
      items.push({ kind: "kg", type, main: [entity], parts });
    }
    return;
  }
  if (!Array.isArray(value)) return;
  for (const item of value) {
    switch (task) {
      case "NER":
        if (typeof item === "string" && present(item)) items.push({ kind: "entity", type, main: [item], parts: [] });
        break;
      case "EET":
        if (typeof item === "string" && present(item)) items.push({ kind: "event", type, main: [item], parts: [] });
        break;
      case "RE":
      case "SPO": {
        if (!isJsonObject(item)) break;
        const head = getField(item, "subject") ?? getField(item, "head");
        const tail = getField(item, "object") ?? getField(item, "tail");
        if (typeof head === "string" && typeof tail === "string" && present(head) && present(tail)) {
          items.push({ kind: "relation", type, main: [head, tail], parts: [] });
        }
        break;
      }
      case "EE": {
        if (!isJsonObject(item)) break;
        const trigger = getField(item, "trigger");
        if (typeof trigger !== "string" || !present(trigger)) break;
        const args = getField(item, "arguments");
        items.push({ kind: "event", type, main: [trigger], parts: isJsonObject(args) ? roleParts(args) : [] });
        break;
      }
      case "EEA":
        if (isJsonObject(item)) {
          const parts = roleParts(item);
          if (parts.length > 0) items.push({ kind: "event", type, main: [], parts });
        }
        break;
    }
  }
}

function roleParts(args: PyJson): RawPart[] {
  const parts: RawPart[] = [];
  for (const [role, v] of entriesOf(args as never)) for (const s of strings(v)) parts.push({ label: role, text: s });
  return parts;
}

/** The strings of a value: itself, or a list's strings; "no value" markers left out. */
function strings(v: PyJson): string[] {
  if (typeof v === "string") return present(v) ? [v] : [];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === "string" && present(x));
  return [];
}

/** Not a "no value" marker: `NAN` (any case), `无`, empty or blank. */
function present(s: string): boolean {
  const t = s.trim();
  return t !== "" && t.toLowerCase() !== "nan" && t !== "无";
}
