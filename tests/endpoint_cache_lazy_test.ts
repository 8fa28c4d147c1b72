// The endpoint cache's compact state: parallel arrays per snapshot, entries built only when asked
// for (by entries() or a change event), unchanged entry objects reused, and input that breaks the
// sorted contract still handled in the order given.
import { assert } from "./_deps.ts";
import { EndpointCache, type EndpointCacheOptions } from "../src/_endpoint_cache.ts";
import { EMPTY_DETAILS } from "../src/_event.ts";
import { DefaultEndpointer, EndpointsChangeEvent, InstanceCache, type InstanceDetails } from "../mod.ts";
import { tracking } from "./_helpers.ts";

function options(): EndpointCacheOptions {
  return { invalidateAfter: undefined, now: () => 0, logger: undefined, onInvalidate: () => {} };
}

function event(instances: string[], details: [string, InstanceDetails][] = []) {
  return { instances, details: new Map(details) };
}

Deno.test("EndpointCache builds no entries while only endpoints() is read", () => {
  const { factory } = tracking();
  const cache = new EndpointCache(factory, options());
  cache.update(event(["a", "b", "c"]));
  const endpoints = cache.endpoints();
  assert.equal(endpoints.length, 3);
  assert.ok(Object.isFrozen(endpoints));
  assert.equal(cache.snapshot.built, false);
  cache.update(event(["a", "c", "d"]));
  assert.equal(cache.endpoints().length, 3);
  assert.equal(cache.snapshot.built, false);

  const entries = cache.entries();
  assert.equal(cache.snapshot.built, true);
  assert.ok(Object.isFrozen(entries));
  assert.deepEqual(entries.map((e) => e.instance), ["a", "c", "d"]);
  assert.deepEqual(entries.map((e) => e.endpoint), [...cache.endpoints()]);
  assert.ok(entries.every((e) => e.details === EMPTY_DETAILS));
  assert.equal(cache.entries(), entries, "built once, then the same array");
});

Deno.test("EndpointCache reuses unchanged entry objects across snapshots whose entries were never built", () => {
  const { factory } = tracking();
  const cache = new EndpointCache(factory, options());
  const heavy = Object.freeze({ weight: 5 });
  cache.update(event(["a", "b", "c"], [["b", heavy]]));
  const first = cache.entries();
  cache.update(event(["a", "b", "c", "d"], [["b", heavy]]));
  cache.update(event(["b", "c", "d", "e"], [["b", Object.freeze({ weight: 2 })]]));
  assert.equal(cache.snapshot.built, false);
  const third = cache.entries();
  assert.deepEqual(third.map((e) => e.instance), ["b", "c", "d", "e"]);
  assert.equal(third[1], first[2], "c is the same object");
  assert.notEqual(third[0], first[1], "b has new details, so a new entry");
  assert.deepEqual(third[0]!.details, { weight: 2 });
  assert.equal(third[0]!.endpoint, first[1]!.endpoint, "and keeps its endpoint");
  assert.equal(first[1]!.details, heavy, "the earlier entry is not mutated");
});

Deno.test("EndpointCache keeps details only for instances that have them, beside ones that do not", () => {
  const { factory } = tracking();
  const cache = new EndpointCache(factory, options());
  const zone = Object.freeze({ zone: "z1" });
  cache.update(event(["a", "b", "c"], [["c", zone]]));
  assert.equal(cache.snapshot.details?.length, 3);
  assert.deepEqual(cache.entries().map((e) => e.details), [{}, {}, { zone: "z1" }]);
  cache.update(event(["a", "b", "c"]));
  assert.equal(cache.snapshot.details, undefined, "no array when no instance has details");
  assert.deepEqual(cache.entries().map((e) => e.details), [{}, {}, {}]);
});

