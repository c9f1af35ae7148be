/**
 * A one-line progress display for loading large models (bytes read, rate, ETA) on a terminal;
 * silent when stderr is not one.
 *
 * @module
 */

import { ProgressLine } from "../../io/progress.ts";
import type { LoadProgress } from "./load_model.ts";

/**
 * The progress text for a load state.
 *
 * @param p bytes read and total
 * @param seconds elapsed seconds
 * @returns e.g. `loading model: 1.2 GB of 4.8 GB (25%, 300 MB/s, ETA 12s)`
 *
 * @example
 * ```ts
 * import { formatLoadProgress } from "./load_progress.ts";
 * const s = formatLoadProgress({ bytesRead: 1e9, totalBytes: 4e9, tensor: "w" }, 2);
 * if (s !== "loading model: 1.0 GB of 4.0 GB (25%, 500 MB/s, ETA 6s)") throw new Error(s);
 * ```
 */
export function formatLoadProgress(p: LoadProgress, seconds: number): string {
  const gb = (b: number) => `${(b / 1e9).toFixed(1)} GB`;
  const pct = p.totalBytes > 0 ? Math.floor(100 * p.bytesRead / p.totalBytes) : 100;
  const rate = seconds > 0 ? p.bytesRead / seconds : 0;
  const eta = rate > 0 ? Math.ceil((p.totalBytes - p.bytesRead) / rate) : 0;
  return `loading model: ${gb(p.bytesRead)} of ${gb(p.totalBytes)} (${pct}%, ${
    Math.round(rate / 1e6)
  } MB/s, ETA ${eta}s)`;
}

/**
 * A throttled progress line on stderr for {@linkcode LoadProgress} updates.
 *
 * @example
 * ```ts
 * import { LoadProgressLine } from "./load_progress.ts";
 * const line = new LoadProgressLine({ enabled: false });
 * line.update({ bytesRead: 1, totalBytes: 2, tensor: "w" });
 * line.finish();
 * ```
 */
export class LoadProgressLine {
  readonly #line: ProgressLine;

  /**
   * A progress line.
   *
   * @param options `enabled` (default: stderr is a terminal)
   */
  constructor(options: { enabled?: boolean } = {}) {
    this.#line = new ProgressLine("", options);
  }

  /**
   * Redraw if 250 ms have passed (always for the last tensor).
   *
   * @param p the load's state
   */
  update(p: LoadProgress): void {
    this.#line.show((seconds) => formatLoadProgress(p, seconds), p.bytesRead >= p.totalBytes);
  }

  /** Clear the line. */
  finish(): void {
    this.#line.finish();
  }
}
