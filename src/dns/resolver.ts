/**
 * A DNS resolver over HTTPS (RFC 8484) with the method names and result shapes of
 * `node:dns/promises`' `Resolver`.
 *
 * @module
 */
import { requireFunction, requireNumber, requireSignal } from "../_validate.ts";
import type { FetchFunction } from "../http/factory.ts";
import type { Logger } from "../types.ts";
import { AnswerCache, cacheKey } from "./_cache.ts";
import { Flights } from "./_flight.ts";
import { checkServers, type Found, refresh, reportStale, type Shared, SYSCALL } from "./_query.ts";
import { DnsError } from "./errors.ts";
import { type DnsRecord, RCODE, RR_TYPE } from "./wire.ts";

/** Options for {@linkcode DohResolver}. */
export interface DohResolverOptions {
  /** DoH endpoint URLs, tried in turn when one fails. Default: Cloudflare's, then Google's. */
  servers?: readonly string[];
  /** How queries are sent. Default: `"GET"` (cacheable by HTTP caches; RFC 8484 §4.1). */
  method?: "GET" | "POST";
  /** `"message"` (RFC 8484, application/dns-message) or `"json"` (application/dns-json). Default: `"message"`. */
  format?: "message" | "json";
  /** Milliseconds to wait for one server before trying the next. Default: 5,000. */
  timeout?: number;
  /** Largest answer body accepted, in bytes. Default: 65,535 (the DNS maximum); 1 MiB for JSON. */
  maxResponseBytes?: number;
  /**
   * Entries kept in the answer cache, fresh and stale together (the least recently used goes first);
   * `0` disables the cache and with it serving stale answers. Default: 1,000.
   */
  cacheSize?: number;
  /** Longest time in seconds an answer is cached, whatever its TTL. Default: 3,600. */
  maxTtl?: number;
  /**
   * How long in seconds past its expiry a cached answer may still be served when every server fails
   * (RFC 8767, which suggests one to three days); `0` never serves stale answers. Default: 86,400 (one
   * day).
   */
  maxStale?: number;
  /**
   * The TTL in seconds that stale answers carry, and how long after a failed refresh a stale answer is
   * served without asking the servers again (RFC 8767's stale answer TTL and failure recheck timer);
   * `0` asks the servers again on every lookup. Default: 30.
   */
  staleTtl?: number;
  /**
   * Called for every answer served stale (a cached NXDOMAIN or NODATA too, which then rejects as it did
   * when fresh), so that callers can count or flag them. Errors it throws are logged and ignored.
   * Default: none.
   */
  onStale?: (answer: DnsStaleAnswer) => void;
  /**
   * Whether identical lookups made while one is in flight wait for it instead of sending their own
   * query. Right for long-lived hosts (Deno, Bun, Node). In a Cloudflare Worker, call
   * {@linkcode DohResolver.scope} inside each request instead of using a shared resolver directly: a
   * request must never wait for a query that another request started. Views from `scope()` always
   * merge, each within itself. Default: `true`.
   */
  mergeInFlight?: boolean;
  /** The fetch to use. Default: the global `fetch`, called unbound. */
  fetch?: FetchFunction;
  /** Clock in milliseconds, for the cache. Default: `Date.now`. */
  now?: () => number;
  /** Receives server failovers and stale answers (`warn`). Default: silent. */
  logger?: Logger;
}

/** What {@linkcode DohResolverOptions.onStale} receives for each answer served stale (RFC 8767). */
export interface DnsStaleAnswer {
  /** The name looked up, without a trailing dot. */
  hostname: string;
  /** The record type asked for. */
  rrtype: ResolveRrType;
  /** Whole seconds since the cached answer expired. */
  staleFor: number;
  /** Why the refresh failed: the error of the last server tried. */
  error: DnsError;
}
/** Per-call options; `ttl` as in Node, `signal` is this library's addition (Node ignores it). */
export interface ResolveOptions {
  /** Aborts the lookup (it then fails with `ECANCELLED`). */
  signal?: AbortSignal;
}

/** Per-call options that can also ask for TTLs, as Node's `resolve4(name, { ttl: true })`. */
export interface ResolveWithTtlOptions extends ResolveOptions {
  /** Return objects with the remaining TTL in seconds instead of bare values. */
  ttl?: boolean;
}

/** An SRV record as Node returns it. */
export interface SrvRecord {
  /** Target host name, without the trailing dot; `""` for the root (`.`: "service not available"). */
  name: string;
  /** Port. */
  port: number;
  /** Priority; lower is preferred. */
  priority: number;
  /** Relative weight within a priority. */
  weight: number;
}

