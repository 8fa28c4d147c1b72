/**
 * Pull mode over DNS SRV records: the one-shot lookup a {@linkcode PullInstancer} repeats inside
 * requests.
 *
 * @module
 */
import { requireMethod, requireString } from "../_validate.ts";
import { describe } from "../errors.ts";
import type { Lookup } from "../pull_instancer.ts";
import type { Logger } from "../types.ts";
import { lookupSrv, type SrvResolver } from "./lookup.ts";

/**
 * A {@linkcode SrvResolver} that may hand out per-request views, as `DohResolver.scope()` does: a view
 * shares the resolver's cache of settled answers but merges identical queries in flight only among
 * its own lookups.
 */
export interface ScopedSrvResolver extends SrvResolver {
  /** A view for one unit of work (one lookup here). Optional: without it the resolver is used as is. */
  scope?(): SrvResolver;
}

/** Options for {@linkcode srvLookup}. */
export interface SrvLookupOptions {
  /**
   * Replace each target host by its addresses (`"ipv4"`, `"ipv6"` or `"both"`), for runtimes whose
   * `fetch` cannot resolve the targets' names. Their TTLs count too. Default: `false`.
   */
  resolveTargets?: false | "ipv4" | "ipv6" | "both";
  /** Receives skipped records (port 0, unresolvable targets). Default: silent. */
  logger?: Logger;
}

/**
 * Builds the one-shot {@linkcode Lookup} of a {@linkcode PullInstancer} over DNS SRV records: each
 * call is one {@linkcode lookupSrv} (instances `target:port` with `priority` and `weight` details,
 * for `Rfc2782Balancer`), and its TTL is the smallest record TTL, in ms (`undefined` when the
 * resolver reports none, as `node:dns` does: the instancer's `ttl` applies).
 *
 * When the resolver has a `scope()` method (`DohResolver` does), each lookup runs on a view of its
 * own, so identical queries in flight are merged only within that lookup, never across Workers
 * requests (a request must not wait on a query another request started), while the resolver's cache
 * of settled answers stays shared.
 *
 * A lookup is one SRV query (none when the resolver's cache answers), one more per DoH server the
 * resolver fails over to, and with `resolveTargets` one A and/or AAAA query per target.
 *
 * @param resolver A {@linkcode SrvResolver}, such as a `DohResolver` (at module scope) or
 *   `node:dns/promises`' `Resolver`.
 * @param name The full SRV name, e.g. `_http._tcp.api.example.com`.
 * @param options Target resolution, logger.
 * @returns The lookup.
 * @throws {TypeError} If an argument is invalid.
 *
 * @example
 * ```ts
 * import { PullInstancer } from "@edgekit/sd";
 * import { srvLookup } from "@edgekit/sd/dnssrv";
 * import { assertEquals } from "@std/assert";
 *
 * // Any object with resolveSrv() works: a DohResolver, node:dns/promises' Resolver, or this stand-in.
 * const resolver = {
 *   resolveSrv: () =>
 *     Promise.resolve([
 *       { name: "10.0.0.1", port: 8080, priority: 10, weight: 90, ttl: 30 },
 *       { name: "10.0.0.9", port: 8080, priority: 20, weight: 10, ttl: 20 },
 *     ]),
 * };
 * const lookup = srvLookup(resolver, "_http._tcp.api.example.com");
 * assertEquals((await lookup({ signal: new AbortController().signal })).ttl, 20_000);
 *
 * using api = new PullInstancer(lookup);
 * await api.refresh();
 * assertEquals(api.state()?.instances, ["10.0.0.1:8080", "10.0.0.9:8080"]);
 * assertEquals(api.details("10.0.0.9:8080"), { priority: 20, weight: 10 });
 * ```
 */
export function srvLookup(resolver: ScopedSrvResolver, name: string, options: SrvLookupOptions = {}): Lookup {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  requireMethod(resolver, "resolveSrv", "resolver");
  requireString(name, "name");
  const mode = options.resolveTargets ?? false;
  if (mode !== false && mode !== "ipv4" && mode !== "ipv6" && mode !== "both") {
    throw new TypeError(
      `options.resolveTargets must be false, "ipv4", "ipv6" or "both", got ${describe(mode)}`,
    );
  }
  if (mode !== false) {
    for (
      const family of mode === "both" ? ["resolve4", "resolve6"] : [mode === "ipv4" ? "resolve4" : "resolve6"]
    ) {
      requireMethod(resolver, family, "resolver");
    }
  }
  const scoped = typeof resolver.scope === "function";
  const logger = options.logger;
  return async ({ signal }) => {
    signal.throwIfAborted();
    const view = scoped ? resolver.scope!() : resolver;
    requireMethod(view, "resolveSrv", "resolver.scope()");
    const found = await lookupSrv(view, name, {
      signal,
      resolveTargets: mode,
      ...(logger === undefined ? {} : { logger }),
    });
    return { instances: found.instances, ttl: found.ttl === undefined ? undefined : found.ttl * 1000 };
  };
}
