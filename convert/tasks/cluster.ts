/**
 * IEPile's hard-negative ("cluster mode") schema sampling: for a record with positives, its
 * negatives are the positives' hard negatives from a dictionary plus `split_num` random others.
 *
 * @module
 */

import { InputError } from "../../io/errors.ts";
import type { SamplingContext } from "../context.ts";
import { PySet } from "../pycompat/mod.ts";

/** The sampled schema keys and which branch chose them. */
export interface ClusterSample {
  /** Keys in set or sample order (not sorted yet). */
  items: string[];
  /** 1: the universe has one key; 2: no positives (random sample); 3: positives + hard + random negatives. */
  branch: 1 | 2 | 3;
}

/**
 * Choose the schema keys of one record in cluster mode.
 *
 * 1. `singleKey` (the universe has exactly one key): the universe.
 * 2. No positives: a random sample of the universe, size = Binomial draws at p/2 (at least 1).
 * 3. Otherwise: the positives' hard negatives, the positives, and up to `split_num` random
 *    keys from the rest of the universe, in the accumulated set's order.
 *
 * @param ctx the run context (needs `hardNegatives`)
 * @param universe all schema keys
 * @param positives the record's keys
 * @param singleKey whether branch 1 applies
 * @returns the keys and the branch taken
 * @throws {InputError} when a positive key has no hard-negative entry
 *
 * @example
 * ```ts
 * import { createContext } from "../context.ts";
 * import { PySet } from "../pycompat/mod.ts";
 * import { clusterSample } from "./cluster.ts";
 * const ctx = createContext(
 *   { task: "NER", language: "en", split: "train", splitNum: 1, negSchema: 1, randomSort: false, clusterMode: true, hashSeed: 0, source: "x" },
 *   { types: ["a", "b", "c"], roles: [], typeRoles: [] },
 *   new Map([["a", ["b"]]]),
 * );
 * const s = clusterSample(ctx, ctx.types, PySet.from(ctx.hasher, ["a"]), false);
 * if (s.branch !== 3 || s.items.length !== 3) throw new Error(); // a, its hard negative b, one random: c
 * ```
 */
export function clusterSample(
  ctx: SamplingContext,
  universe: PySet,
  positives: PySet,
  singleKey: boolean,
): ClusterSample {
  if (singleKey) return { items: universe.toArray(), branch: 1 };
  if (positives.size === 0) {
    let k = Math.max(ctx.numpy.binomialSum(ctx.options.negSchema / 2, ctx.labelLength), 1);
    k = Math.min(k, universe.size);
    return { items: ctx.random.sample(universe.toArray(), k), branch: 2 };
  }
  const hard = ctx.hardNegatives;
  if (hard === undefined) throw new Error("cluster mode needs a hard-negative dictionary");
  const chosen = new PySet(ctx.hasher);
  for (const key of positives) {
    const negatives = hard.get(key);
    if (negatives === undefined) {
      throw new InputError(`positive schema "${key}" is not a key of the hard-negative dictionary`);
    }
    chosen.update(negatives.copy());
  }
  chosen.update(positives);
  const rest = universe.difference(chosen);
  const m = Math.min(rest.size, ctx.options.splitNum);
  if (m !== 0) chosen.update(ctx.random.sample(rest.toArray(), m));
  return { items: chosen.toArray(), branch: 3 };
}
