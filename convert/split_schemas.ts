/**
 * Cutting a schema list into batches of `split_num` items, one instruction per batch, with
 * IEPile's rule for the remainder: a short tail of fewer than `max(1, n ÷ 2)` items joins the
 * last batch, a longer one becomes a batch of its own.
 *
 * @module
 */

/**
 * Split a list into schema batches.
 *
 * - `splitNum === -1`: one batch with everything.
 * - otherwise consecutive batches of `splitNum`; a remainder shorter than `max(1, ⌊splitNum/2⌋)`
 *   is appended to the last batch. A list shorter than `splitNum` (also an empty one) is one batch.
 *
 * @param items the schema items in instruction order
 * @param splitNum batch size, or -1 for no splitting
 * @returns the batches (never empty: an empty list gives `[[]]`)
 *
 * @example
 * ```ts
 * import { splitSchemas } from "./split_schemas.ts";
 * const sizes = (n: number, k: number) => splitSchemas([...Array(n).keys()], k).map((b) => b.length).join();
 * if (sizes(9, 4) !== "4,5" || sizes(10, 4) !== "4,4,2" || sizes(3, 4) !== "3") throw new Error();
 * if (sizes(8, 6) !== "8" || sizes(7, 3) !== "3,3,1" || sizes(0, 4) !== "0") throw new Error();
 * ```
 */
export function splitSchemas<T>(items: readonly T[], splitNum: number): T[][] {
  if (splitNum === -1) return [items.slice()];
  if (!Number.isInteger(splitNum) || splitNum < 1) throw new RangeError(`split_num must be -1 or ≥ 1, got ${splitNum}`);
  return pySplit(items, splitNum);
}

/**
 * IEPile's KG splitter: the same rule without the `-1` shortcut, so `splitNum = -1` follows
 * Python's slice arithmetic and yields `[all but the last, [last]]` (for one item: `[[], [item]]`).
 *
 * @param items the schema items
 * @param splitNum batch size (−1 or ≥ 1)
 * @returns the batches
 *
 * @example
 * ```ts
 * import { splitSchemasKg } from "./split_schemas.ts";
 * if (JSON.stringify(splitSchemasKg(["x"], -1)) !== '[[],["x"]]') throw new Error();
 * if (JSON.stringify(splitSchemasKg(["x"], 1)) !== '[["x"]]') throw new Error();
 * ```
 */
export function splitSchemasKg<T>(items: readonly T[], splitNum: number): T[][] {
  if (splitNum !== -1 && (!Number.isInteger(splitNum) || splitNum < 1)) {
    throw new RangeError(`split_num must be -1 or ≥ 1, got ${splitNum}`);
  }
  return pySplit(items, splitNum);
}

/** The common rule, with Python's floor division and slice semantics (n may be −1). */
function pySplit<T>(items: readonly T[], n: number): T[][] {
  const len = items.length;
  const full = Math.max(Math.floor(len / n), 1) * n;
  const batches: T[][] = [];
  for (let i = 0; n > 0 ? i < full : i > full; i += n) batches.push(pySlice(items, i, i + n));
  const rest = pySlice(items, full, len);
  if (rest.length >= Math.max(1, Math.floor(n / 2))) batches.push(rest);
  else batches[batches.length - 1].push(...rest);
  return batches;
}

function pySlice<T>(items: readonly T[], start: number, end: number): T[] {
  const len = items.length;
  const norm = (i: number) => (i < 0 ? Math.max(len + i, 0) : Math.min(i, len));
  return items.slice(norm(start), norm(end));
}
