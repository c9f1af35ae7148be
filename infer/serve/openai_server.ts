/**
 * An OpenAI-compatible HTTP server on a local engine (`iepile serve`): `GET /v1/models`,
 * `POST /v1/completions`, `POST /v1/chat/completions` (with the model's IEPile template or its
 * own `chat_template`), streaming as server-sent events, schema-constrained answers through
 * `response_format: {type: "json_schema"}`, an optional API key, and a bounded queue in front
 * of the engine (the generator's batch at a time; beyond `maxQueue` waiting requests, 503 with
 * `Retry-After`).
 *
 * @module
 */

import { InputError } from "../../io/errors.ts";
import {
  CHAT_TEMPLATE,
  chatTemplateOf,
  checkTemplate,
  getTemplate,
  type HfTokenizer,
  renderPrompt,
  type TemplateDefinition,
} from "../../templates/mod.ts";
import type { CompletionResult, LocalGenerator } from "../predict/local.ts";
import { WorkerGenerator } from "../predict/worker_generator.ts";
import { ApiError } from "./api_error.ts";
import { SerialQueue } from "../predict/serial_queue.ts";
import {
  type ChatPrompt,
  parseChatRequest,
  parseCompletionRequest,
  type ParsedRequest,
  type PromptSource,
} from "./openai_requests.ts";

/** Options of {@linkcode serveOpenAi}. */
export interface ServeOptions {
  /**
   * The engine and tokenizer that answer (up to its `batch` requests at once). The CPU engine computes
   * without yielding, so give it as a {@linkcode WorkerGenerator}: on this thread it would hold
   * up every other request (streaming, `/health`, the queue's 503, cancellation) while it runs.
   */
  generator: LocalGenerator | WorkerGenerator;
  /** The chat template: an IEPile template name, or `chat_template` for the tokenizer's own. */
  template: string;
  /** The model's name in `/v1/models` and requests (default `iepile`). */
  modelName?: string;
  /** Interface to listen on (default `127.0.0.1`: this machine only). */
  hostname?: string;
  /** Port (default 0: any free port; see the result's `url`). */
  port?: number;
  /** When set, every `/v1` request needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Requests that may wait behind the running ones (default 64); more get 503. */
  maxQueue?: number;
  /** The most tokens a prompt plus answer may hold (default: the engine's session size). */
  contextSize?: number;
  /** Largest request body in bytes (default 8 MiB). */
  maxBodyBytes?: number;
}

/** A running server. */
export interface OpenAiServer {
  /** The API root, e.g. `http://127.0.0.1:8000/v1`. */
  readonly url: string;
  /** The address listened on. */
  readonly addr: Deno.NetAddr;
  /** Settles when the server has stopped. */
  readonly finished: Promise<void>;
  /** Stop: running and queued generations are cancelled, then the listener closes. */
  shutdown(): Promise<void>;
}

const enc = new TextEncoder();

