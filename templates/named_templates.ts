/**
 * The named templates: IEPile's 27 registered chat formats (`src/datamodule/template.py`, default
 * `alpaca`) and the OneKE wrappers its README documents, each one definition object.
 *
 * @module
 */

import { UsageError } from "../io/errors.ts";
import type { EncodingRule, TemplateDefinition, TemplateElement } from "./template.ts";

interface Spec {
  description: string;
  system?: string;
  prefix: TemplateElement[];
  prompt: TemplateElement[];
  sep?: TemplateElement[];
  stopWords?: string[];
  useHistory?: boolean;
  efficientEos?: boolean;
  replaceEos?: boolean;
  rule?: EncodingRule;
}

const tok = (token: string): { token: string } => ({ token });

const LLAMA2_SYSTEM = "You are a helpful, respectful and honest assistant. Always answer as helpfully as possible, " +
  "while being safe. Your answers should not include any harmful, unethical, racist, sexist, toxic, dangerous, " +
  "or illegal content. Please ensure that your responses are socially unbiased and positive in nature.\n\n" +
  "If a question does not make any sense, or is not factually coherent, explain why instead of answering " +
  "something not correct. If you don't know the answer to a question, please don't share false information.";
const ZH_SYSTEM = "You are a helpful assistant. 你是一个乐于助人的助手。";
const VICUNA_SYSTEM = "A chat between a curious user and an artificial intelligence assistant. " +
  "The assistant gives helpful, detailed, and polite answers to the user's questions.";
const LLAMA3_PREFIX = "<|start_header_id|>system<|end_header_id|>\n\n{{system}}<|eot_id|>";
const LLAMA3_PROMPT =
  "<|start_header_id|>user<|end_header_id|>\n\n{{query}}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";

