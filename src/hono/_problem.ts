/**
 * RFC 9457 problem details for the gateway's own answers, and the mapping from a failed call to one.
 *
 * @module
 */
import { describe, isSdError, RetryError } from "../errors.ts";

/** An RFC 9457 problem body, with the library's error code as an extension member. */
export interface Problem {
  /** `"about:blank"`: the status says it all. */
  readonly type: string;
  /** The status's reason phrase. */
  readonly title: string;
  /** The HTTP status. */
  readonly status: number;
  /** What happened, without internal addresses unless errors are exposed. */
  readonly detail: string;
  /** The stable code of the error behind it (see `SdErrorCode`). */
  readonly code: string;
}

const TITLES: Record<number, string> = {
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** Builds a problem+json response; 503 carries `Retry-After: 1`. */
export function problemResponse(status: 502 | 503 | 504, detail: string, code: string): Response {
  const body: Problem = { type: "about:blank", title: TITLES[status]!, status, detail, code };
  const headers = new Headers({ "content-type": "application/problem+json", "cache-control": "no-store" });
  if (status === 503) headers.set("retry-after", "1");
  return new Response(JSON.stringify(body), { status, headers });
}

/**
 * Maps what a `balancedFetch` call threw: no instance to pick or a discovery error (what the balancer
 * threw, recorded in `fromBalancer`) -> 503, the overall deadline or an attempt's timeout -> 504,
 * anything else (every attempt failed) -> 502.
 */
export function failureResponse(error: unknown, expose: boolean, fromBalancer: WeakSet<object>): Response {
  const attempts = error instanceof RetryError ? error.errors.length : 1;
  const final = error instanceof RetryError ? error.final : error;
  const tail = expose ? `: ${describe(error)}` : "";
  if (isSdError(error) && error.code === "ERR_DEADLINE_EXCEEDED") {
    return problemResponse(504, `The service did not answer in time${tail}`, error.code);
  }
  if (isSdError(final) && final.code === "ERR_NO_ENDPOINTS") {
    return problemResponse(503, `No instance of the service is available${tail}`, final.code);
  }
  if (typeof final === "object" && final !== null && fromBalancer.has(final)) {
    // The discovery error an invalidated endpointer throws.
    return problemResponse(
      503,
      `Service discovery failed${tail}`,
      isSdError(final) ? final.code : "ERR_DISCOVERY",
    );
  }
  if (final instanceof Error && final.name === "TimeoutError") {
    return problemResponse(504, `The service did not answer in time${tail}`, "ERR_DEADLINE_EXCEEDED");
  }
  const plural = attempts === 1 ? "" : "s";
  return problemResponse(
    502,
    `${attempts} attempt${plural} to reach the service failed${tail}`,
    isSdError(error) ? error.code : "ERR_RETRY_EXHAUSTED",
  );
}

/** Maps a failed pull-mode refresh: 503. */
export function discoveryFailure(error: unknown, expose: boolean): Response {
  const tail = expose ? `: ${describe(error)}` : "";
  return problemResponse(
    503,
    `Service discovery failed${tail}`,
    isSdError(error) ? error.code : "ERR_DISCOVERY",
  );
}
