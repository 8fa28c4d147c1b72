/**
 * A Factory whose endpoints send HTTP requests to `host:port` instances.
 *
 * @module
 */
import type { Deadline } from "../_async.ts";
import { DeadlineQueue } from "../_deadline_queue.ts";
import { requireFunction, requireNumber } from "../_validate.ts";
import { boundOf } from "../_signal_bound.ts";
import type { EndpointOptions, Factory } from "../types.ts";
import { type Outgoing, pathOf, SEND, type Send, SEND_BASE, type SendingEndpoint } from "./_send.ts";

/** A `fetch`-compatible function. */
export type FetchFunction = (input: Request | URL | string, init?: RequestInit) => Promise<Response>;

/** Options for {@linkcode httpFactory}. */
export interface HttpFactoryOptions {
  /** Scheme used to reach instances. Default: `"http"`. */
  scheme?: "http" | "https";
  /** Prepended to every request path, e.g. `"/api/v2"`. Default: `""`. */
  pathPrefix?: string;
  /** The fetch to use. Default: the global `fetch`, called unbound. */
  fetch?: FetchFunction;
  /**
   * Milliseconds to wait for response headers before the attempt fails with a `TimeoutError`. The
   * caller's signal still governs reading the body. No timer is set when the call's signal comes from
   * `retry` or `balancedFetch` with a deadline no longer than this one. Default: none (`Infinity`), as
   * `fetch` has none; `retry` and `balancedFetch` deadlines bound the wait when they are set.
   */
  timeout?: number;
}

/**
 * Makes a Factory for HTTP endpoints. An endpoint takes a `Request` whose URL supplies the path and
 * query (its origin is ignored) and sends it to its instance, so one request can be sent to several
 * instances in turn: the endpoint never consumes the request it is given; it reads the body from a
 * clone (so streamed bodies are buffered). Method, headers, body and redirect mode are carried over.
 * Through `balancedFetch` a body is not buffered this way: it streams, as its `bufferLimit`
 * says.
 *
 * @param options Scheme, path prefix, fetch and timeout.
 * @returns A factory for `host:port` (or `[v6]:port`) instances.
 * @throws {TypeError | RangeError} If an option is invalid.
 *
 * @example
 * ```ts
 * import { httpFactory } from "@edgekit/sd";
 * import { assert } from "@std/assert";
 *
 * const seen: string[] = [];
 * const factory = httpFactory({
 *   pathPrefix: "/v1",
 *   fetch: async (input) => {
 *     seen.push(new Request(input).url);
 *     return new Response("ok");
 *   },
 * });
 * const { endpoint } = factory("10.0.0.1:8080", {});
 * await endpoint(new Request("http://any/users/1?x=2"));
 * assert(seen[0] === "http://10.0.0.1:8080/v1/users/1?x=2");
 * ```
 */
