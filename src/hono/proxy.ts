/**
 * A Hono handler that forwards a route to a discovered service.
 *
 * @module
 */
import type { Context, Env, MiddlewareHandler } from "hono";
import { proxy } from "hono/proxy";
import { deadline } from "../_async.ts";
import { requireFunction, requireNumber } from "../_validate.ts";
import { describe } from "../errors.ts";
import { balancedFetch, type BalancedFetchOptions } from "../http/balanced_fetch.ts";
import type { Balancer } from "../lb/balancer.ts";
import type { RefreshOptions, RefreshResult } from "../pull_instancer.ts";
import { discoveryFailure, failureResponse } from "./_problem.ts";

/** The part of a `PullInstancer` the handler uses in pull mode. */
export interface Refreshable {
  /** Brings the instance set up to date for this request (see `PullInstancer.refresh`). */
  refresh(options?: RefreshOptions): Promise<RefreshResult>;
}

/** The part of a `DefaultEndpointer` the handler uses to wait for the first discovery. */
export interface ReadyEndpointer {
  /** The current endpoints; may throw the discovery error. */
  endpoints(): readonly unknown[];
  /** Waits for the first set of instances; rejects with the first discovery error. */
  ready(options: { signal?: AbortSignal }): Promise<unknown>;
}

/**
 * How `X-Forwarded-For`, `X-Forwarded-Host` and `X-Forwarded-Proto` are sent upstream:
 * - `"set"`: the client's own values are dropped (with `Forwarded`) and the gateway's set, so a
 *   client cannot forge them;
 * - `"append"`: behind a proxy you trust, the client address is appended to the incoming
 *   `X-Forwarded-For`, and incoming `X-Forwarded-Host`/`-Proto` are kept;
 * - `false`: the headers pass as they came.
 */
export type ForwardedMode = "set" | "append" | false;

/** Options for {@linkcode serviceProxy}. */
export interface ServiceProxyOptions<E extends Env = Env> extends
  Pick<
    BalancedFetchOptions,
    | "attempts"
    | "attemptTimeout"
    | "backoff"
    | "random"
    | "retryStatuses"
    | "retryNonIdempotent"
    | "shouldRetry"
    | "bufferLimit"
  > {
  /**
   * Deadline in milliseconds for the whole forwarded call until the response headers (every attempt
   * and pause); past it the client gets a 504. `Infinity` waits as long as the client does.
   * Default: 10,000 (a gateway bounds what it waits for, where `balancedFetch` alone, like `fetch`,
   * does not).
   */
  timeout?: number;
  /**
   * Removed from the start of the path before forwarding (on a segment boundary: `"/api"` turns
   * `/api/users` into `/users` and `/api` into `/`; `/apix` is forwarded as it is). Default: none.
   */
  stripPrefix?: string;
  /** Rewrites the path (after `stripPrefix`); must return a path starting with `/`. Default: none. */
  rewrite?: (path: string, c: Context<E>) => string;
  /** See {@linkcode ForwardedMode}. Default: `"set"`. */
  forwarded?: ForwardedMode;
  /**
   * The client's address for `X-Forwarded-For`. Default: found from what the runtime passes to the
   * app (Deno's `remoteAddr`, Bun's `requestIP`, `@hono/node-server`'s socket) or Cloudflare's
   * `CF-Connecting-IP`; without one, `X-Forwarded-For` is not added.
   */
  clientAddress?: (c: Context<E>) => string | undefined;
  /**
   * Pull mode: refreshed at the start of each request, with the request's signal and, on Workers,
   * `c.executionCtx.waitUntil`. A failed refresh answers 503. Default: none (watch mode).
   */
  pull?: Refreshable;
  /**
   * Watch mode: while this endpointer has no endpoints yet, a request waits up to `readyTimeout` for
   * the first discovery (a discovery error answers 503 at once). Default: none (no waiting).
   */
  endpointer?: ReadyEndpointer;
  /** Longest wait for the first discovery, in milliseconds. Default: 3000. */
  readyTimeout?: number;
  /**
   * Put the error (instance addresses included) into the problem's `detail`. Default: `false`:
   * the detail says what kind of failure it was and nothing about the instances.
   */
  exposeErrors?: boolean;
  /** Hono's `strictConnectionProcessing`: also drop headers the `Connection` header names. Default: `false`. */
  strictConnectionProcessing?: boolean;
}

const UPSTREAM = "http://upstream.invalid";

