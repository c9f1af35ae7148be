/**
 * Python's string order (by Unicode code point), which every part that sorts strings as IEPile
 * does uses: schema lists in the converter, label tables in the evaluator.
 *
 * @module
 */

/**
 * Compare strings by Unicode code point, as Python does (JS `<` compares UTF-16 units, which
 * puts astral characters before U+E000–U+FFFF).
 *
 * @param a first string
 * @param b second string
 * @returns negative, zero or positive
 *
 * @example
 * ```ts
 * import { compareCodePoints } from "./code_points.ts";
 * if (!(compareCodePoints("\uffff", "😀") < 0) || !(compareCodePoints("a", "b") < 0)) throw new Error();
 * ```
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates stand for code points above U+FFFF: move them above U+E000–U+FFFF.
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}
