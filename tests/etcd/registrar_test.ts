// EtcdRegistrar on the fake gateway and fake time: register (grant + put under the lease), the exact
// keep-alive schedule, deregister (delete + revoke), stop (no timers, no revoke), register twice,
// argument checks. go-kit equivalents: TestRegister and TestDeregister (sd/etcd, sd/etcdv3: success
// and client error, here as events instead of log lines) and TestIntegrationRegistrarOnly (#712).
import { assert } from "../_deps.ts";
import { b64, FakeEtcd } from "../_fakes/etcd.ts";
import { EtcdClient } from "../../src/etcd/client.ts";
import { EtcdRegistrar, type EtcdRegistrarOptions } from "../../src/etcd/registrar.ts";
import { RegistryUnavailableError } from "../../src/errors.ts";
import { KEY, L1, L2, MEMBER, VALUE, withRegistrar } from "./_harness.ts";

Deno.test("EtcdRegistrar grants a lease with the TTL and writes the key under it (go-kit TestRegister)", async () => {
  await withRegistrar({}, async ({ fake, registrar, events }) => {
    assert.equal(registrar.registered, false);
    await registrar.register();
    assert.deepStrictEqual(fake.requests.map((r) => [r.path, r.body]), [
      ["/lease/grant", { TTL: "3" }],
      ["/kv/put", { key: b64(KEY), value: b64(VALUE), lease: L1 }],
    ]);
    assert.deepStrictEqual([registrar.registered, registrar.lease, registrar.key], [true, L1, KEY]);
    assert.deepStrictEqual([fake.get(KEY), fake.leaseOf(KEY)], [VALUE, L1]);
    assert.deepStrictEqual(events, ["registered"]);
  });
});

Deno.test("EtcdRegistrar keeps the lease alive on a jittered timer well inside the TTL", async () => {
  // The interval is a third of the TTL, shortened by up to 10%: 1000 ms * (0.9 + 0.1 * random()).
  const randoms = [0, 1, 0.5, 0.25];
  let i = 0;
  await withRegistrar(
    { random: () => randoms[i++ % randoms.length]! },
    async ({ clock, registrar, times, fake }) => {
      await registrar.register();
      await clock.tickAsync(4_000);
      assert.deepStrictEqual(times("/lease/keepalive"), [900, 1900, 2850, 3775]);
      assert.ok(fake.calls("/lease/keepalive").every((r) => r.body["ID"] === L1));
      assert.equal(fake.calls("/lease/grant").length, 1);
    },
  );
  // An explicit interval.
  await withRegistrar({ ttl: 10, keepAliveInterval: 2_000 }, async ({ clock, registrar, times }) => {
    await registrar.register();
    await clock.tickAsync(6_000);
    assert.deepStrictEqual(times("/lease/keepalive"), [1900, 3800, 5700]);
  });
});

Deno.test("EtcdRegistrar deletes the key and revokes the lease on deregister, and stops keeping it alive (go-kit TestDeregister)", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar, events }) => {
    await registrar.register();
    await clock.tickAsync(950);
    await registrar.deregister();
    assert.deepStrictEqual(fake.paths(), [
      "/lease/grant",
      "/kv/put",
      "/lease/keepalive",
      "/kv/deleterange",
      "/lease/revoke",
    ]);
    assert.deepStrictEqual(fake.calls("/kv/deleterange")[0]!.body, { key: b64(KEY) });
    assert.deepStrictEqual(fake.calls("/lease/revoke")[0]!.body, { ID: L1 });
    assert.deepStrictEqual([fake.get(KEY), fake.leases.has(L1)], [undefined, false]);
    assert.deepStrictEqual([registrar.registered, registrar.lease], [false, undefined]);
    assert.deepStrictEqual(events, ["registered", "deregistered"]);
    assert.equal(clock.countTimers(), 0);
    await clock.tickAsync(10_000);
    assert.equal(fake.calls("/lease/keepalive").length, 1);
  });
});

Deno.test("EtcdRegistrar registers and deregisters with no instancer on the client (go-kit #712)", async () => {
  await withRegistrar({}, async ({ registrar, events, fake }) => {
    await registrar.register();
    await registrar.deregister();
    await registrar.register();
    await registrar.deregister();
    assert.deepStrictEqual(events, ["registered", "deregistered", "registered", "deregistered"]);
    assert.equal(fake.leases.size, 0);
    assert.equal(fake.get(KEY), undefined);
  });
});

