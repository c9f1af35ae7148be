/**
 * A predictor that asks an OpenAI-compatible server (vLLM, llama.cpp server, TGI, Ollama, or
 * `iepile serve`) for each answer: concurrent requests, timeouts, retries with backoff on 429,
 * 5xx, timeouts and dropped connections (honouring `Retry-After`), and the answer's JSON Schema
 * sent as `response_format` so servers that can constrain decoding do. What no retry can mend
 * (nothing listening at the URL, an unknown host, a wrong path or key: 404, 401, 403) stops the
 * whole run at once ({@linkcode FatalPredictionError}).
 *
 * @module
 */

import { FatalPredictionError, type Prediction, type Predictor, type PredictRequest } from "./run.ts";

/** Options of {@linkcode OpenAiPredictor}. */
export interface OpenAiOptions {
  /** The API root, e.g. `http://localhost:8000/v1`. */
  baseUrl: string;
  /** Bearer token (default: none). */
  apiKey?: string;
  /** Model name; default: the first model `GET /models` lists. */
  model?: string;
  /**
   * How a record becomes a request. `completions`: `prompt` = `prompt(record)` (a template
   * rendered here, token for token as the model was trained); `chat`: one user message with the
   * record's query, the server applies the model's chat template.
   */
  api: "completions" | "chat";
  /**
   * The prompt (`completions`: the rendered text, or its token ids so the server sees exactly
   * the template's tokens) or the user message (`chat`) for a record.
   */
  prompt: (record: Record<string, unknown>) => string | number[];
  /** The JSON Schema the answer must follow, sent as `response_format` (none: unconstrained). */
  responseSchema?: (record: Record<string, unknown>) => Record<string, unknown> | undefined;
  /** `max_tokens` (default 300). */
  maxTokens?: number;
  /** `temperature` (default 0: greedy). */
  temperature?: number;
  /** `top_p`, when set. */
  topP?: number;
  /** `seed`, when set (sampling servers that honour it repeat their answers). */
  seed?: number;
  /** Stop strings, when set. */
  stop?: readonly string[];
  /** Requests at once (default 4). */
  concurrency?: number;
  /** Per-request timeout in ms (default 120 000). */
  timeoutMs?: number;
  /** Retries of a failed request (default 5). */
  retries?: number;
  /** First backoff in ms, doubled per retry (default 500; at most 30 s). */
  backoffMs?: number;
  /** The fetch function (tests). */
  fetch?: typeof fetch;
}

/** An HTTP answer that is not worth retrying, or the last failure after all retries. */
export class ServerError extends Error {
  /** HTTP status (0 for network errors and timeouts). */
  readonly status: number;
  /**
   * Create a `ServerError`.
   *
   * @param message what went wrong
   * @param status the HTTP status
   */
  constructor(message: string, status: number) {
    super(message);
    this.name = "ServerError";
    this.status = status;
  }
}

const RETRY_STATUS = new Set([408, 409, 425, 429, 500, 502, 503, 504]);
/** Answers that say the URL, the model name or the key is wrong: the same for every record. */
const FATAL_STATUS = new Map([
  [401, "check --api-key"],
  [403, "check --api-key"],
  [404, "check --base-url (the API root, e.g. http://127.0.0.1:8000/v1) and --model-name"],
  [405, "check --base-url (the API root, e.g. http://127.0.0.1:8000/v1)"],
]);

/**
 * Predicts through an OpenAI-compatible HTTP API.
 *
 * @example
 * ```ts
 * import { OpenAiPredictor } from "./openai.ts";
 * const fake: typeof fetch = async () =>
 *   Response.json({ choices: [{ text: '{"person": []}', finish_reason: "stop" }], usage: { prompt_tokens: 9, completion_tokens: 5 } });
 * const p = new OpenAiPredictor({ baseUrl: "http://x/v1", model: "m", api: "completions", prompt: (r) => String(r.instruction), fetch: fake });
 * const out = await p.predict({ record: { instruction: "…" }, line: 1 }, new AbortController().signal);
 * if (out.output !== '{"person": []}' || out.completionTokens !== 5) throw new Error();
 * ```
 */
