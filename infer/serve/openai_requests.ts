/**
 * Reading OpenAI request bodies (`/v1/completions`, `/v1/chat/completions`) into one generation
 * request: every field checked, with a 400 {@linkcode ApiError} naming the field at fault.
 * Understood: `model`, `prompt` (text, one-text list, or token ids), `messages`, `max_tokens`
 * (`max_completion_tokens`), `temperature`, `top_p`, `top_k`, `seed`, `stop`, `stream`,
 * `stream_options.include_usage`, `response_format` (`text` or `json_schema`). Options that
 * would change the answer and are not implemented (`n` > 1, `logprobs`, `echo`, penalties,
 * tools, …) are refused rather than ignored.
 *
 * @module
 */

import { jsonSchemaToShape, UnsupportedSchemaError } from "../constrain/json_schema_shape.ts";
import type { JsonSchema } from "../constrain/json_schema.ts";
import type { Shape } from "../constrain/shape.ts";
import type { SamplingOptions } from "../decode/sampling.ts";
import { ApiError } from "./api_error.ts";

/** A chat prompt as the server renders it. */
export interface ChatPrompt {
  /** Prompt token ids (BOS included where the template adds one). */
  readonly ids: readonly number[];
  /** Texts that end the answer (the template's stop words). */
  readonly stop: readonly string[];
  /** Ids that end the answer. */
  readonly stopIds: readonly number[];
}

/** How the server turns prompts into token ids. */
export interface PromptSource {
  /**
   * Token ids of a completion prompt (BOS first when the tokenizer has one).
   *
   * @param text the prompt text
   * @returns the ids
   */
  encode(text: string): number[];
  /**
   * The chat prompt for one user message.
   *
   * @param query the last user message
   * @param system the system text, if any
   * @returns the prompt
   */
  renderChat(query: string, system: string | undefined): ChatPrompt;
  /** Number of token ids (for prompts given as ids). */
  readonly vocabSize: number;
}

/** A checked request, ready for the generator. */
export interface ParsedRequest {
  /** The `model` asked for. */
  model: string;
  /** Answer as server-sent events. */
  stream: boolean;
  /** With `stream`: send a last chunk with the token counts (`stream_options.include_usage`). */
  includeUsage: boolean;
  /** The prompt's ids. */
  promptIds: number[];
  /** `max_tokens`, when given. */
  maxTokens: number | undefined;
  /** Sampling (`temperature` 0: greedy). */
  sampling: SamplingOptions;
  /** `seed`, when given. */
  seed: number | undefined;
  /** Texts that end the answer (`stop`, and the chat template's). */
  stopTexts: string[];
  /** Ids that end the answer (the chat template's). */
  stopIds: number[];
  /** The JSON shape the answer must have (`response_format: json_schema`). */
  shape: Shape | undefined;
}

type Body = Record<string, unknown>;

/**
 * Read a `POST /v1/completions` body.
 *
 * @param body the parsed JSON body
 * @param source the tokenizer's encoding
 * @returns the request
 * @throws {ApiError} 400 for a malformed or unsupported request
 *
 * @example
 * ```ts
 * import { parseCompletionRequest } from "./openai_requests.ts";
 * const source = { encode: (t: string) => [1, ...[...t].map((c) => c.charCodeAt(0))], renderChat: () => ({ ids: [], stop: [], stopIds: [] }), vocabSize: 256 };
 * const r = parseCompletionRequest({ model: "m", prompt: "hi", max_tokens: 5, temperature: 0, stop: "\n" }, source);
 * if (r.promptIds.join() !== "1,104,105" || r.maxTokens !== 5 || r.stopTexts[0] !== "\n") throw new Error();
 * ```
 */
export function parseCompletionRequest(body: unknown, source: PromptSource): ParsedRequest {
  const b = object(body);
  refuseUnsupported(b);
  if (b.echo === true) throw unsupported("echo");
  if (b.suffix !== undefined && b.suffix !== null && b.suffix !== "") throw unsupported("suffix");
  if (b.best_of !== undefined && b.best_of !== null && b.best_of !== 1) {
    throw unsupported("best_of", "only 1 is supported");
  }
  if (b.logprobs !== undefined && b.logprobs !== null && b.logprobs !== 0) throw unsupported("logprobs");
  const promptIds = completionPrompt(b.prompt, source);
  return {
    ...common(b, "max_tokens"),
    promptIds,
    stopIds: [],
    stopTexts: stopTexts(b.stop),
  };
}

