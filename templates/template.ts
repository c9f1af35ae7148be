/**
 * What a chat-prompt template is: plain data, as IEPile's `src/datamodule/template.py` registers
 * it (system text, element lists, stop words, EOS flags), plus which encoding rule applies.
 *
 * @module
 */

/**
 * One element of a template part: literal text with placeholders (`{{system}}`, `{{query}}`,
 * `{{idx}}`), or `{ token: X }`, the single special token `X` encoded as its one id.
 */
export type TemplateElement = string | { readonly token: string };

/**
 * How a template turns into tokens.
 * - `generic`: BOS + prefix (with `{{system}}`) + sep (only when the prefix produced tokens) +
 *   prompt (with `{{query}}` and `{{idx}}` = 1), each element encoded on its own.
 * - `llama2`: BOS + prompt, whose `{{query}}` is the first prefix element (with `{{system}}`)
 *   followed by the query; no sep. IEPile applies it to templates whose name contains `llama2`.
 */
export type EncodingRule = "generic" | "llama2";

/** A chat-prompt template: one small definition object, no code. */
export interface TemplateDefinition {
  /** The name users pick it by (`--template NAME`). */
  readonly name: string;
  /** One line: which models it is for and where the format comes from. */
  readonly description: string;
  /** Default system text (used when no other system text is given). */
  readonly system: string;
  /** Elements before the first turn. */
  readonly prefix: readonly TemplateElement[];
  /** Elements of one user turn, ending with the assistant marker. */
  readonly prompt: readonly TemplateElement[];
  /** Elements between the prefix and the first turn (and between turns). */
  readonly sep: readonly TemplateElement[];
  /** Texts that end generation besides EOS (the first becomes EOS when `replaceEos`). */
  readonly stopWords: readonly string[];
  /** Whether earlier turns are kept (training only). */
  readonly useHistory: boolean;
  /** Training only: one EOS at the very end instead of one per turn. */
  readonly efficientEos: boolean;
  /** The first stop word replaces the tokenizer's EOS token. */
  readonly replaceEos: boolean;
  /** The encoding rule (see {@linkcode EncodingRule}). */
  readonly rule: EncodingRule;
}
