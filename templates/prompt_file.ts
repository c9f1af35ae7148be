/**
 * Turn a converted test file into prompts, streaming: each record comes out as read with its
 * prompt added (`prompt` text or `prompt_ids`), ready for any external engine.
 *
 * @module
 */

import { InputError, UsageError } from "../io/errors.ts";
import { readJsonItems } from "../io/json_items.ts";
import { AtomicTextWriter } from "../io/atomic_write.ts";
import { LoneSurrogateError, pyDumps, type PyJson, pyStr } from "../io/py_json.ts";
import { parsePyJson } from "../io/py_json_parse.ts";
import { parseRecordLine } from "../io/record.ts";
import { ChatTemplate, chatTemplateOf } from "./chat_template.ts";
import { checkTemplate, type Prompt, queryOf, renderPrompt, type TokenizedPrompt } from "./render.ts";
import type { TemplateDefinition } from "./template.ts";
import { HfTokenizer, type PromptTokenizer } from "./tokenizer.ts";
import { fitPrompt, type FitResult, truncateQuery } from "./truncate.ts";
import { CHAT_TEMPLATE, getTemplate } from "./named_templates.ts";

/** How over-long prompts are cut: IEPile's rule, or shortening the input text. */
export type TruncateMode = "reference" | "input";

/** Options for {@linkcode PromptRenderer}. */
export interface PromptRendererOptions {
  /**
   * A named template (definition or name), a model's chat template, or `"chat_template"` for the
   * tokenizer's own; one is needed.
   */
  template: TemplateDefinition | string | ChatTemplate;
  /** The tokenizer (needed for ids and cutoff). */
  tokenizer?: PromptTokenizer;
  /** System text instead of the template's default. */
  system?: string;
  /** The most tokens a prompt may have (needs a tokenizer). */
  cutoffLen?: number;
  /** How to cut over-long prompts (default `reference`: keep the first `cutoffLen` tokens). */
  truncate?: TruncateMode;
}

/** A rendered prompt and what truncation did to it. */
export interface RenderedPrompt {
  /** The prompt. */
  readonly prompt: Prompt;
  /** What was cut (`none` without a cutoff or when it fits). */
  readonly cut: FitResult["cut"];
  /** Tokens removed by truncation. */
  readonly tokensRemoved: number;
  /** Characters of the input (or query) removed. */
  readonly charsRemoved: number;
}

/**
 * Renders queries with one template and tokenizer, applying the cutoff.
 *
 * @example
 * ```ts
 * import { PromptRenderer } from "./prompt_file.ts";
 * const r = new PromptRenderer({ template: "vicuna" });
 * if (!r.render("Hi").prompt.text.endsWith("USER: Hi ASSISTANT:")) throw new Error();
 * ```
 */
export class PromptRenderer {
  /** The template's name (`chat_template` for a model's own). */
  readonly templateName: string;
  /** The tokenizer, when there is one. */
  readonly tokenizer?: PromptTokenizer;
  readonly #render: (query: string) => Prompt;
  readonly #cutoffLen?: number;
  readonly #truncate: TruncateMode;

  /**
   * Bind a template, a tokenizer and a cutoff; checks the template's special tokens once.
   *
   * @param options template, tokenizer, system text and cutoff
   * @throws {UsageError} for an unknown template name, or a cutoff without a tokenizer
   * @throws {InputError} when the tokenizer lacks a special token the template needs
   */
  constructor(options: PromptRendererOptions) {
    const { tokenizer, system } = options;
    this.tokenizer = tokenizer;
    if (options.cutoffLen !== undefined && (!tokenizer || !(options.cutoffLen >= 1))) {
      throw new RangeError("cutoffLen needs a tokenizer and must be at least 1");
    }
    this.#cutoffLen = options.cutoffLen;
    this.#truncate = options.truncate ?? "reference";
    let t = options.template;
    if (t === CHAT_TEMPLATE) {
      if (!(tokenizer instanceof HfTokenizer)) {
        throw new UsageError(`--template ${CHAT_TEMPLATE} needs the model's tokenizer`);
      }
      t = chatTemplateOf(tokenizer);
    }
    if (t instanceof ChatTemplate) {
      this.templateName = "chat_template";
      this.#render = (q) => t.render(q, tokenizer, { system });
    } else {
      const def = typeof t === "string" ? getTemplate(t) : t;
      if (tokenizer) checkTemplate(def, tokenizer);
      this.templateName = def.name;
      this.#render = (q) => renderPrompt(def, q, tokenizer, { system });
    }
  }

