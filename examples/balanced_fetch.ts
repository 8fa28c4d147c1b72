/**
 * `balancedFetch`: a fetch that targets a service. Two local HTTP servers answer; one returns 503 for
 * a while, and those requests are retried on the other instance. Requests use paths only; the
 * balancer supplies the host.
 *
 * Run: `deno run --allow-net=127.0.0.1 examples/balanced_fetch.ts`
 */
import { balancedFetch, DefaultEndpointer, FixedInstancer, httpFactory } from "../mod.ts";
import { RoundRobinBalancer } from "../src/lb/mod.ts";

let overloaded = true;
const healthy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
  return Response.json({ from: "healthy", path: new URL(req.url).pathname });
});
const busy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
  return overloaded ? new Response("overloaded", { status: 503 }) : Response.json({ from: "busy" });
});

const instancer = new FixedInstancer([`127.0.0.1:${healthy.addr.port}`, `127.0.0.1:${busy.addr.port}`]);
using endpointer = new DefaultEndpointer(instancer, httpFactory({ pathPrefix: "/api" }));
await endpointer.ready();
const api = balancedFetch(new RoundRobinBalancer(endpointer), { attempts: 2, timeout: 3000 });

for (let i = 0; i < 4; i++) {
  if (i === 2) overloaded = false;
  const response = await api(`/orders/${i}`, { headers: { accept: "application/json" } });
  console.log(response.status, await response.json());
}

await healthy.shutdown();
await busy.shutdown();
