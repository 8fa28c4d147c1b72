// InstanceCache: go-kit sd/internal/instance TestCache, TestRegistry, TestDataRace, plus the Instancer
// contract (current state first, dedupe, copies, validation, stop, signals).
import { assert } from "./_deps.ts";
import { DefaultEndpointer, type DiscoveryEvent, InstanceCache, SdError } from "../mod.ts";
import { recorder, spySignal } from "./_helpers.ts";

/** Lets every queued microtask run (a macrotask comes after them all). */
const flush = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function listOf(events: DiscoveryEvent[]): (string[] | string)[] {
  return events.map((e) => e.error !== undefined ? `error: ${e.error.message}` : e.instances);
}

Deno.test("InstanceCache has no state before the first update, then delivers sorted sets (go-kit TestCache)", async () => {
  const cache = new InstanceCache();
  // Deviation from go-kit, whose zero state was an empty event: there is no state until a real result.
  assert.equal(cache.state(), undefined);
  const { events, listener } = recorder();
  const sub = cache.subscribe(listener);
  await flush();
  assert.deepEqual(events, []);

  assert.equal(cache.update({ instances: ["y", "x"] }), true);
  assert.deepEqual(cache.state(), { instances: ["x", "y"], details: new Map() });
  await flush();
  assert.deepEqual(listOf(events), [["x", "y"]]);

  cache.update({ instances: ["c", "a", "b"] });
  await flush();
  assert.deepEqual(listOf(events), [["x", "y"], ["a", "b", "c"]]);

  sub.unsubscribe();
  sub.unsubscribe(); // harmless twice
  cache.update({ instances: ["d"] });
  await flush();
  assert.equal(events.length, 2);
  cache.stop();
});

Deno.test("InstanceCache broadcasts to every subscriber and not after unsubscribe (go-kit TestRegistry)", async () => {
  const cache = new InstanceCache();
  const a = recorder();
  const b = recorder();
  const subA = cache.subscribe(a.listener);
  const subB = cache.subscribe(b.listener);
  cache.update({ instances: ["y", "x"] });
  await flush();
  assert.deepEqual(listOf(a.events), [["x", "y"]]);
  assert.deepEqual(listOf(b.events), [["x", "y"]]);

  subA.unsubscribe();
  subB[Symbol.dispose]();
  assert.equal(cache.update({ instances: ["z"] }), true);
  await flush();
  assert.equal(a.events.length, 1);
  assert.equal(b.events.length, 1);
  cache.stop();
});

Deno.test("InstanceCache gives every subscriber its own copy of 999 instances (go-kit TestDataRace)", async () => {
  const cache = new InstanceCache();
  const instances = Array.from({ length: 999 }, (_, i) => `10.0.${Math.floor(i / 256)}.${i % 256}:80`);
  cache.update({ instances: instances.map((instance, i) => i % 2 ? instance : { instance, weight: i }) });
  const sorted = cache.state()!.instances!;
  assert.equal(sorted.length, 999);

  const factory = (instance: string) => ({ endpoint: () => Promise.resolve(instance) });
  using first = new DefaultEndpointer(cache, factory);
  using second = new DefaultEndpointer(cache, factory);
  const seen: DiscoveryEvent[] = [];
  cache.subscribe((event) => {
    seen.push(event);
    // A vandal listener: reorders and grows its own array, empties its own details map.
    event.instances!.reverse();
    event.instances!.push("vandal:1");
    (event.details as Map<string, unknown>).clear();
  });
  const other = recorder();
  cache.subscribe(other.listener);
  await first.ready();
  await second.ready();
  await flush();

  assert.equal(seen[0]!.instances!.length, 1000);
  assert.deepEqual(other.events[0]!.instances, sorted);
  assert.equal(other.events[0]!.details!.size, 500);
  assert.notEqual(other.events[0]!.instances, seen[0]!.instances);
  assert.deepEqual(cache.state()!.instances, sorted);
  assert.equal(cache.state()!.details!.size, 500);
  assert.deepEqual(first.entries().map((e) => e.instance), sorted);
  assert.deepEqual(second.entries().map((e) => e.instance), sorted);
  assert.equal(first.entries()[0]!.details.weight, 0);
  cache.stop();
});

Deno.test("InstanceCache delivers the current state first, on a later microtask", async () => {
  const cache = new InstanceCache();
  cache.update({ instances: ["b:1", "a:1"] });
  const { events, listener } = recorder();
  cache.subscribe(listener);
  assert.deepEqual(events, [], "never delivered synchronously inside subscribe()");
  await Promise.resolve();
  assert.deepEqual(listOf(events), [["a:1", "b:1"]]);
  cache.stop();
});

