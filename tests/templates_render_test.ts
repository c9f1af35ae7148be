/**
 * Named templates, text view: every template's rendered first turn equals IEPile's rendered
 * single-turn prompt (copied here and, when ../shared is beside the clone, cross-checked with the
 * reference text there), OneKE's published prompt wrappers, and the encoding rules worked by hand (placeholders at
 * their first occurrence only, `{{idx}}` = 1, sep only after a non-empty prefix, the llama2 rule).
 */

import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { InputError, UsageError } from "../io/errors.ts";
import { skipNotice } from "./_shared.ts";
import {
  explainPrompt,
  getTemplate,
  IEPILE_TEMPLATE_NAMES,
  PromptRenderer,
  queryOf,
  renderPrompt,
  type TemplateDefinition,
  TEMPLATES,
} from "../templates/mod.ts";

/** IEPile's rendered single-turn inference prompt of every template, verbatim (`<BOS>` and `{Q}` as the spec writes them). */
const SPEC_RENDERED: Record<string, string> = {
  alpaca:
    "<BOS>Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{Q}\n\n### Response:\n",
  aquila:
    "<BOS>A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions.###Human: {Q}###Assistant:",
  baichuan: "<BOS><reserved_102>{Q}<reserved_103>",
  baichuan2: "<BOS><reserved_106>{Q}<reserved_107>",
  openba: "<BOS><S>{Q}<extra_id_0>",
  belle: "<BOS>Human: {Q}\n\nBelle: ",
  bluelm: "<BOS>[|Human|]:{Q}[|AI|]:",
  chatglm2: "<BOS>[gMASK]sop\n\n[Round 1]\n\n问：{Q}\n\n答：",
  chatglm3:
    "<BOS>[gMASK]sop<|system|>\nYou are ChatGLM3, a large language model trained by Zhipu.AI. Follow the user's instructions carefully. Respond using markdown.<|user|>\n{Q}<|assistant|>",
  deepseek:
    "<BOS>You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer.\n<|EOT|>\n\n### Instruction:\n{Q}\n\n### Response:\n",
  default:
    "<BOS>A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions.\nHuman: {Q}\nAssistant:",
  falcon: "<BOS>User: {Q}\nFalcon:",
  intern: "<BOS><|User|>:{Q}<eoh>\n<|Bot|>:",
  llama2:
    "<BOS>[INST] <<SYS>>\nYou are a helpful, respectful and honest assistant. Always answer as helpfully as possible, while being safe. Your answers should not include any harmful, unethical, racist, sexist, toxic, dangerous, or illegal content. Please ensure that your responses are socially unbiased and positive in nature.\n\nIf a question does not make any sense, or is not factually coherent, explain why instead of answering something not correct. If you don't know the answer to a question, please don't share false information.\n<</SYS>>\n\n{Q} [/INST]",
  llama3_zh:
    "<BOS><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant. 你是一个乐于助人的助手。<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{Q}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  llama3:
    "<BOS><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{Q}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  llama2_zh: "<BOS>[INST] <<SYS>>\nYou are a helpful assistant. 你是一个乐于助人的助手。\n<</SYS>>\n\n{Q} [/INST]",
  mistral: "<BOS>[INST] {Q} [/INST]",
  openchat: "<BOS>GPT4 Correct User: {Q}<|end_of_turn|>GPT4 Correct Assistant:",
  qwen:
    "<BOS><|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{Q}<|im_end|>\n<|im_start|>assistant\n",
  starchat: "<BOS><|system|>\n<|end|>\n<|user|>\n{Q}<|end|>\n<|assistant|>",
  vanilla: "<BOS>{Q}",
  vicuna:
    "<BOS>A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions.USER: {Q} ASSISTANT:",
  xverse: "<BOS>Human: {Q}\n\nAssistant: ",
  yayi:
    "<BOS><|System|>:\nYou are a helpful, respectful and honest assistant named YaYi developed by Beijing Wenge Technology Co.,Ltd. Always answer as helpfully as possible, while being safe.  Your answers should not include any harmful, unethical, racist, sexist, toxic, dangerous, or illegal content. Please ensure that your responses are socially unbiased and positive in nature.\n\nIf a question does not make any sense, or is not factually coherent, explain why instead of answering something not correct. If you don't know the answer to a question, please don't share false information.\n\n<|Human|>:\n{Q}\n\n<|YaYi|>:",
  zephyr:
    "<BOS><|system|>\nYou are a friendly chatbot who always responds in the style of a pirate</s><|user|>\n{Q}</s><|assistant|>",
  ziya: "<BOS><human>:{Q}\n<bot>:",
};

