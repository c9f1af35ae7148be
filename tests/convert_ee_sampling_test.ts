/**
 * EE training's sampling on name numbers (`convert/tasks/ee_sampling.ts`) against IEPile's
 * algorithm written out here on Python sets and names, draw for draw: random schemas and records,
 * including more than four types or roles (the cache keys' text form), types and roles outside
 * the schema, events without arguments, both hash seeds, `neg_schema` 1 and 0.5, sorted and
 * shuffled.
 *
 * @module
 */

import { deepEqual } from "node:assert/strict";
import { createContext, type SamplingContext } from "../convert/context.ts";
import { PyRandom, PySet } from "../convert/pycompat/mod.ts";
import type { IeEvent } from "../convert/records.ts";
import { sampleEeItems } from "../convert/tasks/ee_sampling.ts";
import { SCHEMA_NAMES } from "../convert/tasks/subset_orders.ts";

/** IEPile's `rolesFor`, on sets. */
function rolesFor(ctx: SamplingContext, type: string, used: PySet | undefined): string[] {
  const schemaRoles = ctx.typeRoles.get(type);
  let candidates = used !== undefined ? schemaRoles.difference(used).toArray() : schemaRoles.toArray();
  let k = ctx.numpy.binomialSum(ctx.options.negSchema, schemaRoles.size);
  if (used === undefined || used.size === 0) k = Math.max(k, 1);
  candidates = ctx.random.sample(candidates, Math.min(k, candidates.length));
  return used !== undefined ? [...candidates, ...used.toArray()] : candidates;
}

/** IEPile's item sampling for one record, on sets and names. */
function oracle(ctx: SamplingContext, events: readonly IeEvent[]): Array<[string, string[]]> {
  const types = new PySet(ctx.hasher);
  const roles = new Map<string, PySet>();
  for (const ev of events) {
    types.add(ev.event_type);
    if (!roles.has(ev.event_type)) roles.set(ev.event_type, new PySet(ctx.hasher));
    for (const a of ev.arguments) roles.get(ev.event_type)!.add(a.role);
  }
  let negatives = ctx.types.difference(types).toArray();
  let k = ctx.numpy.binomialSum(ctx.options.negSchema, ctx.labelLength);
  if (types.size === 0) k = Math.max(k, 1);
  negatives = ctx.random.sample(negatives, Math.min(k, negatives.length));
  const items: Array<[string, string[]]> = [
    ...types.toArray().map((t): [string, string[]] => [t, rolesFor(ctx, t, roles.get(t))]),
    ...negatives.map((t): [string, string[]] => [t, rolesFor(ctx, t, undefined)]),
  ];
  if (ctx.options.randomSort) {
    ctx.random.shuffle(items);
    for (const item of items) ctx.random.shuffle(item[1]);
  }
  return items;
}

Deno.test("EE sampling on name numbers draws what IEPile's set algorithm draws", () => {
  const gen = new PyRandom(7);
  const name = (prefix: string, i: number) => `${prefix}${i}`;
  for (let trial = 0; trial < 40; trial++) {
    const nTypes = 1 + gen.randbelow(8);
    const typeRoles: Array<[string, string[]]> = [];
    for (let t = 0; t < nTypes; t++) {
      const n = gen.randbelow(7);
      typeRoles.push([name("type", t), Array.from({ length: n }, (_, r) => name("role", (t * 3 + r) % 9))]);
    }
    const options = {
      task: "EE" as const,
      language: "en" as const,
      split: "train" as const,
      splitNum: 4,
      negSchema: trial % 3 === 0 ? 0.5 : 1,
      randomSort: trial % 2 === 0,
      clusterMode: false,
      hashSeed: trial % 4 === 1 ? 1 : 0,
      source: "x",
    };
    const schema = { types: typeRoles.map(([t]) => t), roles: [], typeRoles };
    const mine = createContext(options, schema);
    const theirs = createContext(options, schema);
    for (let record = 0; record < 60; record++) {
      const events: IeEvent[] = Array.from({ length: gen.randbelow(7) }, () => ({
        event_trigger: "t",
        // now and then a type or role the schema lacks
        event_type: name("type", gen.randbelow(nTypes + 2)),
        arguments: Array.from(
          { length: gen.randbelow(6) },
          () => ({ argument: "a", role: name("role", gen.randbelow(11)) }),
        ),
        raw: null,
      }));
      const got = sampleEeItems(mine, events).map((
        [t, r],
      ) => [SCHEMA_NAMES.name(t), r.map((x) => SCHEMA_NAMES.name(x))]);
      deepEqual(got, oracle(theirs, events), `trial ${trial}, record ${record}`);
    }
    // Both runs consumed the same draws and added the same unknown types to the schema.
    deepEqual(mine.random.randbelow(1 << 30), theirs.random.randbelow(1 << 30));
    deepEqual(mine.typeRoles.keys(), theirs.typeRoles.keys());
  }
});
