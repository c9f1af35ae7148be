/**
 * Render a named template's first turn into prompt text and token ids, exactly as IEPile's
 * `template.py` encodes it for inference.
 *
 * @module
 */

import { InputError } from "../io/errors.ts";
import { getTemplate } from "./named_templates.ts";
import type { TemplateDefinition, TemplateElement } from "./template.ts";
import type { PromptTokenizer } from "./tokenizer.ts";

/** One rendered piece of a prompt: the BOS, one template element, or a whole chat-template text. */
export interface PromptPiece {
  /** Which part of the template it comes from. */
  readonly part: "bos" | "prefix" | "sep" | "prompt" | "chat";
  /** The element's index in its part (0 for `bos` and `chat`). */
  readonly index: number;
  /** The element as the template writes it (placeholders unreplaced); absent for `bos` and `chat`. */
  readonly element?: TemplateElement;
  /** Its text after substitution (a special token's text for `{ token }` elements and BOS). */
  readonly text: string;
  /** Its token ids, when rendered with a tokenizer. */
  readonly ids?: readonly number[];
  /** True for BOS and `{ token }` elements (one special-token id each). */
  readonly special: boolean;
}

/** A rendered prompt. */
export interface Prompt {
  /** The name of the template (or `chat_template`). */
  readonly template: string;
  /** The prompt text: BOS text (when one is added), then every piece's text. */
  readonly text: string;
  /** The token ids, when rendered with a tokenizer. */
  readonly ids?: number[];
  /** Texts that end generation: EOS (or the stop word replacing it) and the template's stop words. */
  readonly stop: string[];
  /** Ids of the stop texts that are single tokens of the tokenizer, when rendered with one. */
  readonly stopIds?: number[];
  /** The pieces the prompt is made of, in order. */
  readonly pieces: readonly PromptPiece[];
}

/** A prompt rendered with a tokenizer: ids are always there. */
export interface TokenizedPrompt extends Prompt {
  /** The token ids. */
  readonly ids: number[];
  /** Ids of the stop texts that are single tokens. */
  readonly stopIds: number[];
}

/** Options for {@linkcode renderPrompt}. */
export interface RenderOptions {
  /** System text instead of the template's default (an empty string keeps the default, as IEPile does). */
  system?: string;
  /** Without a tokenizer: the text to show for BOS (default none, e.g. `"<BOS>"` for the spec's view). */
  bosText?: string;
}

const encodeCache = new WeakMap<PromptTokenizer, Map<string, readonly number[]>>();

/**
 * Render the first turn of a template around a query: the prompt IEPile's `inference.py` feeds the
 * model. Without a tokenizer only the text is made (no BOS unless `bosText` is given).
 *
 * The rules (IEPile `template.py`): generic templates give BOS + prefix elements (`{{system}}`
 * replaced) + sep elements (only when the prefix produced tokens) + prompt elements (`{{query}}`
 * replaced, then `{{idx}}` = 1); `llama2`-rule templates give BOS + prompt elements whose
 * `{{query}}` is the first prefix element (with the system text) followed by the query. Each text
 * element is tokenized on its own without special tokens, a `{ token }` element is that token's
 * single id, empty elements add nothing, and each placeholder is replaced at its first
 * occurrence in an element only.
 *
 * @param template a template definition or name
 * @param query the user message (an IEPile record's `instruction`, see {@linkcode queryOf})
 * @param tokenizer the model's tokenizer; without it only the text is rendered
 * @param options system text, BOS text for text-only rendering
 * @returns the prompt's text, ids (with a tokenizer), stop texts and pieces
 * @throws {UsageError} for an unknown template name
 * @throws {InputError} when the template needs a special token the tokenizer lacks
 *
 * @example
 * ```ts
 * import { renderPrompt } from "./render.ts";
 * const p = renderPrompt("qwen", "Hi", undefined, { bosText: "<BOS>" });
 * const want = "<BOS><|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
 * if (p.text !== want || p.stop[0] !== "<|im_end|>" || p.ids !== undefined) throw new Error(p.text);
 * ```
 */
