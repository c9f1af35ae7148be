/**
 * The `infer` command: a converted test file in, a prediction file out (each record with the
 * model's `output`), on a local engine (`cpu`, `webgpu`), llama.cpp, or an OpenAI-compatible
 * server. Resumable: the same command continues a stopped run.
 *
 * @module
 */

import type { CliIo } from "../../io/cli_io.ts";
import { numberOption, parseCommandArgs, requiredOption } from "../../io/args.ts";
import { InputError, UsageError } from "../../io/errors.ts";
import { onStopSignals, signalExitCode } from "../../io/signals.ts";
import { ProgressLine } from "../../io/progress.ts";
import { CHAT_TEMPLATE, getTemplate, PromptRenderer, queryOf, type TruncateMode } from "../../templates/mod.ts";
import { shapeForInstruction, type ShapeOptions } from "../constrain/shape.ts";
import { shapeToJsonSchema } from "../constrain/json_schema.ts";
import { describeAdapter } from "../engine/webgpu/adapter.ts";
import { describeBatch } from "../engine/batch_room.ts";
import { defaultContextSize } from "../engine/engine.ts";
import { LoadProgressLine } from "../model/load_progress.ts";
import { loadModelTokenizer } from "../model/model_tokenizer.ts";
import { isGgufFile } from "../formats/gguf_read.ts";
import { inspectModel, type ModelReport } from "../model/inspect.ts";
import type { SamplingOptions } from "../decode/sampling.ts";
import { type AutoEngineOptions, chooseAutoEngine, llamaCppLoads } from "../predict/auto_engine.ts";
import { LLAMA_CPP_PACKAGE, llamaCppBindingCached } from "../predict/llamacpp_binding.ts";
import { LocalPredictor } from "../predict/local.ts";
import { OpenAiPredictor } from "../predict/openai.ts";
import { checkInstructionRecords, checkPromptsFit } from "../predict/preflight.ts";
import { startGenerator } from "../predict/start_generator.ts";
import {
  FatalPredictionError,
  type Predictor,
  runPredictions,
  type RunProgress,
  type RunSummary,
} from "../predict/run.ts";
import { applyIepileFlags, IEPILE_SPEC, iepileArgs } from "../predict/_iepile_flags.ts";
import {
  ACTIVATIONS_HELP,
  activationsOption,
  f32Refused,
  int8DotOf,
  KV_CACHE_HELP,
  kvCacheOption,
  QUANTIZE_HELP,
  quantizeOption,
  THREADS_HELP,
  threadsOption,
} from "./_quantize_option.ts";
import type { QuantPreset } from "../formats/quant_preset.ts";
import {
  answerSettings,
  cachedFingerprints,
  checkRunSettings,
  engineFamily,
  type RunFile,
  runFilePath,
  type RunSettings,
  writeRunFile,
} from "../predict/run_settings.ts";

