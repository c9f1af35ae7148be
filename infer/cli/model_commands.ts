/**
 * The `inspect` and `export-gguf` commands (the CLI dispatches to these).
 *
 * @module
 */

import type { CliIo } from "../../io/cli_io.ts";
import { numberOption, type OptionSpec, parseCommandArgs, type ParsedArgs, requiredOption } from "../../io/args.ts";
import { quantizeOption } from "./_quantize_option.ts";
import { checkOutputPath } from "../../io/atomic_write.ts";
import { UsageError } from "../../io/errors.ts";
import { writeGgufTo } from "../formats/gguf.ts";
import { QUANT_PRESETS, type QuantPreset } from "../formats/quant_preset.ts";
import {
  exportGguf,
  type ExportGgufOptions,
  type ExportGgufResult,
  isQuantizedPreset,
  planGgufExport,
} from "../model/gguf_export.ts";
import { QuantizePool } from "../formats/quantize_pool.ts";
import { GgufFile, isGgufFile } from "../formats/gguf_read.ts";
import { tokenizerFilesFromGguf } from "../../templates/mod.ts";
import { basename } from "node:path";
import { formatModelReport, inspectModel, reportSize } from "../model/inspect.ts";
import { type LoadedModel, loadModel } from "../model/load_model.ts";
import { LoadProgressLine } from "../model/load_progress.ts";

/** Help of `inspect`. */
export const INSPECT_HELP: string = `iepile inspect — what a model folder (and a LoRA adapter) holds

Usage: iepile inspect --model DIR|FILE.gguf [--lora DIR] [--context-size N] [--quantize P] [--json]
                      [--cutoff-len N] [--max-target-length N] [--lora-r R]

Reads config.json and the safetensors headers only (no weights): architecture, sizes,
parameter count, stored dtypes, memory needed (weights and KV cache) as stored and in each
format --quantize offers (f16, q8_0, q6_k, q4_k_m, q4_0: bytes of weights, KV cache at the
context size and the total), the GPU memory LoRA training takes in each of those formats
(train --engine webgpu, with the family's default targets), and, with --lora, the
adapter's rank, alpha and targets and whether every update fits its base tensor.

  --model DIR   Hugging Face model folder (config.json + model.safetensors or shards), or a
                GGUF file (its header: architecture, sizes, tensors and bytes per type,
                quantized ones included)
  --lora DIR    PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)
  --context-size N  tokens the KV cache figures are for (default: the model's, at most 4096)
  --quantize P  mark the format infer --quantize P would load (--bits 4 / 8 too)
  --cutoff-len N, --max-target-length N, --lora-r R
                the training figures' longest example (N + N tokens, the second its answer)
                and LoRA rank, as train takes them (default: IEPile's 700, 300 and 8)
  --json        the report as JSON
  -h, --help    this help

Exit code 1 when the folder is invalid or the adapter does not fit.
`;

/** Help of `export-gguf`. */
export const EXPORT_GGUF_HELP: string =
  `iepile export-gguf — a model (with its LoRA merged) as GGUF for llama.cpp and Ollama

Usage: iepile export-gguf --model DIR [--lora DIR] --out FILE.gguf [--dtype TYPE]

  --model DIR      Hugging Face model folder (llama, mistral, qwen2 or baichuan), or a GGUF
                   file (f32/f16/bf16) to write in another format
  --lora DIR       PEFT LoRA adapter merged into the weights first (W += alpha/r · B·A)
  --out FILE       the GGUF file, written atomically (not a folder); '-' streams it to
                   standard output (e.g. into a pipe)
  --dtype TYPE     weight format: f16 (default), f32, bf16, or a llama.cpp quantization
                   preset, each matrix's type chosen as llama-quantize chooses it:
                     q8_0    8.5 bits per weight
                     q6_k    6.6 bits (output and rows not a multiple of 256: q8_0)
                     q4_k_m  about 4.9 bits: q4_k, with q6_k for the output and for
                             attn_v/ffn_down in some layers (LLaMA-Factory's --bits 4)
                     q4_0    4.5 bits (output: q6_k)
                   norms and biases stay f32; rows not a multiple of 256 fall back to
                   q5_0 (q4_k) or q8_0 (q6_k)
  --quiet          no progress line and no summary
  -h, --help       this help

The tokenizer comes from the folder's tokenizer.json (SentencePiece-style BPE → llama.cpp's
"llama" vocabulary, byte-level BPE → "gpt2"). Example (OneKE's Ollama setup):
  iepile export-gguf --model OneKE --out OneKE-13B-F16.gguf
`;

function parse(args: string[], spec: OptionSpec, command: string): ParsedArgs["values"] {
  const { values, positionals } = parseCommandArgs(args, spec, command);
  if (positionals.length > 0) throw new UsageError(`${command}: unexpected argument "${positionals[0]}"`);
  return values;
}

/**
 * Run `inspect`.
 *
 * @param args arguments after `inspect`
 * @param io where to write
 * @returns the exit code (0, or 1 when the adapter does not fit)
 * @throws {UsageError} for bad options
 * @throws {InputError} for bad model or adapter files
 *
 * @example
 * ```ts
 * import { runInspect } from "./model_commands.ts";
 * let out = "";
 * const code = await runInspect(["--help"], { out: (t) => out += t, err: () => {} });
 * if (code !== 0 || !out.startsWith("iepile inspect")) throw new Error();
 * ```
 */