Deno.test("InstanceCache delivers every change to a synchronous listener, in order", async () => {
  const cache = new InstanceCache();
  const { events, listener } = recorder();
  cache.subscribe(listener);
  cache.update({ instances: ["a"] });
  cache.update({ error: new Error("down") });
  cache.update({ instances: ["a", "b"] });
  await flush();
  assert.deepEqual(listOf(events), [["a"], "error: down", ["a", "b"]]);
  cache.stop();
});

Deno.test("InstanceCache does not re-send identical states, comparing details deeply", async () => {
  const cache = new InstanceCache();
  const { events, listener } = recorder();
  cache.subscribe(listener);
  assert.equal(
    cache.update({ instances: ["b", { instance: "a", tags: ["x", "y"], meta: { k: "1", j: "2" } }] }),
    true,
  );
  // Same set in another order, with a duplicate and equal (not identical) details.
  assert.equal(
    cache.update({ instances: [{ instance: "a", meta: { j: "2", k: "1" }, tags: ["x", "y"] }, "b", "b"] }),
    false,
  );
  assert.equal(
    cache.update({ instances: ["b", { instance: "a", tags: ["y", "x"], meta: { k: "1", j: "2" } }] }),
    true,
  );
  assert.equal(
    cache.update({ instances: ["b", { instance: "a", tags: ["y", "x"], meta: { k: "1", j: "3" } }] }),
    true,
  );
  assert.equal(
    cache.update({ instances: ["b", { instance: "a", tags: ["y", "x"], meta: { k: "1", j: "3" } }] }),
    false,
  );
  assert.equal(cache.update({ instances: ["a", "b"] }), true, "dropping details is a change");
  assert.equal(cache.update({ instances: ["a", { instance: "b", weight: 0 }] }), true);
  assert.equal(cache.update({ instances: ["a", { instance: "b", weight: 0 }] }), false);
  await flush();
  assert.deepEqual(
    events.map((e) => [e.instances, Object.fromEntries(e.details!)]),
    [
      [["a", "b"], { a: { tags: ["x", "y"], meta: { k: "1", j: "2" } } }],
      [["a", "b"], { a: { tags: ["y", "x"], meta: { k: "1", j: "2" } } }],
      [["a", "b"], { a: { tags: ["y", "x"], meta: { k: "1", j: "3" } } }],
      [["a", "b"], {}],
      [["a", "b"], { b: { weight: 0 } }],
    ],
  );
  cache.stop();
});

Deno.test("InstanceCache does not re-send a repeated identical error, but does a different one", async () => {
  const cache = new InstanceCache();
  const { events, listener } = recorder();
  cache.subscribe(listener);
  cache.update({ instances: ["a"] });
  assert.equal(cache.update({ error: new Error("timeout") }), true);
  assert.equal(cache.update({ error: new Error("timeout") }), false, "distinct but equal errors");
  assert.equal(cache.update({ error: new Error("refused") }), true, "different message");
  assert.equal(cache.update({ error: new TypeError("refused") }), true, "different class");
  assert.equal(cache.update({ error: new SdError("ERR_DISCOVERY", "refused") }), true);
  assert.equal(cache.update({ error: new SdError("ERR_DISCOVERY", "refused") }), false);
  assert.equal(cache.update({ error: new SdError("ERR_STOPPED", "refused") }), true, "different code");
  // Recovery with the set held before the errors is a change (it differs from the error state).
  assert.equal(cache.update({ instances: ["a"] }), true);
  await flush();
  assert.deepEqual(
    events.map((e) => e.error === undefined ? e.instances : `${e.error.name}/${e.error.message}`),
    [["a"], "Error/timeout", "Error/refused", "TypeError/refused", "SdError/refused", "SdError/refused", [
      "a",
    ]],
  );
  assert.equal((events[5]!.error as SdError).code, "ERR_STOPPED");
  cache.stop();
});

Deno.test("InstanceCache wraps a non-Error discovery failure in an SdError", () => {
  const cache = new InstanceCache();
  cache.update({ error: "connection reset" });
  const error = cache.state()!.error as SdError;
  assert.ok(error instanceof SdError);
  assert.equal(error.code, "ERR_DISCOVERY");
  assert.equal(error.message, 'Discovery failed: "connection reset"');
  assert.equal(error.cause, "connection reset");
  assert.equal(cache.state()!.instances, undefined);
  cache.stop();
});