/** Help of `iepile infer`. */
export const INFER_HELP: string = `iepile infer — a model's answers for every record of a converted test file

Usage: iepile infer --model DIR|FILE.gguf --template NAME --input TEST.json --output PRED.json [options]
       iepile infer --engine openai --base-url URL --input TEST.json --output PRED.json [options]

Each record gets an "output" (the model's answer), as IEPile's src/inference.py writes it; then
'iepile eval --path1 PRED.json' scores the file. Stopped runs continue where they stopped: run the
same command again (records already in PRED.json, by id + instruction, are skipped; a torn last
line is redone). The settings that decide the answers are kept in PRED.json.run.json (written
with the first record), and a run continuing PRED.json with other settings (model or adapter
files, template, engine family, answer shape, limits, sampling, server) is refused, naming them;
a model found at another path with the same files (names, sizes, contents) continues, with a
note. --force-resume continues anyway; the run file then marks PRED.json "mixed", keeping the
earlier records' settings ("unknown" for a file without a run file), and a mixed file is only
continued with --force-resume. A record that fails gets an "error" field instead of being
dropped; a server that cannot be reached stops the run at once.

Takes IEPile's src/inference.py flags too, so its command runs with 'iepile infer' in front:
--max_source_length is --cutoff-len here; --bits 4 / --bits 8 are --quantize q4_k_m / q8_0;
--model_name is --model-name with --engine openai (the served model or adapter) and elsewhere
IEPile's model family, ignored; --stage, --finetuning_type, --output_dir, --do_predict,
--predict_with_generate, --bf16, --fp16, --num_beams and the like are accepted and ignored
(named in one line).

Model and engine:
  --model DIR|FILE      Hugging Face model folder (safetensors + config.json + tokenizer.json), or
                        a GGUF file (f32/f16/bf16 on cpu and webgpu; llamacpp runs it as it is)
                        (alias --model_name_or_path)
  --lora DIR            PEFT LoRA adapter, merged at load (alias --checkpoint_dir)
${QUANTIZE_HELP} (llamacpp: the
                        cached export is written in that preset)
${KV_CACHE_HELP}
${ACTIVATIONS_HELP}
  --template NAME       the chat template the model was trained with (see 'iepile prompt --list';
                        OneKE: llama2_zh; chat_template = the tokenizer's own)
  --engine E            auto (default: webgpu on a real GPU; without one llamacpp, else cpu), cpu,
                        webgpu, llamacpp, openai
  --gguf FILE           llamacpp: the GGUF to run (default: --model exported once, f16, into the
                        cache folder $IEPILE_CACHE_DIR, else ~/.cache/iepile; reused while unchanged)
${THREADS_HELP}
  --context-size N      tokens of prompt and answer together (default: cutoff-len +
                        max-new-tokens + 1, what a record holds at most; cpu and webgpu: at most
                        the model's, and at most 4096 on cpu, 2048 on webgpu)
  --batch N             cpu, webgpu: records decoded at once, each with its own KV cache and
                        constraint state; a finished record is replaced by the next (default: as
                        many as the engine's memory holds caches for, each of cutoff-len +
                        max-new-tokens + 1 tokens at most, webgpu: of --context-size; at most 16
                        on a CPU and 32 on a GPU; the choice is logged). Outputs and
                        resume are as with --batch 1 (the answers do not change, so the run file
                        does not record it). llamacpp and openai refuse it (openai: --concurrency)

Generation:
  --max-new-tokens N    most tokens per answer (default 300; alias --max_new_tokens)
  --cutoff-len N        most prompt tokens (default 512; alias --cutoff_len)
  --truncate MODE       input (default): keep the prompt's end, shorten the record's input text;
                        reference: keep the first N tokens, as IEPile does
  --temperature T       sampling temperature (default 0: greedy, as IEPile)
  --top-p P, --top-k K  sampling filters (with --temperature > 0)
  --seed N              sampling seed (default 0)

Answer shape (on by default):
  --no-constrain        let the model write anything (IEPile's behaviour)
  --extractive          answers must be spans of the record's input text
  --pair-keys A,B       RE/SPO pair keys (default subject,object; head,tail for models trained on
                        IEPile's converter output as is)

OpenAI-compatible server (--engine openai: vLLM, llama.cpp server, TGI, Ollama, iepile serve):
  --base-url URL        API root, e.g. http://127.0.0.1:8000/v1
  --model DIR           optional: the served model's folder, for its tokenizer; prompts then go as
                        the template's token ids and --cutoff-len / --truncate apply
  --api-key KEY         bearer token (default: $OPENAI_API_KEY)
  --model-name NAME     the server's model or adapter (default: the first of GET /models;
                        alias --model_name, with this engine only)
  --api A               completions (the prompt rendered here with --template; default when a
                        template is given; with --model DIR it is sent as the template's token
                        ids) or chat (the server applies its chat template)
  --concurrency N       requests at once (default 4)
  --timeout S           seconds per request (default 120)
  --retries N           retries on 429, 5xx and network errors (default 5)

Run:
  --input FILE          converted test records (alias --input_file)
  --output FILE         prediction file, created or continued (alias --output_file); '-' writes
                        the records to standard output (no resume, no run file)
  --retry-errors        predict again the records an earlier run wrote with an "error"
  --force-resume        continue PRED.json although its records were made with other settings,
                        unknown ones (no run file) or several (a mixed file)
  --limit N             only the first N records
  --quiet               no progress line and no summary
  --verbose             also say what the engine runs on (webgpu: the adapter, its features and
                        limits)
  -h, --help            this help

Example (the OneKE recipe of IEPile's README):
  iepile infer --model OneKE --template llama2_zh --input NER_test.json --output NER_pred.json
`;

