/**
 * The `iepile convert` and `iepile stats` commands: option parsing and output only; the work is
 * in `convert_file.ts` and `stats.ts`.
 *
 * @module
 */

import type { CliIo } from "../io/cli_io.ts";
import { numberOption, optionSpec, parseCommandArgs, requiredOption } from "../io/args.ts";
import { UsageError } from "../io/errors.ts";
import { formatCount, ProgressLine } from "../io/progress.ts";
import { convertFile, type ConvertSummary } from "./convert_file.ts";
import { formatStats, statsFile } from "./stats.ts";

/** Help text of `iepile convert`. */
export const CONVERT_HELP: string = `iepile convert — annotated IE data → IEPile instructions

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

/** Help text of `iepile stats`. */
export const STATS_HELP: string = `iepile stats — what a converted or predictions file holds

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
 * The `iepile convert` command: IEPile's `convert_func.py` flags in, the converted file written
 * atomically, a summary on stderr.
 *
 * @param args the arguments after `convert`
 * @param io where to write (help on `out`; progress and the summary on `err`)
 * @returns the exit code, 0
 * @throws {UsageError} for bad or missing options
 * @throws {InputError} for bad input files
 *
 * @example
 * ```ts
 * import { runConvert } from "./cli_command.ts";
 * let out = "";
 * const code = await runConvert(["--help"], { out: (t) => out += t, err: () => {} });
 * if (code !== 0 || !out.startsWith("iepile convert")) throw new Error(out);
 * ```
 */
export async function runConvert(args: string[], io: CliIo): Promise<number> {
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

/**
 * The `iepile stats` command: what a converted or predictions file holds, as text or JSON.
 *
 * @param args the arguments after `stats`
 * @param io where to write (the description on `out`)
 * @returns the exit code, 0
 * @throws {UsageError} without exactly one file
 * @throws {InputError} for a file that cannot be read as one kind
 *
 * @example
 * ```ts
 * import { runStats } from "./cli_command.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * await Deno.writeTextFile(path, JSON.stringify({ task: "NER", source: "demo", instruction: "{}", output: "{}" }) + "\n");
 * let out = "";
 * const code = await runStats([path, "--json"], { out: (t) => out += t, err: () => {} });
 * if (code !== 0 || JSON.parse(out).kind !== "training") throw new Error(out);
 * await Deno.remove(path);
 * ```
 */
export async function runStats(args: string[], io: CliIo): Promise<number> {
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