Deno.test("InstanceCache rejects invalid updates naming the bad value and keeps the previous state", async (t) => {
  const cache = new InstanceCache();
  cache.update({ instances: ["keep:1"] });
  const { events, listener } = recorder();
  cache.subscribe(listener);
  await flush();
  const cases: [string, unknown, ErrorConstructor | RangeErrorConstructor, string][] = [
    ["null", null, TypeError, "Update must be an object with instances or error, got null"],
    ["a string", "a:1", TypeError, "Update must be an object with instances or error, got a:1"],
    ["no instances", {}, TypeError, "instances must be an iterable of instances, got undefined"],
    [
      "a string list",
      { instances: "a:1" },
      TypeError,
      'instances must be an iterable of instances, got "a:1"',
    ],
    [
      "an empty instance",
      { instances: ["a:1", ""] },
      TypeError,
      'instances[1] must name a non-empty instance string, got ""',
    ],
    [
      "a number",
      { instances: [42] },
      TypeError,
      "instances[0] must be a string or an object with an instance, got 42",
    ],
    [
      "an object without instance",
      { instances: [{ weight: 1 }] },
      TypeError,
      "instances[0] must name a non-empty instance string, got undefined",
    ],
    [
      "a negative weight",
      { instances: ["a", { instance: "b", weight: -1 }] },
      RangeError,
      "instances[1]: weight must be a finite number >= 0, got -1",
    ],
    [
      "a bad status",
      { instances: [{ instance: "b", status: "up" }] },
      TypeError,
      'instances[0]: status must be one of passing, warning, critical, unknown, got "up"',
    ],
  ];
  for (const [name, update, ErrorClass, message] of cases) {
    await t.step(`with ${name}`, () => {
      assert.throws(() => cache.update(update as never), (e: unknown) => {
        assert.ok(e instanceof ErrorClass, `${e} is a ${ErrorClass.name}`);
        assert.equal((e as Error).message, message);
        return true;
      });
      assert.deepEqual(cache.state(), { instances: ["keep:1"], details: new Map() });
    });
  }
  await flush();
  assert.deepEqual(listOf(events), [["keep:1"]]);
  cache.stop();
});

Deno.test("InstanceCache.subscribe rejects a bad listener or signal", () => {
  const cache = new InstanceCache();
  assert.throws(() => cache.subscribe("x" as never), new TypeError('listener must be a function, got "x"'));
  assert.throws(
    () => cache.subscribe(() => {}, { signal: {} as AbortSignal }),
    new TypeError("options.signal must be an AbortSignal, got an object"),
  );
  cache.stop();
});

Deno.test("InstanceCache.state returns a copy of the instances with read-only, frozen details", () => {
  const cache = new InstanceCache();
  cache.update({ instances: ["a", { instance: "b", weight: 3, tags: ["t"] }] });
  const state = cache.state()!;
  state.instances!.push("c");
  assert.throws(() => (state.details as Map<string, unknown>).delete("b"), TypeError);
  assert.deepEqual(cache.state(), {
    instances: ["a", "b"],
    details: new Map([["b", { weight: 3, tags: ["t"] }]]),
  });
  const details = cache.details("b")!;
  assert.ok(Object.isFrozen(details) && Object.isFrozen(details.tags));
  assert.equal(cache.details("a"), undefined, "no details recorded");
  assert.equal(cache.details("zzz"), undefined);
  cache.update({ error: new Error("x") });
  assert.equal(cache.details("b"), undefined, "an error state has no details");
  cache.stop();
});

Deno.test("InstanceCache unsubscribes when the signal aborts and removes its abort listener", async (t) => {
  await t.step("an abort after delivery stops further events", async () => {
    const cache = new InstanceCache();
    const controller = new AbortController();
    const counts = spySignal(controller.signal);
    const { events, listener } = recorder();
    cache.update({ instances: ["a"] });
    cache.subscribe(listener, { signal: controller.signal });
    await flush();
    controller.abort();
    cache.update({ instances: ["b"] });
    await flush();
    assert.deepEqual(listOf(events), [["a"]]);
    assert.deepEqual(counts, { added: 1, removed: 1 });
    cache.stop();
  });
  await t.step("an abort before the first delivery cancels it", async () => {
    const cache = new InstanceCache();
    const controller = new AbortController();
    const { events, listener } = recorder();
    cache.update({ instances: ["a"] });
    cache.subscribe(listener, { signal: controller.signal });
    controller.abort();
    await flush();
    assert.deepEqual(events, []);
    cache.stop();
  });
  await t.step("an already-aborted signal never delivers and adds no listener", async () => {
    const cache = new InstanceCache();
    const signal = AbortSignal.abort();
    const counts = spySignal(signal);
    const { events, listener } = recorder();
    cache.update({ instances: ["a"] });
    cache.subscribe(listener, { signal });
    cache.update({ instances: ["b"] });
    await flush();
    assert.deepEqual(events, []);
    assert.deepEqual(counts, { added: 0, removed: 0 });
    cache.stop();
  });
  await t.step("unsubscribe and stop remove the abort listener", async () => {
    const cache = new InstanceCache();
    const one = new AbortController();
    const two = new AbortController();
    const countsOne = spySignal(one.signal);
    const countsTwo = spySignal(two.signal);
    cache.subscribe(() => {}, { signal: one.signal }).unsubscribe();
    cache.subscribe(() => {}, { signal: two.signal });
    cache.stop();
    assert.deepEqual(countsOne, { added: 1, removed: 1 });
    assert.deepEqual(countsTwo, { added: 1, removed: 1 });
    await flush();
  });
});
