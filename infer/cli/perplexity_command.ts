/**
 * The `perplexity` command: how well a model predicts texts, per text and overall, with every
 * token's log-probability on request. Plain text lines are scored from their second token;
 * instruction records have their answer scored after their prompt, as fine-tuning scores it.
 * Used to compare weight formats, adapters and engines on the same texts.
 *
 * @module
 */

import type { CliIo } from "../../io/cli_io.ts";
import { numberOption, parseCommandArgs, requiredOption } from "../../io/args.ts";
import { checkOutputPath, writeAtomically } from "../../io/atomic_write.ts";
import { InputError, UsageError } from "../../io/errors.ts";
import { ProgressLine } from "../../io/progress.ts";
import { getTemplate, queryOf } from "../../templates/mod.ts";
import { loadModelTokenizer } from "../model/model_tokenizer.ts";
import { isGgufFile } from "../formats/gguf_read.ts";
import { encodeTrainingExample, IEPILE_EXAMPLE_BUDGET } from "../../templates/training_example.ts";
import type { PromptTokenizer } from "../../templates/tokenizer.ts";
import { openEngine, probeGpu } from "../engine/create_engine.ts";
import { LoadProgressLine } from "../model/load_progress.ts";
import { perplexityOf, type SequenceScorer, sessionScorer } from "../predict/perplexity.ts";
import type { QuantPreset } from "../formats/quant_preset.ts";
import {
  activationsOption,
  f32Refused,
  int8DotOf,
  kvCacheOption,
  quantizeOption,
  threadsOption,
} from "./_quantize_option.ts";

/** Help of `perplexity`. */
export const PERPLEXITY_HELP: string = `iepile perplexity — how well a model predicts texts

Usage: iepile perplexity --model DIR|FILE.gguf --input FILE [--lora DIR] [--quantize P] [--template NAME]
                         [--engine auto|cpu|webgpu|llamacpp] [--json] [--output FILE]

The input is plain text, one text per line (each scored from its second token, after BOS where
the tokenizer adds one), or JSON Lines of instruction records (converter output with "instruction"
and "output"): each record's answer is scored after its prompt as IEPile's fine-tuning scores
it (the answer, then the end-of-answer token; prompt and answer cut to --cutoff-len and
--max-target-length as training cuts them). Records need --template.

  --model DIR|FILE       Hugging Face model folder, or a GGUF file (quantized ones too)
  --lora DIR             PEFT LoRA adapter applied to the model
  --quantize P           quantize the weights as they load, after the LoRA merge: q8_0, q6_k,
                         q4_k_m, q4_0 (llamacpp: the cached export in that preset)
  --kv-cache F           the KV cache's format: f32 (default) or f16, as llama.cpp keeps it
  --threads N            cpu: threads computing the weights' products (default: the cores
                         available); llamacpp: CPU threads (default: all cores)
  --activations A        int8 or f32 (default: int8 on cpu, f32 on webgpu): with int8, quantized
                         weights meet activations rounded to 8 bits, as llama.cpp always does
                         (cpu: every block format; webgpu: q8_0, q4_0)
  --input FILE           texts or instruction records
  --template NAME        chat template of instruction records (e.g. llama2_zh, qwen)
  --engine E             auto (webgpu on a GPU, else cpu), cpu, webgpu, or llamacpp (the model
                         exported to GGUF once and cached, or --gguf FILE)
  --gguf FILE            the GGUF llama.cpp runs (default: an export of --model)
  --cutoff-len N         most tokens of one record's prompt and answer (default 700)
  --max-target-length N  fewest tokens an answer is cut to (default 300)
  --json                 one JSON object per text: line, tokens scored, perplexity, and the
                         scored ids with their log-probabilities
  --output FILE          write the report there (atomically) instead of standard output
  --quiet                no progress line
  -h, --help             this help

The last line gives the perplexity of all scored tokens together. Example:
  iepile perplexity --model .out/demo-infer/model --input data/texts.txt
`;

/** One text to score: its ids and where scoring starts. */
interface Item {
  readonly line: number;
  readonly ids: number[];
  readonly from: number;
}

/**
 * Run `perplexity`.
 *
 * @param args arguments after `perplexity`
 * @param io where to write
 * @returns the exit code
 * @throws {UsageError} for bad options
 * @throws {InputError} for bad model or input files
 *
 * @example
 * ```ts
 * import { runPerplexity } from "./perplexity_command.ts";
 * let out = "";
 * const code = await runPerplexity(["--help"], { out: (t) => out += t, err: () => {} });
 * if (code !== 0 || !out.startsWith("iepile perplexity")) throw new Error();
 * ```
 */