const SPECS: Record<string, Spec> = {
  alpaca: {
    description: "Stanford Alpaca; IEPile's default (its LLaMA-3-8B-Instruct LoRA was trained with it)",
    system: "Below is an instruction that describes a task. Write a response that appropriately completes the request.",
    prefix: ["{{system}}"],
    prompt: ["### Instruction:\n{{query}}\n\n### Response:\n"],
    sep: ["\n\n"],
  },
  aquila: {
    description: "BAAI AquilaChat",
    system: "A chat between a curious human and an artificial intelligence assistant. " +
      "The assistant gives helpful, detailed, and polite answers to the human's questions.",
    prefix: ["{{system}}"],
    prompt: ["Human: {{query}}###Assistant:"],
    sep: ["###"],
    stopWords: ["</s>"],
    efficientEos: true,
  },
  baichuan: {
    description: "Baichuan-13B-Chat",
    prefix: ["{{system}}"],
    prompt: [tok("<reserved_102>"), "{{query}}", tok("<reserved_103>")],
    efficientEos: true,
  },
  baichuan2: {
    description: "Baichuan2-Chat (IEPile's baichuan2-13b-iepile-lora)",
    prefix: ["{{system}}"],
    prompt: [tok("<reserved_106>"), "{{query}}", tok("<reserved_107>")],
    efficientEos: true,
  },
  openba: {
    description: "OpenBA",
    prefix: ["{{system}}"],
    prompt: [tok("<S>"), "{{query}}", tok("<extra_id_0>")],
  },
  belle: {
    description: "BELLE",
    prefix: ["{{system}}"],
    prompt: ["Human: {{query}}\n\nBelle: "],
    sep: ["\n\n"],
  },
  bluelm: {
    description: "vivo BlueLM",
    prefix: ["{{system}}"],
    prompt: [tok("[|Human|]:"), "{{query}}", tok("[|AI|]:")],
  },
  chatglm2: {
    description: "ChatGLM2-6B",
    prefix: [tok("[gMASK]"), tok("sop"), "{{system}}"],
    prompt: ["[Round {{idx}}]\n\n问：{{query}}\n\n答："],
    sep: ["\n\n"],
    efficientEos: true,
  },
  chatglm3: {
    description: "ChatGLM3-6B",
    system: "You are ChatGLM3, a large language model trained by Zhipu.AI. " +
      "Follow the user's instructions carefully. Respond using markdown.",
    prefix: [tok("[gMASK]"), tok("sop"), tok("<|system|>"), "\n", "{{system}}"],
    prompt: [tok("<|user|>"), "\n", "{{query}}", tok("<|assistant|>")],
    stopWords: ["<|user|>", "<|observation|>"],
    efficientEos: true,
  },
  deepseek: {
    description: "DeepSeek Coder Instruct",
    system: "You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek " +
      "Company, and you only answer questions related to computer science. For politically sensitive questions, " +
      "security and privacy issues, and other non-computer science questions, you will refuse to answer.",
    prefix: ["{{system}}"],
    prompt: ["### Instruction:\n{{query}}\n\n### Response:\n"],
    sep: ["\n", tok("<|EOT|>"), "\n\n"],
    stopWords: ["<|EOT|>"],
    efficientEos: true,
  },
  default: {
    description: "a generic Human/Assistant chat format",
    system: VICUNA_SYSTEM,
    prefix: ["{{system}}"],
    prompt: ["Human: {{query}}\nAssistant:"],
    sep: ["\n"],
  },
  falcon: {
    description: "Falcon Instruct",
    prefix: ["{{system}}"],
    prompt: ["User: {{query}}\nFalcon:"],
    sep: ["\n"],
    efficientEos: true,
  },
  intern: {
    description: "InternLM Chat",
    prefix: ["{{system}}"],
    prompt: ["<|User|>:{{query}}", tok("<eoh>"), "\n<|Bot|>:"],
    sep: [tok("<eoa>"), "\n"],
    stopWords: ["<eoa>"],
    efficientEos: true,
  },
  llama2: {
    description: "LLaMA-2-Chat (IEPile's llama2-13b-iepile-lora)",
    system: LLAMA2_SYSTEM,
    prefix: ["<<SYS>>\n{{system}}\n<</SYS>>\n\n"],
    prompt: ["[INST] {{query}} [/INST]"],
    rule: "llama2",
  },
  llama3_zh: {
    description: "Chinese LLaMA-3 Instruct",
    system: ZH_SYSTEM,
    prefix: [LLAMA3_PREFIX],
    prompt: [LLAMA3_PROMPT],
    stopWords: ["<|eot_id|>"],
    replaceEos: true,
  },
  llama3: {
    description: "LLaMA-3 Instruct",
    system: "You are a helpful assistant.",
    prefix: [LLAMA3_PREFIX],
    prompt: [LLAMA3_PROMPT],
    stopWords: ["<|eot_id|>"],
    replaceEos: true,
  },
  llama2_zh: {
    description: "Chinese-Alpaca-2; OneKE as IEPile's own training and inference code prompt it",
    system: ZH_SYSTEM,
    prefix: ["<<SYS>>\n{{system}}\n<</SYS>>\n\n"],
    prompt: ["[INST] {{query}} [/INST]"],
    rule: "llama2",
  },
  mistral: {
    description: "Mistral Instruct",
    prefix: ["{{system}}"],
    prompt: ["[INST] {{query}} [/INST]"],
    sep: [" "],
  },
  openchat: {
    description: "OpenChat 3.5",
    prefix: ["{{system}}"],
    prompt: ["GPT4 Correct User: {{query}}", tok("<|end_of_turn|>"), "GPT4 Correct Assistant:"],
    sep: [tok("<|end_of_turn|>")],
    stopWords: ["<|end_of_turn|>"],
    efficientEos: true,
  },
  qwen: {
    description: "Qwen / Qwen1.5 Chat, ChatML (IEPile's qwen1.5-14b-iepile-lora)",
    system: "You are a helpful assistant.",
    prefix: [tok("<|im_start|>"), "system\n{{system}}"],
    prompt: [tok("<|im_start|>"), "user\n{{query}}", tok("<|im_end|>"), "\n", tok("<|im_start|>"), "assistant\n"],
    sep: [tok("<|im_end|>"), "\n"],
    stopWords: ["<|im_end|>"],
    efficientEos: true,
    replaceEos: true,
  },
  starchat: {
    description: "StarChat",
    prefix: [tok("<|system|>"), "\n{{system}}"],
    prompt: [tok("<|user|>"), "\n{{query}}", tok("<|end|>"), "\n", tok("<|assistant|>")],
    sep: [tok("<|end|>"), "\n"],
    stopWords: ["<|end|>"],
    efficientEos: true,
  },
  vanilla: {
    description: "the query alone, no chat markers",
    prefix: [],
    prompt: ["{{query}}"],
    useHistory: false,
  },
  vicuna: {
    description: "Vicuna v1.1",
    system: VICUNA_SYSTEM,
    prefix: ["{{system}}"],
    prompt: ["USER: {{query}} ASSISTANT:"],
  },
  xverse: {
    description: "XVERSE Chat",
    prefix: ["{{system}}"],
    prompt: ["Human: {{query}}\n\nAssistant: "],
  },
  yayi: {
    description: "YaYi",
    system: "You are a helpful, respectful and honest assistant named YaYi developed by Beijing Wenge Technology " +
      "Co.,Ltd. Always answer as helpfully as possible, while being safe.  Your answers should not include any " +
      "harmful, unethical, racist, sexist, toxic, dangerous, or illegal content. Please ensure that your responses " +
      "are socially unbiased and positive in nature.\n\nIf a question does not make any sense, or is not factually " +
      "coherent, explain why instead of answering something not correct. If you don't know the answer to a " +
      "question, please don't share false information.",
    prefix: [tok("<|System|>"), ":\n{{system}}"],
    prompt: [tok("<|Human|>"), ":\n{{query}}\n\n", tok("<|YaYi|>"), ":"],
    sep: ["\n\n"],
    stopWords: ["<|End|>"],
  },
  zephyr: {
    description: "Zephyr",
    system: "You are a friendly chatbot who always responds in the style of a pirate",
    prefix: [tok("<|system|>"), "\n{{system}}", tok("</s>")],
    prompt: [tok("<|user|>"), "\n{{query}}", tok("</s>"), tok("<|assistant|>")],
  },
  ziya: {
    description: "Ziya-LLaMA",
    prefix: ["{{system}}"],
    prompt: [tok("<human>"), ":{{query}}\n", tok("<bot>"), ":"],
    sep: ["\n"],
  },
  // OneKE wrappers documented in IEPile's README / OneKE.md (not registered in template.py).
  oneke: {
    description: "OneKE as the README quick start (and the OneKE repo) prompt it: no space before [/INST]",
    system: ZH_SYSTEM,
    prefix: ["<<SYS>>\n{{system}}\n<</SYS>>\n\n"],
    prompt: ["[INST] {{query}}[/INST]"],
    rule: "llama2",
  },
  oneke_vllm: {
    description: "OneKE as the README's vLLM example prompts it: no newlines (use temperature 0)",
    system: ZH_SYSTEM,
    prefix: ["<<SYS>>{{system}}<</SYS>>"],
    prompt: ["[INST] {{query}}[/INST]"],
    rule: "llama2",
  },
  oneke_ollama: {
    description: "OneKE as the README's Ollama Modelfile prompts it (same text as oneke_vllm)",
    system: ZH_SYSTEM,
    prefix: ["<<SYS>>{{system}}<</SYS>>"],
    prompt: ["[INST] {{query}}[/INST]"],
    rule: "llama2",
  },
};