Deno.test("EtcdRegistrar stop() ends the keep-alive, leaves no timer and never revokes", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar, events }) => {
    await registrar.register();
    await clock.tickAsync(950);
    // A keep-alive in flight is abandoned too.
    fake.script("/lease/keepalive", "hang");
    await clock.tickAsync(950);
    const inflight = fake.calls("/lease/keepalive")[1]!;
    registrar.stop();
    registrar.stop();
    assert.ok(inflight.signal?.aborted, "the in-flight keep-alive was aborted");
    assert.equal(clock.countTimers(), 0);
    await clock.tickAsync(30_000);
    assert.deepStrictEqual(fake.paths(), ["/lease/grant", "/kv/put", "/lease/keepalive", "/lease/keepalive"]);
    assert.deepStrictEqual(
      [fake.get(KEY), fake.leases.has(L1)],
      [VALUE, true],
      "the key stays until the lease expires",
    );
    assert.deepStrictEqual(events, ["registered"]);
    assert.equal(registrar.registered, false);
  });
});

Deno.test("EtcdRegistrar register() while registered writes the key under a new lease and revokes the old one", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar, events }) => {
    await registrar.register();
    await registrar.register();
    await clock.tickAsync(0);
    assert.deepStrictEqual(fake.paths(), [
      "/lease/grant",
      "/kv/put",
      "/lease/grant",
      "/kv/put",
      "/lease/revoke",
    ]);
    assert.deepStrictEqual(fake.calls("/lease/revoke")[0]!.body, { ID: L1 });
    assert.deepStrictEqual([fake.get(KEY), fake.leaseOf(KEY), registrar.lease], [VALUE, L2, L2]);
    assert.deepStrictEqual([...fake.leases.keys()], [L2]);
    assert.deepStrictEqual(events, ["registered", "registered"]);
    await clock.tickAsync(950);
    assert.deepStrictEqual(
      fake.calls("/lease/keepalive").map((r) => r.body["ID"]),
      [L2],
      "one keep-alive loop",
    );
  });
});

Deno.test("EtcdRegistrar rejects and dispatches an error when registration fails, and stays idle", async (t) => {
  for (const path of ["/lease/grant", "/kv/put"]) {
    await t.step(`a 503 on ${path}`, async () => {
      await withRegistrar({}, async ({ clock, fake, registrar, events }) => {
        fake.script(path, "http503");
        await assert.rejects(registrar.register(), (e) => e instanceof RegistryUnavailableError);
        assert.deepStrictEqual(events, ["error:RegistryUnavailableError"]);
        assert.equal(registrar.registered, false);
        assert.equal(clock.countTimers(), 0, "no keep-alive after a failed register");
        // A second attempt works and revokes nothing that is still in use.
        await registrar.register();
        assert.equal(fake.get(KEY), VALUE);
        assert.deepStrictEqual(events, ["error:RegistryUnavailableError", "registered"]);
      });
    });
  }
});

Deno.test("EtcdRegistrar deregister() reports a failure as a rejection and an error event", async () => {
  await withRegistrar({}, async ({ fake, registrar, events }) => {
    await registrar.register();
    fake.script("/kv/deleterange", "http500");
    await assert.rejects(registrar.deregister(), /answered 500 on \/kv\/deleterange/);
    assert.deepStrictEqual(events, ["registered", "error:RegistryUnavailableError"]);
    assert.equal(registrar.registered, false, "the keep-alive is stopped all the same");
  });
});

Deno.test("EtcdRegistrar honours an aborted signal and disposes by deregistering", async () => {
  await withRegistrar({}, async ({ fake, registrar }) => {
    const reason = new Error("shutting down");
    await assert.rejects(registrar.register({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
    await assert.rejects(registrar.deregister({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
    assert.equal(fake.requests.length, 0);
    await registrar.register();
    await registrar[Symbol.asyncDispose]();
    assert.deepStrictEqual(fake.paths().slice(-2), ["/kv/deleterange", "/lease/revoke"]);
    assert.equal(fake.get(KEY), undefined);
  });
});

Deno.test("EtcdRegistrar validates its arguments", () => {
  const client = new EtcdClient({ endpoints: [MEMBER], fetch: new FakeEtcd().fetch });
  const base = { key: KEY, value: VALUE };
  const bad: [unknown, unknown, RegExp][] = [
    [{}, base, /client must have a grant\(\) method/],
    [client, undefined, /options must be an object with key and value/],
    [client, { ...base, key: "" }, /options.key must be a non-empty string/],
    [client, { ...base, value: "" }, /options.value must be a non-empty string/],
    [client, { ...base, ttl: 0 }, /options.ttl must be an integer >= 1, got 0/],
    [client, { ...base, ttl: 2.5 }, /options.ttl must be an integer >= 1, got 2.5/],
    [
      client,
      { ...base, ttl: 2, keepAliveInterval: 2000 },
      /keepAliveInterval must be below the TTL \(2000 ms\), got 2000/,
    ],
    [client, { ...base, keepAliveInterval: 0 }, /options.keepAliveInterval must be a finite number >= 1/],
    [client, { ...base, backoff: { initial: 0 } }, /options.backoff.initial/],
    [client, { ...base, random: 0.5 }, /options.random must be a function/],
  ];
  for (const [c, options, message] of bad) {
    assert.throws(() => new EtcdRegistrar(c as EtcdClient, options as EtcdRegistrarOptions), message);
  }
});
