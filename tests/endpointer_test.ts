// DefaultEndpointer: go-kit sd/endpointer_test.go (TestDefaultEndpointer) and its own contract: ready(),
// entries, change and error events, frozen arrays, validation, signal and close.
import { assert } from "./_deps.ts";
import {
  DefaultEndpointer,
  type DiscoveryEvent,
  type DiscoveryListener,
  type EndpointerErrorEvent,
  type EndpointsChangeEvent,
  InstanceCache,
  type Instancer,
  StoppedError,
} from "../mod.ts";
import { recordingLogger, tracking } from "./_helpers.ts";

const flush = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Records `change` (as instance lists) and `error` (as messages with instance) events in order. */
function watch(endpointer: EventTarget): string[] {
  const log: string[] = [];
  endpointer.addEventListener("change", (e) => {
    log.push(`change [${(e as EndpointsChangeEvent).entries.map((x) => x.instance).join(",")}]`);
  });
  endpointer.addEventListener("error", (e) => {
    const { error, instance } = e as EndpointerErrorEvent;
    log.push(`error ${(error as Error).message}${instance === undefined ? "" : ` (${instance})`}`);
  });
  return log;
}

/** An Instancer that pushes raw events synchronously and counts subscriptions. */
function manualInstancer() {
  const state = { listener: undefined as DiscoveryListener | undefined, subscribed: 0, unsubscribed: 0 };
  const instancer = {
    subscribe(listener: DiscoveryListener) {
      state.subscribed++;
      state.listener = listener;
      const unsubscribe = () => {
        state.unsubscribed++;
        state.listener = undefined;
      };
      return { unsubscribe, [Symbol.dispose]: unsubscribe };
    },
  } as unknown as Instancer;
  const push = (event: DiscoveryEvent) => state.listener?.(event);
  return { state, instancer, push };
}

Deno.test("DefaultEndpointer makes endpoints for cached instances and closes removed ones (go-kit TestDefaultEndpointer)", async () => {
  const { made, closed, factory } = tracking();
  const cache = new InstanceCache();
  cache.update({ instances: ["a", "b"] });
  const endpointer = new DefaultEndpointer(cache, factory, { invalidateAfter: 60_000 });
  const endpoints = await endpointer.ready();
  assert.equal(endpoints.length, 2);
  assert.equal(endpointer.error, undefined);
  assert.deepEqual(await Promise.all(endpoints.map((e) => e("ping"))), ["a ping", "b ping"]);

  cache.update({ instances: [] });
  await flush();
  assert.deepEqual(closed, ["a", "b"]);
  assert.deepEqual(endpointer.endpoints(), []);
  assert.equal(endpointer.error, undefined);

  endpointer.close();
  cache.update({ instances: ["c"] }); // must not blow up, nor reach the closed endpointer
  await flush();
  assert.deepEqual(made, ["a", "b"]);
  assert.deepEqual(endpointer.endpoints(), []);
  cache.stop();
});

Deno.test("DefaultEndpointer.ready resolves with the endpoints of the first state", async () => {
  const cache = new InstanceCache();
  const endpointer = new DefaultEndpointer(cache, tracking().factory);
  assert.deepEqual(endpointer.endpoints(), [], "empty before the first state");
  const pending = endpointer.ready();
  cache.update({ instances: ["b", "a"] });
  const endpoints = await pending;
  assert.equal(endpoints, endpointer.endpoints());
  assert.deepEqual(await Promise.all(endpoints.map((e) => e("x"))), ["a x", "b x"]);
  assert.equal(await endpointer.ready(), endpoints, "later calls resolve at once");
  endpointer.close();
  assert.deepEqual(await endpointer.ready(), [], "after close: the closed (empty) endpoints");
  cache.stop();
});