/**
 * Returns a Hono handler that forwards the request to an instance picked by `balancer`, through
 * `balancedFetch` (retries on other instances within a deadline) and Hono's `proxy()` helper (hop-by-hop
 * headers removed both ways, `Accept-Encoding` left to the runtime). It also drops `Host`, sets
 * `X-Forwarded-For/Host/Proto`, rewrites the path, and streams the request body in and the response
 * body out. A request body of known size up to `bufferLimit` (128 KiB) is held, so a failed attempt is
 * sent again to another instance; a larger one, or one of unknown size, streams to the instance as it
 * arrives, and is sent again only if the failed attempt read no more of it than `bufferLimit`.
 *
 * Its own answers are RFC 9457 `application/problem+json` bodies: no instance to pick or a discovery
 * failure (also a failed pull-mode refresh) -> 503 with `Retry-After: 1`; the overall deadline or an
 * attempt's timeout -> 504; every attempt failed -> 502. When every attempt got a retryable status
 * (502, 503, 504 by default), the last instance's own answer is passed on. A request whose client went
 * away answers 499 with no body.
 *
 * @param balancer Picks an endpoint per attempt (endpoints from `httpFactory`).
 * @param options Path rewrite, forwarded headers, retry settings, pull or watch mode, error exposure.
 * @returns A handler for `app.all(path, ...)` or `app.use(path, ...)`.
 * @throws {TypeError | RangeError} If an option is invalid.
 *
 * @example Forwarding `/users/*` to the `users` service
 * ```ts
 * import { Hono } from "hono";
 * import { DefaultEndpointer, FixedInstancer, httpFactory } from "@edgekit/sd";
 * import { RoundRobinBalancer } from "@edgekit/sd/lb";
 * import { serviceProxy } from "@edgekit/sd/hono";
 * import { assertEquals } from "@std/assert";
 *
 * const factory = httpFactory({
 *   fetch: async (input) => new Response(`${new Request(input).url}`),
 * });
 * using endpointer = new DefaultEndpointer(new FixedInstancer(["10.0.0.1:8080"]), factory);
 * const app = new Hono();
 * app.all("/users/*", serviceProxy(new RoundRobinBalancer(endpointer), { stripPrefix: "/users" }));
 *
 * await endpointer.ready();
 * const response = await app.request("/users/42?full=1");
 * assertEquals(await response.text(), "http://10.0.0.1:8080/42?full=1");
 * ```
 */
export function serviceProxy<E extends Env = Env>(
  balancer: Balancer<Request, Response>,
  options: ServiceProxyOptions<E> = {},
): MiddlewareHandler<E> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const strip = stripper(options.stripPrefix);
  const { rewrite, clientAddress, pull, endpointer } = options;
  if (rewrite !== undefined) requireFunction(rewrite, "options.rewrite");
  if (clientAddress !== undefined) requireFunction(clientAddress, "options.clientAddress");
  if (pull !== undefined) requireFunction(pull.refresh, "options.pull.refresh");
  if (endpointer !== undefined) requireFunction(endpointer.ready, "options.endpointer.ready");
  const forwarded = options.forwarded ?? "set";
  if (forwarded !== "set" && forwarded !== "append" && forwarded !== false) {
    throw new TypeError(`options.forwarded must be "set", "append" or false, got ${describe(forwarded)}`);
  }
  const readyTimeout = requireNumber(options.readyTimeout ?? 3_000, "options.readyTimeout");
  const expose = options.exposeErrors === true;
  const strictConnectionProcessing = options.strictConnectionProcessing === true;
  requireFunction(balancer?.endpoint, "balancer.endpoint");
  // What the balancer throws (no instances, or the discovery error of an invalidated endpointer) is
  // told apart from what the instances did without wrapping it.
  const fromBalancer = new WeakSet<object>();
  const marked: Balancer<Request, Response> = {
    endpoint: (exclude) => {
      try {
        return balancer.endpoint(exclude);
      } catch (error) {
        if (typeof error === "object" && error !== null) fromBalancer.add(error);
        throw error;
      }
    },
  };
  // The call-outcome seam goes to the balancer as it is.
  if (typeof balancer.begin === "function") marked.begin = (endpoint) => balancer.begin!(endpoint);
  const upstream = balancedFetch(marked, {
    ...(options.attempts === undefined ? {} : { attempts: options.attempts }),
    timeout: options.timeout ?? 10_000,
    ...(options.attemptTimeout === undefined ? {} : { attemptTimeout: options.attemptTimeout }),
    ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    ...(options.random === undefined ? {} : { random: options.random }),
    ...(options.retryStatuses === undefined ? {} : { retryStatuses: options.retryStatuses }),
    ...(options.retryNonIdempotent === undefined ? {} : { retryNonIdempotent: options.retryNonIdempotent }),
    ...(options.shouldRetry === undefined ? {} : { shouldRetry: options.shouldRetry }),
    ...(options.bufferLimit === undefined ? {} : { bufferLimit: options.bufferLimit }),
  });

  return async (c) => {
    const raw = c.req.raw;
    if (pull !== undefined) {
      try {
        await pull.refresh(refreshOptions(c));
      } catch (error) {
        return discoveryFailure(error, expose);
      }
    } else if (endpointer !== undefined && !hasEndpoints(endpointer)) {
      const wait = deadline(readyTimeout, raw.signal);
      try {
        await endpointer.ready({ signal: wait.signal });
      } catch {
        // The call below maps what is there now: a discovery error, or no instances.
      } finally {
        wait.clear();
      }
    }
    const url = new URL(raw.url);
    let path = strip(url.pathname);
    if (rewrite !== undefined) {
      path = rewrite(path, c);
      if (typeof path !== "string" || !path.startsWith("/")) {
        throw new TypeError(`options.rewrite must return a path starting with "/", got ${describe(path)}`);
      }
    }
    const headers = forwarded === false ? undefined : forwardedHeaders(c, url, forwarded, clientAddress);
    try {
      return await proxy(`${UPSTREAM}${path}${url.search}`, {
        raw,
        strictConnectionProcessing,
        customFetch: (request) => {
          // Hono's proxy has removed hop-by-hop headers; the Host is the upstream's to set.
          request.headers.delete("host");
          if (headers !== undefined) {
            if (forwarded === "set") request.headers.delete("forwarded");
            for (const [name, value] of headers) {
              if (value === null) request.headers.delete(name);
              else request.headers.set(name, value);
            }
          }
          return upstream(request);
        },
      });
    } catch (error) {
      if (raw.signal.aborted) return new Response(null, { status: 499 });
      return failureResponse(error, expose, fromBalancer);
    }
  };
}

