/**
 * Fitting prompts into `cutoff_len` tokens: IEPile's rule (keep the first tokens, which drops the
 * assistant marker of an over-long prompt) and a better one that keeps the template's end and
 * shortens the record's input text instead.
 *
 * @module
 */

import { pyStr } from "../io/py_json.ts";
import type { PromptPiece, TokenizedPrompt } from "./render.ts";
import type { PromptTokenizer } from "./tokenizer.ts";

/**
 * IEPile's truncation: keep the first `cutoffLen` ids. The text keeps the whole pieces that fit
 * and the decoded kept tokens of the piece that is cut.
 *
 * @param prompt a tokenized prompt
 * @param cutoffLen the most tokens to keep (≥ 1)
 * @param tokenizer the tokenizer it was rendered with (to decode a cut piece)
 * @returns the prompt itself when it fits, else a shortened copy
 *
 * @example
 * ```ts
 * import { truncateTail } from "./truncate.ts";
 * const tok = { encode: () => [], tokenToId: () => undefined, idToToken: () => undefined,
 *   decode: (ids: readonly number[]) => ids.map((i) => String.fromCharCode(96 + i)).join(""), bos: undefined, eos: undefined };
 * const p = { template: "t", text: "abc", ids: [1, 2, 3], stop: [], stopIds: [],
 *   pieces: [{ part: "prompt" as const, index: 0, text: "abc", ids: [1, 2, 3], special: false }] };
 * const cut = truncateTail(p, 2, tok);
 * if (cut.text !== "ab" || cut.ids.join() !== "1,2") throw new Error(cut.text);
 * ```
 */
export function truncateTail(prompt: TokenizedPrompt, cutoffLen: number, tokenizer: PromptTokenizer): TokenizedPrompt {
  if (prompt.ids.length <= cutoffLen) return prompt;
  const pieces: PromptPiece[] = [];
  let left = cutoffLen;
  for (const p of prompt.pieces) {
    const ids = p.ids ?? [];
    if (left <= 0) break;
    if (ids.length <= left) {
      pieces.push(p);
      left -= ids.length;
      continue;
    }
    const kept = ids.slice(0, left);
    pieces.push({ ...p, ids: kept, text: tokenizer.decode(kept) });
    left = 0;
  }
  return { ...prompt, text: pieces.map((p) => p.text).join(""), ids: prompt.ids.slice(0, cutoffLen), pieces };
}

/**
 * IEPile's truncation ({@linkcode truncateTail}) of the prompt of a query: the first `cutoffLen`
 * ids. A query longer than {@linkcode LONG_INPUT_CHARS_PER_TOKEN} characters per token of the
 * cutoff is not tokenized whole: its prompt is cut from that of a prefix twice the cutoff long
 * (the tokens removed are then estimated).
 *
 * @param render renders a query into a tokenized prompt (template and tokenizer bound)
 * @param query the full query
 * @param cutoffLen the most tokens (≥ 1)
 * @param tokenizer the tokenizer it renders with (to decode a cut piece)
 * @returns the prompt's first `cutoffLen` ids, and what was cut (`none` or `tail`)
 *
 * @example
 * ```ts
 * import { truncateQuery } from "./truncate.ts";
 * import { renderPrompt } from "./render.ts";
 * const chars = { encode: (t: string) => [...t].map((c) => c.codePointAt(0)!), tokenToId: () => undefined,
 *   idToToken: () => undefined, decode: (ids: readonly number[]) => String.fromCodePoint(...ids), bos: undefined, eos: undefined };
 * const r = truncateQuery((q) => renderPrompt("vanilla", q, chars), "x".repeat(100_000), 3, chars);
 * if (r.cut !== "tail" || r.prompt.text !== "xxx" || r.tokensRemoved !== 99_997) throw new Error(r.prompt.text);
 * ```
 */
