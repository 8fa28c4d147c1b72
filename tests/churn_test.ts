// 1% churn on 10,000 instances: only new instances get an endpoint made, only vanished ones are closed,
// and an identical update makes and closes nothing.
import { EndpointCache } from "../src/_endpoint_cache.ts";
import { normalizeInstances } from "../src/_event.ts";
import { DefaultEndpointer } from "../src/endpointer.ts";
import { InstanceCache } from "../src/instance_cache.ts";
import type { Endpoint, Factory } from "../src/types.ts";
import { assert } from "./_deps.ts";

const SIZE = 10_000;

function host(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`;
}

// A: 0..9,999. B: A without every 100th instance (100 removed) plus 10,000..10,099 (100 added).
const listA = Array.from({ length: SIZE }, (_, i) => host(i));
const removed = listA.filter((_, i) => i % 100 === 0);
const added = Array.from({ length: 100 }, (_, i) => host(SIZE + i));
const listB = [...listA.filter((_, i) => i % 100 !== 0), ...added];

/** A factory that records every instance it makes an endpoint for and every close. */
function recordingFactory() {
  const made: string[] = [];
  const closed: string[] = [];
  const factory: Factory<string, string> = (instance) => {
    made.push(instance);
    return {
      endpoint: () => Promise.resolve(instance),
      close: () => {
        closed.push(instance);
      },
    };
  };
  return { factory, made, closed };
}

const sorted = (list: readonly string[]) => [...list].sort();

function nextChange(endpointer: DefaultEndpointer<string, string>): Promise<Event> {
  return new Promise((resolve) => endpointer.addEventListener("change", resolve, { once: true }));
}

Deno.test("DefaultEndpointer makes endpoints only for the 100 new instances of a 10,000-instance update with 1% churn", async (t) => {
  const { factory, made, closed } = recordingFactory();
  const cache = new InstanceCache();
  const endpointer = new DefaultEndpointer(cache, factory);
  try {
    cache.update({ instances: listA });
    await endpointer.ready();
    assert.equal(made.length, SIZE);
    assert.equal(closed.length, 0);
    const before = new Map(endpointer.entries().map((e) => [e.instance, e.endpoint]));
    made.length = 0;

    await t.step("the churn update calls the factory 100 times and close 100 times", async () => {
      const changed = nextChange(endpointer);
      assert.equal(cache.update({ instances: listB }), true);
      await changed;
      assert.equal(made.length, 100);
      assert.equal(closed.length, 100);
      assert.deepEqual(sorted(made), sorted(added));
      assert.deepEqual(sorted(closed), sorted(removed));
      const entries = endpointer.entries();
      assert.equal(entries.length, SIZE);
      assert.deepEqual(entries.map((e) => e.instance), sorted(listB));
      // Every survivor keeps the very endpoint it had.
      let kept = 0;
      for (const entry of entries) {
        const old = before.get(entry.instance);
        if (old !== undefined) {
          assert.equal(entry.endpoint, old, `endpoint of ${entry.instance} was replaced`);
          kept++;
        }
      }
      assert.equal(kept, SIZE - 100);
    });

    await t.step("a second identical update calls neither the factory nor close", async () => {
      made.length = 0;
      closed.length = 0;
      const endpoints = endpointer.endpoints();
      let changes = 0;
      const count = () => changes++;
      endpointer.addEventListener("change", count);
      try {
        // Same set in another order: still identical once normalised.
        assert.equal(cache.update({ instances: [...listB].reverse() }), false);
        await new Promise((resolve) => setTimeout(resolve, 0));
      } finally {
        endpointer.removeEventListener("change", count);
      }
      assert.equal(made.length, 0);
      assert.equal(closed.length, 0);
      assert.equal(changes, 0);
      assert.equal(endpointer.endpoints(), endpoints);
    });
  } finally {
    endpointer.close();
    cache.stop();
  }
  // Closing the endpointer closes every live endpoint exactly once.
  assert.equal(closed.length, SIZE);
  assert.equal(new Set(closed).size, SIZE);
});

Deno.test("EndpointCache fed the same 10,000-instance churned set twice makes and closes nothing the second time", () => {
  const { factory, made, closed } = recordingFactory();
  const cache = new EndpointCache<string, string>(factory, {
    invalidateAfter: undefined,
    now: () => 0,
    logger: undefined,
    onInvalidate: () => {},
  });
  cache.update(normalizeInstances(listA));
  made.length = 0;

  const first = cache.update(normalizeInstances(listB));
  assert.deepEqual(first, { changed: true, failures: [] });
  assert.equal(made.length, 100);
  assert.equal(closed.length, 100);
  assert.deepEqual(sorted(made), sorted(added));
  assert.deepEqual(sorted(closed), sorted(removed));
  const endpoints: readonly Endpoint<string, string>[] = cache.endpoints();

  // A fresh but identical event (new arrays and map), as a backend without de-duplication would send.
  const second = cache.update(normalizeInstances(listB));
  assert.deepEqual(second, { changed: false, failures: [] });
  assert.equal(made.length, 100);
  assert.equal(closed.length, 100);
  assert.equal(cache.endpoints(), endpoints);
  cache.close();
  assert.equal(closed.length, 100 + SIZE);
});
