/**
 * Errors of the OpenAI-compatible server, in OpenAI's error body: `{error: {message, type,
 * param, code}}` with an HTTP status.
 *
 * @module
 */

/** OpenAI's error types. */
export type ApiErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "not_found_error"
  | "server_error"
  | "overloaded_error";

/**
 * A request the server answers with an error status and OpenAI's JSON error body.
 *
 * @example
 * ```ts
 * import { ApiError } from "./api_error.ts";
 * const e = new ApiError(400, "max_tokens must be a positive integer", { param: "max_tokens" });
 * const res = e.toResponse();
 * const body = await res.json();
 * if (res.status !== 400 || body.error.param !== "max_tokens" || body.error.type !== "invalid_request_error") throw new Error();
 * ```
 */
export class ApiError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** OpenAI's error type. */
  readonly type: ApiErrorType;
  /** The request field at fault, or null. */
  readonly param: string | null;
  /** A machine-readable code (`invalid_api_key`, `model_not_found`, …), or null. */
  readonly code: string | null;
  /** Extra response headers (`Retry-After`, `WWW-Authenticate`, `Allow`). */
  readonly headers: Readonly<Record<string, string>>;

  /**
   * An error answer.
   *
   * @param status the HTTP status
   * @param message what is wrong, for the client
   * @param options type (default from the status), field, code, extra headers
   */
  constructor(
    status: number,
    message: string,
    options: { type?: ApiErrorType; param?: string; code?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = options.type ??
      (status === 401
        ? "authentication_error"
        : status === 404
        ? "not_found_error"
        : status === 503
        ? "overloaded_error"
        : status >= 500
        ? "server_error"
        : "invalid_request_error");
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.headers = options.headers ?? {};
  }

  /**
   * The error body as JSON data.
   *
   * @returns `{error: {message, type, param, code}}`
   *
   * @example
   * ```ts
   * import { ApiError } from "./api_error.ts";
   * if (new ApiError(404, "no such model", { code: "model_not_found" }).body().error.code !== "model_not_found") throw new Error();
   * ```
   */
  body(): { error: { message: string; type: ApiErrorType; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  /**
   * The HTTP response.
   *
   * @returns a JSON response with the status and headers
   *
   * @example
   * ```ts
   * import { ApiError } from "./api_error.ts";
   * const res = new ApiError(503, "busy", { headers: { "retry-after": "1" } }).toResponse();
   * if (res.headers.get("retry-after") !== "1") throw new Error();
   * ```
   */
  toResponse(): Response {
    return Response.json(this.body(), { status: this.status, headers: this.headers });
  }
}
