/**
 * A small Consul HTTP API client over `fetch`: health queries (blocking or not) and the agent's
 * service and check endpoints.
 *
 * @module
 */
import { requireFunction, requireNumber, requireSignal, requireString } from "../_validate.ts";
import { describe, MalformedResponseError } from "../errors.ts";
import { quote, redact } from "../_redact.ts";
import type { FetchFunction } from "../http/factory.ts";
import { exchange, type ExchangeRequest } from "./_transport.ts";
import { healthQuery, segment } from "./_query.ts";
import { type ConsulServiceEntry, parseIndex, parseServiceEntries } from "./_wire.ts";

export type { ConsulServiceEntry };

/** Options for {@linkcode ConsulClient}. */
export interface ConsulClientOptions {
  /**
   * The agent's HTTP address: `host:port` (http assumed) or an `http://` / `https://` URL, optionally
   * with a path prefix for a proxy. Default: `"http://127.0.0.1:8500"`.
   */
  address?: string;
  /** ACL token, sent as `X-Consul-Token`. Default: none (the agent's default token applies). */
  token?: string;
  /** Datacenter for health queries (`dc`). Default: the agent's. */
  datacenter?: string;
  /** Namespace (`ns`, Consul Enterprise). Default: none. */
  namespace?: string;
  /** Admin partition (`partition`, Consul Enterprise). Default: none. */
  partition?: string;
  /** The fetch to use. Default: the global `fetch`, called unbound. */
  fetch?: FetchFunction;
  /**
   * Milliseconds a non-blocking request may take, headers and body. A blocking query gets
   * `wait * 17 / 16` (Consul adds up to `wait / 16` of jitter) plus this. Default: 10,000.
   */
  timeout?: number;
  /** Largest response body accepted, in bytes. Default: 16 MiB. */
  maxResponseBytes?: number;
}

/** How a health query should read. */
export type ConsulConsistency = "default" | "stale" | "consistent";

/** Options for {@linkcode ConsulClient.healthService}. */
export interface ConsulHealthOptions {
  /** Only instances whose checks all pass (`passing`). Default: `false`. */
  passing?: boolean;
  /** Tags every instance must carry. Default: none. */
  tags?: readonly string[];
  /**
   * How tags are sent: `"filter"` builds a `filter` expression (`"a" in Service.Tags and ...`, Consul
   * 1.7+); `"param"` repeats `tag=` (all must match since Consul 1.9; older servers use only the
   * first). Default: `"filter"`.
   */
  tagMode?: "filter" | "param";
  /** A Consul filter expression, combined with the tags by `and`. Default: none. */
  filter?: string;
  /** `"stale"` lets any server answer; `"consistent"` confirms leadership first. Default: `"default"`. */
  consistency?: ConsulConsistency;
  /** Blocks until the index moves past this one (or `wait` passes). 0: answer at once. Default: 0. */
  index?: number;
  /** Longest block in milliseconds, at most 600,000. Default: Consul's (300,000). */
  wait?: number;
  /**
   * Read through the agent's cache (`?cached`): any agent answers from its local copy, refreshed in
   * the background, without a round trip to the servers. `maxAge` (ms, sent as `Cache-Control:
   * max-age` in whole seconds) bounds how old that copy may be; `staleIfError` (ms, sent as
   * `stale-if-error`) lets the agent serve an older copy while it cannot reach the servers. `true`
   * means the agent's defaults. Not with `consistency: "consistent"`. Default: `false`.
   */
  cached?: boolean | ConsulCacheOptions;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** How old an answer from the agent's cache may be (see {@linkcode ConsulHealthOptions.cached}). */
export interface ConsulCacheOptions {
  /** Oldest cached answer accepted, in ms (rounded up to whole seconds). Default: the agent's. */
  maxAge?: number;
  /** How long past `maxAge` the agent may serve its copy when the servers fail, in ms. Default: none. */
  staleIfError?: number;
}

/** What {@linkcode ConsulClient.healthService} returns. */
export interface ConsulHealthResponse {
  /** The entries, checked for the fields this library reads. */
  entries: ConsulServiceEntry[];
  /** `X-Consul-Index`. */
  index: number;
  /** `X-Consul-KnownLeader`, if sent. */
  knownLeader: boolean | undefined;
  /** `X-Consul-LastContact` in milliseconds, if sent. */
  lastContact: number | undefined;
  /** The answer's headers as sent (`Cache-Control`, `Age`, `X-Cache` and the rest). */
  headers: Headers;
}

/** Per-call options of the agent methods. */
export interface ConsulCallOptions {
  /** Aborts the request. */
  signal?: AbortSignal;
}

const DEFAULT_WAIT = 300_000;

/**
 * Talks to one Consul agent over HTTP. Every request carries the token, a timeout and the caller's
 * signal; bodies are read with a size cap. Failures are typed: `RegistryUnavailableError` (network,
 * timeout, 5xx, 429), `ConsulHttpError` (other statuses), `MalformedResponseError` (bad JSON or shape,
 * oversized body).
 *
 * @example
 * ```ts
 * import { ConsulClient } from "./mod.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const seen: string[] = [];
 * const client = new ConsulClient({
 *   address: "127.0.0.1:8500",
 *   token: "s3cret",
 *   fetch: (input, init) => {
 *     seen.push(`${String(input)} ${new Headers(init?.headers).get("x-consul-token")}`);
 *     return Promise.resolve(Response.json([], { headers: { "x-consul-index": "7" } }));
 *   },
 * });
 * const { entries, index } = await client.healthService("api", { passing: true });
 * assertEquals([entries.length, index], [0, 7]);
 * assertEquals(seen, ["http://127.0.0.1:8500/v1/health/service/api?passing=1 s3cret"]);
 * ```
 */
export class ConsulClient {
  readonly #base: URL;
  readonly #options: ConsulClientOptions;
  readonly #fetch: FetchFunction;
  readonly #timeout: number;
  readonly #maxBytes: number;

