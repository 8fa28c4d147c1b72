/**
 * `examples/shutdown.ts` for Node 20+ and Bun, with `node:http`: registers in etcd, watches its peers,
 * and shuts down cleanly on SIGTERM or SIGINT (deregister, close the server, stop the watch, exit 143
 * or 130). On Node and Bun, as on Deno, a `process.on("SIGTERM")` listener turns the signal's default
 * exit off, so the live watch and the lease keep-alive would keep the process running.
 *
 * Run (etcd from scripts/servers/etcd.sh):
 *   eval "$(bash scripts/servers/etcd.sh env)"
 *   bun examples/shutdown_node.ts
 *   deno bundle examples/shutdown_node.ts -o /tmp/shutdown_node.mjs && node /tmp/shutdown_node.mjs
 * (Node 20 cannot run TypeScript, hence the bundle.)
 */
import { createServer } from "node:http";
import process from "node:process";
import { gracefulShutdown } from "../mod.ts";
import { EtcdClient, EtcdInstancer, EtcdRegistrar } from "../src/etcd/mod.ts";

const endpoints = (process.env["SD_ETCD_ENDPOINTS"] ?? "").split(",").filter(Boolean);
const service = process.env["SD_SERVICE"] || "shutdown-demo";
if (endpoints.length === 0) {
  console.error("Set SD_ETCD_ENDPOINTS to etcd member URLs (comma-separated)");
  process.exit(2);
}

const client = new EtcdClient({ endpoints });
const prefix = `/services/${service}/`;
let peers: readonly string[] = [];
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

let instance = "";
const server = createServer((_request, response) => {
  response.setHeader("content-type", "application/json");
  response.end(JSON.stringify({ service, instance, peers }));
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const address = server.address();
instance = `127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
const registrar = new EtcdRegistrar(client, { key: prefix + instance, value: instance, ttl: 10 });
shutdown.add({
  registrars: [registrar],
  // close() stops accepting and waits for in-flight requests; idle keep-alive sockets would hold it.
  onStop: () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    }),
});
await registrar.register();
console.log(
  `${service} at http://${instance}, registered as ${prefix}${instance}; pid ${process.pid} (${shutdown.runtime})`,
);
