/**
 * A Deno HTTP service that registers itself with the local Consul agent under a TTL check, keeps the
 * check passing while it runs, and deregisters on SIGINT or SIGTERM (a crash instead leaves the TTL
 * to expire, and Consul removes the registration after a minute of being critical).
 *
 * Run it next to an agent (scripts/servers/consul.sh start), once per instance:
 *   SD_CONSUL_ADDR=127.0.0.1:8500 deno run --allow-net=127.0.0.1 --allow-env examples/consul_service.ts
 * Environment: SD_CONSUL_ADDR (default 127.0.0.1:8500), SD_SERVICE_NAME (default "hello"), PORT
 * (default 0: any free port).
 */
import type { RegistrarErrorEvent } from "../mod.ts";
import { ConsulClient, ConsulRegistrar } from "../src/consul/mod.ts";

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
}

/** A running, registered service. */
export interface RunningService {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** The ID it is registered under. */
  id: string;
  /** The registrar keeping it registered (listen for `reregistered` and `error`). */
  registrar: ConsulRegistrar;
  /** Deregisters, then stops the server. */
  close(): Promise<void>;
}

/** Serves on 127.0.0.1 and registers with Consul; resolves once registered and passing. */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    onListen() {},
  }, (request): Response => {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    return Response.json({ service: options.name, port: server.addr.port, path: url.pathname });
  });
  const port = server.addr.port;
  const registrar = new ConsulRegistrar(new ConsulClient({ address: options.consulAddr }), {
    name: options.name,
    address: "127.0.0.1",
    port,
    tags: ["example"],
    meta: { runtime: "deno" },
    checks: [{ ttl: options.ttl ?? 10_000, deregisterCriticalServiceAfter: 60_000 }],
  });
  try {
    await registrar.register();
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    id: registrar.serviceId,
    registrar,
    async close() {
      try {
        await registrar.deregister();
      } finally {
        await server.shutdown();
      }
    },
  };
}

if (import.meta.main) {
  const service = await startService({
    consulAddr: Deno.env.get("SD_CONSUL_ADDR") ?? "127.0.0.1:8500",
    name: Deno.env.get("SD_SERVICE_NAME") ?? "hello",
    port: Number(Deno.env.get("PORT") ?? 0),
  });
  service.registrar.addEventListener("reregistered", () => console.log("Consul lost us; registered again"));
  service.registrar.addEventListener(
    "error",
    (e) => console.error("keep-alive:", (e as RegistrarErrorEvent).error),
  );
  console.log(`listening on ${service.url}, registered as ${service.id}`);
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await service.close();
    console.log(`deregistered ${service.id}`);
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", shutdown);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", shutdown);
}
