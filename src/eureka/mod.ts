/**
 * Eureka (Spring Cloud Netflix and Netflix servers) over `fetch` and JSON: a client that fails over
 * between servers and smooths out the JSON quirks Eureka inherited from XML; an Instancer that polls
 * one application; a one-shot lookup of one application for a `PullInstancer` (pull mode, for hosts
 * that refresh inside a request); a registry copy kept current with deltas (checked against the
 * server's hash code) that feeds instancers for many applications; and a Registrar that registers,
 * sends heartbeats, registers again when the server forgets the instance, and sets status and
 * metadata.
 *
 * Instances are published as `ipAddr:port` (IPv6 bracketed), only `UP` ones by default; each
 * carries `id`, `status`, `zone` and `meta` details (see {@linkcode EurekaInstancer} and
 * {@linkcode EUREKA_META_KEYS}). An application the server does not know is an empty set for the
 * instancers, and an error for {@linkcode eurekaLookup} unless asked otherwise (its stale copy then
 * rides out a restarted server that has not heard the heartbeats yet).
 *
 * ```ts
 * import { EurekaClient, EurekaInstancer, EurekaRegistrar } from "./mod.ts";
 * import { assertEquals } from "@std/assert";
 *
 * // A stand-in server so the snippet runs offline; point `urls` at a real one instead
 * // (Spring Cloud: http://host:8761/eureka, Netflix: http://host:8080/eureka/v2).
 * const registered: Record<string, unknown>[] = [];
 * const fakeEureka = async (input: Request | URL | string, init?: RequestInit) => {
 *   const request = new Request(input, init);
 *   if (request.method === "POST") {
 *     registered.push((await request.json()).instance);
 *     return new Response(null, { status: 204 });
 *   }
 *   if (request.method === "GET") {
 *     return Response.json({ application: { name: "USERS", instance: registered } });
 *   }
 *   return new Response(null, { status: 200 });
 * };
 *
 * const client = new EurekaClient({ urls: "http://127.0.0.1:8761/eureka", fetch: fakeEureka });
 * const registrar = new EurekaRegistrar(client, { app: "users", ipAddr: "10.0.0.1", port: 8080 });
 * await registrar.register();
 * using instancer = new EurekaInstancer(client, "users", { interval: 5000 });
 * for await (const event of instancer) {
 *   assertEquals(event.instances, ["10.0.0.1:8080"]);
 *   assertEquals(event.details?.get("10.0.0.1:8080")?.meta?.["eureka.vipAddress"], "users");
 *   break;
 * }
 * registrar.stop();
 * ```
 *
 * @module
 */
export {
  type EurekaActionType,
  type EurekaApplication,
  type EurekaApplications,
  type EurekaCallOptions,
  EurekaClient,
  type EurekaClientOptions,
  type EurekaInstance,
  type EurekaInstanceStatus,
} from "./client.ts";
export { EurekaInstancer, type EurekaInstancerOptions } from "./instancer.ts";
export { eurekaLookup, type EurekaLookupOptions } from "./pull.ts";
export type { Lookup, LookupOptions, LookupResult } from "../pull_instancer.ts";
export {
  EurekaRegistry,
  EurekaRegistryInstancer,
  type EurekaRegistryInstancerOptions,
  type EurekaRegistryOptions,
} from "./registry.ts";
export { EurekaRegistrar, type EurekaRegistrarOptions } from "./registrar.ts";
export {
  type EurekaDataCenterInfo,
  type EurekaRegistrarStatus,
  type EurekaRegistrationOptions,
} from "./_registration.ts";
export { EUREKA_META_KEYS, type EurekaMetaKeys, type EurekaSelectOptions } from "./_select.ts";
export type { BackoffOptions } from "../_async.ts";
export type { FetchFunction } from "../http/factory.ts";
export type { Logger } from "../types.ts";
