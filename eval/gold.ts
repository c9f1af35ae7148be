/**
 * Gold tuples from a record's `label`: the annotation list the converter wrote into
 * the test split, turned into the same tuple shapes as `extractTuples` gives for outputs.
 *
 * @module
 */

import { InputError } from "../io/errors.ts";
import { getField, isJsonObject, type JsonObject } from "../io/json_object.ts";
import type { PyJson } from "../io/py_json.ts";
import { jsonKind, type TupleSet } from "./extract.ts";
import { foreignLabelHint, type LabelFamily, labelFamily, labelFamilyOf } from "./shapes.ts";
import type { EvalTask } from "./tasks.ts";

/**
 * The gold tuples of a parsed `label` list.
 *
 * | task | tuples | arguments |
 * |---|---|---|
 * | NER | (`entity`, `entity_type`) | — |
 * | EET | (`event_trigger`, `event_type`) | — |
 * | RE, SPO, KG | (`head`, `relation`, `tail`), a missing one read as `""` | — |
 * | EE | (`event_type`, `event_trigger`) | (`event_type`, `argument`, `role`) for every argument, in label order |
 * | EEA | (`event_type`, `""`) | as EE |
 *
 * A missing `event_trigger` reads as `""` and missing `arguments` as none.
 *
 * An annotation of another task's family is handled as IEPile's evaluator handles it, so that
 * a file it scores gets the same numbers here and a file it crashes on gets a clear error:
 * - RE, SPO and KG read every key with a default, so IEPile scores an annotation without
 *   `head`, `relation` and `tail` (an NER or EE annotation) as the triple `("", "", "")`: it is
 *   scored so here too, and `onForeign` is told, for a warning.
 * - NER, EET, EE and EEA read their keys without a default, so IEPile stops on an annotation
 *   that lacks one: here that is an error naming the field and the family the annotation is of.
 *
 * @param task the task
 * @param label the parsed label (a list of annotation objects)
 * @param onForeign called with the index and family of each RE/SPO/KG annotation that is of
 *   another family (scored as `("", "", "")`)
 * @returns the gold tuples
 * @throws {InputError} (field `label…`) when the list or an annotation has the wrong shape, or
 *   lacks a key the task cannot do without
 *
 * @example
 * ```ts
 * import { goldTuples } from "./gold.ts";
 * const g = goldTuples("EE", [{ event_type: "attack", event_trigger: "hit", arguments: [{ argument: "Bo", role: "victim" }] }]);
 * if (JSON.stringify(g) !== '{"tuples":[["attack","hit"]],"arguments":[["attack","Bo","victim"]]}') throw new Error();
 * const foreign: string[] = [];
 * const re = goldTuples("RE", [{ entity: "Ann", entity_type: "person" }], (i, family) => foreign.push(`${i} ${family}`));
 * if (JSON.stringify(re.tuples) !== '[["","",""]]' || foreign[0] !== "0 entity") throw new Error();
 * ```
 */
export function goldTuples(
  task: EvalTask,
  label: PyJson,
  onForeign?: (index: number, family: LabelFamily) => void,
): TupleSet {
  if (!Array.isArray(label)) throw new InputError(`must hold a JSON list, got ${jsonKind(label)}`, { field: "label" });
  const out: TupleSet = { tuples: [], arguments: [] };
  for (let i = 0; i < label.length; i++) {
    const item = label[i];
    if (!isJsonObject(item)) {
      throw new InputError(`annotation is ${jsonKind(item)}, not an object`, { field: `label[${i}]` });
    }
    const at = i;
    switch (task) {
      case "NER":
        out.tuples.push([required(task, item, "entity", at), required(task, item, "entity_type", at)]);
        break;
      case "EET":
        out.tuples.push([optional(item, "event_trigger"), required(task, item, "event_type", at)]);
        break;
      case "RE":
      case "SPO":
      case "KG": {
        const head = optional(item, "head"), relation = optional(item, "relation"), tail = optional(item, "tail");
        if (onForeign !== undefined && head === "" && relation === "" && tail === "") {
          const family = labelFamily(item); // none of the three keys: maybe another task's annotation
          if (family !== undefined && family !== labelFamilyOf(task)) onForeign(i, family);
        }
        out.tuples.push([head, relation, tail]);
        break;
      }
      case "EE":
      case "EEA": {
        const type = required(task, item, "event_type", at);
        out.tuples.push([type, task === "EE" ? optional(item, "event_trigger") : ""]);
        const args = getField(item, "arguments");
        if (args === undefined) break;
        if (!Array.isArray(args)) {
          throw new InputError(`must be a list, got ${jsonKind(args)}`, { field: `label[${i}].arguments` });
        }
        for (let j = 0; j < args.length; j++) {
          const arg = args[j];
          if (!isJsonObject(arg)) {
            throw new InputError(`is ${jsonKind(arg)}, not an object`, { field: `label[${i}].arguments[${j}]` });
          }
          out.arguments.push([type, required(task, arg, "argument", at, j), required(task, arg, "role", at, j)]);
        }
        break;
      }
    }
  }
  return out;
}

/**
 * `obj[key]`, which must be present (`at`, `arg`: the annotation and argument index, for the
 * message, which names the task an annotation of another family belongs to).
 */
function required(task: EvalTask, obj: JsonObject, key: string, at: number, arg?: number): PyJson {
  const v = obj instanceof Map ? obj.get(key) : Object.hasOwn(obj, key) ? obj[key] : undefined;
  if (v !== undefined) return v;
  const field = arg === undefined ? `label[${at}]` : `label[${at}].arguments[${arg}]`;
  const hint = arg === undefined ? foreignLabelHint(task, obj) : undefined;
  throw new InputError(`annotation has no \`${key}\`` + (hint === undefined ? "" : `: ${hint}`), { field });
}

function optional(obj: JsonObject, key: string): PyJson {
  const v = getField(obj, key);
  return v === undefined ? "" : v; // like Python's dict.get(key, ""): a JSON null stays None
}
