/**
 * EE (event extraction): the schema asks for event types with their argument roles; the target
 * lists each type's events with trigger and arguments.
 *
 * @module
 */

import { pyStr, pyStrEscaped } from "../../io/py_json.ts";
import type { SamplingContext } from "../context.ts";
import { compareCodePoints } from "../../io/code_points.ts";
import { sortByPosition, sortOrShuffle } from "../order.ts";
import { PySet } from "../pycompat/mod.ts";
import type { IeEvent, IeRecord } from "../records.ts";
import { splitSchemas } from "../split_schemas.ts";
import { clusterSample } from "./cluster.ts";
import { type IdItem, sampleEeItems } from "./ee_sampling.ts";
import { SCHEMA_NAMES, sequenceKey } from "./subset_orders.ts";
import { argumentObject, labelledEvents } from "./event_answers.ts";
import { concatList, escapedJson, jsonList, jsonObject, memoized, type TaskAdapter, type TrainBatch } from "./task.ts";

type Item = [type: string, roles: string[]];

/** The record's event types and, per type, the roles its arguments use. */
function positivesOf(ctx: SamplingContext, events: readonly IeEvent[]): { types: PySet; roles: Map<string, PySet> } {
  const types = new PySet(ctx.hasher);
  const roles = new Map<string, PySet>();
  for (const ev of events) {
    types.add(ev.event_type);
    let set = roles.get(ev.event_type);
    if (set === undefined) roles.set(ev.event_type, set = new PySet(ctx.hasher));
    for (const a of ev.arguments) set.add(a.role);
  }
  return { types, roles };
}

/**
 * The argument roles asked for one type: a Binomial(p) share of the schema roles the record
 * does not use (at least one when it uses none), then the roles it uses.
 */
function rolesFor(ctx: SamplingContext, type: string, used: PySet | undefined): string[] {
  const schemaRoles = ctx.typeRoles.get(type);
  let candidates = used !== undefined ? schemaRoles.differenceArray(used) : schemaRoles.toArray();
  const p = ctx.options.negSchema;
  if (p > 0) {
    let k = ctx.numpy.binomialSum(p, schemaRoles.size);
    if (used === undefined || used.size === 0) k = Math.max(k, 1);
    candidates = ctx.random.sampleFrom(candidates, Math.min(k, candidates.length));
  }
  return used !== undefined ? used.appendTo(candidates) : candidates;
}

/** The items without negatives (`neg_schema` 0): the record's types in set order, each with all its schema roles. */
function positiveItems(ctx: SamplingContext, types: PySet): Item[] {
  return types.toArray().map((t): Item => [t, ctx.typeRoles.get(t).toArray()]);
}

function clusterItems(ctx: SamplingContext, types: PySet, roles: Map<string, PySet>): Item[] {
  const chosen = clusterSample(ctx, ctx.types, types, ctx.typeRoles.size === 1).items;
  return sortOrShuffle(ctx, chosen).map((t): Item => {
    const used = types.has(t) ? roles.get(t) : undefined;
    return [t, sortOrShuffle(ctx, rolesFor(ctx, t, used))];
  });
}

/** JSON spellings of event types and roles (a few names, repeated on every record). */
const quoted = memoized(pyStr);
/** The same, escaped as the inside of a JSON string (for the `output` text, see `TrainBatch`). */
const quotedEscaped = memoized(pyStrEscaped);

/** A schema item's JSON text, and the same escaped as the inside of a JSON string (see `TrainBatch`). */
interface ItemTexts {
  item: string;
  escaped: string;
}

/** Schema items by type and roles (a few per type and role order, repeated record after record). */
let schemaItems = new Map<number | string, ItemTexts>();

function schemaItem([type, roles]: IdItem): ItemTexts {
  const key = sequenceKey(type, roles, roles.length);
  let texts = schemaItems.get(key);
  if (texts === undefined) {
    if (schemaItems.size >= 100_000) schemaItems = new Map();
    const names = roles.map((r) => quoted(SCHEMA_NAMES.name(r)));
    const item = `{"event_type": ${quoted(SCHEMA_NAMES.name(type))}, "trigger": true, "arguments": ${jsonList(names)}}`;
    schemaItems.set(key, texts = { item, escaped: escapedJson(item) });
  }
  return texts;
}

/** The asked items of a training record, as name numbers, in the order they are asked. */
function trainItems(ctx: SamplingContext, events: readonly IeEvent[]): IdItem[] {
  const { clusterMode, negSchema, randomSort } = ctx.options;
  if (!clusterMode && negSchema > 0) {
    const items = sampleEeItems(ctx, events);
    if (!randomSort) items.sort((a, b) => compareCodePoints(SCHEMA_NAMES.name(a[0]), SCHEMA_NAMES.name(b[0])));
    return items;
  }
  const { types, roles } = positivesOf(ctx, events);
  let items: Item[];
  if (clusterMode) items = clusterItems(ctx, types, roles);
  else if (!randomSort) items = positiveItems(ctx, types).sort((a, b) => compareCodePoints(a[0], b[0]));
  else {
    items = positiveItems(ctx, types);
    ctx.random.shuffle(items);
    for (const item of items) ctx.random.shuffle(item[1]);
  }
  return items.map(([t, r]): IdItem => [SCHEMA_NAMES.id(t), SCHEMA_NAMES.ids(r)]);
}

/** EE adapter. */
export const EE: TaskAdapter = {
  testItemsFixed: true,
  trainItemsRepeat: false,
  testItems: (ctx) =>
    ctx.typeRoles.keys().map((t) =>
      schemaItem([SCHEMA_NAMES.id(t), SCHEMA_NAMES.ids(ctx.typeRoles.get(t).toArray())]).item
    ),
  train(ctx: SamplingContext, record: IeRecord): TrainBatch[] {
    const events = (record.annotations ?? []) as IeEvent[];
    const items = trainItems(ctx, events);
    const labelled = labelledEvents(ctx, events, record.plain);
    const target = ([id, askedIds]: IdItem): string => {
      const evs = labelled.get(SCHEMA_NAMES.name(id));
      if (evs === undefined) return "[]";
      const sorted = sortByPosition(record.text, evs, (ev) => ev.trigger);
      const asked = askedIds.map((r) => SCHEMA_NAMES.name(r));
      return concatList(
        sorted.map((ev) =>
          `{\\"trigger\\": ${pyStrEscaped(ev.trigger, record.plain)}, \\"arguments\\": ${argumentObject(ev, asked)}}`
        ),
      );
    };
    return splitSchemas(items, ctx.options.splitNum).map((batch) => {
      const schema = batch.map((item) => schemaItem(item).escaped);
      // Cluster sampling is not known to give distinct types: its batches go through `jsonObject`
      // (a repeated key keeps its first place and last value). Other batches hold distinct types.
      if (ctx.options.clusterMode) {
        return {
          schema,
          output: jsonObject(batch.map((item) => [quotedEscaped(SCHEMA_NAMES.name(item[0])), target(item)])),
        };
      }
      if (batch.length === 0) return { schema, output: "{}" };
      let output = "{";
      for (let i = 0; i < batch.length; i++) {
        output += (i === 0 ? "" : ", ") + quotedEscaped(SCHEMA_NAMES.name(batch[i][0])) + ": " + target(batch[i]);
      }
      return { schema, output: output + "}" };
    });
  },
};
