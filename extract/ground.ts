/**
 * Grounding: finding a string the model wrote in the document it read, as UTF-16 offsets
 * (`text.slice(start, end)`) into the whole document.
 *
 * Three attempts, the first that finds something wins:
 *
 * 1. **exact** — the same characters (`indexOf`); among several occurrences the first that stands
 *    as a whole word (`Ann` in `Annual report by Ann` is the second), else the first.
 * 2. **normalized** — the same characters after both sides are normalised: NFKC (full-width
 *    `ＡＢＣ１２３` is `ABC123`, `㎏` is `kg`), lower case, format characters (zero-width space, soft
 *    hyphen, …) dropped, every run of whitespace (tabs, `\r\n`, NBSP, U+3000) one space, and no
 *    whitespace at all next to a CJK character (models put spaces between Chinese characters:
 *    `浙 江 大 学` is found in `浙江大学`). Leading and trailing whitespace of the string is ignored.
 * 3. **fuzzy** — the substring of the window most similar to the normalised string by normalised
 *    Levenshtein similarity, `1 - distance / max(len(s), len(candidate))`, accepted at or above a
 *    threshold (0.8 by default). Strings shorter than 4 characters (after normalisation) are never
 *    matched fuzzily: one edit in three characters is another word more often than a typo.
 *
 * Offsets always fall on code-point boundaries: a match never splits a surrogate pair (emoji), nor
 * a character whose normalised form is several characters (`㎏`), nor a character from the
 * combining marks that follow it.
 *
 * @module
 */

import type { MatchKind } from "./types.ts";

export type { MatchKind };

/** Options of a {@link Grounder}. */
export interface GroundOptions {
  /**
   * The least similarity (0..1) a fuzzy match needs; 1 turns fuzzy matching off. Default 0.8.
   */
  fuzzyThreshold?: number;
}

/** Where a string was found: UTF-16 offsets into the whole document, and how it was found. */
export interface Located {
  /** The first UTF-16 code unit of the match (inclusive). */
  start: number;
  /** After the last UTF-16 code unit of the match (exclusive). */
  end: number;
  /** Which attempt found it. */
  match: MatchKind;
}

/**
 * The occurrence to return among those offered in text order: the first one not avoided that stands
 * as a whole word ("Ann" in "Ann met…", not inside "Annual"), else the first one not avoided, else
 * the first one.
 */
class Pick {
  readonly #text: string;
  readonly #avoid?: (start: number, end: number) => boolean;
  #first?: Located;
  #free?: Located;
  #word?: Located;

  constructor(text: string, avoid?: (start: number, end: number) => boolean) {
    this.#text = text;
    this.#avoid = avoid;
  }

