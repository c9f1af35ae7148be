/**
 * The tasks the evaluator scores, and how each one's outputs and labels are shaped.
 *
 * @module
 */

import { UsageError } from "../io/errors.ts";
import { IEPILE_TASKS, type Task } from "../io/tasks.ts";

/** Every task `eval` scores: all of IEPile's tasks. */
export const EVAL_TASKS: readonly EvalTask[] = IEPILE_TASKS;

/** A task `eval` scores. */
export type EvalTask = Task;

/** How outputs are compared: multisets (`normal`) or de-duplicated per record (`set`). */
export type MatchMode = "normal" | "set";

/**
 * Whether a task is scored with two matches (events and arguments) like EE and EEA.
 *
 * @param task the task
 * @returns true for EE and EEA
 *
 * @example
 * ```ts
 * import { isEventTask } from "./tasks.ts";
 * if (!isEventTask("EEA") || isEventTask("EET")) throw new Error();
 * ```
 */
export function isEventTask(task: EvalTask): boolean {
  return task === "EE" || task === "EEA";
}

/**
 * Read a task name as given on the command line (any letter case).
 *
 * @param name the name, e.g. `ner`
 * @returns the task
 * @throws {UsageError} for names that are not tasks (including the reference's unscored `MRC`)
 *
 * @example
 * ```ts
 * import { parseEvalTask } from "./tasks.ts";
 * if (parseEvalTask("eea") !== "EEA") throw new Error();
 * ```
 */
export function parseEvalTask(name: string): EvalTask {
  const upper = name.trim().toUpperCase();
  if ((EVAL_TASKS as readonly string[]).includes(upper)) return upper as EvalTask;
  if (upper === "MRC") throw new UsageError("eval: task MRC has no metric (the reference has none either)");
  throw new UsageError(`eval: --task must be one of ${EVAL_TASKS.join(", ")}, got "${name}"`);
}