/**
 * Read a `POST /v1/chat/completions` body: system (and developer) messages become the system
 * text, the last message (which must be the user's) the query; earlier turns are not rendered
 * (IEPile's templates hold one turn).
 *
 * @param body the parsed JSON body
 * @param source the chat template rendering
 * @returns the request
 * @throws {ApiError} 400 for a malformed or unsupported request
 *
 * @example
 * ```ts
 * import { parseChatRequest } from "./openai_requests.ts";
 * const source = {
 *   encode: () => [],
 *   renderChat: (q: string, s: string | undefined) => ({ ids: [s?.length ?? 0, q.length], stop: ["</s>"], stopIds: [2] }),
 *   vocabSize: 32,
 * };
 * const r = parseChatRequest({ model: "m", messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hey" }] }, source);
 * if (r.promptIds.join() !== "8,3" || r.stopIds[0] !== 2 || r.sampling.temperature !== 1) throw new Error();
 * ```
 */
export function parseChatRequest(body: unknown, source: PromptSource): ParsedRequest {
  const b = object(body);
  refuseUnsupported(b);
  if (b.logprobs === true) throw unsupported("logprobs");
  if (b.top_logprobs !== undefined && b.top_logprobs !== null && b.top_logprobs !== 0) {
    throw unsupported("top_logprobs");
  }
  for (const k of ["tools", "functions"]) {
    if (Array.isArray(b[k]) && (b[k] as unknown[]).length > 0) throw unsupported(k);
  }
  const messages = b.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalid("messages", "must be a non-empty list of {role, content}");
  }
  const system: string[] = [];
  messages.forEach((m, i) => {
    const param = `messages[${i}]`;
    if (typeof m !== "object" || m === null || Array.isArray(m)) throw invalid(param, "must be an object");
    const role = (m as Body).role;
    if (typeof role !== "string") throw invalid(`${param}.role`, "must be a string");
    if (!["system", "developer", "user", "assistant", "tool", "function"].includes(role)) {
      throw invalid(`${param}.role`, `unknown role ${JSON.stringify(role)}`);
    }
    if (role === "system" || role === "developer") system.push(content(m as Body, param));
  });
  const last = messages[messages.length - 1] as Body;
  if (last.role !== "user") {
    throw invalid(`messages[${messages.length - 1}].role`, "the last message must be the user's");
  }
  const query = content(last, `messages[${messages.length - 1}]`);
  const prompt = source.renderChat(query, system.length > 0 ? system.join("\n") : undefined);
  const maxKey = b.max_completion_tokens !== undefined && b.max_completion_tokens !== null
    ? "max_completion_tokens"
    : "max_tokens";
  return {
    ...common(b, maxKey),
    promptIds: [...prompt.ids],
    stopIds: [...prompt.stopIds],
    stopTexts: [...prompt.stop, ...stopTexts(b.stop)],
  };
}

function common(b: Body, maxKey: string): Omit<ParsedRequest, "promptIds" | "stopIds" | "stopTexts"> {
  if (typeof b.model !== "string" || b.model === "") {
    throw invalid("model", "is required (a string; see GET /v1/models)");
  }
  const stream = boolean(b, "stream") ?? false;
  let includeUsage = false;
  const so = b.stream_options;
  if (so !== undefined && so !== null) {
    if (typeof so !== "object" || Array.isArray(so)) throw invalid("stream_options", "must be an object");
    const iu = (so as Body).include_usage;
    if (iu !== undefined && iu !== null && typeof iu !== "boolean") {
      throw invalid("stream_options.include_usage", "must be a boolean");
    }
    includeUsage = iu === true;
  }
  const maxTokens = integer(b, maxKey, 1);
  const temperature = number(b, "temperature", 0, 2) ?? 1;
  const topP = number(b, "top_p", 0, 1);
  if (topP === 0) throw invalid("top_p", "must be above 0");
  let topK = integer(b, "top_k", -1);
  if (topK === -1) topK = 0;
  const seed = integer(b, "seed", -(2 ** 53), 2 ** 53);
  const sampling: SamplingOptions = {
    temperature,
    ...(topP === undefined ? {} : { topP }),
    ...(topK === undefined ? {} : { topK }),
  };
  return { model: b.model, stream, includeUsage, maxTokens, sampling, seed, shape: responseShape(b.response_format) };
}

