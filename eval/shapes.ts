/**
 * Which task a file's data is shaped for, to tell a user who scores a file as the wrong task.
 * Each task's converter writes its own gold annotation and answer shapes:
 *
 * | task | `label` annotation | answer (`output`) value per schema key |
 * |---|---|---|
 * | NER | `entity`, `entity_type` | list of strings |
 * | EET | `event_type`, `event_trigger`, `arguments` | list of strings |
 * | RE, KG | `head`, `relation`, `tail` | RE: list of `{subject, object}`; KG: `{entity: {attribute: value}}` |
 * | SPO | `head`, `head_type`, `relation`, `tail`, `tail_type` | list of `{subject, object}` |
 * | EE | `event_type`, `event_trigger`, `arguments` | list of `{trigger, arguments}` |
 * | EEA | `event_type`, `event_trigger`, `arguments` | list of `{role: value}` |
 *
 * @module
 */

import { entriesOf, getField, isJsonObject, type JsonObject } from "../io/json_object.ts";
import type { PyJson } from "../io/py_json.ts";
import type { EvalTask } from "./tasks.ts";

/** The annotation families of `label` lists: entities, relation triples, events. */
export type LabelFamily = "entity" | "triple" | "event";

/** The shapes of answers: the value a schema key maps to. */
export type AnswerShape = "strings" | "pairs" | "events" | "roles" | "graph";

const LABEL_FAMILY: Record<EvalTask, LabelFamily> = {
  NER: "entity",
  RE: "triple",
  SPO: "triple",
  KG: "triple",
  EE: "event",
  EEA: "event",
  EET: "event",
};

const ANSWER_SHAPE: Record<EvalTask, AnswerShape> = {
  NER: "strings",
  EET: "strings",
  RE: "pairs",
  SPO: "pairs",
  EE: "events",
  EEA: "roles",
  KG: "graph",
};

const FAMILY_WORDS: Record<LabelFamily, string> = {
  entity: "an NER annotation (entity, entity_type)",
  triple: "an RE/SPO/KG annotation (head, relation, tail)",
  event: "an EE/EEA/EET annotation (event_type, event_trigger, arguments)",
};

const SHAPE_WORDS: Record<AnswerShape, string> = {
  strings: "NER/EET answers (type → list of strings)",
  pairs: "RE/SPO answers (relation → list of {subject, object})",
  events: "EE answers (event type → list of {trigger, arguments})",
  roles: "EEA answers (event type → list of {role: argument})",
  graph: "KG answers (entity type → {entity: {attribute: value}})",
};

/**
 * The annotation family a task's labels belong to.
 *
 * @param task the task
 * @returns `entity` (NER), `triple` (RE, SPO, KG) or `event` (EE, EEA, EET)
 *
 * @example
 * ```ts
 * import { labelFamilyOf } from "./shapes.ts";
 * if (labelFamilyOf("KG") !== "triple") throw new Error();
 * ```
 */
export function labelFamilyOf(task: EvalTask): LabelFamily {
  return LABEL_FAMILY[task];
}

/**
 * The family one gold annotation belongs to, judged by its keys.
 *
 * @param annotation one item of a `label` list
 * @returns the family, or `undefined` when its keys name none
 *
 * @example
 * ```ts
 * import { labelFamily } from "./shapes.ts";
 * if (labelFamily({ entity: "Ann", entity_type: "person" }) !== "entity") throw new Error();
 * if (labelFamily({ head: "Ann", relation: "born in", tail: "Oslo" }) !== "triple") throw new Error();
 * if (labelFamily({ note: "?" }) !== undefined) throw new Error();
 * ```
 */
export function labelFamily(annotation: JsonObject): LabelFamily | undefined {
  const has = (k: string) => getField(annotation, k) !== undefined;
  if (has("event_type")) return "event";
  if (has("entity") || has("entity_type")) return "entity";
  if (has("relation") || has("head") || has("tail")) return "triple";
  return undefined;
}

