/**
 * The `prompt` command: render a converted test file into model prompts (text or token ids) with
 * a named template or the model's own chat template, explain one prompt token by token, or list
 * the templates.
 *
 * @module
 */

import type { CliIo } from "../io/cli_io.ts";
import { numberOption, optionSpec, parseCommandArgs } from "../io/args.ts";
import { InputError, UsageError } from "../io/errors.ts";
import { ProgressLine } from "../io/progress.ts";
import { readJsonItems } from "../io/json_items.ts";
import { parseRecordLine } from "../io/record.ts";
import { chatTemplateOf } from "./chat_template.ts";
import { explainPrompt } from "./explain.ts";
import { CHAT_TEMPLATE, getTemplate, TEMPLATES } from "./named_templates.ts";
import { promptFile, PromptRenderer, type PromptSummary, type TruncateMode } from "./prompt_file.ts";
import { queryOf } from "./render.ts";
import { type HfTokenizer, loadTokenizer } from "./tokenizer.ts";

/** Help text of `iepile prompt`. */
export const PROMPT_HELP: string = `iepile prompt — converted test records → model prompts (text or token ids)

Usage: iepile prompt --input TEST.json [--template NAME] [--model DIR] [options]

Renders each record's query (its "instruction", plus "\\n" + "input" when it has a non-empty
"input") with the template the model was trained with, exactly as IEPile's inference.py does,
and writes the records with "prompt" (or "prompt_ids") added, for any inference engine.

Template and tokenizer:
  --template NAME         a named template (see --list); IEPile's README pairs: LLaMA-2 → llama2,
                          Baichuan2 → baichuan2, LLaMA-3 → alpaca, Qwen1.5 → qwen, OneKE →
                          llama2_zh (oneke, oneke_vllm, oneke_ollama: its README's other wrappers)
  --model DIR|FILE        model folder with tokenizer.json (+ tokenizer_config.json), or a GGUF
                          file: token ids, BOS, EOS; without --template its own chat_template
  --system TEXT           system text instead of the template's default

Input and output:
  --input FILE            converted test records, JSON Lines (alias --input_file)
  --output FILE           output JSON Lines, written atomically (default: standard output;
                          alias --output_file)
  --format text|ids       add "prompt" (text) or "prompt_ids" (needs --model); default text
  --strip-bos             leave the BOS text (e.g. "<s>") out of "prompt", for engines that add
                          BOS themselves (vLLM, llama.cpp, Ollama)

Length (needs --model):
  --cutoff-len N          at most N tokens per prompt (alias --cutoff_len)
  --truncate MODE         reference: keep the first N tokens, as IEPile does (an over-long
                          prompt loses its end, assistant marker included); input: keep the
                          template's end and shorten the record's input text instead (default
                          reference). Truncated records get "prompt_truncated": tokens removed.

Inspect:
  --explain               print one prompt with its token boundaries instead of writing output
  --record N              the record --explain shows (1-based, default 1)
  --list                  list the templates

  --quiet                 no progress line and no summary
  -h, --help              this help

Examples:
  iepile prompt --input NER_test.json --template llama2_zh --model OneKE --output prompts.json
  iepile prompt --input NER_test.json --model Qwen1.5-14B-Chat --template qwen --explain
`;

const STRINGS = [
  ["input", "input_file"],
  ["output", "output_file"],
  ["template", "template"],
  ["model", "model_name_or_path"],
  ["format", "format"],
  ["system", "system"],
  ["cutoff-len", "cutoff_len"],
  ["truncate", "truncate"],
  ["record", "record"],
] as const;
const FLAGS = [
  ["strip-bos", "strip_bos"],
  ["explain", "explain"],
  ["list", "list"],
  ["quiet", "quiet"],
  ["help", "help"],
] as const;

