/**
 * Turning an `EvalReport` into what people read: the reference's result object (as JSON, as
 * the Python dict line it prints, and as its `output_msg` file), a plain-text table, a Markdown
 * table, and a full JSON report.
 *
 * @module
 */

import { InputError } from "../io/errors.ts";
import type { PyJson } from "../io/py_json.ts";
import { pyDumps, pyFloatRepr, PyNumber } from "../io/py_json.ts";
import { pyDumpsIndent } from "../io/py_json_indent.ts";
import { pyRepr } from "../io/py_repr.ts";
import type { EvalReport, LabelReport, OutputHealth, ScopeCounts, ScopeReport } from "./evaluator.ts";
import { REPAIRS } from "./lenient_json.ts";
import type { MatchCounts } from "./match.ts";
import { prf } from "./round.ts";
import { answerShapeOf, describeFamily, describeShape } from "./shapes.ts";
import { isEventTask } from "./tasks.ts";

/** The reference's result object: `total` (and categories) → metric name → number, in its key order. */
export type ReferenceResult = Map<string, Map<string, number | PyNumber>>;

/**
 * The result object the reference prints and saves: per scope `总样本数`, `错误数` and `P`, `R`,
 * `F1` (EE/EEA: `event_*` and `argument_*`); categories only when `sortBy` was given.
 *
 * @param report the evaluation report
 * @param which `strict` (the reference's numbers, default) or `lenient`
 * @returns the ordered result object (floats as `PyNumber`s so they print like Python's)
 *
 * @example
 * ```ts
 * import { Evaluator, referenceResult } from "./mod.ts";
 * import { pyDumps } from "../io/py_json.ts";
 * const ev = new Evaluator({ task: "NER" });
 * ev.addRecord({ id: "1", label: '[{"entity": "Ann", "entity_type": "person"}]', output: '{"person": ["Ann"]}' }, 1);
 * const got = pyDumps(referenceResult(ev.finish()));
 * if (got !== '{"total": {"总样本数": 1, "错误数": 0, "P": 100.0, "R": 100.0, "F1": 100.0}}') throw new Error(got);
 * ```
 */
export function referenceResult(report: EvalReport, which: "strict" | "lenient" = "strict"): ReferenceResult {
  const result: ReferenceResult = new Map();
  result.set("total", scopeResult(report, report.total, which));
  if (report.sortBy !== undefined) {
    for (const c of report.categories) result.set(c.name, scopeResult(report, c, which));
  }
  return result;
}

function scopeResult(
  report: EvalReport,
  scope: ScopeReport,
  which: "strict" | "lenient",
): Map<string, number | PyNumber> {
  const counts = which === "lenient" && scope.lenient ? scope.lenient : scope.strict;
  const errors = which === "lenient" && report.lenient ? scope.health.lenientErrors : scope.health.errors;
  const m = new Map<string, number | PyNumber>([["总样本数", scope.groups], ["错误数", errors]]);
  const put = (prefix: string, c: MatchCounts) => {
    const s = prf(c.tp, c.pred, c.gold);
    m.set(prefix + "P", float(s.P));
    m.set(prefix + "R", float(s.R));
    m.set(prefix + "F1", float(s.F1));
  };
  if (isEventTask(report.task)) {
    put("event_", counts.main);
    put("argument_", counts.arguments!);
  } else {
    put("", counts.main);
  }
  return m;
}

/** A Python float (so `100.0` does not print as the int `100`). */
function float(x: number): PyNumber {
  return new PyNumber(pyFloatRepr(x), x);
}

/**
 * The line the reference prints last: Python's `repr` of its result dict.
 *
 * @param report the evaluation report
 * @returns the line, without newline
 *
 * @example
 * ```ts
 * import { Evaluator, referenceLine } from "./mod.ts";
 * const ev = new Evaluator({ task: "NER" });
 * ev.addRecord({ id: "1", label: "[]", output: "not json" }, 1);
 * const got = referenceLine(ev.finish());
 * if (got !== "{'total': {'总样本数': 1, '错误数': 1, 'P': 0.0, 'R': 0.0, 'F1': 0.0}}") throw new Error(got);
 * ```
 */
