/**
 * The evaluation run: prediction lines in, merged per record, scored per task, summed into
 * micro counts per scope (all records, and per category such as `source`), per label, and with
 * counts of the ways outputs fail. Streaming: only the per-record tuple counts are kept.
 *
 * @module
 */

import { compareCodePoints } from "../io/code_points.ts";
import { InputError } from "../io/errors.ts";
import { readJsonItemBatches } from "../io/json_items.ts";
import { getField, isJsonObject, type JsonObject } from "../io/json_object.ts";
import type { PyJson } from "../io/py_json.ts";
import { JsonSyntaxError, parsePyJson } from "../io/py_json_parse.ts";
import {
  extractInto,
  type Extraction,
  type ExtractOptions,
  jsonKind,
  type TupleSet,
  UnscorableOutputError,
} from "./extract.ts";
import { goldTuples } from "./gold.ts";
import { predictionLine } from "./groups.ts";
import { type Repair, REPAIRS } from "./lenient_json.ts";
import type { MatchCounts } from "./match.ts";
import { parseJsonAsPython, parseOutput, readOutputObject } from "./parse_output.ts";
import { SchemaKeyReader } from "./schema_keys.ts";
import { type AnswerShape, answerShape, answerShapeOf, type LabelFamily } from "./shapes.ts";
import { type EvalTask, isEventTask, type MatchMode } from "./tasks.ts";
import { type BagSide, TupleBag } from "./tuple_bag.ts";

/** What to evaluate and how. */
export interface EvalOptions {
  /** The task (decides how outputs and labels are read). */
  task: EvalTask;
  /** `normal` (multisets, default) or `set` (distinct tuples per record). */
  matchMode?: MatchMode;
  /** Record field whose value splits the results into categories, as the reference's `--sort_by` (e.g. `source`). */
  sortBy?: string;
  /** Also score with repaired outputs (see `repairJson`), reported beside the strict scores. */
  lenient?: boolean;
  /** Count outputs the reference crashes on (EE `arguments` not an object, …) as errors instead of stopping. */
  skipUnscorable?: boolean;
  /** RE/SPO: read only `subject`/`object`, as the reference does (default false: `head`/`tail` accepted too). */
  referenceKeys?: boolean;
  /** File name used in error messages. */
  file?: string;
  /**
   * Score a record as soon as a line of another record follows it, and keep only a 52-bit hash
   * of its id (flat memory for files whose records' lines are adjacent, as `convert` and `infer`
   * write them). A later line of a record scored so throws {@linkcode RecordRevisitedError};
   * `evaluateFile` then scores the file again keeping every record. Default false.
   */
  foldFinishedRecords?: boolean;
}

/**
 * Thrown by an {@linkcode Evaluator} with `foldFinishedRecords` when a line belongs to a record
 * already scored (its lines are not adjacent): the file must be scored keeping every record.
 *
 * @example
 * ```ts
 * import { Evaluator, RecordRevisitedError } from "./evaluator.ts";
 * const ev = new Evaluator({ task: "NER", foldFinishedRecords: true });
 * const line = (id: string) => ({ id, label: "[]", output: "{}" });
 * ev.addRecord(line("a"), 1);
 * ev.addRecord(line("b"), 2);
 * try { ev.addRecord(line("a"), 3); throw new Error("no error"); } catch (e) { if (!(e instanceof RecordRevisitedError)) throw e; }
 * ```
 */
export class RecordRevisitedError extends Error {
  /**
   * A record's lines are not adjacent.
   *
   * @param line the line that comes back to an earlier record
   */
  constructor(line: number) {
    super(`line ${line} belongs to a record whose lines ended earlier`);
    this.name = "RecordRevisitedError";
  }
}

/** Counts of the two matches of a scope (`arguments` only for EE and EEA). */
export interface ScopeCounts {
  /** The task's single match, or the event match of EE/EEA. */
  main: MatchCounts;
  /** The argument match of EE/EEA. */
  arguments?: MatchCounts;
}

