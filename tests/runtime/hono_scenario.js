// The Hono part of the runtime smoke scenario: one gateway, the same code in Deno, Node, Bun and
// workerd, built from the bundle (`@edgekit/sd/hono` and Hono itself, from tests/runtime/entry.ts).
// It runs in pull mode everywhere (the mode Workers need): a PullInstancer over a MemoryRegistry
// lookup, refreshed per request with workerd's `ctx.waitUntil` where there is one. On the long-lived
// runtimes it is then served by `serveRegistered` (Deno.serve, node:http, Bun.serve), registered in
// a MemoryRegistry, and stopped the way SIGTERM would stop it.

/** Fails the current check with `message` unless `condition` holds. */
function expect(condition, message) {
  if (!condition) throw new Error(message);
}

/**
 * Adds the Hono checks to a scenario run.
 *
 * @param {Record<string, any>} sd The bundle's exports.
 * @param {{ runtime: string, live: string[], tag: string, check: Function, closers: Function[],
 *   ctx?: { waitUntil(promise: Promise<unknown>): void } }} options
 */
export async function honoScenario(sd, { runtime, live, tag, check, closers, ctx }) {
  const { DefaultEndpointer, Hono, HealthState, healthHandler, httpFactory, MemoryRegistry } = sd;
  const { memoryLookup, PullInstancer, RoundRobinBalancer, serveRegistered, serviceProxy } = sd;
  const registry = new MemoryRegistry();
  closers.push(() => registry.close());
  for (const instance of live) registry.register("api", instance);

  // The gateway: what a user writes, in every runtime alike.
  const route = (service) => {
    const instancer = new PullInstancer(memoryLookup(registry, service), { ttl: 60_000 });
    const endpointer = new DefaultEndpointer(instancer, httpFactory({ timeout: 3000 }));
    closers.push(() => endpointer.close(), () => instancer.stop());
    return serviceProxy(new RoundRobinBalancer(endpointer), { stripPrefix: `/${service}`, pull: instancer });
  };
  const health = new HealthState("starting");
  const app = new Hono();
  app.get("/health", healthHandler(health));
  app.all("/api/*", route("api"));
  app.all("/none/*", route("none"));

  const call = (path) => app.fetch(new Request(`http://gateway.test${path}`), {}, ctx);

  await check("the Hono gateway forwards in pull mode to both live upstreams, prefix stripped", async () => {
    const servers = new Set();
    for (let i = 0; i < 4; i++) {
      const response = await call(`/api/${tag}/hono/${i}?q=${i}`);
      const body = await response.json();
      expect(response.status === 200, `status ${response.status}: ${JSON.stringify(body)}`);
      expect(
        body.path === `/${tag}/hono/${i}` && body.query === `?q=${i}`,
        `forwarded as ${body.path}${body.query}`,
      );
      servers.add(body.server);
    }
    expect(servers.size === 2, `answered by ${[...servers].join()}`);
  });

  await check("the Hono gateway answers 503 problem+json for a service with no instances", async () => {
    const response = await call("/none/x");
    const type = response.headers.get("content-type") ?? "";
    await response.body?.cancel();
    expect(response.status === 503, `status ${response.status}`);
    expect(type.startsWith("application/problem+json"), `content-type ${type}`);
  });

  if (runtime === "workerd") return; // the platform serves Workers: no server, no signals

  await check("serveRegistered serves the gateway, registers it and leaves on stop()", async () => {
    const server = await serveRegistered(app, {
      hostname: "127.0.0.1",
      registrar: ({ instance }) => registry.registrar("gateway", instance),
      health,
      source: null, // no signal listeners in a smoke run; stop() runs the same sequence
    });
    let stopped = false;
    closers.push(() => void (stopped || server.stop()));
    const url = `http://${server.address.instance}`;
    expect(server.runtime === runtime, `served by ${server.runtime}`);
    expect(registry.instances("gateway").join() === server.address.instance, "registered");
    const healthy = await fetch(`${url}/health`);
    await healthy.body?.cancel();
    expect(healthy.status === 200 && health.state === "serving", `health ${healthy.status} ${health.state}`);
    const response = await fetch(`${url}/api/${tag}/served`);
    const body = await response.json();
    expect(
      response.status === 200 && body.path === `/${tag}/served`,
      `through the server: ${response.status}`,
    );
    const report = await server.stop();
    stopped = true;
    expect(report.failures.length === 0 && report.exitCode === null, `report ${JSON.stringify(report)}`);
    expect(registry.instances("gateway").length === 0, "deregistered");
    expect(health.state === "stopped", `health ${health.state}`);
    let refused = false;
    await fetch(`${url}/health`).then((r) => r.body?.cancel(), () => (refused = true));
    expect(refused, "the server still accepts connections after stop()");
    return `${runtime} server on ${server.address.instance}`;
  });
}