Deno.test("DefaultEndpointer.ready rejects on abort, on close, and for a bad signal", async (t) => {
  await t.step("with the signal's reason when it aborts first", async () => {
    const endpointer = new DefaultEndpointer(new InstanceCache(), tracking().factory);
    const controller = new AbortController();
    const pending = endpointer.ready({ signal: controller.signal });
    const reason = new Error("gave up");
    controller.abort(reason);
    await assert.rejects(pending, (e) => e === reason);
    const other = endpointer.ready({ signal: new AbortController().signal });
    endpointer.close();
    await assert.rejects(other, StoppedError);
  });
  await t.step("with the reason of an already-aborted signal", async () => {
    const endpointer = new DefaultEndpointer(new InstanceCache(), tracking().factory);
    await assert.rejects(endpointer.ready({ signal: AbortSignal.abort("early") }), (e) => e === "early");
    endpointer.close();
  });
  await t.step("with StoppedError when closed first", async () => {
    const endpointer = new DefaultEndpointer(new InstanceCache(), tracking().factory);
    const controller = new AbortController();
    let removed = 0;
    const remove = controller.signal.removeEventListener.bind(controller.signal);
    controller.signal.removeEventListener = (
      ...args: Parameters<typeof remove>
    ) => (removed++, remove(...args));
    const pending = endpointer.ready({ signal: controller.signal });
    endpointer.close();
    await assert.rejects(pending, (e: unknown) => {
      assert.ok(e instanceof StoppedError);
      assert.equal(e.code, "ERR_STOPPED");
      assert.equal(e.message, "DefaultEndpointer is stopped");
      return true;
    });
    assert.equal(removed, 1, "the abort listener is removed once settled");
    await assert.rejects(endpointer.ready(), StoppedError, "also when called after close");
  });
  await t.step("synchronously for a signal that is not an AbortSignal", () => {
    const endpointer = new DefaultEndpointer(new InstanceCache(), tracking().factory);
    assert.throws(
      () => endpointer.ready({ signal: "soon" as never }),
      new TypeError('options.signal must be an AbortSignal, got "soon"'),
    );
    endpointer.close();
  });
});

Deno.test("DefaultEndpointer.entries carries instances, frozen details and endpoints, sorted", async () => {
  const cache = new InstanceCache();
  cache.update({ instances: [{ instance: "b", weight: 2, zone: "eu" }, "a"] });
  const seen: [string, unknown][] = [];
  using endpointer = new DefaultEndpointer<string, string>(cache, (instance, details) => {
    seen.push([instance, details]);
    return { endpoint: () => Promise.resolve(instance) };
  });
  await endpointer.ready();
  const entries = endpointer.entries();
  assert.deepEqual(entries.map((e) => [e.instance, e.details]), [["a", {}], ["b", {
    weight: 2,
    zone: "eu",
  }]]);
  assert.deepEqual(seen, [["a", {}], ["b", { weight: 2, zone: "eu" }]], "the factory sees the details");
  assert.ok(Object.isFrozen(entries) && Object.isFrozen(entries[1]!.details));
  assert.deepEqual(entries.map((e) => e.endpoint), [...endpointer.endpoints()]);
  assert.equal(endpointer.entries(), entries);
  cache.stop();
});

Deno.test("DefaultEndpointer dispatches change only when something changed", () => {
  const { made, closed, factory } = tracking();
  const { instancer, push } = manualInstancer();
  using endpointer = new DefaultEndpointer(instancer, factory);
  const log = watch(endpointer);
  push({ instances: [], details: new Map() });
  push({ instances: [], details: new Map() });
  push({ instances: ["a", "b"], details: new Map() });
  const first = endpointer.endpoints();
  push({ instances: ["a", "b"], details: new Map() });
  assert.equal(endpointer.endpoints(), first, "the same frozen array between changes");
  assert.ok(Object.isFrozen(first));
  push({ instances: ["a", "b"], details: new Map([["a", Object.freeze({ weight: 3 })]]) });
  const reweighted = endpointer.endpoints();
  assert.notEqual(reweighted, first);
  assert.equal(reweighted[0], first[0], "a details change keeps the endpoint function");
  assert.deepEqual(endpointer.entries()[0]!.details, { weight: 3 });
  push({ instances: ["b"], details: new Map() });
  assert.deepEqual(log, ["change []", "change [a,b]", "change [a,b]", "change [b]"]);
  assert.deepEqual(made, ["a", "b"]);
  assert.deepEqual(closed, ["a"]);
});

