// EtcdInstancer on the fake gateway and fake time: list then watch from the listed revision + 1,
// changes as full sorted states, keys as ids, empty values skipped, stop and signal, lookup, option
// checks. go-kit equivalents: TestInstancer (sd/etcd, sd/etcdv3: a prefix with entries gives a state
// without error) and the v2 TestGetEntries empty-value case.
import { assert, fakeTime } from "../_deps.ts";
import { FakeEtcd } from "../_fakes/etcd.ts";
import { EtcdClient } from "../../src/etcd/client.ts";
import { EtcdInstancer, type EtcdInstancerOptions } from "../../src/etcd/instancer.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import { MEMBER, recordingLogger, withInstancer } from "./_harness.ts";

Deno.test("EtcdInstancer publishes the values under a prefix with no error (go-kit TestInstancer)", async () => {
  const fake = new FakeEtcd();
  fake.put("/foo/a", "10.0.0.1:80");
  fake.put("/foo/b", "10.0.0.2:80");
  const clock = fakeTime(0);
  try {
    const client = new EtcdClient({ endpoints: [MEMBER], fetch: fake.fetch });
    using instancer = new EtcdInstancer(client, "/foo/");
    await clock.tickAsync(0);
    const state = instancer.state();
    assert.equal(state?.error, undefined);
    assert.deepStrictEqual(state?.instances, ["10.0.0.1:80", "10.0.0.2:80"]);
    assert.equal(instancer.prefix, "/foo/");
  } finally {
    clock.uninstall();
  }
});

Deno.test("EtcdInstancer lists, then watches from the listed revision + 1 and publishes every change", async () => {
  const fake = new FakeEtcd();
  fake.put("/svc/a", "10.0.0.1:80");
  fake.put("/svc/b", "10.0.0.2:80");
  fake.put("/other/x", "10.9.9.9:80");
  await withInstancer(fake, {}, async ({ clock, instancer, events, starts }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(fake.paths(), ["/kv/range", "/watch"]);
    assert.deepStrictEqual(starts(), ["5"]);
    assert.deepStrictEqual(events, ["[10.0.0.1:80,10.0.0.2:80]"]);
    fake.put("/svc/c", "10.0.0.3:80");
    await clock.tickAsync(0);
    fake.delete("/svc/a");
    await clock.tickAsync(0);
    fake.put("/svc/b", "10.0.0.2:81"); // a changed value replaces the instance
    fake.put("/other/y", "10.9.9.8:80"); // outside the prefix: not watched
    await clock.tickAsync(0);
    fake.put("/svc/c", "10.0.0.3:80"); // rewritten unchanged: no new state
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, [
      "[10.0.0.1:80,10.0.0.2:80]",
      "[10.0.0.1:80,10.0.0.2:80,10.0.0.3:80]",
      "[10.0.0.2:80,10.0.0.3:80]",
      "[10.0.0.2:81,10.0.0.3:80]",
    ]);
    assert.deepStrictEqual(instancer.details("10.0.0.3:80"), { id: "/svc/c" });
    assert.deepStrictEqual(fake.paths(), ["/kv/range", "/watch"], "one list, one watch, nothing else");
  });
});

Deno.test("EtcdInstancer loses no write made between its list and its watch", async () => {
  const fake = new FakeEtcd();
  fake.put("/svc/a", "10.0.0.1:80");
  // Another client writes after the range was answered and before the watch is created.
  fake.script("/watch", (request) => {
    fake.put("/svc/late", "10.0.0.9:80");
    return fake.respond(request);
  });
  await withInstancer(fake, {}, async ({ clock, events, starts }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(starts(), ["3"]);
    assert.deepStrictEqual(events, ["[10.0.0.1:80]", "[10.0.0.1:80,10.0.0.9:80]"]);
  });
});

Deno.test("EtcdInstancer applies several events of one revision together (a transaction)", async () => {
  const fake = new FakeEtcd();
  fake.autoWatch = false;
  fake.put("/svc/a", "10.0.0.1:80");
  await withInstancer(fake, {}, async ({ clock, events }) => {
    await clock.tickAsync(0);
    const watch = fake.watches[0]!;
    watch.created(2);
    watch.events(
      3,
      { type: "DELETE", kv: { key: btoa("/svc/a"), mod_revision: "3" } },
      { kv: { key: btoa("/svc/b"), value: btoa("10.0.0.2:80"), mod_revision: "3" } },
    );
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[10.0.0.1:80]", "[10.0.0.2:80]"], "no intermediate empty state");
  });
});

Deno.test("EtcdInstancer skips keys with empty values and logs them (go-kit v2 GetEntries: empty leaf)", async () => {
  const fake = new FakeEtcd();
  fake.put("/svc/a", "10.0.0.1:80");
  fake.put("/svc/dir", "");
  const logger = recordingLogger();
  await withInstancer(fake, { logger }, async ({ clock, events }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[10.0.0.1:80]"]);
    assert.ok(logger.lines.includes("warn etcd key with an empty value skipped"));
  });
});

