/**
 * etcd v3 over its HTTP/JSON gateway, with `fetch` (no gRPC needed): a client, an Instancer that
 * lists a key prefix and keeps a watch on it, a one-shot lookup for a `PullInstancer` (pull mode, for
 * hosts that refresh inside a request), and a Registrar that writes a key under a kept-alive lease.
 *
 * ```ts
 * import { EtcdClient, EtcdInstancer, EtcdRegistrar } from "@edgekit/sd/etcd";
 * import { assertEquals } from "@std/assert";
 *
 * // A stand-in gateway so the snippet runs offline; point `endpoints` at real members instead.
 * const store = new Map<string, string>();
 * const fakeEtcd = async (input: Request | URL | string, init?: RequestInit) => {
 *   const request = new Request(input, init);
 *   const path = new URL(request.url).pathname;
 *   const body = await request.json();
 *   if (path === "/v3/lease/grant") return Response.json({ header: {}, ID: "1", TTL: "10" });
 *   if (path === "/v3/kv/put") store.set(atob(body.key), atob(body.value));
 *   if (path === "/v3/kv/range") {
 *     const kvs = [...store].map(([k, v]) => ({ key: btoa(k), value: btoa(v) }));
 *     return Response.json({ header: { revision: "2" }, kvs });
 *   }
 *   return path === "/v3/watch" ? new Response("") : Response.json({ header: {} });
 * };
 *
 * const client = new EtcdClient({ endpoints: ["http://127.0.0.1:2379"], fetch: fakeEtcd });
 * const registrar = new EtcdRegistrar(client, { key: "/services/api/a", value: "10.0.0.1:8080", ttl: 10 });
 * await registrar.register();
 * using instancer = new EtcdInstancer(client, "/services/api/", { backoff: { initial: 60_000 } });
 * for await (const event of instancer) {
 *   assertEquals(event.instances, ["10.0.0.1:8080"]);
 *   break;
 * }
 * registrar.stop();
 * ```
 *
 * @module
 */
export {
  type EtcdCallOptions,
  EtcdClient,
  type EtcdClientOptions,
  type EtcdKeyValue,
  type EtcdRange,
  type EtcdRangeOptions,
  type EtcdWatchMessage,
  type EtcdWatchOptions,
} from "./client.ts";
export { EtcdInstancer, type EtcdInstancerOptions } from "./instancer.ts";
export { etcdLookup, type EtcdLookupOptions } from "./pull.ts";
export type { Lookup, LookupOptions, LookupResult } from "../pull_instancer.ts";
export { EtcdRegistrar, type EtcdRegistrarOptions } from "./registrar.ts";
export type { BackoffOptions } from "../_async.ts";
export type { FetchFunction } from "../http/factory.ts";
export type { Logger } from "../types.ts";
