/**
 * A Hono gateway: `/api/*` goes to the instances stored under a key prefix in etcd (a watch keeps the
 * set current), round robin, retried on another instance. Configuration: etcd_gateway.env.
 *   deno serve --env-file=examples/etcd_gateway.env --allow-net=127.0.0.1 --allow-env --port 8788 \
 *     examples/etcd_gateway.ts
 * then: curl http://127.0.0.1:8788/api/anything and curl http://127.0.0.1:8788/_gateway/status
 */
import process from "node:process";
import { Hono } from "hono";
import { DefaultEndpointer, gracefulShutdown, httpFactory } from "@edgekit/sd";
import { EtcdClient, EtcdInstancer } from "@edgekit/sd/etcd";
import { RoundRobinBalancer } from "@edgekit/sd/lb";
import { healthHandler, serviceProxy, statusHandler } from "@edgekit/sd/hono";

const { SD_ETCD_URL = "http://127.0.0.1:2379", SD_PREFIX = "/services/orders/" } = process.env;
const instancer = new EtcdInstancer(new EtcdClient({ endpoints: SD_ETCD_URL.split(",") }), SD_PREFIX);
const endpointer = new DefaultEndpointer(instancer, httpFactory({ timeout: 5_000 }));
// SIGTERM/SIGINT stop the watch (which would keep the process alive) and exit.
await gracefulShutdown({ endpointers: [endpointer], instancers: [instancer], exit: 0 });

export default new Hono()
  .get("/healthz", healthHandler())
  // Lists instance addresses: keep it on a network only operators reach.
  .get("/_gateway/status", statusHandler({ [SD_PREFIX]: { endpointer } }, { expose: true }))
  .all("/api/*", serviceProxy(new RoundRobinBalancer(endpointer), { stripPrefix: "/api", endpointer }));
