/**
 * `extract --format iepile`: a document's merged extractions written back as IEPile prediction
 * records — the converter's test record of each schema batch (`id`, `task`, `source`,
 * `instruction`, and `label` when the input carried annotations) with an `output` in the answer
 * format the models write — so `eval` scores an `extract` run on a converted test set.
 *
 * @module
 */

import { pyDumps, type PyJson } from "../io/py_json.ts";
import type { Task } from "../io/tasks.ts";
import { batchKeys } from "./answers.ts";
import type { DocumentBatch } from "./requests.ts";
import type { Extraction } from "./types.ts";

/**
 * The answer text for one batch: every key of the batch, in its order, with the extractions of
 * that key (NER/EET `{type: [text]}`, RE/SPO `{relation: [{"subject", "object"}]}`, EE `{type:
 * [{"trigger", "arguments": {role: text | [text] | "NAN"}}]}`, EEA `{type: [{role: text | [text] | "NAN"}]}`, KG
 * `{type: {entity: {attribute: text | [text]}}}`).
 *
 * @param task the task
 * @param batch the batch
 * @param extractions the document's extractions
 * @returns the answer, as JSON text
 *
 * @example
 * ```ts
 * import { batchAnswer } from "./iepile_format.ts";
 * const ann = { kind: "entity" as const, type: "person", text: "Ann", start: 0, end: 3, grounded: true };
 * const text = batchAnswer("NER", { record: {}, schema: ["city", "person"] }, [ann]);
 * if (text !== '{"city": [], "person": ["Ann"]}') throw new Error(text);
 * ```
 */
export function batchAnswer(task: Task, batch: DocumentBatch, extractions: readonly Extraction[]): string {
  const keys = [...batchKeys(task, batch.schema)];
  const rolesOf = new Map<string, string[]>();
  for (const e of batch.schema) {
    if (e !== null && typeof e === "object" && !Array.isArray(e)) {
      const o = e as Record<string, PyJson>;
      if (Array.isArray(o.arguments)) rolesOf.set(String(o.event_type), o.arguments as string[]);
    }
  }
  const answer = new Map<string, PyJson>();
  for (const key of keys) answer.set(key, task === "KG" ? new Map() : []);
  for (const x of extractions) {
    const type = x.kind === "relation" ? x.relation : x.type;
    const slot = answer.get(type);
    if (slot === undefined) continue;
    if (x.kind === "entity") (slot as PyJson[]).push(x.text);
    else if (x.kind === "relation") {
      (slot as PyJson[]).push(new Map([["subject", x.head.text], ["object", x.tail.text]]));
    } else if (x.kind === "event") {
      if (task === "EET") (slot as PyJson[]).push(x.trigger?.text ?? "");
      else {
        const args = new Map<string, PyJson>();
        // Every role of the schema, in its order, "NAN" where nothing was found (as the converter writes EE and EEA).
        for (const role of rolesOf.get(type) ?? []) args.set(role, "NAN");
        for (const a of x.arguments) {
          const earlier = args.get(a.role);
          args.set(
            a.role,
            earlier === undefined || earlier === "NAN"
              ? a.text
              : [...(Array.isArray(earlier) ? earlier : [earlier]), a.text],
          );
        }
        (slot as PyJson[]).push(
          task === "EE" ? new Map<string, PyJson>([["trigger", x.trigger?.text ?? ""], ["arguments", args]]) : args,
        );
      }
    } else {
      const entities = slot as Map<string, PyJson>;
      // One key per entity name: a second extraction of the same name adds to the first's attributes.
      const attrs = (entities.get(x.entity.text) as Map<string, PyJson> | undefined) ?? new Map<string, PyJson>();
      for (const a of x.attributes) {
        const earlier = attrs.get(a.attribute);
        attrs.set(
          a.attribute,
          earlier === undefined ? a.text : [...(Array.isArray(earlier) ? earlier : [earlier]), a.text],
        );
      }
      entities.set(x.entity.text, attrs);
    }
  }
  return pyDumps(answer);
}

/**
 * The prediction records of a document: one per batch, the converter's record with `output`.
 *
 * @param task the task
 * @param batches the document's batches
 * @param extractions its merged extractions
 * @returns JSON lines (each ending with a newline)
 *
 * @example
 * ```ts
 * import { predictionLines } from "./iepile_format.ts";
 * const batch = { record: { id: "x", task: "NER", source: "s", instruction: "{}" }, schema: ["person"] };
 * const [line] = predictionLines("NER", [batch], []);
 * if (line !== '{"id": "x", "task": "NER", "source": "s", "instruction": "{}", "output": "{\\"person\\": []}"}\n') throw new Error(line);
 * ```
 */
export function predictionLines(
  task: Task,
  batches: readonly DocumentBatch[],
  extractions: readonly Extraction[],
): string[] {
  return batches.map((b) => pyDumps({ ...b.record, output: batchAnswer(task, b, extractions) }) + "\n");
}