  /**
   * Creates a client. No request is sent until a method is called.
   *
   * @param options Address, token, scope, fetch, timeout and body cap.
   * @throws {TypeError | RangeError} If an option is invalid.
   */
  constructor(options: ConsulClientOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object, got ${String(options)}`);
    }
    this.#base = parseAddress(options.address ?? "http://127.0.0.1:8500");
    for (const key of ["token", "datacenter", "namespace", "partition"] as const) {
      if (options[key] !== undefined) requireString(options[key], `options.${key}`);
    }
    if (options.fetch !== undefined) requireFunction(options.fetch, "options.fetch");
    this.#timeout = requireNumber(options.timeout ?? 10_000, "options.timeout", { min: 1 });
    this.#maxBytes = requireNumber(options.maxResponseBytes ?? 16 * 1024 * 1024, "options.maxResponseBytes", {
      min: 1,
      integer: true,
    });
    this.#options = options;
    // Unbound on purpose: workerd throws "Illegal invocation" for a stored fetch called as a method.
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** The agent's base URL, e.g. `http://127.0.0.1:8500/`. */
  get address(): string {
    return this.#base.href;
  }

  /** Milliseconds a non-blocking request may take. */
  get timeout(): number {
    return this.#timeout;
  }

  /**
   * Reads `/v1/health/service/<service>`: the instances of a service with their node and checks. With
   * an `index`, a blocking query that returns when the index moves or `wait` passes.
   *
   * @param service The service name.
   * @param options Filters, consistency, blocking index and wait, signal.
   * @returns The checked entries and the response's index headers.
   * @throws {RegistryUnavailableError | ConsulHttpError | MalformedResponseError} See the class.
   */
  async healthService(service: string, options: ConsulHealthOptions = {}): Promise<ConsulHealthResponse> {
    requireString(service, "service");
    requireSignal(options.signal, "options.signal");
    const query = healthQuery(options);
    const index = options.index ?? 0;
    if (this.#options.datacenter !== undefined) query.set("dc", this.#options.datacenter);
    const blocking = index > 0;
    const wait = options.wait ?? DEFAULT_WAIT;
    const cacheControl = cacheRequest(options.cached);
    const response = await this.#send("GET", `/v1/health/service/${segment(service)}`, query, {
      signal: options.signal,
      code: "ERR_DISCOVERY",
      // Consul may hold a blocking query for wait + wait/16 before it answers.
      timeout: blocking ? wait * 17 / 16 + this.#timeout : this.#timeout,
      ...(cacheControl === undefined ? {} : { headers: { "cache-control": cacheControl } }),
    });
    const entries = parseServiceEntries(response.text);
    const leader = response.headers.get("x-consul-knownleader");
    const contact = Number(response.headers.get("x-consul-lastcontact") ?? NaN);
    return {
      entries,
      index: parseIndex(response.headers.get("x-consul-index")),
      knownLeader: leader === null ? undefined : leader === "true",
      lastContact: Number.isFinite(contact) ? contact : undefined,
      headers: response.headers,
    };
  }