function hasEndpoints(endpointer: ReadyEndpointer): boolean {
  try {
    return endpointer.endpoints().length > 0;
  } catch {
    // An invalidated endpointer throws its discovery error: waiting would not help.
    return true;
  }
}

function stripper(prefix: unknown): (path: string) => string {
  if (prefix === undefined) return (path) => path;
  if (typeof prefix !== "string" || !prefix.startsWith("/")) {
    throw new TypeError(`options.stripPrefix must start with "/", got ${describe(prefix)}`);
  }
  const base = prefix.replace(/\/+$/, "");
  if (base === "") return (path) => path;
  return (path) => {
    if (path === base) return "/";
    return path.startsWith(`${base}/`) ? path.slice(base.length) : path;
  };
}

/** The request's signal and, on Workers, `waitUntil` (`c.executionCtx` throws elsewhere). */
function refreshOptions(c: Context): RefreshOptions {
  let waitUntil: ((promise: Promise<unknown>) => void) | undefined;
  try {
    const ctx = c.executionCtx;
    waitUntil = (promise) => ctx.waitUntil(promise);
  } catch {
    // Not a Worker: a background refresh runs unawaited, which long-lived hosts allow.
  }
  return waitUntil === undefined ? { signal: c.req.raw.signal } : { signal: c.req.raw.signal, waitUntil };
}

function forwardedHeaders<E extends Env>(
  c: Context<E>,
  url: URL,
  mode: "set" | "append",
  clientAddress: ((c: Context<E>) => string | undefined) | undefined,
): [string, string | null][] {
  const incoming = c.req.raw.headers;
  const out: [string, string | null][] = [];
  const address = clientAddress === undefined ? runtimeAddress(c) : clientAddress(c);
  const previous = mode === "append" ? incoming.get("x-forwarded-for") : null;
  if (address !== undefined && address !== "") {
    out.push(["x-forwarded-for", previous ? `${previous}, ${address}` : address]);
  } else if (mode === "set") {
    out.push(["x-forwarded-for", null]);
  }
  const host = (mode === "append" ? incoming.get("x-forwarded-host") : null) ?? incoming.get("host") ??
    url.host;
  const proto = (mode === "append" ? incoming.get("x-forwarded-proto") : null) ?? url.protocol.slice(0, -1);
  out.push(["x-forwarded-host", host], ["x-forwarded-proto", proto]);
  return out;
}

/**
 * The client address from what each runtime hands to `app.fetch` as `c.env`, read structurally so
 * that no runtime module is imported: Deno's `ServeHandlerInfo.remoteAddr`, Bun's
 * `server.requestIP()`, `@hono/node-server`'s `incoming.socket`; on Workers, `CF-Connecting-IP`.
 */
function runtimeAddress(c: Context): string | undefined {
  const env = c.env as Record<string, unknown> | undefined;
  try {
    const remote = env?.["remoteAddr"] as { hostname?: unknown } | undefined;
    if (typeof remote?.hostname === "string") return remote.hostname;
    const requestIP = env?.["requestIP"];
    if (typeof requestIP === "function") {
      const found = requestIP.call(env, c.req.raw) as { address?: unknown } | null;
      if (typeof found?.address === "string") return found.address;
    }
    const incoming = env?.["incoming"] as { socket?: { remoteAddress?: unknown } } | undefined;
    if (typeof incoming?.socket?.remoteAddress === "string") return incoming.socket.remoteAddress;
  } catch {
    // An env shaped otherwise: no address.
  }
  return c.req.raw.headers.get("cf-connecting-ip") ?? undefined;
}