export function renderPrompt(
  template: TemplateDefinition | string,
  query: string,
  tokenizer: PromptTokenizer,
  options?: RenderOptions,
): TokenizedPrompt;
/**
 * Render a template's first turn; without a tokenizer, the text only (see the overload above).
 *
 * @param template a template definition or name
 * @param query the user message
 * @param tokenizer the model's tokenizer, if any
 * @param options system text, BOS text for text-only rendering
 * @returns the prompt
 */
export function renderPrompt(
  template: TemplateDefinition | string,
  query: string,
  tokenizer?: PromptTokenizer,
  options?: RenderOptions,
): Prompt;
export function renderPrompt(
  template: TemplateDefinition | string,
  query: string,
  tokenizer?: PromptTokenizer,
  options: RenderOptions = {},
): Prompt {
  const t = typeof template === "string" ? getTemplate(template) : template;
  const system = options.system || t.system;
  const pieces: PromptPiece[] = [];
  const bos = tokenizer ? tokenizer.bos : undefined;
  if (bos !== undefined) pieces.push({ part: "bos", index: 0, text: bos.token, ids: [bos.id], special: true });
  else if (!tokenizer && options.bosText) pieces.push({ part: "bos", index: 0, text: options.bosText, special: true });
  if (t.rule === "llama2") {
    const head = t.prefix.length > 0 && typeof t.prefix[0] === "string"
      ? t.prefix[0].replaceAll("{{system}}", () => system)
      : "";
    const q = head + query;
    t.prompt.forEach((e, i) =>
      pieces.push(piece(t, "prompt", i, e, (s) => replaceFirst(s, "{{query}}", q), tokenizer))
    );
  } else {
    const start = pieces.length;
    t.prefix.forEach((e, i) =>
      pieces.push(piece(t, "prefix", i, e, (s) => replaceFirst(s, "{{system}}", system), tokenizer))
    );
    let produced = false;
    for (let i = start; i < pieces.length; i++) {
      const p = pieces[i];
      if (p.ids ? p.ids.length > 0 : p.special || p.text.length > 0) produced = true;
    }
    if (produced) t.sep.forEach((e, i) => pieces.push(piece(t, "sep", i, e, (s) => s, tokenizer)));
    const fill = (s: string) => replaceFirst(replaceFirst(s, "{{query}}", query), "{{idx}}", "1");
    t.prompt.forEach((e, i) => pieces.push(piece(t, "prompt", i, e, fill, tokenizer)));
  }
  let text = "";
  for (const p of pieces) text += p.text;
  const stop = stopTexts(t, tokenizer);
  if (!tokenizer) return { template: t.name, text, stop, pieces };
  const ids: number[] = [];
  for (const p of pieces) for (const id of p.ids!) ids.push(id);
  return { template: t.name, text, ids, stop, stopIds: stopIdsOf(stop, tokenizer), pieces };
}

/**
 * Check that a tokenizer has every special token a template's `{ token }` elements name.
 *
 * @param template a template definition or name
 * @param tokenizer the tokenizer
 * @throws {InputError} naming the first missing token
 *
 * @example
 * ```ts
 * import { checkTemplate } from "./render.ts";
 * const tiny = { encode: () => [], tokenToId: () => undefined, idToToken: () => undefined, decode: () => "",
 *   bos: undefined, eos: undefined };
 * checkTemplate("alpaca", tiny); // no special tokens needed
 * try { checkTemplate("qwen", tiny); throw new Error("no throw"); } catch (e) { if (!String(e).includes("<|im_start|>")) throw e; }
 * ```
 */
export function checkTemplate(template: TemplateDefinition | string, tokenizer: PromptTokenizer): void {
  const t = typeof template === "string" ? getTemplate(template) : template;
  for (const e of [...t.prefix, ...t.sep, ...t.prompt]) if (typeof e !== "string") specialId(t, e.token, tokenizer);
}

function specialId(t: TemplateDefinition, token: string, tokenizer: PromptTokenizer): number {
  const id = tokenizer.tokenToId(token);
  if (id === undefined) {
    throw new InputError(`template "${t.name}" needs the special token ${token}, which this tokenizer lacks`, {
      file: tokenizer.source,
    });
  }
  return id;
}

