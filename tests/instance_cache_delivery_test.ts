// InstanceCache delivery: no re-entrancy, slow and failing listeners, collapsing, stop, async iteration.
// These cover go-kit bugs (gokit-sd.md sections 3, 12, 15): Register/broadcast sent synchronously
// while holding the cache's lock, so one slow subscriber blocked every other one and the backend.
import { assert } from "./_deps.ts";
import { type DiscoveryEvent, InstanceCache } from "../mod.ts";
import { recorder, recordingLogger, spySignal } from "./_helpers.ts";

const flush = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function names(events: DiscoveryEvent[]): (string | undefined)[] {
  return events.map((e) => e.error !== undefined ? `error: ${e.error.message}` : e.instances.join(","));
}

Deno.test("InstanceCache never calls a listener re-entrantly when it updates from inside itself", async () => {
  const cache = new InstanceCache();
  const seen: string[] = [];
  let depth = 0;
  let maxDepth = 0;
  cache.subscribe((event) => {
    depth++;
    maxDepth = Math.max(maxDepth, depth);
    const name = event.instances!.join(",");
    seen.push(`begin ${name}`);
    if (name === "a") {
      assert.equal(cache.update({ instances: ["b"] }), true);
      seen.push("updated");
    }
    seen.push(`end ${name}`);
    depth--;
  });
  cache.update({ instances: ["a"] });
  await flush();
  assert.deepEqual(seen, ["begin a", "updated", "end a", "begin b", "end b"]);
  assert.equal(maxDepth, 1);
  cache.stop();
});

Deno.test("A slow listener blocks neither update() nor other listeners, and gets the newest state (go-kit #12)", async () => {
  const cache = new InstanceCache();
  const slow: DiscoveryEvent[] = [];
  const releases: (() => void)[] = [];
  cache.subscribe((event) => {
    slow.push(event);
    return new Promise<void>((resolve) => releases.push(resolve));
  });
  const fast: DiscoveryEvent[] = [];
  cache.subscribe((event) => void fast.push(event));

  for (const name of ["1", "2", "3", "4"]) {
    assert.equal(cache.update({ instances: [name] }), true, "update() returns while the slow one waits");
    await flush();
  }
  assert.deepEqual(names(fast), ["1", "2", "3", "4"]);
  assert.deepEqual(names(slow), ["1"]);

  releases.shift()!();
  await flush();
  assert.deepEqual(names(slow), ["1", "4"], "events piled up while busy collapse to the newest");
  releases.shift()!();
  await flush();
  assert.deepEqual(names(slow), ["1", "4"]);
  cache.stop();
});

Deno.test("A busy listener skips a collapsed state equal to the one it already has", async () => {
  const cache = new InstanceCache();
  const slow: DiscoveryEvent[] = [];
  let release!: () => void;
  cache.subscribe((event) => {
    slow.push(event);
    return new Promise<void>((resolve) => release = resolve);
  });
  cache.update({ instances: ["a"] });
  await flush();
  cache.update({ instances: ["b"] });
  cache.update({ instances: ["a"] });
  release();
  await flush();
  assert.deepEqual(names(slow), ["a"]);
  cache.update({ instances: ["c"] });
  await flush();
  assert.deepEqual(names(slow), ["a", "c"]);
  cache.stop();
  release();
});

Deno.test("A throwing or rejecting listener is logged and breaks neither the cache nor other listeners", async () => {
  const { records, logger } = recordingLogger();
  const cache = new InstanceCache({ logger });
  const thrown: string[] = [];
  const rejected: string[] = [];
  const good: DiscoveryEvent[] = [];
  const boom = new Error("listener bug");
  cache.subscribe((event) => {
    thrown.push(event.instances!.join());
    throw boom;
  });
  cache.subscribe((event) => {
    rejected.push(event.instances!.join());
    return Promise.reject(new Error(`async bug ${event.instances!.join()}`));
  });
  cache.subscribe((event) => void good.push(event));
  cache.update({ instances: ["a"] });
  await flush();
  cache.update({ instances: ["b"] });
  await flush();
  assert.deepEqual(thrown, ["a", "b"], "a throwing listener stays subscribed");
  assert.deepEqual(rejected, ["a", "b"], "a rejecting listener stays subscribed");
  assert.deepEqual(names(good), ["a", "b"]);
  assert.deepEqual(
    records.map((r) => [r.level, r.message, r.data?.["error"] === boom ? "boom" : String(r.data?.["error"])]),
    [
      ["error", "Instancer listener threw", "boom"],
      ["error", "Instancer listener rejected", "Error: async bug a"],
      ["error", "Instancer listener threw", "boom"],
      ["error", "Instancer listener rejected", "Error: async bug b"],
    ],
  );
  cache.stop();
});

Deno.test("A throwing listener without a logger is silent", async () => {
  const cache = new InstanceCache();
  const seen: string[] = [];
  cache.subscribe((event) => {
    seen.push(event.instances!.join());
    throw new Error("ignored");
  });
  cache.subscribe(() => Promise.reject(new Error("ignored too")));
  cache.update({ instances: ["a"] });
  await flush();
  assert.deepEqual(seen, ["a"]);
  cache.stop();
});

