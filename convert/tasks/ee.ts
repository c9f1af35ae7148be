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
import { argumentObject, labelledEvents } from "./event_answers.ts";
import { jsonList, jsonObject, memoized, type TaskAdapter, type TrainBatch } from "./task.ts";

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

function standardItems(ctx: SamplingContext, types: PySet, roles: Map<string, PySet>): Item[] {
  const p = ctx.options.negSchema;
  let items: Item[];
  if (p === 0) {
    items = types.toArray().map((t): Item => [t, ctx.typeRoles.get(t).toArray()]);
  } else {
    let negatives = ctx.types.differenceArray(types);
    let k = ctx.numpy.binomialSum(p, ctx.labelLength);
    if (types.size === 0) k = Math.max(k, 1);
    negatives = ctx.random.sampleFrom(negatives, Math.min(k, negatives.length));
    items = [
      ...types.toArray().map((t): Item => [t, rolesFor(ctx, t, roles.get(t))]),
      ...negatives.map((t): Item => [t, rolesFor(ctx, t, undefined)]),
    ];
  }
  if (!ctx.options.randomSort) return items.sort((a, b) => compareCodePoints(a[0], b[0]));
  ctx.random.shuffle(items);
  for (const item of items) ctx.random.shuffle(item[1]);
  return items;
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

/** Schema items by type and roles (a few per type and role order, repeated record after record). */
let schemaItems = new Map<number | string, string>();
/** Small numbers for type and role names, for `schemaItem`'s cache keys. */
const nameIds = new Map<string, number>();

function nameId(name: string): number {
  let id = nameIds.get(name);
  if (id === undefined) nameIds.set(name, id = nameIds.size + 1);
  return id;
}

/**
 * `schemaItem`'s cache key: the names' numbers (1–1023) as base-1024 digits while they fit in a
 * safe integer (a type and up to four roles), otherwise the names joined.
 */
function itemKey(type: string, roles: readonly string[]): number | string {
  let key = nameId(type);
  if (key >= 1024) return type + "\u0000" + roles.join("\u0000");
  for (const r of roles) {
    const id = nameId(r);
    if (id >= 1024 || key >= 2 ** 42) return type + "\u0000" + roles.join("\u0000");
    key = key * 1024 + id;
  }
  return key;
}

function schemaItem([type, roles]: Item): string {
  const key = itemKey(type, roles);
  let item = schemaItems.get(key);
  if (item === undefined) {
    if (schemaItems.size >= 100_000) schemaItems = new Map();
    item = `{"event_type": ${quoted(type)}, "trigger": true, "arguments": ${jsonList(roles.map(quoted))}}`;
    schemaItems.set(key, item);
  }
  return item;
}

/** EE adapter. */
export const EE: TaskAdapter = {
  testItemsFixed: true,
  trainItemsRepeat: true,
  testItems: (ctx) => ctx.typeRoles.keys().map((t) => schemaItem([t, ctx.typeRoles.get(t).toArray()])),
  train(ctx: SamplingContext, record: IeRecord): TrainBatch[] {
    const events = (record.annotations ?? []) as IeEvent[];
    const { types, roles } = positivesOf(ctx, events);
    const items = ctx.options.clusterMode ? clusterItems(ctx, types, roles) : standardItems(ctx, types, roles);
    const labelled = labelledEvents(ctx, events);
    return splitSchemas(items, ctx.options.splitNum).map((batch) => ({
      schema: batch.map(schemaItem),
      output: jsonObject(batch.map(([type, asked]) => {
        const evs = labelled.get(type);
        if (evs === undefined) return [quotedEscaped(type), "[]"];
        const sorted = sortByPosition(record.text, evs, (ev) => ev.trigger);
        return [
          quotedEscaped(type),
          jsonList(
            sorted.map((ev) =>
              `{\\"trigger\\": ${pyStrEscaped(ev.trigger)}, \\"arguments\\": ${argumentObject(ev, asked)}}`
            ),
          ),
        ];
      })),
    }));
  },
};
