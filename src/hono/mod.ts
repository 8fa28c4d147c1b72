/**
 * Hono integration: a handler that forwards a route to a discovered service (watch mode on Deno,
 * Bun and Node; pull mode on Workers), a health route for registry checks, and a status route. The
 * only part of the library that imports `hono`; it imports no backend: pass it the balancer,
 * endpointer or instancer you built from any of them.
 *
 * @example A gateway in front of the `users` service
 * ```ts
 * import { Hono } from "hono";
 * import { DefaultEndpointer, FixedInstancer, httpFactory } from "@edgekit/sd";
 * import { RoundRobinBalancer } from "@edgekit/sd/lb";
 * import { healthHandler, serviceProxy } from "@edgekit/sd/hono";
 * import { assertEquals } from "@std/assert";
 *
 * const factory = httpFactory({ fetch: async () => new Response("hello from users") });
 * using users = new DefaultEndpointer(new FixedInstancer(["10.0.0.1:8080"]), factory);
 * const app = new Hono();
 * app.get("/healthz", healthHandler());
 * app.all("/users/*", serviceProxy(new RoundRobinBalancer(users), { stripPrefix: "/users", endpointer: users }));
 * assertEquals(await (await app.request("/users/1")).text(), "hello from users");
 * ```
 *
 * @module
 */
export * from "./proxy.ts";
export * from "./health.ts";
export * from "./status.ts";
export * from "./serve.ts";
export type { BalancedFetchOptions } from "../http/balanced_fetch.ts";
export type { Balancer, CallHandle, CallOutcome } from "../lb/balancer.ts";
export type { BackoffOptions, RetryCallback, RetryOptions } from "../lb/retry.ts";
export type { PullStatus, RefreshOptions, RefreshResult, RefreshSource } from "../pull_instancer.ts";
export type { Endpoint, EndpointOptions, HealthStatus, InstanceDetails } from "../types.ts";
export type {
  Closable,
  Deregistrable,
  ShutdownContext,
  ShutdownFailure,
  ShutdownHandle,
  ShutdownHook,
  ShutdownReport,
  ShutdownTargets,
  Stoppable,
} from "../shutdown.ts";
export type { ShutdownSignal, SignalSource } from "../signals.ts";
export type { Logger, RegistrarCallOptions } from "../types.ts";