export function referenceLine(report: EvalReport): string {
  return pyRepr(referenceResult(report) as unknown as PyJson);
}

/**
 * The reference's `output_msg/<file>` content: `json.dump(result, indent=4, ensure_ascii=False)`,
 * no trailing newline.
 *
 * @param report the evaluation report
 * @returns the file content
 *
 * @example
 * ```ts
 * import { Evaluator, referenceOutputMsg } from "./mod.ts";
 * const ev = new Evaluator({ task: "NER" });
 * ev.addRecord({ id: "1", label: "[]", output: "{}" }, 1);
 * if (!referenceOutputMsg(ev.finish()).startsWith('{\n    "total": {\n        "总样本数": 1,')) throw new Error();
 * ```
 */
export function referenceOutputMsg(report: EvalReport): string {
  return pyDumpsIndent(referenceResult(report) as unknown as PyJson, 4);
}

/**
 * The result as one JSON line (`eval --json`): the reference's result object, or with
 * `lenient` `{"strict": …, "lenient": …}`.
 *
 * @param report the evaluation report
 * @returns the JSON text, without newline
 *
 * @example
 * ```ts
 * import { Evaluator, resultJson } from "./mod.ts";
 * const ev = new Evaluator({ task: "NER", lenient: true });
 * ev.addRecord({ id: "1", label: '[{"entity": "Ann", "entity_type": "person"}]', output: '{"person": ["Ann"' }, 1);
 * const r = JSON.parse(resultJson(ev.finish()));
 * if (r.strict.total.F1 !== 0 || r.lenient.total.F1 !== 100) throw new Error();
 * ```
 */
export function resultJson(report: EvalReport): string {
  if (!report.lenient) return pyDumps(referenceResult(report) as unknown as PyJson);
  const both = new Map<string, PyJson>([
    ["strict", referenceResult(report, "strict") as unknown as PyJson],
    ["lenient", referenceResult(report, "lenient") as unknown as PyJson],
  ]);
  return pyDumps(both);
}

/**
 * The full report as a JSON-ready value (`eval --out`): settings, the reference result, every
 * scope with counts, P/R/F1 and output statistics, per-label scores, how the file fits the
 * task (`fit`) and the warnings `eval` prints (`warnings`, see {@linkcode taskFitWarnings}).
 *
 * @param report the evaluation report
 * @returns a value for `pyDumps` / `pyDumpsIndent`
 *
 * @example
 * ```ts
 * import { Evaluator, fullReport } from "./mod.ts";
 * import { pyDumps } from "../io/py_json.ts";
 * const ev = new Evaluator({ task: "NER" });
 * ev.addRecord({ id: "1", label: "[]", output: "{}" }, 1);
 * const r = JSON.parse(pyDumps(fullReport(ev.finish())));
 * if (r.scopes[0].name !== "total" || r.scopes[0].outputs.outputs !== 1) throw new Error();
 * ```
 */
