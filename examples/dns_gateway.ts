/**
 * A Hono gateway: `/api/*` goes to the instances of a service published as DNS SRV records, found
 * through DNS-over-HTTPS (re-queried as the TTLs run out), picked by RFC 2782 priority and weight,
 * retried on another instance. Configuration: dns_gateway.env.
 *   deno serve --env-file=examples/dns_gateway.env --allow-net --allow-env --port 8787 examples/dns_gateway.ts
 * then: curl http://127.0.0.1:8787/api/anything and curl http://127.0.0.1:8787/_gateway/status
 */
import process from "node:process";
import { Hono } from "hono";
import { DefaultEndpointer, gracefulShutdown, httpFactory } from "@edgekit/sd";
import { DohResolver } from "@edgekit/sd/dns";
import { DnsSrvInstancer } from "@edgekit/sd/dnssrv";
import { Rfc2782Balancer } from "@edgekit/sd/lb";
import { healthHandler, serviceProxy, statusHandler } from "@edgekit/sd/hono";

const { SD_DOH_URL = "https://cloudflare-dns.com/dns-query", SD_SRV_NAME = "_http._tcp.api.svc.test" } =
  process.env;
// Targets become IPv4 addresses through the same DoH server, so fetch needs no resolver of its own.
const resolver = new DohResolver({ servers: [SD_DOH_URL] });
const instancer = new DnsSrvInstancer(SD_SRV_NAME, { resolver, minInterval: 1_000, resolveTargets: "ipv4" });
const endpointer = new DefaultEndpointer(instancer, httpFactory({ timeout: 5_000 }));
// SIGTERM/SIGINT stop the re-queries (which would keep the process alive) and exit.
await gracefulShutdown({ endpointers: [endpointer], instancers: [instancer], exit: 0 });

export default new Hono()
  .get("/healthz", healthHandler())
  // Lists instance addresses: keep it on a network only operators reach.
  .get("/_gateway/status", statusHandler({ [SD_SRV_NAME]: { endpointer } }, { expose: true }))
  .all("/api/*", serviceProxy(new Rfc2782Balancer(endpointer), { stripPrefix: "/api", endpointer }));
