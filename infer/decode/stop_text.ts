/**
 * Stop texts: where the first of them starts in generated text, and the tokens before it.
 *
 * @module
 */

/**
 * If the text of the generated ids holds a stop text: the text before it, with `ids` shortened
 * in place to the tokens before it (a token holding both text and the stop text's start is kept).
 *
 * @param ids the generated ids (shortened in place when a stop text is found)
 * @param decode the text of ids
 * @param stops the stop texts
 * @returns the text before the first stop text, or `undefined` when none occurs
 *
 * @example
 * ```ts
 * import { cutAtStopText } from "./stop_text.ts";
 * const ids = [1, 2, 3];
 * const text = cutAtStopText(ids, (xs) => xs.map((x) => ["", "a", "b###", "c"][x]).join(""), ["###"]);
 * if (text !== "ab" || ids.join() !== "1,2") throw new Error();
 * ```
 */
export function cutAtStopText(
  ids: number[],
  decode: (ids: readonly number[]) => string,
  stops: readonly string[],
): string | undefined {
  const decoded = decode(ids);
  const cut = firstStop(decoded, stops);
  if (cut < 0) return undefined;
  while (ids.length > 0 && decode(ids.slice(0, -1)).length >= cut) ids.pop();
  return decoded.slice(0, cut);
}

/**
 * Where the first of several stop texts starts in a text.
 *
 * @param text the generated text
 * @param stops the stop texts
 * @returns the earliest index, or -1 when none occurs
 *
 * @example
 * ```ts
 * import { firstStop } from "./stop_text.ts";
 * if (firstStop("ab</s>c###", ["###", "</s>"]) !== 2) throw new Error();
 * ```
 */
export function firstStop(text: string, stops: readonly string[]): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}