export function truncateQuery(
  render: (query: string) => TokenizedPrompt,
  query: string,
  cutoffLen: number,
  tokenizer: PromptTokenizer,
): FitResult {
  const long = query.length > LONG_INPUT_CHARS_PER_TOKEN * (cutoffLen + 1)
    ? longPrefix(query, cutoffLen, (chars) => render(chars.join("")))
    : undefined;
  const over = long?.over ?? render(query);
  const prompt = truncateTail(over, cutoffLen, tokenizer);
  const full = long === undefined
    ? over.ids.length
    : over.ids.length + Math.round((codePoints(query) - long.chars.length) * long.tokensPerChar);
  const removed = full - prompt.ids.length;
  return { prompt, cut: removed > 0 ? "tail" : "none", tokensRemoved: removed, charsRemoved: 0 };
}

/** How {@linkcode fitPrompt} made a prompt fit. */
export interface FitResult {
  /** The prompt that fits (or the original, when it already did). */
  readonly prompt: TokenizedPrompt;
  /**
   * What was cut: `none`; `input` (the end of an IEPile instruction's `input` text); `query` (the
   * end of the query, for queries of another shape); `tail` (nothing else would fit, so the
   * reference rule applied).
   */
  readonly cut: "none" | "input" | "query" | "tail";
  /**
   * Tokens the prompt lost. For an input longer than {@linkcode LONG_INPUT_CHARS_PER_TOKEN}
   * characters per token of the cutoff, whose whole text is never tokenized, it is estimated
   * from the tokens of the part that was.
   */
  readonly tokensRemoved: number;
  /** Characters (code points) of the input or query removed (0 for `none` and `tail`). */
  readonly charsRemoved: number;
}

/**
 * Inputs (or queries) longer than this many characters per token of the cutoff are never
 * tokenized whole: {@linkcode fitPrompt} tokenizes prefixes of a length set by the cutoff only,
 * so a record of many megabytes costs about as much as one of a few pages.
 *
 * @example
 * ```ts
 * import { LONG_INPUT_CHARS_PER_TOKEN } from "./truncate.ts";
 * if (LONG_INPUT_CHARS_PER_TOKEN * 513 < 32768) throw new Error("normal inputs take the exact path");
 * ```
 */
export const LONG_INPUT_CHARS_PER_TOKEN = 64;

/**
 * Make a prompt fit into `cutoffLen` tokens while keeping the template's end (the assistant
 * marker): shorten the `input` text of an IEPile instruction (the JSON object whose last key is
 * `input`), keeping it valid JSON, or else the end of the query; fall back to
 * {@linkcode truncateTail} when even an empty input does not fit.
 *
 * The cut is the longest prefix of the input whose prompt fits, found by bisection over the
 * input's length. For an input longer than {@linkcode LONG_INPUT_CHARS_PER_TOKEN} characters per
 * token of the cutoff, a prefix is first doubled from 4 characters per token until its prompt is
 * twice the cutoff; the bisection's steps past it are known not to fit and are not tokenized, so
 * the cut is the same and the time and memory depend on the cutoff, not on the input's length.
 *
 * @param render renders a query into a tokenized prompt (template and tokenizer bound)
 * @param query the full query
 * @param cutoffLen the most tokens (≥ 1)
 * @param tokenizer the tokenizer (for the fallback)
 * @returns the fitted prompt and what was cut
 *
 * @example
 * ```ts
 * import { fitPrompt } from "./truncate.ts";
 * import { renderPrompt } from "./render.ts";
 * const chars = { encode: (t: string) => [...t].map((c) => c.codePointAt(0)!), tokenToId: () => undefined,
 *   idToToken: () => undefined, decode: (ids: readonly number[]) => String.fromCodePoint(...ids), bos: undefined, eos: undefined };
 * const query = '{"instruction": "x", "schema": [], "input": "abcdefghij"}';
 * const r = fitPrompt((q) => renderPrompt("vanilla", q, chars), query, query.length - 4, chars);
 * if (r.cut !== "input" || r.prompt.text !== '{"instruction": "x", "schema": [], "input": "abcdef"}') throw new Error(r.prompt.text);
 * ```
 */
