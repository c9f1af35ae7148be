/**
 * The `iepile` command line: argument parsing and sub-command dispatch. Every error the tools
 * raise on bad input becomes one line on stderr and a non-zero exit code.
 *
 * @module
 */

import { numberOption, optionSpec, parseCommandArgs, requiredOption } from "./io/args.ts";
import { InputError, UsageError } from "./io/errors.ts";
import { formatCount, ProgressLine } from "./io/progress.ts";
import { convertFile, type ConvertSummary } from "./convert/convert_file.ts";
import { formatStats, statsFile } from "./convert/stats.ts";
import denoConfig from "./deno.json" with { type: "json" };

/** The package version. */
export const VERSION: string = denoConfig.version;

/** Where the CLI writes (replaceable in tests). */
export interface CliIo {
  /** Normal output. */
  out(text: string): void;
  /** Messages, summaries and errors. */
  err(text: string): void;
}

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

Run 'iepile <command> --help' for a command's options.

Exit codes: 0 done, 1 bad input, 2 bad usage, 70 internal error; stopped by a signal: 128 + its
number (130 Ctrl-C, 143 SIGTERM), with no temporary file left behind.
`;

const CONVERT_HELP = `iepile convert — annotated IE data → IEPile instructions

Usage: iepile convert --src_path IN.json --tgt_path OUT.json --schema_path SCHEMA.json --task TASK [options]

Takes IEPile's flags verbatim (kebab-case works too: --src-path …), so an IEPile script runs by
replacing 'python ie2instruction/convert_func.py' with 'iepile convert'.

Input and output:
  --src_path FILE         annotated records, JSON Lines (or one JSON array); its parent folder's name
                          becomes "source" (data/NER/sample.json → NER)
  --tgt_path FILE         output JSON Lines, written atomically ('-' = standard output)
  --schema_path FILE      three JSON lines: type list, role list, type → roles object
  --source NAME           set "source" instead of deriving it from --src_path

IEPile options:
  --task TASK             NER, RE, SPO, EE, EET, EEA or KG (default NER)
  --language zh|en        instruction language (default zh)
  --split train|test      train: with targets ("output"); test: with ids and "label" (default train)
  --split_num N           schemas per instruction, -1 = all in one (default 4; IEPile suggests
                          NER 6, RE/EE/EET/EEA 4, KG 1)
  --neg_schema P          probability of keeping each negative schema, in [0, 1] (default 1)
  --random_sort           shuffle schemas instead of sorting them
  --cluster_mode          hard-negative sampling (train; NER, RE, SPO, EE, EET)
  --hard_negative_path F  {schema key: [hard negatives]} file for --cluster_mode
  --hard-negative-key K   use the inner dictionary K (e.g. NER/MSRA) of a nested file like
                          IEPile's hard_dict.json

Reproducibility:
  --hash-seed N           reproduce the output of PYTHONHASHSEED=N python3 convert_func.py
                          (Python set order decides schema order; default 0)

Run control:
  --skip-invalid          skip invalid records (reported with counts) instead of stopping
  --quiet                 no progress line and no summary
  -h, --help              this help

Example:
  iepile convert --src_path data/NER/sample.json --tgt_path out/NER_train.json \\
    --schema_path data/NER/schema.json --task NER --language en --split_num 6 --split train
`;

const STATS_HELP = `iepile stats — what a converted or predictions file holds

Usage: iepile stats FILE [--json]

Reads the kind of file from its lines and describes it as such:
  training     'convert --split train' output ("output" holds the target)
  test         'convert --split test' output (no "output"; "label" holds the gold)
  predictions  'infer' output: test records with the model's answer in "output", or an
               "error" where inference failed
