/**
 * The `iepile eval` command: option parsing and output only; the work is in `evaluator.ts`
 * and `report.ts`.
 *
 * @module
 */

import type { CliIo } from "../io/cli_io.ts";
import { optionSpec, parseCommandArgs } from "../io/args.ts";
import { AtomicTextWriter } from "../io/atomic_write.ts";
import { InputError, UsageError } from "../io/errors.ts";
import { getField, isJsonObject } from "../io/json_object.ts";
import { readJsonItems } from "../io/json_items.ts";
import { pyDumpsIndent } from "../io/py_json_indent.ts";
import { parsePyJson } from "../io/py_json_parse.ts";
import { ProgressLine } from "../io/progress.ts";
import { type EvalReport, evaluateFile } from "./evaluator.ts";
import { formatReport, fullReport, referenceLine, referenceOutputMsg, resultJson, taskFitWarnings } from "./report.ts";
import { type EvalTask, type MatchMode, parseEvalTask } from "./tasks.ts";

/** Help text of `iepile eval`. */
export const EVAL_HELP: string = `iepile eval — score model outputs with IEPile's F1 metrics

Usage: iepile eval --path1 PRED.jsonl --task TASK [options]
       iepile eval PRED.jsonl [options]

PRED.jsonl holds the test records written by 'convert --split test' with the model's answer
added as "output" (what 'iepile infer' writes). Records split into several schema batches are
merged back per source + id. Lines where inference failed ("error" field, empty "output") are
counted apart from empty answers; like them they are errors (错误数) with no predicted tuple,
so their records' gold tuples count as missed in recall (a warning says how many).

A file scored as the wrong task is scored as IEPile would score it, with warnings on stderr
(and under "warnings" in --out) when records' "task" field names another task, when answers
of another task's shape outnumber the task's (how many; file, first line, field "output"), and
when RE/SPO/KG gold annotations are of another task's kind (read as ("", "", ""), as IEPile
reads them; file, line, field). A gold annotation NER, EET, EE or EEA cannot read (an RE label
scored as EE), on which IEPile crashes, stops eval with one line naming file, line and field.
Takes IEPile's flags verbatim (kebab-case works too), so 'python ie2instruction/eval_func.py'
can be replaced by 'iepile eval'; the numbers are the reference's (same rounding).

IEPile options:
  --path1 FILE            prediction file (JSON Lines)
  --task TASK             NER, RE, SPO, EE, EET, EEA or KG (default: the first record's "task")
  --match_mode MODE       normal (tuples counted with duplicates, default) or set (distinct)
  --sort_by FIELD         also score per value of a record field (e.g. source)
  --metrics_list f1       the only metric (the reference's rouge crashes; not offered)
  --language, --NAN, --prefix   accepted and ignored, as by the reference

Output (default: readable tables with per-label scores and output statistics):
  --json                  one JSON object: the reference's result ("total" and categories;
                          with --lenient: {"strict": …, "lenient": …})
  --repr                  the reference's last printed line (a Python dict), byte for byte
  --markdown              the tables in Markdown, for papers and READMEs
  --out FILE              write the full report (scores, per label, per scope, output
                          statistics) as JSON, atomically ('-' = standard output)
  --output-msg FILE       write the reference's output_msg file (JSON, indent 4), atomically
                          (the reference always writes <dir>/output_msg/<name>; iepile only on request)

Beyond the reference:
  --lenient               also score with repaired outputs (Markdown fences, text around the
                          JSON, answers cut off mid-way, single quotes, Python literals,
                          trailing commas); strict and lenient are shown side by side
  --skip-unscorable       count outputs the reference crashes on (EE "arguments" that is not an
                          object, a KG value list holding a non-string) as errors, instead of
                          stopping at the first one
  --reference-keys        RE/SPO: read answers by "subject"/"object" only, exactly as the
                          reference (answers with "head"/"tail", the converter's own RE target
                          keys, then score as ("", relation, ""))
  --quiet                 no progress line
  -h, --help              this help

Where the reference is broken, eval does what it evidently meant: EET is scored on (trigger,
type) like NER, SPO on (subject, predicate, object), KG on (entity, attribute, value), and RE/SPO
answers may use "head"/"tail" where "subject"/"object" are missing (see --reference-keys).

Example:
  iepile eval --path1 results/NER_pred.jsonl --task NER --sort_by source --lenient
`;

/** String options: [IEPile name, kebab alias]. */
const STRINGS = [
  ["path1", "path"],
  ["task", "task"],
  ["match_mode", "match-mode"],
  ["sort_by", "sort-by"],
  ["metrics_list", "metrics-list"],
  ["language", "language"],
  ["NAN", "nan"],
  ["prefix", "prefix"],
  ["out", "out"],
  ["output_msg", "output-msg"],
] as const;
const FLAGS = [
  ["json", "json"],
  ["repr", "repr"],
  ["markdown", "markdown"],
  ["lenient", "lenient"],
  ["skip_unscorable", "skip-unscorable"],
  ["reference_keys", "reference-keys"],
  ["quiet", "quiet"],
  ["help", "help"],
] as const;

