/**
 * A model's own chat template (the Jinja `chat_template` of its `tokenizer_config.json` or its
 * `chat_template.jinja`), rendered with `@huggingface/jinja` as transformers'
 * `apply_chat_template(messages, add_generation_prompt=True)` does: the template writes every
 * marker itself (BOS included), and the text is tokenized whole without adding special tokens.
 *
 * @module
 */

import { Template } from "@huggingface/jinja";
import { InputError, UsageError } from "../io/errors.ts";
import { type Prompt, stopIdsOf, type TokenizedPrompt } from "./render.ts";
import type { PromptTokenizer } from "./tokenizer.ts";

/** Options for {@linkcode ChatTemplate.render}. */
export interface ChatRenderOptions {
  /** A system message to put first (default: none, so the template's own default applies). */
  system?: string;
}

/**
 * A parsed chat template, ready to render many prompts.
 *
 * @example
 * ```ts
 * import { ChatTemplate } from "./chat_template.ts";
 * const chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}" +
 *   "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
 * const p = new ChatTemplate(chatml).render("Hi");
 * if (p.text !== "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n") throw new Error(p.text);
 * ```
 */
export class ChatTemplate {
  /** The Jinja source. */
  readonly source: string;
  /** Special-token texts passed to the template (`bos_token`, `eos_token`, …). */
  readonly variables: Readonly<Record<string, unknown>>;
  readonly #template: Template;
  readonly #origin?: string;

  /**
   * Parse a chat template.
   *
   * @param source the Jinja text
   * @param variables extra template variables, e.g. `{ bos_token: "<s>", eos_token: "</s>" }`
   * @param origin the file it came from (for messages)
   * @throws {InputError} when the template does not parse
   */
  constructor(source: string, variables: Record<string, unknown> = {}, origin?: string) {
    this.source = source;
    this.variables = { ...variables };
    this.#origin = origin;
    try {
      this.#template = new Template(source);
    } catch (e) {
      throw new InputError(`chat_template does not parse: ${(e as Error).message}`, { file: origin });
    }
  }

  /**
   * Render one user message with the assistant's generation prompt after it.
   *
   * @param query the user message
   * @param tokenizer the tokenizer (for ids and the EOS stop text); without it only the text is made
   * @param options an optional system message
   * @returns the prompt (one `chat` piece)
   * @throws {InputError} when the template fails (e.g. its `raise_exception`)
   *
   * @example
   * ```ts
   * import { ChatTemplate } from "./chat_template.ts";
   * const t = new ChatTemplate("{{ bos_token }}[INST] {{ messages[-1].content }} [/INST]", { bos_token: "<s>" });
   * if (t.render("x").text !== "<s>[INST] x [/INST]") throw new Error();
   * ```
   */
  render(query: string, tokenizer: PromptTokenizer, options?: ChatRenderOptions): TokenizedPrompt;
  /**
   * Render one user message; without a tokenizer, the text only (see the overload above).
   *
   * @param query the user message
   * @param tokenizer the tokenizer, if any
   * @param options an optional system message
   * @returns the prompt
   */
  render(query: string, tokenizer?: PromptTokenizer, options?: ChatRenderOptions): Prompt;
  render(query: string, tokenizer?: PromptTokenizer, options: ChatRenderOptions = {}): Prompt {
    const messages = [
      ...(options.system ? [{ role: "system", content: options.system }] : []),
      { role: "user", content: query },
    ];
    let text: string;
    try {
      text = this.#template.render({ ...this.variables, messages, add_generation_prompt: true });
    } catch (e) {
      throw new InputError(`chat_template failed: ${(e as Error).message}`, { file: this.#origin });
    }
    const eos = tokenizer?.eos?.token ??
      (typeof this.variables.eos_token === "string" ? this.variables.eos_token : undefined);
    const stop = eos === undefined ? [] : [eos];
    if (!tokenizer) {
      return { template: "chat_template", text, stop, pieces: [{ part: "chat", index: 0, text, special: false }] };
    }
    const ids = tokenizer.encode(text);
    return {
      template: "chat_template",
      text,
      ids,
      stop,
      stopIds: stopIdsOf(stop, tokenizer),
      pieces: [{ part: "chat", index: 0, text, ids, special: false }],
    };
  }
}

/**
 * Render a query with a chat template in one call (parses the template each time; keep a
 * {@linkcode ChatTemplate} for many prompts).
 *
 * @param source the Jinja chat template
 * @param query the user message
 * @param tokenizer the tokenizer, when ids are wanted
 * @param variables extra template variables (special-token texts)
 * @returns the prompt
 *
 * @example
 * ```ts
 * import { renderChatPrompt } from "./chat_template.ts";
 * if (renderChatPrompt("<{{ messages[0].content }}>", "q").text !== "<q>") throw new Error();
 * ```
 */
export function renderChatPrompt(
  source: string,
  query: string,
  tokenizer?: PromptTokenizer,
  variables: Record<string, unknown> = {},
): Prompt {
  return new ChatTemplate(source, variables).render(query, tokenizer);
}

/** What {@linkcode chatTemplateOf} reads from a tokenizer. */
export interface ChatTemplateSource {
  /** The Jinja `chat_template` from `tokenizer_config.json`, when the model has one. */
  readonly chatTemplate: string | undefined;
  /** Special-token texts passed to the template (`bos_token`, `eos_token`, …). */
  readonly specialTokens: Readonly<Record<string, string>>;
  /** Where the template came from (for messages). */
  readonly source?: string;
}

/**
 * A model's own chat template (`--template chat_template`).
 *
 * @param tokenizer the model's tokenizer (its `chat_template` and special tokens)
 * @returns the template
 * @throws {UsageError} when the tokenizer has none
 *
 * @example
 * ```ts
 * import { chatTemplateOf } from "./chat_template.ts";
 * const t = chatTemplateOf({ chatTemplate: "{{ messages[0].content }}!", specialTokens: {} });
 * if (t.render("x").text !== "x!") throw new Error();
 * ```
 */
export function chatTemplateOf(tokenizer: ChatTemplateSource): ChatTemplate {
  if (tokenizer.chatTemplate === undefined) {
    const where = tokenizer.source ? ` in ${tokenizer.source}` : "";
    throw new UsageError(
      `the tokenizer${where} has no chat_template; give --template NAME (see 'iepile prompt --list')`,
    );
  }
  return new ChatTemplate(tokenizer.chatTemplate, tokenizer.specialTokens, tokenizer.source);
}
