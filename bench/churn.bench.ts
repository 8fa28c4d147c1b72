// deno bench: one update of 10,000 instances with 1% churn (100 removed, 100 added).
// Target on the reference machine: under 5 ms for the full path.
//
// Two prepared lists, A and B, differ by 100 instances each way; every iteration applies the other
// one, so every iteration really churns. The lists are sorted, as most registries return them; one
// variant feeds them shuffled to show the cost of the sort in normalizeInstances.
import { EndpointCache } from "../src/_endpoint_cache.ts";
import { normalizeInstances, sameEvent } from "../src/_event.ts";
import { DefaultEndpointer } from "../src/endpointer.ts";
import { InstanceCache, type InstanceInput } from "../src/instance_cache.ts";
import { seededRandom } from "../src/lb/random.ts";
import type { DiscoveryEvent, Factory } from "../src/types.ts";

const SIZE = 10_000;
const CHURN = 100;
const GROUP = "update 10,000 instances, 1% churn";

function host(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`;
}

// A: 0..9,999. B: A without every 100th instance, plus 10,000..10,099.
const listA = Array.from({ length: SIZE }, (_, i) => host(i)).sort();
const listB = [
  ...listA.filter((_, i) => i % (SIZE / CHURN) !== 0),
  ...Array.from({ length: CHURN }, (_, i) => host(SIZE + i)),
].sort();

function shuffled(list: readonly string[], seed: number): string[] {
  const random = seededRandom(seed);
  const out = list.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

// The same sets with the details a registry such as Consul supplies. Details belong to the instance
// (derived from its address, not its position in the list), so only the churned 1% change.
function withDetails(list: readonly string[]): InstanceInput[] {
  return list.map((instance) => {
    const n = Number(instance.slice(instance.lastIndexOf(".") + 1, instance.indexOf(":")));
    return { instance, zone: `zone-${n % 3}`, weight: 1 + (n % 4), status: "passing" as const };
  });
}

const factory: Factory<string, string> = (instance) => ({
  endpoint: () => Promise.resolve(instance),
  close: () => {},
});

/** A fresh InstanceCache -> DefaultEndpointer pipeline holding `first`. */
async function pipeline(first: Iterable<InstanceInput>) {
  const cache = new InstanceCache();
  cache.update({ instances: first });
  const endpointer = new DefaultEndpointer(cache, factory);
  await endpointer.ready();
  if (endpointer.endpoints().length !== SIZE) throw new Error("pipeline did not start with 10,000");
  return { cache, endpointer };
}

/** Benchmarks the full path: update, microtask delivery, endpoint rebuild, `change` dispatched. */
async function fullPath(name: string, a: Iterable<InstanceInput>, b: Iterable<InstanceInput>) {
  const { cache, endpointer } = await pipeline(a);
  let next = b;
  Deno.bench({
    name,
    group: GROUP,
    warmup: 50,
    n: 400,
    async fn() {
      const list = next;
      next = list === a ? b : a;
      const changed = new Promise((resolve) =>
        endpointer.addEventListener("change", resolve, { once: true })
      );
      if (!cache.update({ instances: list })) throw new Error("update was not delivered");
      await changed;
    },
  });
}

await fullPath("full path: InstanceCache.update -> DefaultEndpointer (sorted)", listA, listB);
await fullPath(
  "full path, shuffled input (sort included)",
  shuffled(listA, 1),
  shuffled(listB, 2),
);
await fullPath(
  "full path, with details (zone, weight, status)",
  withDetails(listA),
  withDetails(listB),
);

// The endpoint-cache step alone, on prepared (already normalised) events.
{
  const eventA = normalizeInstances(listA);
  const eventB = normalizeInstances(listB);
  const endpoints = new EndpointCache<string, string>(factory, {
    invalidateAfter: undefined,
    now: Date.now,
    logger: undefined,
    onInvalidate: () => {},
  });
  endpoints.update(eventA);
  let next: DiscoveryEvent = eventB;
  Deno.bench({
    name: "EndpointCache.update alone",
    group: GROUP,
    baseline: true,
    warmup: 50,
    n: 1_000,
    fn() {
      const event = next;
      next = event === eventA ? eventB : eventA;
      if (!endpoints.update(event).changed) throw new Error("no churn");
    },
  });
}

// The pieces of InstanceCache.update, to locate the cost of the full path, and the common case of a
// polling backend: an unchanged list, which is normalised and compared in full, then dropped.
{
  const eventB = normalizeInstances(listB);
  const copyB = normalizeInstances([...listB]);
  Deno.bench({
    name: "normalizeInstances (sorted input)",
    group: GROUP,
    fn() {
      normalizeInstances(listB);
    },
  });
  Deno.bench({
    name: "sameEvent on identical 10,000 sets (full compare)",
    group: GROUP,
    fn() {
      if (!sameEvent(eventB, copyB)) throw new Error("sets should be equal");
    },
  });
  const cache = new InstanceCache();
  cache.update({ instances: listB });
  Deno.bench({
    name: "InstanceCache.update, unchanged list (poll, nothing sent)",
    group: GROUP,
    fn() {
      if (cache.update({ instances: listB })) throw new Error("an unchanged list was sent");
    },
  });
}