/** How the outputs (lines) of a scope fared. */
export interface OutputHealth {
  /** Output lines. */
  outputs: number;
  /** Lines the reference counts in `错误数`: `invalidJson + empty + inferenceFailed + notObject (+ unscorable)`. */
  errors: number;
  /** Not valid JSON (Python `json.loads` fails). */
  invalidJson: number;
  /** Empty or blank output text from the model. */
  empty: number;
  /**
   * Lines whose inference failed: an `error` field beside an empty `output`, as `infer` writes
   * them. Counted as errors with no predicted tuple; their record's gold tuples still count.
   */
  inferenceFailed: number;
  /** Valid JSON but not an object. */
  notObject: number;
  /** Shapes the reference crashes on, counted as errors (only with `skipUnscorable`). */
  unscorable: number;
  /** Objects with at least one top-level key outside the schema asked in the line's instruction. */
  offSchema: number;
  /** Objects shaped as another task's answers (an RE answer scored as NER, …). */
  otherShape: number;
  /** Lines whose instruction has no readable schema (not checked for `offSchema`). */
  schemaUnknown: number;
  /** Objects that gave no tuple at all. */
  nothingExtracted: number;
  /** Values or items of the wrong shape skipped inside otherwise readable outputs. */
  skippedValues: number;
  /** With `lenient`: lines still unreadable after repair (the lenient `错误数`). */
  lenientErrors: number;
  /** With `lenient`: lines read only thanks to a repair. */
  repaired: number;
  /** With `lenient`: how often each repair was needed. */
  repairs: Record<Repair, number>;
}

/** Results of one scope: all records (`total`) or one category. */
export interface ScopeReport {
  /** `total`, or the category value. */
  name: string;
  /** Records (merged groups), the reference's `总样本数`. */
  groups: number;
  /** Output statistics. */
  health: OutputHealth;
  /** Match counts from strictly parsed outputs (the reference's numbers). */
  strict: ScopeCounts;
  /** Match counts when repaired outputs count too (with `lenient`). */
  lenient?: ScopeCounts;
}

/** Results of one label: an entity type, relation, event type (events) or role (arguments). */
export interface LabelReport {
  /** The label. */
  label: string;
  /** `main` (the task's match, or events) or `arguments`. */
  match: "main" | "arguments";
  /** Strict counts. */
  strict: MatchCounts;
  /** Lenient counts (with `lenient`). */
  lenient?: MatchCounts;
}

/** Everything an evaluation found. */
export interface EvalReport {
  /** The task. */
  task: EvalTask;
  /** The match mode. */
  matchMode: MatchMode;
  /** The field categories come from (`sortBy`, else `source`). */
  categoryField: string;
  /** Whether categories were asked for (`sortBy` given): only then does the reference result list them. */
  sortBy?: string;
  /** Whether lenient scores were computed. */
  lenient: boolean;
  /** Whether RE/SPO items were read by `subject`/`object` only, as the reference does. */
  referenceKeys: boolean;
  /** The input file, when known. */
  file?: string;
  /** Prediction lines read. */
  lines: number;
  /** All records. */
  total: ScopeReport;
  /** Per category, sorted by code point (as Python sorts strings). */
  categories: ScopeReport[];
  /** Per label over all records, sorted by match then label. */
  labels: LabelReport[];
  /** How the file's records fit the task they were scored as. */
  fit: TaskFit;
}

/**
 * How the records of a file fit the task they are scored as. None of this stops an evaluation:
 * a file is scored as IEPile's evaluator scores it, and these counts feed the warnings.
 */
export interface TaskFit {
  /** Lines with a string `task` field. */
  taskLines: number;
  /** Lines whose `task` field names another task. */
  otherTaskLines: number;
  /** The first line whose `task` field names another task, and that task. */
  firstOtherTask: { line: number; task: string } | null;
  /** Answers shaped as the scored task's answers are. */
  fittingAnswers: number;
  /** Answers shaped as another task's, per shape. */
  otherShapes: Partial<Record<AnswerShape, number>>;
  /** The first answer shaped as another task's: its line and shape. */
  firstOtherShape: { line: number; shape: AnswerShape } | null;
  /** RE/SPO/KG gold annotations of another task's family, scored as the triple `("", "", "")`. */
  foreignLabels: number;
  /** The first such annotation: its line, field (`label[i]`) and family. */
  firstForeignLabel: { line: number; field: string; family: LabelFamily } | null;
  /** The first line that failed at inference: its number and `error` text. */
  firstInferenceError: { line: number; message: string } | null;
}