export function httpFactory(options: HttpFactoryOptions = {}): Factory<Request, Response> {
  const scheme = options.scheme ?? "http";
  if (scheme !== "http" && scheme !== "https") {
    throw new TypeError(`options.scheme must be "http" or "https", got ${JSON.stringify(scheme)}`);
  }
  const rawPrefix: unknown = options.pathPrefix ?? "";
  const prefix = typeof rawPrefix === "string" ? rawPrefix.replace(/\/+$/, "") : rawPrefix;
  if (typeof prefix !== "string" || (prefix !== "" && !prefix.startsWith("/"))) {
    throw new TypeError(`options.pathPrefix must start with "/", got ${JSON.stringify(options.pathPrefix)}`);
  }
  if (options.fetch !== undefined) requireFunction(options.fetch, "options.fetch");
  // Unbound on purpose: workerd throws "Illegal invocation" for a stored fetch called as a method.
  const fetchImpl: FetchFunction = options.fetch ?? ((input, init) => fetch(input, init));
  const timeout = requireNumber(options.timeout ?? Infinity, "options.timeout", { finite: false });

  // One timer for the header deadlines of all this factory's endpoints.
  const limits = timeout === Infinity ? undefined : new DeadlineQueue(timeout);
  // The timer bounds the wait for headers only, and is skipped when the caller's signal is known to
  // abort sooner anyway (retry's deadline).
  const headerLimit = (caller: AbortSignal | undefined): Deadline | undefined =>
    limits === undefined || boundOf(caller) <= timeout ? undefined : limits.start();
  // Shared by every endpoint (each carries it and its base as two properties, beside its own closure):
  // sends without a body with no await, no init for a plain GET, and no signal without a deadline.
  const sendTo: Send = (base, outgoing, caller) => {
    const request = outgoing.request;
    if (request !== undefined && request.body !== null) return sendBodyTo(base, outgoing, request, caller);
    const limit = headerLimit(caller);
    const signal = linked(caller, limit);
    let init: RequestInit | undefined;
    if (request !== undefined) {
      init = { method: request.method, headers: request.headers, redirect: request.redirect };
    } else if (outgoing.method !== "GET" || outgoing.headers !== undefined) {
      init = { method: outgoing.method };
      if (outgoing.headers !== undefined) init.headers = outgoing.headers;
    }
    if (signal !== undefined) (init ??= {}).signal = signal;
    let pending: Promise<Response>;
    try {
      // A promise whatever a custom fetch returns; the same one for a native promise.
      pending = Promise.resolve(fetchImpl(base + outgoing.path, init));
    } catch (error) {
      limit?.clear();
      return Promise.reject(error);
    }
    return limit === undefined ? pending : pending.finally(() => limit.clear());
  };
  const sendBodyTo = async (
    base: string,
    outgoing: Outgoing,
    request: Request,
    caller: AbortSignal | undefined,
  ): Promise<Response> => {
    const body: BodyInit = outgoing.body === undefined
      ? await request.clone().arrayBuffer()
      : await outgoing.body.take();
    const limit = headerLimit(caller);
    const signal = linked(caller, limit);
    const init: RequestInit & { duplex?: "half" } = {
      method: request.method,
      headers: request.headers,
      body,
      redirect: request.redirect,
    };
    // Node's fetch requires it for a streamed body; the others ignore it.
    if (body instanceof ReadableStream) init.duplex = "half";
    if (signal !== undefined) init.signal = signal;
    try {
      return await fetchImpl(base + outgoing.path, init);
    } finally {
      limit?.clear();
    }
  };
  const schemePrefix = `${scheme}://`;
  return (instance: string) => {
    let origin: string;
    try {
      const url = new URL(schemePrefix + instance);
      if (url.pathname !== "/" || url.search !== "" || url.username !== "" || url.host === "") throw 0;
      // Held for the endpoint's life: when the instance is already in normal form, a string built on
      // it (sharing the instance string) instead of the URL's origin, which costs about 100 bytes more.
      origin = url.host === instance ? schemePrefix + instance : url.origin;
    } catch {
      throw new TypeError(`Instance ${JSON.stringify(instance)} is not a valid host:port`);
    }
    const base = origin + prefix;
    const endpoint: SendingEndpoint = (request, callOptions?: EndpointOptions) => {
      let outgoing: Outgoing;
      try {
        outgoing = { path: pathOf(request.url), request, method: request.method, headers: undefined };
      } catch (error) {
        return Promise.reject(error);
      }
      return sendTo(base, outgoing, callOptions?.signal);
    };
    endpoint[SEND] = sendTo;
    endpoint[SEND_BASE] = base;
    return { endpoint };
  };
}

/**
 * What fetch gets: the caller's signal, the header deadline's, or both. The caller's signal is linked
 * directly, not as the deadline's parent (clear() would unlink it), so that it still governs reading
 * the body.
 */
function linked(caller: AbortSignal | undefined, limit: Deadline | undefined): AbortSignal | undefined {
  if (limit === undefined) return caller;
  return caller === undefined ? limit.signal : AbortSignal.any([caller, limit.signal]);
}
