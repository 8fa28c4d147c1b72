// deno bench: one pick per balancer beyond go-kit, next to round robin in the same run, over a
// DefaultEndpointer fed by an InstanceCache (instances with weights and zones). "+ call" rows also
// report the attempt through the call-outcome seam (begin, then end), as retry does.
import { DefaultEndpointer } from "../src/endpointer.ts";
import { InstanceCache } from "../src/instance_cache.ts";
import { LeastRequestBalancer } from "../src/lb/least_request.ts";
import { LocalityEndpointer } from "../src/lb/locality.ts";
import { OutlierEjectionBalancer } from "../src/lb/outlier.ts";
import { PeakEwmaBalancer } from "../src/lb/peak_ewma.ts";
import { seededRandom } from "../src/lb/random.ts";
import { RetryBudget } from "../src/lb/retry_budget.ts";
import { RingHashBalancer } from "../src/lb/ring_hash.ts";
import { RoundRobinBalancer } from "../src/lb/round_robin.ts";
import { WeightedBalancer } from "../src/lb/weighted.ts";
import type { Endpoint, Factory } from "../src/types.ts";

const SIZES = [10, 1_000] as const;
const ZONES = ["a", "b", "c"];

const factory: Factory<string, string> = (instance) => ({ endpoint: () => Promise.resolve(instance) });

// A module-level sink, so the picks cannot be optimised away.
export let last: Endpoint<string, string> | undefined;

for (const n of SIZES) {
  const cache = new InstanceCache();
  cache.update({
    instances: Array.from({ length: n }, (_, i) => ({
      instance: `10.0.${i >> 8}.${i & 255}:8080`,
      weight: 1 + (i % 3),
      zone: ZONES[i % 3]!,
    })),
  });
  const endpointer = new DefaultEndpointer(cache, factory);
  await endpointer.ready();
  const random = seededRandom(42);
  const roundRobin = new RoundRobinBalancer(endpointer);
  const weighted = new WeightedBalancer(endpointer, { random });
  const leastRequest = new LeastRequestBalancer(endpointer, { random });
  const peakEwma = new PeakEwmaBalancer(endpointer, { random });
  const ring = new RingHashBalancer(endpointer, { random });
  const outlier = new OutlierEjectionBalancer(endpointer, (view) => new RoundRobinBalancer(view));
  const locality = new RoundRobinBalancer(new LocalityEndpointer(endpointer, { zone: "a" }));
  const budgeted = new RetryBudget().balancer(roundRobin);
  const keys = Array.from({ length: 1024 }, (_, i) => `user-${i}`);
  let k = 0;
  const group = `pick at ${n} endpoints`;
  const bench = (name: string, fn: () => void, baseline = false) =>
    Deno.bench({ name: `${name}, ${n} endpoints`, group, baseline, fn });

  bench("RoundRobinBalancer.endpoint()", () => void (last = roundRobin.endpoint()), true);
  bench("WeightedBalancer.endpoint() (EDF)", () => void (last = weighted.endpoint()));
  bench("LeastRequestBalancer.endpoint()", () => void (last = leastRequest.endpoint()));
  bench("LeastRequestBalancer.endpoint() + call", () => {
    last = leastRequest.endpoint();
    leastRequest.begin(last).end("success");
  });
  bench("PeakEwmaBalancer.endpoint()", () => void (last = peakEwma.endpoint()));
  bench("PeakEwmaBalancer.endpoint() + call", () => {
    last = peakEwma.endpoint();
    peakEwma.begin(last).end("success");
  });
  bench("RingHashBalancer.pick(key)", () => void (last = ring.pick(keys[k++ & 1023]!)));
  bench("OutlierEjectionBalancer(round robin).endpoint()", () => void (last = outlier.endpoint()));
  bench("OutlierEjectionBalancer(round robin).endpoint() + call", () => {
    last = outlier.endpoint();
    outlier.begin(last).end("success");
  });
  bench("RoundRobinBalancer(LocalityEndpointer).endpoint()", () => void (last = locality.endpoint()));
  bench("RetryBudget.balancer(round robin).endpoint()", () => void (last = budgeted.endpoint()));
}