Deno.test("EtcdInstancer publishes an empty prefix as an empty state, not an error", async () => {
  await withInstancer(new FakeEtcd(), {}, async ({ clock, events }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[]"]);
  });
});

Deno.test("EtcdInstancer feeds an endpointer that follows the instances", async () => {
  const fake = new FakeEtcd();
  fake.put("/svc/a", "10.0.0.1:80");
  await withInstancer(fake, {}, async ({ clock, instancer }) => {
    const made: string[] = [];
    const closed: string[] = [];
    const endpointer = new DefaultEndpointer(instancer, (instance) => {
      made.push(instance);
      return { endpoint: () => Promise.resolve(instance), close: () => void closed.push(instance) };
    });
    await clock.tickAsync(0);
    assert.equal(endpointer.endpoints().length, 1);
    fake.put("/svc/b", "10.0.0.2:80");
    fake.delete("/svc/a");
    await clock.tickAsync(0);
    assert.deepStrictEqual([made, closed], [["10.0.0.1:80", "10.0.0.2:80"], ["10.0.0.1:80"]]);
    endpointer.close();
  });
});

Deno.test("EtcdInstancer stop() aborts the watch, clears every timer and is idempotent", async () => {
  const fake = new FakeEtcd();
  fake.put("/svc/a", "10.0.0.1:80");
  await withInstancer(fake, {}, async ({ clock, instancer }) => {
    await clock.tickAsync(0);
    const watch = fake.watches[0]!;
    assert.equal(watch.closed, false);
    instancer.stop();
    instancer.stop();
    await clock.tickAsync(0);
    assert.ok(watch.cancelled, "the watch request was aborted");
    assert.ok(instancer.stopped);
    fake.put("/svc/b", "10.0.0.2:80");
    await clock.tickAsync(120_000);
    assert.deepStrictEqual(fake.paths(), ["/kv/range", "/watch"], "nothing after stop");
  });
});

Deno.test("EtcdInstancer stops when its signal aborts, also while it is backing off", async () => {
  const fake = new FakeEtcd();
  fake.script("/kv/range", "http500");
  const controller = new AbortController();
  await withInstancer(fake, { signal: controller.signal }, async ({ clock, instancer, events }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["error:RegistryUnavailableError"]);
    controller.abort();
    await clock.tickAsync(60_000);
    assert.ok(instancer.stopped);
    assert.equal(fake.requests.length, 1);
  });
  // Already aborted: never starts.
  const clock = fakeTime(0);
  try {
    const idle = new FakeEtcd();
    const client = new EtcdClient({ endpoints: [MEMBER], fetch: idle.fetch });
    const instancer = new EtcdInstancer(client, "/svc/", { signal: AbortSignal.abort() });
    await clock.tickAsync(1000);
    assert.ok(instancer.stopped);
    assert.equal(idle.requests.length, 0);
  } finally {
    clock.uninstall();
  }
});

Deno.test("EtcdInstancer lookup() lists once without touching the published state", async () => {
  const fake = new FakeEtcd();
  fake.put("/svc/a", "10.0.0.1:80");
  await withInstancer(fake, {}, async ({ clock, instancer, events }) => {
    await clock.tickAsync(0);
    fake.autoWatch = false; // the open watch hears nothing more
    fake.put("/svc/b", "10.0.0.2:80");
    const result = await instancer.lookup();
    assert.deepStrictEqual(result, {
      revision: "3",
      instances: [{ instance: "10.0.0.1:80", id: "/svc/a" }, { instance: "10.0.0.2:80", id: "/svc/b" }],
    });
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[10.0.0.1:80]"]);
  });
});

Deno.test("EtcdInstancer validates its arguments", () => {
  const client = new EtcdClient({ endpoints: [MEMBER], fetch: new FakeEtcd().fetch });
  const bad: [unknown, unknown, EtcdInstancerOptions, RegExp][] = [
    [{}, "/svc/", {}, /client must have a watch\(\) method/],
    [client, "", {}, /prefix must be a non-empty string/],
    [client, "/svc/", { idleTimeout: 0 }, /options.idleTimeout must be a finite number >= 1, got 0/],
    [client, "/svc/", { backoff: { initial: 0 } }, /options.backoff.initial must be/],
    [client, "/svc/", { backoff: { max: Infinity } }, /options.backoff.max must be/],
    [client, "/svc/", { backoff: { multiplier: 0.5 } }, /options.backoff.multiplier must be/],
    [client, "/svc/", { random: 1 as unknown as () => number }, /options.random must be a function/],
    [client, "/svc/", { signal: {} as AbortSignal }, /options.signal must be an AbortSignal/],
  ];
  for (const [c, prefix, options, message] of bad) {
    assert.throws(() => new EtcdInstancer(c as EtcdClient, prefix as string, options), message);
  }
});
