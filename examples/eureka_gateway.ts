/**
 * A Hono gateway that routes `/api/*` to the UP instances of a Eureka application (for example
 * services started with `examples/eureka_service.ts`), found by an `EurekaInstancer` that polls the
 * application, balanced round robin, with retries on another instance. Instances that go
 * OUT_OF_SERVICE or DOWN drop out at the next poll; while Eureka is unreachable the gateway keeps
 * the last instances it knew.
 *
 * Run (Eureka from scripts/servers/eureka.sh):
 *   deno run --allow-net=127.0.0.1 examples/eureka_gateway.ts orders http://127.0.0.1:8761/eureka
 * then: curl http://127.0.0.1:8789/api/anything and curl http://127.0.0.1:8789/_gateway/instances
 */
import type { Hono } from "hono";
import { proxyApp } from "./_gateway.ts";
import { balancedFetch, DefaultEndpointer, httpFactory } from "../mod.ts";
import { EurekaClient, EurekaInstancer } from "../src/eureka/mod.ts";
import { RoundRobinBalancer } from "../src/lb/mod.ts";

/** Options for {@linkcode createGateway}. */
export interface GatewayOptions {
  /** The Eureka application to route to. */
  app: string;
  /** Eureka server URLs with their base path, e.g. `http://127.0.0.1:8761/eureka`. */
  eurekaUrls: string[];
  /** Milliseconds between polls. Default: 30,000 (Eureka's own clients poll every 30 s). */
  interval?: number;
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
  const client = new EurekaClient({ urls: options.eurekaUrls });
  const instancer = new EurekaInstancer(client, options.app, { interval: options.interval ?? 30_000 });
  const endpointer = new DefaultEndpointer(instancer, httpFactory({ timeout: 5000 }));
  const upstream = balancedFetch(new RoundRobinBalancer(endpointer), { attempts: 3, timeout: 10_000 });

  const app = proxyApp({
    describe: { app: options.app },
    endpointer,
    upstream,
    show: (e) => ({
      instance: e.instance,
      id: e.details.id,
      status: e.details.meta?.["eureka.status"],
      zone: e.details.zone ?? null,
    }),
  });
  const close = () => {
    endpointer.close();
    instancer.stop();
  };
  return { app, endpointer, close, [Symbol.dispose]: close };
}

if (import.meta.main) {
  const [app, ...eurekaUrls] = Deno.args;
  if (!app || eurekaUrls.length === 0) {
    console.error("usage: eureka_gateway.ts <app> <Eureka URL, e.g. http://127.0.0.1:8761/eureka>...");
    Deno.exit(2);
  }
  const gateway = createGateway({ app, eurekaUrls, interval: 5000 });
  gateway.endpointer.addEventListener("change", () => {
    console.log(`${app}: ${gateway.endpointer.entries().map((e) => e.instance).join(", ") || "(none)"}`);
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 8789 }, gateway.app.fetch);
  Deno.addSignalListener("SIGINT", async () => {
    gateway.close();
    await server.shutdown();
    Deno.exit(0);
  });
}