/**
 * Start an OpenAI-compatible server.
 *
 * @param options the generator, template, address, key and limits
 * @returns the running server
 * @throws {InputError} when the template needs tokens the tokenizer lacks, or there is no chat_template
 *
 * @example
 * ```ts
 * import { CpuEngine, loadModel } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * import { LocalGenerator } from "../predict/local.ts";
 * import { HfTokenizer } from "../../templates/mod.ts";
 * import { serveOpenAi } from "./openai_server.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 8, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const vocab = Object.fromEntries(["a", "b", "c", "d", "e", "f", "g", "h"].map((t, i) => [t, i]));
 * const tok = HfTokenizer.fromJson({ model: { type: "BPE", vocab, merges: [] } }, {});
 * const server = serveOpenAi({ generator: new LocalGenerator(new CpuEngine(await loadModel(dir)), tok), template: "vanilla" });
 * const res = await fetch(`${server.url}/completions`, {
 *   method: "POST",
 *   body: JSON.stringify({ model: "iepile", prompt: "abc", max_tokens: 3, temperature: 0 }),
 * });
 * const body = await res.json();
 * if (typeof body.choices[0].text !== "string" || body.usage.prompt_tokens !== 3) throw new Error(JSON.stringify(body));
 * await server.shutdown();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function serveOpenAi(options: ServeOptions): OpenAiServer {
  const generator = options.generator;
  const tok = generator.tokenizer;
  const modelName = options.modelName ?? "iepile";
  const maxQueue = options.maxQueue ?? 64;
  if (!(Number.isInteger(maxQueue) && maxQueue >= 0)) throw new RangeError("maxQueue must be an integer ≥ 0");
  const maxBody = options.maxBodyBytes ?? 8 << 20;
  const contextSize = options.contextSize ??
    (generator instanceof WorkerGenerator ? generator.contextSize : generator.engine.contextSize);
  const created = Math.floor(Date.now() / 1000);
  const vocabSize = generator instanceof WorkerGenerator ? generator.spec.vocabSize : generator.engine.spec.vocabSize;
  const source = promptSource(tok, options.template, vocabSize);
  const stopping = new AbortController();
  let active = 0; // accepted generations: running or waiting
  // The generator's batch at once (one by default); a cancelled request leaves the line at once.
  const turns = new SerialQueue(generator.batch);

  const handle = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname.replace(/\/+$/, "");
    if (path === "/health") return Response.json({ status: "ok" });
    const route = ROUTES.find((r) => r.path.test(path));
    if (route === undefined) throw new ApiError(404, `no route ${req.method} ${path}`, { code: "not_found" });
    if (route.method !== req.method) {
      throw new ApiError(405, `${path} takes ${route.method}`, { headers: { allow: route.method } });
    }
    if (options.apiKey !== undefined && !authorized(req.headers.get("authorization"), options.apiKey)) {
      throw new ApiError(401, "missing or wrong API key (send Authorization: Bearer <key>)", {
        code: "invalid_api_key",
        headers: { "www-authenticate": "Bearer" },
      });
    }
    if (route.name === "models") return Response.json({ object: "list", data: [modelCard(modelName, created)] });
    if (route.name === "model") {
      let id: string;
      try {
        id = decodeURIComponent(path.slice("/v1/models/".length));
      } catch {
        id = path.slice("/v1/models/".length); // not valid percent-encoding: no such model either
      }
      if (id !== modelName) throw modelNotFound(id, modelName);
      return Response.json(modelCard(modelName, created));
    }
    const body = await readJson(req, maxBody);
    const chat = route.name === "chat";
    const parsed = chat ? parseChatRequest(body, source) : parseCompletionRequest(body, source);
    if (parsed.model !== modelName) throw modelNotFound(parsed.model, modelName);
    const promptTokens = parsed.promptIds.length;
    if (promptTokens + 1 > contextSize) {
      throw new ApiError(
        400,
        `the prompt has ${promptTokens} tokens; the context holds ${contextSize} (prompt and answer together)`,
        { param: chat ? "messages" : "prompt", code: "context_length_exceeded" },
      );
    }
    if (active >= maxQueue + turns.capacity) {
      throw new ApiError(503, `the server is busy (${active - turns.capacity} requests waiting); retry later`, {
        code: "queue_full",
        headers: { "retry-after": "1" },
      });
    }
    const maxTokens = parsed.maxTokens ?? (chat ? contextSize - promptTokens : 16);
    // Cancelled when the client goes away (req.signal while waiting, the stream's cancel after) or at shutdown.
    const cancel = new AbortController();
    const onGone = () => cancel.abort(new DOMException("the client went away", "AbortError"));
    const onStop = () => cancel.abort(stopping.signal.reason);
    req.signal.addEventListener("abort", onGone);
    stopping.signal.addEventListener("abort", onStop);
    const job = new Job(parsed, maxTokens, cancel.signal, turns);
    active++;
    const done = () => {
      active--;
      stopping.signal.removeEventListener("abort", onStop);
    };
    const meta = {
      id: `${chat ? "chatcmpl" : "cmpl"}-${crypto.randomUUID().replaceAll("-", "")}`,
      created: Math.floor(Date.now() / 1000),
      model: modelName,
    };
    if (!parsed.stream) {
      try {
        const r = await job.run(generator);
        return Response.json(chat ? chatResponse(meta, r) : completionResponse(meta, r));
      } catch (e) {
        throw generationError(e);
      } finally {
        req.signal.removeEventListener("abort", onGone);
        done();
      }
    }
    req.signal.removeEventListener("abort", onGone);
    return sseResponse(job, generator, meta, chat, parsed.includeUsage, done, () => cancel.abort());
  };

  const server = Deno.serve({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    onListen: () => {},
    onError: (e) => internalError(e).toResponse(),
  }, async (req) => {
    try {
      return await handle(req);
    } catch (e) {
      return (e instanceof ApiError ? e : internalError(e)).toResponse();
    }
  });
  const addr = server.addr as Deno.NetAddr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    url: `http://${host}:${addr.port}/v1`,
    addr,
    finished: server.finished,
    async shutdown() {
      stopping.abort(new DOMException("the server is shutting down", "AbortError"));
      await server.shutdown();
    },
  };
}

const ROUTES: ReadonlyArray<{ name: string; method: string; path: RegExp }> = [
  { name: "models", method: "GET", path: /^\/v1\/models$/ },
  { name: "model", method: "GET", path: /^\/v1\/models\/.+$/ },
  { name: "completions", method: "POST", path: /^\/v1\/completions$/ },
  { name: "chat", method: "POST", path: /^\/v1\/chat\/completions$/ },
];

/** One generation: the request, its limits, and what it has streamed. */
class Job {
  readonly request: ParsedRequest;
  readonly maxTokens: number;
  readonly signal: AbortSignal;
  readonly #turns: SerialQueue;

