/**
 * `serve`: an OpenAI-compatible HTTP server on a local engine (`/v1/models`, `/v1/completions`,
 * `/v1/chat/completions`, streaming, JSON-Schema-constrained answers, API key, bounded queue),
 * and the way back from an answer's JSON Schema to its shape.
 *
 * @example
 * ```ts
 * import { ApiError } from "./mod.ts";
 * if (new ApiError(401, "no key").type !== "authentication_error") throw new Error();
 * ```
 *
 * @module
 */

export { ApiError, type ApiErrorType } from "./api_error.ts";
export {
  type ChatPrompt,
  parseChatRequest,
  parseCompletionRequest,
  type ParsedRequest,
  type PromptSource,
} from "./openai_requests.ts";
export { type OpenAiServer, serveOpenAi, type ServeOptions } from "./openai_server.ts";
export { runServe, SERVE_HELP } from "../cli/serve_command.ts";
