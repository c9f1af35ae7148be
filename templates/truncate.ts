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
  /** Tokens the prompt lost. */
  readonly tokensRemoved: number;
  /** Characters (code points) of the input or query removed (0 for `none` and `tail`). */
  readonly charsRemoved: number;
}

/**
 * Make a prompt fit into `cutoffLen` tokens while keeping the template's end (the assistant
 * marker): shorten the `input` text of an IEPile instruction (the JSON object whose last key is
 * `input`), keeping it valid JSON, or else the end of the query; fall back to
 * {@linkcode truncateTail} when even an empty input does not fit.
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
  const full = render(query);
  if (full.ids.length <= cutoffLen) return { prompt: full, cut: "none", tokensRemoved: 0, charsRemoved: 0 };
  const input = iepileInput(query);
  const head = input === undefined ? "" : query.slice(0, query.length - 1 - pyStr(input).length);
  const chars = Array.from(input ?? query);
  const make = input === undefined
    ? (k: number) => chars.slice(0, k).join("")
    : (k: number) => head + pyStr(chars.slice(0, k).join("")) + "}";
  // Largest k whose prompt fits: token counts grow (almost) with k, and only tried k are kept.
  let best: TokenizedPrompt | undefined;
  let bestK = -1;
  let lo = 0;
  let hi = chars.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const p = render(make(mid));
    if (p.ids.length <= cutoffLen) {
      best = p;
      bestK = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (best === undefined) {
    const prompt = truncateTail(full, cutoffLen, tokenizer);
    return { prompt, cut: "tail", tokensRemoved: full.ids.length - prompt.ids.length, charsRemoved: 0 };
  }
  return {
    prompt: best,
    cut: input === undefined ? "query" : "input",
    tokensRemoved: full.ids.length - best.ids.length,
    charsRemoved: chars.length - bestK,
  };
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