export function fullReport(report: EvalReport): PyJson {
  const countsJson = (c: MatchCounts): PyJson => {
    const s = prf(c.tp, c.pred, c.gold);
    return { tp: c.tp, pred: c.pred, gold: c.gold, P: float(s.P), R: float(s.R), F1: float(s.F1) };
  };
  const scopeCountsJson = (c: ScopeCounts): PyJson => {
    const out: Record<string, PyJson> = { [isEventTask(report.task) ? "events" : "tuples"]: countsJson(c.main) };
    if (c.arguments) out.arguments = countsJson(c.arguments);
    return out;
  };
  const scopeJson = (s: ScopeReport): PyJson => {
    const out: Record<string, PyJson> = {
      name: s.name,
      records: s.groups,
      strict: scopeCountsJson(s.strict),
    };
    if (s.lenient) out.lenient = scopeCountsJson(s.lenient);
    out.outputs = { ...s.health, repairs: { ...s.health.repairs } } as unknown as PyJson;
    return out;
  };
  const labelJson = (l: LabelReport): PyJson => {
    const out: Record<string, PyJson> = {
      label: l.label,
      match: l.match === "main" ? (isEventTask(report.task) ? "events" : "tuples") : "arguments",
      strict: countsJson(l.strict),
    };
    if (l.lenient) out.lenient = countsJson(l.lenient);
    return out;
  };
  const out: Record<string, PyJson> = {
    task: report.task,
    match_mode: report.matchMode,
    file: report.file ?? null,
    lines: report.lines,
    sort_by: report.sortBy ?? null,
    category_field: report.categoryField,
    lenient: report.lenient,
    reference_keys: report.referenceKeys,
    result: referenceResult(report) as unknown as PyJson,
  };
  if (report.lenient) out.lenient_result = referenceResult(report, "lenient") as unknown as PyJson;
  out.scopes = [report.total, ...report.categories].map(scopeJson);
  out.labels = report.labels.map(labelJson);
  out.fit = { ...report.fit, otherShapes: { ...report.fit.otherShapes } } as unknown as PyJson;
  out.warnings = taskFitWarnings(report);
  return out;
}

/**
 * What the user should know before trusting the scores, one line each (no prefix, no newline):
 * lines that failed at inference and how they are counted, records that say they are of
 * another task, gold annotations of another task's kind (RE/SPO/KG), and answers shaped as
 * another task's when none or fewer are shaped as this task's. The last two name the file, the
 * first such line and the field, as errors do; the file is still scored as IEPile scores it.
 *
 * @param report the evaluation report
 * @returns the warnings, empty when there is nothing to say
 *
 * @example
 * ```ts
 * import { Evaluator, taskFitWarnings } from "./mod.ts";
 * const ev = new Evaluator({ task: "NER" });
 * ev.addRecord({ id: "1", task: "NER", label: '[{"entity": "Ann", "entity_type": "person"}]', output: "", error: "timeout" }, 1);
 * const [w] = taskFitWarnings(ev.finish());
 * if (!w.startsWith("1 prediction line failed at inference (`error` field; first at line 1: timeout)")) throw new Error(w);
 * ```
 */
export function taskFitWarnings(report: EvalReport): string[] {
  const out: string[] = [];
  const fit = report.fit;
  const failed = report.total.health.inferenceFailed;
  if (failed > 0) {
    const first = fit.firstInferenceError!;
    out.push(
      `${failed} prediction ${failed === 1 ? "line" : "lines"} failed at inference (\`error\` field; first at line ` +
        `${first.line}: ${oneLine(first.message)}): counted as errors (错误数) with no predicted tuple, ` +
        "so their records' gold tuples count as missed in recall",
    );
  }
  if (fit.otherTaskLines > 0) {
    const first = fit.firstOtherTask!;
    out.push(
      `scored as ${report.task}, but ${fit.otherTaskLines} of ${report.lines} lines say "task": ` +
        `${JSON.stringify(first.task)} (first at line ${first.line})`,
    );
  }
  const where = (line: number, field: string) => new InputError("", { file: report.file, line, field }).message;
  const rightTask = `is --task ${report.task} right?`;
  if (fit.firstForeignLabel !== null) {
    const first = fit.firstForeignLabel;
    const n = fit.foreignLabels;
    out.push(
      `${where(first.line, first.field)}${n} gold ${n === 1 ? "annotation has" : "annotations have"} no ` +
        `\`head\`, \`relation\` or \`tail\` (the first is ${describeFamily(first.family)}): scored as ` +
        `("", "", ""), as IEPile does, which no answer matches; ${rightTask}`,
    );
  }
  if (fit.firstOtherShape !== null) {
    const others = Object.values(fit.otherShapes).reduce((a, b) => a + b, 0);
    if (fit.fittingAnswers === 0 || others > fit.fittingAnswers) {
      const first = fit.firstOtherShape;
      // Records that say they are of this task: the model answered in the wrong shape.
      const why = fit.taskLines > fit.otherTaskLines
        ? `the records say "task": "${report.task}", so the model answered in another task's shape`
        : rightTask;
      out.push(
        `${where(first.line, "output")}${others} of ${others + fit.fittingAnswers} answers are not shaped as ` +
          `${describeShape(answerShapeOf(report.task))} (the first is shaped as ${describeShape(first.shape)}): ` +
          `scored as IEPile scores them; ${why}`,
      );
    }
  }
  return out;
}

