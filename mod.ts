/**
 * Service discovery and client-side load balancing on Web standards, after go-kit `sd`.
 *
 * Data flows from a registry through an {@linkcode Instancer} (complete sets of instances) to a
 * {@linkcode DefaultEndpointer} (one endpoint per instance, made by a {@linkcode Factory}), then to a
 * balancer and retry from `@edgekit/sd/lb`, or straight to {@linkcode balancedFetch}.
 *
 * ```ts
 * import { balancedFetch, DefaultEndpointer, httpFactory } from "@edgekit/sd";
 * import { RoundRobinBalancer } from "@edgekit/sd/lb";
 * import { MemoryRegistry } from "@edgekit/sd/memory";
 * import { assert } from "@std/assert";
 *
 * using registry = new MemoryRegistry();
 * registry.register("users", "10.0.0.1:8080");
 * registry.register("users", "10.0.0.2:8080");
 *
 * const factory = httpFactory({ fetch: async (input) => new Response(new Request(input).url) });
 * using endpointer = new DefaultEndpointer(registry.instancer("users"), factory);
 * await endpointer.ready();
 * const api = balancedFetch(new RoundRobinBalancer(endpointer));
 * assert((await (await api("/users/1")).text()) === "http://10.0.0.1:8080/users/1");
 * ```
 *
 * @module
 */
export * from "./src/mod.ts";