  constructor(request: ParsedRequest, maxTokens: number, signal: AbortSignal, turns: SerialQueue) {
    this.request = request;
    this.maxTokens = maxTokens;
    this.signal = signal;
    this.#turns = turns;
  }

  /** Wait for the engine, then generate; `onText` gets text that no stop text can still take back. */
  async run(generator: LocalGenerator | WorkerGenerator, onText?: (delta: string) => void): Promise<CompletionResult> {
    return await this.#turns.run(() => this.#generate(generator, onText), this.signal);
  }

  #generate(generator: LocalGenerator | WorkerGenerator, onText?: (delta: string) => void): Promise<CompletionResult> {
    const p = this.request;
    let raw = "";
    let sent = 0;
    const stops = p.stopTexts;
    return generator.complete({
      promptIds: p.promptIds,
      maxNewTokens: this.maxTokens,
      shape: p.shape,
      sampling: p.sampling,
      seed: p.seed ?? crypto.getRandomValues(new Uint32Array(1))[0],
      stopTexts: stops,
      stopIds: p.stopIds,
      signal: this.signal,
      onText: onText === undefined ? undefined : (delta) => {
        raw += delta;
        const safe = raw.length - heldBack(raw, stops);
        if (safe > sent) {
          onText(raw.slice(sent, safe));
          sent = safe;
        }
      },
    }).then((r) => {
      // The final text (a stop text cut off, a closing added) continues what was sent.
      if (onText !== undefined && r.text.length > sent && r.text.startsWith(raw.slice(0, sent))) {
        onText(r.text.slice(sent));
      }
      return r;
    });
  }
}

/** Length of the longest end of `text` that could begin a stop text. */
function heldBack(text: string, stops: readonly string[]): number {
  let held = 0;
  for (const s of stops) {
    for (let n = Math.min(s.length - 1, text.length); n > held; n--) {
      if (text.endsWith(s.slice(0, n))) {
        held = n;
        break;
      }
    }
  }
  return held;
}

interface Meta {
  id: string;
  created: number;
  model: string;
}

function usage(r: CompletionResult): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return {
    prompt_tokens: r.promptTokens,
    completion_tokens: r.ids.length,
    total_tokens: r.promptTokens + r.ids.length,
  };
}

function completionResponse(m: Meta, r: CompletionResult): Record<string, unknown> {
  return {
    id: m.id,
    object: "text_completion",
    created: m.created,
    model: m.model,
    choices: [{ index: 0, text: r.text, logprobs: null, finish_reason: r.finish }],
    usage: usage(r),
  };
}