/** An SRV record with its remaining TTL in seconds (with `{ ttl: true }`; an addition to Node's shape). */
export interface SrvRecordWithTtl extends SrvRecord {
  /** Remaining TTL in seconds. */
  ttl: number;
}

/** An address with its remaining TTL in seconds, as Node returns with `{ ttl: true }`. */
export interface RecordWithTtl {
  /** The address. */
  address: string;
  /** Remaining TTL in seconds. */
  ttl: number;
}

/** The record types {@linkcode DohResolver.resolve} understands. */
export type ResolveRrType = "A" | "AAAA" | "CNAME" | "SRV" | "TXT";

const DEFAULT_SERVERS = ["https://cloudflare-dns.com/dns-query", "https://dns.google/dns-query"];
// Hands the parent's state to the constructor when scope() creates a view (set and read synchronously).
let adopting: Shared | undefined;

/**
 * Resolves names through DNS-over-HTTPS with `fetch`, for runtimes without a DNS API. Method names and
 * results match `node:dns/promises`' `Resolver` (`resolveSrv`, `resolve4`, `resolve6`, `resolveCname`,
 * `resolveTxt`, `resolve`, `getServers`, `setServers`, `cancel`), and failures are {@linkcode DnsError}s
 * with Node's codes. Queries use message ID 0 and GET by default; servers are tried in turn, starting
 * with the last one that worked.
 *
 * **Cache.** Answers are cached for their smallest TTL less the HTTP `Age` (negative answers for the
 * SOA minimum, RFC 2308), in a cache bounded by `cacheSize` entries.
 *
 * **Merging lookups in flight.** Identical lookups (same name and type; `ttl` and `signal` do not
 * change the query) made through one resolver while a query for them runs wait for that query instead
 * of sending their own, and each gets its own copy of the result. A caller whose signal aborts fails
 * with `ECANCELLED` at once; the shared query goes on for the others and is aborted only when every
 * caller waiting for it has gone (or on its own timeout). `mergeInFlight: false` turns this off.
 *
 * **Serving stale (RFC 8767).** When every server fails to answer, by any failure but cancellation
 * (network errors, timeouts, HTTP errors, malformed answers, and rcodes other than NOERROR and
 * NXDOMAIN, such as SERVFAIL and REFUSED), a cached answer that expired no more than `maxStale` seconds
 * ago is served instead, with a TTL of at most `staleTtl` seconds so that callers come back soon; for
 * `staleTtl` seconds after such a failure the stale answer is served without asking again. NXDOMAIN
 * and NODATA are answers, not failures: they replace what was cached. A stale answer is logged as a
 * warning once per failed refresh and reported to `onStale` each time it is served; the results keep
 * Node's shapes.
 *
 * **Cloudflare Workers.** Keep one resolver at module scope, for its cache, and call
 * {@linkcode DohResolver.scope} inside each request: the view shares the cache of settled answers and
 * the configuration but merges only the lookups of its own request, because workerd cancels a request
 * that waits for a promise another request created.
 *
 * @example
 * ```ts
 * import { DohResolver } from "./resolver.ts";
 * import { encodeMessage } from "./wire.ts";
 * import { assertEquals } from "@std/assert";
 *
 * // A stand-in DoH server answering every query with one SRV record.
 * const fakeServer = (input: Request | URL | string) => {
 *   const url = new URL(new Request(input).url);
 *   const answer = encodeMessage({
 *     id: 0,
 *     flags: { qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: false, rcode: 0 },
 *     questions: [{ name: "_http._tcp.api.example", type: 33, class: 1 }],
 *     answers: [{
 *       name: "_http._tcp.api.example",
 *       type: 33,
 *       class: 1,
 *       ttl: 30,
 *       data: { kind: "SRV", priority: 10, weight: 5, port: 8080, target: "api-1.example" },
 *     }],
 *     authorities: [],
 *     additionals: [],
 *   });
 *   assertEquals(url.searchParams.has("dns"), true);
 *   const body = new Uint8Array(answer); // Response wants a Uint8Array over a plain ArrayBuffer
 *   return Promise.resolve(new Response(body, { headers: { "content-type": "application/dns-message" } }));
 * };
 * const resolver = new DohResolver({ servers: ["https://doh.example/dns-query"], fetch: fakeServer });
 * assertEquals(await resolver.resolveSrv("_http._tcp.api.example"), [
 *   { name: "api-1.example", port: 8080, priority: 10, weight: 5 },
 * ]);
 * ```
 */
