/**
 * Random balancing with a seeded source, so the picks repeat from run to run (handy in tests).
 *
 * Run: `deno run examples/random_balancer.ts`
 */
import { FixedEndpointer } from "../mod.ts";
import { RandomBalancer, seededRandom } from "../src/lb/mod.ts";

const names = ["a", "b", "c", "d"];
const endpointer = new FixedEndpointer(names.map((n) => () => Promise.resolve(n)));
const balancer = new RandomBalancer(endpointer, { random: seededRandom(2026) });

const counts = new Map<string, number>();
for (let i = 0; i < 10_000; i++) {
  const name = await balancer.endpoint()(undefined);
  counts.set(name, (counts.get(name) ?? 0) + 1);
}
console.log(Object.fromEntries(counts));