/** A message on one line, at most 120 characters. */
function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 120 ? flat.slice(0, 119) + "…" : flat;
}

/** Output style of {@linkcode formatReport}. */
export type ReportStyle = "text" | "markdown";

/**
 * A readable report: scores per scope (total, then categories when there are several or
 * `sortBy` was given), per label, and how the outputs fared; strict and lenient side by side.
 *
 * @param report the evaluation report
 * @param style `text` (aligned columns, default) or `markdown` (tables for papers)
 * @returns the report text, ending with a newline
 *
 * @example
 * ```ts
 * import { Evaluator, formatReport } from "./mod.ts";
 * const ev = new Evaluator({ task: "NER" });
 * ev.addRecord({ id: "1", label: '[{"entity": "Ann", "entity_type": "person"}]', output: '{"person": ["Ann", "Bo"]}' }, 1);
 * const text = formatReport(ev.finish(), "markdown");
 * if (!text.includes("| total | 1 | 0 | 2 | 1 | 1 | 50.00 | 100.00 | 66.67 |")) throw new Error(text);
 * ```
 */
export function formatReport(report: EvalReport, style: ReportStyle = "text"): string {
  const events = isEventTask(report.task);
  const lenient = report.lenient;
  const parts: string[] = [];
  const where = report.file !== undefined ? ` of ${report.file}` : "";
  const head = `${report.task}, match mode ${report.matchMode}: ${report.total.groups} records from ` +
    `${report.lines} prediction lines${where}`;
  parts.push(style === "markdown" ? `**${head}**` : head);

  // Scores per scope.
  const showCategories = report.sortBy !== undefined || report.categories.length > 1;
  const scopes = showCategories ? [report.total, ...report.categories] : [report.total];
  const header = ["scope", "records", "errors"];
  if (events) header.push("match");
  header.push(...COUNT_HEADERS);
  if (lenient) header.push("lenient errors", ...LENIENT_HEADERS);
  const rows: string[][] = [];
  for (const s of scopes) {
    const matches: Array<["main" | "arguments", string]> = events
      ? [["main", "events"], ["arguments", "arguments"]]
      : [["main", ""]];
    matches.forEach(([m, name], i) => {
      const row = i === 0 ? [s.name, String(s.groups), String(s.health.errors)] : ["", "", ""];
      if (events) row.push(name);
      row.push(...countCells(s.strict[m]!));
      if (lenient) row.push(i === 0 ? String(s.health.lenientErrors) : "", ...lenientCells(s.lenient![m]!));
      rows.push(row);
    });
  }
  const title = showCategories ? `Scores by ${report.categoryField}` : "Scores";
  parts.push(table(title, header, rows, style));

  // Per label.
  if (report.labels.length > 0) {
    const lheader = events ? ["match", "label"] : ["label"];
    lheader.push(...COUNT_HEADERS);
    if (lenient) lheader.push(...LENIENT_HEADERS);
    const lrows = report.labels.map((l) => {
      const row = events ? [l.match === "main" ? "events" : "arguments", l.label] : [l.label];
      row.push(...countCells(l.strict));
      if (lenient) row.push(...lenientCells(l.lenient!));
      return row;
    });
    const what = events ? "event type (events) and role (arguments)" : labelName(report);
    parts.push(table(`Scores by ${what}, all records`, lheader, lrows, style));
  }

  // Output health.
  parts.push(table("Outputs (prediction lines)", ["", "count"], healthRows(report.total.health, lenient), style));
  return parts.join("\n\n") + "\n";
}

