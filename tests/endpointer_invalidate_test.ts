// DefaultEndpointer invalidate-after-error (go-kit InvalidateOnError): proactive via a timer under fake
// time, lazy on read with an injected clock; go-kit only ever invalidated lazily.
import { assert, fakeTime } from "./_deps.ts";
import {
  DefaultEndpointer,
  type EndpointerErrorEvent,
  type EndpointsChangeEvent,
  type Factory,
  InstanceCache,
} from "../mod.ts";

function tracking() {
  const made: string[] = [];
  const closed: string[] = [];
  const factory: Factory<string, string> = (instance) => {
    made.push(instance);
    return { endpoint: () => Promise.resolve(instance), close: () => void closed.push(instance) };
  };
  return { made, closed, factory };
}

function watch(endpointer: EventTarget): string[] {
  const log: string[] = [];
  endpointer.addEventListener("change", (e) => {
    log.push(`change [${(e as EndpointsChangeEvent).entries.map((x) => x.instance).join(",")}]`);
  });
  endpointer.addEventListener(
    "error",
    (e) => log.push(`error ${((e as EndpointerErrorEvent).error as Error).message}`),
  );
  return log;
}

Deno.test("DefaultEndpointer invalidates by timer after invalidateAfter and recovers on success", async () => {
  const clock = fakeTime(1_000);
  try {
    const { made, closed, factory } = tracking();
    const cache = new InstanceCache();
    const endpointer = new DefaultEndpointer(cache, factory, { invalidateAfter: 100 });
    const log = watch(endpointer);
    cache.update({ instances: ["a"] });
    await clock.tickAsync(0);
    assert.equal(endpointer.endpoints().length, 1);

    cache.update({ error: new Error("sd error") });
    await clock.tickAsync(50);
    assert.equal(endpointer.endpoints().length, 1);
    assert.deepEqual(closed, []);

    await clock.tickAsync(49);
    assert.deepEqual(closed, [], "not before the deadline");
    await clock.tickAsync(1);
    // Proactive: the endpoints are closed and a change event is sent without anyone reading.
    assert.deepEqual(closed, ["a"]);
    assert.deepEqual(log, ["change [a]", "error sd error", "change []"]);
    assert.throws(() => endpointer.endpoints(), { message: "sd error" });
    assert.throws(() => endpointer.entries(), { message: "sd error" });
    await assert.rejects(endpointer.ready(), { message: "sd error" });

    cache.update({ error: new Error("another sd error") });
    await clock.tickAsync(500);
    assert.throws(() => endpointer.endpoints(), { message: "sd error" }, "the original error is kept");
    assert.equal(endpointer.error?.message, "sd error");

    cache.update({ instances: ["a", "b"] });
    await clock.tickAsync(0);
    assert.equal(endpointer.endpoints().length, 2);
    assert.deepEqual(made, ["a", "a", "b"], "a success recreates the endpoints");
    assert.deepEqual(log.slice(3), ["error another sd error", "change [a,b]"]);
    assert.equal(clock.countTimers(), 0);
    endpointer.close();
    cache.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("DefaultEndpointer keeps the first error's deadline when more errors follow", async () => {
  const clock = fakeTime(0);
  try {
    const { closed, factory } = tracking();
    const cache = new InstanceCache();
    using endpointer = new DefaultEndpointer(cache, factory, { invalidateAfter: 100 });
    cache.update({ instances: ["a"] });
    await clock.tickAsync(0);
    cache.update({ error: new Error("first") });
    await clock.tickAsync(60);
    cache.update({ error: new Error("second") });
    await clock.tickAsync(39);
    assert.deepEqual(closed, []);
    await clock.tickAsync(1);
    assert.deepEqual(closed, ["a"], "at 100 ms after the first error, not 160");
    assert.throws(() => endpointer.endpoints(), { message: "first" });
    cache.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("DefaultEndpointer invalidates lazily on read when the injected clock has passed the deadline", async () => {
  let now = 0;
  const { closed, factory } = tracking();
  const cache = new InstanceCache();
  const endpointer = new DefaultEndpointer(cache, factory, { invalidateAfter: 60_000, now: () => now });
  const log = watch(endpointer);
  cache.update({ instances: ["a", "b"] });
  await endpointer.ready();
  cache.update({ error: new Error("sd error") });
  await Promise.resolve();
  now = 59_999;
  assert.equal(endpointer.endpoints().length, 2);
  now = 60_000;
  assert.throws(() => endpointer.endpoints(), { message: "sd error" });
  assert.deepEqual(closed, ["a", "b"]);
  await Promise.resolve();
  assert.deepEqual(log, ["change [a,b]", "error sd error", "change []"]);
  endpointer.close(); // clears the pending (real) timer
  cache.stop();
});

Deno.test("DefaultEndpointer re-arms its timer while an injected clock lags behind fake time", async () => {
  const clock = fakeTime(0);
  try {
    let now = 0;
    const { closed, factory } = tracking();
    const cache = new InstanceCache();
    using endpointer = new DefaultEndpointer(cache, factory, { invalidateAfter: 100, now: () => now });
    cache.update({ instances: ["a"] });
    await clock.tickAsync(0);
    cache.update({ error: new Error("down") });
    await clock.tickAsync(100);
    assert.deepEqual(closed, [], "the injected clock still says 0");
    assert.equal(clock.countTimers(), 1, "looks again later");
    now = 100;
    await clock.tickAsync(100);
    assert.deepEqual(closed, ["a"]);
    assert.throws(() => endpointer.endpoints(), { message: "down" });
    assert.equal(clock.countTimers(), 0);
    cache.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("DefaultEndpointer with invalidateAfter 0 invalidates at the first read after an error", async () => {
  const { closed, factory } = tracking();
  const cache = new InstanceCache();
  using endpointer = new DefaultEndpointer(cache, factory, { invalidateAfter: 0, now: () => 42 });
  cache.update({ instances: ["a"] });
  await endpointer.ready();
  cache.update({ error: new Error("gone") });
  await Promise.resolve();
  assert.throws(() => endpointer.endpoints(), { message: "gone" });
  assert.deepEqual(closed, ["a"]);
  cache.stop();
});

Deno.test("DefaultEndpointer without invalidateAfter never invalidates nor starts a timer", async () => {
  const clock = fakeTime(0);
  try {
    const { closed, factory } = tracking();
    const cache = new InstanceCache();
    using endpointer = new DefaultEndpointer(cache, factory);
    cache.update({ instances: ["a"] });
    await clock.tickAsync(0);
    cache.update({ error: new Error("down") });
    await clock.tickAsync(0);
    assert.equal(clock.countTimers(), 0);
    await clock.tickAsync(3_600_000);
    assert.equal(endpointer.endpoints().length, 1);
    assert.deepEqual(closed, []);
    cache.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("DefaultEndpointer close cancels a pending invalidation and sends no change after close", async () => {
  const clock = fakeTime(0);
  try {
    const { closed, factory } = tracking();
    const cache = new InstanceCache();
    const endpointer = new DefaultEndpointer(cache, factory, { invalidateAfter: 100 });
    const log = watch(endpointer);
    cache.update({ instances: ["a"] });
    await clock.tickAsync(0);
    cache.update({ error: new Error("down") });
    await clock.tickAsync(0);
    assert.equal(clock.countTimers(), 1);
    endpointer.close();
    assert.equal(clock.countTimers(), 0);
    assert.deepEqual(closed, ["a"]);

    // Invalidation by a read, then close in the same turn: the queued change must not follow close.
    const other = new InstanceCache();
    let now = 0;
    const late = new DefaultEndpointer(other, factory, { invalidateAfter: 100, now: () => now });
    const lateLog = watch(late);
    other.update({ instances: ["b"] });
    await clock.tickAsync(0);
    other.update({ error: new Error("again") });
    await clock.tickAsync(0);
    now = 100; // the injected clock passes the deadline before the (fake) timer does
    assert.throws(() => late.endpoints(), { message: "again" });
    late.close();
    await clock.tickAsync(0);
    assert.deepEqual(lateLog, ["change [b]", "error again"]);
    assert.deepEqual(log, ["change [a]", "error down"]);
    cache.stop();
    other.stop();
  } finally {
    clock.uninstall();
  }
});
