/**
 * A small HTTP service that registers itself in etcd under `/services/<name>/<host:port>` with a
 * lease kept alive by `EtcdRegistrar`, and deregisters (deletes the key, revokes the lease) on
 * SIGINT. If etcd loses the lease during an outage, the registrar writes the key again by itself.
 * `examples/etcd_gateway.ts` discovers the instances.
 *
 * Run (etcd from scripts/servers/etcd.sh):
 *   deno run --allow-net=127.0.0.1 examples/etcd_service.ts orders http://127.0.0.1:2379
 * then: curl http://127.0.0.1:<port printed>/anything, and Ctrl-C to deregister.
 */
import { EtcdClient, EtcdRegistrar } from "../src/etcd/mod.ts";
import type { RegistrarErrorEvent } from "../mod.ts";

/** Options for {@linkcode startService}. */
export interface ServiceOptions {
  /** The service name; instances register under `/services/<name>/`. */
  name: string;
  /** etcd member URLs. */
  endpoints: string[];
  /** Interface to listen on. Default: 127.0.0.1. */
  hostname?: string;
  /** Port to listen on. Default: 0 (any free port). */
  port?: number;
  /** Lease TTL in seconds. Default: 10. */
  ttl?: number;
  /** etcd credentials, if auth is on. */
  username?: string;
  /** Password for `username`. */
  password?: string;
  /** Receives progress lines. Default: silent. */
  log?: (line: string) => void;
}

/** A running, registered instance. */
export interface RunningService extends AsyncDisposable {
  /** `host:port` as registered. */
  instance: string;
  /** The etcd key. */
  key: string;
  /** The registrar (events: `registered`, `reregistered`, `deregistered`, `error`). */
  registrar: EtcdRegistrar;
  /** Deregisters, then stops the HTTP server. */
  stop(): Promise<void>;
}

/** Starts the HTTP server and registers it; resolves once the key is written. */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const log = options.log ?? (() => {});
  const hostname = options.hostname ?? "127.0.0.1";
  let served = 0;
  let instance = "";
  const server = Deno.serve(
    { hostname, port: options.port ?? 0, onListen() {} },
    (request): Response => {
      served++;
      const url = new URL(request.url);
      return Response.json({ service: options.name, instance, path: url.pathname, served });
    },
  );
  instance = `${hostname}:${server.addr.port}`;
  const key = `/services/${options.name}/${instance}`;
  const client = new EtcdClient({
    endpoints: options.endpoints,
    ...(options.username === undefined
      ? {}
      : { username: options.username, password: options.password ?? "" }),
  });
  const registrar = new EtcdRegistrar(client, { key, value: instance, ttl: options.ttl ?? 10 });
  registrar.addEventListener("reregistered", () => log(`${key}: lease was lost; registered again`));
  registrar.addEventListener(
    "error",
    (e) => log(`${key}: ${((e as RegistrarErrorEvent).error as Error).message}`),
  );
  try {
    await registrar.register();
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  log(`${options.name} at http://${instance}, registered as ${key} (lease ${registrar.lease})`);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      try {
        await registrar.deregister();
        log(`${key} deregistered`);
      } finally {
        await server.shutdown();
      }
    })();
  return { instance, key, registrar, stop, [Symbol.asyncDispose]: stop };
}

if (import.meta.main) {
  const [name, ...endpoints] = Deno.args;
  if (!name || endpoints.length === 0) {
    console.error("usage: etcd_service.ts <name> <etcd URL>...");
    Deno.exit(2);
  }
  const service = await startService({ name, endpoints, log: (line) => console.log(line) });
  Deno.addSignalListener("SIGINT", async () => {
    await service.stop();
    Deno.exit(0);
  });
}
