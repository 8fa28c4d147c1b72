/**
 * A Hono gateway that routes `/api/*` to the healthy instances of a Consul service, found with a
 * blocking-query ConsulInstancer, spread round robin, with retries on another instance. The same
 * `createGateway` runs in any runtime with `fetch`; a Worker would use `lookupHealthService` per
 * request instead of a long-lived instancer.
 *
 * Run it next to an agent and a few instances of examples/consul_service.ts:
 *   SD_CONSUL_ADDR=127.0.0.1:8500 deno run --allow-net=127.0.0.1 --allow-env examples/consul_gateway.ts hello
 * then: curl http://127.0.0.1:8787/api/anything and curl http://127.0.0.1:8787/_gateway/instances
 */
import type { Hono } from "hono";
import { proxyApp } from "./_gateway.ts";
import { balancedFetch, DefaultEndpointer, httpFactory } from "../mod.ts";
import { ConsulClient, ConsulInstancer } from "../src/consul/mod.ts";
import { RoundRobinBalancer } from "../src/lb/mod.ts";

/** Options for {@linkcode createGateway}. */
export interface GatewayOptions {
  /** The Consul service to route to. */
  service: string;
  /** The agent, `host:port` or a URL. Default: `127.0.0.1:8500`. */
  consulAddr?: string;
  /** ACL token. Default: none. */
  token?: string;
  /** Tags every instance must carry. Default: none. */
  tags?: string[];
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
  const client = new ConsulClient({
    address: options.consulAddr ?? "127.0.0.1:8500",
    ...(options.token === undefined ? {} : { token: options.token }),
  });
  // Passing instances only (the default); each query blocks for up to 30 s.
  const instancer = new ConsulInstancer(client, options.service, {
    wait: 30_000,
    ...(options.tags === undefined ? {} : { tags: options.tags }),
  });
  const endpointer = new DefaultEndpointer(instancer, httpFactory({ timeout: 5000 }));
  const upstream = balancedFetch(new RoundRobinBalancer(endpointer), { attempts: 3, timeout: 10_000 });

  const app = proxyApp({
    describe: { service: options.service },
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
  const service = Deno.args[0];
  if (!service) {
    console.error("usage: consul_gateway.ts <service> (SD_CONSUL_ADDR picks the agent)");
    Deno.exit(2);
  }
  const gateway = createGateway({ service, consulAddr: Deno.env.get("SD_CONSUL_ADDR") ?? "127.0.0.1:8500" });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 8787 }, gateway.app.fetch);
  Deno.addSignalListener("SIGINT", async () => {
    gateway.close();
    await server.shutdown();
    Deno.exit(0);
  });
}
