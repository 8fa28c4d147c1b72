// One HTTP exchange with a Consul agent: a deadline on headers and body, a cap on the body, and every
// failure turned into the library's errors; internal.
import { deadline } from "../_async.ts";
import { BodyTooLargeError, fetchWithin, readBody } from "../_body.ts";
import { describe, MalformedResponseError, RegistryUnavailableError, SdError } from "../errors.ts";
import { ConsulHttpError } from "./errors.ts";

export { ConsulHttpError, httpErrorOf } from "./errors.ts";
import type { FetchFunction } from "../http/factory.ts";

const BAD_FILTER = /^Failed to create boolean expression evaluator/;

export interface ExchangeRequest {
  method: "GET" | "PUT";
  url: URL;
  headers: Headers;
  body?: string;
  timeout: number;
  maxBytes: number;
  signal: AbortSignal | undefined;
  /** Statuses returned to the caller instead of thrown (404 for "not there"). */
  accept?: readonly number[];
  code: "ERR_DISCOVERY" | "ERR_REGISTRATION";
  fetch: FetchFunction;
}

export interface ExchangeResult {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * Sends one request. Throws the caller's abort reason if its signal aborted; RegistryUnavailableError
 * for network failures, the deadline, 5xx and 429; ConsulHttpError for other non-2xx statuses;
 * MalformedResponseError for a body over the cap or not UTF-8.
 */
export async function exchange(request: ExchangeRequest): Promise<ExchangeResult> {
  const what = `${request.method} ${request.url.pathname}`;
  const where = request.url.origin;
  const limit = deadline(request.timeout, request.signal);
  const failed = (error: unknown, during: string): unknown => {
    if (request.signal?.aborted) return request.signal.reason;
    if (limit.signal.aborted) {
      return new RegistryUnavailableError(
        `Consul at ${where} did not answer ${what} within ${request.timeout} ms`,
        { cause: limit.signal.reason },
      );
    }
    if (error instanceof SdError) return error;
    return new RegistryUnavailableError(
      `${during} ${what} to Consul at ${where} failed: ${describe(error)}`,
      {
        cause: error,
      },
    );
  };
  try {
    let response: Response;
    try {
      const init: RequestInit & { signal: AbortSignal } = {
        method: request.method,
        headers: request.headers,
        signal: limit.signal,
      };
      if (request.body !== undefined) init.body = request.body;
      // Called unbound (workerd throws "Illegal invocation" for fetch called as a method), and
      // settled by the deadline even if it ignores the signal.
      response = await fetchWithin(request.fetch, request.url.href, init);
    } catch (error) {
      throw failed(error, "Sending");
    }
    let text: string;
    try {
      text = await readCapped(response, request.maxBytes, limit.signal, what);
    } catch (error) {
      await response.body?.cancel().catch(() => {});
      throw failed(error, "Reading the answer to");
    }
    const status = response.status;
    if ((status >= 200 && status < 300) || request.accept?.includes(status)) {
      return { status, headers: response.headers, text };
    }
    const http = new ConsulHttpError(status, text, what, request.code);
    // Consul answers a bad filter expression with a 500, but that is the caller's mistake: retrying
    // will not help, and the registry is not unavailable.
    if ((status >= 500 || status === 429) && !BAD_FILTER.test(text)) {
      throw new RegistryUnavailableError(`Consul at ${where} failed ${what}: HTTP ${status}`, {
        cause: http,
      });
    }
    throw http;
  } finally {
    limit.clear();
  }
}

/** Reads the whole body as UTF-8, giving up past `max` bytes or when `signal` aborts. */
async function readCapped(
  response: Response,
  max: number,
  signal: AbortSignal,
  what: string,
): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readBody(response, max, signal);
  } catch (error) {
    if (!(error instanceof BodyTooLargeError)) throw error;
    const size = error.declared === undefined ? "larger" : `${error.declared} bytes`;
    throw new MalformedResponseError(`Consul's answer to ${what} is ${size}, over the ${max}-byte limit`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw new MalformedResponseError(`Consul's answer to ${what} is not UTF-8`, { cause: error });
  }
}