function piece(
  t: TemplateDefinition,
  part: "prefix" | "sep" | "prompt",
  index: number,
  element: TemplateElement,
  fill: (s: string) => string,
  tokenizer: PromptTokenizer | undefined,
): PromptPiece {
  if (typeof element !== "string") {
    const ids = tokenizer ? [specialId(t, element.token, tokenizer)] : undefined;
    return { part, index, element, text: element.token, ids, special: true };
  }
  const text = fill(element);
  if (!tokenizer) return { part, index, element, text, special: false };
  return { part, index, element, text, ids: encodeElement(text, element, tokenizer), special: false };
}

/** Encode an element's text; texts of elements without the query are cached per tokenizer. */
function encodeElement(text: string, element: string, tokenizer: PromptTokenizer): readonly number[] {
  if (text.length === 0) return EMPTY;
  if (element.includes("{{query}}")) return tokenizer.encode(text);
  let cache = encodeCache.get(tokenizer);
  if (cache === undefined) encodeCache.set(tokenizer, cache = new Map());
  let ids = cache.get(text);
  if (ids === undefined) {
    if (cache.size >= 1024) cache.clear();
    ids = Object.freeze(tokenizer.encode(text));
    cache.set(text, ids);
  }
  return ids;
}

const EMPTY: readonly number[] = Object.freeze([]);

/** Python's `s.replace(old, new, 1)`: the first occurrence only, `new` taken literally. */
function replaceFirst(s: string, placeholder: string, value: string): string {
  const at = s.indexOf(placeholder);
  return at < 0 ? s : s.slice(0, at) + value + s.slice(at + placeholder.length);
}

function stopTexts(t: TemplateDefinition, tokenizer: PromptTokenizer | undefined): string[] {
  const out: string[] = [];
  const add = (s: string | undefined) => {
    if (s !== undefined && !out.includes(s)) out.push(s);
  };
  if (t.replaceEos && t.stopWords.length > 0) {
    add(t.stopWords[0]);
    // A tokenizer without that token keeps its own EOS working.
    if (tokenizer && tokenizer.tokenToId(t.stopWords[0]) === undefined) add(tokenizer.eos?.token);
  } else add(tokenizer?.eos?.token);
  for (const w of t.stopWords) add(w);
  return out;
}

/**
 * Ids of stop texts that are single tokens of a tokenizer.
 *
 * @param stop stop texts
 * @param tokenizer the tokenizer
 * @returns their ids, skipping texts that are not one token
 *
 * @example
 * ```ts
 * import { stopIdsOf } from "./render.ts";
 * const tok = { encode: () => [], tokenToId: (t: string) => t === "</s>" ? 2 : undefined, idToToken: () => undefined,
 *   decode: () => "", bos: undefined, eos: undefined };
 * if (stopIdsOf(["</s>", "###"], tok).join() !== "2") throw new Error();
 * ```
 */
export function stopIdsOf(stop: readonly string[], tokenizer: PromptTokenizer): number[] {
  const ids: number[] = [];
  for (const s of stop) {
    const id = tokenizer.tokenToId(s);
    if (id !== undefined && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

/**
 * The query IEPile's `inference.py` builds from a record: its `instruction`, plus `"\n"` and its
 * `input` when the record has a non-empty `input` (converter records have none).
 *
 * @param record a parsed test record
 * @returns the query text
 * @throws {InputError} (with the field) when `instruction` is missing or empty, or a field is not a string
 *
 * @example
 * ```ts
 * import { queryOf } from "./render.ts";
 * if (queryOf({ instruction: "a", input: "b" }) !== "a\nb" || queryOf({ instruction: "a", input: "" }) !== "a") throw new Error();
 * ```
 */
export function queryOf(record: Readonly<Record<string, unknown>>): string {
  const instruction = record.instruction;
  if (instruction === undefined) {
    throw new InputError("missing (every record needs its instruction)", { field: "instruction" });
  }
  if (typeof instruction !== "string") throw new InputError("must be a string", { field: "instruction" });
  const input = record.input;
  let query = instruction;
  if (input !== undefined && input !== null && input !== "") {
    if (typeof input !== "string") throw new InputError("must be a string", { field: "input" });
    query += "\n" + input;
  }
  if (query === "") {
    throw new InputError("empty prompt (IEPile would drop it and misalign the records)", { field: "instruction" });
  }
  return query;
}
