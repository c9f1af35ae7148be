/**
 * The `extract` command: a schema and documents in, grounded extractions out. Documents are cut
 * into chunks that fit the prompt, every chunk × schema batch (× schema order) becomes one
 * converted test record, `infer` answers them (any engine, resumable), and the answers are
 * merged per document with every string located in the text.
 *
 * @module
 */

import type { CliIo } from "../io/cli_io.ts";
import { numberOption, type OptionSpec, parseCommandArgs } from "../io/args.ts";
import { checkOutputPath, writeAtomically } from "../io/atomic_write.ts";
import { InputError, UsageError } from "../io/errors.ts";
import { readJsonItems } from "../io/json_items.ts";
import { pyDumps, type PyJson, pyStr } from "../io/py_json.ts";
import { parseRecordLine } from "../io/record.ts";
import { IEPILE_TASKS, type Task } from "../io/tasks.ts";
import { type Language, sourceFromPath } from "../convert/mod.ts";
import { CHAT_TEMPLATE, PromptRenderer, type PromptTokenizer } from "../templates/mod.ts";
import { INFER_OPTIONS, loadModelTokenizer, recordKey, runInfer } from "../infer/mod.ts";
import { type Chunk, chunkDocument } from "./chunk.ts";
import { type InputDocument, type InputFormat, MAX_DOCUMENT_CHARS, readDocuments } from "./documents.ts";
import { renderReport } from "./html_report.ts";
import { predictionLines } from "./iepile_format.ts";
import { type MergeCounts, mergeDocument, type RequestAnswer } from "./merge.ts";
import { OffsetConverter } from "./offsets.ts";
import { type DocumentBatch, documentBatches, documentRequests, type ExtractRequest } from "./requests.ts";
import { type ExtractSchema, readExtractSchema } from "./schema_input.ts";
import { type DocumentExtractions, type Extraction, type Span, spansOf } from "./types.ts";

/** Schemas per instruction by task when `--split-num` is not given (OneKE's recommendations). */
export const DEFAULT_SPLIT_NUM: Readonly<Record<Task, number>> = {
  NER: 6,
  RE: 4,
  SPO: 4,
  EE: 4,
  EET: 4,
  EEA: 4,
  KG: 1,
};

