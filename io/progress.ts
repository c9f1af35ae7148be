/**
 * A one-line progress display for long jobs (records, records/s, ETA) on a terminal; silent
 * when the output is not a terminal, so piped and CI logs stay clean.
 *
 * @module
 */

/** What a job reports as it goes. */
export interface ProgressUpdate {
  /** Items (records, lines) done so far. */
  done: number;
  /** Bytes of input consumed so far, when known. */
  bytesRead?: number;
  /** Total bytes of input, when known (enables the ETA). */
  totalBytes?: number;
}

/**
 * Throttled progress line written to a terminal stream.
 *
 * @example
 * ```ts
 * import { ProgressLine } from "./progress.ts";
 * const p = new ProgressLine("converted", { enabled: false });
 * p.update({ done: 10 });
 * p.finish();
 * ```
 */
export class ProgressLine {
  readonly #label: string;
  readonly #enabled: boolean;
  readonly #intervalMs: number;
  readonly #start = performance.now();
  #last = 0;
  #shown = false;
  readonly #encoder = new TextEncoder();

  /**
   * Create a `ProgressLine`.
   *
   * @param label verb shown before the count, e.g. `converted`
   * @param options `enabled` (default: stderr is a terminal), `intervalMs` between redraws (default 250)
   */
  constructor(label: string, options: { enabled?: boolean; intervalMs?: number } = {}) {
    this.#label = label;
    this.#enabled = options.enabled ?? Deno.stderr.isTerminal();
    this.#intervalMs = options.intervalMs ?? 250;
  }

  /**
   * Redraw the line if enough time has passed since the last redraw.
   *
   * @param u the job's current counts
   *
   * @example
   * ```ts
   * import { ProgressLine } from "./progress.ts";
   * new ProgressLine("read", { enabled: false }).update({ done: 1, bytesRead: 10, totalBytes: 100 });
   * ```
   */
  update(u: ProgressUpdate): void {
    this.show((seconds) => formatProgress(this.#label, u, seconds));
  }

  /**
   * Redraw the line with any text, if enough time has passed since the last redraw.
   *
   * @param text the line, or a function of the seconds elapsed (called only when drawn)
   * @param force draw even if the last redraw was recent
   *
   * @example
   * ```ts
   * import { ProgressLine } from "./progress.ts";
   * new ProgressLine("", { enabled: false }).show((s) => `loading… ${s.toFixed(0)} s`);
   * ```
   */
  show(text: string | ((seconds: number) => string), force = false): void {
    if (!this.#enabled) return;
    const now = performance.now();
    if (!force && now - this.#last < this.#intervalMs) return;
    this.#last = now;
    this.#shown = true;
    const line = typeof text === "string" ? text : text((now - this.#start) / 1000);
    Deno.stderr.writeSync(this.#encoder.encode("\r\x1b[2K" + line));
  }

  /**
   * Clear the line (call before printing the final summary).
   *
   * @example
   * ```ts
   * import { ProgressLine } from "./progress.ts";
   * new ProgressLine("read", { enabled: false }).finish();
   * ```
   */
  finish(): void {
    if (this.#shown) Deno.stderr.writeSync(this.#encoder.encode("\r\x1b[2K"));
    this.#shown = false;
  }
}

/**
 * The progress text for a job state: `converted 12,345 records (4.1 MB of 9.0 MB, 98,765/s, ETA 3s)`.
 *
 * @param label verb
 * @param u counts
 * @param seconds elapsed seconds
 * @returns the line without terminal control codes
 *
 * @example
 * ```ts
 * import { formatProgress } from "./progress.ts";
 * const s = formatProgress("converted", { done: 1000, bytesRead: 5e6, totalBytes: 1e7 }, 2);
 * if (s !== "converted 1,000 records (5.0 MB of 10.0 MB, 500/s, ETA 2s)") throw new Error(s);
 * ```
 */
export function formatProgress(label: string, u: ProgressUpdate, seconds: number): string {
  const rate = seconds > 0 ? u.done / seconds : 0;
  const parts: string[] = [];
  if (u.bytesRead !== undefined) {
    parts.push(u.totalBytes ? `${mb(u.bytesRead)} of ${mb(u.totalBytes)}` : mb(u.bytesRead));
  }
  parts.push(`${formatCount(Math.round(rate))}/s`);
  if (u.bytesRead && u.totalBytes && u.bytesRead < u.totalBytes) {
    const eta = seconds * (u.totalBytes - u.bytesRead) / u.bytesRead;
    parts.push(`ETA ${formatSeconds(eta)}`);
  }
  return `${label} ${formatCount(u.done)} records (${parts.join(", ")})`;
}

/**
 * An integer with thousands separators, as `toLocaleString("en-US")` writes it, without loading
 * the runtime's locale data (which costs a command several milliseconds on its first use).
 *
 * @param n an integer
 * @returns the digits grouped by threes with commas, e.g. `1,234,567`
 *
 * @example
 * ```ts
 * import { formatCount } from "./progress.ts";
 * const got = [0, 999, 1000, -1234567, 12345678].map(formatCount).join(" ");
 * if (got !== "0 999 1,000 -1,234,567 12,345,678") throw new Error(got);
 * ```
 */
export function formatCount(n: number): string {
  const digits = String(Math.abs(Math.round(n)));
  let out = digits.slice(0, ((digits.length - 1) % 3) + 1);
  for (let i = out.length; i < digits.length; i += 3) out += "," + digits.slice(i, i + 3);
  return n < 0 ? "-" + out : out;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/**
 * A duration as `45s`, `2m05s` or `3h07m` (seconds rounded up).
 *
 * @param s seconds
 * @returns the text
 *
 * @example
 * ```ts
 * import { formatSeconds } from "./progress.ts";
 * if ([44.2, 119.5, 3725].map(formatSeconds).join() !== "45s,2m00s,1h02m") throw new Error();
 * ```
 */
export function formatSeconds(s: number): string {
  const total = Math.ceil(s);
  if (total < 60) return `${total}s`;
  const m = Math.floor(total / 60);
  return m < 60
    ? `${m}m${String(total % 60).padStart(2, "0")}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/**
 * A size in bytes as `3.2 GiB`, `640 MiB` or `12 KiB`: GiB with one decimal, MiB and KiB whole
 * (KiB rounded up, so a small buffer never reads as none), whichever is the largest under it.
 *
 * @param bytes the size
 * @returns the text
 *
 * @example
 * ```ts
 * import { formatBytes } from "./progress.ts";
 * const got = [100, 3 * 2 ** 20, 2.25 * 2 ** 30].map(formatBytes).join(" ");
 * if (got !== "1 KiB 3 MiB 2.3 GiB") throw new Error(got);
 * ```
 */
export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  return bytes >= 2 ** 20 ? `${Math.round(bytes / 2 ** 20)} MiB` : `${Math.ceil(bytes / 2 ** 10)} KiB`;
}
