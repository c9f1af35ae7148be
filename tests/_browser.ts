/**
 * Run a page in headless Chromium and get back what it reports: bundle a TypeScript entry for
 * the browser (`deno bundle --platform browser`), serve a folder from `127.0.0.1` on a random port
 * cross-origin isolated (COOP `same-origin`, COEP `require-corp`, so `SharedArrayBuffer` and
 * threads in workers exist), open it in Chromium and wait for the page to POST its result.
 *
 * The page (see `_browser_page.ts`) posts its result as JSON to `/result`; uncaught errors,
 * unhandled rejections, scripts that fail to load and `console.error` calls are posted to `/log`
 * by a script the served `index.html` runs first, so a failing page explains itself. The
 * browser is always killed and its profile folder removed.
 *
 * @module
 */

/** Where Chromium is, looked up on `PATH` (`chromium`, `chromium-browser`, `google-chrome`). */
export const CHROMIUM: string | undefined = findChromium();

/** Chromium's flags for a quiet headless run that works as root in a container (no sandbox, no GPU). */
export const HEADLESS_FLAGS: readonly string[] = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-extensions",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--mute-audio",
];

/**
 * The first Chromium-like browser on `PATH`.
 *
 * @returns its path, or undefined when there is none
 */
export function findChromium(): string | undefined {
  const path = Deno.env.get("PATH") ?? "";
  for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
    for (const dir of path.split(":")) {
      if (!dir) continue;
      const file = `${dir}/${name}`;
      try {
        const info = Deno.statSync(file);
        if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return file;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/**
 * Bundle a TypeScript entry and all it imports into one ES module for the browser.
 *
 * @param entry the entry file (path or `file:` URL)
 * @param outFile where to write the bundle
 * @throws {Error} with `deno bundle`'s output when it fails
 */
export async function bundleForBrowser(entry: string | URL, outFile: string): Promise<void> {
  const file = entry instanceof URL || entry.startsWith("file:") ? new URL(entry).pathname : entry;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "browser", "--format", "esm", "--output", outFile, file],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (out.code !== 0) {
    const dec = new TextDecoder();
    throw new Error(`deno bundle ${file} failed:\n${dec.decode(out.stdout)}${dec.decode(out.stderr)}`);
  }
}

/** What to open. */
export interface PageOptions {
  /** The folder served at `/` (the bundle and whatever data the page fetches). */
  readonly dir: string;
  /** The module script `index.html` loads, relative to `dir` (`page.js`). */
  readonly script: string;
  /** The query string given to the page (`engine=cpu`), without `?`. */
  readonly query?: string;
  /** How long to wait for the result (default 60 s). */
  readonly timeoutMs?: number;
  /** The browser (default {@linkcode CHROMIUM}). */
  readonly browser?: string;
}

/** What the page reported. */
export interface PageRun {
  /** The JSON the page posted to `/result`. */
  readonly result: unknown;
  /** `console.error` lines the page logged on the way. */
  readonly consoleErrors: readonly string[];
}

/** The page failed: it threw, did not answer in time, or the browser died. */
export class BrowserPageError extends Error {
  /** Set the message. */
  constructor(message: string) {
    super(message);
    this.name = "BrowserPageError";
  }
}

/** How a run ended: the page's result, or why there is none (`page`: the page itself reported the error). */
type Outcome = { ok: true; result: unknown } | { ok: false; why: string; page?: boolean };

const SECURITY_HEADERS: Record<string, string> = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cache-Control": "no-store",
};

const TYPES: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  html: "text/html; charset=utf-8",
  json: "application/json",
  wasm: "application/wasm",
};

/** Runs first in the page: report errors to the server as they happen. */
const REPORTER = `
const send = (kind, message) => fetch("/log", { method: "POST", body: JSON.stringify({ kind, message }) });
addEventListener("error", (e) => {
  if (e.target && e.target !== window) send("error", "failed to load " + (e.target.src || e.target.href || e.target));
  else send("error", (e.error && e.error.stack) || (e.message + " (" + e.filename + ":" + e.lineno + ":" + e.colno + ")"));
}, true);
addEventListener("unhandledrejection", (e) => send("error", "unhandled rejection: " + ((e.reason && e.reason.stack) || e.reason)));
const consoleError = console.error.bind(console);
console.error = (...args) => { send("console", args.map((a) => (a && a.stack) || String(a)).join(" ")); consoleError(...args); };
`;

function indexHtml(script: string): string {
  return `<!doctype html><meta charset="utf-8"><title>iepile test page</title>
<script>${REPORTER}</script>
<script type="module" src="/${encodeURI(script)}"></script>\n`;
}

/** A file of `dir` for a request path, or undefined for paths that leave it. */
function servedFile(dir: string, pathname: string): string | undefined {
  const parts = decodeURIComponent(pathname).split("/").filter((p) => p !== "");
  if (parts.some((p) => p === ".." || p === "." || p.includes("\\"))) return undefined;
  return [dir, ...parts].join("/");
}

