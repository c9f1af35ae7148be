/**
 * IEPile's tasks and the one fact about their schemas that the converter, the evaluator and the
 * answer constraint all need: which field of a schema item names the answer's key.
 *
 * @module
 */

/** An IEPile task: named entities, relations, subject-predicate-object triples, events (whole, triggers only, arguments only), knowledge-graph instances. */
export type Task = "NER" | "RE" | "SPO" | "EE" | "EET" | "EEA" | "KG";

/**
 * Every task, in the order IEPile's README lists them.
 *
 * @example
 * ```ts
 * import { IEPILE_TASKS } from "./tasks.ts";
 * if (IEPILE_TASKS.length !== 7 || IEPILE_TASKS[0] !== "NER") throw new Error();
 * ```
 */
export const IEPILE_TASKS: readonly Task[] = ["NER", "RE", "SPO", "EE", "EET", "EEA", "KG"];

/**
 * The field of a schema item that names the answer's key: NER, RE and EET schemas are lists of
 * strings (each string is the key); SPO items name it by `predicate`, EE and EEA items by
 * `event_type`, KG items by `entity_type`.
 *
 * @param task the task
 * @returns the field, or `undefined` where schema items are the keys themselves
 *
 * @example
 * ```ts
 * import { schemaKeyField } from "./tasks.ts";
 * if (schemaKeyField("SPO") !== "predicate" || schemaKeyField("NER") !== undefined) throw new Error();
 * ```
 */
export function schemaKeyField(task: Task): "predicate" | "event_type" | "entity_type" | undefined {
  switch (task) {
    case "SPO":
      return "predicate";
    case "EE":
    case "EEA":
      return "event_type";
    case "KG":
      return "entity_type";
    default:
      return undefined;
  }
}