Deno.test("EndpointCache calls the factory in the order given for unsorted input and serves it sorted", () => {
  const { made, closed, factory } = tracking();
  const cache = new EndpointCache(factory, options());
  cache.update(event(["m", "c"]));
  assert.deepEqual(made, ["m", "c"]);
  assert.deepEqual(cache.entries().map((e) => e.instance), ["c", "m"]);
  assert.deepEqual(cache.update(event(["z", "m", "a", "z", "b"])), { changed: true, failures: [] });
  assert.deepEqual(made, ["m", "c", "z", "a", "b"], "newcomers in input order, duplicates once");
  assert.deepEqual(closed, ["c"]);
  assert.deepEqual(cache.entries().map((e) => e.instance), ["a", "b", "m", "z"]);
  assert.deepEqual(cache.update(event(["b", "a", "m", "z"])).changed, false);
});

Deno.test("EndpointCache frees the unused tail when factories fail", async () => {
  const cache = new EndpointCache<string, string>((instance) => {
    if (instance === "b" || instance === "d") throw new Error("no");
    return { endpoint: () => Promise.resolve(instance), close: () => {} };
  }, options());
  const outcome = cache.update(event(["a", "b", "c", "d"], [["c", Object.freeze({ weight: 3 })]]));
  assert.deepEqual(outcome.failures.map((f) => f.instance), ["b", "d"]);
  const endpoints = cache.endpoints();
  assert.equal(endpoints.length, 2);
  assert.deepEqual(await Promise.all(endpoints.map((e) => e(""))), ["a", "c"]);
  assert.equal(cache.snapshot.instances.length, 2);
  assert.equal(cache.snapshot.details?.length, 2);
  assert.deepEqual(cache.entries().map((e) => [e.instance, e.details]), [["a", {}], ["c", { weight: 3 }]]);
});

Deno.test("DefaultEndpointer change events build their entries on first read, for the state they announced", async () => {
  const cache = new InstanceCache();
  cache.update({ instances: ["a", "b"] });
  const endpointer = new DefaultEndpointer(cache, tracking().factory);
  const events: EndpointsChangeEvent<string, string>[] = [];
  endpointer.addEventListener("change", (e) => void events.push(e as EndpointsChangeEvent<string, string>));
  await endpointer.ready();
  cache.update({ instances: ["a", "b", "c"] });
  await endpointer.ready();
  while (events.length < 2) await new Promise((resolve) => setTimeout(resolve, 0));
  const [first, second] = events as [
    EndpointsChangeEvent<string, string>,
    EndpointsChangeEvent<string, string>,
  ];

  // Nobody has read entries yet: the endpointer has not built them.
  assert.equal(endpointer.endpoints().length, 3);
  // Read late, the first event still shows the state it announced.
  assert.deepEqual(first.entries.map((e) => e.instance), ["a", "b"]);
  assert.equal(first.entries, first.entries, "the same array on every read");
  // The newest event and entries() share one array.
  assert.equal(second.entries, endpointer.entries());
  assert.deepEqual(second.entries.map((e) => e.instance), ["a", "b", "c"]);
  endpointer.close();
  cache.stop();
});

Deno.test("DefaultEndpointer reuses a survivor's entry when a listener read the entries of each change", async () => {
  const cache = new InstanceCache();
  cache.update({ instances: ["a", "b"] });
  const endpointer = new DefaultEndpointer(cache, tracking().factory);
  const seen: (readonly { instance: string }[])[] = [];
  endpointer.addEventListener("change", (e) => void seen.push((e as EndpointsChangeEvent).entries));
  await endpointer.ready();
  cache.update({ instances: ["b", "c"] });
  while (seen.length < 2) await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(seen[1]![0], seen[0]![1], "b's entry object survives");
  assert.equal(seen[1], endpointer.entries());
  endpointer.close();
  cache.stop();
});

Deno.test("EndpointsChangeEvent built by hand carries the entries it was given", () => {
  const entries = Object.freeze([{
    instance: "a",
    details: EMPTY_DETAILS,
    endpoint: () => Promise.resolve(1),
  }]);
  const event = new EndpointsChangeEvent(entries);
  assert.equal(event.type, "change");
  assert.equal(event.entries, entries);
});
