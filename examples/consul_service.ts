/**
 * A Deno HTTP service (Hono, served by `serveRegistered`) that registers itself with the local Consul
 * agent under a TTL check, keeps the check passing while it runs, and on SIGINT or SIGTERM
 * deregisters, answers the requests in flight and exits 0 (a crash instead leaves the TTL to expire,
 * and Consul removes the registration after a minute of being critical).
 *
 * Run it next to an agent (scripts/servers/consul.sh start), once per instance:
 *   SD_CONSUL_ADDR=127.0.0.1:8500 deno run --allow-net=127.0.0.1 --allow-env examples/consul_service.ts
 * Environment: SD_CONSUL_ADDR (default 127.0.0.1:8500), SD_SERVICE_NAME (default "hello"), PORT
 * (default 0: any free port).
 */
import { Hono } from "hono";
import type { RegistrarErrorEvent } from "../mod.ts";
import { ConsulClient, ConsulRegistrar } from "../src/consul/mod.ts";
import { healthHandler, HealthState, serveRegistered } from "../src/hono/mod.ts";

/** Options for {@linkcode startService}. */
export interface ServiceOptions {
  /** The agent, `host:port` or a URL. */
  consulAddr: string;
  /** The service name to register under. */
  name: string;
  /** The port to listen on; 0 picks a free one. */
  port?: number;
  /** TTL of the health check, ms. Default: 10,000. */
  ttl?: number;
  /** Deregister and exit 0 on SIGINT or SIGTERM, then call this. Default: no signal handling. */
  onSignalStop?: () => void;
}

/** A running, registered service. */
export interface RunningService {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** The ID it is registered under. */
  id: string;
  /** The registrar keeping it registered (listen for `reregistered` and `error`). */
  registrar: ConsulRegistrar;
  /** Deregisters, then stops the server once its requests are answered. */
  close(): Promise<void>;
}

/** Serves on 127.0.0.1 and registers with Consul; resolves once registered and passing. */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const health = new HealthState("starting");
  let port = 0;
  const app = new Hono()
    .get("/health", healthHandler(health))
    .all("*", (c) => c.json({ service: options.name, port, path: c.req.path }));
  const client = new ConsulClient({ address: options.consulAddr });
  const server = await serveRegistered(app, {
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    health,
    registrar: (address) =>
      new ConsulRegistrar(client, {
        name: options.name,
        address: address.host,
        port: address.port,
        tags: ["example"],
        meta: { runtime: "deno" },
        checks: [{ ttl: options.ttl ?? 10_000, deregisterCriticalServiceAfter: 60_000 }],
      }),
    ...(options.onSignalStop ? { exit: 0, onComplete: options.onSignalStop } : { source: null }),
  });
  port = server.address.port;
  return {
    url: `http://${server.address.instance}`,
    id: server.registrar.serviceId,
    registrar: server.registrar,
    close: async () => void await server.stop(),
  };
}

if (import.meta.main) {
  let id = "";
  const service = await startService({
    consulAddr: Deno.env.get("SD_CONSUL_ADDR") ?? "127.0.0.1:8500",
    name: Deno.env.get("SD_SERVICE_NAME") ?? "hello",
    port: Number(Deno.env.get("PORT") ?? 0),
    onSignalStop: () => console.log(`deregistered ${id}`),
  });
  id = service.id;
  service.registrar.addEventListener("reregistered", () => console.log("Consul lost us; registered again"));
  service.registrar.addEventListener(
    "error",
    (e) => console.error("keep-alive:", (e as RegistrarErrorEvent).error),
  );
  console.log(`listening on ${service.url}, registered as ${service.id}`);
}
