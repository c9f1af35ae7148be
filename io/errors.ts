/**
 * Typed errors shared by every part of the tool. Library code throws them;
 * only the CLI turns them into one readable line and an exit code.
 *
 * @module
 */

/**
 * A problem with an input file: where it is (file, 1-based line, field) and what is wrong.
 *
 * @example
 * ```ts
 * import { InputError } from "./errors.ts";
 * const e = new InputError("record has no `text`", { file: "a.jsonl", line: 3, field: "text" });
 * if (e.message !== "a.jsonl:3: field `text`: record has no `text`") throw new Error(e.message);
 * ```
 */
export class InputError extends Error {
  /** The file the problem is in, when known. */
  readonly file?: string;
  /** 1-based line number in `file`, when known. */
  readonly line?: number;
  /** The field (JSON key path) that is wrong, when known. */
  readonly field?: string;
  /** The problem alone, without the location prefix. */
  readonly problem: string;

  /**
   * Create a `InputError`.
   *
   * @param problem what is wrong, in a few words
   * @param where the file, line and field it concerns
   */
  constructor(problem: string, where: { file?: string; line?: number; field?: string } = {}) {
    super(formatLocation(where) + problem);
    this.name = "InputError";
    this.problem = problem;
    this.file = where.file;
    this.line = where.line;
    this.field = where.field;
  }

  /**
   * A copy of this error with the location filled in where it was missing.
   *
   * @param where location parts to add (existing parts win)
   * @returns a new error with the merged location
   *
   * @example
   * ```ts
   * import { InputError } from "./errors.ts";
   * const e = new InputError("not a string", { field: "text" }).at({ file: "x.jsonl", line: 2 });
   * if (e.message !== "x.jsonl:2: field `text`: not a string") throw new Error(e.message);
   * ```
   */
  at(where: { file?: string; line?: number; field?: string }): InputError {
    return new InputError(this.problem, {
      file: this.file ?? where.file,
      line: this.line ?? where.line,
      field: this.field ?? where.field,
    });
  }
}

/**
 * Wrong command-line options or option values (unknown task, `--split_num 0`, …).
 *
 * @example
 * ```ts
 * import { UsageError } from "./errors.ts";
 * const e = new UsageError("--task must be one of NER, RE");
 * if (e.name !== "UsageError") throw new Error();
 * ```
 */
export class UsageError extends Error {
  /**
   * Create a `UsageError`.
   *
   * @param message what is wrong and what would be accepted
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

function formatLocation(where: { file?: string; line?: number; field?: string }): string {
  let prefix = "";
  if (where.file !== undefined) prefix += where.file + (where.line !== undefined ? `:${where.line}` : "") + ": ";
  else if (where.line !== undefined) prefix += `line ${where.line}: `;
  if (where.field !== undefined) prefix += `field \`${where.field}\`: `;
  return prefix;
}