/** Help of `iepile extract`. */
export const EXTRACT_HELP: string = `iepile extract — a schema and your documents in, grounded extractions out

Usage: iepile extract --schema S --task T --input PATH --output OUT.jsonl --model M --template NAME [options]
       iepile extract --schema S --task T --input PATH --output OUT.jsonl --engine openai --base-url URL [options]

Each document is cut into chunks that fit the model's prompt (--cutoff-len tokens, measured with
the model's tokenizer), at sentence ends (。！？； and . ! ? ; before a space, line breaks), with an
overlap; every chunk × schema batch is one instruction, built as 'convert --split test' builds it
(the task's instruction text, the schema in batches of --split-num), answered by 'iepile infer'
on any of its engines, and the answers are merged per document: every string is located in the
text (exact, then ignoring case, spaces and full-width forms, then fuzzy) and gets character
offsets; the same type and span found twice (in two chunks' overlap, or two batches) is kept
once. A string not found in the text is kept with "grounded": false (a likely hallucination),
or dropped with --grounded-only.

Resumable: the requests and answers live in OUT.jsonl.parts/ (requests.jsonl, predictions.jsonl
and its run file); run the same command again to continue a stopped run. Once every request is
answered, running it again with the same infer options only merges (no model is loaded): change
the grounding options freely; other infer options go to infer, which refuses answers made with
other settings, naming them (delete OUT.jsonl.parts/ to start over).

Schema and documents:
  --schema S            a schema file, or the JSON itself: IEPile's three-line schema.json; or one
                        JSON value — NER/EET ["type", …] or {"type": "description"}; RE
                        ["relation", …] or {"relation": "description"}; SPO
                        ["subject_predicate_object", …] or [{"subject_type", "predicate",
                        "object_type"}]; EE/EEA [{"event_type", "arguments": [role, …] or {role:
                        description}, "description"?}]; KG [{"entity_type", "attributes": […] or
                        {attribute: description}}]. Wrap it as {"schema": …, "examples": [{"input",
                        "output"}]} for few-shot examples (OneKE's "example" field)
  --task T              NER, RE, SPO, EE, EET, EEA or KG
  --language L          zh (default) or en: the instruction text
  --input PATH          a .txt file (one document), a folder of .txt files, JSON Lines of
                        {"id", "text"} (.jsonl/.json; records may carry IEPile annotations, which
                        become "label" with --format iepile), or - for standard input
  --input-format F      auto (default: by the path), text or jsonl
  --max-document-chars N  refuse documents longer than this (default ${MAX_DOCUMENT_CHARS.toLocaleString("en-US")})

Requests:
  --split-num N         schema items per instruction (default: NER 6, KG 1, others 4; -1: all)
  --overlap N           tokens of whole sentences shared by neighbouring chunks (default 32;
                        characters, default 128, when chunks are measured in characters)
  --chunk-tokens N      at most N tokens of text per chunk, N ≥ 8 (default: all that fits
                        --cutoff-len)
  --chunk-chars N       without a tokenizer (--engine openai without --model, or --api chat):
                        chunk size in characters, N ≥ 20 (default 1500)
  --orders K            ask each batch in K different schema orders (the converter's, then
                        seeded shuffles; a batch with fewer orders in all it has) and keep what
                        is found in at least --min-votes of them (default 1); results of IE
                        models depend on schema order
  --min-votes V         default: more than half of --orders (a batch with fewer orders needs the
                        same share of its own)
  --order-seed N        seed of the extra orders (default 0)

Output:
  --output OUT          one line per document: {"id", "extractions": [...]}, each extraction with
                        "kind" (entity, relation, event, kg) and its strings with "start", "end",
                        "grounded" and "match" (exact, normalized, fuzzy); "failed_requests": N
                        when some of the document's requests failed (the run then exits 1)
  --format F            extract (default) or iepile: IEPile prediction records — for annotated
                        JSON Lines input, the records 'convert --split test' writes for it, each
                        with the merged "output" — for 'iepile eval'
  --offsets O           codepoint (default: Python's text[start:end]) or utf16 (JavaScript's
                        text.slice(start, end))
  --grounded-only       drop strings not found in the text
  --fuzzy X             least similarity of a fuzzy match, 0.5–1 (default 0.8; 1: no fuzzy
                        matches)
  --html FILE           also write a self-contained page: each document with its spans
                        highlighted per type, a legend, relations and events beside the text
  -h, --help            this help

Every other option goes to 'iepile infer' (see 'iepile infer --help'): --model, --lora,
--quantize, --template, --engine, --base-url, --api, --cutoff-len (default 512), --max-new-tokens,
--extractive, --batch, --threads, --concurrency, --retry-errors, --quiet, …

Example:
  iepile extract --task NER --language en --schema '{"person": "a human", "city": "a town"}' \\
    --input report.txt --output report.jsonl --html report.html --model OneKE --template llama2_zh
`;

