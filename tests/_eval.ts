/**
 * Helpers of the eval tests: running the command with captured output, and catching errors.
 *
 * @module
 */

import { runEval } from "../eval/cli_command.ts";

/**
 * Run `iepile eval` in this process (errors are thrown, not turned into exit codes).
 *
 * @param args arguments after `eval`
 * @returns exit code and output
 */
export async function runEvalCaptured(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "", err = "";
  const code = await runEval(args, { out: (t) => out += t, err: (t) => err += t });
  return { code, out, err };
}

/**
 * The error a promise rejects with.
 *
 * @param p the promise
 * @returns its error
 */
export async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}
