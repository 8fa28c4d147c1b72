/**
 * A small HTTP service (Hono, served by `serveRegistered`) that registers itself in Eureka with
 * `EurekaRegistrar`: it sends heartbeats, registers again by itself if the server forgets it (a
 * restart, an eviction during a partition), answers `/health` for Eureka's dashboard and health checks
 * with the status it registered (`UP`, `OUT_OF_SERVICE`; 503 `DOWN` while it shuts down), can take
 * itself out of rotation (`POST /admin/out-of-service`, `POST /admin/in-service`), and on SIGINT or
 * SIGTERM deregisters, answers the requests in flight and exits 0. `examples/eureka_gateway.ts`
 * discovers the instances.
 *
 * Run (Eureka from scripts/servers/eureka.sh):
 *   deno run --allow-net=127.0.0.1 examples/eureka_service.ts orders http://127.0.0.1:8761/eureka
 * then: curl http://127.0.0.1:<port printed>/anything, and Ctrl-C to deregister.
 */
import { Hono } from "hono";
import { EurekaClient, EurekaRegistrar } from "../src/eureka/mod.ts";
import { HealthState, serveRegistered } from "../src/hono/mod.ts";
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
  /** Deregister and exit 0 on SIGINT or SIGTERM. Default: `false` (no signal handling; call `stop()`). */
  exitOnSignal?: boolean;
}

/** A running, registered instance. */
export interface RunningService extends AsyncDisposable {
  /** `127.0.0.1:port` as registered. */
  instance: string;
  /** The Eureka instance id. */
  instanceId: string;
  /** The registrar (events: `registered`, `reregistered`, `deregistered`, `error`). */
  registrar: EurekaRegistrar;
  /** Deregisters, then stops the HTTP server once its requests are answered. */
  stop(): Promise<void>;
}

/** Starts the HTTP server and registers it; resolves once Eureka accepted the registration. */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const log = options.log ?? (() => {});
  let served = 0;
  let instance = "";
  // Set once the server listens; requests that arrive before see no registrar.
  let registrar: EurekaRegistrar | undefined;
  const health = new HealthState("starting");
  const app = new Hono()
    .get("/health", (c) => {
      c.header("cache-control", "no-store");
      if (health.draining || health.state === "stopped") return c.json({ status: "DOWN" }, 503);
      return c.json({ status: registrar?.status ?? "STARTING" });
    })
    .post("/admin/:action{out-of-service|in-service}", async (c) => {
      const status = c.req.param("action") === "out-of-service" ? "OUT_OF_SERVICE" : "UP";
      await registrar?.setStatus(status);
      return c.json({ status });
    })
    .all("*", (c) => c.json({ app: options.app, instance, path: c.req.path, served: ++served }));
  const client = new EurekaClient({ urls: options.eurekaUrls });
  const server = await serveRegistered(app, {
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    health,
    registrar: (address) => {
      instance = address.instance;
      registrar = new EurekaRegistrar(client, {
        app: options.app,
        ipAddr: address.host,
        port: address.port,
        metadata: options.metadata ?? {},
        healthCheckUrl: `http://${address.instance}/health`,
        statusPageUrl: `http://${address.instance}/health`,
        renewalIntervalInSecs: options.renewalIntervalInSecs ?? 30,
        durationInSecs: options.durationInSecs ?? 90,
      });
      const id = registrar.instanceId;
      registrar.addEventListener(
        "reregistered",
        () => log(`${id}: Eureka had forgotten it; registered again`),
      );
      registrar.addEventListener(
        "error",
        (e) => log(`${id}: ${((e as RegistrarErrorEvent).error as Error).message}`),
      );
      return registrar;
    },
    onComplete: (report) => {
      if (report.failures.length === 0) log(`${registrar?.instanceId} deregistered`);
    },
    // As a program, SIGINT and SIGTERM shut it down and exit 0; as a library, stop() does.
    ...(options.exitOnSignal ? { exit: 0 } : { source: null }),
  });
  const id = server.registrar.instanceId;
  log(`${server.registrar.app} at http://${instance}, registered as ${id}`);
  const stop = async () => {
    const { failures } = await server.stop();
    if (failures.length > 0) throw failures[0]!.error;
  };
  return { instance, instanceId: id, registrar: server.registrar, stop, [Symbol.asyncDispose]: stop };
}

if (import.meta.main) {
  const [app, ...eurekaUrls] = Deno.args;
  if (!app || eurekaUrls.length === 0) {
    console.error("usage: eureka_service.ts <app> <Eureka URL, e.g. http://127.0.0.1:8761/eureka>...");
    Deno.exit(2);
  }
  await startService({ app, eurekaUrls, exitOnSignal: true, log: (line) => console.log(line) });
}