export function fitPrompt(
  render: (query: string) => TokenizedPrompt,
  query: string,
  cutoffLen: number,
  tokenizer: PromptTokenizer,
): FitResult {
  const input = iepileInput(query);
  const head = input === undefined ? "" : query.slice(0, query.length - 1 - pyStr(input).length);
  const text = input ?? query;
  let chars: string[];
  const make = input === undefined
    ? (k: number) => chars.slice(0, k).join("")
    : (k: number) => head + pyStr(chars.slice(0, k).join("")) + "}";
  // `over`: a prompt known not to fit; every prefix of `skipFrom` characters or more is as long.
  let over: TokenizedPrompt;
  let fullTokens: () => number;
  let total: number;
  let skipFrom = Infinity;
  const long = text.length > LONG_INPUT_CHARS_PER_TOKEN * (cutoffLen + 1)
    ? longPrefix(text, cutoffLen, (c) => (chars = c, render(make(c.length))))
    : undefined;
  if (long !== undefined) {
    chars = long.chars;
    over = long.over;
    total = codePoints(text);
    skipFrom = chars.length;
    // The untokenized rest is counted at the rate of the tokenized prefix.
    fullTokens = () => over.ids.length + Math.round((total - chars.length) * long.tokensPerChar);
  } else {
    const full = render(query);
    if (full.ids.length <= cutoffLen) return { prompt: full, cut: "none", tokensRemoved: 0, charsRemoved: 0 };
    chars = Array.from(text);
    over = full;
    total = chars.length;
    fullTokens = () => full.ids.length;
  }
  // Largest k whose prompt fits: token counts grow (almost) with k, and only tried k are kept.
  // Bisection over the whole length, as for a short input; prefixes past a long input's examined
  // part are known not to fit without tokenizing them.
  let best: TokenizedPrompt | undefined;
  let bestK = -1;
  let lo = 0;
  let hi = total - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (mid >= skipFrom) {
      hi = mid - 1;
      continue;
    }
    const p = render(make(mid));
    if (p.ids.length <= cutoffLen) {
      best = p;
      bestK = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (best === undefined) {
    const prompt = truncateTail(over, cutoffLen, tokenizer);
    return { prompt, cut: "tail", tokensRemoved: fullTokens() - prompt.ids.length, charsRemoved: 0 };
  }
  return {
    prompt: best,
    cut: input === undefined ? "query" : "input",
    tokensRemoved: fullTokens() - best.ids.length,
    charsRemoved: total - bestK,
  };
}

/**
 * For a long text: its first `k` code points, `k` doubled from `4 · (cutoffLen + 1)` until their
 * prompt is well over the cutoff (twice it, and 16 more, so that no longer prefix can fit: a
 * longer prefix loses at most the tokens of a word cut in two); `undefined` when the text ends
 * first. Also the tokens per character of that prefix, to estimate the whole prompt's length.
 */
function longPrefix(
  text: string,
  cutoffLen: number,
  render: (chars: string[]) => TokenizedPrompt,
): { chars: string[]; over: TokenizedPrompt; tokensPerChar: number } | undefined {
  const empty = render([]).ids.length;
  for (let k = 4 * (cutoffLen + 1); 2 * k < text.length; k *= 2) {
    // k code points take at most 2k code units; a pair cut at the end lies past the first k.
    const chars = Array.from(text.slice(0, 2 * k)).slice(0, k);
    const over = render(chars);
    if (over.ids.length > 2 * cutoffLen + 16) {
      return { chars, over, tokensPerChar: (over.ids.length - empty) / k };
    }
  }
  return undefined;
}

/** Code points of a string (surrogate pairs counted once), without splitting it. */
function codePoints(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) n--, i++;
    }
  }
  return n;
}

/** The `input` string of an IEPile instruction written by the converter, when the query is one. */
function iepileInput(query: string): string | undefined {
  if (!query.endsWith("}") || !query.startsWith("{")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(query);
  } catch {
    return undefined;
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  const input = (value as Record<string, unknown>).input;
  if (keys[keys.length - 1] !== "input" || typeof input !== "string" || !input.isWellFormed()) return undefined;
  return query.endsWith(pyStr(input) + "}") ? input : undefined;
}