const SPEC_FILE = new URL("../../shared/spec/iepile-reference.md", import.meta.url).pathname;

Deno.test("every IEPile template renders the spec's string", async (t) => {
  deepEqual(Object.keys(SPEC_RENDERED).sort(), [...IEPILE_TEMPLATE_NAMES].sort());
  equal(IEPILE_TEMPLATE_NAMES.length, 27);
  for (const [name, want] of Object.entries(SPEC_RENDERED)) {
    await t.step(name, () => {
      equal(renderPrompt(name, "{Q}", undefined, { bosText: "<BOS>" }).text, want);
    });
  }
});

const HAVE_SPEC = (() => {
  try {
    return Deno.statSync(SPEC_FILE).isFile;
  } catch {
    return false;
  }
})();
if (!HAVE_SPEC) {
  skipNotice(
    import.meta.url,
    "the reference text cross-check",
    `${SPEC_FILE} is absent (it sits beside the project's clone in CI only)`,
  );
}

Deno.test({
  name: "the spec file's rendered strings are the ones copied here",
  ignore: !HAVE_SPEC,
  async fn(t) {
    const spec = await Deno.readTextFile(SPEC_FILE);
    const section = spec.slice(spec.indexOf("Rendered single-turn inference prompt"), spec.indexOf("### 6.3"));
    const found = new Map<string, string>();
    for (const m of section.matchAll(/^- `(\w+)`: `(".*")`$/gm)) found.set(m[1], JSON.parse(m[2]));
    equal(found.size, 27);
    for (const [name, want] of found) {
      await t.step(name, () => {
        equal(SPEC_RENDERED[name], want);
        equal(renderPrompt(name, "{Q}", undefined, { bosText: "<BOS>" }).text, want);
      });
    }
  },
});

Deno.test("OneKE wrappers: training code, README quick start, vLLM and Ollama spellings", () => {
  const sys = "You are a helpful assistant. 你是一个乐于助人的助手。";
  const q = '{"instruction": "x", "schema": ["人物"], "input": "y"}';
  equal(
    renderPrompt("llama2_zh", q).text,
    "[INST] <<SYS>>\n" + sys + "\n<</SYS>>\n\n" + q + " [/INST]",
  );
  equal(renderPrompt("oneke", q).text, "[INST] " + "<<SYS>>\n" + sys + "\n<</SYS>>\n\n" + q + "[/INST]");
  const flat = "[INST] <<SYS>>" + sys + "<</SYS>>" + q + "[/INST]";
  equal(renderPrompt("oneke_vllm", q).text, flat);
  equal(renderPrompt("oneke_ollama", q).text, flat);
  for (const name of ["llama2", "llama2_zh", "oneke", "oneke_vllm", "oneke_ollama"]) {
    equal(TEMPLATES[name].rule, "llama2");
  }
});

Deno.test("template data: flags and stop words of IEPile's templates", () => {
  const flags = (n: string) => {
    const t = TEMPLATES[n];
    return [t.stopWords.join("|"), t.useHistory, t.efficientEos, t.replaceEos];
  };
  deepEqual(flags("alpaca"), ["", true, false, false]);
  deepEqual(flags("qwen"), ["<|im_end|>", true, true, true]);
  deepEqual(flags("llama3"), ["<|eot_id|>", true, false, true]);
  deepEqual(flags("chatglm3"), ["<|user|>|<|observation|>", true, true, false]);
  deepEqual(flags("vanilla"), ["", false, false, false]);
  deepEqual(flags("yayi"), ["<|End|>", true, false, false]);
  deepEqual(flags("aquila"), ["</s>", true, true, false]);
  for (const t of Object.values(TEMPLATES)) {
    equal(t.rule, t.name.includes("llama2") || t.name.startsWith("oneke") ? "llama2" : "generic", t.name);
    ok(Object.isFrozen(t) && Object.isFrozen(t.prompt), `${t.name} is frozen`);
  }
  // Text-only stop texts: the template's stop words (EOS is the tokenizer's).
  deepEqual(renderPrompt("chatglm3", "q").stop, ["<|user|>", "<|observation|>"]);
  deepEqual(renderPrompt("alpaca", "q").stop, []);
});

