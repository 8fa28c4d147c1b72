/**
 * A `fetch` that targets a service instead of a host.
 *
 * @module
 */
import { requireMethod } from "../_validate.ts";
import type { Balancer } from "../lb/balancer.ts";
import { retry, type RetryCallback, type RetryOptions } from "../lb/retry.ts";

/** Options for {@linkcode balancedFetch}. */
export interface BalancedFetchOptions
  extends Pick<RetryOptions<Response>, "attempts" | "timeout" | "attemptTimeout" | "backoff" | "random"> {
  /** Response statuses that count as a failed attempt and are retried elsewhere. Default: 502, 503, 504. */
  retryStatuses?: readonly number[];
  /**
   * Also retry methods that are not idempotent (POST, PATCH, ...). A request that failed mid-way may
   * then run twice. Default: `false` (such requests get one attempt).
   */
  retryNonIdempotent?: boolean;
  /** Decides per failed attempt whether to go on; see {@linkcode RetryOptions.shouldRetry}. */
  shouldRetry?: RetryCallback;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
// A placeholder origin for relative inputs; HTTP endpoints use only the path and query.
const BASE = "http://service.invalid";

/**
 * Returns a function with the signature of `fetch` that sends each request to an instance picked by
 * `balancer`, retrying failed attempts (network errors, `retryStatuses`) on instances not yet tried,
 * within an overall deadline. Pair it with endpoints from {@linkcode httpFactory}. The input's origin
 * is ignored: `"/users/1"` and `"http://payments/users/1"` both mean path `/users/1`. If every attempt
 * answers with a retryable status, the last such response is returned; other failures reject with a
 * `RetryError`, and an aborted `init.signal` rejects with its reason.
 *
 * @param balancer Picks an endpoint per attempt.
 * @param options Retry settings.
 * @returns A fetch-compatible function.
 * @throws {TypeError | RangeError} If an option is invalid.
 *
 * @example
 * ```ts
 * import { balancedFetch, DefaultEndpointer, FixedInstancer, httpFactory } from "@edgekit/sd";
 * import { RoundRobinBalancer } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * const hosts: string[] = [];
 * const factory = httpFactory({
 *   fetch: async (input) => {
 *     const url = new URL(new Request(input).url);
 *     hosts.push(url.host);
 *     return url.port === "1" ? new Response("down", { status: 503 }) : new Response("ok");
 *   },
 * });
 * using endpointer = new DefaultEndpointer(new FixedInstancer(["127.0.0.1:1", "127.0.0.1:2"]), factory);
 * await endpointer.ready();
 * const api = balancedFetch(new RoundRobinBalancer(endpointer), { backoff: false });
 * const response = await api("/users/1");
 * assert((await response.text()) === "ok");
 * assert(hosts.join() === "127.0.0.1:1,127.0.0.1:2");
 * ```
 */
export function balancedFetch(
  balancer: Balancer<Request, Response>,
  options: BalancedFetchOptions = {},
): (input: Request | URL | string, init?: RequestInit) => Promise<Response> {
  requireMethod(balancer, "endpoint", "balancer");
  const statuses = new Set(options.retryStatuses ?? [502, 503, 504]);
  for (const status of statuses) {
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new RangeError(`options.retryStatuses must hold HTTP statuses, got ${String(status)}`);
    }
  }
  const shared: RetryOptions<Response> = {
    ...options,
    retryResult: (response) => statuses.has(response.status),
    discard: (response) => {
      response.body?.cancel().catch(() => {});
    },
  };
  const retrying = retry(balancer, shared);
  const once = retry(balancer, { ...shared, attempts: 1 });

  return (input, init) => {
    let request: Request;
    try {
      if (input instanceof Request) request = init === undefined ? input : new Request(input, init);
      else request = new Request(new URL(String(input), BASE), init);
    } catch (error) {
      return Promise.reject(error);
    }
    const call = options.retryNonIdempotent || IDEMPOTENT.has(request.method) ? retrying : once;
    return call(request, { signal: request.signal });
  };
}
