// deno bench: the endpointer's hot read, DefaultEndpointer.endpoints(), fed by an InstanceCache.
import { DefaultEndpointer } from "../src/endpointer.ts";
import { InstanceCache } from "../src/instance_cache.ts";
import type { Factory } from "../src/types.ts";

const SIZES = [10, 100, 1_000] as const;

function instances(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `10.0.${i >> 8}.${i & 255}:8080`);
}

const factory: Factory<string, string> = (instance) => ({ endpoint: () => Promise.resolve(instance) });

// A module-level sink, so the read cannot be optimised away.
export let sink = 0;

for (const n of SIZES) {
  const cache = new InstanceCache();
  cache.update({ instances: instances(n) });
  const endpointer = new DefaultEndpointer(cache, factory);
  const ready = await endpointer.ready();
  if (ready.length !== n) throw new Error(`expected ${n} endpoints, got ${ready.length}`);

  Deno.bench({
    name: `endpoints() with ${n} endpoints`,
    group: "endpoints() read",
    baseline: n === 10,
    fn() {
      sink += endpointer.endpoints().length;
    },
  });
}
