// The internal endpoint cache: go-kit sd/endpoint_cache_test.go (TestEndpointCache,
// TestEndpointCacheErrorAndTimeout, TestBadFactory) and the go-kit bugs it fixes.
import { assert } from "./_deps.ts";
import { EndpointCache, type EndpointCacheOptions } from "../src/_endpoint_cache.ts";
import { EMPTY_DETAILS } from "../src/_event.ts";
import type { DiscoveryEvent, InstanceDetails } from "../mod.ts";
import { recordingLogger, tracking } from "./_helpers.ts";

function instances(list: string[], details: [string, InstanceDetails][] = []): DiscoveryEvent {
  return { instances: list, details: new Map(details) };
}

function options(overrides: Partial<EndpointCacheOptions> = {}): EndpointCacheOptions {
  return {
    invalidateAfter: undefined,
    now: () => 0,
    logger: undefined,
    onInvalidate: () => {},
    ...overrides,
  };
}

Deno.test("EndpointCache reuses, closes and keeps endpoints across updates (go-kit TestEndpointCache)", async () => {
  const { made, closed, factory } = tracking();
  const cache = new EndpointCache(factory, options());

  assert.deepEqual(cache.update(instances(["a", "b"])), { changed: true, failures: [] });
  const two = cache.endpoints();
  assert.equal(two.length, 2);
  assert.equal(await two[0]!("x"), "a x");
  assert.equal(await two[1]!("x"), "b x");
  assert.deepEqual(closed, []);

  // Duplicate, should be no-op.
  assert.deepEqual(cache.update(instances(["a", "b"])), { changed: false, failures: [] });
  assert.equal(cache.endpoints(), two, "same array, no allocation");
  assert.deepEqual(made, ["a", "b"]);
  assert.deepEqual(closed, []);

  // An error keeps the endpoints and, without invalidation, never surfaces from endpoints().
  assert.deepEqual(cache.update({ error: new Error("sd error") }), { changed: false, failures: [] });
  assert.equal(cache.endpoints(), two);
  assert.equal(cache.error?.message, "sd error");
  assert.equal(cache.deadline, undefined);
  assert.deepEqual(closed, []);

  assert.deepEqual(cache.update(instances(["a"])), { changed: true, failures: [] });
  assert.equal(cache.error, undefined);
  assert.deepEqual(closed, ["b"]);
  assert.equal(cache.endpoints().length, 1);
  assert.equal(cache.endpoints()[0], two[0], "the survivor keeps its endpoint");
  assert.equal(two.length, 2, "an earlier snapshot stays valid");

  cache.update(instances([]));
  assert.deepEqual(closed, ["b", "a"]);
  assert.deepEqual(cache.endpoints(), []);
  assert.ok(Object.isFrozen(cache.endpoints()) && Object.isFrozen(cache.entries()));
});

Deno.test("EndpointCache invalidates after the timeout with an injected clock (go-kit TestEndpointCacheErrorAndTimeout)", () => {
  const { made, closed, factory } = tracking();
  let now = 1_000;
  let invalidations = 0;
  const cache = new EndpointCache(
    factory,
    options({
      invalidateAfter: 100,
      now: () => now,
      onInvalidate: () => invalidations++,
    }),
  );
  cache.update(instances(["a"]));
  assert.equal(cache.endpoints().length, 1);

  const t0 = now;
  cache.update({ error: new Error("sd error") });
  assert.equal(cache.deadline, t0 + 100);
  assert.equal(cache.endpoints().length, 1);
  assert.deepEqual(closed, []);

  now = t0 + 50;
  assert.equal(cache.endpoints().length, 1);
  assert.equal(cache.expire(), false);
  assert.deepEqual(closed, []);

  now = t0 + 150;
  assert.throws(() => cache.endpoints(), { message: "sd error" });
  assert.deepEqual(closed, ["a"]);
  assert.equal(cache.invalidated, true);
  assert.equal(cache.deadline, undefined);
  assert.equal(invalidations, 1);
  assert.throws(() => cache.entries(), { message: "sd error" });

  // A later error keeps the original error (and does not restart the clock).
  cache.update({ error: new Error("another sd error") });
  assert.throws(() => cache.endpoints(), { message: "sd error" });
  assert.equal(cache.deadline, undefined);
  assert.equal(invalidations, 1, "invalidated once only");
  assert.deepEqual(closed, ["a"]);

  // A success recreates every endpoint through the factory.
  assert.deepEqual(cache.update(instances(["a"])), { changed: true, failures: [] });
  assert.equal(cache.invalidated, false);
  assert.equal(cache.endpoints().length, 1);
  assert.deepEqual(made, ["a", "a"]);
});