  /**
   * Render one query.
   *
   * @param query the query (see {@linkcode queryOf})
   * @returns the prompt and what truncation did
   *
   * @example
   * ```ts
   * import { PromptRenderer } from "./prompt_file.ts";
   * if (new PromptRenderer({ template: "vanilla" }).render("q").cut !== "none") throw new Error();
   * ```
   */
  render(query: string): RenderedPrompt {
    const cutoff = this.#cutoffLen;
    if (cutoff === undefined) return { prompt: this.#render(query), cut: "none", tokensRemoved: 0, charsRemoved: 0 };
    const tokenizer = this.tokenizer!;
    const render = this.#render as (q: string) => TokenizedPrompt;
    if (this.#truncate === "input") return fitPrompt(render, query, cutoff, tokenizer);
    return truncateQuery(render, query, cutoff, tokenizer);
  }
}

/** Options for {@linkcode promptFile}. */
export interface PromptFileOptions {
  /** Converted test records (JSON Lines or one JSON array). */
  input: string;
  /** Output JSON Lines, written atomically (`-` = standard output), or a function receiving the text in chunks. */
  output: string | ((text: string) => void);
  /** The renderer (template, tokenizer, cutoff). */
  renderer: PromptRenderer;
  /** `text` adds `"prompt"`, `ids` adds `"prompt_ids"` (needs a tokenizer). Default `text`. */
  format?: "text" | "ids";
  /** Leave the BOS token's text out of `"prompt"` (for engines that add BOS themselves). */
  stripBos?: boolean;
  /** Called now and then with the progress. */
  onProgress?: (u: { done: number; bytesRead?: number; totalBytes?: number }) => void;
}

/** What {@linkcode promptFile} did. */
export interface PromptSummary {
  /** Records rendered. */
  records: number;
  /** Seconds taken. */
  seconds: number;
  /** Largest prompt in tokens (0 without a tokenizer). */
  maxTokens: number;
  /** Total tokens over all prompts. */
  totalTokens: number;
  /** Largest prompt in characters. */
  maxChars: number;
  /** Prompts that were truncated. */
  truncated: number;
  /** Truncated prompts by what was cut. */
  cuts: { input: number; query: number; tail: number };
  /** Line of the first truncated record. */
  firstTruncatedLine?: number;
  /** The stop texts (of the first prompt). */
  stop: string[];
  /** The BOS text added to prompts, when there is one. */
  bos?: string;
}

/**
 * Render every record of a converted test file into a prompt and write the records with it.
 * Each output line is the record as read plus `"prompt"` (or `"prompt_ids"`), and
 * `"prompt_truncated"` (tokens removed) for truncated prompts.
 *
 * @param options input, output, renderer and format
 * @returns counts and token statistics
 * @throws {InputError} with file and line for a bad record; the output is then not written
 *
 * @example
 * ```ts
 * import { PromptRenderer, promptFile } from "./prompt_file.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/in.json`, '{"id": 1, "instruction": "Hi"}\n');
 * await promptFile({ input: `${dir}/in.json`, output: `${dir}/out.json`, renderer: new PromptRenderer({ template: "vicuna" }) });
 * const line = JSON.parse(await Deno.readTextFile(`${dir}/out.json`));
 * if (!line.prompt.endsWith("USER: Hi ASSISTANT:")) throw new Error(line.prompt);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function promptFile(options: PromptFileOptions): Promise<PromptSummary> {
  const { renderer, input } = options;
  const format = options.format ?? "text";
  if (format === "ids" && !renderer.tokenizer) throw new RangeError("format ids needs a tokenizer");
  const start = performance.now();
  const totalBytes = await Deno.stat(input).then((s) => s.size, () => undefined);
  const summary: PromptSummary = {
    records: 0,
    seconds: 0,
    maxTokens: 0,
    totalTokens: 0,
    maxChars: 0,
    truncated: 0,
    cuts: { input: 0, query: 0, tail: 0 },
    stop: [],
  };
  const writer = typeof options.output === "string"
    ? await AtomicTextWriter.open(options.output)
    : new SinkWriter(options.output);
  try {
    for await (const item of readJsonItems(input)) {
      const where = { file: input, line: item.line };
      let rendered: RenderedPrompt;
      const record = parseRecordLine(item.text, input, item.line).fields;
      try {
        rendered = renderer.render(queryOf(record as Record<string, unknown>));
      } catch (e) {
        throw e instanceof InputError ? e.at(where) : e;
      }
      const p = rendered.prompt;
      if (summary.records === 0) {
        summary.stop = p.stop;
        if (p.pieces[0]?.part === "bos") summary.bos = p.pieces[0].text;
      }
      summary.records++;
      const n = p.ids?.length ?? 0;
      summary.totalTokens += n;
      if (n > summary.maxTokens) summary.maxTokens = n;
      if (p.text.length > summary.maxChars) summary.maxChars = p.text.length;
      const fields: Array<[string, string]> = [];
      if (format === "ids") fields.push(["prompt_ids", p.ids!.length === 0 ? "[]" : "[" + p.ids!.join(", ") + "]"]);
      else {
        const text = options.stripBos && p.pieces[0]?.part === "bos" ? p.text.slice(p.pieces[0].text.length) : p.text;
        fields.push(["prompt", quote(text, where)]);
      }
      if (rendered.cut !== "none") {
        summary.truncated++;
        summary.cuts[rendered.cut]++;
        summary.firstTruncatedLine ??= item.line;
        fields.push(["prompt_truncated", String(rendered.tokensRemoved)]);
      }
      if (writer.append(withFields(item.text, record as Record<string, unknown>, fields, where) + "\n")) {
        await writer.flush();
      }
      if ((summary.records & 1023) === 0) {
        options.onProgress?.({ done: summary.records, bytesRead: item.bytesRead, totalBytes });
      }
    }
    await writer.commit();
  } catch (e) {
    await writer.abort();
    throw e;
  }
  summary.seconds = (performance.now() - start) / 1000;
  return summary;
}

/** The writer interface of `AtomicTextWriter`, over a function. */
class SinkWriter {
  #parts: string[] = [];
  #size = 0;
  constructor(private readonly sink: (text: string) => void) {}
  append(text: string): boolean {
    this.#parts.push(text);
    this.#size += text.length;
    return this.#size >= 1 << 18;
  }
  flush(): Promise<void> {
    if (this.#parts.length > 0) this.sink(this.#parts.join(""));
    this.#parts = [];
    this.#size = 0;
    return Promise.resolve();
  }
  commit(): Promise<void> {
    return this.flush();
  }
  abort(): Promise<void> {
    this.#parts = [];
    return Promise.resolve();
  }
}

function quote(text: string, where: { file: string; line: number }): string {
  try {
    return pyStr(text);
  } catch (e) {
    if (e instanceof LoneSurrogateError) {
      throw new InputError("the prompt would contain an unpaired UTF-16 surrogate", { ...where, field: "instruction" });
    }
    throw e;
  }
}

/** The record's JSON text with fields added at the end (or replaced in place, re-serialized). */
function withFields(
  raw: string,
  record: Record<string, unknown>,
  fields: Array<[string, string]>,
  where: { file: string; line: number },
): string {
  if (fields.some(([k]) => Object.hasOwn(record, k))) {
    const parsed = parsePyJson(raw) as Map<string, PyJson> | Record<string, PyJson>;
    const map = parsed instanceof Map ? parsed : new Map(Object.entries(parsed));
    for (const [k, v] of fields) map.set(k, JSON.parse(v));
    try {
      return pyDumps(map);
    } catch (e) {
      if (e instanceof LoneSurrogateError) throw new InputError("contains an unpaired UTF-16 surrogate", where);
      throw e;
    }
  }
  const text = raw.trimEnd();
  const added = fields.map(([k, v]) => `"${k}": ${v}`).join(", ");
  return Object.keys(record).length === 0 ? `{${added}}` : `${text.slice(0, -1)}, ${added}}`;
}