interface Group {
  category: string;
  health: OutputHealth;
  /** The task's single match, or events. */
  main: TupleBag;
  /** EE/EEA: arguments. */
  args: TupleBag | undefined;
}

/**
 * An evaluation in progress: feed it prediction lines in file order, then call `finish()`.
 *
 * @example
 * ```ts
 * import { Evaluator } from "./evaluator.ts";
 * const ev = new Evaluator({ task: "NER" });
 * const label = JSON.stringify([{ entity: "Ann", entity_type: "person" }]);
 * ev.addLine(JSON.stringify({ id: "1", source: "demo", label, output: '{"person": ["Ann", "Bo"]}' }), 1);
 * ev.addLine(JSON.stringify({ id: "1", source: "demo", label, output: '{"place": [' }), 2);
 * const r = ev.finish();
 * if (r.total.groups !== 1 || r.total.health.errors !== 1) throw new Error();
 * if (JSON.stringify(r.total.strict.main) !== '{"tp":1,"pred":2,"gold":1}') throw new Error();
 * ```
 */
export class Evaluator {
  readonly #task: EvalTask;
  readonly #mode: MatchMode;
  readonly #sortBy?: string;
  readonly #lenient: boolean;
  readonly #skipUnscorable: boolean;
  readonly #headTail: boolean;
  readonly #file?: string;
  readonly #events: boolean;
  readonly #schemas: SchemaKeyReader;
  readonly #mainArity: number;
  readonly #extractOptions: ExtractOptions;
  /** Groups by `source + id`, in first-appearance order. */
  readonly #groups = new Map<string, Group>();
  #lastId: string | undefined = undefined;
  #lastSource: string | undefined = undefined;
  #lastGroup: Group | undefined;
  /** `source + id` of `#lastGroup` when folding. */
  #lastKey: string | undefined = undefined;
  #lastCategory: string | undefined = undefined;
  #lastHealth: OutputHealth | undefined = undefined;
  /** Reused for every output's tuples. */
  readonly #scratch: Extraction = { tuples: [], arguments: [], skipped: 0 };
  readonly #health = new Map<string, OutputHealth>();
  readonly #shape: AnswerShape;
  readonly #fit: TaskFit = {
    taskLines: 0,
    otherTaskLines: 0,
    firstOtherTask: null,
    fittingAnswers: 0,
    otherShapes: {},
    firstOtherShape: null,
    foreignLabels: 0,
    firstForeignLabel: null,
    firstInferenceError: null,
  };
  #lines = 0;
  #finished = false;
  readonly #fold: boolean;
  /** Hashes of the records already scored (with `foldFinishedRecords`). */
  readonly #folded = new HashSet52();
  /** Scores by category and by label, filled as records are scored. */
  readonly #scopes = new Map<string, ScopeReport>();
  #lastScope: ScopeReport | undefined = undefined;
  /** Per-label counts of the main match and of the argument match, by label. */
  readonly #mainLabels = new LabelTable();
  readonly #argLabels = new LabelTable();

  /**
   * Start an evaluation.
   *
   * @param options task, match mode and reporting options
   */
  constructor(options: EvalOptions) {
    this.#task = options.task;
    this.#mode = options.matchMode ?? "normal";
    this.#sortBy = options.sortBy;
    this.#lenient = options.lenient ?? false;
    this.#skipUnscorable = options.skipUnscorable ?? false;
    this.#headTail = !(options.referenceKeys ?? false);
    this.#extractOptions = { headTail: this.#headTail };
    this.#file = options.file;
    this.#events = isEventTask(options.task);
    this.#schemas = new SchemaKeyReader(options.task);
    this.#mainArity = options.task === "NER" || options.task === "EET" || this.#events ? 2 : 3;
    this.#shape = answerShapeOf(options.task);
    this.#fold = options.foldFinishedRecords ?? false;
  }

  /** Prediction lines added so far. */
  get lines(): number {
    return this.#lines;
  }

  /**
   * Add one prediction line given as JSON text.
   *
   * @param text the line
   * @param line its 1-based line number (for messages)
   * @throws {InputError} when the line is not a JSON object or a record field is wrong
   *
   * @example
   * ```ts
   * import { Evaluator } from "./evaluator.ts";
   * import { InputError } from "../io/errors.ts";
   * try {
   *   new Evaluator({ task: "NER", file: "p.jsonl" }).addLine("{oops", 3);
   *   throw new Error("no error");
   * } catch (e) {
   *   if (!(e instanceof InputError) || !e.message.startsWith("p.jsonl:3: invalid JSON")) throw e;
   * }
   * ```
   */
  addLine(text: string, line: number): void {
    let value: PyJson;
    try {
      value = JSON.parse(text);
    } catch {
      try {
        value = parsePyJson(text); // NaN / Infinity, as Python reads them
      } catch (e) {
        const why = e instanceof JsonSyntaxError ? e.message : "invalid JSON";
        throw new InputError(why, { file: this.#file, line });
      }
    }
    if (!isJsonObject(value)) {
      throw new InputError(`a prediction line must be a JSON object, got ${jsonKind(value)}`, {
        file: this.#file,
        line,
      });
    }
    this.addRecord(value, line);
  }

  /**
   * Add one parsed prediction record.
   *
   * @param record the record: `id`, `output`, `label` (first line of a record), optional `source`,
   *   `instruction`, `task` (compared with the scored task) and `error` (inference failed)
   * @param line its 1-based line number (for messages)
   * @throws {InputError} when a record field is wrong, or an output has a shape the reference crashes on
   *
   * @example
   * ```ts
   * import { Evaluator } from "./evaluator.ts";
   * const ev = new Evaluator({ task: "RE" });
   * ev.addRecord({ id: "1", label: '[{"head": "Ann", "relation": "born in", "tail": "Oslo"}]', output: '{"born in": [{"head": "Ann", "tail": "Oslo"}]}' }, 1);
   * if (ev.finish().total.strict.main.tp !== 1) throw new Error("head/tail keys are accepted");
   * ```
   */
  addRecord(record: JsonObject, line: number): void {
    if (this.#finished) throw new Error("evaluation already finished");
    this.#lines++;
    // The fields, read directly from the usual plain object (predictionLine checks them otherwise).
    let id, source, output;
    if (record instanceof Map) {
      id = undefined;
    } else {
      id = record.id;
      source = record.source ?? "None";
      output = record.output;
    }
    if (typeof id !== "string" || typeof source !== "string" || typeof output !== "string") {
      try {
        ({ id, source, output } = predictionLine(record));
      } catch (e) {
        throw e instanceof InputError ? e.at({ file: this.#file, line }) : e;
      }
    }
    let group: Group | undefined;
    if (id === this.#lastId && source === this.#lastSource) {
      group = this.#lastGroup!; // the batches of a record usually come one after another
    } else {
      const key = source + id;
      if (this.#fold) {
        // Folding keeps only the open record, in the fields below rather than in `#groups`: a map
        // entry per record made every young-generation collection copy the records around it.
        group = key === this.#lastKey ? this.#lastGroup! : undefined;
        if (group === undefined) {
          // The previous record is complete (unless the file comes back to it: then start over).
          // The open record's hash is in the set already, from its first line, so one probe
          // both checks and records the new one.
          if (!this.#folded.addNew(keyHash(key))) throw new RecordRevisitedError(line);
          this.#foldLast();
          group = this.#newGroup(record, source, line);
          this.#lastKey = key;
        }
      } else {
        group = this.#groups.get(key);
        if (group === undefined) {
          group = this.#newGroup(record, source, line);
          this.#groups.set(key, group);
        }
      }
      this.#lastId = id;
      this.#lastSource = source;
      this.#lastGroup = group;
    }
    const health = group.health;
    health.outputs++;
    const task = record instanceof Map ? record.get("task") : record.task;
    if (typeof task === "string") this.#noteTask(task, line);

    // Read the output: strictly, then (if asked and needed) with repairs.
    let value: JsonObject | undefined;
    let lenientOnly = false;
    const strict = readOutputObject(output);
    if (typeof strict !== "string") {
      value = strict;
    } else {
      health.errors++;
      if (strict === "invalid-json") health.invalidJson++;
      else if (strict === "empty") this.#noteEmpty(record, health, line);
      else health.notObject++;
      if (this.#lenient) {
        const repaired = parseOutput(output, { lenient: true });
        if (repaired.ok) {
          value = repaired.value;
          lenientOnly = true;
          health.repaired++;
          for (const r of repaired.repairs) health.repairs[r]++;
        } else {
          health.lenientErrors++;
        }
      }
    }
    if (value === undefined) return;
    if (this.#otherShape(value, line) && !lenientOnly) health.otherShape++;

    const tuples = this.#scratch;
    tuples.tuples.length = 0;
    tuples.arguments.length = 0;
    tuples.skipped = 0;
    try {
      extractInto(this.#task, value, tuples, this.#extractOptions);
    } catch (e) {
      if (!(e instanceof UnscorableOutputError)) throw e;
      if (!this.#skipUnscorable) {
        throw new InputError(
          `model output: ${e.message}; pass --skip-unscorable to count such outputs as errors instead`,
          { file: this.#file, line, field: "output" },
        );
      }
      health.unscorable++;
      if (!lenientOnly) health.errors++;
      if (this.#lenient) health.lenientErrors++;
      return;
    }
    if (!lenientOnly) {
      health.skippedValues += tuples.skipped;
      if (tuples.tuples.length === 0 && tuples.arguments.length === 0) health.nothingExtracted++;
      const instruction = record instanceof Map ? record.get("instruction") : record.instruction;
      const keys = typeof instruction === "string" ? this.#schemas.read(instruction) : undefined;
      if (keys === undefined) health.schemaUnknown++;
      else if (hasKeyOutside(value, keys)) health.offSchema++;
    }
    this.#addPredictions(group, tuples, lenientOnly);
  }

  /** When folding, score the open record (its hash is remembered already). */
  #foldLast(): void {
    const group = this.#lastGroup;
    if (!this.#fold || group === undefined) return;
    this.#score(group);
    this.#lastGroup = undefined;
    this.#lastId = this.#lastSource = this.#lastKey = undefined;
  }

  /** A line's `task` field: count the lines that name another task. */
  #noteTask(task: string, line: number): void {
    this.#fit.taskLines++;
    if (task === this.#task || task.toUpperCase() === this.#task) return;
    this.#fit.otherTaskLines++;
    this.#fit.firstOtherTask ??= { line, task };
  }

  /** An empty output: the model's empty answer, or (with an `error` field) a failed inference. */
  #noteEmpty(record: JsonObject, health: OutputHealth, line: number): void {
    const error = record instanceof Map ? record.get("error") : record.error;
    if (error === undefined || error === null) return void health.empty++;
    health.inferenceFailed++;
    this.#fit.firstInferenceError ??= { line, message: typeof error === "string" ? error : jsonKind(error) };
  }

  /** Note an answer's shape; true when it is another task's. */
  #otherShape(value: JsonObject, line: number): boolean {
    const shape = answerShape(value);
    if (shape === undefined) return false;
    if (shape === this.#shape) {
      this.#fit.fittingAnswers++;
      return false;
    }
    this.#fit.otherShapes[shape] = (this.#fit.otherShapes[shape] ?? 0) + 1;
    this.#fit.firstOtherShape ??= { line, shape };
    return true;
  }

  #newGroup(record: JsonObject, source: string, line: number): Group {
    const where = { file: this.#file, line };
    const labelText = record instanceof Map ? record.get("label") : record.label;
    if (typeof labelText !== "string") {
      throw new InputError(
        labelText === undefined
          ? "record has no `label` (the gold annotation written by `convert --split test`)"
          : `must be a string holding a JSON list, got ${jsonKind(labelText)}`,
        { ...where, field: "label" },
      );
    }
    let label: PyJson;
    try {
      label = labelText === "[]" ? [] : parseJsonAsPython(labelText);
    } catch {
      let why = "invalid JSON";
      try {
        parsePyJson(labelText);
      } catch (e) {
        why = (e as Error).message; // with the column
      }
      throw new InputError(why, { ...where, field: "label" });
    }
    let gold: TupleSet;
    try {
      gold = goldTuples(this.#task, label, (i, family) => {
        this.#fit.foreignLabels++;
        this.#fit.firstForeignLabel ??= { line, field: `label[${i}]`, family };
      });
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      const task = getField(record, "task");
      const says = typeof task === "string" && task.toUpperCase() !== this.#task
        ? ` (the record says "task": ${JSON.stringify(task)})`
        : "";
      throw new InputError(e.problem + says, { ...where, field: e.field });
    }
    let category = source;
    if (this.#sortBy !== undefined && this.#sortBy !== "source") {
      const v = getField(record, this.#sortBy) ?? "None";
      if (typeof v !== "string") {
        throw new InputError(`--sort_by needs a string here, got ${jsonKind(v)}`, { ...where, field: this.#sortBy });
      }
      category = v;
    }
    const group: Group = {
      category,
      health: this.#healthOf(category),
      main: new TupleBag(this.#mainArity),
      args: this.#events ? new TupleBag(3) : undefined,
    };
    addTuples(group.main, gold.tuples, this.#labelIndex("main"), "gold");
    if (group.args) addTuples(group.args, gold.arguments, 2, "gold");
    return group;
  }

  /** Which tuple member names the label: the type for NER/RE/…, the event type for events, the role for arguments. */
  #labelIndex(match: "main" | "arguments"): number {
    if (match === "arguments") return 2;
    return this.#events ? 0 : 1;
  }

  #addPredictions(group: Group, tuples: TupleSet, lenientOnly: boolean): void {
    const which = lenientOnly ? "predLenient" : this.#lenient ? "both" : "pred";
    addTuples(group.main, tuples.tuples, this.#labelIndex("main"), which);
    if (group.args) addTuples(group.args, tuples.arguments, 2, which);
  }

  #healthOf(category: string): OutputHealth {
    if (category === this.#lastCategory) return this.#lastHealth!;
    let h = this.#health.get(category);
    if (h === undefined) {
      h = emptyHealth();
      this.#health.set(category, h);
    }
    this.#lastCategory = category;
    this.#lastHealth = h;
    return h;
  }

  /**
   * Score the merged records.
   *
   * @returns the report
   * @throws {InputError} when no prediction line was added
   *
   * @example
   * ```ts
   * import { Evaluator } from "./evaluator.ts";
   * try { new Evaluator({ task: "NER", file: "e.jsonl" }).finish(); throw new Error("no error"); }
   * catch (e) { if (!(e as Error).message.startsWith("e.jsonl: no prediction")) throw e; }
   * ```
   */
  finish(): EvalReport {
    this.#finished = true;
    if (this.#lines === 0) {
      throw new InputError("no prediction lines (the file is empty)", { file: this.#file });
    }
    this.#foldLast();
    for (const group of this.#groups.values()) this.#score(group);
    this.#groups.clear();
    const scopes = this.#scopes;
    const total: ScopeReport = {
      name: "total",
      groups: 0,
      health: emptyHealth(),
      strict: this.#emptyCounts(),
      lenient: this.#lenientCounts(),
    };
    const categories = [...scopes.values()].sort((a, b) => compareCodePoints(a.name, b.name));
    for (const c of categories) {
      total.groups += c.groups;
      addHealth(total.health, c.health);
      addScope(total.strict, c.strict);
      if (this.#lenient) addScope(total.lenient!, c.lenient!);
    }
    return {
      task: this.#task,
      matchMode: this.#mode,
      categoryField: this.#sortBy ?? "source",
      sortBy: this.#sortBy,
      lenient: this.#lenient,
      referenceKeys: !this.#headTail,
      file: this.#file,
      lines: this.#lines,
      total,
      categories,
      labels: [...this.#mainLabels.reports(), ...this.#argLabels.reports()].sort((a, b) =>
        a.match === b.match ? compareCodePoints(a.label, b.label) : a.match === "main" ? -1 : 1
      ),
      fit: this.#fit,
    };
  }

  /** Add a complete record's matches to its category's and its labels' counts. */
  #score(group: Group): void {
    // Records of one category usually come together: the last scope is checked before the map.
    let scope = this.#lastScope !== undefined && this.#lastScope.name === group.category
      ? this.#lastScope
      : this.#scopes.get(group.category);
    if (scope === undefined) {
      scope = {
        name: group.category,
        groups: 0,
        health: group.health,
        strict: this.#emptyCounts(),
        lenient: this.#lenientCounts(),
      };
      this.#scopes.set(group.category, scope);
    }
    this.#lastScope = scope;
    scope.groups++;
    this.#countBag(group.main, "main", scope, this.#mainLabels);
    if (group.args) this.#countBag(group.args, "arguments", scope, this.#argLabels);
  }

  #countBag(bag: TupleBag, match: "main" | "arguments", scope: ScopeReport, labels: LabelTable): void {
    const lenient = this.#lenient;
    const set = this.#mode === "set";
    const into = (c: MatchCounts, gold: number, pred: number) => {
      if (set) {
        if (gold > 0 && pred > 0) c.tp++;
        if (gold > 0) c.gold++;
        if (pred > 0) c.pred++;
      } else {
        c.tp += Math.min(gold, pred);
        c.gold += gold;
        c.pred += pred;
      }
    };
    // The scope's counts looked up once per record, not once per tuple (a keyed load by `match`).
    const strict = scope.strict[match]!;
    const loose = lenient ? scope.lenient![match]! : undefined;
    bag.forEachCount((label, gold, pred, predLenient) => {
      const lr = labels.get(label, match, lenient);
      into(strict, gold, pred);
      into(lr.strict, gold, pred);
      if (loose !== undefined) {
        into(loose, gold, predLenient);
        into(lr.lenient!, gold, predLenient);
      }
    });
  }

  #emptyCounts(): ScopeCounts {
    return this.#events ? { main: zero(), arguments: zero() } : { main: zero() };
  }

  #lenientCounts(): ScopeCounts | undefined {
    return this.#lenient ? this.#emptyCounts() : undefined;
  }
}

/**
 * Evaluate a prediction file (JSON Lines, or one JSON array), streaming.
 *
 * @param path the prediction file
 * @param options task and options (`file` defaults to `path`)
 * @param onProgress called after each block of lines with the lines and bytes read so far
 * @returns the report
 * @throws {InputError} for a missing, empty or malformed file, naming the file and line
 *
 * @example
 * ```ts
 * import { evaluateFile } from "./evaluator.ts";
 * const path = await Deno.makeTempFile({ suffix: ".jsonl" });
 * const label = JSON.stringify([{ entity: "Ann", entity_type: "person" }]);
 * await Deno.writeTextFile(path, JSON.stringify({ id: "1", label, output: '{"person": ["Ann"]}' }) + "\n");
 * const report = await evaluateFile(path, { task: "NER" });
 * if (report.total.strict.main.tp !== 1) throw new Error();
 * await Deno.remove(path);
 * ```
 */
export async function evaluateFile(
  path: string,
  options: EvalOptions,
  onProgress?: (linesRead: number, bytesRead: number) => void,
): Promise<EvalReport> {
  const file = options.file ?? path;
  const run = async (foldFinishedRecords: boolean) => {
    const evaluator = new Evaluator({ ...options, file, foldFinishedRecords });
    // Text decoded 64 KiB at a time: a block's text stays below V8's large-object size, so it
    // dies young instead of piling up until a full collection (peak memory 85 instead of 200 MiB
    // on zh NER). Read 256 KiB at a time: each read costs a trip through the event loop, which
    // with 64 KiB reads left the run idle a tenth of its time.
    const blocks = readJsonItemBatches(path, { displayName: file, chunkSize: 1 << 18, decodeSize: 1 << 16 });
    for await (const batch of blocks) {
      for (const item of batch) evaluator.addLine(item.text, item.line);
      onProgress?.(evaluator.lines, batch[batch.length - 1].bytesRead);
    }
    return evaluator.finish();
  };
  // Records are scored as their lines end, in flat memory; a file whose records' lines are not
  // adjacent is read again, keeping every record until the end.
  try {
    return await run(options.foldFinishedRecords ?? true);
  } catch (e) {
    if (e instanceof RecordRevisitedError) return await run(false);
    throw e;
  }
}

/**
 * The per-label reports of one match, by label. Each record brings its labels as new strings,
 * which a `Map` hashes afresh every time; a few recently used labels are kept in slots picked by
 * length and last character and compared with `===` first.
 */
class LabelTable {
  readonly #reports = new Map<string, LabelReport>();
  readonly #recentLabels: (string | undefined)[] = new Array(LABEL_SLOTS).fill(undefined);
  readonly #recentReports: (LabelReport | undefined)[] = new Array(LABEL_SLOTS).fill(undefined);

  /** The report of a label, created (with zero counts) on first sight. */
  get(label: string, match: "main" | "arguments", lenient: boolean): LabelReport {
    const n = label.length;
    const slot = (n * 7 + (n > 0 ? label.charCodeAt(n - 1) : 0)) & (LABEL_SLOTS - 1);
    if (this.#recentLabels[slot] === label) return this.#recentReports[slot]!;
    let lr = this.#reports.get(label);
    if (lr === undefined) {
      lr = { label, match, strict: zero(), lenient: lenient ? zero() : undefined };
      this.#reports.set(label, lr);
    }
    this.#recentLabels[slot] = label;
    this.#recentReports[slot] = lr;
    return lr;
  }

  /** The reports, in first-seen order. */
  reports(): IterableIterator<LabelReport> {
    return this.#reports.values();
  }
}

const LABEL_SLOTS = 64;

/**
 * A set of 52-bit hashes (as JS numbers) in one open-addressing table: 16 bytes per hash at most,
 * a third of what a `Set<number>` of such numbers takes. 0 marks an empty slot (0 is stored apart).
 */
class HashSet52 {
  #slots = new Float64Array(1 << 12);
  #size = 0;
  #hasZero = false;

  /** Add a hash; false when it was there already. */
  addNew(h: number): boolean {
    if (h === 0) return this.#hasZero ? false : (this.#hasZero = true);
    if ((this.#size + 1) * 2 > this.#slots.length) this.#grow();
    if (!HashSet52.#insert(this.#slots, h)) return false;
    this.#size++;
    return true;
  }

  #grow(): void {
    const old = this.#slots;
    this.#slots = new Float64Array(old.length * 2);
    for (const v of old) if (v !== 0) HashSet52.#insert(this.#slots, v);
  }

  static #insert(slots: Float64Array, h: number): boolean {
    const mask = slots.length - 1;
    for (let i = slotOf(h, mask);; i = (i + 1) & mask) {
      const v = slots[i];
      if (v === h) return false;
      if (v === 0) return void (slots[i] = h), true;
    }
  }
}

/** A hash's first slot: its low 32 bits (an integer truncation, where `%` of a double is a division). */
function slotOf(h: number, mask: number): number {
  return (h >>> 0) & mask;
}

/** A 52-bit hash of a record key (two 32-bit FNV-1a variants), exact as a JS number. */
function keyHash(key: string): number {
  let a = 0x811c9dc5, b = 0x01000193;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  return (a >>> 6) * 67108864 + (b >>> 6);
}

function addTuples(bag: TupleBag, tuples: readonly PyJson[][], labelIndex: number, side: BagSide): void {
  for (let i = 0; i < tuples.length; i++) bag.add(tuples[i], labelIndex, side);
}

function hasKeyOutside(obj: JsonObject, keys: Set<string>): boolean {
  if (obj instanceof Map) {
    for (const k of obj.keys()) if (!keys.has(k)) return true;
    return false;
  }
  for (const k in obj) if (!keys.has(k)) return true;
  return false;
}

function zero(): MatchCounts {
  return { tp: 0, pred: 0, gold: 0 };
}

function add(to: MatchCounts, c: MatchCounts): void {
  to.tp += c.tp;
  to.pred += c.pred;
  to.gold += c.gold;
}

function addScope(to: ScopeCounts, c: ScopeCounts): void {
  add(to.main, c.main);
  if (to.arguments && c.arguments) add(to.arguments, c.arguments);
}

function emptyHealth(): OutputHealth {
  return {
    outputs: 0,
    errors: 0,
    invalidJson: 0,
    empty: 0,
    inferenceFailed: 0,
    notObject: 0,
    unscorable: 0,
    offSchema: 0,
    otherShape: 0,
    schemaUnknown: 0,
    nothingExtracted: 0,
    skippedValues: 0,
    lenientErrors: 0,
    repaired: 0,
    repairs: Object.fromEntries(REPAIRS.map((r) => [r, 0])) as Record<Repair, number>,
  };
}

function addHealth(to: OutputHealth, h: OutputHealth): void {
  for (const k of Object.keys(h) as (keyof OutputHealth)[]) {
    if (k === "repairs") { for (const r of REPAIRS) to.repairs[r] += h.repairs[r]; }
    else to[k] += h[k];
  }
}
