/**
 * A Hono gateway that routes `/api/*` to the instances of a service published as DNS SRV records
 * (`_http._tcp.<name>`), found through DNS-over-HTTPS, balanced by RFC 2782 priority and weight, with
 * retries on another instance. Works wherever `fetch` works: the same `createGateway` runs in a
 * Worker's `fetch` handler.
 *
 * Run against a public DoH provider:
 *   deno run --allow-net examples/dns_gateway.ts _http._tcp.example.com
 * or against the local BIND + dnsdist (scripts/servers/dns.sh):
 *   SD_DOH_URL=http://127.0.0.1:8054/dns-query deno run --allow-net=127.0.0.1 --allow-env \
 *     examples/dns_gateway.ts _http._tcp.api.svc.test
 * then: curl http://127.0.0.1:8787/api/anything
 */
import type { Hono } from "hono";
import { proxyApp } from "./_gateway.ts";
import { balancedFetch, DefaultEndpointer, httpFactory } from "../mod.ts";
import { DohResolver } from "../src/dns/mod.ts";
import { DnsSrvInstancer } from "../src/dnssrv/mod.ts";
import { Rfc2782Balancer } from "../src/lb/mod.ts";

/** Options for {@linkcode createGateway}. */
export interface GatewayOptions {
  /** The SRV name, e.g. `_http._tcp.api.example.com`. */
  srvName: string;
  /** DoH endpoint. Default: Cloudflare's. */
  dohUrl?: string;
  /** Replace SRV targets by their IPv4 addresses (needed when `fetch` cannot resolve them). Default: true. */
  resolveTargets?: boolean;
}

/** A gateway app and the discovery behind it. */
export interface Gateway extends Disposable {
  /** The Hono app; serve `app.fetch`. */
  app: Hono;
  /** Stops discovery and closes the endpoints. */
  close(): void;
}

/** Builds the gateway: discovery, balancing and the routes. */
export function createGateway(options: GatewayOptions): Gateway {
  const resolver = new DohResolver({ servers: [options.dohUrl ?? "https://cloudflare-dns.com/dns-query"] });
  const instancer = new DnsSrvInstancer(options.srvName, {
    resolver,
    minInterval: 1000,
    resolveTargets: options.resolveTargets === false ? false : "ipv4",
  });
  const endpointer = new DefaultEndpointer(instancer, httpFactory({ timeout: 5000 }));
  const upstream = balancedFetch(new Rfc2782Balancer(endpointer), { attempts: 3, timeout: 10_000 });

  const app = proxyApp({
    describe: { service: options.srvName },
    endpointer,
    upstream,
  });
  const close = () => {
    endpointer.close();
    instancer.stop();
  };
  return { app, close, [Symbol.dispose]: close };
}

if (import.meta.main) {
  const srvName = Deno.args[0];
  if (!srvName) {
    console.error("usage: dns_gateway.ts _http._tcp.<name> (SD_DOH_URL picks the DoH server)");
    Deno.exit(2);
  }
  const dohUrl = Deno.env.get("SD_DOH_URL");
  const gateway = createGateway(dohUrl === undefined ? { srvName } : { srvName, dohUrl });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 8787 }, gateway.app.fetch);
  Deno.addSignalListener("SIGINT", async () => {
    gateway.close();
    await server.shutdown();
    Deno.exit(0);
  });
}