/**
 * Run `iepile prompt`.
 *
 * @param args the arguments after `prompt`
 * @param io where normal output and messages go
 * @param tokenizerOf how `--model` becomes a tokenizer (default: a folder's `tokenizer.json`; the CLI
 *   passes one that also reads GGUF files)
 * @returns the exit code (0)
 * @throws {UsageError} for bad options (unknown template, missing --input, …)
 * @throws {InputError} for bad records or model files (one line with file and line)
 *
 * @example
 * ```ts
 * import { runPrompt } from "./cli_command.ts";
 * let out = "";
 * const code = await runPrompt(["--list"], { out: (t) => out += t, err: () => {} });
 * if (code !== 0 || !out.includes("llama2_zh")) throw new Error(out);
 * ```
 */
export async function runPrompt(
  args: string[],
  io: CliIo,
  tokenizerOf: (model: string) => Promise<HfTokenizer> = loadTokenizer,
): Promise<number> {
  const v = parse(args);
  if (v.help) {
    io.out(PROMPT_HELP);
    return 0;
  }
  if (v.list) {
    io.out(listTemplates());
    return 0;
  }
  const input = v.input;
  if (!input) throw new UsageError("prompt: --input is required (see 'iepile prompt --help')");
  const format = v.format ?? "text";
  if (format !== "text" && format !== "ids") {
    throw new UsageError(`prompt: --format must be text or ids, got "${format}"`);
  }
  const truncate = (v.truncate ?? "reference") as TruncateMode;
  if (truncate !== "reference" && truncate !== "input") {
    throw new UsageError(`prompt: --truncate must be reference or input, got "${truncate}"`);
  }
  const cutoffLen = numberOption(v["cutoff-len"], "cutoff-len", "integer", 1);
  const record = numberOption(v.record, "record", "integer", 1) ?? 1;
  if (v.record !== undefined && !v.explain) throw new UsageError("prompt: --record goes with --explain");
  if (!v.model) {
    if (format === "ids") throw new UsageError("prompt: --format ids needs --model DIR (the tokenizer)");
    if (cutoffLen !== undefined) throw new UsageError("prompt: --cutoff-len needs --model DIR (the tokenizer)");
    if (!v.template) {
      throw new UsageError(
        "prompt: give --template NAME (see --list) or --model DIR whose tokenizer has a chat_template",
      );
    }
  }
  // Unknown names fail before the model loads; no --template means the model's own chat_template.
  const templateName = v.template ?? CHAT_TEMPLATE;
  if (templateName !== CHAT_TEMPLATE) getTemplate(templateName);
  const tokenizer = v.model ? await tokenizerOf(v.model) : undefined;
  if (templateName === CHAT_TEMPLATE && !tokenizer) {
    throw new UsageError("prompt: --template chat_template needs --model DIR (the tokenizer holds the template)");
  }
  const template = templateName === CHAT_TEMPLATE ? chatTemplateOf(tokenizer!) : templateName;
  const renderer = new PromptRenderer({ template, tokenizer, system: v.system, cutoffLen, truncate });

  if (v.explain) {
    io.out(await explainRecord(input, record, renderer, tokenizer));
    return 0;
  }
  const output = v.output ?? "-";
  const progress = new ProgressLine("rendered", { enabled: !v.quiet && output !== "-" ? undefined : false });
  let summary: PromptSummary;
  try {
    summary = await promptFile({
      input,
      output: output === "-" ? (text) => io.out(text) : output,
      renderer,
      format,
      stripBos: v["strip-bos"],
      onProgress: (u) => progress.update(u),
    });
  } finally {
    progress.finish();
  }
  if (!v.quiet) io.err(formatSummary(summary, renderer, tokenizer, output, cutoffLen, truncate));
  return 0;
}

type Values =
  & Partial<Record<(typeof STRINGS)[number][0], string>>
  & Partial<Record<(typeof FLAGS)[number][0], boolean>>;

function parse(args: string[]): Values {
  const { values, positionals } = parseCommandArgs(args, optionSpec(STRINGS, FLAGS), "prompt");
  if (positionals.length > 0) throw new UsageError(`prompt: unexpected argument "${positionals[0]}"`);
  return values as Values;
}