const COUNT_HEADERS = ["pred", "gold", "correct", "P", "R", "F1"];
const LENIENT_HEADERS = ["lenient pred", "lenient correct", "lenient P", "lenient R", "lenient F1"];

function countCells(c: MatchCounts): string[] {
  const s = prf(c.tp, c.pred, c.gold);
  return [String(c.pred), String(c.gold), String(c.tp), s.P.toFixed(2), s.R.toFixed(2), s.F1.toFixed(2)];
}

function lenientCells(c: MatchCounts): string[] {
  const s = prf(c.tp, c.pred, c.gold);
  return [String(c.pred), String(c.tp), s.P.toFixed(2), s.R.toFixed(2), s.F1.toFixed(2)];
}

function labelName(report: EvalReport): string {
  switch (report.task) {
    case "NER":
      return "entity type";
    case "EET":
      return "event type";
    case "KG":
      return "attribute";
    default:
      return "relation";
  }
}

function healthRows(h: OutputHealth, lenient: boolean): string[][] {
  const rows: string[][] = [
    ["all output lines", String(h.outputs)],
    ["not valid JSON", String(h.invalidJson)],
    ["empty", String(h.empty)],
  ];
  if (h.inferenceFailed > 0) rows.push(["failed at inference (`error` field)", String(h.inferenceFailed)]);
  rows.push(["valid JSON but not an object", String(h.notObject)]);
  if (h.unscorable > 0) rows.push(["shapes the reference crashes on (counted as errors)", String(h.unscorable)]);
  rows.push(
    ["errors (the reference's 错误数)", String(h.errors)],
    ["keys outside the asked schema", String(h.offSchema)],
    ...(h.otherShape > 0 ? [["shaped as another task's answers", String(h.otherShape)]] : []),
    ["nothing extracted", String(h.nothingExtracted)],
    ["values of the wrong shape skipped", String(h.skippedValues)],
  );
  if (h.schemaUnknown > 0) rows.push(["instruction without a readable schema (not checked)", String(h.schemaUnknown)]);
  if (lenient) {
    const used = REPAIRS.filter((r) => h.repairs[r] > 0).map((r) => `${r} ${h.repairs[r]}`).join(", ");
    rows.push(["read only after repair (--lenient)" + (used ? `: ${used}` : ""), String(h.repaired)]);
    rows.push(["still unreadable with --lenient", String(h.lenientErrors)]);
  }
  return rows;
}

/** Columns whose cells are all numbers (or empty) are right-aligned, the others left-aligned. */
function table(title: string, header: string[], rows: string[][], style: ReportStyle): string {
  const numeric = header.map((_, i) => rows.every((r) => r[i] === undefined || /^(-?\d+(\.\d+)?)?$/.test(r[i])));
  if (style === "markdown") {
    const esc = (s: string) => s.replaceAll("|", "\\|");
    const line = (cells: string[]) => "| " + cells.map(esc).join(" | ") + " |";
    const align = numeric.map((n) => (n ? "---:" : "---"));
    return [`${title}:`, "", line(header), "| " + align.join(" | ") + " |", ...rows.map(line)].join("\n");
  }
  const widths = header.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ""))));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => {
      const pad = " ".repeat(widths[i] - displayWidth(c));
      return numeric[i] ? pad + c : c + pad;
    }).join("  ").trimEnd();
  return [`${title}:`, fmt(header), ...rows.map(fmt)].join("\n");
}

/** Terminal columns of a string: East Asian wide and fullwidth characters take two. */
function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (/\p{Mn}|\p{Me}|\p{Cf}/u.test(ch)) continue;
    w += (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf) || (c >= 0xac00 && c <= 0xd7a3) ||
        (c >= 0xf900 && c <= 0xfaff) || (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
        (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) || (c >= 0x1f900 && c <= 0x1f9ff) ||
        (c >= 0x20000 && c <= 0x3fffd)
      ? 2
      : 1;
  }
  return w;
}
