/**
 * Stopping long commands cleanly: the first Ctrl-C (or SIGTERM where the platform has it) asks
 * the job to stop and finish what it can; a second one exits at once.
 *
 * @module
 */

/**
 * Call `stop` on the first stop signal; exit with code 130 on the second.
 *
 * @param stop what to do on the first signal (e.g. abort a controller)
 * @returns a function that removes the listeners
 *
 * @example
 * ```ts
 * import { onStopSignals } from "./signals.ts";
 * const controller = new AbortController();
 * const dispose = onStopSignals(() => controller.abort());
 * dispose();
 * ```
 */
export function onStopSignals(stop: () => void): () => void {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
  let seen = 0;
  const handler = () => {
    if (++seen > 1) Deno.exit(130);
    stop();
  };
  for (const s of signals) Deno.addSignalListener(s, handler);
  return () => {
    for (const s of signals) Deno.removeSignalListener(s, handler);
  };
}
