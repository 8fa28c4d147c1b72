/**
 * A small Hono service that registers itself in etcd under `/services/<name>/<host:port>` with a
 * lease kept alive by `EtcdRegistrar`, served by `serveRegistered`: on SIGINT or SIGTERM it
 * deregisters (deletes the key, revokes the lease), answers the requests in flight and exits 0. If
 * etcd loses the lease during an outage, the registrar writes the key again by itself.
 * `examples/etcd_gateway.ts` discovers the instances.
 *
 * Run (etcd from scripts/servers/etcd.sh):
 *   deno run --allow-net=127.0.0.1 examples/etcd_service.ts orders http://127.0.0.1:2379
 * then: curl http://127.0.0.1:<port printed>/anything, and Ctrl-C to deregister.
 */
import { Hono } from "hono";
import { EtcdClient, EtcdRegistrar } from "../src/etcd/mod.ts";
import { serveRegistered } from "../src/hono/mod.ts";
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
  /** Take SIGINT and SIGTERM: deregister, drain, exit 0 (for a program). Default: false. */
  signals?: boolean;
}

/** A running, registered instance. */
export interface RunningService extends AsyncDisposable {
  /** `host:port` as registered. */
  instance: string;
  /** The etcd key. */
  key: string;
  /** The registrar (events: `registered`, `reregistered`, `deregistered`, `error`). */
  registrar: EtcdRegistrar;
  /** Deregisters, then stops the HTTP server once its requests are answered. */
  stop(): Promise<void>;
}

/** Starts the HTTP server and registers it; resolves once the key is written. */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const log = options.log ?? (() => {});
  let served = 0;
  let instance = "";
  let key = "";
  const app = new Hono().all("*", (c) => {
    served++;
    return c.json({ service: options.name, instance, path: c.req.path, served });
  });
  const client = new EtcdClient({
    endpoints: options.endpoints,
    ...(options.username === undefined
      ? {}
      : { username: options.username, password: options.password ?? "" }),
  });
  const server = await serveRegistered(app, {
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    registrar: (address) => {
      key = `/services/${options.name}/${address.instance}`;
      const registrar = new EtcdRegistrar(client, { key, value: address.instance, ttl: options.ttl ?? 10 });
      registrar.addEventListener("reregistered", () => log(`${key}: lease was lost; registered again`));
      registrar.addEventListener(
        "error",
        (e) => log(`${key}: ${((e as RegistrarErrorEvent).error as Error).message}`),
      );
      return registrar;
    },
    // As a program: SIGINT or SIGTERM deregisters, answers the requests in flight and exits 0.
    ...(options.signals ? { exit: 0, onComplete: () => log(`${key} deregistered`) } : { source: null }),
  });
  instance = server.address.instance;
  const registrar = server.registrar;
  log(`${options.name} at http://${instance}, registered as ${key} (lease ${registrar.lease})`);
  const stop = async () => {
    await server.stop();
    log(`${key} deregistered`);
  };
  return { instance, key, registrar, stop, [Symbol.asyncDispose]: stop };
}

if (import.meta.main) {
  const [name, ...endpoints] = Deno.args;
  if (!name || endpoints.length === 0) {
    console.error("usage: etcd_service.ts <name> <etcd URL>...");
    Deno.exit(2);
  }
  await startService({ name, endpoints, signals: true, log: (line) => console.log(line) });
}
