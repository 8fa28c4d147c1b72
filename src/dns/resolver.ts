/**
 * A DNS resolver over HTTPS (RFC 8484) with the method names and result shapes of
 * `node:dns/promises`' `Resolver`.
 *
 * @module
 */
import { requireFunction, requireNumber, requireSignal } from "../_validate.ts";
import type { FetchFunction } from "../http/factory.ts";
import type { Logger } from "../types.ts";
import { AnswerCache, type CachedAnswer, cacheKey } from "./_cache.ts";
import { exchange } from "./_transport.ts";
import { DnsError } from "./errors.ts";
import { type DnsMessage, type DnsRecord, RCODE, RR_TYPE } from "./wire.ts";

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
  /** Entries kept in the answer cache; `0` disables it. Default: 1,000. */
  cacheSize?: number;
  /** Longest time in seconds an answer is cached, whatever its TTL. Default: 3,600. */
  maxTtl?: number;
  /** The fetch to use. Default: the global `fetch`, called unbound. */
  fetch?: FetchFunction;
  /** Clock in milliseconds, for the cache. Default: `Date.now`. */
  now?: () => number;
  /** Receives server failovers. Default: silent. */
  logger?: Logger;
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
const SYSCALL: Record<number, string> = {
  [RR_TYPE.A]: "queryA",
  [RR_TYPE.AAAA]: "queryAaaa",
  [RR_TYPE.CNAME]: "queryCname",
  [RR_TYPE.SRV]: "querySrv",
  [RR_TYPE.TXT]: "queryTxt",
};