function refuseUnsupported(b: Body): void {
  if (b.n !== undefined && b.n !== null && b.n !== 1) throw unsupported("n", "only 1 is supported");
  for (const k of ["presence_penalty", "frequency_penalty"]) {
    if (b[k] !== undefined && b[k] !== null && b[k] !== 0) throw unsupported(k, "only 0 is supported");
  }
  const bias = b.logit_bias;
  if (bias !== undefined && bias !== null && (typeof bias !== "object" || Object.keys(bias).length > 0)) {
    throw unsupported("logit_bias");
  }
}

function completionPrompt(p: unknown, source: PromptSource): number[] {
  const what = "must be a string, a list of one string, or a list of token ids";
  if (Array.isArray(p) && p.length === 1 && (typeof p[0] === "string" || Array.isArray(p[0]))) p = p[0];
  let ids: number[];
  if (typeof p === "string") ids = source.encode(p);
  else if (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === "number")) {
    if (p.some((x) => !Number.isInteger(x) || x < 0 || x >= source.vocabSize)) {
      throw invalid("prompt", `token ids must be integers from 0 to ${source.vocabSize - 1}`);
    }
    ids = p as number[];
  } else if (Array.isArray(p) && p.length > 1) {
    throw invalid("prompt", "one prompt per request (send several requests; they queue)");
  } else throw invalid("prompt", what);
  if (ids.length === 0) throw invalid("prompt", "is empty");
  return ids;
}

function content(m: Body, param: string): string {
  const c = m.content;
  if (typeof c === "string") return c;
  if (Array.isArray(c)) {
    return c.map((part, i) => {
      if (typeof part !== "object" || part === null || (part as Body).type !== "text") {
        throw invalid(`${param}.content[${i}]`, 'only {"type": "text", "text": …} parts are supported');
      }
      const text = (part as Body).text;
      if (typeof text !== "string") throw invalid(`${param}.content[${i}].text`, "must be a string");
      return text;
    }).join("");
  }
  if ((c === null || c === undefined) && m.role !== "user" && m.role !== "system") return "";
  throw invalid(`${param}.content`, "must be a string or a list of text parts");
}

function stopTexts(stop: unknown): string[] {
  if (stop === undefined || stop === null) return [];
  const list = typeof stop === "string" ? [stop] : stop;
  if (!Array.isArray(list) || list.some((s) => typeof s !== "string") || list.length > 4) {
    throw invalid("stop", "must be a string or a list of at most 4 strings");
  }
  return (list as string[]).filter((s) => s !== "");
}

function responseShape(rf: unknown): Shape | undefined {
  if (rf === undefined || rf === null) return undefined;
  if (typeof rf !== "object" || Array.isArray(rf)) throw invalid("response_format", "must be an object");
  const type = (rf as Body).type;
  if (type === "text") return undefined;
  if (type === "json_object") {
    throw unsupported("response_format", 'json_object is not supported; send "json_schema" with the answer\'s schema');
  }
  if (type !== "json_schema") throw invalid("response_format.type", 'must be "text" or "json_schema"');
  const js = (rf as Body).json_schema;
  if (typeof js !== "object" || js === null || Array.isArray(js)) {
    throw invalid("response_format.json_schema", "must be an object with a schema");
  }
  const schema = (js as Body).schema;
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw invalid("response_format.json_schema.schema", "must be a JSON Schema object");
  }
  try {
    return jsonSchemaToShape(schema as JsonSchema);
  } catch (e) {
    if (!(e instanceof UnsupportedSchemaError)) throw e;
    throw new ApiError(
      400,
      `response_format.json_schema.schema${e.path ? ` at ${e.path}` : ""}: ${e.problem} ` +
        "(supported: the JSON Schema subset of IE answer shapes: string, array with items, object with " +
        "properties + additionalProperties: false, map with an additionalProperties schema, anyOf)",
      { param: "response_format.json_schema.schema", code: "unsupported_schema" },
    );
  }
}

function object(body: unknown): Body {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError(400, "the request body must be a JSON object");
  }
  return body as Body;
}

function boolean(b: Body, key: string): boolean | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw invalid(key, "must be true or false");
  return v;
}

function number(b: Body, key: string, min: number, max: number): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
    throw invalid(key, `must be a number from ${min} to ${max}`);
  }
  return v;
}

function integer(b: Body, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(key, `must be an integer from ${min} to ${max}`);
  }
  return v;
}

function invalid(param: string, problem: string): ApiError {
  return new ApiError(400, `${param} ${problem}`, { param: param.split(/[.[]/)[0] });
}

function unsupported(param: string, detail?: string): ApiError {
  return new ApiError(400, detail ? `${param}: ${detail}` : `${param} is not supported`, {
    param,
    code: "unsupported_parameter",
  });
}
