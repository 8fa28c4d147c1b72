/**
 * Service discovery and registration with Consul over `fetch`, for every runtime with Web APIs.
 *
 * - {@linkcode ConsulInstancer} follows a service through blocking queries on
 *   `/v1/health/service/<name>` (passing instances only by default; tags and filter expressions
 *   matched by Consul), by Consul's rules for the index, paced by a token bucket, backing off on
 *   failures, and keeps weights, tags, metadata, datacenter and health in each instance's details.
 * - {@linkcode lookupHealthService} asks once, for hosts that refresh inside a request;
 *   {@linkcode consulLookup} wraps it as the lookup of a `PullInstancer` (pull mode), with a TTL from
 *   the answer's `Cache-Control` and `Age` and optional reads through the agent's cache.
 * - {@linkcode ConsulRegistrar} registers an instance with the local agent, keeps its TTL checks
 *   passing, and registers again when the agent loses it.
 * - {@linkcode ConsulClient} is the HTTP client they share: address (http or https), ACL token,
 *   datacenter, namespace and partition, injectable fetch, a timeout on every request and a cap on
 *   response size.
 *
 * ```ts
 * import { DefaultEndpointer } from "@edgekit/sd";
 * import { RoundRobinBalancer } from "@edgekit/sd/lb";
 * import { ConsulClient, ConsulInstancer } from "./mod.ts";
 * import { assertEquals } from "@std/assert";
 *
 * // A stand-in for the agent at 127.0.0.1:8500; leave `fetch` out to talk to a real one.
 * const agent = (input: Request | URL | string) => {
 *   const url = new URL(String(input));
 *   assertEquals(url.searchParams.get("filter"), '"v2" in Service.Tags');
 *   return Promise.resolve(Response.json([
 *     {
 *       Node: { Address: "10.0.0.1", Datacenter: "dc1" },
 *       Service: { ID: "api-1", Service: "api", Address: "", Port: 8080, Tags: ["v2"], Meta: null },
 *       Checks: [{ Status: "passing" }],
 *     },
 *   ], { headers: { "x-consul-index": "12" } }));
 * };
 * const client = new ConsulClient({ address: "127.0.0.1:8500", fetch: agent });
 * using instancer = new ConsulInstancer(client, "api", { tags: ["v2"] });
 * using endpointer = new DefaultEndpointer(instancer, (instance) => ({
 *   endpoint: () => Promise.resolve(`would call http://${instance}`),
 * }));
 * await endpointer.ready();
 * const balancer = new RoundRobinBalancer(endpointer);
 * assertEquals(await balancer.endpoint()(undefined), "would call http://10.0.0.1:8080");
 * ```
 *
 * @module
 */
export {
  type ConsulCacheOptions,
  type ConsulCallOptions,
  ConsulClient,
  type ConsulClientOptions,
  type ConsulConsistency,
  type ConsulHealthOptions,
  type ConsulHealthResponse,
  type ConsulServiceEntry,
} from "./client.ts";
export { ConsulHttpError } from "./errors.ts";
export {
  type ConsulLookup,
  type ConsulServiceQuery,
  entryToInstance,
  lookupHealthService,
  type LookupHealthServiceOptions,
} from "./health.ts";
export { ConsulInstancer, type ConsulInstancerOptions, type ConsulRateLimit } from "./instancer.ts";
export { consulLookup, type ConsulLookupOptions } from "./pull.ts";
export type { Lookup, LookupOptions, LookupResult } from "../pull_instancer.ts";
export { ConsulRegistrar, type ConsulRegistrarOptions } from "./registrar.ts";
export type {
  ConsulCheck,
  ConsulCheckCommon,
  ConsulHttpCheck,
  ConsulServiceRegistration,
  ConsulTcpCheck,
  ConsulTtlCheck,
} from "./registration.ts";
export type { BackoffOptions } from "../_async.ts";
export type { Logger } from "../types.ts";