/**
 * Run `iepile eval` with the arguments after `eval`.
 *
 * @param args the command's arguments
 * @param io where normal output and messages go
 * @returns the exit code (0)
 * @throws {UsageError} for wrong options
 * @throws {InputError} for a missing, empty or malformed prediction file, naming file and line
 *
 * @example
 * ```ts
 * import { runEval } from "./cli_command.ts";
 * const path = await Deno.makeTempFile({ suffix: ".jsonl" });
 * const label = JSON.stringify([{ entity: "Ann", entity_type: "person" }]);
 * await Deno.writeTextFile(path, JSON.stringify({ id: "1", task: "NER", label, output: '{"person": ["Ann"]}' }) + "\n");
 * let out = "";
 * const code = await runEval([path, "--repr"], { out: (t) => out += t, err: () => {} });
 * if (code !== 0 || out !== "{'total': {'总样本数': 1, '错误数': 0, 'P': 100.0, 'R': 100.0, 'F1': 100.0}}\n") throw new Error(out);
 * await Deno.remove(path);
 * ```
 */
export async function runEval(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, optionSpec(STRINGS, FLAGS), "eval");
  const get = (name: string) => values[name];
  const str = (name: string) => get(name) as string | undefined;
  if (get("help")) {
    io.out(EVAL_HELP);
    return 0;
  }

  const flagPath = str("path1");
  if (positionals.length > 1 || (positionals.length === 1 && flagPath !== undefined)) {
    throw new UsageError(`eval: unexpected argument "${positionals[flagPath === undefined ? 1 : 0]}"`);
  }
  const path = flagPath ?? positionals[0];
  if (path === undefined || path === "") {
    throw new UsageError("eval: give the prediction file (--path1 FILE; see 'iepile eval --help')");
  }
  const matchMode = parseMatchMode(str("match_mode"));
  const sortBy = str("sort_by");
  if (sortBy === "") throw new UsageError("eval: --sort_by needs a field name, e.g. --sort_by source");
  checkMetrics(str("metrics_list"));
  const styles = (["json", "repr", "markdown"] as const).filter((f) => get(f));
  if (styles.length > 1) throw new UsageError(`eval: choose one of --${styles.join(", --")}`);

  const taskName = str("task") ?? await taskOfFirstRecord(path);
  const task: EvalTask = parseEvalTask(taskName);

  const quiet = Boolean(get("quiet"));
  let totalBytes: number | undefined;
  try {
    totalBytes = (await Deno.stat(path)).size;
  } catch { /* the reader reports a missing file */ }
  const progress = new ProgressLine("scored", { enabled: quiet ? false : undefined });
  let report: EvalReport;
  try {
    report = await evaluateFile(path, {
      task,
      matchMode,
      sortBy,
      lenient: Boolean(get("lenient")),
      skipUnscorable: Boolean(get("skip_unscorable")),
      referenceKeys: Boolean(get("reference_keys")),
    }, (done, bytesRead) => progress.update({ done, bytesRead, totalBytes }));
  } finally {
    progress.finish();
  }

  for (const w of taskFitWarnings(report)) io.err(`iepile eval: warning: ${w}\n`);

  const outPath = str("out");
  if (outPath !== undefined) await writeText(outPath, pyDumpsIndent(fullReport(report), 2) + "\n", io);
  const msgPath = str("output_msg");
  if (msgPath !== undefined) await writeText(msgPath, referenceOutputMsg(report), io);

  if (styles[0] === "json") io.out(resultJson(report) + "\n");
  else if (styles[0] === "repr") io.out(referenceLine(report) + "\n");
  else if (outPath !== "-" && msgPath !== "-") io.out(formatReport(report, styles[0] ?? "text"));
  return 0;
}

function parseMatchMode(value: string | undefined): MatchMode {
  if (value === undefined || value === "normal") return "normal";
  if (value === "set") return "set";
  throw new UsageError(`eval: --match_mode must be normal or set, got "${value}"`);
}

function checkMetrics(value: string | undefined): void {
  if (value === undefined) return;
  for (const m of value.split(",").map((s) => s.trim())) {
    if (m === "f1") continue;
    if (m === "rouge") {
      throw new UsageError(
        "eval: --metrics_list rouge is not supported (the reference's rouge path crashes before scoring); use f1",
      );
    }
    throw new UsageError(`eval: unknown metric "${m}" in --metrics_list; the metric is f1`);
  }
}

/** The `task` field of the file's first record, for runs without `--task`. */
async function taskOfFirstRecord(path: string): Promise<string> {
  let empty = true;
  for await (const item of readJsonItems(path)) {
    empty = false;
    let record;
    try {
      record = parsePyJson(item.text);
    } catch {
      break; // the evaluation reports the bad line
    }
    const task = isJsonObject(record) ? getField(record, "task") : undefined;
    if (typeof task === "string") return task;
    break;
  }
  if (empty) throw new InputError("no prediction lines (the file is empty)", { file: path });
  throw new UsageError(`eval: give --task (the first record of ${path} has no "task" field)`);
}

async function writeText(path: string, text: string, io: { out(t: string): void }): Promise<void> {
  if (path === "-") {
    io.out(text.endsWith("\n") ? text : text + "\n");
    return;
  }
  const w = await AtomicTextWriter.open(path);
  try {
    await w.write(text);
    await w.commit();
  } catch (e) {
    await w.abort();
    throw e;
  }
}
