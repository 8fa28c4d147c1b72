/**
 * A self-registering Hono service: it registers in Consul once it listens (an HTTP check on its
 * health route), and on SIGTERM or SIGINT its health route turns 503, it deregisters, finishes the
 * requests in flight and exits (143 or 130). The same file runs on Deno, Node 20 and Bun.
 *
 * Configuration comes from the environment; use the runtime's own `--env-file` (no dotenv package):
 *   deno run --env-file=examples/hono_service.env --allow-net=127.0.0.1 --allow-env examples/hono_service.ts
 *   deno bundle -o /tmp/hono_service.mjs examples/hono_service.ts
 *   node --env-file=examples/hono_service.env /tmp/hono_service.mjs      (Node 20 runs no TypeScript)
 *   bun --env-file=examples/hono_service.env /tmp/hono_service.mjs
 * then: curl http://127.0.0.1:<port printed>/, and Ctrl-C (or kill -TERM <pid>).
 */
import process from "node:process";
import { Hono } from "hono";
import { ConsulClient, ConsulRegistrar } from "@edgekit/sd/consul";
import { healthHandler, HealthState, serveRegistered } from "@edgekit/sd/hono";

const env = process.env;
const name = env["SD_SERVICE"] || "hello";
const health = new HealthState("starting");
let instance = "";
const app = new Hono()
  .get("/health", healthHandler(health))
  .get("/slow", async (c) => { // to watch a request finish during the shutdown
    console.log("slow request started");
    await new Promise((resolve) => setTimeout(resolve, Number(c.req.query("ms") ?? 1000)));
    return c.json({ instance, slow: true });
  })
  .all("*", (c) => c.json({ service: name, instance, path: c.req.path }));

const consul = new ConsulClient({ address: env["SD_CONSUL_ADDR"] || "127.0.0.1:8500" });
const server = await serveRegistered(app, {
  hostname: env["HOST"] || "127.0.0.1",
  port: Number(env["PORT"] || 0),
  ...(env["ADVERTISE"] ? { advertise: env["ADVERTISE"] } : {}), // needed when HOST is 0.0.0.0
  timeout: Number(env["SHUTDOWN_TIMEOUT_MS"] || 5000),
  health,
  registrar: (address) =>
    new ConsulRegistrar(consul, {
      name,
      address: address.host,
      port: address.port,
      checks: [{
        http: `http://${address.instance}/health`,
        interval: 5000,
        deregisterCriticalServiceAfter: 60_000,
      }],
    }),
  onComplete: (r) =>
    console.log(`stopped on ${r.trigger}; exit ${r.exitCode}; failures: ${r.failures.length}`),
});
instance = server.address.instance;
console.log(
  `${name} at http://${instance}, registered as ${server.registrar.serviceId}; ${server.runtime}, pid ${process.pid}`,
);
