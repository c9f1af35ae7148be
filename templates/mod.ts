/**
 * `templates`: IEPile's chat-prompt formats, token for token. The 27 named templates of IEPile's
 * `template.py` and the OneKE wrappers as data, a model's own Jinja `chat_template`, tokenizers
 * from a model folder's `tokenizer.json`, IEPile's truncation rule and a better one, and the
 * `prompt` command.
 *
 * @example
 * ```ts
 * import { renderPrompt } from "./mod.ts";
 * const p = renderPrompt("llama2_zh", "抽取实体");
 * if (p.text !== "[INST] <<SYS>>\nYou are a helpful assistant. 你是一个乐于助人的助手。\n<</SYS>>\n\n抽取实体 [/INST]") {
 *   throw new Error(p.text);
 * }
 * ```
 *
 * @module
 */

export type { EncodingRule, TemplateDefinition, TemplateElement } from "./template.ts";
export { CHAT_TEMPLATE, getTemplate, IEPILE_TEMPLATE_NAMES, TEMPLATES } from "./named_templates.ts";
export {
  checkTemplate,
  type Prompt,
  type PromptPiece,
  queryOf,
  type RenderOptions,
  renderPrompt,
  stopIdsOf,
  type TokenizedPrompt,
} from "./render.ts";
export {
  type ChatRenderOptions,
  ChatTemplate,
  chatTemplateOf,
  type ChatTemplateSource,
  renderChatPrompt,
} from "./chat_template.ts";
export {
  HfTokenizer,
  type HfTokenizerOptions,
  loadTokenizer,
  type PromptTokenizer,
  type SpecialToken,
} from "./tokenizer.ts";
export {
  type GgufTokenizerFiles,
  type GgufVocabValue,
  tokenizerFilesFromGguf,
  tokenizerFromGguf,
} from "./gguf_vocab.ts";
export { fitPrompt, type FitResult, LONG_INPUT_CHARS_PER_TOKEN, truncateQuery, truncateTail } from "./truncate.ts";
export { explainPrompt } from "./explain.ts";
export {
  encodeTrainingExample,
  type ExampleBudget,
  IEPILE_EXAMPLE_BUDGET,
  type TrainingExample,
} from "./training_example.ts";
export {
  promptFile,
  type PromptFileOptions,
  PromptRenderer,
  type PromptRendererOptions,
  type PromptSummary,
  type RenderedPrompt,
  type TruncateMode,
} from "./prompt_file.ts";
export { PROMPT_HELP, runPrompt } from "./cli_command.ts";