export class DohResolver {
  readonly #s: Shared;
  readonly #merge: boolean;
  readonly #flights = new Flights<Found>();

  /**
   * Creates a resolver.
   *
   * @param options Servers, transport, timeout, cache, serve-stale, merging and injectables.
   * @throws {TypeError | RangeError} If an option is invalid.
   */
  constructor(options: DohResolverOptions = {}) {
    const parent = adopting;
    adopting = undefined;
    if (parent !== undefined) {
      this.#s = parent;
      this.#merge = true;
      return;
    }
    const servers = checkServers(options.servers ?? DEFAULT_SERVERS);
    const method = options.method ?? "GET";
    if (method !== "GET" && method !== "POST") {
      throw new TypeError(`options.method must be "GET" or "POST", got ${JSON.stringify(method)}`);
    }
    const format = options.format ?? "message";
    if (format !== "message" && format !== "json") {
      throw new TypeError(`options.format must be "message" or "json", got ${JSON.stringify(format)}`);
    }
    const merge = options.mergeInFlight ?? true;
    if (typeof merge !== "boolean") {
      throw new TypeError(`options.mergeInFlight must be a boolean, got ${JSON.stringify(merge)}`);
    }
    const cacheSize = requireNumber(options.cacheSize ?? 1000, "options.cacheSize", { integer: true });
    const maxStale = requireNumber(options.maxStale ?? 86_400, "options.maxStale");
    if (options.fetch !== undefined) requireFunction(options.fetch, "options.fetch");
    if (options.now !== undefined) requireFunction(options.now, "options.now");
    if (options.onStale !== undefined) requireFunction(options.onStale, "options.onStale");
    this.#merge = merge;
    this.#s = {
      servers,
      preferred: 0,
      generation: 0,
      method,
      format,
      timeout: requireNumber(options.timeout ?? 5000, "options.timeout", { min: 1 }),
      maxBytes: requireNumber(
        options.maxResponseBytes ?? (format === "json" ? 1 << 20 : 65535),
        "options.maxResponseBytes",
        { min: 12, integer: true },
      ),
      maxTtl: requireNumber(options.maxTtl ?? 3600, "options.maxTtl"),
      staleTtl: requireNumber(options.staleTtl ?? 30, "options.staleTtl"),
      // Unbound on purpose: workerd throws "Illegal invocation" for a stored fetch called as a method.
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      now: options.now ?? Date.now,
      logger: options.logger,
      onStale: options.onStale,
      cache: new AnswerCache(cacheSize, maxStale * 1000),
    };
  }

  /**
   * Returns a view of this resolver for one unit of work, such as one Cloudflare Workers request. The
   * view has the same methods and shares this resolver's configuration (servers included) and its cache
   * of settled answers, but has its own lookups in flight: it merges identical lookups made through it
   * (always, whatever `mergeInFlight` says), never with those of another view or of this resolver, and
   * its `cancel()` cancels only its own lookups. A view costs one small object and a Map; drop it when
   * the work is done.
   *
   * @returns A new view.
   *
   * @example
   * ```ts
   * import { DohResolver } from "./resolver.ts";
   * import { assertEquals } from "@std/assert";
   *
   * // At module scope: one resolver, whose cache outlives each request. (The fetch stands in for a DoH
   * // server so this example runs offline; it counts requests and knows no name.)
   * let requests = 0;
   * const resolver = new DohResolver({
   *   fetch: () => {
   *     requests++;
   *     const nxdomain = new Uint8Array([0, 0, 0x81, 0x83, 0, 0, 0, 0, 0, 0, 0, 0]);
   *     return Promise.resolve(new Response(nxdomain, { headers: { "content-type": "application/dns-message" } }));
   *   },
   * });
   *
   * const worker = {
   *   async fetch(_request: Request): Promise<Response> {
   *     // Inside the request: a view whose lookups in flight belong to this request only.
   *     const dns = resolver.scope();
   *     const found = await Promise.allSettled([dns.resolve4("api.example"), dns.resolve4("api.example")]);
   *     return Response.json(found.map((r) => r.status));
   *   },
   * };
   * assertEquals(await (await worker.fetch(new Request("https://gw.example/"))).json(), ["rejected", "rejected"]);
   * assertEquals(requests, 1); // one DoH query answered both lookups
   * ```
   */
  scope(): DohResolver {
    adopting = this.#s;
    return new DohResolver();
  }

  /**
   * Returns the DoH server URLs in use.
   *
   * @returns A copy of the list.
   */
  getServers(): string[] {
    return [...this.#s.servers];
  }

  /**
   * Replaces the DoH server URLs and clears the cache, for this resolver and every view of it. Answers
   * to lookups already in flight are still returned to their callers but no longer cached.
   *
   * @param servers `http:` or `https:` URLs.
   * @throws {TypeError} If the list is empty or a URL is invalid.
   */
  setServers(servers: readonly string[]): void {
    const s = this.#s;
    s.servers = checkServers(servers);
    s.preferred = 0;
    s.generation++;
    s.cache.clear();
  }

  /**
   * Aborts every lookup in flight through this resolver (or this view, not its parent or siblings);
   * each fails with `ECANCELLED`.
   */
  cancel(): void {
    this.#flights.abortAll(new DOMException("Cancelled", "AbortError"));
  }

  /**
   * Looks up SRV records.
   *
   * @param hostname The name, e.g. `_http._tcp.api.example.com`.
   * @param options A signal; `ttl: true` adds each record's remaining TTL (an addition to Node's API).
   * @returns The records, in the order the server gave them.
   * @throws {DnsError} `ENOTFOUND`, `ENODATA`, `ESERVFAIL`, `EREFUSED`, `ETIMEOUT`, `EBADRESP`, `ECONNREFUSED`, `ECANCELLED`.
   */
  resolveSrv(hostname: string, options: { signal?: AbortSignal; ttl: true }): Promise<SrvRecordWithTtl[]>;
  /**
   * Without `ttl: true`: the bare records, as Node returns them.
   *
   * @param hostname The name.
   * @param options A signal.
   * @returns The records.
   */
  resolveSrv(hostname: string, options?: ResolveWithTtlOptions): Promise<SrvRecord[]>;
  async resolveSrv(hostname: string, options: ResolveWithTtlOptions = {}): Promise<SrvRecord[]> {
    const { records, ttlOf } = await this.#lookup(hostname, RR_TYPE.SRV, options);
    return records.map((r) => {
      const d = r.data as { priority: number; weight: number; port: number; target: string };
      const out: SrvRecord = { name: d.target, port: d.port, priority: d.priority, weight: d.weight };
      return options.ttl ? { ...out, ttl: ttlOf(r) } : out;
    });
  }

  /**
   * Looks up IPv4 addresses.
   *
   * @param hostname The name.
   * @param options A signal; `ttl: true` returns `{ address, ttl }` objects.
   * @returns The addresses.
   * @throws {DnsError} As {@linkcode DohResolver.resolveSrv}.
   */
  resolve4(hostname: string, options: { signal?: AbortSignal; ttl: true }): Promise<RecordWithTtl[]>;
  /**
   * Without `ttl: true`: the bare addresses, as Node returns them.
   *
   * @param hostname The name.
   * @param options A signal.
   * @returns The addresses.
   */
  resolve4(hostname: string, options?: ResolveWithTtlOptions): Promise<string[]>;
  resolve4(hostname: string, options: ResolveWithTtlOptions = {}): Promise<string[] | RecordWithTtl[]> {
    return this.#addresses(hostname, RR_TYPE.A, options);
  }

  /**
   * Looks up IPv6 addresses.
   *
   * @param hostname The name.
   * @param options A signal; `ttl: true` returns `{ address, ttl }` objects.
   * @returns The addresses, in RFC 5952 form.
   * @throws {DnsError} As {@linkcode DohResolver.resolveSrv}.
   */
  resolve6(hostname: string, options: { signal?: AbortSignal; ttl: true }): Promise<RecordWithTtl[]>;
  /**
   * Without `ttl: true`: the bare addresses, as Node returns them.
   *
   * @param hostname The name.
   * @param options A signal.
   * @returns The addresses.
   */
  resolve6(hostname: string, options?: ResolveWithTtlOptions): Promise<string[]>;
  resolve6(hostname: string, options: ResolveWithTtlOptions = {}): Promise<string[] | RecordWithTtl[]> {
    return this.#addresses(hostname, RR_TYPE.AAAA, options);
  }

  /**
   * Looks up CNAME records.
   *
   * @param hostname The name.
   * @param options A signal.
   * @returns The canonical names.
   * @throws {DnsError} As {@linkcode DohResolver.resolveSrv}.
   */
  async resolveCname(hostname: string, options: ResolveOptions = {}): Promise<string[]> {
    const { records } = await this.#lookup(hostname, RR_TYPE.CNAME, options);
    return records.map((r) => (r.data as { target: string }).target);
  }

  /**
   * Looks up TXT records.
   *
   * @param hostname The name.
   * @param options A signal.
   * @returns One array of character-strings per record, as Node returns them.
   * @throws {DnsError} As {@linkcode DohResolver.resolveSrv}.
   */
  async resolveTxt(hostname: string, options: ResolveOptions = {}): Promise<string[][]> {
    const { records } = await this.#lookup(hostname, RR_TYPE.TXT, options);
    return records.map((r) => [...(r.data as { strings: readonly string[] }).strings]);
  }

  /**
   * Looks up records of one type, like Node's `resolve(hostname, rrtype)`.
   *
   * @param hostname The name.
   * @param rrtype `"A"` (default), `"AAAA"`, `"CNAME"`, `"SRV"` or `"TXT"`.
   * @returns What the matching `resolve*` method returns.
   * @throws {TypeError} For another rrtype. {@linkcode DnsError} as {@linkcode DohResolver.resolveSrv}.
   */
  resolve(hostname: string, rrtype: ResolveRrType = "A"): Promise<string[] | string[][] | SrvRecord[]> {
    switch (rrtype) {
      case "A":
        return this.resolve4(hostname);
      case "AAAA":
        return this.resolve6(hostname);
      case "CNAME":
        return this.resolveCname(hostname);
      case "SRV":
        return this.resolveSrv(hostname);
      case "TXT":
        return this.resolveTxt(hostname);
      default:
        return Promise.reject(
          new TypeError(`rrtype must be one of A, AAAA, CNAME, SRV, TXT, got ${JSON.stringify(rrtype)}`),
        );
    }
  }

  async #addresses(
    hostname: string,
    type: number,
    options: ResolveWithTtlOptions,
  ): Promise<string[] | RecordWithTtl[]> {
    const { records, ttlOf } = await this.#lookup(hostname, type, options);
    const addresses = records.map((r) => (r.data as { address: string }).address);
    return options.ttl ? records.map((r, i) => ({ address: addresses[i]!, ttl: ttlOf(r) })) : addresses;
  }

  async #lookup(
    hostname: string,
    type: number,
    options: ResolveOptions,
  ): Promise<{ records: readonly DnsRecord[]; ttlOf: (r: DnsRecord) => number }> {
    const syscall = SYSCALL[type]!;
    if (typeof hostname !== "string" || hostname === "") {
      throw new TypeError(`hostname must be a non-empty string, got ${JSON.stringify(hostname)}`);
    }
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object, got ${String(options)}`);
    }
    const signal = options.signal;
    requireSignal(signal, "options.signal");
    const s = this.#s;
    const name = hostname.replace(/\.$/, "");
    const key = cacheKey(type, name);
    const asked = s.now();
    const cached = s.cache.get(key, asked);
    let found: Found;
    if (cached !== undefined && cached.expires > asked) {
      found = { entry: cached, stale: false };
    } else if (cached?.refreshFailed !== undefined && cached.refreshFailed.until > asked) {
      found = { entry: cached, stale: true };
    } else {
      const cancelled = (reason: unknown) => new DnsError("ECANCELLED", syscall, name, { cause: reason });
      if (signal?.aborted) throw cancelled(signal.reason);
      found = await this.#flights.join(
        // The generation keeps a lookup after setServers from joining a query to the old servers.
        this.#merge ? `${s.generation}|${key}` : undefined,
        (querySignal) => refresh(s, name, type, key, querySignal),
        signal,
        cancelled,
      );
    }
    const { entry, stale } = found;
    const now = s.now();
    if (stale) reportStale(s, name, type, entry, now);
    if (entry.rcode === RCODE.NXDOMAIN) throw new DnsError("ENOTFOUND", syscall, name);
    if (entry.records.length === 0) throw new DnsError("ENODATA", syscall, name);
    if (stale) {
      const ttl = s.staleTtl === 0 ? 0 : Math.max(1, Math.ceil((entry.refreshFailed!.until - now) / 1000));
      return { records: entry.records, ttlOf: () => ttl };
    }
    const elapsed = Math.floor((now - entry.storedAt) / 1000);
    return { records: entry.records, ttlOf: (r) => Math.max(0, r.ttl - entry.age - elapsed) };
  }
}
