/**
 * KG (entity knowledge extraction): the schema asks for one entity type with a set of
 * attributes; the target maps each entity instance of the text to its attribute values.
 *
 * @module
 */

import { InputError } from "../../io/errors.ts";
import { pyStr, pyStrEscaped, pyStrList, pyStrListEscaped } from "../../io/py_json.ts";
import type { SamplingContext } from "../context.ts";
import { sortByPosition, sortOrShuffle } from "../order.ts";
import { PySet } from "../pycompat/mod.ts";
import type { IeRecord, Relation } from "../records.ts";
import { splitSchemasKg } from "../split_schemas.ts";
import { jsonObject, type TaskAdapter, type TrainBatch } from "./task.ts";

type Item = [entityType: string, attributes: string[]];

function schemaItem([type, attributes]: Item): string {
  return `{"entity_type": ${pyStr(type)}, "attributes": ${pyStrList(attributes)}}`;
}

/** Head → attribute → tails, heads ordered by first position in the text. */
function instances(text: string, relations: readonly Relation[]): Array<[string, Map<string, string[]>]> {
  const byHead = new Map<string, Map<string, string[]>>();
  for (const r of relations) {
    let attrs = byHead.get(r.head);
    if (attrs === undefined) byHead.set(r.head, attrs = new Map());
    const tails = attrs.get(r.relation);
    if (tails === undefined) attrs.set(r.relation, [r.tail]);
    else tails.push(r.tail);
  }
  return sortByPosition(text, [...byHead], ([head]) => head);
}

/** KG adapter. The attribute universe in training is schema line 2; the entity type is line 3's first key. */
export const KG: TaskAdapter = {
  testItemsFixed: true,
  trainItemsRepeat: true,
  testItems: (ctx) => ctx.typeRoles.keys().map((t) => schemaItem([t, ctx.typeRoles.get(t).toArray()])),
  train(ctx: SamplingContext, record: IeRecord): TrainBatch[] {
    const relations = (record.annotations ?? []) as Relation[];
    const entityType = ctx.typeRoles.keys()[0];
    if (entityType === undefined) {
      throw new InputError("KG training needs at least one entity type on line 3 of the schema file");
    }
    let attributes: string[];
    const p = ctx.options.negSchema;
    if (p === 0) {
      attributes = PySet.from(ctx.hasher, relations.map((r) => r.relation)).toArray();
    } else {
      // IEPile (on Python ≤ 3.10) samples from the attribute set in its iteration order.
      const k = Math.max(ctx.numpy.binomialSum(p, ctx.roles.size), 1);
      attributes = sortOrShuffle(ctx, ctx.random.sample(ctx.roles.toArray(), Math.min(k, ctx.roles.size)));
    }
    const heads = instances(record.text, relations);
    return splitSchemasKg<Item>([[entityType, attributes]], ctx.options.splitNum).map((batch) => ({
      schema: batch.map(schemaItem),
      output: jsonObject(batch.map(([type, asked]) => [
        pyStrEscaped(type),
        jsonObject(heads.map(([head, attrs]) => [
          pyStrEscaped(head),
          jsonObject(
            asked.filter((a) => attrs.has(a)).map((a) => {
              const tails = sortByPosition(record.text, attrs.get(a)!, (t) => t);
              return [pyStrEscaped(a), tails.length === 1 ? pyStrEscaped(tails[0]) : pyStrListEscaped(tails)];
            }),
          ),
        ])),
      ])),
    }));
  },
};
