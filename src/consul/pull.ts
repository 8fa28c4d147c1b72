/**
 * Pull mode over Consul: the one-shot lookup a {@linkcode PullInstancer} repeats inside requests.
 *
 * @module
 */
import { requireMethod, requireString } from "../_validate.ts";
import type { Lookup } from "../pull_instancer.ts";
import type { Logger } from "../types.ts";
import type { ConsulClient, ConsulHealthOptions } from "./client.ts";
import { type ConsulServiceQuery, lookupHealthService, queryOptions } from "./health.ts";
import { checkHealthOptions } from "./_query.ts";

/** Options for {@linkcode consulLookup}: the selection of {@linkcode ConsulInstancer}, and the agent's cache. */
export interface ConsulLookupOptions extends ConsulServiceQuery {
  /**
   * Read through the agent's cache (`?cached`, with `maxAge` and `staleIfError` sent as the request's
   * `Cache-Control`): the agent answers from its copy without asking the servers. Then, when the
   * answer carries no `Cache-Control` of its own, its TTL is `maxAge` minus its `Age`. Not with
   * `consistency: "consistent"`. Default: `false`.
   */
  cached?: ConsulHealthOptions["cached"];
  /** Receives skipped entries (port 0). Default: silent. */
  logger?: Logger;
}

/**
 * Builds the one-shot {@linkcode Lookup} of a {@linkcode PullInstancer} over Consul: each call is one
 * non-blocking `GET /v1/health/service/<service>` ({@linkcode lookupHealthService}), with the same
 * selection as {@linkcode ConsulInstancer} (passing only by default, tags, filter, consistency) and
 * the same instances and details.
 *
 * The TTL comes from the answer when something says how fresh it is: `Cache-Control: max-age=N`
 * minus `Age` (RFC 9111; `no-cache` or `no-store` mean 0), as a caching proxy in front of Consul
 * sends them; else, for `cached` reads with a `maxAge`, that `maxAge` minus the agent's `Age`; else
 * `undefined`, and the instancer's `ttl` applies. One lookup is one request (the client has one
 * address and does not retry).
 *
 * @param client The Consul client.
 * @param service The service name.
 * @param options Selection, the agent's cache, logger.
 * @returns The lookup.
 * @throws {TypeError | RangeError} If an argument is invalid (checked now, not on the first lookup).
 *
 * @example
 * ```ts
 * import { PullInstancer } from "@edgekit/sd";
 * import { ConsulClient, consulLookup } from "@edgekit/sd/consul";
 * import { assertEquals } from "@std/assert";
 *
 * // A stand-in agent behind a caching proxy; leave `fetch` out to talk to a real one.
 * const client = new ConsulClient({
 *   fetch: () =>
 *     Promise.resolve(Response.json([{
 *       Node: { Address: "10.0.0.1", Datacenter: "dc1" },
 *       Service: { ID: "api-1", Service: "api", Address: "", Port: 8080, Tags: [], Meta: null },
 *       Checks: [{ Status: "passing" }],
 *     }], { headers: { "x-consul-index": "7", "cache-control": "max-age=30", age: "10" } })),
 * });
 * const lookup = consulLookup(client, "api");
 * const { ttl } = await lookup({ signal: new AbortController().signal });
 * assertEquals(ttl, 20_000);
 *
 * using api = new PullInstancer(lookup, { ttl: 10_000 });
 * await api.refresh();
 * assertEquals(api.state()?.instances, ["10.0.0.1:8080"]);
 * ```
 */
export function consulLookup(
  client: ConsulClient,
  service: string,
  options: ConsulLookupOptions = {},
): Lookup {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${String(options)}`);
  }
  requireMethod(client, "healthService", "client");
  requireString(service, "service");
  const query = { ...options };
  // Every option is checked now: a typo fails the module, not the first request.
  checkHealthOptions({
    ...queryOptions(query),
    ...(query.cached === undefined ? {} : { cached: query.cached }),
  });
  const maxAge = typeof query.cached === "object" ? query.cached.maxAge : undefined;
  return async ({ signal }) => {
    signal.throwIfAborted();
    const { instances, headers } = await lookupHealthService(client, service, { ...query, signal });
    return { instances, ttl: freshness(headers, maxAge) };
  };
}

/**
 * How long an answer stays fresh, in ms, from its headers (RFC 9111 §4.2): the first
 * `Cache-Control: max-age` (`no-cache` or `no-store`: 0) minus `Age`, not below 0; without
 * `Cache-Control`, for a read through the agent's cache, `requestedMaxAge` (ms, as sent: whole
 * seconds) minus `Age` (0 when absent); else `undefined`. Values that are not integers are ignored,
 * as the RFC asks.
 */
export function freshness(headers: Headers, requestedMaxAge?: number): number | undefined {
  const age = seconds(headers.get("age")) ?? 0;
  const control = headers.get("cache-control");
  if (control !== null) {
    let maxAge: number | undefined;
    for (const part of control.split(",")) {
      const [name = "", value] = part.split("=", 2).map((s) => s.trim());
      const directive = name.toLowerCase();
      if (directive === "no-cache" || directive === "no-store") return 0;
      if (directive === "max-age" && maxAge === undefined) {
        maxAge = seconds(value?.replace(/^"(.*)"$/, "$1") ?? null);
      }
    }
    if (maxAge !== undefined) return Math.max(0, maxAge - age) * 1000;
  }
  // The agent sends Age with a cache hit, none with a miss (a copy fetched just now).
  if (requestedMaxAge !== undefined) {
    return Math.max(0, Math.ceil(requestedMaxAge / 1000) - age) * 1000;
  }
  return undefined;
}

function seconds(value: string | null): number | undefined {
  if (value === null || !/^\s*\d{1,10}\s*$/.test(value)) return undefined;
  return Number(value);
}
