/**
 * `eval`: score model outputs on IEPile test records with the reference's F1 metrics (IEPile's
 * `ie2instruction/eval_func.py`, same numbers), plus per-label and per-source scores, counts
 * of malformed outputs and a lenient mode that repairs them.
 *
 * @example
 * ```ts
 * import { Evaluator, referenceLine } from "./mod.ts";
 * const ev = new Evaluator({ task: "NER" });
 * const label = JSON.stringify([{ entity: "Ann", entity_type: "person" }]);
 * ev.addRecord({ id: "1", source: "demo", label, output: '{"person": ["Ann", "Oslo"]}' }, 1);
 * const line = referenceLine(ev.finish());
 * if (line !== "{'total': {'总样本数': 1, '错误数': 0, 'P': 50.0, 'R': 100.0, 'F1': 66.67}}") throw new Error(line);
 * ```
 *
 * @module
 */

export { EVAL_TASKS, type EvalTask, isEventTask, type MatchMode, parseEvalTask } from "./tasks.ts";
export { type Prf, prf, pyRound } from "./round.ts";
export { type Repair, type Repaired, repairJson, REPAIRS } from "./lenient_json.ts";
export {
  type OutputProblem,
  type ParsedOutput,
  parseJsonAsPython,
  parseOutput,
  type ParseOutputOptions,
  readOutputObject,
} from "./parse_output.ts";
export {
  extractInto,
  type Extraction,
  type ExtractOptions,
  extractTuples,
  jsonKind,
  type TupleSet,
  UnscorableOutputError,
} from "./extract.ts";
export { type BagSide, type BagSlot, TupleBag } from "./tuple_bag.ts";
export { goldTuples } from "./gold.ts";
export { tupleKey } from "./tuple_key.ts";
export { countMatches, type MatchCounts, matchCounts } from "./match.ts";
export { mergeGroups, type PredictionGroup, type PredictionLine, predictionLine } from "./groups.ts";
export { SchemaKeyReader, schemaKeysOf } from "./schema_keys.ts";
export {
  type EvalOptions,
  type EvalReport,
  evaluateFile,
  Evaluator,
  type LabelReport,
  type OutputHealth,
  RecordRevisitedError,
  type ScopeCounts,
  type ScopeReport,
  type TaskFit,
} from "./evaluator.ts";
export {
  type AnswerShape,
  answerShape,
  answerShapeOf,
  describeFamily,
  describeShape,
  foreignLabelHint,
  type LabelFamily,
  labelFamily,
  labelFamilyOf,
} from "./shapes.ts";
export {
  formatReport,
  fullReport,
  referenceLine,
  referenceOutputMsg,
  type ReferenceResult,
  referenceResult,
  type ReportStyle,
  resultJson,
  taskFitWarnings,
} from "./report.ts";
export { EVAL_HELP, runEval } from "./cli_command.ts";
