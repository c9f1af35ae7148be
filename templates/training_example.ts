/**
 * One instruction record as IEPile's fine-tuning encodes it: the prompt rendered by the chat
 * template exactly as at inference, the response tokenized without special tokens and followed
 * by the end-of-sequence token, both cut to a length budget; the loss is taken over the response
 * positions only. Templates with `efficientEos` (Baichuan, Qwen, ChatGLM3, …) add no EOS to the
 * response before the cut; a single EOS follows the whole example instead. Used by `train`, and
 * to score answers (`perplexity`) as training scores them.
 *
 * @module
 */

import { InputError } from "../io/errors.ts";
import { renderPrompt } from "./render.ts";
import { getTemplate } from "./named_templates.ts";
import type { TemplateDefinition } from "./template.ts";
import type { PromptTokenizer } from "./tokenizer.ts";

/** The length budget of an example (IEPile's scripts: 700 and 300). */
export interface ExampleBudget {
  /** The most ids of a whole example (`cutoff_len`). */
  readonly cutoffLen: number;
  /** The fewest ids the response may be cut to (`max_target_length`). */
  readonly maxTargetLength: number;
}

/** The budget IEPile's fine-tuning scripts use. */
export const IEPILE_EXAMPLE_BUDGET: ExampleBudget = Object.freeze({ cutoffLen: 700, maxTargetLength: 300 });

/** An encoded example: the ids, and where the scored (response) part starts. */
export interface TrainingExample {
  /** Prompt ids, then response ids (then EOS, unless the budget cut it). */
  readonly ids: number[];
  /** How many leading ids are prompt (their labels are ignored); the rest are scored. */
  readonly promptLength: number;
}

/**
 * Encode a (query, response) pair as training does: `max_target = max(floor(C·t / (s + t)), T)`
 * and `max_source = C − max_target` for a prompt of `s` ids and a response of `t` ids (EOS
 * included, unless the template has `efficientEos`); the prompt keeps its first `max_source` ids,
 * the response its first `max_target` (then EOS, with `efficientEos`), and the whole its first `C`.
 *
 * @param template a template definition or name
 * @param query the user message
 * @param response the answer to score
 * @param tokenizer the model's tokenizer
 * @param budget the length budget (default: IEPile's scripts)
 * @returns ids and the prompt's length
 * @throws {InputError} when the tokenizer has no end-of-sequence token
 *
 * @example
 * ```ts
 * import { encodeTrainingExample } from "./training_example.ts";
 * const chars = [..."abcdefghijklmnopqrstuvwxyz:# \n"];
 * const tok = {
 *   encode: (s: string) => [...s].map((c) => chars.indexOf(c) + 2),
 *   tokenToId: (t: string) => t === "</s>" ? 1 : undefined,
 *   idToToken: () => undefined, decode: () => "", bos: undefined, eos: { token: "</s>", id: 1 },
 * };
 * const ex = encodeTrainingExample("vanilla", "hi", "yes", tok);
 * if (ex.promptLength !== 2 || ex.ids.slice(2).join() !== "26,6,20,1") throw new Error(ex.ids.join());
 * const cut = encodeTrainingExample("vanilla", "hello", "abcdef", tok, { cutoffLen: 6, maxTargetLength: 2 });
 * // s = 5, t = 7: max_target = max(floor(42 / 12), 2) = 3, max_source = 3
 * if (cut.promptLength !== 3 || cut.ids.length !== 6) throw new Error(cut.ids.join());
 * ```
 */
export function encodeTrainingExample(
  template: TemplateDefinition | string,
  query: string,
  response: string,
  tokenizer: PromptTokenizer,
  budget: ExampleBudget = IEPILE_EXAMPLE_BUDGET,
): TrainingExample {
  const prompt = renderPrompt(template, query, tokenizer);
  // The end of an answer: the template's replacement for EOS where it has one, else EOS.
  const eos = tokenizer.tokenToId(prompt.stop[0] ?? "") ?? tokenizer.eos?.id;
  if (eos === undefined) {
    throw new InputError("the tokenizer has no end-of-sequence token to end an answer with", {
      file: tokenizer.source,
    });
  }
  const efficientEos = (typeof template === "string" ? getTemplate(template) : template).efficientEos;
  const answer = efficientEos ? tokenizer.encode(response) : [...tokenizer.encode(response), eos];
  const s = prompt.ids.length, t = answer.length;
  const C = budget.cutoffLen;
  const maxTarget = Math.max(Math.floor(C * t / (s + t)), budget.maxTargetLength);
  const maxSource = Math.max(C - maxTarget, 0);
  const source = prompt.ids.slice(0, maxSource);
  const ids = source.concat(answer.slice(0, maxTarget), efficientEos ? [eos] : []).slice(0, C);
  return { ids, promptLength: Math.min(source.length, ids.length) };
}
