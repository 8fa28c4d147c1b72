// The fast paths of normalizeInstances when the previous state is known: only new instances are
// sorted and merged, and unchanged details keep their objects.
import { assert } from "./_deps.ts";
import { normalizeInstances } from "../src/_event.ts";
import { InstanceCache } from "../src/instance_cache.ts";
import { DefaultEndpointer } from "../src/endpointer.ts";
import { seededRandom } from "../src/lb/random.ts";

function shuffle(list: string[], seed: number): string[] {
  const random = seededRandom(seed);
  const out = list.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

Deno.test("normalizeInstances merges new instances into the previous order exactly like a full sort", () => {
  const random = seededRandom(99);
  for (let round = 0; round < 200; round++) {
    const size = 1 + Math.floor(random() * 60);
    const previousList = Array.from({ length: size }, () => `h${Math.floor(random() * 500)}:${round}`);
    const previous = normalizeInstances(previousList);
    // Keep most, drop some, add a few (sometimes many, which takes the full-sort path).
    const kept = previous.instances.filter(() => random() > 0.2);
    const adds = Array.from(
      { length: Math.floor(random() * (round % 5 === 0 ? 40 : 4)) },
      () => `h${Math.floor(random() * 500)}:${round}`,
    );
    const next = shuffle([...kept, ...adds], round);
    const fast = normalizeInstances(next, "instances", previous).instances;
    const reference = [...new Set(next)].sort();
    assert.deepEqual(fast, reference, `round ${round}`);
  }
});

Deno.test("normalizeInstances reuses the previous details object when the values are equal", () => {
  const previous = normalizeInstances([{ instance: "a:1", weight: 2, tags: ["x"], meta: { k: "v" } }]);
  const next = normalizeInstances(
    [{ instance: "a:1", weight: 2, tags: ["x"], meta: { k: "v" } }, { instance: "b:1", weight: 1 }],
    "instances",
    previous,
  );
  assert.equal(next.details.get("a:1"), previous.details.get("a:1"));
  const changed = normalizeInstances([{ instance: "a:1", weight: 3, tags: ["x"] }], "instances", previous);
  assert.notEqual(changed.details.get("a:1"), previous.details.get("a:1"));
  assert.deepEqual(changed.details.get("a:1"), { weight: 3, tags: ["x"] });
});

Deno.test("normalizeInstances still validates input that only looks like the previous details", () => {
  const previous = normalizeInstances([{ instance: "a:1", tags: ["a", "b"], meta: { 0: "x" } }]);
  // A string with the same characters as the tags, and an array standing in for meta, are not equal.
  assert.throws(
    () => normalizeInstances([{ instance: "a:1", tags: "ab" as unknown as string[] }], "instances", previous),
    /tags must be an array of strings/,
  );
  assert.throws(
    () =>
      normalizeInstances(
        [{ instance: "a:1", tags: ["a", "b"], meta: ["x"] as unknown as Record<string, string> }],
        "instances",
        previous,
      ),
    /meta must be an object of strings/,
  );
});

Deno.test("An endpointer sees no change when an update repeats equal details in new objects", async () => {
  const cache = new InstanceCache();
  cache.update({ instances: [{ instance: "a:1", zone: "z1" }, "b:1"] });
  let changes = 0;
  using endpointer = new DefaultEndpointer(cache, (i) => ({ endpoint: () => Promise.resolve(i) }));
  endpointer.addEventListener("change", () => {
    changes++;
  });
  await endpointer.ready();
  const before = endpointer.entries();
  assert.equal(cache.update({ instances: ["b:1", { instance: "a:1", zone: "z1" }] }), false);
  cache.update({ instances: ["b:1", { instance: "a:1", zone: "z1" }, "c:1"] });
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(changes, 2, "the first state and the added instance");
  assert.equal(endpointer.entries()[0]!.details, before[0]!.details);
  cache.stop();
});
