/**
 * A Hono gateway that routes `/api/*` to the instances of a service registered in etcd under
 * `/services/<name>/` (for example by `examples/etcd_service.ts`), found by an `EtcdInstancer` that
 * lists the prefix and keeps a watch on it, balanced round robin, with retries on another instance.
 *
 * Run (etcd from scripts/servers/etcd.sh):
 *   deno run --allow-net=127.0.0.1 examples/etcd_gateway.ts orders http://127.0.0.1:2379
 * then: curl http://127.0.0.1:8788/api/anything and curl http://127.0.0.1:8788/_gateway/instances
 */
import type { Hono } from "hono";
import { proxyApp } from "./_gateway.ts";
import { balancedFetch, DefaultEndpointer, httpFactory } from "../mod.ts";
import { EtcdClient, EtcdInstancer } from "../src/etcd/mod.ts";
import { RoundRobinBalancer } from "../src/lb/mod.ts";

/** Options for {@linkcode createGateway}. */
export interface GatewayOptions {
  /** The service name: instances are the values under `/services/<name>/`. */
  service: string;
  /** etcd member URLs. */
  endpoints: string[];
  /** etcd credentials, if auth is on. */
  username?: string;
  /** Password for `username`. */
  password?: string;
}

/** A gateway app and the discovery behind it. */
export interface Gateway extends Disposable {
  /** The Hono app; serve `app.fetch`. */
  app: Hono;
  /** The endpointer, for watching changes (`change` events). */
  endpointer: DefaultEndpointer<Request, Response>;
  /** Stops discovery and closes the endpoints. */
  close(): void;
}

/** Builds the gateway: discovery, balancing and the routes. */
export function createGateway(options: GatewayOptions): Gateway {
  const client = new EtcdClient({
    endpoints: options.endpoints,
    ...(options.username === undefined
      ? {}
      : { username: options.username, password: options.password ?? "" }),
  });
  const prefix = `/services/${options.service}/`;
  const instancer = new EtcdInstancer(client, prefix);
  const endpointer = new DefaultEndpointer(instancer, httpFactory({ timeout: 5000 }));
  const upstream = balancedFetch(new RoundRobinBalancer(endpointer), { attempts: 3, timeout: 10_000 });

  const app = proxyApp({
    describe: { service: options.service, prefix },
    endpointer,
    upstream,
    show: (e) => ({ instance: e.instance, key: e.details.id }),
  });
  const close = () => {
    endpointer.close();
    instancer.stop();
  };
  return { app, endpointer, close, [Symbol.dispose]: close };
}

if (import.meta.main) {
  const [service, ...endpoints] = Deno.args;
  if (!service || endpoints.length === 0) {
    console.error("usage: etcd_gateway.ts <service> <etcd URL>...");
    Deno.exit(2);
  }
  const gateway = createGateway({ service, endpoints });
  gateway.endpointer.addEventListener("change", () => {
    console.log(`${service}: ${gateway.endpointer.entries().map((e) => e.instance).join(", ") || "(none)"}`);
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 8788 }, gateway.app.fetch);
  Deno.addSignalListener("SIGINT", async () => {
    gateway.close();
    await server.shutdown();
    Deno.exit(0);
  });
}