Deno.test("DefaultEndpointer reports discovery errors and keeps serving the last endpoints", async () => {
  const { records, logger } = recordingLogger();
  const cache = new InstanceCache();
  cache.update({ instances: ["a"] });
  using endpointer = new DefaultEndpointer(cache, tracking().factory, { logger });
  const log = watch(endpointer);
  await endpointer.ready();
  const before = endpointer.endpoints();
  const failure = new Error("registry down");
  cache.update({ error: failure });
  await flush();
  assert.equal(endpointer.error, failure);
  assert.equal(endpointer.endpoints(), before);
  cache.update({ instances: ["a"] });
  await flush();
  assert.equal(endpointer.error, undefined);
  assert.equal(endpointer.endpoints(), before, "recovery to the same set changes nothing");
  assert.deepEqual(log, ["change [a]", "error registry down"]);
  assert.deepEqual(records.map((r) => [r.level, r.message, r.data?.["error"]]), [
    ["warn", "Discovery error; keeping the last endpoints", failure],
  ]);
  cache.stop();
});

Deno.test("A throwing factory never breaks DefaultEndpointer; the instance is retried when listed again", async () => {
  let broken = true;
  const made: string[] = [];
  const cache = new InstanceCache();
  using endpointer = new DefaultEndpointer<string, string>(cache, (instance) => {
    made.push(instance);
    if (broken && instance === "b") throw new Error("cannot dial");
    return { endpoint: () => Promise.resolve(instance) };
  });
  const log = watch(endpointer);
  cache.update({ instances: ["a", "b"] });
  await flush();
  assert.deepEqual(endpointer.entries().map((e) => e.instance), ["a"]);
  cache.update({ error: new Error("blip") });
  cache.update({ instances: ["a", "b"] });
  await flush();
  broken = false;
  cache.update({ instances: ["a", "b", "c"] });
  await flush();
  assert.deepEqual(endpointer.entries().map((e) => e.instance), ["a", "b", "c"]);
  assert.deepEqual(made, ["a", "b", "b", "b", "c"]);
  assert.deepEqual(log, [
    "error cannot dial (b)",
    "change [a]",
    "error blip",
    "error cannot dial (b)", // re-listed and still failing: reported, but the endpoints did not change
    "change [a,b,c]",
  ]);
  cache.stop();
});

Deno.test("DefaultEndpointer rejects bad arguments naming the value, before subscribing", async (t) => {
  const { state, instancer } = manualInstancer();
  const factory = tracking().factory;
  const cases: [string, () => unknown, Error][] = [
    [
      "a null instancer",
      () => new DefaultEndpointer(null as never, factory),
      new TypeError("instancer must have a subscribe() method, got null"),
    ],
    [
      "an instancer without subscribe",
      () => new DefaultEndpointer({} as never, factory),
      new TypeError("instancer must have a subscribe() method, got an object"),
    ],
    [
      "a factory that is no function",
      () => new DefaultEndpointer(instancer, "f" as never),
      new TypeError('factory must be a function, got "f"'),
    ],
    [
      "null options",
      () => new DefaultEndpointer(instancer, factory, null as never),
      new TypeError("options must be an object, got null"),
    ],
    [
      "a negative invalidateAfter",
      () => new DefaultEndpointer(instancer, factory, { invalidateAfter: -1 }),
      new RangeError("options.invalidateAfter must be a finite number >= 0, got -1"),
    ],
    [
      "an infinite invalidateAfter",
      () => new DefaultEndpointer(instancer, factory, { invalidateAfter: Infinity }),
      new RangeError("options.invalidateAfter must be a finite number >= 0, got Infinity"),
    ],
    [
      "a NaN invalidateAfter",
      () => new DefaultEndpointer(instancer, factory, { invalidateAfter: NaN }),
      new TypeError("options.invalidateAfter must be a number, got NaN"),
    ],
    [
      "a string invalidateAfter",
      () => new DefaultEndpointer(instancer, factory, { invalidateAfter: "5" as never }),
      new TypeError('options.invalidateAfter must be a number, got "5"'),
    ],
    [
      "a clock that is no function",
      () => new DefaultEndpointer(instancer, factory, { now: 1 as never }),
      new TypeError("options.now must be a function, got 1"),
    ],
    [
      "a signal that is no AbortSignal",
      () => new DefaultEndpointer(instancer, factory, { signal: {} as never }),
      new TypeError("options.signal must be an AbortSignal, got an object"),
    ],
  ];
  for (const [name, make, expected] of cases) {
    await t.step(`with ${name}`, () => assert.throws(make, expected));
  }
  assert.equal(state.subscribed, 0);
});

