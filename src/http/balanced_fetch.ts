/**
 * A `fetch` that targets a service instead of a host.
 *
 * @module
 */
import { requireMethod, requireNumber } from "../_validate.ts";
import type { Balancer } from "../lb/balancer.ts";
import { runRetry } from "../lb/_run_retry.ts";
import { type RetryCallback, type RetryOptions, retrySettings } from "../lb/retry.ts";
import { ReplayBody } from "./_body.ts";
import { type Outgoing, pathOf, SEND, SEND_BASE, type SendingEndpoint } from "./_send.ts";

/** Options for {@linkcode balancedFetch}. */
export interface BalancedFetchOptions extends
  Pick<
    RetryOptions<Response>,
    "attempts" | "attemptTimeout" | "backoff" | "random" | "onAttempt" | "now"
  > {
  /**
   * Deadline in milliseconds for the whole call (every attempt and pause) until the response headers
   * of the attempt that is returned; the body is then read under the caller's signal alone. A call
   * that outlives it rejects with a `RetryError` whose code is `ERR_DEADLINE_EXCEEDED`.
   * Default: none (`Infinity`), as `fetch` has none: the call then runs until the instance answers or
   * the caller's signal aborts, and costs no timer and no signal. A gateway should set one (the Hono
   * `serviceProxy` sets 10,000 unless told otherwise); any deadline puts a signal on each fetch, which
   * Deno's `fetch` charges for (see the README's request-path figures).
   */
  timeout?: number;
  /** Response statuses that count as a failed attempt and are retried elsewhere. Default: 502, 503, 504. */
  retryStatuses?: readonly number[];
  /**
   * Also retry methods that are not idempotent (POST, PATCH, ...). A request that failed mid-way may
   * then run twice. Default: `false` (such requests get one attempt).
   */
  retryNonIdempotent?: boolean;
  /** Decides per failed attempt whether to go on; see {@linkcode RetryOptions.shouldRetry}. */
  shouldRetry?: RetryCallback;
  /**
   * Bytes of a request body held so that a failed attempt can be sent again to another instance
   * (httpFactory endpoints). A body of known size up to this (a `Content-Length` header, or an
   * `init.body` that is not a stream, which is in memory already and held whatever its size) is read
   * before the first attempt and sent as bytes. Any other body streams to the instance as it arrives
   * while its first `bufferLimit` bytes are kept: a failed attempt is tried again only if the
   * runtime's fetch had read no more than that of it (a refused connection, typically); after that the
   * call ends with that attempt's error or answer. `0` streams every body of unknown size and retries
   * it only if none of it was read. Default: 131,072 (128 KiB: Deno's fetch reads up to 64 KiB and a
   * chunk ahead even when the connection is then refused).
   */
  bufferLimit?: number;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
// A placeholder origin for relative inputs; HTTP endpoints use only the path and query.
const BASE = "http://service.invalid";
// A path (and query) that URL parsing would give back unchanged, so it needs none: it starts with one
// "/" (two would name a host), has no dot segment ("/." or "%2e" anywhere before the query: checked
// broadly), no character that parsing percent-encodes, drops or treats as "/", no fragment and no
// empty query. Anything else is parsed.
const PLAIN_PATH = /^(?![^?]*(?:\/\.|%2e))\/(?!\/)[\w\-.~!$&()*+,;=:@/%]*(?:\?[\w\-.~!$&()*+,;=:@/?%]+)?$/i;

/**
 * Returns a function with the signature of `fetch` that sends each request to an instance picked by
 * `balancer`, retrying failed attempts (network errors, `retryStatuses`) on instances not yet tried,
 * within an overall deadline. Pair it with endpoints from {@linkcode httpFactory}. The input's origin
 * is ignored: `"/users/1"` and `"http://payments/users/1"` both mean path `/users/1`. If every attempt
 * answers with a retryable status, the last such response is returned; other failures reject with a
 * `RetryError`, and an aborted `init.signal` rejects with its reason.
 *
 * A request body is consumed, as `fetch` consumes it, and streams to the instance unless it is small
 * enough to hold (see {@linkcode BalancedFetchOptions.bufferLimit}); a streamed body that an instance
 * has read beyond what is held is not sent again. Endpoints that are not httpFactory's get the
 * `Request` itself.
 *
 * A string or `URL` input is parsed once at most (a plain path such as `"/users/1?x=2"` not at all);
 * with an `init` of at most `method`, `headers` and `signal` (no body), httpFactory endpoints get the
 * request without a `Request` object being built, and other endpoints get one `Request` per call,
 * shared by its attempts. With default options and no caller's signal a call sets no timer and gives
 * `fetch` no signal and, for a GET without headers, no `init` either; a finite `timeout` costs a
 * signal per call, and one timer shared by the calls in flight (it also bounds httpFactory's header
 * timeout when that is longer).
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
    timeout: options.timeout ?? Infinity,
    retryResult: (response) => statuses.has(response.status),
    discard: (response) => {
      response.body?.cancel().catch(() => {});
    },
  };
  const retrying = retrySettings(balancer, shared);
  const once = retrySettings(balancer, { ...shared, attempts: 1 });
  const retryAll = Boolean(options.retryNonIdempotent);
  const bufferLimit = requireNumber(options.bufferLimit ?? 131_072, "options.bufferLimit", { finite: false });

  return (input, init) => {
    let call: Call;
    let caller: AbortSignal | undefined;
    try {
      if (input instanceof Request) {
        const request = init === undefined ? input : new Request(input, init);
        call = {
          path: pathOf(request.url),
          request,
          method: request.method,
          headers: undefined,
          href: undefined,
          init,
          limit: bufferLimit,
        };
        caller = request.signal;
      } else {
        // Parsed once at most; the endpoint joins its origin to the path and query.
        let path: string;
        let href: string | undefined;
        if (typeof input === "string" && PLAIN_PATH.test(input)) path = input;
        else {
          const url = new URL(String(input), BASE);
          path = url.pathname + url.search;
          href = url.href;
        }
        const method = init === undefined ? "GET" : simpleMethod(init);
        if (method === undefined) {
          // Anything beyond method, headers and signal goes through Request for its checks and copying.
          const request = new Request(href ?? BASE + path, init);
          call = {
            path,
            request,
            method: request.method,
            headers: undefined,
            href,
            init,
            limit: bufferLimit,
          };
          caller = request.signal;
        } else {
          const headers = init?.headers == null
            ? undefined
            : init.headers instanceof Headers
            ? init.headers
            : new Headers(init.headers);
          call = {
            path,
            request: undefined,
            method,
            headers,
            href,
            init,
            limit: bufferLimit,
          };
          caller = init?.signal ?? undefined;
        }
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const settings = retryAll || IDEMPOTENT.has(call.method) ? retrying : once;
    return runRetry(balancer, settings, call, caller, invoke, replayable);
  };
}

/** An {@linkcode Outgoing} that can still become a `Request` for endpoints that are not httpFactory's. */
interface Call extends Outgoing {
  /** The parsed input URL, when the input was neither a Request nor a plain path. */
  readonly href: string | undefined;
  /** The caller's init. */
  readonly init: RequestInit | undefined;
  /** Made on first need, then reused by every attempt. */
  made?: Request;
  /** The request's body as httpFactory endpoints share it, made on the first attempt that sends it. */
  body?: ReplayBody | undefined;
  /** See {@linkcode BalancedFetchOptions.bufferLimit}. */
  readonly limit: number;
}

// Methods that `Request` upper-cases; any other goes through `Request` for its checks.
const NORMAL_METHODS = new Map(
  ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"].flatMap((m) => [[m, m], [m.toLowerCase(), m]]),
);
const SIMPLE_KEYS = new Set(["method", "headers", "signal", "body"]);

/**
 * The normalised method of an init that holds only a method, headers, a signal and no body, so that
 * no `Request` needs building; `undefined` for any other init.
 */
function simpleMethod(init: RequestInit): string | undefined {
  for (const key in init) if (!SIMPLE_KEYS.has(key)) return undefined;
  if (init.body != null) return undefined;
  if (init.signal != null && !(init.signal instanceof AbortSignal)) return undefined;
  if (init.method === undefined) return "GET";
  return typeof init.method === "string" ? NORMAL_METHODS.get(init.method) : undefined;
}

function invoke(endpoint: SendingEndpoint, call: Call, signal: AbortSignal | undefined): Promise<Response> {
  const send = endpoint[SEND];
  if (send !== undefined) {
    if (call.body === undefined && call.request?.body != null) call.body = replayBody(call);
    return send(endpoint[SEND_BASE]!, call, signal);
  }
  // Any other endpoint gets a Request, as before: one per call, shared by its attempts.
  const request = call.request ?? (call.made ??= new Request(call.href ?? BASE + call.path, call.init));
  return endpoint(request, signal === undefined ? {} : { signal });
}

function replayBody(call: Call): ReplayBody {
  // A clone's body, so that the caller's Request stays readable while its body is held; its own
  // branch of the tee is cancelled once the body is too big to hold.
  const request = call.request!;
  const source = request.clone().body!;
  const body = call.init?.body;
  // Already in memory (a string, bytes, a Blob, a form): held whatever its size.
  if (body != null && !(body instanceof ReadableStream)) return new ReplayBody(source, Infinity, true);
  const length = request.headers.get("content-length");
  const known = length !== null && /^\d+$/.test(length) && Number(length) <= call.limit;
  return new ReplayBody(source, call.limit, known, request.body!);
}

/** Whether a failed attempt's call may go on: its body, if any was sent, is still held. */
function replayable(call: Call): boolean {
  return call.body === undefined || call.body.again();
}