Deno.test("EndpointCache keeps the first error's deadline when more errors follow", () => {
  const { closed, factory } = tracking();
  let now = 0;
  const cache = new EndpointCache(factory, options({ invalidateAfter: 100, now: () => now }));
  cache.update(instances(["a"]));
  cache.update({ error: new Error("first") });
  now = 60;
  cache.update({ error: new Error("second") });
  assert.equal(cache.deadline, 100);
  assert.equal(cache.error?.message, "first");
  now = 99;
  assert.equal(cache.endpoints().length, 1);
  now = 100; // Go's time.Before is strict: at the deadline the endpoints are already invalid
  assert.throws(() => cache.endpoints(), { message: "first" });
  assert.deepEqual(closed, ["a"]);
});

Deno.test("EndpointCache with invalidateAfter 0 invalidates at the first read after an error", () => {
  const { closed, factory } = tracking();
  const cache = new EndpointCache(factory, options({ invalidateAfter: 0, now: () => 5 }));
  cache.update(instances(["a", "b"]));
  cache.update({ error: new Error("gone") });
  assert.throws(() => cache.endpoints(), { message: "gone" });
  assert.deepEqual(closed, ["a", "b"]);
});

Deno.test("EndpointCache whose first event is an error serves nothing, then throws at the deadline", () => {
  const { made, factory } = tracking();
  let now = 0;
  const cache = new EndpointCache(factory, options({ invalidateAfter: 10, now: () => now }));
  cache.update({ error: new Error("registry down") });
  assert.deepEqual(cache.endpoints(), []);
  now = 10;
  assert.throws(() => cache.endpoints(), { message: "registry down" });
  // Recovery to an empty set is still a change: endpoints() stops throwing.
  assert.deepEqual(cache.update(instances([])), { changed: true, failures: [] });
  assert.deepEqual(cache.endpoints(), []);
  assert.deepEqual(made, []);
});

Deno.test("EndpointCache skips instances whose factory throws and reports them (go-kit TestBadFactory)", () => {
  const { records, logger } = recordingLogger();
  const bad = new Error("bad factory");
  const cache = new EndpointCache<string, string>(() => {
    throw bad;
  }, options({ logger }));
  const outcome = cache.update(instances(["foo:1234", "bar:5678"]));
  assert.deepEqual(outcome.failures, [{ instance: "foo:1234", error: bad }, {
    instance: "bar:5678",
    error: bad,
  }]);
  assert.deepEqual(cache.endpoints(), []);
  assert.equal(cache.error, undefined);
  assert.deepEqual(records.map((r) => [r.level, r.message, r.data?.["instance"]]), [
    ["warn", "Factory failed; instance skipped until the next update", "foo:1234"],
    ["warn", "Factory failed; instance skipped until the next update", "bar:5678"],
  ]);
});

Deno.test("EndpointCache retries a failed instance on the next update that lists it", () => {
  let failing = true;
  const made: string[] = [];
  const cache = new EndpointCache<string, string>((instance) => {
    made.push(instance);
    if (failing && instance === "b") throw new Error("not yet");
    return { endpoint: () => Promise.resolve(instance) };
  }, options());
  const first = cache.update(instances(["a", "b"]));
  assert.deepEqual(first.failures.map((f) => f.instance), ["b"]);
  assert.deepEqual(cache.entries().map((e) => e.instance), ["a"]);
  failing = false;
  assert.deepEqual(cache.update(instances(["a", "b", "c"])), { changed: true, failures: [] });
  assert.deepEqual(cache.entries().map((e) => e.instance), ["a", "b", "c"]);
  assert.deepEqual(made, ["a", "b", "b", "c"]);
});

Deno.test("EndpointCache reports a factory result without an endpoint function", () => {
  const cache = new EndpointCache<string, string>(
    (instance) => (instance === "a" ? undefined : { endpoint: "nope" }) as never,
    options(),
  );
  const { failures } = cache.update(instances(["a", "b"]));
  assert.deepEqual(
    failures.map((f) => [f.instance, (f.error as Error).name, (f.error as Error).message]),
    [
      ["a", "TypeError", 'Factory returned no endpoint function for "a"'],
      ["b", "TypeError", 'Factory returned no endpoint function for "b"'],
    ],
  );
  assert.deepEqual(cache.endpoints(), []);
});

