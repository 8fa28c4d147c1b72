// deno bench: one update fanned out to 1,000 subscribers of one InstanceCache, timed until all
// 1,000 listeners have received it. Target on the reference machine: under 10 ms.
//
// The set is 50 instances, a realistic size for one service; two prepared sets alternate (one
// instance swapped) so every iteration is a real change that every listener gets.
import { InstanceCache, type InstanceInput } from "../src/instance_cache.ts";

const LISTENERS = 1_000;
const SIZE = 50;
const GROUP = `one update to ${LISTENERS} subscribers, ${SIZE} instances`;

const listA = Array.from({ length: SIZE }, (_, i) => `10.0.0.${i + 1}:8080`);
const listB = [...listA.slice(1), `10.0.1.1:8080`];

function withDetails(list: readonly string[]): InstanceInput[] {
  return list.map((instance, i) => ({
    instance,
    zone: `zone-${i % 3}`,
    weight: 1 + (i % 4),
    status: "passing" as const,
  }));
}

async function fanOut(
  name: string,
  a: Iterable<InstanceInput>,
  b: Iterable<InstanceInput>,
  baseline = false,
) {
  const cache = new InstanceCache();
  let received = 0;
  let wrong = 0;
  let allReceived: () => void = () => {};
  for (let i = 0; i < LISTENERS; i++) {
    cache.subscribe((event) => {
      // Counted, not thrown: the cache would swallow a throw and the bench would wait forever.
      if (event.instances?.length !== SIZE) wrong++;
      if (++received === LISTENERS) allReceived();
    });
  }
  const deliver = async (list: Iterable<InstanceInput>) => {
    received = 0;
    const done = new Promise<void>((resolve) => {
      allReceived = resolve;
    });
    if (!cache.update({ instances: list })) throw new Error("update was not delivered");
    await done;
    if (wrong !== 0) throw new Error(`${wrong} listeners got an unexpected event`);
  };
  await deliver(a);
  let next = b;
  Deno.bench({
    name,
    group: GROUP,
    baseline,
    warmup: 50,
    n: 1_000,
    async fn() {
      const list = next;
      next = list === a ? b : a;
      await deliver(list);
    },
  });
}

await fanOut("1,000 listeners, bare instance strings", listA, listB, true);
await fanOut("1,000 listeners, with details (zone, weight, status)", withDetails(listA), withDetails(listB));