function define(name: string, s: Spec): TemplateDefinition {
  return Object.freeze({
    name,
    description: s.description,
    system: s.system ?? "",
    prefix: Object.freeze(s.prefix.map(freezeElement)),
    prompt: Object.freeze(s.prompt.map(freezeElement)),
    sep: Object.freeze((s.sep ?? []).map(freezeElement)),
    stopWords: Object.freeze([...(s.stopWords ?? [])]),
    useHistory: s.useHistory ?? true,
    efficientEos: s.efficientEos ?? false,
    replaceEos: s.replaceEos ?? false,
    rule: s.rule ?? (name.includes("llama2") ? "llama2" : "generic"),
  });
}

function freezeElement(e: TemplateElement): TemplateElement {
  return typeof e === "string" ? e : Object.freeze({ token: e.token });
}

/**
 * The name that stands for a model's own `chat_template` (from its `tokenizer_config.json`).
 *
 * @example
 * ```ts
 * import { CHAT_TEMPLATE } from "./named_templates.ts";
 * if (CHAT_TEMPLATE !== "chat_template") throw new Error();
 * ```
 */
export const CHAT_TEMPLATE = "chat_template";

/**
 * Every named template by name: IEPile's 27 and the OneKE wrappers `oneke`, `oneke_vllm`,
 * `oneke_ollama`.
 *
 * @example
 * ```ts
 * import { TEMPLATES } from "./named_templates.ts";
 * if (TEMPLATES.qwen.stopWords[0] !== "<|im_end|>" || TEMPLATES.llama2_zh.rule !== "llama2") throw new Error();
 * ```
 */
export const TEMPLATES: Readonly<Record<string, TemplateDefinition>> = Object.freeze(
  Object.fromEntries(Object.entries(SPECS).map(([name, s]) => [name, define(name, s)])),
);

/**
 * The names of IEPile's 27 registered templates, in the order `template.py` registers them.
 *
 * @example
 * ```ts
 * import { IEPILE_TEMPLATE_NAMES } from "./named_templates.ts";
 * if (IEPILE_TEMPLATE_NAMES.length !== 27 || IEPILE_TEMPLATE_NAMES[0] !== "alpaca") throw new Error();
 * ```
 */
export const IEPILE_TEMPLATE_NAMES: readonly string[] = Object.freeze(
  Object.keys(SPECS).filter((n) => !n.startsWith("oneke")),
);

/**
 * Look a template up by name.
 *
 * @param name a template name (see {@linkcode TEMPLATES})
 * @returns its definition
 * @throws {UsageError} for an unknown name, listing the known ones
 *
 * @example
 * ```ts
 * import { getTemplate } from "./named_templates.ts";
 * if (getTemplate("alpaca").sep[0] !== "\n\n") throw new Error();
 * try { getTemplate("chatml"); throw new Error("no throw"); } catch (e) { if (!String(e).includes("qwen")) throw e; }
 * ```
 */
export function getTemplate(name: string): TemplateDefinition {
  if (Object.hasOwn(TEMPLATES, name)) return TEMPLATES[name];
  throw new UsageError(`unknown template "${name}"; known templates: ${Object.keys(TEMPLATES).sort().join(", ")}`);
}
