/**
 * The library doing its main job with nothing installed: three HTTP services (Hono on Deno.serve,
 * 127.0.0.1, random ports) register in the in-process registry with a TTL; a client discovers them
 * and spreads a stream of requests over them with `balancedFetch`. Mid-run one service crashes (its
 * server stops and its keep-alive stops, but it is still registered until its TTL runs out): retries
 * carry every request to a live instance, then the registry forgets the dead one.
 *
 * Run: `npx -y deno@2.9.5 task demo`
 */
import { Hono } from "hono";
import { balancedFetch, DefaultEndpointer, httpFactory, type RetryError } from "../mod.ts";
import { RoundRobinBalancer } from "../src/lb/mod.ts";
import { MemoryRegistry } from "../src/memory/mod.ts";

const REQUESTS = 60;
const CRASH_AT = 20;
const PAUSE_MS = 15;
const TTL_MS = 300;

interface Service {
  name: string;
  address: string;
  server: Deno.HttpServer<Deno.NetAddr>;
  up: boolean;
}

function startService(name: string): Service {
  const app = new Hono();
  app.get("/hello/:who", (c) => c.json({ from: name, greeting: `hello ${c.req.param("who")}` }));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  return { name, address: `127.0.0.1:${server.addr.port}`, server, up: true };
}

using registry = new MemoryRegistry();
const services = ["alpha", "bravo", "charlie"].map(startService);
const registrars = services.map((s) => registry.registrar("greeter", s.address, { ttl: TTL_MS }));
await Promise.all(registrars.map((r) => r.register()));

// Count attempts that hit a dead instance, to show the retries that kept every request alive.
let rerouted = 0;
const countingFetch = (input: Request | URL | string, init?: RequestInit) =>
  fetch(input, init).catch((error) => {
    rerouted++;
    throw error;
  });
using endpointer = new DefaultEndpointer(
  registry.instancer("greeter"),
  httpFactory({ timeout: 2000, fetch: countingFetch }),
);
endpointer.addEventListener("change", () => {
  console.log(
    `  [discovery] ${registry.instances("greeter").length} instances: ${
      registry.instances("greeter").join(", ")
    }`,
  );
});
await endpointer.ready({ signal: AbortSignal.timeout(5000) });
const api = balancedFetch(new RoundRobinBalancer(endpointer), { attempts: 3, timeout: 5000 });

const served = new Map<string, number>(services.map((s) => [s.name, 0]));
let failed = 0;
console.log(`Sending ${REQUESTS} requests to "greeter" through balancedFetch (round robin, 3 attempts)\n`);
for (let i = 1; i <= REQUESTS; i++) {
  if (i === CRASH_AT) {
    const victim = services[1]!;
    console.log(
      `  [chaos] request ${i}: ${victim.name} (${victim.address}) crashes; still registered for ${TTL_MS} ms`,
    );
    registrars[1]!.stop();
    await victim.server.shutdown();
    victim.up = false;
  }
  try {
    const response = await api(`/hello/user-${i}`);
    const body = await response.json() as { from: string };
    served.set(body.from, (served.get(body.from) ?? 0) + 1);
  } catch (error) {
    failed++;
    console.log(`  request ${i} failed: ${(error as RetryError).message}`);
  }
  await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
}

console.log("\n  service   address             state   requests served");
console.log("  --------  ------------------  ------  ---------------");
for (const s of services) {
  console.log(
    `  ${s.name.padEnd(8)}  ${s.address.padEnd(18)}  ${(s.up ? "up" : "down").padEnd(6)}  ${
      String(served.get(s.name)).padStart(15)
    }`,
  );
}
console.log(`\n  ${REQUESTS - failed} of ${REQUESTS} requests succeeded, ${failed} failed`);
console.log(`  ${rerouted} attempts hit the crashed instance and were retried on another one`);

endpointer.close();
for (const r of registrars) await r.deregister();
await Promise.all(services.filter((s) => s.up).map((s) => s.server.shutdown()));
if (failed > 0) Deno.exit(1);
