/**
 * Matching gold and predicted tuples of one record, as the reference does: multisets in
 * `normal` mode (duplicates count on both sides), distinct tuples in `set` mode; equality is
 * Python's `==` (see `tupleKey`).
 *
 * @module
 */

import type { PyJson } from "../io/py_json.ts";
import type { MatchMode } from "./tasks.ts";
import { tupleKey } from "./tuple_key.ts";

/** Counts of one match, summed over records for micro P/R/F1. */
export interface MatchCounts {
  /** Matched tuples. */
  tp: number;
  /** Predicted tuples. */
  pred: number;
  /** Gold tuples. */
  gold: number;
}

/**
 * Match one record's tuples.
 *
 * `normal`: `tp = Σ min(gold count, predicted count)` over distinct tuples, `pred` and `gold`
 * are the list lengths. `set`: both lists de-duplicated first. (The reference crashes in set
 * mode on tuples holding lists or dicts; here they are de-duplicated by value.)
 *
 * @param gold the gold tuples
 * @param pred the predicted tuples
 * @param mode `normal` or `set`
 * @returns the counts
 *
 * @example
 * ```ts
 * import { matchCounts } from "./match.ts";
 * const gold = [["Ann", "person"]];
 * const pred = [["Ann", "person"], ["Ann", "person"], ["Oslo", "place"]];
 * const n = matchCounts(gold, pred, "normal"), s = matchCounts(gold, pred, "set");
 * if (n.tp !== 1 || n.pred !== 3 || n.gold !== 1 || s.pred !== 2) throw new Error();
 * ```
 */
export function matchCounts(
  gold: readonly (readonly PyJson[])[],
  pred: readonly (readonly PyJson[])[],
  mode: MatchMode,
): MatchCounts {
  const counts = new Map<string, [number, number]>();
  for (const t of gold) {
    const k = tupleKey(t);
    const c = counts.get(k);
    if (c) c[0]++;
    else counts.set(k, [1, 0]);
  }
  for (const t of pred) {
    const k = tupleKey(t);
    const c = counts.get(k);
    if (c) c[1]++;
    else counts.set(k, [0, 1]);
  }
  return countMatches(counts.values(), mode);
}

/**
 * Sum the matches of per-tuple `[gold count, predicted count]` pairs.
 *
 * @param pairs one pair per distinct tuple
 * @param mode `normal` (multiset) or `set` (distinct)
 * @returns the counts
 *
 * @example
 * ```ts
 * import { countMatches } from "./match.ts";
 * const c = countMatches([[2, 3], [1, 0]], "normal");
 * if (c.tp !== 2 || c.pred !== 3 || c.gold !== 3) throw new Error();
 * ```
 */
export function countMatches(pairs: Iterable<readonly [number, number]>, mode: MatchMode): MatchCounts {
  const out: MatchCounts = { tp: 0, pred: 0, gold: 0 };
  for (const [g, p] of pairs) {
    if (mode === "set") {
      if (g > 0 && p > 0) out.tp++;
      if (g > 0) out.gold++;
      if (p > 0) out.pred++;
    } else {
      out.tp += Math.min(g, p);
      out.gold += g;
      out.pred += p;
    }
  }
  return out;
}
