/**
 * Stopping commands by signal, the same way in every command.
 *
 * The rule: a command ended by a signal exits with 128 + the signal's number, as a shell reports a
 * process the signal killed: 130 for Ctrl-C (SIGINT), 143 for SIGTERM, 129 for SIGHUP. Temporary
 * output files are removed first (see `temp_files.ts`), so no half-written file is left behind.
 *
 * Commands that can finish cleanly (`infer` keeps the records it has, `serve` closes its
 * connections) take the first Ctrl-C or SIGTERM with {@linkcode onStopSignals} and exit with the
 * same code once stopped; a second signal ends them at once. Every other command ends at the first
 * signal ({@linkcode exitOnSignals}).
 *
 * These handlers end the process (`Deno.exit`): only the command line installs them.
 *
 * @module
 */

import { removeTempFiles } from "./temp_files.ts";

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15, SIGBREAK: 21 };

/** The signals that ask a command to stop on this platform. */
const STOP_SIGNALS: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];

/** How many {@linkcode onStopSignals} handlers are installed (they then own the first signal). */
let graceful = 0;

/**
 * The exit code of a command ended by `signal`: 128 + the signal's number.
 *
 * @param signal a signal name such as `SIGINT`; anything else counts as SIGINT
 * @returns 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP
 *
 * @example
 * ```ts
 * import { signalExitCode } from "./signals.ts";
 * if (signalExitCode("SIGINT") !== 130 || signalExitCode("SIGTERM") !== 143) throw new Error();
 * ```
 */
export function signalExitCode(signal: unknown): number {
  return 128 + (typeof signal === "string" && Object.hasOwn(SIGNAL_NUMBERS, signal) ? SIGNAL_NUMBERS[signal] : 2);
}

/**
 * Call `stop` with the signal on the first stop signal (Ctrl-C, or SIGTERM where the platform has
 * it); on a second one remove the temporary files and exit with {@linkcode signalExitCode}.
 * While installed, {@linkcode exitOnSignals} leaves the first signal to it.
 *
 * @param stop what to do on the first signal (e.g. abort a controller with the signal as reason)
 * @returns a function that removes the listeners
 *
 * @example
 * ```ts
 * import { onStopSignals } from "./signals.ts";
 * const controller = new AbortController();
 * const dispose = onStopSignals((signal) => controller.abort(signal));
 * dispose();
 * ```
 */
export function onStopSignals(stop: (signal: Deno.Signal) => void): () => void {
  let seen = 0;
  const handlers = STOP_SIGNALS.map((s) => {
    const handler = () => {
      if (++seen > 1) exitNow(s);
      stop(s);
    };
    Deno.addSignalListener(s, handler);
    return [s, handler] as const;
  });
  graceful++;
  let disposed = false;
  return () => {
    if (disposed) return;
    disposed = true;
    graceful--;
    for (const [s, handler] of handlers) Deno.removeSignalListener(s, handler);
  };
}

/**
 * End the process at a stop signal (or SIGHUP, a closed terminal): remove the temporary files and
 * exit with {@linkcode signalExitCode}. While an {@linkcode onStopSignals} handler is installed,
 * the stop signals go to it instead.
 *
 * @returns a function that removes the listeners
 *
 * @example
 * ```ts
 * import { exitOnSignals } from "./signals.ts";
 * const dispose = exitOnSignals();
 * dispose();
 * ```
 */
export function exitOnSignals(): () => void {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? STOP_SIGNALS : [...STOP_SIGNALS, "SIGHUP"];
  const handlers = signals.map((s) => {
    const handler = () => {
      if (graceful > 0 && STOP_SIGNALS.includes(s)) return;
      exitNow(s);
    };
    Deno.addSignalListener(s, handler);
    return [s, handler] as const;
  });
  return () => {
    for (const [s, handler] of handlers) Deno.removeSignalListener(s, handler);
  };
}

function exitNow(signal: Deno.Signal): never {
  removeTempFiles();
  Deno.exit(signalExitCode(signal));
}
