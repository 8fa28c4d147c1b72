/**
 * A Hono gateway: `/api/*` goes to the UP instances of a Eureka application (polled; OUT_OF_SERVICE
 * and DOWN drop out at the next poll), round robin, retried on another instance. Configuration:
 * eureka_gateway.env.
 *   deno serve --env-file=examples/eureka_gateway.env --allow-net=127.0.0.1 --allow-env --port 8789 \
 *     examples/eureka_gateway.ts
 * then: curl http://127.0.0.1:8789/api/anything and curl http://127.0.0.1:8789/_gateway/status
 */
import process from "node:process";
import { Hono } from "hono";
import { DefaultEndpointer, gracefulShutdown, httpFactory } from "@edgekit/sd";
import { EurekaClient, EurekaInstancer } from "@edgekit/sd/eureka";
import { RoundRobinBalancer } from "@edgekit/sd/lb";
import { healthHandler, serviceProxy, statusHandler } from "@edgekit/sd/hono";

const { SD_EUREKA_URLS = "http://127.0.0.1:8761/eureka", SD_APP = "orders", SD_POLL_MS = "5000" } =
  process.env;
const client = new EurekaClient({ urls: SD_EUREKA_URLS.split(",") });
const instancer = new EurekaInstancer(client, SD_APP, { interval: Number(SD_POLL_MS) });
const endpointer = new DefaultEndpointer(instancer, httpFactory({ timeout: 5_000 }));
// SIGTERM/SIGINT stop the polling (which would keep the process alive) and exit.
await gracefulShutdown({ endpointers: [endpointer], instancers: [instancer], exit: 0 });

export default new Hono()
  .get("/healthz", healthHandler())
  // Lists instance addresses: keep it on a network only operators reach.
  .get("/_gateway/status", statusHandler({ [SD_APP]: { endpointer } }, { expose: true }))
  .all("/api/*", serviceProxy(new RoundRobinBalancer(endpointer), { stripPrefix: "/api", endpointer }));