const SPEC = {
  model: { type: "string", aliases: ["model_name_or_path"] },
  lora: { type: "string", aliases: ["checkpoint_dir"] },
  quantize: { type: "string" },
  "kv-cache": { type: "string" },
  activations: { type: "string" },
  template: { type: "string" },
  engine: { type: "string" },
  gguf: { type: "string" },
  threads: { type: "string" },
  "context-size": { type: "string", aliases: ["context_size"] },
  batch: { type: "string" },
  "max-new-tokens": { type: "string", aliases: ["max_new_tokens"] },
  "cutoff-len": { type: "string", aliases: ["cutoff_len"] },
  truncate: { type: "string" },
  temperature: { type: "string" },
  "top-p": { type: "string", aliases: ["top_p"] },
  "top-k": { type: "string", aliases: ["top_k"] },
  seed: { type: "string" },
  "no-constrain": { type: "boolean", aliases: ["no_constrain"] },
  extractive: { type: "boolean" },
  "pair-keys": { type: "string", aliases: ["pair_keys"] },
  "base-url": { type: "string", aliases: ["base_url"] },
  "api-key": { type: "string", aliases: ["api_key"] },
  "model-name": { type: "string" },
  api: { type: "string" },
  concurrency: { type: "string" },
  timeout: { type: "string" },
  retries: { type: "string" },
  input: { type: "string", aliases: ["input_file"] },
  output: { type: "string", aliases: ["output_file"] },
  "retry-errors": { type: "boolean", aliases: ["retry_errors"] },
  "force-resume": { type: "boolean", aliases: ["force_resume"] },
  limit: { type: "string" },
  quiet: { type: "boolean" },
  verbose: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Every option `iepile infer` takes (its own and IEPile's `src/inference.py` flags), by main name,
 * with aliases: for commands that pass options on to it (`extract`).
 *
 * @example
 * ```ts
 * import { INFER_OPTIONS } from "./infer_command.ts";
 * if (INFER_OPTIONS.extractive.type !== "boolean" || INFER_OPTIONS.model.type !== "string") throw new Error();
 * ```
 */
export const INFER_OPTIONS: Readonly<
  Record<string, { type: "string" | "boolean"; short?: string; aliases?: readonly string[] }>
> = { ...SPEC, ...IEPILE_SPEC };

/**
 * Run `iepile infer`.
 *
 * @param args arguments after `infer`
 * @param io where to write
 * @returns the exit code (0, or 1 when some records failed)
 * @throws {UsageError} for bad options
 * @throws {InputError} for unreadable input, model or tokenizer files
 *
 * @example
 * ```ts
 * import { runInfer } from "./infer_command.ts";
 * let out = "";
 * await runInfer(["--help"], { out: (t) => out += t, err: () => {} });
 * if (!out.includes("--max-new-tokens")) throw new Error();
 * ```
 */
export async function runInfer(args: string[], io: CliIo): Promise<number> {
  const iepile = iepileArgs(args);
  const { values: v, positionals } = parseCommandArgs(iepile.args, { ...SPEC, ...IEPILE_SPEC }, "infer");
  if (v.help) {
    io.out(INFER_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`infer: unexpected argument "${positionals[0]}"`);
  const ignored = applyIepileFlags(v, iepile.ignored);
  const input = requiredOption(v, "input", "infer");
  const output = requiredOption(v, "output", "infer");
  checkDashPaths(v);
  const toStdout = output === "-";
  const quiet = v.quiet === true;
  if (ignored.length > 0 && !quiet) {
    io.err(`infer: ignoring ${ignored.join(", ")} (IEPile flags with no meaning here)\n`);
  }
  const truncate = (v.truncate ?? "input") as TruncateMode;
  if (truncate !== "input" && truncate !== "reference") {
    throw new UsageError(`--truncate is input or reference, got "${truncate}"`);
  }
  const quantize = quantizeOption(v, "infer");
  const kvCache = kvCacheOption(v["kv-cache"], "infer");
  const activations = activationsOption(v.activations, "infer");
  const threads = threadsOption(v.threads, "infer");
  const pairKeys = parsePairKeys(v["pair-keys"]);
  const shapeOptions: ShapeOptions = { pairKeys };
  const constrain = v["no-constrain"] !== true;
  const temperature = numberOption(v.temperature, "temperature", "number", 0) ?? 0;
  const sampling: SamplingOptions | undefined = temperature > 0
    ? {
      temperature,
      topP: numberOption(v["top-p"], "top-p", "number", 0),
      topK: numberOption(v["top-k"], "top-k", "integer", 0),
    }
    : undefined;
  const seed = numberOption(v.seed, "seed", "integer", 0);
  const common = {
    maxNewTokens: numberOption(v["max-new-tokens"], "max-new-tokens", "integer", 1) ?? 300,
    cutoffLen: numberOption(v["cutoff-len"], "cutoff-len", "integer", 1) ?? 512,
    truncate,
    constrain,
    extractive: v.extractive === true,
    shape: shapeOptions,
    sampling,
    seed,
  };
  let engine = String(v.engine ?? "auto");
  if (!["auto", "cpu", "webgpu", "llamacpp", "openai"].includes(engine)) {
    throw new UsageError(`--engine is auto, cpu, webgpu, llamacpp or openai; got "${engine}"`);
  }
  // Cheap checks first: the input must be instruction records, the template known, the settings
  // those of the output's earlier records, the context big enough, before any model loads.
  await Deno.stat(input).catch(() => {
    throw new InputError("file not found", { file: input });
  });
  await checkInstructionRecords(input, { needTask: constrain });
  const template = v.template as string | undefined;
  if (template !== undefined && template !== CHAT_TEMPLATE) getTemplate(template);
  const modelDir = v.model as string | undefined;
  const tokenizer = modelDir === undefined ? undefined : await loadModelTokenizer(modelDir);
  // The settings are built before the engine is chosen and again after: the files are read once.
  const filesOf = cachedFingerprints();
  const settingsOf = (family: string | null, chosen?: string) =>
    answerSettings({
      chosen,
      filesOf,
      ...common,
      engine: String(v.engine ?? "auto"),
      family,
      model: modelDir,
      lora: v.lora as string | undefined,
      quantize,
      kvCache,
      activations,
      gguf: v.gguf as string | undefined,
      template,
      hasTokenizer: tokenizer !== undefined,
      pairKeys,
      baseUrl: v["base-url"] as string | undefined,
      modelName: v["model-name"] as string | undefined,
      api: v.api as string | undefined,
    });
  const force = v["force-resume"] === true;
  if (!toStdout) {
    // The engine family is known here unless "auto" still has to choose it (checked again below).
    const family = engine === "auto" ? null : engineFamily(engine);
    // So is the cpu engine's default activations.
    await checkRunSettings(output, await settingsOf(family), {
      force,
      ignore: family ? [] : ["engine", "activations"],
    });
  }
  const contextSize = numberOption(v["context-size"], "context-size", "integer", 16);
  const batch = numberOption(v.batch, "batch", "integer", 1);
  if (batch !== undefined && (engine === "llamacpp" || engine === "openai")) throw batchRefused(engine);
  if (engine !== "openai" && contextSize !== undefined && tokenizer && template !== undefined) {
    await checkContext(input, contextSize, { template, tokenizer, truncate, cutoffLen: common.cutoffLen }, v);
  }
  let predictor: Predictor;
  let describe: string;
  if (engine === "openai") {
    const baseUrl = requiredOption(v, "base-url", "infer");
    if (v.extractive) throw new UsageError("infer: --extractive needs a local engine (cpu, webgpu)");
    if (quantize !== undefined || kvCache !== undefined || activations !== undefined) {
      throw new UsageError(
        "infer: --quantize, --kv-cache and --activations need a local engine (the server holds its model)",
      );
    }
    if (v["top-k"] !== undefined) throw new UsageError("infer: --top-k is not part of the OpenAI API");
    const api = (v.api ?? (template ? "completions" : "chat")) as "completions" | "chat";
    if (api !== "completions" && api !== "chat") throw new UsageError(`--api is completions or chat, got "${api}"`);
    if (api === "chat" && template !== undefined) {
      throw new UsageError("infer: with --api chat the server applies its chat template; leave --template out");
    }
    if (api === "completions" && (template === undefined || template === CHAT_TEMPLATE && !tokenizer)) {
      throw new UsageError("infer: --api completions needs --template (and --model DIR for chat_template)");
    }
    if (!tokenizer && (v["cutoff-len"] !== undefined || v.truncate !== undefined)) {
      throw new UsageError("infer: --cutoff-len and --truncate need --model DIR (the tokenizer) with --engine openai");
    }
    // With the model's tokenizer (--model), prompts go as token ids: exactly the template's tokens.
    const renderer = api === "chat" ? undefined : new PromptRenderer({
      template: template!,
      tokenizer,
      cutoffLen: tokenizer ? common.cutoffLen : undefined,
      truncate,
    });
    predictor = new OpenAiPredictor({
      baseUrl,
      apiKey: (v["api-key"] as string | undefined) ?? Deno.env.get("OPENAI_API_KEY"),
      model: v["model-name"] as string | undefined,
      api,
      prompt: (record) => {
        if (!renderer) return queryOf(record);
        const { prompt } = renderer.render(queryOf(record));
        return prompt.ids ?? prompt.text;
      },
      responseSchema: constrain
        ? (record) =>
          shapeToJsonSchema(shapeForInstruction(String(record.task), String(record.instruction), shapeOptions).shape)
        : undefined,
      maxTokens: common.maxNewTokens,
      temperature,
      topP: sampling?.topP,
      seed,
      stop: renderer ? renderer.render("").prompt.stop : undefined,
      concurrency: numberOption(v.concurrency, "concurrency", "integer", 1) ?? 4,
      timeoutMs: (numberOption(v.timeout, "timeout", "number", 0) ?? 120) * 1000,
      retries: numberOption(v.retries, "retries", "integer", 0) ?? 5,
    });
    describe = `${baseUrl} (${api}${renderer?.tokenizer ? ", token ids" : ""})`;
  } else {
    if (modelDir === undefined || !tokenizer) {
      throw new UsageError("infer: --model is required (see 'iepile infer --help')");
    }
    if (template === undefined) throw new UsageError("infer: --template is required (see 'iepile infer --help')");
    new PromptRenderer({ template, tokenizer }); // the template's special tokens exist in this tokenizer
    // The model's headers, read once for the engine's choice and the default context (undefined
    // where they cannot be read: the model's load then says why).
    let report: Promise<ModelReport | undefined> | undefined;
    const inspect = () => report ??= inspectModel(modelDir).catch(() => undefined);
    if (engine === "auto") {
      engine = await autoEngine(
        {
          extractive: v.extractive === true,
          f32Activations: activations === "f32" && quantize !== undefined,
          weights: quantize ?? weightFormat(await inspect()),
        },
        quiet,
        io,
      );
    }
    if (engine === "llamacpp") {
      if (batch !== undefined) throw batchRefused(engine); // --engine auto chose it
      if (activations === "f32" && quantize !== undefined) throw f32Refused("infer");
      if (!quiet && !await llamaCppBindingCached()) {
        io.err(`fetching the llama.cpp binding (${LLAMA_CPP_PACKAGE}, first use only) …\n`);
      }
      const { LlamaCppPredictor } = await import("../predict/llamacpp.ts");
      if (v.gguf !== undefined && quantize !== undefined) {
        throw new UsageError("infer: --quantize applies to --model; a --gguf file is run as it is");
      }
      const gguf = (v.gguf as string | undefined) ??
        await ensureGguf(modelDir, v.lora as string | undefined, quantize, quiet, io);
      predictor = new LlamaCppPredictor({
        gguf,
        tokenizer,
        template,
        threads: threads ?? 1,
        kvCache,
        contextSize,
        ...common,
      });
      describe = `llama.cpp engine on ${gguf}`;
    } else {
      if (v.verbose === true && engine === "webgpu") {
        // The adapter the engine requests: the high-performance one.
        const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
        for (const line of adapter ? describeAdapter(adapter) : ["WebGPU adapter: none"]) io.err(`${line}\n`);
      }
      const progress = new LoadProgressLine({ enabled: quiet ? false : undefined });
      const recordTokens = common.cutoffLen + common.maxNewTokens + 1;
      const generator = await startGenerator({
        model: modelDir,
        lora: v.lora as string | undefined,
        quantize,
        kvCache,
        engine: engine as "cpu" | "webgpu",
        threads,
        int8Dot: int8DotOf(activations, engine),
        // A record holds at most its prompt (cut to --cutoff-len) and its answer: no session needs
        // more (as llama.cpp's context), and the WebGPU engine makes every cache that long.
        contextSize: contextSize ?? recordContext(await inspect(), recordTokens, engine as "cpu" | "webgpu"),
        tokenizer,
        // Unset: as many records as the engine's memory holds caches for, at most 16 on a CPU,
        // 32 on a GPU.
        batch: batch ?? "auto",
        sessionTokens: recordTokens,
        // The CPU engine computes in a worker: this thread stays free for signals and progress.
        worker: true,
        onProgress: (p) => progress.update(p),
      });
      progress.finish();
      if (!quiet && generator.batchChoice) io.err(`${describeBatch(generator.batchChoice)}\n`);
      predictor = new LocalPredictor(generator, { template, ...common });
      describe = `${engine} engine on ${modelDir}${v.lora ? ` + ${v.lora}` : ""}${quantize ? `, ${quantize}` : ""}`;
    }
  }
  const runFile = toStdout ? undefined : await resumeRunFile(
    output,
    await settingsOf(engineFamily(engine), engine),
    force,
    quiet,
    io,
  ).catch(async (e) => {
    await (predictor as { close?: () => Promise<void> }).close?.();
    throw e;
  });
  const controller = new AbortController();
  let stoppedBy: Deno.Signal | undefined;
  const dispose = onStopSignals((s) => (stoppedBy = s, controller.abort()));
  const line = new ProgressLine("", { enabled: quiet ? false : undefined });
  let summary: RunSummary;
  try {
    summary = await runPredictions({
      input,
      output: toStdout ? (text) => io.out(text) : output,
      predictor,
      retryErrors: v["retry-errors"] === true,
      limit: numberOption(v.limit, "limit", "integer", 1),
      signal: controller.signal,
      onProgress: (p) => line.show(formatRunProgress(p)),
      // The run file says what made the records beside it: written with the first one, never
      // by a run that appends nothing.
      beforeFirstWrite: runFile ? () => writeRunFile(output, runFile) : undefined,
    });
  } catch (e) {
    if (e instanceof FatalPredictionError) throw new InputError(`infer: ${e.message}`);
    throw e;
  } finally {
    line.finish();
    dispose();
    await (predictor as { close?: () => Promise<void> }).close?.();
  }
  const cut = (predictor as { truncated?: number }).truncated ?? 0;
  if (!quiet) io.err(formatRunSummary(summary, toStdout ? "standard output" : output, describe, constrain, cut));
  return summary.interrupted ? signalExitCode(stoppedBy) : summary.errors > 0 ? 1 : 0;
}

/**
 * The GGUF for `--engine llamacpp` without `--gguf`: the model (f16 or the `--quantize` preset,
 * the LoRA merged) exported once into the cache folder and reused while the model and adapter
 * are unchanged.
 */
async function ensureGguf(
  modelDir: string,
  lora: string | undefined,
  quantize: QuantPreset | undefined,
  quiet: boolean,
  io: { err(t: string): void },
): Promise<string> {
  if (await isGgufFile(modelDir)) {
    // A GGUF model runs as it is: no export, no cache.
    if (lora !== undefined) {
      throw new InputError(
        "llama.cpp runs a GGUF as it is, without an adapter: export one with the adapter merged " +
          "(iepile export-gguf --model DIR|FILE.gguf --lora ADAPTER --out FILE) and give that, or use --engine cpu|webgpu",
        { file: lora },
      );
    }
    return modelDir;
  }
  const { cachedGguf } = await import("../predict/gguf_cache.ts");
  const { path } = await cachedGguf({
    model: modelDir,
    lora,
    dtype: quantize,
    onExport: ({ path, bytes }) => {
      if (quiet) return;
      io.err(
        `exporting ${modelDir}${lora ? ` + ${lora}` : ""} for llama.cpp (${(bytes / 1e6).toFixed(1)} MB, ${
          quantize ?? "f16"
        }) to ` +
          `${path} (once: reused while the model and adapter are unchanged)\n`,
      );
    },
  });
  return path;
}

/** `--engine auto` for a local model: the engine chosen, told in one line. */
async function autoEngine(
  needs: Pick<AutoEngineOptions, "extractive" | "f32Activations" | "weights">,
  quiet: boolean,
  io: { err(t: string): void },
): Promise<string> {
  const choice = await chooseAutoEngine({
    ...needs,
    llamaCpp: async () => {
      if (!quiet && !await llamaCppBindingCached()) {
        io.err(`fetching the llama.cpp binding (${LLAMA_CPP_PACKAGE}, first use only) …\n`);
      }
      return await llamaCppLoads();
    },
  });
  if (!quiet) io.err(`engine auto → ${choice.engine}: ${choice.reason} (--engine names another)\n`);
  return choice.engine;
}

/**
 * A local engine's default context: the tokens a record holds at most, where fewer than the
 * engine's default, so that no answer changes; undefined for a model that cannot be read (the
 * engine's default).
 */
function recordContext(
  report: ModelReport | undefined,
  recordTokens: number,
  engine: "cpu" | "webgpu",
): number | undefined {
  return report && Math.min(recordTokens, defaultContextSize(report.spec, engine));
}

/**
 * `f32` where every tensor of the model (folder or GGUF file) is stored in f32, as `inspect`
 * counts them; else the stored types; undefined where the model cannot be read (its load then
 * says why).
 */
function weightFormat(report: ModelReport | undefined): string | undefined {
  return report && [...new Set(Object.keys(report.dtypes).map((d) => d.toLowerCase()))].join(",");
}

function parsePairKeys(value: string | boolean | undefined): readonly [string, string] | undefined {
  if (value === undefined) return undefined;
  const keys = String(value).split(",").map((k) => k.trim());
  if (keys.length !== 2 || keys.some((k) => k === "")) {
    throw new UsageError(`--pair-keys is two names, e.g. subject,object; got "${value}"`);
  }
  return [keys[0], keys[1]];
}

/**
 * The progress line of a run: records done of total, tokens per second, time left.
 *
 * @param p the run's counts
 * @returns one line
 *
 * @example
 * ```ts
 * import { formatRunProgress } from "./infer_command.ts";
 * const s = formatRunProgress({ total: 10, done: 5, predicted: 5, completionTokens: 100, seconds: 10 });
 * if (s !== "infer 5/10 records, 10.0 tokens/s, ETA 10s") throw new Error(s);
 * ```
 */
export function formatRunProgress(p: RunProgress): string {
  const rate = p.seconds > 0 ? p.completionTokens / p.seconds : 0;
  const left = p.predicted > 0 ? (p.total - p.done) * p.seconds / p.predicted : NaN;
  const eta = Number.isFinite(left) ? `, ETA ${left < 60 ? Math.ceil(left) + "s" : Math.round(left / 60) + "m"}` : "";
  return `infer ${p.done}/${p.total} records, ${rate.toFixed(1)} tokens/s${eta}`;
}

function formatRunSummary(s: RunSummary, output: string, describe: string, constrain: boolean, cut: number): string {
  const n = (x: number) => x.toLocaleString("en-US");
  const lines = [
    `${s.interrupted ? "stopped" : "predicted"} ${n(s.predicted)} records → ${output} with the ${describe}` +
    ` in ${s.seconds.toFixed(1)} s (${n(s.completionTokens)} tokens, ${
      (s.completionTokens / Math.max(s.seconds, 1e-9)).toFixed(1)
    } tokens/s)`,
  ];
  if (s.skipped > 0) lines.push(`  ${n(s.skipped)} records were already in the output (continued run)`);
  if (cut > 0) lines.push(`  ${n(cut)} prompts were longer than --cutoff-len and were shortened (--truncate)`);
  if (s.repairedTail) lines.push("  the last line of the earlier run was incomplete: redone");
  if (s.retried > 0) lines.push(`  ${n(s.retried)} earlier error records predicted again`);
  if (s.truncated > 0) {
    lines.push(`  ${n(s.truncated)} answers reached --max-new-tokens${constrain ? " (closed into valid JSON)" : ""}`);
  }
  if (s.errors > 0) {
    lines.push(`  ${n(s.errors)} records failed: they carry an "error" field (--retry-errors redoes them)`);
    if (s.firstError !== undefined) {
      const reason = s.firstError.message.split("\n")[0];
      lines.push(
        `  first failure (input line ${s.firstError.line}): ${
          reason.length > 300 ? reason.slice(0, 300) + "…" : reason
        }`,
      );
    }
  }
  if (s.interrupted) lines.push("  run the same command again to continue");
  return lines.join("\n") + "\n";
}

/** `-` is standard output for --output; elsewhere it names no file. */
function checkDashPaths(v: Record<string, string | boolean | undefined>): void {
  for (const name of ["input", "model", "lora", "gguf"]) {
    if (v[name] === "-") {
      throw new UsageError(
        `infer: --${name} - (standard input) is not supported: give a ${name === "input" ? "file" : "path"}` +
          (name === "input" ? " (only --output takes '-', for standard output)" : ""),
      );
    }
  }
}

/**
 * Check the output's recorded settings against this run's (the engine family now known), and
 * say what continuing it means: moved model files, unknown or other settings (forced).
 *
 * @returns the run file to write once the first record is appended (undefined: keep it as it is)
 */
async function resumeRunFile(
  output: string,
  settings: RunSettings,
  force: boolean,
  quiet: boolean,
  io: { err(t: string): void },
): Promise<RunFile | undefined> {
  const check = await checkRunSettings(output, settings, { force });
  if (quiet) return check.runFile;
  for (const note of check.notes) {
    const [name, change] = [note.slice(0, note.indexOf(":")), note.slice(note.indexOf(":") + 2)];
    io.err(`infer: note: the ${name} path changed (${change}); its files are the same\n`);
  }
  if (check.status === "unrecorded") {
    io.err(
      `infer: continuing ${output} (--force-resume) although it has no run file: the settings of its earlier ` +
        `records are unknown; ${runFilePath(output)} marks it as mixed\n`,
    );
  }
  if (check.status === "forced") {
    io.err(
      check.differences.length > 0
        ? `infer: continuing ${output} with other settings (--force-resume): ${check.differences.join("; ")}\n`
        : `infer: continuing ${output}, which already mixes settings (--force-resume)\n`,
    );
  }
  return check.runFile;
}

/** A --context-size that no prompt fits into is a usage error (prompts never exceed --cutoff-len). */
async function checkContext(
  input: string,
  contextSize: number,
  o: {
    template: string;
    tokenizer: NonNullable<Awaited<ReturnType<typeof loadModelTokenizer>>>;
    truncate: TruncateMode;
    cutoffLen: number;
  },
  v: Record<string, string | boolean | undefined>,
): Promise<void> {
  if (o.cutoffLen + 1 <= contextSize) return; // every prompt fits
  const renderer = new PromptRenderer({
    template: o.template,
    tokenizer: o.tokenizer,
    cutoffLen: o.cutoffLen,
    truncate: o.truncate,
  });
  await checkPromptsFit(
    input,
    (record) => renderer.render(queryOf(record)).prompt.ids!.length,
    contextSize,
    numberOption(v.limit, "limit", "integer", 1),
  );
}

/** `--batch` with an engine that does not decode records together here. */
function batchRefused(engine: string): UsageError {
  return new UsageError(
    engine === "openai"
      ? "infer: --batch is for the cpu and webgpu engines; with --engine openai use --concurrency N"
      : "infer: --batch is for the cpu and webgpu engines; llamacpp decodes one record at a time",
  );
}