const SPEC = {
  schema: { type: "string" },
  task: { type: "string" },
  language: { type: "string" },
  input: { type: "string", aliases: ["input_file"] },
  "input-format": { type: "string", aliases: ["input_format"] },
  "max-document-chars": { type: "string", aliases: ["max_document_chars"] },
  "split-num": { type: "string", aliases: ["split_num"] },
  overlap: { type: "string" },
  "chunk-tokens": { type: "string", aliases: ["chunk_tokens"] },
  "chunk-chars": { type: "string", aliases: ["chunk_chars"] },
  orders: { type: "string" },
  "min-votes": { type: "string", aliases: ["min_votes"] },
  "order-seed": { type: "string", aliases: ["order_seed"] },
  output: { type: "string", aliases: ["output_file"] },
  format: { type: "string" },
  offsets: { type: "string" },
  "grounded-only": { type: "boolean", aliases: ["grounded_only"] },
  fuzzy: { type: "string" },
  html: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Run `iepile extract`.
 *
 * @param args arguments after `extract`
 * @param io where to write
 * @returns the exit code (0; 1 when some requests failed; 128 + n when stopped by a signal)
 * @throws {UsageError} for bad options
 * @throws {InputError} for unreadable or malformed schema, documents or model
 *
 * @example
 * ```ts
 * import { runExtract } from "./cli_command.ts";
 * let out = "";
 * await runExtract(["--help"], { out: (t) => out += t, err: () => {} });
 * if (!out.includes("--grounded-only")) throw new Error();
 * ```
 */
export async function runExtract(args: string[], io: CliIo): Promise<number> {
  const { own, forwarded } = splitArgs(args);
  const { values: v, positionals } = parseCommandArgs(own, SPEC, "extract");
  if (v.help) {
    io.out(EXTRACT_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`extract: unexpected argument "${positionals[0]}"`);
  for (const name of ["schema", "task", "input", "output"]) {
    if (typeof v[name] !== "string" || v[name] === "") {
      throw new UsageError(`extract: --${name} is required (see 'iepile extract --help')`);
    }
  }
  const task = String(v.task).toUpperCase() as Task;
  if (!IEPILE_TASKS.includes(task)) {
    throw new UsageError(`--task is one of ${IEPILE_TASKS.join(", ")}; got "${v.task}"`);
  }
  const language = String(v.language ?? "zh") as Language;
  if (language !== "zh" && language !== "en") throw new UsageError(`--language is zh or en, got "${language}"`);
  const output = String(v.output);
  if (output === "-") throw new UsageError("extract: --output needs a file (its run folder sits beside it)");
  const format = String(v.format ?? "extract");
  if (format !== "extract" && format !== "iepile") {
    throw new UsageError(`--format is extract or iepile, got "${format}"`);
  }
  const offsets = String(v.offsets ?? "codepoint");
  if (offsets !== "codepoint" && offsets !== "utf16") {
    throw new UsageError(`--offsets is codepoint or utf16, got "${offsets}"`);
  }
  const inputFormat = String(v["input-format"] ?? "auto") as InputFormat;
  if (!["auto", "text", "jsonl"].includes(inputFormat)) {
    throw new UsageError(`--input-format is auto, text or jsonl, got "${inputFormat}"`);
  }
  const splitNum = numberOption(v["split-num"], "split-num", "integer", -1) ?? DEFAULT_SPLIT_NUM[task];
  if (splitNum === 0) throw new UsageError("--split-num is a positive number of schema items, or -1 for all");
  const orders = numberOption(v.orders, "orders", "integer", 1) ?? 1;
  const minVotes = numberOption(v["min-votes"], "min-votes", "integer", 1) ?? Math.floor(orders / 2) + 1;
  if (minVotes > orders) throw new UsageError(`--min-votes ${minVotes} is more than --orders ${orders}`);
  const fuzzy = numberOption(v.fuzzy, "fuzzy", "number", 0) ?? 0.8;
  if (fuzzy > 1 || fuzzy < 0.5) {
    throw new UsageError(`--fuzzy is a similarity from 0.5 (below, almost any string matches) to 1, got ${fuzzy}`);
  }
  const overlap = numberOption(v.overlap, "overlap", "integer", 0);
  const chunkTokens = numberOption(v["chunk-tokens"], "chunk-tokens", "integer", 8);
  const chunkChars = numberOption(v["chunk-chars"], "chunk-chars", "integer", 20) ?? 1500;
  const seed = numberOption(v["order-seed"], "order-seed", "integer", 0) ?? 0;
  // The options for infer, read as infer reads them (aliases, `--name=value`, the last one given).
  const { values: iv } = parseCommandArgs(forwarded, INFER_OPTIONS, "extract");
  if (iv.limit !== undefined) throw new UsageError("extract: --limit is not an option of extract");
  const quiet = iv.quiet === true;
  const retryErrors = iv["retry-errors"] === true;
  await checkOutputPath(output);
  if (typeof v.html === "string") await checkOutputPath(v.html);
  const cutoffLen = numberOption(iv["cutoff-len"], "cutoff-len", "integer", 1) ?? 512;
  const model = iv.model as string | undefined;
  const template = iv.template as string | undefined;
  const api = iv.api as string | undefined;

  // Everything that can be wrong with the input is found before a model loads.
  const schema = await readExtractSchema(String(v.schema), task);
  const docs = await readDocuments(String(v.input), {
    format: inputFormat,
    maxChars: numberOption(v["max-document-chars"], "max-document-chars", "integer", 1) ?? MAX_DOCUMENT_CHARS,
  });
  if (docs.length === 0) throw new InputError("no documents", { file: String(v.input) });
  const empty = docs.filter((d) => d.text.trim() === "").length;
  // The records' `source`, as the converter names it: the input's folder (`data/NER/sample.json` → NER).
  const input = String(v.input);
  const source = input === "-" ? "stdin" : sourceFromPath(input);
  const settings = { task, language, splitNum, orders, seed, source };
  const tokenizer = model !== undefined ? await loadModelTokenizer(model) : undefined;
  const renderer = tokenizer && template !== undefined && api !== "chat"
    ? new PromptRenderer({ template, tokenizer })
    : undefined;
  if (!renderer && !quiet) {
    io.err(
      `extract: no tokenizer and template to measure prompts with: chunks are ${chunkChars} characters (--chunk-chars)\n`,
    );
  }
  if (template === CHAT_TEMPLATE && !tokenizer) throw new UsageError("extract: --template chat_template needs --model");

  const plans = docs.map((doc, i) =>
    planDocument(i, doc, schema, settings, { renderer, cutoffLen, overlap, chunkTokens, chunkChars })
  );
  const requests = plans.flatMap((p) => p.requests);
  const parts = `${output}.parts`;
  await Deno.mkdir(parts, { recursive: true }).catch((e) => {
    throw new InputError(`cannot create the run folder: ${(e as Error).message}`, { file: parts });
  });
  const requestsFile = `${parts}/requests.jsonl`;
  const predictionsFile = `${parts}/predictions.jsonl`;
  await writeAtomically(requestsFile, (tmp) => Deno.writeTextFile(tmp, requestLines(requests, task, source)));

  let answers = await readAnswers(predictionsFile);
  let code = 0;
  const missing = requests.filter((r) => {
    const a = answers.get(keyOf(r));
    return a === undefined || a.error && retryErrors;
  }).length;
  // The answers there were made with the infer options of the run file beside them: with other
  // options, infer runs (and refuses, naming them, unless they do not change the answers).
  const argsFile = `${parts}/infer_options.json`;
  const sameOptions = await Deno.readTextFile(argsFile).then((t) => t === optionsRecord(forwarded), () => false);
  if (missing > 0 || !sameOptions) {
    if (!quiet) {
      io.err(
        `extract: ${docs.length} documents → ${plans.reduce((n, p) => n + p.chunks.length, 0)} chunks → ` +
          `${requests.length} requests (${missing} to answer) in ${parts}/\n`,
      );
    }
    code = await runInfer([...forwarded, "--input", requestsFile, "--output", predictionsFile], io);
    if (code >= 128) return code; // stopped by a signal: the same command continues
    await writeAtomically(argsFile, (tmp) => Deno.writeTextFile(tmp, optionsRecord(forwarded)));
    answers = await readAnswers(predictionsFile);
  }
  const counts: MergeCounts = { unreadable: 0, ungrounded: 0, dropped: 0, outvoted: 0 };
  let failed = 0;
  const failedOf: number[] = [];
  const results: DocumentExtractions[] = plans.map((plan) => {
    const got: RequestAnswer[] = [];
    let docFailed = 0;
    for (const r of plan.requests) {
      const a = answers.get(keyOf(r));
      if (a === undefined || a.error) docFailed++;
      else got.push({ chunk: r.chunk, batch: r.batch, order: r.order, output: a.output });
    }
    failed += docFailed;
    failedOf.push(docFailed);
    return mergeDocument(plan.doc.id, plan.doc.text, plan.chunks, plan.batches, got, {
      task,
      orders,
      minVotes,
      groundedOnly: v["grounded-only"] === true,
      fuzzyThreshold: fuzzy,
    }, counts);
  });
  await writeAtomically(output, async (tmp) => {
    const lines = format === "iepile"
      ? plans.flatMap((p, i) => predictionLines(task, p.batches, results[i].extractions))
      : results.map((r, i) => pyDumps(outputRecord(r, docs[i].text, offsets === "utf16", failedOf[i])) + "\n");
    await Deno.writeTextFile(tmp, lines.join(""));
  });
  if (typeof v.html === "string") {
    const page = renderReport(results.map((r, i) => ({ ...r, text: docs[i].text })), {
      title: `iepile extract — ${task}`,
      task,
    });
    await writeAtomically(v.html, (tmp) => Deno.writeTextFile(tmp, page));
  }
  if (!quiet) {
    io.err(summary(results, counts, failed, output, v.html as string | undefined, empty));
  }
  return failed > 0 ? 1 : code;
}

/** What one document becomes: its batches, chunks and requests. */
interface DocumentPlan {
  doc: InputDocument;
  batches: DocumentBatch[];
  chunks: Chunk[];
  requests: ExtractRequest[];
}

interface ChunkSettings {
  renderer?: PromptRenderer;
  cutoffLen: number;
  overlap?: number;
  chunkTokens?: number;
  chunkChars: number;
}

/**
 * Chunks and requests for one document. With a tokenizer, the chunk budget is what the longest
 * instruction (schema batch, order, examples) leaves of `cutoffLen`, and every request's whole
 * prompt is checked against `cutoffLen`; a chunk that tokenizes longer inside the prompt than
 * alone shrinks the budget by the excess and the document is cut again.
 */
function planDocument(
  index: number,
  doc: InputDocument,
  schema: ExtractSchema,
  settings: Parameters<typeof documentBatches>[2],
  c: ChunkSettings,
): DocumentPlan {
  const batches = documentBatches(doc, schema, settings);
  // Nothing to ask about an empty document (it gets an empty line of extractions).
  if (doc.text.trim() === "") return { doc, batches, chunks: [], requests: [] };
  if (batches.length === 0) {
    throw new InputError("no instruction can be built for this document (does its schema fit the task?)", {
      file: doc.file,
      line: doc.line,
    });
  }
  const renderer = c.renderer;
  if (!renderer) {
    const count = (t: string) => pyStr(t).length - 2;
    const chunks = chunkDocument(doc.text, { budget: c.chunkChars, overlap: c.overlap ?? 128, count });
    return { doc, batches, chunks, requests: documentRequests(index, doc, batches, chunks, schema, settings) };
  }
  const tokenizer = renderer.tokenizer as PromptTokenizer;
  const promptTokens = (instruction: string) => renderer.render(instruction).prompt.ids!.length;
  // The instructions without their input: the most tokens the schema side takes.
  const empty = documentRequests(index, doc, batches, [{ start: 0, end: 0, text: "" }], schema, settings);
  const overhead = Math.max(...empty.map((r) => promptTokens(r.instruction)));
  let budget = Math.min(c.cutoffLen - overhead, c.chunkTokens ?? Infinity);
  const count = (t: string) => tokenizer.encode(pyStr(t).slice(1, -1)).length;
  for (let attempt = 0; attempt < 8; attempt++) {
    if (budget < 8) {
      throw new InputError(
        `the instruction without its text takes ${overhead} of the ${c.cutoffLen} prompt tokens: ` +
          `raise --cutoff-len or lower --split-num`,
        { file: doc.file, line: doc.line },
      );
    }
    const chunks = chunkDocument(doc.text, { budget, overlap: c.overlap ?? 32, count });
    const requests = documentRequests(index, doc, batches, chunks, schema, settings);
    let excess = 0;
    for (const r of requests) excess = Math.max(excess, promptTokens(r.instruction) - c.cutoffLen);
    if (excess <= 0) return { doc, batches, chunks, requests };
    budget -= excess;
  }
  throw new InputError("could not cut the document into chunks that fit --cutoff-len", { file: doc.file });
}

/**
 * The infer options that decide answers, as recorded beside them: the options as given, less the
 * ones that only steer the run (progress, retries, speed).
 */
function optionsRecord(forwarded: readonly string[]): string {
  const steering = /^--(quiet|verbose|retry[-_]errors|force[-_]resume|concurrency|timeout|retries|batch|threads)(=|$)/;
  const kept: string[] = [];
  for (let i = 0; i < forwarded.length; i++) {
    const a = forwarded[i];
    if (!steering.test(a)) kept.push(a);
    else if (!a.includes("=") && INFER_OPTIONS[a.slice(2)]?.type === "string") i++; // its value too
  }
  return JSON.stringify(kept) + "\n";
}

function requestLines(requests: readonly ExtractRequest[], task: Task, source: string): string {
  return requests.map((r) =>
    pyDumps(
      new Map<string, string | number>([
        ["id", r.id],
        ["task", task],
        ["source", source],
        ["instruction", r.instruction],
        ["doc", r.doc],
        ["chunk", r.chunk],
        ["batch", r.batch],
        ["order", r.order],
      ]),
    ) + "\n"
  ).join("");
}

function keyOf(r: ExtractRequest): string {
  return recordKey({ id: r.id, instruction: r.instruction });
}

/** The answers in the predictions file, by record key (an empty map when there is no file yet). */
async function readAnswers(path: string): Promise<Map<string, { output: string; error: boolean }>> {
  const out = new Map<string, { output: string; error: boolean }>();
  try {
    await Deno.stat(path);
  } catch {
    return out;
  }
  for await (const item of readJsonItems(path)) {
    let fields;
    try {
      ({ fields } = parseRecordLine(item.text, path, item.line));
    } catch {
      continue; // a torn last line: infer redoes it
    }
    out.set(recordKey(fields), {
      output: typeof fields.output === "string" ? fields.output : "",
      error: fields.error !== undefined,
    });
  }
  return out;
}

/** A document's output line: extractions with offsets in the chosen convention. */
function outputRecord(doc: DocumentExtractions, text: string, utf16: boolean, failed: number): PyJson {
  const converter = utf16 ? undefined : new OffsetConverter(text);
  const span = (s: Span): Record<string, PyJson> => ({
    text: s.text,
    start: s.start === null || !converter ? s.start : converter.toCodePoint(s.start),
    end: s.end === null || !converter ? s.end : converter.toCodePoint(s.end),
    grounded: s.grounded,
    ...(s.match ? { match: s.match } : {}),
  });
  const one = (x: Extraction): PyJson => {
    switch (x.kind) {
      case "entity":
        return { kind: x.kind, type: x.type, ...span(x) };
      case "relation":
        return { kind: x.kind, relation: x.relation, head: span(x.head), tail: span(x.tail) };
      case "event":
        return {
          kind: x.kind,
          type: x.type,
          ...(x.trigger ? { trigger: span(x.trigger) } : {}),
          arguments: x.arguments.map((a) => ({ role: a.role, ...span(a) })),
        };
      case "kg":
        return {
          kind: x.kind,
          type: x.type,
          entity: span(x.entity),
          attributes: x.attributes.map((a) => ({ attribute: a.attribute, ...span(a) })),
        };
    }
  };
  // A document some of whose requests failed says so: its extractions are incomplete.
  const record: Record<string, PyJson> = { id: doc.id, extractions: doc.extractions.map(one) };
  if (failed > 0) record.failed_requests = failed;
  return record;
}

function summary(
  results: readonly DocumentExtractions[],
  counts: MergeCounts,
  failed: number,
  output: string,
  html: string | undefined,
  empty: number,
): string {
  const items = results.reduce((n, r) => n + r.extractions.length, 0);
  const strings = results.reduce((n, r) => n + r.extractions.reduce((m, x) => m + spansOf(x).length, 0), 0);
  const lines = [
    `extracted ${items} items (${strings} strings) from ${results.length} documents → ${output}` +
    (html ? ` and ${html}` : ""),
  ];
  if (counts.ungrounded > 0) lines.push(`  ${counts.ungrounded} strings were not found in the text: "grounded": false`);
  if (counts.dropped > 0) lines.push(`  ${counts.dropped} items and arguments not found in the text were dropped`);
  if (empty > 0) lines.push(`  ${empty} documents are empty or only whitespace: nothing was asked about them`);
  if (counts.outvoted > 0) lines.push(`  ${counts.outvoted} items were found in fewer than --min-votes orders`);
  if (counts.unreadable > 0) lines.push(`  ${counts.unreadable} answers were not JSON objects (no items read)`);
  if (failed > 0) {
    lines.push(
      `  ${failed} requests have no answer (their documents carry "failed_requests"): run again, with --retry-errors`,
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * Arguments of extract's own options (and positionals, which it refuses), and the options for
 * `infer`; an option neither knows is a usage error here, before any work.
 */
function splitArgs(args: readonly string[]): { own: string[]; forwarded: string[] } {
  const own: string[] = [];
  const forwarded: string[] = [];
  const kinds = (spec: OptionSpec) => {
    const names = new Map<string, "string" | "boolean">();
    for (const [name, o] of Object.entries(spec)) for (const n of [name, ...(o.aliases ?? [])]) names.set(n, o.type);
    return names;
  };
  const mine = kinds(SPEC);
  const infer = kinds(INFER_OPTIONS);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("--")) {
      own.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
    const type = mine.get(name);
    if (type !== undefined) {
      own.push(a);
      if (type === "string" && inline === undefined && i + 1 < args.length) own.push(args[++i]);
      continue;
    }
    const forwardedType = infer.get(name);
    if (forwardedType === undefined) {
      throw new UsageError(`extract: unknown option --${name} (see 'iepile extract --help' and 'iepile infer --help')`);
    }
    forwarded.push(a);
    const next = args[i + 1];
    // A string option's value travels with it; so does IEPile's "True"/"False" after a flag.
    if (inline === undefined && next !== undefined) {
      if (forwardedType === "string" || /^(true|false)$/i.test(next)) forwarded.push(args[++i]);
    }
  }
  return { own, forwarded };
}
