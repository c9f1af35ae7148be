/**
 * EE training's schema sampling on small numbers instead of names. IEPile builds, per record, a
 * Python set of its event types and one of the roles each type's arguments use, subtracts them
 * from the schema's sets and samples from what is left. Everything those sets give (their
 * iteration order, the differences) depends only on the order in which distinct names were
 * added, so it is worked out once per such sequence and remembered; the draws themselves
 * (`binomial`, `sample`, `shuffle`) depend only on lengths, so they run on arrays of numbers.
 *
 * @module
 */

import type { SamplingContext } from "../context.ts";
import { SCHEMA_NAMES, subsetOrder } from "./subset_orders.ts";
import type { IeEvent } from "../records.ts";

/** An asked event type and its asked roles, as name numbers (of `SCHEMA_NAMES`, see `subset_orders.ts`). */
export type IdItem = [type: number, roles: number[]];

/** What one type's schema roles give against the roles a record uses (none, for a negative type). */
interface RolesEntry {
  /** The used roles in set order (empty for a negative type). */
  used: readonly number[];
  /** The schema roles left to sample from, in set order (copied before each sample). */
  candidates: readonly number[];
  /** The number of schema roles: the binomial draws. */
  schemaSize: number;
}

/**
 * A positive type's entry: its schema roles against the set of the distinct roles
 * `seq[0..length)` its arguments use, remembered by `subsetOrder`. `typeRoles` is a defaultdict:
 * asking for a type outside the schema adds it, as IEPile's first lookup does.
 */
function positiveRoles(ctx: SamplingContext, type: number, seq: readonly number[], length: number): RolesEntry {
  const schemaRoles = ctx.typeRoles.get(SCHEMA_NAMES.name(type));
  const order = subsetOrder(schemaRoles, seq, length);
  return { used: order.memberIds, candidates: order.restIds, schemaSize: schemaRoles.size };
}

/** A negative type's entries (no role used; `list(schema_roles)`, not a difference), per run. */
const negativeRoles = new WeakMap<SamplingContext, Map<number, RolesEntry>>();

function negativeEntry(ctx: SamplingContext, type: number): RolesEntry {
  let byType = negativeRoles.get(ctx);
  if (byType === undefined) negativeRoles.set(ctx, byType = new Map());
  let entry = byType.get(type);
  if (entry === undefined) {
    const schemaRoles = ctx.typeRoles.get(SCHEMA_NAMES.name(type));
    entry = { used: [], candidates: SCHEMA_NAMES.ids(schemaRoles.toArray()), schemaSize: schemaRoles.size };
    byType.set(type, entry);
  }
  return entry;
}

// A record's distinct types and, per type, its distinct roles, gathered into arrays reused from
// record to record.
const typeSeq: number[] = [];
const roleSeqs: number[][] = [];
const roleCounts: number[] = [];

/**
 * The types and roles one EE training record is asked about, with IEPile's draws: a
 * Binomial(`neg_schema`) share of the schema types it lacks (at least one when it has none);
 * per asked type, a Binomial share of the schema roles its arguments do not use (at least one
 * when they use none) followed by the used ones; then, with `--random_sort`, the items
 * shuffled and each item's roles shuffled. Without `--random_sort` the items come in set order
 * (the caller sorts them). For `neg_schema` > 0 and no cluster mode.
 *
 * @param ctx the run context (its generators advance)
 * @param events the record's events
 * @returns the asked items, as name numbers of {@linkcode SCHEMA_NAMES}
 *
 * @example
 * ```ts
 * import { createContext } from "../context.ts";
 * import { sampleEeItems } from "./ee_sampling.ts";
 * import { SCHEMA_NAMES } from "./subset_orders.ts";
 * const ctx = createContext(
 *   { task: "EE", language: "en", split: "train", splitNum: 4, negSchema: 1, randomSort: false, clusterMode: false, hashSeed: 0, source: "x" },
 *   { types: ["attack", "elect"], roles: [], typeRoles: [["attack", ["place", "target"]], ["elect", ["person"]]] },
 * );
 * const ev = { event_trigger: "hit", event_type: "attack", arguments: [{ argument: "Rome", role: "place" }], raw: null };
 * const items = sampleEeItems(ctx, [ev]).map(([t, roles]) => [SCHEMA_NAMES.name(t), roles.map((r) => SCHEMA_NAMES.name(r))]);
 * // neg_schema 1 keeps every negative: the unused role, then the used one; the other type with its role
 * if (JSON.stringify(items) !== '[["attack",["target","place"]],["elect",["person"]]]') throw new Error(JSON.stringify(items));
 * ```
 */
export function sampleEeItems(ctx: SamplingContext, events: readonly IeEvent[]): IdItem[] {
  let nTypes = 0;
  for (const ev of events) {
    const type = SCHEMA_NAMES.id(ev.event_type);
    let i = 0;
    while (i < nTypes && typeSeq[i] !== type) i++;
    if (i === nTypes) {
      typeSeq[nTypes] = type;
      roleSeqs[nTypes] ??= [];
      roleCounts[nTypes] = 0;
      nTypes++;
    }
    const roles = roleSeqs[i];
    let n = roleCounts[i];
    for (const a of ev.arguments) {
      const role = SCHEMA_NAMES.id(a.role);
      let j = 0;
      while (j < n && roles[j] !== role) j++;
      if (j === n) roles[n++] = role;
    }
    roleCounts[i] = n;
  }
  const { random, numpy } = ctx;
  const p = ctx.options.negSchema;
  const positives = subsetOrder(ctx.types, typeSeq, nTypes);
  let k = numpy.binomialSum(p, ctx.labelLength);
  if (nTypes === 0) k = Math.max(k, 1);
  const negatives = random.sampleFrom(positives.restIds.slice(), Math.min(k, positives.restIds.length));
  const items = new Array<IdItem>(positives.memberIds.length + negatives.length);
  for (let i = 0; i < positives.memberIds.length; i++) {
    const type = positives.memberIds[i];
    let at = 0;
    while (typeSeq[at] !== type) at++;
    items[i] = [type, askedRoles(ctx, positiveRoles(ctx, type, roleSeqs[at], roleCounts[at]))];
  }
  for (let i = 0; i < negatives.length; i++) {
    items[positives.memberIds.length + i] = [negatives[i], askedRoles(ctx, negativeEntry(ctx, negatives[i]))];
  }
  if (ctx.options.randomSort) {
    random.shuffle(items);
    for (const item of items) random.shuffle(item[1]);
  }
  return items;
}

/** A sample of a type's unused schema roles (at least one when none is used), then the used ones. */
function askedRoles(ctx: SamplingContext, entry: RolesEntry): number[] {
  let k = ctx.numpy.binomialSum(ctx.options.negSchema, entry.schemaSize);
  if (entry.used.length === 0) k = Math.max(k, 1);
  const roles = ctx.random.sampleFrom(entry.candidates.slice(), Math.min(k, entry.candidates.length));
  for (const r of entry.used) roles.push(r);
  return roles;
}
