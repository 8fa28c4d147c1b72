// Asking the DoH servers for one lookup: failover in turn from the last server that worked, storing
// the answer in the shared cache, and falling back on a stale cached answer when every server fails
// (RFC 8767). Works on the state a DohResolver shares with its scope() views: configuration and
// settled answers only, never a pending promise. Internal.
import { describe } from "../errors.ts";
import type { FetchFunction } from "../http/factory.ts";
import type { Logger } from "../types.ts";
import { entriesOf } from "./_answer.ts";
import { type AnswerCache, type CachedAnswer, cacheKey } from "./_cache.ts";
import { exchange } from "./_transport.ts";
import { DnsError } from "./errors.ts";
import { RCODE, RR_TYPE } from "./wire.ts";

/** The record types the resolver asks for, by number. */
export const RRTYPE: Record<number, "A" | "AAAA" | "CNAME" | "SRV" | "TXT"> = {
  [RR_TYPE.A]: "A",
  [RR_TYPE.AAAA]: "AAAA",
  [RR_TYPE.CNAME]: "CNAME",
  [RR_TYPE.SRV]: "SRV",
  [RR_TYPE.TXT]: "TXT",
};

/** Node's syscall names, by record type. */
export const SYSCALL: Record<number, string> = {
  [RR_TYPE.A]: "queryA",
  [RR_TYPE.AAAA]: "queryAaaa",
  [RR_TYPE.CNAME]: "queryCname",
  [RR_TYPE.SRV]: "querySrv",
  [RR_TYPE.TXT]: "queryTxt",
};

/** What onStale receives (the public type is DnsStaleAnswer in resolver.ts). */
export interface StaleReport {
  hostname: string;
  rrtype: "A" | "AAAA" | "CNAME" | "SRV" | "TXT";
  staleFor: number;
  error: DnsError;
}

/** What a resolver and every view from its `scope()` share: configuration and settled answers only. */
export interface Shared {
  servers: string[];
  preferred: number;
  /** Bumped by setServers; answers to queries started before are then not stored. */
  generation: number;
  readonly method: "GET" | "POST";
  readonly format: "message" | "json";
  readonly timeout: number;
  readonly maxBytes: number;
  readonly maxTtl: number;
  /** Seconds. */
  readonly staleTtl: number;
  readonly fetch: FetchFunction;
  readonly now: () => number;
  readonly logger: Logger | undefined;
  readonly onStale: ((answer: StaleReport) => void) | undefined;
  readonly cache: AnswerCache;
}

/** A cache entry to answer from, and whether it is served stale. */
export interface Found {
  entry: CachedAnswer;
  stale: boolean;
}

/** Queries the servers; if they all fail, falls back on a stale cached answer (RFC 8767). */
export async function refresh(
  s: Shared,
  name: string,
  type: number,
  key: string,
  signal: AbortSignal,
): Promise<Found> {
  try {
    return { entry: await query(s, name, type, signal), stale: false };
  } catch (error) {
    // Cancellation is the caller giving up, not the servers failing.
    if (!(error instanceof DnsError) || error.code === "ECANCELLED") throw error;
    const now = s.now();
    const cached = s.cache.get(key, now);
    if (cached === undefined) throw error;
    // Another view may have refreshed it meanwhile.
    if (cached.expires > now) return { entry: cached, stale: false };
    const entry: CachedAnswer = { ...cached, refreshFailed: { until: now + s.staleTtl * 1000, error } };
    s.cache.set(key, entry);
    s.logger?.warn("Every DoH server failed; serving a stale answer", {
      hostname: name,
      rrtype: RRTYPE[type],
      staleFor: Math.floor((now - cached.expires) / 1000),
      error: error.message,
    });
    return { entry, stale: true };
  }
}

/** Tells `onStale` that `entry` (which has `refreshFailed`) is being served; its errors are logged. */
export function reportStale(s: Shared, name: string, type: number, entry: CachedAnswer, now: number): void {
  if (s.onStale === undefined) return;
  try {
    s.onStale({
      hostname: name,
      rrtype: RRTYPE[type]!,
      staleFor: Math.floor((now - entry.expires) / 1000),
      error: entry.refreshFailed!.error,
    });
  } catch (error) {
    s.logger?.error("onStale threw; ignored", { error: describe(error) });
  }
}

/** Asks the servers in turn, starting with the last one that worked; stores and returns the answer. */
async function query(s: Shared, name: string, type: number, signal: AbortSignal): Promise<CachedAnswer> {
  const syscall = SYSCALL[type]!;
  const { servers, generation } = s;
  let last: DnsError | undefined;
  for (let i = 0; i < servers.length; i++) {
    const index = (s.preferred + i) % servers.length;
    const server = servers[index]!;
    try {
      const { message, age } = await exchange(server, name, type, syscall, {
        method: s.method,
        format: s.format,
        fetch: s.fetch,
        timeout: s.timeout,
        maxBytes: s.maxBytes,
        signal,
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
      const [entry, ...extra] = entriesOf(name, type, message, age, s.now(), s.maxTtl);
      // After setServers the answer still goes to its callers, but neither it nor the index is kept.
      if (s.generation === generation) {
        s.preferred = index;
        s.cache.set(cacheKey(type, name), entry);
        for (const [key, other] of extra) s.cache.set(key, other);
      }
      return entry;
    } catch (error) {
      if (!(error instanceof DnsError)) throw error;
      if (error.code === "ECANCELLED") throw error;
      last = error;
      if (i + 1 < servers.length) {
        s.logger?.warn("DoH server failed; trying the next one", { server, error: error.message });
      }
    }
  }
  throw last!;
}

/** Validates DoH server URLs; returns them normalised. */
export function checkServers(servers: readonly string[]): string[] {
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