Deno.test("EndpointCache calls the factory once for a duplicated instance and never leaks its closer (go-kit bug)", () => {
  const { made, closed, factory } = tracking();
  const cache = new EndpointCache(factory, options());
  cache.update(instances(["a", "a", "b", "a"]));
  assert.deepEqual(made, ["a", "b"]);
  assert.equal(cache.endpoints().length, 2);
  cache.update(instances(["b", "a", "a"]));
  assert.deepEqual(made, ["a", "b"]);
  cache.update(instances([]));
  assert.deepEqual(closed.sort(), ["a", "b"], "each closer runs exactly once");
});

Deno.test("EndpointCache carries details and treats a details change as a change of the same endpoint", () => {
  const { made, factory } = tracking();
  const seenDetails: InstanceDetails[] = [];
  const cache = new EndpointCache<string, string>((instance, details) => {
    seenDetails.push(details);
    return factory(instance, details);
  }, options());
  const heavy = Object.freeze({ weight: 5 });
  cache.update(instances(["a", "b"], [["a", heavy]]));
  assert.deepEqual(seenDetails, [heavy, EMPTY_DETAILS]);
  const before = cache.entries();
  assert.deepEqual(before.map((e) => [e.instance, e.details]), [["a", { weight: 5 }], ["b", {}]]);
  assert.equal(before[1]!.details, EMPTY_DETAILS);

  const light = Object.freeze({ weight: 1 });
  assert.deepEqual(cache.update(instances(["a", "b"], [["a", light]])), { changed: true, failures: [] });
  const after = cache.entries();
  assert.notEqual(after, before);
  assert.equal(after[0]!.details, light);
  assert.equal(after[0]!.endpoint, before[0]!.endpoint, "the endpoint survives a details change");
  assert.equal(after[1], before[1], "an unchanged entry is reused");
  assert.equal(before[0]!.details, heavy, "the earlier entry object is not mutated");
  assert.deepEqual(made, ["a", "b"]);

  assert.equal(cache.update(instances(["a", "b"], [["a", light]])).changed, false);
  assert.equal(cache.entries(), after);
});

Deno.test("EndpointCache.close closes every endpoint once and logs failing closers", async () => {
  const { records, logger } = recordingLogger();
  const closed: string[] = [];
  const closers: Record<string, () => void | Promise<void>> = {
    a: () => Promise.reject(new Error("async close failed")),
    b: () => {
      throw new Error("sync close failed");
    },
    c: () => void closed.push("c"),
  };
  const cache = new EndpointCache<string, string>((instance) => {
    const close = closers[instance];
    const endpoint = () => Promise.resolve(instance);
    return close === undefined ? { endpoint } : { endpoint, close };
  }, options({ logger, now: () => 0, invalidateAfter: 10 }));
  cache.update(instances(["a", "b", "c", "d"]));
  cache.update({ error: new Error("x") });
  cache.close();
  assert.equal(cache.deadline, undefined, "close cancels a pending invalidation");
  assert.deepEqual(cache.endpoints(), []);
  cache.close();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(closed, ["c"]);
  assert.deepEqual(records.map((r) => [r.level, r.message, r.data]), [
    ["warn", "Endpoint close failed", { instance: "b", error: "Error: sync close failed" }],
    ["warn", "Endpoint close failed", { instance: "a", error: "Error: async close failed" }],
  ]);
});

Deno.test("EndpointCache reports no change when only a still-failing instance or a duplicate is re-listed", () => {
  const made: string[] = [];
  const cache = new EndpointCache<string, string>((instance) => {
    made.push(instance);
    if (instance === "b") throw new Error("still broken");
    return { endpoint: () => Promise.resolve(instance) };
  }, options());
  assert.equal(cache.update(instances(["a", "b"])).changed, true);
  const entries = cache.entries();
  const again = cache.update(instances(["a", "b"]));
  assert.equal(again.changed, false);
  assert.deepEqual(again.failures.map((f) => f.instance), ["b"], "the failure is still reported");
  assert.equal(cache.update(instances(["a", "a"])).changed, false);
  assert.equal(cache.entries(), entries);
  assert.deepEqual(made, ["a", "b", "b"]);
});
