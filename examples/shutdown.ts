/**
 * A long-lived Deno service that shuts down cleanly on SIGTERM or SIGINT: it registers itself in etcd
 * (`EtcdRegistrar`, a kept-alive lease), watches its peers (`EtcdInstancer`, a live watch stream) and
 * serves HTTP with `Deno.serve`. On the signal, `gracefulShutdown` deregisters, closes the server
 * (letting in-flight requests finish), stops the watch and exits with 143 (SIGTERM) or 130 (SIGINT).
 *
 * Without it: no listener means the process dies at once and its key stays in etcd until the lease
 * runs out; a listener that only closes the server leaves the process running for ever, because the
 * watch stream and the lease keep-alive keep Deno's event loop busy (and keep the dead instance
 * registered). `examples/shutdown_serve.ts` is the same for `deno serve`, `examples/shutdown_node.ts`
 * for Node and Bun.
 *
 * Run (etcd from scripts/servers/etcd.sh):
 *   eval "$(bash scripts/servers/etcd.sh env)"
 *   deno run --allow-net=127.0.0.1 --allow-env=SD_ETCD_ENDPOINTS,SD_SERVICE examples/shutdown.ts
 * then: curl http://127.0.0.1:<port printed>/, and Ctrl-C (or kill -TERM <pid>).
 */
import { gracefulShutdown } from "../mod.ts";
import { EtcdClient, EtcdInstancer, EtcdRegistrar } from "../src/etcd/mod.ts";

const endpoints = (Deno.env.get("SD_ETCD_ENDPOINTS") ?? "").split(",").filter(Boolean);
const service = Deno.env.get("SD_SERVICE") || "shutdown-demo";
if (endpoints.length === 0) {
  console.error("Set SD_ETCD_ENDPOINTS to etcd member URLs (comma-separated)");
  Deno.exit(2);
}

const client = new EtcdClient({ endpoints });
const prefix = `/services/${service}/`;
let peers: readonly string[] = [];
const instancer = new EtcdInstancer(client, prefix);
instancer.subscribe((event) => {
  if (event.instances) peers = event.instances;
});

// Listen before anything is registered, so that a signal from now on is handled.
const shutdown = await gracefulShutdown({
  instancers: [instancer],
  onComplete: (report) => {
    const failures = report.failures.map((f) => `${f.phase} ${f.index}: ${String(f.error)}`);
    console.log(`stopped on ${report.trigger}; exit ${report.exitCode}; failures: [${failures.join("; ")}]`);
  },
});

let instance = "";
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  (): Response => Response.json({ service, instance, peers }),
);
instance = `127.0.0.1:${server.addr.port}`;
const registrar = new EtcdRegistrar(client, { key: prefix + instance, value: instance, ttl: 10 });
// Deregister first (gateways stop picking this instance), then let in-flight requests finish.
shutdown.add({ registrars: [registrar], onStop: () => server.shutdown() });
await registrar.register();
console.log(`${service} at http://${instance}, registered as ${prefix}${instance}; pid ${Deno.pid}`);