/**
 * Serve a folder cross-origin isolated, open it in headless Chromium, and wait for the page's
 * result.
 *
 * @param options folder, script, query, timeout
 * @returns the result the page posted
 * @throws {BrowserPageError} when the page reports an uncaught error, times out, or the browser exits first
 */
export async function runInBrowser(options: PageOptions): Promise<PageRun> {
  const browser = options.browser ?? CHROMIUM;
  if (!browser) throw new BrowserPageError("no Chromium on PATH");
  const consoleErrors: string[] = [];
  let settle!: (r: Outcome) => void;
  const done = new Promise<Outcome>((r) => settle = r);

  const handler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const reply = (body: BodyInit | null, status = 200, type = "text/plain; charset=utf-8"): Response =>
      new Response(body, { status, headers: { ...SECURITY_HEADERS, "Content-Type": type } });
    if (req.method === "POST" && url.pathname === "/result") {
      settle({ ok: true, result: await req.json() });
      return reply("ok");
    }
    if (req.method === "POST" && url.pathname === "/log") {
      const { kind, message } = await req.json() as { kind: string; message: string };
      if (kind === "console") consoleErrors.push(message);
      else settle({ ok: false, why: `the page failed: ${message}`, page: true });
      return reply("ok");
    }
    if (req.method !== "GET") return reply("method not allowed", 405);
    if (url.pathname === "/" || url.pathname === "/index.html") {
      return reply(indexHtml(options.script), 200, TYPES.html);
    }
    if (url.pathname === "/favicon.ico") return reply(null, 204);
    const file = servedFile(options.dir, url.pathname);
    if (file === undefined) return reply("bad path", 400);
    try {
      const body = await Deno.readFile(file);
      const ext = file.slice(file.lastIndexOf(".") + 1);
      return reply(body, 200, TYPES[ext] ?? "application/octet-stream");
    } catch {
      return reply("not found", 404);
    }
  };

  const profile = await Deno.makeTempDir({ prefix: "iepile-chromium-" });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  let child: Deno.ChildProcess | undefined;
  let stderrTail = "";
  let stderrDone: Promise<void> = Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const url = `http://127.0.0.1:${server.addr.port}/${options.query ? `?${options.query}` : ""}`;
    child = new Deno.Command(browser, {
      args: [
        ...HEADLESS_FLAGS,
        `--user-data-dir=${profile}`,
        url,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      // Its own process group (setsid), so that its renderer and utility processes end with it.
      detached: true,
    }).spawn();
    stderrDone = (async () => {
      const dec = new TextDecoder();
      for await (const chunk of child.stderr) {
        stderrTail = (stderrTail + dec.decode(chunk, { stream: true })).slice(-4000);
      }
    })();
    const timeoutMs = options.timeoutMs ?? 60_000;
    const timeout = new Promise<Outcome>((r) => {
      timer = setTimeout(() => r({ ok: false, why: `no result from the page within ${timeoutMs} ms` }), timeoutMs);
    });
    const exited = child.status.then((s): Outcome => ({ ok: false, why: `the browser exited (code ${s.code}) first` }));
    const outcome = await Promise.race([done, timeout, exited]);
    if (!outcome.ok) {
      const logged = consoleErrors.length ? `\nconsole.error:\n${consoleErrors.join("\n")}` : "";
      // The browser's own log (mostly D-Bus noise in containers) only helps when the page never answered.
      const browserLog = outcome.page ? "" : `\nbrowser stderr (tail):\n${stderrTail}`;
      throw new BrowserPageError(`${outcome.why}${logged}${browserLog}`);
    }
    return { result: outcome.result, consoleErrors };
  } finally {
    clearTimeout(timer);
    if (child) await stop(child);
    await stderrDone.catch(() => {});
    await server.shutdown();
    await removeWithRetry(profile);
  }
}

/** End the browser and its helper processes: SIGTERM to its process group, SIGKILL after 5 s. */
async function stop(child: Deno.ChildProcess): Promise<void> {
  const signalGroup = (signal: Deno.Signal): void => {
    try {
      Deno.kill(-child.pid, signal);
    } catch {
      // the group is gone
    }
  };
  signalGroup("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), 5000));
  const first = await Promise.race([child.status, late]);
  clearTimeout(timer);
  // Helpers that outlive the browser's main process (or all of them, when it ignored SIGTERM).
  signalGroup("SIGKILL");
  if (first === "late") await child.status;
}

/** Remove a folder a just-ended browser may still be writing to. */
async function removeWithRetry(dir: string): Promise<void> {
  for (let i = 0; i < 5; i++) {
    try {
      await Deno.remove(dir, { recursive: true });
      return;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