function chatResponse(m: Meta, r: CompletionResult): Record<string, unknown> {
  return {
    id: m.id,
    object: "chat.completion",
    created: m.created,
    model: m.model,
    choices: [{
      index: 0,
      message: { role: "assistant", content: r.text, refusal: null },
      logprobs: null,
      finish_reason: r.finish,
    }],
    usage: usage(r),
  };
}

function sseResponse(
  job: Job,
  generator: LocalGenerator | WorkerGenerator,
  m: Meta,
  chat: boolean,
  includeUsage: boolean,
  done: () => void,
  cancel: () => void,
): Response {
  const object = chat ? "chat.completion.chunk" : "text_completion";
  const chunk = (choice: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}) => ({
    id: m.id,
    object,
    created: m.created,
    model: m.model,
    choices: choice === undefined ? [] : [{ index: 0, ...choice, logprobs: null }],
    ...extra,
  });
  const piece = (text: string, finish: string | null) =>
    chat
      ? chunk({ delta: text === "" && finish !== null ? {} : { content: text }, finish_reason: finish })
      : chunk({ text, finish_reason: finish });
  let closed = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (data: unknown) => {
        if (!closed) {
          controller.enqueue(enc.encode(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`));
        }
      };
      if (chat) send(chunk({ delta: { role: "assistant", content: "" }, finish_reason: null }));
      job.run(generator, (delta) => send(piece(delta, null)))
        .then((r) => {
          send(piece("", r.finish));
          if (includeUsage) send(chunk(undefined, { usage: usage(r) }));
          send("[DONE]");
        }, (e) => send(generationError(e).body()))
        .finally(() => {
          done();
          if (!closed) {
            closed = true;
            controller.close();
          }
        });
    },
    cancel() {
      closed = true; // the client went away
      cancel();
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
  });
}

function generationError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof InputError) return new ApiError(400, e.message);
  if ((e as Error)?.name === "AbortError") return new ApiError(503, "the request was cancelled", { code: "cancelled" });
  return internalError(e);
}

function internalError(e: unknown): ApiError {
  return new ApiError(500, `internal error: ${(e as Error)?.message ?? String(e)}`);
}

function modelNotFound(asked: string, served: string): ApiError {
  return new ApiError(
    404,
    `model ${JSON.stringify(asked)} is not served here (this server has ${JSON.stringify(served)})`,
    {
      param: "model",
      code: "model_not_found",
    },
  );
}

function modelCard(id: string, created: number): Record<string, unknown> {
  return { id, object: "model", created, owned_by: "iepile" };
}

async function readJson(req: Request, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw new ApiError(413, `the request body is over ${maxBytes} bytes`);
  const bytes = new Uint8Array(await req.arrayBuffer());
  if (bytes.length > maxBytes) throw new ApiError(413, `the request body is over ${maxBytes} bytes`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(400, "the request body is not UTF-8 text", { code: "invalid_json" });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `the request body is not valid JSON: ${(e as Error).message}`, { code: "invalid_json" });
  }
}

function authorized(header: string | null, key: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? "");
  if (m === null) return false;
  const a = enc.encode(m[1].trim());
  const b = enc.encode(key);
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i] ?? 0) ^ b[i];
  return diff === 0;
}

function promptSource(tok: HfTokenizer, template: string, vocabSize: number): PromptSource {
  let renderChat: (query: string, system: string | undefined) => ChatPrompt;
  if (template === CHAT_TEMPLATE) {
    const t = chatTemplateOf(tok);
    renderChat = (query, system) => t.render(query, tok, { system });
  } else {
    const def: TemplateDefinition = getTemplate(template);
    checkTemplate(def, tok);
    renderChat = (query, system) => renderPrompt(def, query, tok, { system });
  }
  return {
    encode: (text) => [...(tok.bos ? [tok.bos.id] : []), ...tok.encode(text)],
    renderChat: (query, system) => {
      try {
        return renderChat(query, system);
      } catch (e) {
        if (e instanceof InputError) throw new ApiError(400, e.message, { param: "messages" });
        throw e;
      }
    },
    vocabSize,
  };
}
