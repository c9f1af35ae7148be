/**
 * The `iepile` command line: argument parsing and sub-command dispatch. Every error the tools
 * raise on bad input becomes one line on stderr and a non-zero exit code.
 *
 * @module
 */

import type { CliIo } from "./io/cli_io.ts";
import { InputError, UsageError } from "./io/errors.ts";
import { CONVERT_HELP, runConvert, runStats, STATS_HELP } from "./convert/cli_command.ts";
import denoConfig from "./deno.json" with { type: "json" };

/** The package version. */
export const VERSION: string = denoConfig.version;

export type { CliIo } from "./io/cli_io.ts";

const encoder = new TextEncoder();
const STD_IO: CliIo = {
  out: (t) => Deno.stdout.writeSync(encoder.encode(t)),
  err: (t) => Deno.stderr.writeSync(encoder.encode(t)),
};

const MAIN_HELP = `iepile ${VERSION} — IEPile's schema-based information extraction tools, in Deno

Usage: iepile <command> [options]

Commands:
  convert   annotated IE data (NER, RE, SPO, EE, EET, EEA, KG) → IEPile instructions
            (IEPile's ie2instruction/convert_func.py, byte for byte)
  stats     what a converted or predictions file holds: kind, tasks, sources, answers
  eval      model outputs on test records → IEPile's P/R/F1 (the reference's numbers), per-label
            and per-source scores, malformed-output counts (IEPile's ie2instruction/eval_func.py)
  prompt    converted test records → model prompts (text or token ids) with IEPile's 27 chat
            templates, the OneKE wrappers or the model's own chat_template
  infer     a model's answers for a converted test file (local cpu/webgpu engine, llama.cpp, or an
            OpenAI-compatible server), schema-constrained and resumable (IEPile's src/inference.py)
  serve     an OpenAI-compatible server (completions, chat, streaming, JSON-schema answers) on the
            local engine, for any OpenAI client
  inspect   a model folder (and LoRA adapter): architecture, parameters, dtypes, memory, adapter fit
  export-gguf  a Hugging Face model (with its LoRA merged) → GGUF for llama.cpp and Ollama
  perplexity   how well a model predicts texts or records' answers (per text, per token), to
            compare weight formats, adapters and engines
  train     LoRA fine-tuning on converted train records → a PEFT adapter (IEPile's
            src/finetune.py flags), resumable; or a hand-off to LLaMA-Factory for GPU clusters
  extract   a schema and your documents (text files, JSON Lines) → entities, relations and
            events with character offsets; long documents chunked, an HTML page to look at

Run 'iepile <command> --help' for a command's options.

Exit codes: 0 done, 1 bad input, 2 bad usage, 70 internal error; stopped by a signal: 128 + its
number (130 Ctrl-C, 143 SIGTERM), with no temporary file left behind.
`;

/**
 * Run the CLI.
 *
 * @param args the arguments after the program name
 * @param io where to write (default: stdout and stderr)
 * @returns the exit code: 0 success, 1 bad input, 2 bad usage, 70 internal error; a command stopped by a
 *   signal ends with 128 + its number (130 for Ctrl-C, 143 for SIGTERM)
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * let out = "";
 * const code = await main(["--version"], { out: (t) => out += t, err: () => {} });
 * if (code !== 0 || !out.startsWith("iepile ")) throw new Error(out);
 * ```
 */
export async function main(args: string[], io: CliIo = STD_IO): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case undefined:
      case "-h":
      case "--help":
      case "help":
        io.out(await helpFor(rest[0]) ?? MAIN_HELP);
        return 0;
      case "--version":
      case "-V":
        io.out(`iepile ${VERSION}\n`);
        return 0;
      case "convert":
        return await runConvert(rest, io);
      case "stats":
        return await runStats(rest, io);
      case "eval": {
        const { runEval } = await import("./eval/cli_command.ts");
        return await runEval(rest, io);
      }
      case "infer": {
        const { runInfer } = await import("./infer/cli/infer_command.ts");
        return await runInfer(rest, io);
      }
      case "serve": {
        const { runServe } = await import("./infer/cli/serve_command.ts");
        return await runServe(rest, io);
      }
      case "inspect": {
        const { runInspect } = await import("./infer/cli/model_commands.ts");
        return await runInspect(rest, io);
      }
      case "export-gguf": {
        const { runExportGguf } = await import("./infer/cli/model_commands.ts");
        return await runExportGguf(rest, io);
      }
      case "perplexity": {
        const { runPerplexity } = await import("./infer/cli/perplexity_command.ts");
        return await runPerplexity(rest, io);
      }
      case "train": {
        const { runTrain } = await import("./train/cli_command.ts");
        return await runTrain(rest, io);
      }
      case "extract": {
        const { runExtract } = await import("./extract/cli_command.ts");
        return await runExtract(rest, io);
      }
      case "prompt": {
        // Loaded on demand: it brings the tokenizer and Jinja packages, which other commands do not need.
        const { runPrompt } = await import("./templates/cli_command.ts");
        // A GGUF file's tokenizer is read by infer/ (which reads GGUF); folders need only templates/.
        const { loadModelTokenizer } = await import("./infer/model/model_tokenizer.ts");
        return await runPrompt(rest, io, loadModelTokenizer);
      }
      default:
        throw new UsageError(
          `unknown command "${command}"; commands: convert, stats, eval, prompt, infer, serve, inspect, export-gguf, perplexity, train, extract (see 'iepile --help')`,
        );
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`iepile: ${e.message}\n`);
      return 2;
    }
    if (e instanceof InputError) {
      io.err(`iepile: ${e.message}\n`);
      return 1;
    }
    // A bug or an environment problem nobody anticipated: one line, the stack only on request.
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    io.err(`iepile: internal error: ${message.split("\n")[0]}\n`);
    if (envFlag("IEPILE_DEBUG")) io.err(`${(e as Error)?.stack ?? ""}\n`);
    else io.err("iepile: set IEPILE_DEBUG=1 for details, and please report it\n");
    return 70;
  }
}

async function helpFor(command: string | undefined): Promise<string | undefined> {
  if (command === "prompt") return (await import("./templates/cli_command.ts")).PROMPT_HELP;
  if (command === "eval") return (await import("./eval/cli_command.ts")).EVAL_HELP;
  if (command === "infer") return (await import("./infer/cli/infer_command.ts")).INFER_HELP;
  if (command === "serve") return (await import("./infer/cli/serve_command.ts")).SERVE_HELP;
  if (command === "inspect") return (await import("./infer/cli/model_commands.ts")).INSPECT_HELP;
  if (command === "export-gguf") return (await import("./infer/cli/model_commands.ts")).EXPORT_GGUF_HELP;
  if (command === "perplexity") return (await import("./infer/cli/perplexity_command.ts")).PERPLEXITY_HELP;
  if (command === "train") return (await import("./train/cli_command.ts")).TRAIN_HELP;
  if (command === "extract") return (await import("./extract/cli_command.ts")).EXTRACT_HELP;
  const help: Record<string, string> = { convert: CONVERT_HELP, stats: STATS_HELP };
  return command === undefined ? undefined : help[command];
}

function envFlag(name: string): boolean {
  try {
    return Boolean(Deno.env.get(name));
  } catch {
    return false; // no --allow-env
  }
}
