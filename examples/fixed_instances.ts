/**
 * Static configuration: a fixed list of instances, one endpoint per instance from a factory, round
 * robin over them. No registry and no network: the "endpoint" just formats a string.
 *
 * Run: `deno run examples/fixed_instances.ts`
 */
import { DefaultEndpointer, FixedInstancer } from "../mod.ts";
import { RoundRobinBalancer } from "../src/lb/mod.ts";

const instancer = new FixedInstancer(["10.0.0.3:9000", "10.0.0.1:9000", "10.0.0.2:9000"]);
using endpointer = new DefaultEndpointer(instancer, (instance) => ({
  endpoint: (method: string) => Promise.resolve(`${method} handled by ${instance}`),
  close: () => console.log(`closing the connection to ${instance}`),
}));
await endpointer.ready();

const balancer = new RoundRobinBalancer(endpointer);
for (const method of ["GetUser", "ListOrders", "GetUser", "Ping"]) {
  console.log(await balancer.endpoint()(method));
}
