/**
 * EEA (event argument extraction): the triggers are given; the schema asks for the roles of the
 * record's own event types, and the target lists one argument object per event.
 *
 * @module
 */

import { pyStr, pyStrEscaped, pyStrListEscaped } from "../../io/py_json.ts";
import type { SamplingContext } from "../context.ts";
import { compareCodePoints } from "../../io/code_points.ts";
import { PySet } from "../pycompat/mod.ts";
import type { IeEvent, IeRecord } from "../records.ts";
import { splitSchemas } from "../split_schemas.ts";
import { argumentObject, type LabelledEvent, labelledEvents } from "./event_answers.ts";
import { concatList, jsonList, memoized, type TaskAdapter, type TrainBatch } from "./task.ts";

type Item = [type: string, triggers: string[], roles: string[]];

/** JSON spellings of event types and roles (a few names, repeated on every record). */
const quoted = memoized(pyStr);
/** The same, escaped as the inside of a JSON string (for the `output` text, see `TrainBatch`). */
const quotedEscaped = memoized(pyStrEscaped);

function sampleItems(ctx: SamplingContext, events: readonly IeEvent[]): Item[] {
  const triggersByType = new Map<string, string[]>();
  for (const ev of events) {
    const list = triggersByType.get(ev.event_type);
    if (list === undefined) triggersByType.set(ev.event_type, [ev.event_trigger]);
    else list.push(ev.event_trigger);
  }
  const p = ctx.options.negSchema;
  const items: Item[] = [];
  for (const [type, triggers] of triggersByType) {
    const schemaRoles = ctx.typeRoles.get(type);
    let roles = schemaRoles.toArray();
    if (p > 0) {
      const k = Math.max(ctx.numpy.binomialSum(p, schemaRoles.size), 1);
      roles = ctx.random.sampleFrom(roles, Math.min(k, roles.length));
    }
    // IEPile bounds the trigger count by the role count (so a type with no roles keeps no trigger).
    const k = Math.max(ctx.numpy.binomialSum(p, triggers.length), 1);
    items.push([type, ctx.random.sampleFrom(triggers, Math.min(k, roles.length)), roles]);
  }
  if (!ctx.options.randomSort) return items.sort((a, b) => compareCodePoints(a[0], b[0]));
  ctx.random.shuffle(items);
  for (const item of items) ctx.random.shuffle(item[2]);
  return items;
}

/** Test items by run and event type (a run has few types; its context is dropped with it). */
const testItemsByRun = new WeakMap<SamplingContext, Map<string, string>>();
/** A record's test item list by run and by the sequence of its event types (see `testItems`). */
const testListsByRun = new WeakMap<SamplingContext, Map<string, string[]>>();

/** The test items of the event types of `events`, in their set's order. */
function testItemList(ctx: SamplingContext, events: readonly IeEvent[]): string[] {
  const types = PySet.from(ctx.hasher, events.map((ev) => ev.event_type));
  // A type's test item depends on the run's schema only: written once per run and type.
  let items = testItemsByRun.get(ctx);
  if (items === undefined) testItemsByRun.set(ctx, items = new Map());
  return types.toArray().map((t) => {
    let item = items.get(t);
    if (item === undefined) {
      item = `{"event_type": ${quoted(t)}, "arguments": ${jsonList(ctx.typeRoles.get(t).toArray().map(quoted))}}`;
      items.set(t, item);
    }
    return item;
  });
}

/**
 * A batch's target: per type, the argument objects of its events over the asked roles (events
 * with none of them left out). The batch's types are distinct (a record's types), so the object
 * is written directly.
 */
function targetObject(batch: readonly Item[], labelled: ReadonlyMap<string, readonly LabelledEvent[]>): string {
  let out = "";
  for (const [type, , roles] of batch) {
    let objects = "";
    for (const ev of labelled.get(type) ?? []) {
      const o = argumentObject(ev, roles);
      if (o !== "{}") objects += (objects === "" ? "" : ", ") + o;
    }
    out += (out === "" ? "{" : ", ") + quotedEscaped(type) + ": [" + objects + "]";
  }
  return out === "" ? "{}" : out + "}";
}

/** EEA adapter. */
export const EEA: TaskAdapter = {
  testItemsFixed: false,
  // A training item lists the record's own triggers.
  trainItemsRepeat: false,
  testItems(ctx: SamplingContext, record: IeRecord): string[] {
    // The list depends only on the sequence of the record's event types (their set's order), and
    // records repeat a few hundred sequences: each is worked out once per run, and the same array
    // comes back for it (so the converter can remember its batches too).
    const events = (record.annotations ?? []) as IeEvent[];
    let lists = testListsByRun.get(ctx);
    if (lists === undefined || lists.size >= 10_000) testListsByRun.set(ctx, lists = new Map());
    let key = "";
    for (const ev of events) key += ev.event_type.length + ":" + ev.event_type; // length first: unambiguous
    let list = lists.get(key);
    if (list === undefined) lists.set(key, list = testItemList(ctx, events));
    return list;
  },
  train(ctx: SamplingContext, record: IeRecord): TrainBatch[] {
    const events = (record.annotations ?? []) as IeEvent[];
    const items = sampleItems(ctx, events);
    const labelled = labelledEvents(ctx, events, record.plain);
    return splitSchemas(items, ctx.options.splitNum).map((batch) => ({
      // Built escaped (see `trainItemsRepeat`), so the converter does not escape the list again.
      schema: batch.map(([type, triggers, roles]) =>
        `{\\"event_type\\": ${quotedEscaped(type)}, \\"trigger\\": ${pyStrListEscaped(triggers)}, \\"arguments\\": ${
          concatList(roles.map(quotedEscaped))
        }}`
      ),
      output: targetObject(batch, labelled),
    }));
  },
};