export async function runInspect(args: string[], io: CliIo): Promise<number> {
  const v = parse(args, {
    model: { type: "string" },
    lora: { type: "string" },
    "context-size": { type: "string" },
    quantize: { type: "string" },
    bits: { type: "string" },
    json: { type: "boolean" },
    "cutoff-len": { type: "string" },
    "max-target-length": { type: "string" },
    "lora-r": { type: "string" },
    help: { type: "boolean", short: "h" },
  }, "inspect");
  if (v.help) {
    io.out(INSPECT_HELP);
    return 0;
  }
  // The training figures' longest example and rank (IEPile's lengths by default).
  const cutoff = numberOption(v["cutoff-len"], "cutoff-len", "integer", 1) ?? 700;
  const answer = numberOption(v["max-target-length"], "max-target-length", "integer", 1) ?? 300;
  const r = numberOption(v["lora-r"], "lora-r", "integer", 1) ?? 8;
  const report = await inspectModel(requiredOption(v, "model", "inspect"), v.lora as string | undefined, {
    contextSize: numberOption(v["context-size"], "context-size", "integer", 1),
    quantize: quantizeOption(v, "inspect"),
  });
  // LoRA training's device memory in the same formats, with the family's default targets.
  const { trainingReport, formatTrainingReport } = await import("../../train/webgpu/device_memory.ts");
  const { defaultTargets } = await import("../../train/settings.ts");
  const targets = defaultTargets(report.spec.architecture) ?? ["all"];
  const training = trainingReport(report.spec, report.formats.map((f) => f.format), targets, {
    tokens: cutoff + answer,
    scored: answer,
    r,
  });
  io.out(
    v.json
      ? JSON.stringify({ ...report, training }, null, 2) + "\n"
      : formatModelReport(report) + formatTrainingReport(training, reportSize).join("\n") + "\n",
  );
  if (report.adapter?.misfit !== undefined) {
    io.err(`iepile: ${report.adapter.misfit}\n`);
    return 1;
  }
  return 0;
}

/**
 * Run `export-gguf`.
 *
 * @param args arguments after `export-gguf`
 * @param io where to write
 * @returns the exit code
 * @throws {UsageError} for bad options
 * @throws {InputError} for bad model or adapter files
 *
 * @example
 * ```ts
 * import { runExportGguf } from "./model_commands.ts";
 * let out = "";
 * const code = await runExportGguf(["--help"], { out: (t) => out += t, err: () => {} });
 * if (code !== 0 || !out.includes("--dtype")) throw new Error();
 * ```
 */
export async function runExportGguf(args: string[], io: CliIo): Promise<number> {
  const v = parse(args, {
    model: { type: "string" },
    lora: { type: "string" },
    out: { type: "string" },
    dtype: { type: "string" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, "export-gguf");
  if (v.help) {
    io.out(EXPORT_GGUF_HELP);
    return 0;
  }
  const modelDir = requiredOption(v, "model", "export-gguf");
  const out = requiredOption(v, "out", "export-gguf");
  const toStdout = out === "-";
  if (toStdout && Deno.stdout.isTerminal()) {
    throw new UsageError("export-gguf: --out - would write binary GGUF to the terminal: redirect it (> FILE.gguf)");
  }
  const dtype = (v.dtype as string | undefined) ?? "f16";
  if (!Object.hasOwn(QUANT_PRESETS, dtype)) {
    throw new UsageError(
      `export-gguf: --dtype must be one of ${Object.keys(QUANT_PRESETS).join(", ")}, got "${dtype}"`,
    );
  }
  if (!toStdout) await checkOutputPath(out); // before loading the model, which may take minutes
  const quiet = v.quiet === true;
  const t0 = performance.now();
  const progress = new LoadProgressLine({ enabled: quiet ? false : undefined });
  let model;
  try {
    model = await loadModel(modelDir, { lora: v.lora as string | undefined, onProgress: (p) => progress.update(p) });
  } finally {
    progress.finish();
  }
  // A GGUF's vocabulary travels with it (re-exporting converts the format, e.g. f32 to f16).
  const tokenizer = await ggufTokenizerFiles(modelDir);
  const options: ExportGgufOptions = {
    dtype: dtype as QuantPreset,
    tokenizer,
    name: tokenizer ? basename(modelDir).replace(/\.gguf$/i, "") : undefined,
  };
  const result = toStdout ? await exportToStdout(model, options) : await exportGguf(model, out, options);
  if (!quiet) {
    io.err(
      `exported ${model.spec.architecture}${v.lora ? ` + LoRA ${v.lora}` : ""} → ${
        toStdout ? "standard output" : out
      }: llama.cpp architecture ` +
        `${result.architecture}, ${result.tensors} tensors, ${dtype} (${
          result.bitsPerWeight.toFixed(2)
        } bits per weight), ` +
        `${(result.bytes / 1e6).toFixed(1)} MB, ` +
        `vocabulary from ${result.tokenizer} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
    );
  }
  return 0;
}

/** `--out -`: the GGUF streamed to standard output, front to back (GGUF needs no seeking). */
async function exportToStdout(model: LoadedModel, options: ExportGgufOptions): Promise<ExportGgufResult> {
  using pool = isQuantizedPreset(options.dtype) ? new QuantizePool() : undefined;
  const plan = await planGgufExport(model, { ...options, pool });
  const bytes = await writeGgufTo(Deno.stdout, plan.metadata, plan.tensors);
  return {
    architecture: plan.architecture,
    bytes,
    bitsPerWeight: plan.bitsPerWeight,
    tensors: plan.tensors.length,
    tokenizer: plan.tokenizer,
  };
}

/** The tokenizer files of a GGUF model (`undefined` for a folder, whose own files are read). */
async function ggufTokenizerFiles(model: string): Promise<ExportGgufOptions["tokenizer"]> {
  if (!(await isGgufFile(model))) return undefined;
  using file = await GgufFile.open(model);
  return file.metadata.has("tokenizer.ggml.model") ? tokenizerFilesFromGguf(file.metadata, model) : null;
}
