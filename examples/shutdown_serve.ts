/**
 * `examples/shutdown.ts` for `deno serve`: the module exports `{ fetch, onListen }`, registers itself
 * in etcd once the server listens, watches its peers, and shuts down cleanly on SIGTERM or SIGINT.
 *
 * Why `deno serve` needs this even more than `deno run`: `deno serve` installs its own SIGTERM and
 * SIGINT listeners (they abort the server, then the process ends when nothing else is running, with
 * status 0). A listener turns the signal's default exit off, so with a live instancer or registrar the
 * process never ends: the etcd watch stream and the lease keep-alive keep the event loop busy, and the
 * instance stays registered while it no longer serves. `gracefulShutdown` deregisters, stops the watch
 * and exits with 143 (SIGTERM) or 130 (SIGINT); pass `exit: 0` to exit the way `deno serve` does.
 *
 * Run (etcd from scripts/servers/etcd.sh):
 *   eval "$(bash scripts/servers/etcd.sh env)"
 *   deno serve --host 127.0.0.1 --port 0 --allow-net=127.0.0.1 --allow-env=SD_ETCD_ENDPOINTS,SD_SERVICE \
 *     examples/shutdown_serve.ts
 */
import { gracefulShutdown } from "../mod.ts";
import { EtcdClient, EtcdInstancer, EtcdRegistrar } from "../src/etcd/mod.ts";

const endpoints = (Deno.env.get("SD_ETCD_ENDPOINTS") ?? "").split(",").filter(Boolean);
const service = Deno.env.get("SD_SERVICE") || "shutdown-demo";
if (endpoints.length === 0) throw new Error("Set SD_ETCD_ENDPOINTS to etcd member URLs (comma-separated)");

const client = new EtcdClient({ endpoints });
const prefix = `/services/${service}/`;
let peers: readonly string[] = [];
let instance = "";
const instancer = new EtcdInstancer(client, prefix);
instancer.subscribe((event) => {
  if (event.instances) peers = event.instances;
});
const shutdown = await gracefulShutdown({
  instancers: [instancer],
  onComplete: (report) => {
    const failures = report.failures.map((f) => `${f.phase} ${f.index}: ${String(f.error)}`);
    console.log(`stopped on ${report.trigger}; exit ${report.exitCode}; failures: [${failures.join("; ")}]`);
  },
});

export default {
  fetch(): Response {
    return Response.json({ service, instance, peers });
  },
  // `deno serve` aborts the server on the signal itself, so no server hook is needed here.
  onListen(addr: Deno.Addr): void {
    if (addr.transport !== "tcp") return;
    instance = `${addr.hostname}:${addr.port}`;
    const registrar = new EtcdRegistrar(client, { key: prefix + instance, value: instance, ttl: 10 });
    shutdown.add({ registrars: [registrar] });
    registrar.register().then(
      () =>
        console.log(`${service} at http://${instance}, registered as ${prefix}${instance}; pid ${Deno.pid}`),
      (error) => {
        console.error(`Registration failed: ${error}`);
        Deno.exit(1);
      },
    );
  },
} satisfies Deno.ServeDefaultExport;