Deno.test("encoding rules worked by hand", async (t) => {
  const custom = (over: Partial<TemplateDefinition>): TemplateDefinition => ({ ...TEMPLATES.alpaca, ...over });
  await t.step("placeholders are replaced at their first occurrence only", () => {
    const tpl = custom({ system: "S", prefix: ["{{system}}+{{system}}"], prompt: ["{{query}}/{{query}}"], sep: [] });
    equal(renderPrompt(tpl, "Q").text, "S+{{system}}Q/{{query}}");
  });
  await t.step("the query is inserted literally ($ patterns stay)", () => {
    equal(renderPrompt("vanilla", "$& $1 $$").text, "$& $1 $$");
    equal(renderPrompt("llama2_zh", "a$&b").text.includes("a$&b [/INST]"), true);
  });
  await t.step("{{idx}} is 1, replaced after the query (as IEPile's sequential replace does)", () => {
    ok(renderPrompt("chatglm2", "q").text.includes("[Round 1]"));
    // vanilla has no {{idx}} of its own, so IEPile's replace hits one inside the query.
    equal(renderPrompt("vanilla", "a {{idx}} b {{idx}}").text, "a 1 b {{idx}}");
    // the prefix gets no query: a {{query}} there stays.
    equal(renderPrompt(custom({ prefix: ["{{query}}"], system: "" }), "q").text.startsWith("{{query}}\n\n"), true);
  });
  await t.step("sep only when the prefix produced something", () => {
    equal(renderPrompt("belle", "q").text, "Human: q\n\nBelle: ");
    equal(renderPrompt("belle", "q", undefined, { system: "S" }).text, "S\n\nHuman: q\n\nBelle: ");
    // an empty system text keeps the default (IEPile: `system or self.system`)
    equal(renderPrompt("alpaca", "q", undefined, { system: "" }).text, renderPrompt("alpaca", "q").text);
    // starchat's prefix has a special token, so its sep follows even with an empty system text
    equal(renderPrompt("starchat", "q").text, "<|system|>\n<|end|>\n<|user|>\nq<|end|>\n<|assistant|>");
  });
  await t.step("llama2 rule: system text (every occurrence) + query inside [INST], no sep", () => {
    const p = renderPrompt("llama2", "Q", undefined, { system: "S" });
    equal(p.text, "[INST] <<SYS>>\nS\n<</SYS>>\n\nQ [/INST]");
    deepEqual(p.pieces.map((x) => x.part), ["prompt"]);
  });
  await t.step("pieces name their elements; special elements are marked", () => {
    const p = renderPrompt("qwen", "Q", undefined, { bosText: "<BOS>" });
    deepEqual(p.pieces.map((x) => `${x.part}${x.index}${x.special ? "*" : ""}`), [
      "bos0*",
      "prefix0*",
      "prefix1",
      "sep0*",
      "sep1",
      "prompt0*",
      "prompt1",
      "prompt2*",
      "prompt3",
      "prompt4*",
      "prompt5",
    ]);
    equal(p.pieces.map((x) => x.text).join(""), p.text);
  });
});

Deno.test("queryOf: instruction, plus \\n + input only when input is non-empty", () => {
  equal(queryOf({ instruction: "i" }), "i");
  equal(queryOf({ instruction: "i", input: "" }), "i");
  equal(queryOf({ instruction: "i", input: null }), "i");
  equal(queryOf({ instruction: "i", input: "x" }), "i\nx");
  throws(() => queryOf({ id: 1 }), (e: Error) => e instanceof InputError && e.field === "instruction");
  throws(() => queryOf({ instruction: 3 }), /field `instruction`: must be a string/);
  throws(() => queryOf({ instruction: "i", input: 5 }), /field `input`: must be a string/);
  throws(() => queryOf({ instruction: "" }), /empty prompt/);
});

Deno.test("unknown template: one message listing the known ones", () => {
  throws(() => getTemplate("chatml"), (e: Error) => {
    ok(e instanceof UsageError);
    match(e.message, /^unknown template "chatml"; known templates: alpaca, aquila, .*qwen.*ziya$/);
    ok(!e.message.includes("\n"));
    return true;
  });
  throws(() => renderPrompt("toString", "q"), UsageError);
});

Deno.test("text-only explain and renderer", () => {
  const text = explainPrompt(renderPrompt("intern", "Q"));
  match(text, /^template intern · text only \(no tokenizer\) · no BOS · stop: "<eoa>"/);
  ok(text.includes('prompt[1]  "<eoh>"'));
  const r = new PromptRenderer({ template: "ziya" }).render("Q");
  equal(r.prompt.text, "<human>:Q\n<bot>:");
  equal(r.cut, "none");
  throws(() => new PromptRenderer({ template: "ziya", cutoffLen: 5 }), RangeError);
});
