/**
 * Orderings IEPile applies to schema lists and outputs: Python's string sort (by code point),
 * the `--random_sort` shuffle, and the stable sort by first position in the text.
 *
 * @module
 */

import { compareCodePoints } from "../io/code_points.ts";
import type { SamplingContext } from "./context.ts";

/**
 * Sort by code point, or with `--random_sort` shuffle with the run's Python `random`. In place.
 *
 * @param ctx the run context (options and generator)
 * @param items the list
 * @param key the string to sort by (default: the item itself)
 * @returns the same array
 *
 * @example
 * ```ts
 * import { sortOrShuffle } from "./order.ts";
 * const ctx = { options: { randomSort: false } } as Parameters<typeof sortOrShuffle>[0];
 * if (sortOrShuffle(ctx, ["b", "a"]).join() !== "a,b") throw new Error();
 * ```
 */
export function sortOrShuffle<T>(
  ctx: Pick<SamplingContext, "options" | "random">,
  items: T[],
  key: (item: T) => string = (item) => item as string,
): T[] {
  if (ctx.options.randomSort) ctx.random.shuffle(items);
  else items.sort((a, b) => compareCodePoints(key(a), key(b)));
  return items;
}

/**
 * Stable sort by the first position of a string in the text (`text.find(s)`; absent = −1 comes first).
 *
 * @param text the record text
 * @param items the list
 * @param key the string to look for
 * @returns a new sorted array
 *
 * @example
 * ```ts
 * import { sortByPosition } from "./order.ts";
 * if (sortByPosition("Carol and Alice", ["Alice", "Carol", "Zed"], (s) => s).join() !== "Zed,Carol,Alice") throw new Error();
 * ```
 */
export function sortByPosition<T>(text: string, items: readonly T[], key: (item: T) => string): T[] {
  if (items.length < 2) return items.slice(); // nothing to order (the usual: one event or entity)
  const pos = new Map<string, number>();
  const at = (s: string): number => {
    let p = pos.get(s);
    if (p === undefined) pos.set(s, p = text.indexOf(s));
    return p;
  };
  return items.slice().sort((a, b) => at(key(a)) - at(key(b)));
}