export async function runPerplexity(args: string[], io: CliIo): Promise<number> {
  const { values: v, positionals } = parseCommandArgs(args, {
    model: { type: "string" },
    lora: { type: "string" },
    quantize: { type: "string" },
    "kv-cache": { type: "string" },
    threads: { type: "string" },
    activations: { type: "string" },
    bits: { type: "string" },
    input: { type: "string" },
    template: { type: "string" },
    engine: { type: "string" },
    gguf: { type: "string" },
    "cutoff-len": { type: "string" },
    "max-target-length": { type: "string" },
    json: { type: "boolean" },
    output: { type: "string" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, "perplexity");
  if (v.help) {
    io.out(PERPLEXITY_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`perplexity: unexpected argument "${positionals[0]}"`);
  const model = requiredOption(v, "model", "perplexity");
  const input = requiredOption(v, "input", "perplexity");
  const engine = String(v.engine ?? "auto");
  if (!["auto", "cpu", "webgpu", "llamacpp"].includes(engine)) {
    throw new UsageError(`perplexity: --engine is auto, cpu, webgpu or llamacpp; got "${engine}"`);
  }
  if (v.gguf !== undefined && engine !== "llamacpp") throw new UsageError("perplexity: --gguf needs --engine llamacpp");
  const quantize = quantizeOption(v, "perplexity");
  const kvCache = kvCacheOption(v["kv-cache"], "perplexity");
  const threads = threadsOption(v.threads, "perplexity");
  const activations = activationsOption(v.activations, "perplexity");
  if (v.gguf !== undefined && quantize !== undefined) {
    throw new UsageError("perplexity: --quantize applies to --model; a --gguf file is run as it is");
  }
  if (engine === "llamacpp" && activations === "f32" && quantize !== undefined) throw f32Refused("perplexity");
  const template = v.template as string | undefined;
  if (template !== undefined) getTemplate(template);
  const budget = {
    cutoffLen: numberOption(v["cutoff-len"], "cutoff-len", "integer", 2) ?? IEPILE_EXAMPLE_BUDGET.cutoffLen,
    maxTargetLength: numberOption(v["max-target-length"], "max-target-length", "integer", 1) ??
      IEPILE_EXAMPLE_BUDGET.maxTargetLength,
  };
  if (v.output !== undefined) await checkOutputPath(v.output as string); // before the model loads
  const text = await Deno.readTextFile(input).catch((e) => {
    throw new InputError(`cannot read (${(e as Error).message})`, { file: input });
  });
  const tokenizer = await loadModelTokenizer(model);
  const items = itemsOf(text, input, tokenizer, template, budget);
  if (items.length === 0) throw new InputError("no text to score", { file: input });
  const longest = Math.max(...items.map((i) => i.ids.length));

  const quiet = v.quiet === true;
  const { scorer, close } = await openScorer(
    engine,
    model,
    v.lora as string | undefined,
    v.gguf as string | undefined,
    {
      quantize,
      kvCache,
      threads,
      activations,
      tokenizer,
      contextSize: longest,
      quiet,
    },
  );
  const progress = new ProgressLine("scored", { enabled: quiet ? false : undefined });
  const lines: string[] = [];
  const all: number[] = [];
  try {
    for (let n = 0; n < items.length; n++) {
      const item = items[n];
      const logprobs = await scorer.score(item.ids, item.from);
      for (const x of logprobs) all.push(x);
      lines.push(
        v.json
          ? JSON.stringify({
            line: item.line,
            tokens: logprobs.length,
            perplexity: perplexityOf(logprobs),
            ids: item.ids.slice(item.from),
            logprobs,
          }) + "\n"
          : `${String(item.line).padStart(6)}  ${String(logprobs.length).padStart(6)}  ${
            formatPpl(perplexityOf(logprobs)).padStart(12)
          }\n`,
      );
      progress.show(`scored ${n + 1} of ${items.length} texts`);
    }
  } finally {
    progress.finish();
    await close();
  }
  const summary = `perplexity ${formatPpl(perplexityOf(all))} over ${all.length} tokens of ${items.length} texts ` +
    `(engine ${engine}${quantize ? `, ${quantize}` : ""})\n`;
  const report = v.json ? lines.join("") : `  line  tokens    perplexity\n${lines.join("")}${summary}`;
  if (v.output !== undefined) {
    await writeAtomically(v.output as string, (tmp) => Deno.writeTextFile(tmp, report));
    if (!quiet) io.err(summary);
  } else {
    io.out(report);
    if (v.json && !quiet) io.err(summary);
  }
  return 0;
}

function formatPpl(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(6) : String(x);
}

/** The texts of the input: records (a JSON object per line) or plain text lines. */
function itemsOf(
  text: string,
  file: string,
  tokenizer: PromptTokenizer,
  template: string | undefined,
  budget: { cutoffLen: number; maxTargetLength: number },
): Item[] {
  const lines = text.replace(/^\ufeff/, "").split(/\r?\n/);
  const first = lines.find((l) => l.trim() !== "");
  const records = first !== undefined && first.trimStart().startsWith("{");
  if (records && template === undefined) {
    throw new UsageError("perplexity: instruction records need --template (the prompt format the model was tuned on)");
  }
  const items: Item[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === "") continue;
    if (!records) {
      const bos = tokenizer.bos;
      const ids = [...(bos ? [bos.id] : []), ...tokenizer.encode(line)];
      if (ids.length < 2) throw new InputError("a text of one token has nothing to score", { file, line: i + 1 });
      items.push({ line: i + 1, ids, from: 1 });
      continue;
    }
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (e) {
      throw new InputError(`not JSON (${(e as Error).message})`, { file, line: i + 1 });
    }
    if (typeof record !== "object" || record === null || Array.isArray(record)) {
      throw new InputError("not a JSON object", { file, line: i + 1 });
    }
    const r = record as Record<string, unknown>;
    try {
      if (typeof r.output !== "string") throw new InputError("missing or not a string", { field: "output" });
      const ex = encodeTrainingExample(template!, queryOf(r), r.output, tokenizer, budget);
      if (ex.promptLength < 1 || ex.promptLength >= ex.ids.length) {
        throw new InputError("nothing of the answer is left within --cutoff-len", { field: "output" });
      }
      items.push({ line: i + 1, ids: ex.ids, from: ex.promptLength });
    } catch (e) {
      throw e instanceof InputError ? e.at({ file, line: i + 1 }) : e;
    }
  }
  return items;
}

/** The engine that scores, and how to free it. */
async function openScorer(
  engine: string,
  model: string,
  lora: string | undefined,
  gguf: string | undefined,
  o: {
    quantize?: QuantPreset;
    kvCache?: "f32" | "f16";
    threads?: number;
    activations?: "int8" | "f32";
    tokenizer: PromptTokenizer;
    contextSize: number;
    quiet: boolean;
  },
): Promise<{ scorer: SequenceScorer; close: () => Promise<void> }> {
  if (engine === "llamacpp") {
    const { cachedGguf } = await import("../predict/gguf_cache.ts");
    const { LlamaCppGenerator } = await import("../predict/llamacpp.ts");
    // A GGUF model is run as it is; a folder is exported once (and cached).
    if (await isGgufFile(model) && (lora !== undefined || o.quantize !== undefined)) {
      throw new UsageError(
        "perplexity: llama.cpp runs a GGUF as it is: --lora and --quantize need --engine cpu|webgpu",
      );
    }
    const file = gguf ??
      (await isGgufFile(model) ? model : (await cachedGguf({ model, lora, dtype: o.quantize })).path);
    const g = new LlamaCppGenerator({
      gguf: file,
      tokenizer: o.tokenizer as ConstructorParameters<typeof LlamaCppGenerator>[0]["tokenizer"],
      contextSize: o.contextSize,
      kvCache: o.kvCache,
      threads: o.threads,
    });
    return { scorer: g, close: () => g.close() };
  }
  const kind = engine === "auto" ? ((await probeGpu()).kind === "real" ? "webgpu" : "cpu") : engine;
  const progress = new LoadProgressLine({ enabled: o.quiet ? false : undefined });
  let e;
  try {
    e = await openEngine(model, {
      engine: kind as "cpu" | "webgpu",
      lora,
      quantize: o.quantize,
      kvCache: o.kvCache,
      threads: o.threads,
      int8Dot: int8DotOf(o.activations, kind),
      contextSize: o.contextSize,
      onProgress: (p) => progress.update(p),
    });
  } finally {
    progress.finish();
  }
  const session = e.createSession();
  return {
    scorer: sessionScorer(session),
    close: () => {
      session.dispose();
      e.dispose();
      return Promise.resolve();
    },
  };
}