Deno.test("DefaultEndpointer.close unsubscribes, closes every endpoint once, and is idempotent (go-kit bug)", async () => {
  const { closed, factory } = tracking();
  const { state, instancer, push } = manualInstancer();
  const endpointer = new DefaultEndpointer(instancer, factory);
  const log = watch(endpointer);
  push({ instances: ["a", "b", "c"], details: new Map() });
  endpointer.close();
  assert.equal(endpointer.closed, true);
  assert.deepEqual(closed, ["a", "b", "c"], "go-kit never closed them");
  assert.deepEqual(endpointer.endpoints(), []);
  assert.equal(state.unsubscribed, 1);
  endpointer.close(); // go-kit panicked on a second Close
  endpointer[Symbol.dispose]();
  assert.equal(state.unsubscribed, 1);
  assert.deepEqual(closed, ["a", "b", "c"]);
  assert.deepEqual(log, ["change [a,b,c]"], "no events after close");
  await flush();
});

Deno.test("DefaultEndpointer closes when its signal aborts and detaches from the signal on close", async () => {
  const { closed, factory } = tracking();
  const { state, instancer, push } = manualInstancer();
  const controller = new AbortController();
  const endpointer = new DefaultEndpointer(instancer, factory, { signal: controller.signal });
  push({ instances: ["a"], details: new Map() });
  controller.abort();
  assert.equal(endpointer.closed, true);
  assert.deepEqual(closed, ["a"]);
  assert.equal(state.unsubscribed, 1);

  const other = new AbortController();
  let added = 0;
  let removed = 0;
  const add = other.signal.addEventListener.bind(other.signal);
  const remove = other.signal.removeEventListener.bind(other.signal);
  other.signal.addEventListener = (...args: Parameters<typeof add>) => (added++, add(...args));
  other.signal.removeEventListener = (...args: Parameters<typeof remove>) => (removed++, remove(...args));
  new DefaultEndpointer(instancer, factory, { signal: other.signal }).close();
  assert.deepEqual([added, removed], [1, 1]);
  await flush();
});

Deno.test("DefaultEndpointer with an already-aborted signal is closed at once and never calls the factory", async () => {
  const { made, factory } = tracking();
  const cache = new InstanceCache();
  cache.update({ instances: ["a"] });
  const endpointer = new DefaultEndpointer(cache, factory, { signal: AbortSignal.abort() });
  assert.equal(endpointer.closed, true);
  await flush();
  assert.deepEqual(made, []);
  await assert.rejects(endpointer.ready(), StoppedError);
  cache.stop();
});

Deno.test("DefaultEndpointer logs a close function that rejects or throws instead of throwing", async () => {
  const { records, logger } = recordingLogger();
  const { instancer, push } = manualInstancer();
  const endpointer = new DefaultEndpointer<string, string>(instancer, (instance) => ({
    endpoint: () => Promise.resolve(instance),
    close: instance === "a" ? () => Promise.reject(new Error("socket busy")) : () => {
      throw new Error("already closed");
    },
  }), { logger });
  push({ instances: ["a", "b"], details: new Map() });
  push({ instances: ["b"], details: new Map() });
  endpointer.close();
  await flush();
  assert.deepEqual(records.map((r) => [r.message, r.data]), [
    ["Endpoint close failed", { instance: "b", error: "Error: already closed" }],
    ["Endpoint close failed", { instance: "a", error: "Error: socket busy" }],
  ]);
});

Deno.test("DefaultEndpointer ignores an instancer that keeps sending after close", async () => {
  const { made, factory } = tracking();
  let listener: DiscoveryListener | undefined;
  const leaky = {
    subscribe(l: DiscoveryListener) {
      listener = l;
      return { unsubscribe() {}, [Symbol.dispose]() {} }; // forgets to stop delivering
    },
  } as unknown as Instancer;
  const endpointer = new DefaultEndpointer(leaky, factory);
  const log = watch(endpointer);
  endpointer.close();
  listener!({ instances: ["a"], details: new Map() });
  listener!({ error: new Error("late") });
  assert.deepEqual(made, []);
  assert.deepEqual(log, []);
  assert.deepEqual(endpointer.endpoints(), []);
  await assert.rejects(endpointer.ready(), StoppedError);
});
