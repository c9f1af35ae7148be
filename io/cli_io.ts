/**
 * Where a command writes: the one output interface every command of the CLI takes, so that tests
 * (and programs embedding a command) can capture what it prints.
 *
 * @module
 */

/**
 * Where a command writes (the process's standard output and error, or a test's capture).
 *
 * @example
 * ```ts
 * import type { CliIo } from "./cli_io.ts";
 * let out = "";
 * const io: CliIo = { out: (t) => out += t, err: () => {} };
 * io.out("done\n");
 * if (out !== "done\n") throw new Error();
 * ```
 */
export interface CliIo {
  /** Normal output. */
  out(text: string): void;
  /** Messages, summaries and errors. */
  err(text: string): void;
}