/**
 * Resolves names through DNS-over-HTTPS with `fetch`, for runtimes without a DNS API. Method names and
 * results match `node:dns/promises`' `Resolver` (`resolveSrv`, `resolve4`, `resolve6`, `resolveCname`,
 * `resolveTxt`, `resolve`, `getServers`, `setServers`, `cancel`), and failures are {@linkcode DnsError}s
 * with Node's codes. Queries use message ID 0 and GET by default; servers are tried in turn, starting
 * with the last one that worked. Answers are cached for their smallest TTL less the HTTP `Age`
 * (negative answers for the SOA minimum, RFC 2308).
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
  #servers: string[];
  #preferred = 0;
  readonly #method: "GET" | "POST";
  readonly #format: "message" | "json";
  readonly #timeout: number;
  readonly #maxBytes: number;
  readonly #maxTtl: number;
  readonly #fetch: FetchFunction;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  readonly #cache: AnswerCache;
  readonly #inflight = new Set<AbortController>();

  /**
   * Creates a resolver.
   *
   * @param options Servers, transport, timeout, cache and injectables.
   * @throws {TypeError | RangeError} If an option is invalid.
   */
  constructor(options: DohResolverOptions = {}) {
    this.#servers = checkServers(options.servers ?? DEFAULT_SERVERS);
    const method = options.method ?? "GET";
    if (method !== "GET" && method !== "POST") {
      throw new TypeError(`options.method must be "GET" or "POST", got ${JSON.stringify(method)}`);
    }
    const format = options.format ?? "message";
    if (format !== "message" && format !== "json") {
      throw new TypeError(`options.format must be "message" or "json", got ${JSON.stringify(format)}`);
    }
    this.#method = method;
    this.#format = format;
    this.#timeout = requireNumber(options.timeout ?? 5000, "options.timeout", { min: 1 });
    this.#maxBytes = requireNumber(
      options.maxResponseBytes ?? (format === "json" ? 1 << 20 : 65535),
      "options.maxResponseBytes",
      { min: 12, integer: true },
    );
    this.#cache = new AnswerCache(
      requireNumber(options.cacheSize ?? 1000, "options.cacheSize", { integer: true }),
    );
    this.#maxTtl = requireNumber(options.maxTtl ?? 3600, "options.maxTtl");
    if (options.fetch !== undefined) requireFunction(options.fetch, "options.fetch");
    if (options.now !== undefined) requireFunction(options.now, "options.now");
    // Unbound on purpose: workerd throws "Illegal invocation" for a stored fetch called as a method.
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
  }

  /**
   * Returns the DoH server URLs in use.
   *
   * @returns A copy of the list.
   */
  getServers(): string[] {
    return [...this.#servers];
  }

  /**
   * Replaces the DoH server URLs and clears the cache.
   *
   * @param servers `http:` or `https:` URLs.
   * @throws {TypeError} If the list is empty or a URL is invalid.
   */
  setServers(servers: readonly string[]): void {
    this.#servers = checkServers(servers);
    this.#preferred = 0;
    this.#cache.clear();
  }

  /** Aborts every lookup in flight; each fails with `ECANCELLED`. */
  cancel(): void {
    for (const controller of this.#inflight) controller.abort(new DOMException("Cancelled", "AbortError"));
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
    requireSignal(options.signal, "options.signal");
    const name = hostname.replace(/\.$/, "");
    const key = cacheKey(type, name);
    let entry = this.#cache.get(key, this.#now());
    if (entry === undefined) {
      entry = await this.#query(name, type, syscall, options.signal);
    }
    if (entry.rcode === RCODE.NXDOMAIN) throw new DnsError("ENOTFOUND", syscall, name);
    if (entry.records.length === 0) throw new DnsError("ENODATA", syscall, name);
    const found = entry;
    const elapsed = Math.floor((this.#now() - found.storedAt) / 1000);
    return { records: found.records, ttlOf: (r) => Math.max(0, r.ttl - found.age - elapsed) };
  }

  async #query(
    name: string,
    type: number,
    syscall: string,
    signal: AbortSignal | undefined,
  ): Promise<CachedAnswer> {
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    if (signal?.aborted) controller.abort(signal.reason);
    else signal?.addEventListener("abort", onAbort, { once: true });
    this.#inflight.add(controller);
    try {
      const servers = this.#servers;
      let last: DnsError | undefined;
      for (let i = 0; i < servers.length; i++) {
        const index = (this.#preferred + i) % servers.length;
        const server = servers[index]!;
        try {
          const { message, age } = await exchange(server, name, type, syscall, {
            method: this.#method,
            format: this.#format,
            fetch: this.#fetch,
            timeout: this.#timeout,
            maxBytes: this.#maxBytes,
            signal: controller.signal,
          });
          const rcode = message.flags.rcode;
          if (
            rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED || rcode === RCODE.NOTIMP ||
            rcode === RCODE.FORMERR
          ) {
            const code = rcode === RCODE.SERVFAIL
              ? "ESERVFAIL"
              : rcode === RCODE.REFUSED
              ? "EREFUSED"
              : rcode === RCODE.NOTIMP
              ? "ENOTIMP"
              : "EFORMERR";
            throw new DnsError(code, syscall, name, { server }, `rcode ${rcode} (${server})`);
          }
          if (rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN) {
            throw new DnsError("EBADRESP", syscall, name, { server }, `rcode ${rcode} (${server})`);
          }
          this.#preferred = index;
          return this.#store(name, type, message, age);
        } catch (error) {
          if (!(error instanceof DnsError)) throw error;
          if (error.code === "ECANCELLED") throw error;
          last = error;
          if (i + 1 < servers.length) {
            this.#logger?.warn("DoH server failed; trying the next one", { server, error: error.message });
          }
        }
      }
      throw last!;
    } finally {
      this.#inflight.delete(controller);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  #store(name: string, type: number, message: DnsMessage, age: number): CachedAnswer {
    const now = this.#now();
    const records = followChain(name, type, message.answers);
    let ttl: number;
    if (records.length > 0) {
      // Freshness is the smallest TTL on the path, CNAMEs included (RFC 8484 §5.1).
      ttl = Math.min(...message.answers.map((r) => r.ttl));
    } else {
      // Negative caching (RFC 2308 §5): the SOA's TTL, capped by its minimum field.
      const soa = message.authorities.find((r) => r.data.kind === "SOA");
      ttl = soa === undefined ? 0 : Math.min(soa.ttl, (soa.data as { minimum: number }).minimum);
    }
    const seconds = Math.min(this.#maxTtl, ttl) - age;
    const entry: CachedAnswer = {
      rcode: message.flags.rcode,
      records,
      storedAt: now,
      age,
      expires: now + Math.max(0, seconds) * 1000,
    };
    this.#cache.set(cacheKey(type, name), entry);
    if (type === RR_TYPE.SRV) this.#storeTargets(records, message, age, now);
    return entry;
  }

  // The addresses of SRV targets that came in the additional section save a lookup each. Only names
  // that are targets of this very answer are taken, so a server cannot plant unrelated records.
  #storeTargets(records: readonly DnsRecord[], message: DnsMessage, age: number, now: number): void {
    const targets = new Set(records.map((r) => (r.data as { target: string }).target.toLowerCase()));
    for (const type of [RR_TYPE.A, RR_TYPE.AAAA]) {
      const byName = new Map<string, DnsRecord[]>();
      for (const r of message.additionals) {
        const owner = r.name.toLowerCase();
        if (r.type !== type || !targets.has(owner)) continue;
        byName.set(owner, [...(byName.get(owner) ?? []), r]);
      }
      for (const [owner, list] of byName) {
        const seconds = Math.min(this.#maxTtl, ...list.map((r) => r.ttl)) - age;
        this.#cache.set(cacheKey(type, owner), {
          rcode: RCODE.NOERROR,
          records: list,
          storedAt: now,
          age,
          expires: now + Math.max(0, seconds) * 1000,
        });
      }
    }
  }
}

/** Records of `type` owned by `name` or by a name it is a CNAME for (chains followed, loops cut). */
function followChain(name: string, type: number, answers: readonly DnsRecord[]): DnsRecord[] {
  if (type === RR_TYPE.CNAME) return answers.filter((r) => r.type === type && sameName(r.name, name));
  const names = new Set([name.toLowerCase()]);
  for (let grew = true; grew;) {
    grew = false;
    for (const r of answers) {
      if (
        r.data.kind === "CNAME" && names.has(r.name.toLowerCase()) && !names.has(r.data.target.toLowerCase())
      ) {
        names.add(r.data.target.toLowerCase());
        grew = true;
      }
    }
  }
  return answers.filter((r) => r.type === type && names.has(r.name.toLowerCase()));
}

function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function checkServers(servers: readonly string[]): string[] {
  if (!Array.isArray(servers) || servers.length === 0) {
    throw new TypeError(`servers must be a non-empty array of DoH URLs, got ${JSON.stringify(servers)}`);
  }
  return servers.map((s, i) => {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      throw new TypeError(`servers[${i}] is not a URL: ${JSON.stringify(s)}`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new TypeError(`servers[${i}] must be an http: or https: URL, got ${JSON.stringify(s)}`);
    }
    return url.href;
  });
}
