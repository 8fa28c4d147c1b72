/**
 * A small HTTP service that registers itself in Eureka with `EurekaRegistrar`: it sends heartbeats,
 * registers again by itself if the server forgets it (a restart, an eviction during a partition),
 * answers `/health` for Eureka's dashboard and health checks, can take itself out of rotation
 * (`POST /admin/out-of-service`, `POST /admin/in-service`), and deregisters on SIGINT.
 * `examples/eureka_gateway.ts` discovers the instances.
 *
 * Run (Eureka from scripts/servers/eureka.sh):
 *   deno run --allow-net=127.0.0.1 examples/eureka_service.ts orders http://127.0.0.1:8761/eureka
 * then: curl http://127.0.0.1:<port printed>/anything, and Ctrl-C to deregister.
 */
import { EurekaClient, EurekaRegistrar } from "../src/eureka/mod.ts";
import type { RegistrarErrorEvent } from "../mod.ts";

/** Options for {@linkcode startService}. */
export interface ServiceOptions {
  /** The application name it registers under (Eureka keeps it upper case). */
  app: string;
  /** Eureka server URLs with their base path, e.g. `http://127.0.0.1:8761/eureka`. */
  eurekaUrls: string[];
  /** Port to listen on (127.0.0.1). Default: 0 (any free port). */
  port?: number;
  /** Seconds between heartbeats. Default: 30 (Eureka's). */
  renewalIntervalInSecs?: number;
  /** Seconds the server waits for a heartbeat before evicting. Default: 90 (Eureka's). */
  durationInSecs?: number;
  /** Metadata to register, e.g. `{ zone: "a" }`. */
  metadata?: Record<string, string>;
  /** Receives progress lines. Default: silent. */
  log?: (line: string) => void;
}

/** A running, registered instance. */
export interface RunningService extends AsyncDisposable {
  /** `127.0.0.1:port` as registered. */
  instance: string;
  /** The Eureka instance id. */
  instanceId: string;
  /** The registrar (events: `registered`, `reregistered`, `deregistered`, `error`). */
  registrar: EurekaRegistrar;
  /** Deregisters, then stops the HTTP server. */
  stop(): Promise<void>;
}

/** Starts the HTTP server and registers it; resolves once Eureka accepted the registration. */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const log = options.log ?? (() => {});
  let served = 0;
  // Set once registered; requests that arrive before see no registrar.
  const self: { registrar?: EurekaRegistrar } = {};
  let instance = "";
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen() {} },
    async (request): Promise<Response> => {
      const url = new URL(request.url);
      if (url.pathname === "/health") return Response.json({ status: self.registrar?.status ?? "STARTING" });
      if (request.method === "POST" && url.pathname.startsWith("/admin/")) {
        const status = url.pathname === "/admin/out-of-service" ? "OUT_OF_SERVICE" : "UP";
        await self.registrar?.setStatus(status);
        return Response.json({ status });
      }
      served++;
      return Response.json({ app: options.app, instance, path: url.pathname, served });
    },
  );
  const port = server.addr.port;
  instance = `127.0.0.1:${port}`;
  const client = new EurekaClient({ urls: options.eurekaUrls });
  const registrar = new EurekaRegistrar(client, {
    app: options.app,
    ipAddr: "127.0.0.1",
    port,
    metadata: options.metadata ?? {},
    healthCheckUrl: `http://${instance}/health`,
    statusPageUrl: `http://${instance}/health`,
    renewalIntervalInSecs: options.renewalIntervalInSecs ?? 30,
    durationInSecs: options.durationInSecs ?? 90,
  });
  const id = registrar.instanceId;
  registrar.addEventListener("reregistered", () => log(`${id}: Eureka had forgotten it; registered again`));
  registrar.addEventListener(
    "error",
    (e) => log(`${id}: ${((e as RegistrarErrorEvent).error as Error).message}`),
  );
  try {
    await registrar.register();
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  self.registrar = registrar;
  log(`${registrar.app} at http://${instance}, registered as ${id}`);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      try {
        await registrar.deregister();
        log(`${id} deregistered`);
      } finally {
        await server.shutdown();
      }
    })();
  return { instance, instanceId: id, registrar, stop, [Symbol.asyncDispose]: stop };
}

if (import.meta.main) {
  const [app, ...eurekaUrls] = Deno.args;
  if (!app || eurekaUrls.length === 0) {
    console.error("usage: eureka_service.ts <app> <Eureka URL, e.g. http://127.0.0.1:8761/eureka>...");
    Deno.exit(2);
  }
  const service = await startService({ app, eurekaUrls, log: (line) => console.log(line) });
  Deno.addSignalListener("SIGINT", async () => {
    await service.stop();
    Deno.exit(0);
  });
}
