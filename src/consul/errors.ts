/**
 * The error Consul's HTTP statuses turn into.
 *
 * @module
 */
import { SdError } from "../errors.ts";
import { redact } from "../_redact.ts";

/**
 * Consul answered with an HTTP status the call cannot use: a 4xx such as 403 (ACL denied) or 400 (a bad
 * filter expression). Server errors (5xx, 429) are {@linkcode RegistryUnavailableError}s instead, with a
 * `ConsulHttpError` as their `cause`.
 *
 * @example
 * ```ts
 * import { ConsulHttpError } from "./mod.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const error = new ConsulHttpError(403, "Permission denied", "GET /v1/health/service/api");
 * assertEquals(error.status, 403);
 * assertEquals(error.message, 'Consul answered GET /v1/health/service/api with HTTP 403: "Permission denied"');
 * ```
 */
export class ConsulHttpError extends SdError {
  /** The HTTP status. */
  readonly status: number;
  /** The start of the response body (Consul puts its reason there), at most 512 characters. */
  readonly body: string;

  /**
   * Creates the error.
   *
   * @param status The HTTP status.
   * @param body The response body (truncated to 512 characters).
   * @param what The request, e.g. `"PUT /v1/agent/service/register"`.
   * @param code `ERR_DISCOVERY` for reads (the default), `ERR_REGISTRATION` for agent writes.
   */
  constructor(
    status: number,
    body: string,
    what: string,
    code: "ERR_DISCOVERY" | "ERR_REGISTRATION" = "ERR_DISCOVERY",
  ) {
    const text = redact(body.trim()).slice(0, 512);
    super(code, `Consul answered ${what} with HTTP ${status}${text ? `: ${JSON.stringify(text)}` : ""}`);
    this.name = "ConsulHttpError";
    this.status = status;
    this.body = text;
  }
}

/** Returns the {@linkcode ConsulHttpError} behind an error (itself or its cause), if there is one. */
export function httpErrorOf(error: unknown): ConsulHttpError | undefined {
  if (error instanceof ConsulHttpError) return error;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause instanceof ConsulHttpError ? cause : undefined;
}
