/**
 * What an endpointer does when discovery fails: by default it keeps serving the last endpoints; with
 * `invalidateAfter` it keeps them for that long, then closes them and makes `endpoints()` throw until
 * discovery recovers.
 *
 * Run: `deno run examples/invalidate_on_error.ts`
 */
import {
  DefaultEndpointer,
  type EndpointerErrorEvent,
  type EndpointsChangeEvent,
  InstanceCache,
  RegistryUnavailableError,
} from "../mod.ts";

const instancer = new InstanceCache(); // stands in for a backend's instancer
using endpointer = new DefaultEndpointer(instancer, (instance) => ({
  endpoint: () => Promise.resolve(instance),
  close: () => console.log(`closed ${instance}`),
}), { invalidateAfter: 100 });
endpointer.addEventListener(
  "error",
  (e) => console.log(`discovery error: ${(e as EndpointerErrorEvent).error}`),
);
// Read the new state from the event: after invalidation, endpoints() and entries() throw.
endpointer.addEventListener("change", (e) => {
  console.log(`change: ${(e as EndpointsChangeEvent).entries.length} endpoints`);
});

instancer.update({ instances: ["10.0.0.1:80", "10.0.0.2:80"] });
await endpointer.ready();

instancer.update({ error: new RegistryUnavailableError("Consul at 127.0.0.1:8500 refused the connection") });
await new Promise((r) => setTimeout(r, 10));
console.log(`still serving ${endpointer.endpoints().length} endpoints during the grace period`);

await new Promise((r) => setTimeout(r, 150));
try {
  endpointer.endpoints();
} catch (error) {
  console.log(`after the grace period endpoints() throws: ${(error as Error).message}`);
}

instancer.update({ instances: ["10.0.0.2:80"] });
await new Promise((r) => setTimeout(r, 0));
console.log(`recovered with ${endpointer.endpoints().length} endpoint`);
instancer.stop();
