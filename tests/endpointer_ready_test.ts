// DefaultEndpointer.ready and discovery errors: by default the first error before any instances
// rejects (a Worker awaiting it must not hang until the runtime cancels the request); waitThroughErrors
// opts out, except for a loop that has ended for good.
import { assert } from "./_deps.ts";
import {
  DefaultEndpointer,
  DiscoveryLoopError,
  type EndpointerErrorEvent,
  InstanceCache,
  StoppedError,
} from "../mod.ts";
import { spySignal, tracking } from "./_helpers.ts";

const flush = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Settles `promise` into a string, so that tests can assert the order and outcome of several. */
function outcome(promise: Promise<readonly unknown[]>, log: string[], name: string): void {
  promise.then(
    (endpoints) => log.push(`${name} resolved with ${endpoints.length}`),
    (error: Error) => log.push(`${name} rejected: ${error.message}`),
  );
}

Deno.test("DefaultEndpointer.ready rejects with the first discovery error that comes before any instances", async () => {
  const cache = new InstanceCache();
  using endpointer = new DefaultEndpointer(cache, tracking().factory);
  const errors: unknown[] = [];
  endpointer.addEventListener("error", (e) => errors.push((e as EndpointerErrorEvent).error));
  const pending = endpointer.ready();
  const first = new Error("connection refused");
  cache.update({ error: first });
  await assert.rejects(pending, (e) => e === first);
  assert.deepEqual(errors, [first], "the error event is dispatched as well");

  const second = new Error("still refused");
  cache.update({ error: second });
  await flush();
  await assert.rejects(endpointer.ready(), (e) => e === second, "a later call: the current error");
  cache.stop();
});

Deno.test("DefaultEndpointer.ready rejects every pending call, each once, and removes their abort listeners", async () => {
  const cache = new InstanceCache();
  using endpointer = new DefaultEndpointer(cache, tracking().factory);
  const controller = new AbortController();
  const spy = spySignal(controller.signal);
  const log: string[] = [];
  outcome(endpointer.ready({ signal: controller.signal }), log, "with a signal");
  outcome(endpointer.ready(), log, "without");
  cache.update({ error: new Error("registry down") });
  await flush();
  cache.update({ instances: ["a"] });
  await flush();
  assert.deepEqual(log, ["with a signal rejected: registry down", "without rejected: registry down"]);
  assert.deepEqual(spy, { added: 1, removed: 1 });
  controller.abort(); // nothing left to reject
  await flush();
  assert.equal(log.length, 2);
  cache.stop();
});

Deno.test("DefaultEndpointer.ready with waitThroughErrors waits through errors and resolves after recovery", async () => {
  const cache = new InstanceCache();
  using endpointer = new DefaultEndpointer(cache, tracking().factory);
  const log: string[] = [];
  outcome(endpointer.ready({ waitThroughErrors: true }), log, "early");
  cache.update({ error: new Error("starting") });
  await flush();
  outcome(endpointer.ready({ waitThroughErrors: true }), log, "while in error");
  outcome(endpointer.ready(), log, "default");
  cache.update({ error: new Error("still starting") });
  await flush();
  assert.deepEqual(log, ["default rejected: starting"]);
  cache.update({ instances: ["b", "a"] });
  await flush();
  assert.deepEqual(log, [
    "default rejected: starting",
    "early resolved with 2",
    "while in error resolved with 2",
  ]);
  assert.equal(await endpointer.ready({ waitThroughErrors: false }), endpointer.endpoints());
  cache.stop();
});

Deno.test("DefaultEndpointer.ready with waitThroughErrors still rejects when the discovery loop has ended", async () => {
  const cache = new InstanceCache();
  using endpointer = new DefaultEndpointer(cache, tracking().factory);
  const pending = endpointer.ready({ waitThroughErrors: true });
  cache.update({ error: new Error("transient") });
  await flush();
  const ended = new DiscoveryLoopError("ConsulInstancer", new Error("loop bug"));
  cache.update({ error: ended });
  await assert.rejects(pending, (e) => e === ended, "waiting would never end");
  await assert.rejects(endpointer.ready({ waitThroughErrors: true }), (e) => e === ended);
  cache.stop();
});

Deno.test("DefaultEndpointer.ready resolves once instances have arrived, also through later errors", async () => {
  const cache = new InstanceCache();
  using endpointer = new DefaultEndpointer(cache, tracking().factory);
  const pending = endpointer.ready();
  cache.update({ instances: ["a"] });
  const endpoints = await pending;
  assert.equal(endpoints.length, 1);
  cache.update({ error: new Error("registry down") });
  await flush();
  assert.equal(await endpointer.ready(), endpoints, "the last endpoints stay in service");
  cache.update({ instances: [] });
  cache.update({ error: new Error("down again") });
  await flush();
  assert.deepEqual(await endpointer.ready(), [], "an empty set is a state too");
  cache.stop();
});

Deno.test("DefaultEndpointer.ready with an aborted signal rejects with its reason", async (t) => {
  await t.step("already aborted, with no state yet", async () => {
    using endpointer = new DefaultEndpointer(new InstanceCache(), tracking().factory);
    const reason = new Error("gave up");
    await assert.rejects(endpointer.ready({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
  });
  await t.step("aborted while waiting through errors", async () => {
    const cache = new InstanceCache();
    using endpointer = new DefaultEndpointer(cache, tracking().factory);
    const controller = new AbortController();
    const spy = spySignal(controller.signal);
    const pending = endpointer.ready({ signal: controller.signal, waitThroughErrors: true });
    cache.update({ error: new Error("starting") });
    await flush();
    const reason = new DOMException("deadline", "TimeoutError");
    controller.abort(reason);
    await assert.rejects(pending, (e) => e === reason);
    assert.deepEqual(spy, { added: 1, removed: 0 }, "added with once: true, so the abort removed it");
    cache.update({ instances: ["a"] }); // the aborted call is no longer waiting
    await flush();
    cache.stop();
  });
});

Deno.test("DefaultEndpointer.ready rejects with StoppedError when closed before any state", async (t) => {
  await t.step("a pending call, with or without waitThroughErrors", async () => {
    const endpointer = new DefaultEndpointer(new InstanceCache(), tracking().factory);
    const log: string[] = [];
    outcome(endpointer.ready(), log, "default");
    outcome(endpointer.ready({ waitThroughErrors: true }), log, "waiting");
    endpointer.close();
    await flush();
    assert.deepEqual(log, [
      "default rejected: DefaultEndpointer is stopped",
      "waiting rejected: DefaultEndpointer is stopped",
    ]);
    await assert.rejects(endpointer.ready(), StoppedError);
  });
  await t.step("a call after an error and then close", async () => {
    const cache = new InstanceCache();
    cache.update({ error: new Error("down") });
    const endpointer = new DefaultEndpointer(cache, tracking().factory);
    await flush();
    endpointer.close();
    await assert.rejects(endpointer.ready(), StoppedError, "stopped, not the stale discovery error");
    cache.stop();
  });
});

Deno.test("DefaultEndpointer.ready rejects a waitThroughErrors that is no boolean, naming the value", () => {
  using endpointer = new DefaultEndpointer(new InstanceCache(), tracking().factory);
  assert.throws(
    () => endpointer.ready({ waitThroughErrors: "yes" as never }),
    new TypeError('options.waitThroughErrors must be a boolean, got "yes"'),
  );
});
