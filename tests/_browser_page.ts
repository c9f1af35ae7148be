/**
 * The page side of `_browser.ts`: run the page's work and post what it returns to the test's
 * server (`/result`), or post the error (`/log`) so the test fails with its message and stack.
 *
 * Browser-safe: no `Deno` API.
 *
 * @module
 */

/** What every page reports besides its own result: whether threads over shared memory are possible. */
export interface PageEnvironment {
  /** `globalThis.crossOriginIsolated` (true when the COOP/COEP headers took effect). */
  readonly crossOriginIsolated: boolean;
  /** `typeof SharedArrayBuffer` (`function` where it exists). */
  readonly sharedArrayBuffer: string;
  /** `navigator.hardwareConcurrency`. */
  readonly hardwareConcurrency: number;
  /** `navigator.userAgent`. */
  readonly userAgent: string;
}

/** The page's result with its environment, as posted to `/result`. */
export interface PageReport<T> {
  /** The page's environment. */
  readonly env: PageEnvironment;
  /** What the page's work returned. */
  readonly value: T;
}

/**
 * The page's environment.
 *
 * @returns the flags the engines depend on
 */
export function pageEnvironment(): PageEnvironment {
  const g = globalThis as unknown as { crossOriginIsolated?: boolean };
  return {
    crossOriginIsolated: g.crossOriginIsolated === true,
    sharedArrayBuffer: typeof SharedArrayBuffer,
    hardwareConcurrency: navigator.hardwareConcurrency,
    userAgent: navigator.userAgent,
  };
}

/**
 * Run the page's work and post `{ env, value }` to `/result`, or its error to `/log`.
 *
 * @param work the page's work; its value must survive `JSON.stringify`
 */
export async function reportPage<T>(work: () => Promise<T>): Promise<void> {
  try {
    const report: PageReport<T> = { env: pageEnvironment(), value: await work() };
    await fetch("/result", { method: "POST", body: JSON.stringify(report) });
  } catch (e) {
    const message = e instanceof Error ? `${e.stack ?? e.message}` : String(e);
    await fetch("/log", { method: "POST", body: JSON.stringify({ kind: "error", message }) });
  }
}