/**
 * Why an annotation cannot be read for a task, when it belongs to another family; for messages.
 *
 * @param task the task it is scored as
 * @param annotation the annotation
 * @returns a clause such as `it is an NER annotation (entity, entity_type), which RE cannot
 *   score: is --task RE right?`, or `undefined` when the annotation is not of another family
 *
 * @example
 * ```ts
 * import { foreignLabelHint } from "./shapes.ts";
 * const hint = foreignLabelHint("RE", { entity: "Ann", entity_type: "person" });
 * if (!hint?.startsWith("it is an NER annotation")) throw new Error(hint);
 * if (foreignLabelHint("NER", { entity: "Ann", entity_type: "person" }) !== undefined) throw new Error();
 * ```
 */
export function foreignLabelHint(task: EvalTask, annotation: JsonObject): string | undefined {
  const family = labelFamily(annotation);
  if (family === undefined || family === LABEL_FAMILY[task]) return undefined;
  return `it is ${FAMILY_WORDS[family]}, which ${task} cannot score: is --task ${task} right?`;
}

/**
 * An annotation family in words, for messages.
 *
 * @param family the family
 * @returns e.g. `an NER annotation (entity, entity_type)`
 *
 * @example
 * ```ts
 * import { describeFamily } from "./shapes.ts";
 * if (describeFamily("entity") !== "an NER annotation (entity, entity_type)") throw new Error();
 * ```
 */
export function describeFamily(family: LabelFamily): string {
  return FAMILY_WORDS[family];
}

/**
 * The answer shape a task's model answers have.
 *
 * @param task the task
 * @returns the shape
 *
 * @example
 * ```ts
 * import { answerShapeOf } from "./shapes.ts";
 * if (answerShapeOf("EET") !== "strings" || answerShapeOf("EEA") !== "roles") throw new Error();
 * ```
 */
export function answerShapeOf(task: EvalTask): AnswerShape {
  return ANSWER_SHAPE[task];
}

/**
 * The shape of a parsed answer, judged by its first non-empty value.
 *
 * @param answer the answer's top-level object
 * @returns the shape, or `undefined` when every value is empty or of no task's shape
 *
 * @example
 * ```ts
 * import { answerShape } from "./shapes.ts";
 * if (answerShape({ person: [], place: ["Oslo"] }) !== "strings") throw new Error();
 * if (answerShape({ "born in": [{ subject: "Ann", object: "Oslo" }] }) !== "pairs") throw new Error();
 * if (answerShape({ attack: [{ trigger: "hit", arguments: {} }] }) !== "events") throw new Error();
 * if (answerShape({ person: { Ann: { born: "1990" } } }) !== "graph") throw new Error();
 * if (answerShape({ person: [] }) !== undefined) throw new Error();
 * ```
 */
export function answerShape(answer: JsonObject): AnswerShape | undefined {
  if (answer instanceof Map) {
    for (const value of answer.values()) {
      const shape = valueShape(value);
      if (shape !== undefined) return shape;
    }
    return undefined;
  }
  for (const key in answer) { // no entry list: this runs once per answer
    const shape = valueShape(answer[key]);
    if (shape !== undefined) return shape;
  }
  return undefined;
}

function valueShape(value: PyJson): AnswerShape | undefined {
  if (Array.isArray(value)) {
    const first = value[0];
    if (first === undefined) return undefined;
    if (typeof first === "string") return "strings";
    if (!isJsonObject(first)) return undefined;
    const has = (k: string) => getField(first, k) !== undefined;
    if (has("subject") || has("object") || has("head") || has("tail")) return "pairs";
    if (has("trigger") || has("arguments")) return "events";
    return entriesOf(first).length > 0 ? "roles" : undefined;
  }
  if (isJsonObject(value)) {
    const values = value instanceof Map ? [...value.values()] : Object.values(value);
    return values.length > 0 && values.every((v) => isJsonObject(v)) ? "graph" : undefined;
  }
  return undefined;
}

/**
 * A shape in words, for messages.
 *
 * @param shape the shape
 * @returns e.g. `RE/SPO answers (relation → list of {subject, object})`
 *
 * @example
 * ```ts
 * import { describeShape } from "./shapes.ts";
 * if (!describeShape("graph").startsWith("KG answers")) throw new Error();
 * ```
 */
export function describeShape(shape: AnswerShape): string {
  return SHAPE_WORDS[shape];
}