export class OpenAiPredictor implements Predictor {
  /** Requests at once. */
  readonly concurrency: number;
  readonly #o: OpenAiOptions;
  readonly #fetch: typeof fetch;
  #model: Promise<string> | undefined;
  /** The server has answered once: from then on a refused connection is a restart, worth retrying. */
  #reached = false;

  /**
   * Create a `OpenAiPredictor`.
   *
   * @param options server, request shape and retry settings
   */
  constructor(options: OpenAiOptions) {
    this.#o = options;
    this.concurrency = options.concurrency ?? 4;
    this.#fetch = options.fetch ?? fetch;
    if (options.model !== undefined) this.#model = Promise.resolve(options.model);
  }

  /**
   * The model name used (asked from `GET /models` when not given).
   *
   * @param signal aborts the request
   * @returns the name
   *
   * @example
   * ```ts
   * import { OpenAiPredictor } from "./openai.ts";
   * const fake: typeof fetch = async () => Response.json({ data: [{ id: "oneke" }] });
   * const p = new OpenAiPredictor({ baseUrl: "http://x/v1", api: "chat", prompt: () => "", fetch: fake });
   * if (await p.modelName(new AbortController().signal) !== "oneke") throw new Error();
   * ```
   */
  modelName(signal: AbortSignal): Promise<string> {
    this.#model ??= this.#request("GET", "/models", undefined, signal).then((body) => {
      const id = (body as { data?: Array<{ id?: unknown }> }).data?.[0]?.id;
      if (typeof id !== "string") throw new ServerError("GET /models listed no model; pass --model-name", 0);
      return id;
    });
    // A failure (a server still starting) is not remembered: the next record asks again.
    const asked = this.#model;
    asked.catch(() => {
      if (this.#model === asked) this.#model = undefined;
    });
    return asked;
  }

  /**
   * Ask the server for one record's answer.
   *
   * @param request the record
   * @param signal aborts the request (and its retries)
   * @returns the answer and token counts
   * @throws {ServerError} when the server refuses this record or keeps failing
   * @throws {FatalPredictionError} when no record can succeed: nothing listens at the URL, the
   * host is unknown, or the server answers 401, 403, 404 or 405
   *
   * @example
   * ```ts
   * import { OpenAiPredictor } from "./openai.ts";
   * let calls = 0;
   * const fake: typeof fetch = async () => ++calls < 3
   *   ? new Response("busy", { status: 503 })
   *   : Response.json({ choices: [{ message: { content: "{}" }, finish_reason: "stop" }] });
   * const p = new OpenAiPredictor({ baseUrl: "http://x/v1", model: "m", api: "chat", prompt: () => "q", fetch: fake, backoffMs: 1 });
   * await p.predict({ record: {}, line: 1 }, new AbortController().signal);
   * if (calls !== 3) throw new Error("retried twice");
   * ```
   */
  async predict(request: PredictRequest, signal: AbortSignal): Promise<Prediction> {
    const o = this.#o;
    const model = await this.modelName(signal);
    const text = o.prompt(request.record);
    const body: Record<string, unknown> = { model, max_tokens: o.maxTokens ?? 300, temperature: o.temperature ?? 0 };
    if (o.topP !== undefined) body.top_p = o.topP;
    if (o.seed !== undefined) body.seed = o.seed;
    if (o.stop !== undefined && o.stop.length > 0) body.stop = o.stop;
    const schema = o.responseSchema?.(request.record);
    if (schema !== undefined) {
      body.response_format = { type: "json_schema", json_schema: { name: "ie_answer", strict: true, schema } };
    }
    if (o.api === "completions") body.prompt = text;
    else if (typeof text === "string") body.messages = [{ role: "user", content: text }];
    else throw new ServerError("the chat API takes text, not token ids", 0);
    const res = await this.#request(
      "POST",
      o.api === "completions" ? "/completions" : "/chat/completions",
      body,
      signal,
    );
    const choice = (res as { choices?: Array<Record<string, unknown>> }).choices?.[0];
    const output = o.api === "completions"
      ? choice?.text
      : (choice?.message as { content?: unknown } | undefined)?.content;
    if (typeof output !== "string") throw new ServerError("the server's answer has no text", 0);
    const usage = (res as { usage?: { prompt_tokens?: number; completion_tokens?: number } }).usage;
    return {
      output,
      promptTokens: usage?.prompt_tokens,
      completionTokens: usage?.completion_tokens,
      finish: typeof choice?.finish_reason === "string" ? choice.finish_reason : undefined,
    };
  }

  async #request(method: string, path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    const o = this.#o;
    const retries = o.retries ?? 5;
    const url = o.baseUrl.replace(/\/+$/, "") + path;
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
    for (let attempt = 0;; attempt++) {
      let wait = Math.min((o.backoffMs ?? 500) * 2 ** attempt, 30_000);
      let failure: ServerError;
      try {
        const res = await this.#fetch(url, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs ?? 120_000)]),
        });
        const text = await res.text();
        this.#reached = true;
        const fatal = FATAL_STATUS.get(res.status);
        if (fatal !== undefined) {
          throw new FatalPredictionError(
            `${method} ${url}: HTTP ${res.status}${errorSuffix(text)}; ${fatal}`,
          );
        }
        if (res.ok) {
          try {
            return JSON.parse(text);
          } catch {
            throw new ServerError(`${method} ${path}: the server answered with non-JSON text`, res.status);
          }
        }
        failure = new ServerError(`${method} ${path}: HTTP ${res.status}${errorSuffix(text)}`, res.status);
        if (!RETRY_STATUS.has(res.status)) throw failure;
        const after = Number(res.headers.get("retry-after"));
        if (Number.isFinite(after) && after > 0) wait = Math.min(after * 1000, 60_000);
      } catch (e) {
        if (e instanceof FatalPredictionError) throw e;
        if (e instanceof ServerError && !RETRY_STATUS.has(e.status)) throw e;
        if (signal.aborted) throw new ServerError("stopped", 0);
        const unreachable = unreachableReason(e);
        if (unreachable !== undefined && (!this.#reached || unreachable.always)) {
          throw new FatalPredictionError(`cannot reach ${url}: ${unreachable.reason}; check --base-url`);
        }
        failure = e instanceof ServerError ? e : new ServerError(
          `${method} ${path}: ${(e as Error).name === "TimeoutError" ? "timed out" : networkMessage(e)}`,
          0,
        );
      }
      if (attempt >= retries) throw new ServerError(`${failure.message} (after ${retries} retries)`, failure.status);
      await sleep(wait * (0.75 + Math.random() * 0.5), signal);
    }
  }
}

