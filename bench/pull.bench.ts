// deno bench: what a warm pull-mode request costs (refresh() within the TTL, then the endpointer
// read), next to the watch-mode read of the same endpointer, at 10 and 1,000 instances.
import { DefaultEndpointer } from "../src/endpointer.ts";
import { InstanceCache } from "../src/instance_cache.ts";
import { RoundRobinBalancer } from "../src/lb/round_robin.ts";
import { PullInstancer } from "../src/pull_instancer.ts";
import type { Factory } from "../src/types.ts";

const SIZES = [10, 1_000] as const;

function instances(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `10.0.${i >> 8}.${i & 255}:8080`);
}

const factory: Factory<string, string> = (instance) => ({ endpoint: () => Promise.resolve(instance) });

// A module-level sink, so the work cannot be optimised away.
export let sink = 0;

for (const n of SIZES) {
  const list = instances(n);
  const watch = new InstanceCache();
  watch.update({ instances: list });
  const watched = new DefaultEndpointer(watch, factory);
  await watched.ready();
  const watchBalancer = new RoundRobinBalancer(watched);

  // An hour-long TTL keeps every bench iteration on the warm path: no lookup, no I/O.
  const pull = new PullInstancer(() => Promise.resolve({ instances: list }), { ttl: 3_600_000 });
  const pulled = new DefaultEndpointer(pull, factory, { invalidateAfter: 0 });
  await pull.refresh();
  const ready = await pulled.ready();
  if (ready.length !== n) throw new Error(`expected ${n} endpoints, got ${ready.length}`);
  const pullBalancer = new RoundRobinBalancer(pulled);

  Deno.bench({
    name: `watch mode: endpoints() read, ${n} instances`,
    group: `warm request, ${n} instances`,
    baseline: true,
    fn() {
      sink += watched.endpoints().length;
    },
  });
  Deno.bench({
    name: `pull mode: await refresh() (fresh) + endpoints(), ${n} instances`,
    group: `warm request, ${n} instances`,
    async fn() {
      await pull.refresh();
      sink += pulled.endpoints().length;
    },
  });
  Deno.bench({
    name: `watch mode: round-robin pick, ${n} instances`,
    group: `warm pick, ${n} instances`,
    baseline: true,
    fn() {
      sink += watchBalancer.endpoint().length;
    },
  });
  Deno.bench({
    name: `pull mode: await refresh() (fresh) + round-robin pick, ${n} instances`,
    group: `warm pick, ${n} instances`,
    async fn() {
      await pull.refresh();
      sink += pullBalancer.endpoint().length;
    },
  });
}
