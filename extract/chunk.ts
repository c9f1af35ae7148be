/**
 * Long documents in pieces that fit the model's prompt: sentences (ended by 。！？； in Chinese,
 * by `.`, `!`, `?`, `;` before a space in English, and by line breaks in both) packed greedily into
 * chunks of at most a token budget, with an optional overlap of whole sentences between
 * neighbours. Every character of the document lies in some chunk; offsets are UTF-16 indices.
 *
 * @module
 */

/** A piece of a document. */
export interface Chunk {
  /** Where it starts in the document (UTF-16 index, inclusive). */
  start: number;
  /** Where it ends (exclusive). */
  end: number;
  /** `document.slice(start, end)`. */
  text: string;
}

/** Options of {@linkcode chunkDocument}. */
export interface ChunkOptions {
  /** Most tokens in a chunk, as `count` measures them. */
  budget: number;
  /** Tokens of whole sentences repeated from the end of one chunk at the start of the next (default 0). */
  overlap?: number;
  /** A text's size in tokens (default: its length in UTF-16 units). */
  count?: (text: string) => number;
}

// A sentence ends after one of these (and any closing quotes or brackets right after it).
const ZH_END = "。！？；";
const CLOSERS = "”’\"'」』）)]》】";
const EN_END = ".!?;";

/**
 * Sentence boundaries: `[start, end)` pairs that tile the text (whitespace after a sentence
 * belongs to it). Chinese ends (。！？；) end a sentence anywhere; English ends (`.`, `!`, `?`,
 * `;`) only before whitespace or at the end; a line break always does.
 *
 * @param text the document
 * @returns the sentences, in order, covering every character once
 *
 * @example
 * ```ts
 * import { splitSentences } from "./chunk.ts";
 * const text = "Ann met Bob. They left!\n他来了。她也来了";
 * const parts = splitSentences(text).map(([s, e]) => text.slice(s, e));
 * if (JSON.stringify(parts) !== JSON.stringify(["Ann met Bob. ", "They left!\n", "他来了。", "她也来了"])) throw new Error();
 * ```
 */
export function splitSentences(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    let end = -1;
    if (c === "\n") {
      end = i + 1;
    } else if (ZH_END.includes(c) || EN_END.includes(c)) {
      let j = i + 1;
      while (j < n && CLOSERS.includes(text[j])) j++;
      // ASCII ends need whitespace (or the text's end) after them: "3.5" and "e.g.x" stay whole.
      if (ZH_END.includes(c) || j >= n || /\s/.test(text[j])) end = j;
    }
    if (end < 0) {
      i++;
      continue;
    }
    // The whitespace after the end belongs to this sentence (a line break ends it there).
    while (end < n && /\s/.test(text[end]) && text[end - 1] !== "\n") end++;
    out.push([start, end]);
    start = end;
    i = end;
  }
  if (start < n) out.push([start, n]);
  return out;
}

/**
 * Split a document into chunks of whole sentences, each at most `budget` tokens; a sentence
 * longer than the budget is cut at the last whitespace (or any code-point boundary) that fits.
 * Neighbouring chunks share up to `overlap` tokens of whole sentences.
 *
 * @param text the document
 * @param options the budget, overlap and token counter
 * @returns the chunks in order (one empty chunk for an empty document)
 * @throws {RangeError} when the budget cannot hold even one character
 *
 * @example
 * ```ts
 * import { chunkDocument } from "./chunk.ts";
 * const text = "One two. Three four. Five six.";
 * const chunks = chunkDocument(text, { budget: 21, overlap: 12 });
 * const parts = chunks.map((c) => c.text);
 * if (JSON.stringify(parts) !== JSON.stringify(["One two. Three four. ", "Three four. Five six."])) throw new Error();
 * ```
 */
export function chunkDocument(text: string, options: ChunkOptions): Chunk[] {
  const count = options.count ?? ((t: string) => t.length);
  const budget = options.budget;
  const overlap = Math.max(0, options.overlap ?? 0);
  if (text.length === 0) return [{ start: 0, end: 0, text: "" }];
  // Sentences longer than the budget are cut first, so every piece fits on its own.
  const pieces: Array<[number, number, number]> = [];
  for (const [s, e] of splitSentences(text)) {
    for (const [a, b] of cutToFit(text, s, e, budget, count)) pieces.push([a, b, count(text.slice(a, b))]);
  }
  const chunks: Chunk[] = [];
  const span = (a: number, b: number): number => count(text.slice(pieces[a][0], pieces[b][1]));
  // `first`: the chunk's first piece; `fresh`: its first piece not in the previous chunk.
  let first = 0;
  let fresh = 0;
  while (fresh < pieces.length) {
    let last = pack(first);
    if (last < fresh) {
      // The shared sentences left no room for a new one: this chunk starts without overlap.
      first = fresh;
      last = pack(first);
    }
    chunks.push(chunkOf(text, pieces[first][0], pieces[last][1]));
    if (last + 1 >= pieces.length) break;
    // The next chunk starts with the last sentences of this one that fit in the overlap (counted
    // together, as the model reads them), and only if the next new sentence still fits beside them.
    fresh = last + 1;
    let next = fresh;
    while (
      next - 1 > first && span(next - 1, last) <= overlap && span(next - 1, last) + pieces[fresh][2] <= budget
    ) next--;
    first = next;
  }
  return chunks;

  /** The last piece of a chunk that starts at piece `from`: as many as fit the budget, at least one. */
  function pack(from: number): number {
    let last = from;
    let sum = pieces[from][2];
    while (last + 1 < pieces.length && sum + pieces[last + 1][2] <= budget) sum += pieces[++last][2];
    // Token counts are not quite additive: check the whole chunk, drop sentences until it fits.
    while (last > from && span(from, last) > budget) last--;
    return last;
  }
}

function chunkOf(text: string, start: number, end: number): Chunk {
  return { start, end, text: text.slice(start, end) };
}

/** `[s, e)` as pieces that each fit the budget (itself when it does). */
function cutToFit(
  text: string,
  s: number,
  e: number,
  budget: number,
  count: (t: string) => number,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  // Prefixes are cut on code-point boundaries only (a counter may refuse half an emoji).
  const boundary = (i: number): number => (i > s && i < e && isLowSurrogate(text.charCodeAt(i)) ? i - 1 : i);
  const fits = (a: number, b: number): boolean => count(text.slice(a, b)) <= budget;
  while (s < e) {
    // The longest prefix that fits: a window doubled until it no longer fits (so a long text with
    // no sentence end is not counted whole at every cut), then a binary search inside it.
    let lo = s;
    let hi = boundary(Math.min(e, s + Math.max(16, budget)));
    while (fits(s, hi) && hi < e) {
      lo = hi;
      hi = boundary(Math.min(e, s + 2 * (hi - s)));
    }
    if (fits(s, hi)) {
      out.push([s, hi]); // the rest of the sentence fits
      break;
    }
    while (hi - lo > 1) {
      const mid = boundary((lo + hi) >> 1);
      if (mid <= lo) break; // lo and hi are the two halves of one pair
      if (fits(s, mid)) lo = mid;
      else hi = mid;
    }
    let cut = lo;
    if (cut <= s) throw new RangeError(`a budget of ${budget} tokens cannot hold one character`);
    const space = text.slice(s, cut).search(/\s\S*$/);
    // A shorter prefix is almost always fewer tokens; checked, as token counts need not shrink.
    if (space > 0 && fits(s, s + space + 1)) cut = s + space + 1;
    out.push([s, cut]);
    s = cut;
  }
  return out;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}