Deno.test("InstanceCache iterates the current state, then every change, until the loop breaks", async () => {
  const cache = new InstanceCache();
  cache.update({ instances: ["a"] });
  const seen: DiscoveryEvent[] = [];
  for await (const event of cache) {
    seen.push(event);
    if (seen.length === 1) cache.update({ instances: ["a", "b"] });
    else if (seen.length === 2) cache.update({ error: new Error("lost") });
    else break;
  }
  assert.deepEqual(names(seen), ["a", "a,b", "error: lost"]);
  assert.equal(cache.update({ instances: ["c"] }), true);
  await flush();
  cache.stop();
});

Deno.test("InstanceCache iterator ends after return() and when the cache stops", async () => {
  const cache = new InstanceCache();
  const iterator = cache[Symbol.asyncIterator]();
  assert.deepEqual(await iterator.return!(), { value: undefined, done: true });
  cache.update({ instances: ["a"] });
  await flush();
  assert.deepEqual(await iterator.next(), { value: undefined, done: true });

  const seen: string[] = [];
  const loop = (async () => {
    for await (const event of cache) seen.push(event.instances!.join());
    seen.push("ended");
  })();
  await flush();
  cache.stop();
  await loop;
  assert.deepEqual(seen, ["a", "ended"]);
});

Deno.test("A slow iterating consumer gets the newest state, not the first that arrived meanwhile", async () => {
  const cache = new InstanceCache();
  cache.update({ instances: ["s1"] });
  const iterator = cache[Symbol.asyncIterator]();
  assert.deepEqual((await iterator.next()).value, { instances: ["s1"], details: new Map() });
  // The consumer is busy: three changes arrive on separate turns.
  for (const name of ["s2", "s3", "s4"]) {
    cache.update({ instances: [name] });
    await flush();
  }
  assert.deepEqual((await iterator.next()).value?.instances, ["s4"]);

  // A -> B -> A while busy: nothing new to report to a consumer that already has A.
  cache.update({ instances: ["s5"] });
  await flush();
  cache.update({ instances: ["s4"] });
  await flush();
  const pending = iterator.next();
  cache.update({ instances: ["s6"] });
  assert.deepEqual((await pending).value?.instances, ["s6"]);
  cache.stop();
  assert.deepEqual(await iterator.next(), { value: undefined, done: true });
});

Deno.test("A consumer mutating what it iterated does not confuse the iterator's dedupe", async () => {
  const cache = new InstanceCache();
  cache.update({ instances: ["a"] });
  const iterator = cache[Symbol.asyncIterator]();
  const first = (await iterator.next()).value!;
  first.instances!.splice(0, 1, "b"); // the consumer's own array
  cache.update({ instances: ["b"] });
  await flush();
  assert.deepEqual((await iterator.next()).value?.instances, ["b"]);
  cache.stop();
});

Deno.test("Iterating a stopped cache yields the last state once; with no state it ends at once", async () => {
  const cache = new InstanceCache();
  cache.update({ instances: ["a"] });
  cache.stop();
  const seen: string[] = [];
  for await (const event of cache) seen.push(event.instances!.join());
  assert.deepEqual(seen, ["a"]);

  const empty = new InstanceCache();
  empty.stop();
  for await (const _ of empty) throw new Error("unreachable");
});

Deno.test("InstanceCache.stop is idempotent, reachable via Symbol.dispose, and drops pending deliveries", async () => {
  let ref: InstanceCache | undefined;
  const { events, listener } = recorder();
  {
    using cache = new InstanceCache();
    ref = cache;
    cache.update({ instances: ["a"] });
    cache.subscribe(listener);
    assert.equal(cache.stopped, false);
  }
  assert.equal(ref.stopped, true);
  ref.stop();
  ref[Symbol.dispose]();
  await flush();
  assert.deepEqual(events, [], "stop() before the first delivery drops it");
  assert.deepEqual(ref.state(), { instances: ["a"], details: new Map() }, "the last state is kept");
});

Deno.test("InstanceCache ignores updates after stop and gives late subscribers the last state once", async () => {
  const cache = new InstanceCache();
  cache.update({ instances: ["a"] });
  cache.stop();
  assert.equal(cache.update({ instances: ["b"] }), false);
  assert.deepEqual(cache.state(), { instances: ["a"], details: new Map() });

  const sync = recorder();
  const controller = new AbortController();
  const counts = spySignal(controller.signal);
  cache.subscribe(sync.listener, { signal: controller.signal });
  const slow: DiscoveryEvent[] = [];
  let release!: () => void;
  cache.subscribe((event) => {
    slow.push(event);
    return new Promise<void>((resolve) => release = resolve);
  });
  await flush();
  assert.deepEqual(names(sync.events), ["a"]);
  assert.deepEqual(names(slow), ["a"]);
  assert.deepEqual(counts, { added: 1, removed: 1 }, "the late subscription ends after delivery");
  release();
  assert.equal(cache.update({ instances: ["c"] }), false);
  await flush();
  assert.equal(sync.events.length, 1);
  assert.equal(slow.length, 1);

  const empty = new InstanceCache();
  empty.stop();
  const none = recorder();
  empty.subscribe(none.listener);
  await flush();
  assert.deepEqual(none.events, [], "no state, nothing to deliver");
});
