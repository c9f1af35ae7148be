/**
 * Conversion between the two ways of counting positions in a document that `extract` meets.
 *
 * - **UTF-16 code units**: what JavaScript strings index, so `text.slice(start, end)`. The library
 *   (grounding, the report) works in these. A character outside the Basic Multilingual Plane (an
 *   emoji, a rare CJK ideograph) takes two units, a surrogate pair.
 * - **Code points**: what Python strings index, so `text[start:end]`. The output file writes these
 *   by default, since IEPile's users read it from Python. Every character counts one.
 *
 * The two agree until the first astral character; after it, UTF-16 offsets are larger by one per
 * astral character before the position. A lone surrogate counts as one code point, as Python's
 * `surrogateescape`/`surrogatepass` decoding does.
 *
 * @module
 */

/**
 * Converts offsets of one text between UTF-16 code units and code points. Building it is O(n);
 * each conversion is O(1) afterwards (a text with no astral character needs no tables at all).
 *
 * @example
 * ```ts
 * import { OffsetConverter } from "./offsets.ts";
 * const text = "😀 Ann";
 * const c = new OffsetConverter(text);
 * // "Ann" is text.slice(3, 6) in JavaScript and text[2:5] in Python.
 * if (c.toCodePoint(3) !== 2 || c.toCodePoint(6) !== 5 || c.toUtf16(2) !== 3) throw new Error();
 * ```
 */
export class OffsetConverter {
  readonly #units: number;
  readonly #points: number;
  /** Code points before each UTF-16 index (0..units); undefined when the two counts agree. */
  readonly #toPoint: Uint32Array | undefined;
  /** UTF-16 index of each code point (0..points); undefined when the two counts agree. */
  readonly #toUnit: Uint32Array | undefined;

  /**
   * Builds the tables for `text`.
   *
   * @param text the document text
   */
  constructor(text: string) {
    this.#units = text.length;
    let pairs = 0;
    for (let i = 0; i + 1 < text.length; i++) {
      if (isPairAt(text, i)) {
        pairs++;
        i++;
      }
    }
    this.#points = text.length - pairs;
    if (pairs === 0) return;
    const toPoint = new Uint32Array(this.#units + 1);
    const toUnit = new Uint32Array(this.#points + 1);
    let p = 0;
    for (let i = 0; i < text.length; i++) {
      toUnit[p] = i;
      toPoint[i] = p;
      if (isPairAt(text, i)) {
        // The low surrogate belongs to the same code point as its high surrogate.
        toPoint[i + 1] = p;
        i++;
      }
      p++;
    }
    toPoint[this.#units] = this.#points;
    toUnit[this.#points] = this.#units;
    this.#toPoint = toPoint;
    this.#toUnit = toUnit;
  }

  /** The text's length in code points (Python's `len(text)`). */
  get codePointLength(): number {
    return this.#points;
  }

  /**
   * Converts a UTF-16 offset to a code-point offset. An offset inside a surrogate pair (between its
   * two halves) maps to the code point the pair encodes, that is to the offset before it.
   *
   * @param utf16Index an integer from 0 to `text.length`
   * @returns the same position counted in code points
   * @throws {RangeError} when the index is not an integer in range
   *
   * @example
   * ```ts
   * import { OffsetConverter } from "./offsets.ts";
   * const c = new OffsetConverter("a😀b");
   * if ([0, 1, 2, 3, 4].map((i) => c.toCodePoint(i)).join() !== "0,1,1,2,3") throw new Error();
   * ```
   */
  toCodePoint(utf16Index: number): number {
    checkIndex(utf16Index, this.#units, "UTF-16 index");
    return this.#toPoint === undefined ? utf16Index : this.#toPoint[utf16Index];
  }

  /**
   * Converts a code-point offset to a UTF-16 offset.
   *
   * @param codePointIndex an integer from 0 to the text's length in code points
   * @returns the same position counted in UTF-16 code units
   * @throws {RangeError} when the index is not an integer in range
   *
   * @example
   * ```ts
   * import { OffsetConverter } from "./offsets.ts";
   * const c = new OffsetConverter("a😀b");
   * if ([0, 1, 2, 3].map((i) => c.toUtf16(i)).join() !== "0,1,3,4") throw new Error();
   * ```
   */
  toUtf16(codePointIndex: number): number {
    checkIndex(codePointIndex, this.#points, "code point index");
    return this.#toUnit === undefined ? codePointIndex : this.#toUnit[codePointIndex];
  }
}

function isPairAt(text: string, i: number): boolean {
  const hi = text.charCodeAt(i);
  if (hi < 0xd800 || hi > 0xdbff) return false;
  const lo = text.charCodeAt(i + 1);
  return lo >= 0xdc00 && lo <= 0xdfff;
}

function checkIndex(i: number, max: number, what: string): void {
  if (!Number.isInteger(i) || i < 0 || i > max) throw new RangeError(`${what} ${i} is outside 0..${max}`);
}
