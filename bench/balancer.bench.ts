// deno bench: one pick, balancer.endpoint(), from a DefaultEndpointer fed by an InstanceCache.
// Target on the reference machine: a pick under 30 ns at 1,000 endpoints.
import { DefaultEndpointer } from "../src/endpointer.ts";
import { InstanceCache } from "../src/instance_cache.ts";
import { RandomBalancer, seededRandom } from "../src/lb/random.ts";
import { RoundRobinBalancer } from "../src/lb/round_robin.ts";
import type { Endpoint, Factory } from "../src/types.ts";

const SIZES = [10, 100, 1_000] as const;

function instances(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `10.0.${i >> 8}.${i & 255}:8080`);
}

const factory: Factory<string, string> = (instance) => ({ endpoint: () => Promise.resolve(instance) });

// A module-level sink, so the picks cannot be optimised away.
export let last: Endpoint<string, string> | undefined;

for (const n of SIZES) {
  const cache = new InstanceCache();
  cache.update({ instances: instances(n) });
  const endpointer = new DefaultEndpointer(cache, factory);
  await endpointer.ready();
  const roundRobin = new RoundRobinBalancer(endpointer);
  const random = new RandomBalancer(endpointer, { random: seededRandom(42) });
  const group = `pick at ${n} endpoints`;

  Deno.bench({
    name: `endpoints() read, ${n} endpoints`,
    group,
    baseline: true,
    fn() {
      last = endpointer.endpoints()[0];
    },
  });
  Deno.bench({
    name: `RoundRobinBalancer.endpoint(), ${n} endpoints`,
    group,
    fn() {
      last = roundRobin.endpoint();
    },
  });
  Deno.bench({
    name: `RandomBalancer.endpoint() (seededRandom), ${n} endpoints`,
    group,
    fn() {
      last = random.endpoint();
    },
  });
}
