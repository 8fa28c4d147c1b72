/**
 * Service discovery by DNS SRV records: an Instancer that re-queries at the records' TTL and keeps
 * priority and weight for `Rfc2782Balancer`, over the DoH resolver or Node's own; and
 * {@linkcode srvLookup}, the one-shot lookup of a `PullInstancer` (pull mode, for hosts that refresh
 * inside a request), fresh for the records' TTL.
 *
 * ```ts
 * import { DefaultEndpointer } from "@edgekit/sd";
 * import { Rfc2782Balancer } from "@edgekit/sd/lb";
 * import { DnsSrvInstancer } from "@edgekit/sd/dnssrv";
 * import { assertEquals } from "@std/assert";
 *
 * // Any object with resolveSrv() works: DohResolver, node:dns/promises' Resolver, or this stand-in.
 * const resolver = {
 *   resolveSrv: () =>
 *     Promise.resolve([
 *       { name: "10.0.0.1", port: 8080, priority: 10, weight: 90, ttl: 30 },
 *       { name: "10.0.0.9", port: 8080, priority: 20, weight: 10, ttl: 30 },
 *     ]),
 * };
 * using instancer = new DnsSrvInstancer("_http._tcp.api.example.com", { resolver });
 * using endpointer = new DefaultEndpointer(instancer, (instance) => ({ endpoint: () => Promise.resolve(instance) }));
 * await endpointer.ready();
 * const balancer = new Rfc2782Balancer(endpointer);
 * assertEquals(await balancer.endpoint()(undefined), "10.0.0.1:8080"); // priority 10 wins
 * ```
 *
 * @module
 */
export { DnsSrvInstancer, type DnsSrvInstancerOptions } from "./instancer.ts";
export {
  joinHostPort,
  lookupSrv,
  type LookupSrvOptions,
  type SrvLookup,
  type SrvResolver,
} from "./lookup.ts";
export { type ScopedSrvResolver, srvLookup, type SrvLookupOptions } from "./pull.ts";
export type { Lookup, LookupOptions, LookupResult } from "../pull_instancer.ts";
export type { BackoffOptions } from "../_async.ts";
export type { Logger } from "../types.ts";
