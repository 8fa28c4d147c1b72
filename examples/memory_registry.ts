/**
 * The in-process registry: a registrar with a TTL keeps an instance alive; an instancer streams the
 * service's instances as an async iterable; an instance whose keep-alive stops disappears when its TTL
 * runs out.
 *
 * Run: `deno run examples/memory_registry.ts`
 */
import { MemoryRegistry } from "../src/memory/mod.ts";

using registry = new MemoryRegistry();
const a = registry.registrar("orders", "10.0.0.1:8080", { ttl: 200, details: { zone: "eu-1", weight: 2 } });
const b = registry.registrar("orders", "10.0.0.2:8080", { ttl: 200, details: { zone: "eu-2" } });
b.addEventListener("registered", () => console.log("b registered"));
await a.register();
await b.register();

const instancer = registry.instancer("orders");
setTimeout(() => b.stop(), 100); // b "crashes": no more renewals, gone 200 ms later
setTimeout(() => a.deregister(), 600);

for await (const event of instancer) {
  if (event.error) throw event.error;
  const described = event.instances.map((i) => `${i} (${event.details.get(i)?.zone})`);
  console.log(`orders: [${described.join(", ")}]`);
  if (event.instances.length === 0) break;
}
instancer.stop();