function listTemplates(): string {
  const names = Object.keys(TEMPLATES);
  const width = Math.max(...names.map((n) => n.length));
  let text = "Templates (IEPile's 27, then the OneKE README wrappers):\n";
  for (const name of names) {
    const t = TEMPLATES[name];
    const stop = t.stopWords.length > 0 ? `; stop ${t.stopWords.map((s) => JSON.stringify(s)).join(" ")}` : "";
    const rule = t.rule === "llama2" ? "; llama2 rule" : "";
    text += `  ${name.padEnd(width)}  ${t.description}${stop}${rule}\n`;
  }
  text += "\nWithout --template, --model DIR uses the model's own chat_template.\n";
  return text;
}

async function explainRecord(
  input: string,
  wanted: number,
  renderer: PromptRenderer,
  tokenizer: HfTokenizer | undefined,
): Promise<string> {
  let n = 0;
  for await (const item of readJsonItems(input)) {
    if (++n < wanted) continue;
    const where = { file: input, line: item.line };
    const record = parseRecordLine(item.text, input, item.line).fields;
    let rendered;
    try {
      rendered = renderer.render(queryOf(record as Record<string, unknown>));
    } catch (e) {
      throw e instanceof InputError ? e.at(where) : e;
    }
    let head = `record ${n} (${input}:${item.line})`;
    if (tokenizer) head += ` · tokenizer ${tokenizer.source}`;
    if (rendered.cut !== "none") {
      head += ` · truncated (${rendered.cut}): ${rendered.tokensRemoved} tokens` +
        (rendered.charsRemoved > 0 ? `, ${rendered.charsRemoved} characters` : "") + " removed";
    }
    return head + "\n" + explainPrompt(rendered.prompt, tokenizer);
  }
  throw new UsageError(`prompt: --record ${wanted}: ${input} has ${n} record${n === 1 ? "" : "s"}`);
}

function formatSummary(
  s: PromptSummary,
  renderer: PromptRenderer,
  tokenizer: HfTokenizer | undefined,
  output: string,
  cutoffLen: number | undefined,
  truncate: TruncateMode,
): string {
  const n = (x: number) => x.toLocaleString("en-US");
  const rate = s.seconds > 0 ? ` in ${s.seconds.toFixed(2)} s (${n(Math.round(s.records / s.seconds))} prompts/s)` : "";
  const via = tokenizer ? `, tokenizer ${tokenizer.source}, ${s.bos ? `BOS ${JSON.stringify(s.bos)}` : "no BOS"}` : "";
  let text = `rendered ${n(s.records)} prompts with template ${renderer.templateName}${via} → ${
    output === "-" ? "standard output" : output
  }${rate}\n`;
  const stop = s.stop.length > 0 ? s.stop.map((x) => JSON.stringify(x)).join(", ") : "EOS";
  if (tokenizer && s.records > 0) {
    text += `  tokens per prompt: mean ${n(Math.round(s.totalTokens / s.records))}, max ${
      n(s.maxTokens)
    }; stop: ${stop}\n`;
  } else text += `  stop: ${stop}\n`;
  if (cutoffLen !== undefined) {
    if (s.truncated === 0) text += `  no prompt exceeded --cutoff-len ${cutoffLen}\n`;
    else {
      const how = truncate === "reference"
        ? "kept the first tokens, as IEPile does; their assistant marker is gone"
        : `input text shortened: ${s.cuts.input + s.cuts.query}` +
          (s.cuts.tail > 0 ? `; ${s.cuts.tail} too long even without input, cut at the end` : "");
      text += `  truncated to ${cutoffLen} tokens: ${n(s.truncated)} prompt${s.truncated === 1 ? "" : "s"} (${how}; ` +
        `first at line ${s.firstTruncatedLine})\n`;
    }
  }
  return text;
}
