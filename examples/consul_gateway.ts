/**
 * A Hono gateway: `/api/*` goes to the passing instances of a Consul service (a blocking query keeps
 * the set current), round robin, retried on another instance. Configuration: consul_gateway.env.
 *   deno serve --env-file=examples/consul_gateway.env --allow-net=127.0.0.1 --allow-env --port 8787 \
 *     examples/consul_gateway.ts
 * then: curl http://127.0.0.1:8787/api/anything and curl http://127.0.0.1:8787/_gateway/status
 * Bun serves the same `export default` (PORT=8787 bun --env-file=examples/consul_gateway.env ...);
 * Node 20: consul_gateway_node.ts; Cloudflare Workers: hono_worker_gateway.ts (pull mode).
 */
import process from "node:process";
import { Hono } from "hono";
import { DefaultEndpointer, gracefulShutdown, httpFactory } from "@edgekit/sd";
import { ConsulClient, ConsulInstancer } from "@edgekit/sd/consul";
import { RoundRobinBalancer } from "@edgekit/sd/lb";
import { healthHandler, serviceProxy, statusHandler } from "@edgekit/sd/hono";

const { SD_CONSUL_ADDR = "127.0.0.1:8500", SD_SERVICE = "hello" } = process.env;
const instancer = new ConsulInstancer(new ConsulClient({ address: SD_CONSUL_ADDR }), SD_SERVICE);
const endpointer = new DefaultEndpointer(instancer, httpFactory({ timeout: 5_000 }));
// SIGTERM/SIGINT stop the watch (which would keep the process alive) and exit.
await gracefulShutdown({ endpointers: [endpointer], instancers: [instancer], exit: 0 });

export default new Hono()
  .get("/healthz", healthHandler())
  // Lists instance addresses: keep it on a network only operators reach.
  .get("/_gateway/status", statusHandler({ [SD_SERVICE]: { endpointer } }, { expose: true }))
  .all("/api/*", serviceProxy(new RoundRobinBalancer(endpointer), { stripPrefix: "/api", endpointer }));