  /** Offer the next occurrence; true when it is the one to return (no need to look further). */
  offer(found: Located): boolean {
    this.#first ??= found;
    if (this.#avoid?.(found.start, found.end)) return false;
    this.#free ??= found;
    if (!isWholeWord(this.#text, found.start, found.end)) return false;
    this.#word = found;
    return true;
  }

  best(): Located | undefined {
    return this.#word ?? this.#free ?? this.#first;
  }
}

/** Whether `text[start, end)` does not begin or end in the middle of a run of letters or digits. */
function isWholeWord(text: string, start: number, end: number): boolean {
  const inside = (a: number, b: number) => WORD_CHAR.test(text[a] ?? "") && WORD_CHAR.test(text[b] ?? "");
  return !(start > 0 && inside(start - 1, start)) && !(end < text.length && inside(end - 1, end));
}

/** A character of a word in languages that put spaces between words (Chinese has no such edges). */
const WORD_CHAR = /^(?![\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}])[\p{L}\p{N}]$/u;

/** Fuzzy matching looks only at strings of at least this many code points (after normalisation). */
const FUZZY_MIN_LENGTH = 4;

/** The document normalised for matching, with where each of its UTF-16 units came from. */
interface Normalized {
  /** The normalised text. */
  text: string;
  /** For each unit of `text`, the UTF-16 offset in the original where its source characters start. */
  starts: Int32Array;
  /** For each unit of `text`, the UTF-16 offset in the original where its source characters end. */
  ends: Int32Array;
}

/** A fuzzy candidate, in normalised units. */
interface Candidate {
  start: number;
  end: number;
  similarity: number;
}

/**
 * Locates strings in one document. The normalised form of the document is built once, on the
 * first search that needs it, so make one `Grounder` per document and ask it for every string.
 *
 * @example
 * ```ts
 * import { Grounder } from "./ground.ts";
 * const text = "Barack Obama visited 浙江大学 in 2010.";
 * const g = new Grounder(text);
 * const a = g.locate("Obama");
 * if (a?.start !== 7 || a.end !== 12 || a.match !== "exact") throw new Error();
 * const b = g.locate("浙 江 大 学");
 * if (b?.match !== "normalized" || text.slice(b.start, b.end) !== "浙江大学") throw new Error();
 * const c = g.locate("Barak Obama");
 * if (c?.match !== "fuzzy" || text.slice(c.start, c.end) !== "Barack Obama") throw new Error();
 * if (g.locate("Hillary Clinton") !== undefined) throw new Error();
 * ```
 */
export class Grounder {
  readonly #text: string;
  readonly #threshold: number;
  #normalized: Normalized | undefined;

  /**
   * Prepares to search `text`.
   *
   * @param text the whole document
   * @param options the fuzzy threshold
   * @throws {RangeError} when `fuzzyThreshold` is not a number from 0 to 1
   */
  constructor(text: string, options: GroundOptions = {}) {
    const threshold = options.fuzzyThreshold ?? 0.8;
    if (typeof threshold !== "number" || !(threshold >= 0 && threshold <= 1)) {
      throw new RangeError(`fuzzyThreshold must be a number from 0 to 1, not ${threshold}`);
    }
    this.#text = text;
    this.#threshold = threshold;
  }

  /**
   * Finds `s` in `text[from, to)`, the chunk of the document it was extracted from. When `avoid`
   * is given, occurrences it returns true for (already taken by an identical item) are passed
   * over for the next one; when every occurrence found by the first attempt that finds any is
   * avoided, the first of them is returned.
   *
   * @param s the string the model wrote
   * @param from where the window starts (UTF-16 offset, default 0)
   * @param to where the window ends (UTF-16 offset, exclusive, default the text's length)
   * @param avoid tells whether an occurrence (UTF-16 offsets) is already used
   * @returns the match, with offsets into the whole text, or `undefined` when `s` is empty, only
   *   whitespace, or not found
   *
   * @example
   * ```ts
   * import { Grounder } from "./ground.ts";
   * const g = new Grounder("Ann met Ann. ANN left.");
   * // The second item "Ann" takes the second occurrence; a window restricts the search.
   * const second = g.locate("Ann", 0, undefined, (start) => start === 0);
   * if (second?.start !== 8) throw new Error();
   * const inWindow = g.locate("ann", 12);
   * if (inWindow?.start !== 13 || inWindow.match !== "normalized") throw new Error();
   * ```
   */
  locate(
    s: string,
    from = 0,
    to: number = this.#text.length,
    avoid?: (start: number, end: number) => boolean,
  ): Located | undefined {
    const text = this.#text;
    from = clamp(Math.floor(from), 0, text.length);
    to = clamp(Math.ceil(to), from, text.length);
    // A window edge inside a surrogate pair leaves the pair out.
    if (from > 0 && isLowSurrogateAfterHigh(text, from)) from++;
    if (to < text.length && isLowSurrogateAfterHigh(text, to)) to--;
    if (to < from) to = from;
    if (s.trim() === "") return undefined;
    return this.#exact(s, from, to, avoid) ?? this.#normalizedMatch(s, from, to, avoid) ??
      this.#fuzzy(s, from, to, avoid);
  }

  #exact(s: string, from: number, to: number, avoid?: (start: number, end: number) => boolean): Located | undefined {
    const text = this.#text;
    const pick = new Pick(text, avoid);
    for (let i = text.indexOf(s, from); i >= 0 && i + s.length <= to; i = text.indexOf(s, i + 1)) {
      // A string that starts or ends with half a surrogate pair must not split one in the text.
      if (isLowSurrogateAfterHigh(text, i) || isLowSurrogateAfterHigh(text, i + s.length)) continue;
      if (pick.offer({ start: i, end: i + s.length, match: "exact" })) break;
    }
    return pick.best();
  }

  #normalizedMatch(
    s: string,
    from: number,
    to: number,
    avoid?: (start: number, end: number) => boolean,
  ): Located | undefined {
    const pattern = normalize(s).text;
    if (pattern === "") return undefined;
    const n = this.#norm();
    const [lo, hi] = normalizedWindow(n, from, to);
    const pick = new Pick(this.#text, avoid);
    for (let p = n.text.indexOf(pattern, lo); p >= 0 && p + pattern.length <= hi; p = n.text.indexOf(pattern, p + 1)) {
      if (pick.offer({ start: n.starts[p], end: n.ends[p + pattern.length - 1], match: "normalized" })) break;
    }
    return pick.best();
  }

  #fuzzy(s: string, from: number, to: number, avoid?: (start: number, end: number) => boolean): Located | undefined {
    if (this.#threshold >= 1) return undefined;
    const pattern = normalize(s).text;
    if (codePointCount(pattern) < FUZZY_MIN_LENGTH) return undefined;
    const n = this.#norm();
    const [lo, hi] = normalizedWindow(n, from, to);
    // The similarity is at most len(window) / len(s) when the window is the shorter.
    if ((hi - lo) / pattern.length < this.#threshold) return undefined;
    const candidates = fuzzyCandidates(pattern, n.text, lo, hi, this.#threshold);
    const taken: Candidate[] = [];
    let first: Located | undefined;
    for (const c of candidates) {
      // A candidate overlapping an avoided one is the same occurrence, shifted.
      if (taken.some((t) => c.start < t.end && t.start < c.end)) continue;
      const found: Located = { start: n.starts[c.start], end: n.ends[c.end - 1], match: "fuzzy" };
      if (avoid === undefined || !avoid(found.start, found.end)) return found;
      first ??= found;
      taken.push(c);
    }
    return first;
  }

  #norm(): Normalized {
    return this.#normalized ??= normalize(this.#text);
  }
}

/**
 * Sellers' approximate substring matching: for every end position in `text[lo, hi)` the start of
 * the substring ending there closest to `pattern` by edit distance. Keeps those at or above
 * `threshold` after trimming spaces at their ends, best first.
 */
function fuzzyCandidates(pattern: string, text: string, lo: number, hi: number, threshold: number): Candidate[] {
  const m = pattern.length;
  const p = new Uint16Array(m);
  for (let i = 0; i < m; i++) p[i] = pattern.charCodeAt(i);
  // Column j: dist[i] = least edits turning pattern[0, i) into some text[k, j); start[i] = that k
  // (the largest among equal distances, so the shorter candidate, which scores higher).
  const dist = new Int32Array(m + 1);
  const start = new Int32Array(m + 1);
  for (let i = 0; i <= m; i++) {
    dist[i] = i;
    start[i] = lo;
  }
  const trimHead = !PUNCTUATION.test(pattern[0]);
  const trimTail = !PUNCTUATION.test(pattern[m - 1]);
  const out: Candidate[] = [];
  for (let j = lo; j < hi; j++) {
    const t = text.charCodeAt(j);
    let diag = dist[0];
    let diagStart = start[0];
    dist[0] = 0;
    start[0] = j + 1;
    for (let i = 1; i <= m; i++) {
      const up = dist[i] + 1; // text[j] left over
      const upStart = start[i];
      const sub = diag + (p[i - 1] === t ? 0 : 1);
      const left = dist[i - 1] + 1; // pattern[i - 1] left over
      diag = dist[i];
      let best = sub;
      let bestStart = diagStart;
      if (up < best || (up === best && upStart > bestStart)) {
        best = up;
        bestStart = upStart;
      }
      if (left < best || (left === best && start[i - 1] > bestStart)) {
        best = left;
        bestStart = start[i - 1];
      }
      diagStart = upStart;
      dist[i] = best;
      start[i] = bestStart;
    }
    let a = start[m];
    let b = j + 1;
    // Never start or end on a space (the pattern does neither), nor on punctuation the pattern does
    // not start or end with ("Pariss" is "Paris", not "Paris."). Dropping a character saves at most
    // one edit, so the distance after trimming lies between dist[m] - trimmed and dist[m].
    while (a < b && (text.charCodeAt(a) === 0x20 || trimHead && PUNCTUATION.test(text[a]))) a++;
    while (b > a && (text.charCodeAt(b - 1) === 0x20 || trimTail && PUNCTUATION.test(text[b - 1]))) b--;
    if (a >= b) continue;
    const trimmed = j + 1 - start[m] - (b - a);
    if (1 - (dist[m] - trimmed) / Math.max(m, b - a) < threshold - EPSILON) continue;
    const d = trimmed === 0 ? dist[m] : levenshtein(p, text, a, b);
    const similarity = 1 - d / Math.max(m, b - a);
    if (similarity >= threshold - EPSILON) out.push({ start: a, end: b, similarity });
  }
  // Among equals the leftmost, then the one closest in length to the pattern ("Obame" is "Obama"
  // rather than "Obam"), then the longer.
  const off = (c: Candidate): number => Math.abs(c.end - c.start - m);
  out.sort((x, y) => y.similarity - x.similarity || x.start - y.start || off(x) - off(y) || y.end - x.end);
  return out;
}

/** Punctuation, which a fuzzy match does not take at its ends unless the pattern has it there. */
const PUNCTUATION = /^\p{P}$/u;

/** Slack for comparing similarities with the threshold (`1 - 1 / 5` is not exactly `0.8`). */
const EPSILON = 1e-9;

/** Edit distance between the units `p` and `text[a, b)` (two rows). */
function levenshtein(p: Uint16Array, text: string, a: number, b: number): number {
  const m = p.length;
  let prev = new Int32Array(m + 1);
  let cur = new Int32Array(m + 1);
  for (let i = 0; i <= m; i++) prev[i] = i;
  for (let j = a; j < b; j++) {
    const t = text.charCodeAt(j);
    cur[0] = j - a + 1;
    for (let i = 1; i <= m; i++) {
      cur[i] = Math.min(prev[i - 1] + (p[i - 1] === t ? 0 : 1), prev[i] + 1, cur[i - 1] + 1);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[m];
}

/** The normalised units whose source lies inside `[from, to)`, as `[lo, hi)`. */
function normalizedWindow(n: Normalized, from: number, to: number): [number, number] {
  return [lowerBound(n.starts, from), lowerBound(n.ends, to + 1)];
}

/** The first index whose value is at least `x` in a non-decreasing array. */
function lowerBound(a: Int32Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Normalises `text` for matching (see the module doc) and records, for every unit of the result,
 * the range of `text` it came from. Each code point is normalised with the combining marks after
 * it, so the result is the same whether it is applied to a whole document or to a piece of it.
 */
function normalize(text: string): Normalized {
  const out: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  let lastCjk: boolean | undefined; // undefined: nothing written yet
  let spaceFrom = -1; // start of the pending whitespace run, -1 when none
  let spaceTo = -1;
  const emit = (unit: string, cjk: boolean, a: number, b: number): void => {
    if (spaceFrom >= 0) {
      if (lastCjk === false && !cjk) {
        out.push(" ");
        starts.push(spaceFrom);
        ends.push(spaceTo);
      }
      spaceFrom = -1;
    }
    for (let k = 0; k < unit.length; k++) {
      out.push(unit[k]);
      starts.push(a);
      ends.push(b);
    }
    lastCjk = cjk;
  };
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
    if (c < 0x80 && next < 0x300) {
      // ASCII not followed by a combining mark: the common case, without `normalize`.
      if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) {
        if (spaceFrom < 0) spaceFrom = i;
        spaceTo = i + 1;
      } else emit(c >= 0x41 && c <= 0x5a ? String.fromCharCode(c + 32) : text[i], false, i, i + 1);
      i++;
      continue;
    }
    if (c >= 0x4e00 && c <= 0x9fff && next < 0x300) {
      // A common Han character: NFKC and lower case leave it alone.
      emit(text[i], true, i, i + 1);
      i++;
      continue;
    }
    // One code point and the combining marks after it.
    let j = i + codePointLengthAt(text, i);
    while (j < text.length && isCombiningMark(text.codePointAt(j)!)) j += codePointLengthAt(text, j);
    const cluster = text.slice(i, j).normalize("NFKC").toLowerCase();
    for (const ch of cluster) {
      const cp = ch.codePointAt(0)!;
      if (FORMAT.test(ch)) continue; // before whitespace: U+FEFF is both
      if (WHITESPACE.test(ch)) {
        if (spaceFrom < 0) spaceFrom = i;
        spaceTo = j;
      } else emit(ch, isCjk(cp), i, j);
    }
    i = j;
  }
  return { text: out.join(""), starts: Int32Array.from(starts), ends: Int32Array.from(ends) };
}

const WHITESPACE = /^\s$/u;
const FORMAT = /^\p{Cf}$/u;
const COMBINING = /^\p{M}$/u;

function isCombiningMark(cp: number): boolean {
  return cp >= 0x300 && COMBINING.test(String.fromCodePoint(cp));
}

/** Han, kana, Hangul, bopomofo, CJK punctuation and full-width forms. */
function isCjk(cp: number): boolean {
  return (cp >= 0x1100 && cp <= 0x11ff) || (cp >= 0x2e80 && cp <= 0x2fdf) || (cp >= 0x3000 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0xa960 && cp <= 0xa97f) ||
    (cp >= 0xac00 && cp <= 0xd7ff) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xffef) || (cp >= 0x20000 && cp <= 0x3ffff);
}

function codePointLengthAt(text: string, i: number): number {
  return isLowSurrogateAfterHigh(text, i + 1) ? 2 : 1;
}

/** Whether offset `i` falls between the two halves of a surrogate pair. */
function isLowSurrogateAfterHigh(text: string, i: number): boolean {
  if (i <= 0 || i >= text.length) return false;
  const lo = text.charCodeAt(i);
  const hi = text.charCodeAt(i - 1);
  return lo >= 0xdc00 && lo <= 0xdfff && hi >= 0xd800 && hi <= 0xdbff;
}

function codePointCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function clamp(x: number, lo: number, hi: number): number {
  return Number.isNaN(x) ? lo : Math.min(hi, Math.max(lo, x));
}