  /**
   * Registers a service with the local agent (`PUT /v1/agent/service/register`), replacing checks it
   * no longer lists.
   *
   * @param definition The registration in Consul's JSON form (`ID`, `Name`, `Port`, `Checks`, ...).
   * @param options A signal.
   * @throws {RegistryUnavailableError | ConsulHttpError} If the agent refuses or cannot be reached.
   */
  async registerService(
    definition: Readonly<Record<string, unknown>>,
    options: ConsulCallOptions = {},
  ): Promise<void> {
    requireSignal(options.signal, "options.signal");
    if (typeof definition !== "object" || definition === null) {
      throw new TypeError(`definition must be an object, got ${String(definition)}`);
    }
    const query = new URLSearchParams({ "replace-existing-checks": "true" });
    await this.#send("PUT", "/v1/agent/service/register", query, {
      signal: options.signal,
      body: JSON.stringify(definition),
      code: "ERR_REGISTRATION",
    });
  }

  /**
   * Removes a service from the local agent (`PUT /v1/agent/service/deregister/<id>`).
   *
   * @param serviceId The service ID.
   * @param options A signal.
   * @returns `false` if the agent did not know the service (HTTP 404), else `true`.
   * @throws {RegistryUnavailableError | ConsulHttpError} If the agent refuses or cannot be reached.
   */
  async deregisterService(serviceId: string, options: ConsulCallOptions = {}): Promise<boolean> {
    requireString(serviceId, "serviceId");
    requireSignal(options.signal, "options.signal");
    const response = await this.#send(
      "PUT",
      `/v1/agent/service/deregister/${segment(serviceId)}`,
      new URLSearchParams(),
      { signal: options.signal, code: "ERR_REGISTRATION", accept: [404] },
    );
    return response.status !== 404;
  }

  /**
   * Marks a TTL check as passing and restarts its TTL (`PUT /v1/agent/check/pass/<id>`).
   *
   * @param checkId The check ID, e.g. `service:api-1`.
   * @param options An optional note shown as the check's output, and a signal.
   * @throws {RegistryUnavailableError | ConsulHttpError} If the agent refuses (404 or a 500 saying the
   * check "does not have associated TTL" when it lost the check) or cannot be reached.
   */
  async passCheck(checkId: string, options: ConsulCallOptions & { note?: string } = {}): Promise<void> {
    requireString(checkId, "checkId");
    requireSignal(options.signal, "options.signal");
    const query = new URLSearchParams();
    if (options.note !== undefined) query.set("note", String(options.note));
    await this.#send("PUT", `/v1/agent/check/pass/${segment(checkId)}`, query, {
      signal: options.signal,
      code: "ERR_REGISTRATION",
    });
  }

  /**
   * Reads one service's registration from the local agent (`GET /v1/agent/service/<id>`).
   *
   * @param serviceId The service ID.
   * @param options A signal.
   * @returns The registration as Consul sent it, or `undefined` if the agent does not know it.
   * @throws {RegistryUnavailableError | ConsulHttpError | MalformedResponseError} See the class.
   */
  async agentService(
    serviceId: string,
    options: ConsulCallOptions = {},
  ): Promise<Record<string, unknown> | undefined> {
    requireString(serviceId, "serviceId");
    requireSignal(options.signal, "options.signal");
    const response = await this.#send(
      "GET",
      `/v1/agent/service/${segment(serviceId)}`,
      new URLSearchParams(),
      {
        signal: options.signal,
        code: "ERR_REGISTRATION",
        accept: [404],
      },
    );
    if (response.status === 404) return undefined;
    let body: unknown;
    try {
      body = JSON.parse(response.text);
    } catch {
      body = undefined;
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new MalformedResponseError(
        `Consul sent an agent service that is not a JSON object: ${
          JSON.stringify(redact(response.text).slice(0, 80))
        }`,
      );
    }
    return body as Record<string, unknown>;
  }

  #send(
    method: "GET" | "PUT",
    path: string,
    query: URLSearchParams,
    extra: Pick<ExchangeRequest, "signal" | "code"> & {
      body?: string;
      timeout?: number;
      accept?: number[];
      headers?: Record<string, string>;
    },
  ) {
    const url = new URL(this.#base.href.replace(/\/$/, "") + path);
    if (this.#options.namespace !== undefined) query.set("ns", this.#options.namespace);
    if (this.#options.partition !== undefined) query.set("partition", this.#options.partition);
    const search = query.toString();
    // Flags such as `stale` and `passing` need no value; `stale=` reads worse in logs.
    if (search !== "") url.search = search.replace(/=(?=&|$)/g, "");
    const headers = new Headers(extra.headers);
    if (this.#options.token !== undefined) headers.set("x-consul-token", this.#options.token);
    if (extra.body !== undefined) headers.set("content-type", "application/json");
    const request: ExchangeRequest = {
      method,
      url,
      headers,
      timeout: extra.timeout ?? this.#timeout,
      maxBytes: this.#maxBytes,
      signal: extra.signal,
      code: extra.code,
      fetch: this.#fetch,
    };
    if (extra.body !== undefined) request.body = extra.body;
    if (extra.accept !== undefined) request.accept = extra.accept;
    return exchange(request);
  }
}

// The request's Cache-Control for `?cached` reads: whole seconds, rounded up (the options were checked).
function cacheRequest(cached: ConsulHealthOptions["cached"]): string | undefined {
  if (typeof cached !== "object" || cached === null) return undefined;
  const directives: string[] = [];
  if (cached.maxAge !== undefined) directives.push(`max-age=${Math.ceil(cached.maxAge / 1000)}`);
  if (cached.staleIfError !== undefined) {
    directives.push(`stale-if-error=${Math.ceil(cached.staleIfError / 1000)}`);
  }
  return directives.length === 0 ? undefined : directives.join(", ");
}

function parseAddress(address: unknown): URL {
  if (typeof address !== "string" || address === "") {
    throw new TypeError(`options.address must be a non-empty string, got ${describe(address)}`);
  }
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `http://${address}`);
  } catch {
    throw new TypeError(
      `options.address must be host:port or an http(s) URL, got ${quote(address)}`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`options.address must use http or https, got ${quote(address)}`);
  }
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new TypeError(
      `options.address must not carry credentials, a query or a fragment, got ${quote(address)}`,
    );
  }
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url;
}