function errorSuffix(text: string): string {
  const message = errorMessage(text).split("\n")[0].trim();
  return message && !message.startsWith("<") ? `: ${message}` : ""; // an HTML error page says nothing more
}

/**
 * Why a request could not be sent at all (no answer, no timeout): the connection was refused,
 * the host is unknown, or the URL cannot be fetched. `always`: no later attempt can succeed
 * (a URL of the wrong form); else only while the server has never answered.
 */
function unreachableReason(e: unknown): { reason: string; always: boolean } | undefined {
  if (!(e instanceof TypeError)) return undefined;
  const text = `${e.message} ${String((e as { cause?: unknown }).cause ?? "")}`;
  if (/\(Connect\)|connection refused|dns error|failed to lookup/i.test(text)) {
    const dns = /dns error[^:]*:\s*(?:failed to lookup address information:\s*)?([^(\n]*)/i.exec(text);
    if (dns) return { reason: `unknown host (${dns[1].trim() || "DNS lookup failed"})`, always: false };
    const tcp = /tcp connect error:\s*([^(\n]*)/i.exec(text);
    return { reason: (tcp?.[1].trim() || "cannot connect").toLowerCase(), always: false };
  }
  if (/invalid url|scheme|blocked|not supported/i.test(text)) return { reason: e.message, always: true };
  return undefined;
}

/** A network error's reason: Deno's `fetch failed` carries it in `cause`. */
function networkMessage(e: unknown): string {
  const cause = (e as { cause?: unknown })?.cause;
  const detail = cause instanceof Error
    ? cause.message.replace(/^error sending request for url \([^)]*\):\s*/, "")
    : "";
  return detail || ((e as Error)?.message ?? String(e));
}

function errorMessage(text: string): string {
  try {
    const v = JSON.parse(text);
    const m = v?.error?.message ?? v?.message ?? v?.detail;
    if (typeof m === "string") return m;
  } catch { /* not JSON */ }
  return text.slice(0, 200);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new ServerError("stopped", 0));
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new ServerError("stopped", 0));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