Every kind: instructions per task, source and language, schema items per instruction, text
sizes. Training adds the positive : negative balance of schema items (IEPile suggests 1:2 to
1:3) and the share of all-negative instructions. Test and predictions add the gold annotations.
Predictions add how the answers read: JSON objects, keys outside the asked schema, not valid
JSON, empty, and lines that failed at inference (with the first error).
A file mixing kinds is refused, naming the first line of another kind.
--json prints the same as one JSON object ("kind" is "training", "test" or "predictions").
`;

/** String options of `convert`: [IEPile name, kebab alias]. */
const CONVERT_STRINGS = [
  ["src_path", "src-path"],
  ["tgt_path", "tgt-path"],
  ["schema_path", "schema-path"],
  ["hard_negative_path", "hard-negative-path"],
  ["hard_negative_key", "hard-negative-key"],
  ["language", "language"],
  ["task", "task"],
  ["split", "split"],
  ["split_num", "split-num"],
  ["neg_schema", "neg-schema"],
  ["hash_seed", "hash-seed"],
  ["source", "source"],
] as const;
const CONVERT_FLAGS = [
  ["random_sort", "random-sort"],
  ["cluster_mode", "cluster-mode"],
  ["skip_invalid", "skip-invalid"],
  ["quiet", "quiet"],
  ["help", "help"],
] as const;

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
        const { runInfer } = await import("./infer/predict/cli_command.ts");
        return await runInfer(rest, io);
      }
      case "serve": {
        const { runServe } = await import("./infer/serve/cli_command.ts");
        return await runServe(rest, io);
      }
      case "inspect": {
        const { runInspect } = await import("./infer/cli_command.ts");
        return await runInspect(rest, io);
      }
      case "export-gguf": {
        const { runExportGguf } = await import("./infer/cli_command.ts");
        return await runExportGguf(rest, io);
      }
      case "prompt": {
        // Loaded on demand: it brings the tokenizer and Jinja packages, which other commands do not need.
        const { runPrompt } = await import("./templates/cli_command.ts");
        return await runPrompt(rest, io);
      }
      default:
        throw new UsageError(
          `unknown command "${command}"; commands: convert, stats, eval, prompt, infer, serve, inspect, export-gguf (see 'iepile --help')`,
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
  if (command === "infer") return (await import("./infer/predict/cli_command.ts")).INFER_HELP;
  if (command === "serve") return (await import("./infer/serve/cli_command.ts")).SERVE_HELP;
  if (command === "inspect") return (await import("./infer/cli_command.ts")).INSPECT_HELP;
  if (command === "export-gguf") return (await import("./infer/cli_command.ts")).EXPORT_GGUF_HELP;
  const help: Record<string, string> = { convert: CONVERT_HELP, stats: STATS_HELP };
  return command === undefined ? undefined : help[command];
}

async function runConvert(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, optionSpec(CONVERT_STRINGS, CONVERT_FLAGS), "convert");
  const get = (name: string) => values[name];
  if (get("help")) {
    io.out(CONVERT_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`convert: unexpected argument "${positionals[0]}"`);
  const srcPath = requiredOption(values, "src_path", "convert");
  const tgtPath = requiredOption(values, "tgt_path", "convert");
  const schemaPath = requiredOption(values, "schema_path", "convert");
  const quiet = Boolean(get("quiet"));
  const progress = new ProgressLine("converted", { enabled: !quiet && tgtPath !== "-" ? undefined : false });
  let summary: ConvertSummary;
  try {
    summary = await convertFile({
      srcPath,
      tgtPath,
      schemaPath,
      hardNegativePath: get("hard_negative_path") as string | undefined,
      hardNegativeKey: get("hard_negative_key") as string | undefined,
      task: (get("task") as string | undefined) ?? "NER",
      language: get("language") as string | undefined,
      split: get("split") as string | undefined,
      splitNum: numberOption(get("split_num"), "split_num", "integer"),
      negSchema: numberOption(get("neg_schema"), "neg_schema", "number"),
      hashSeed: numberOption(get("hash_seed"), "hash-seed", "integer"),
      source: get("source") as string | undefined,
      randomSort: Boolean(get("random_sort")),
      clusterMode: Boolean(get("cluster_mode")),
      skipInvalid: Boolean(get("skip_invalid")),
      onProgress: (u) => progress.update(u),
    });
  } finally {
    progress.finish();
  }
  if (!quiet) io.err(formatSummary(summary, tgtPath));
  return 0;
}

function formatSummary(s: ConvertSummary, tgtPath: string): string {
  const n = formatCount;
  const rate = s.seconds > 0 ? ` in ${s.seconds.toFixed(2)} s (${n(Math.round(s.records / s.seconds))} records/s)` : "";
  let text = `converted ${n(s.records)} records → ${n(s.instructions)} instructions in ${tgtPath}${rate}\n`;
  if (s.withoutInstruction > 0) {
    text +=
      `  ${n(s.withoutInstruction)} record${
        s.withoutInstruction === 1 ? "" : "s"
      } yield no instruction, as in IEPile ` +
      `(EEA records without events; records without positives at --neg_schema 0)\n`;
  }
  if (s.skipped > 0) {
    text += `  skipped ${n(s.skipped)} invalid records:\n`;
    for (const [reason, count] of s.skipReasons) text += `    ${n(count)} × ${reason}\n`;
    text += `  first: ${s.skipExamples[0]}\n`;
  }
  return text;
}

async function runStats(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    "stats",
  );
  if (values.help) {
    io.out(STATS_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError("stats: give one converted or predictions file (see 'iepile stats --help')");
  }
  const stats = await statsFile(positionals[0]);
  io.out(values.json ? JSON.stringify(stats, null, 2) + "\n" : formatStats(stats, positionals[0]) + "\n");
  return 0;
}

function envFlag(name: string): boolean {
  try {
    return Boolean(Deno.env.get(name));
  } catch {
    return false; // no --allow-env
  }
}
