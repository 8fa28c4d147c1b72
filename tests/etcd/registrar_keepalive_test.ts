// EtcdRegistrar when the keep-alive meets trouble, on fake time with random() = 0.5: keep-alives every
// 950 ms (ttl 3 s), retries after 375, 750, 750 ... ms (3/4 of min(1000, 500 * 2^(n-1))). A lost lease
// (expired during an outage, or revoked) is replaced and the key written again (go-kit #1043); races
// between register() and stop()/deregister() leave nothing running.
import { assert } from "../_deps.ts";
import { FakeEtcd } from "../_fakes/etcd.ts";
import { StoppedError } from "../../src/errors.ts";
import { KEY, L1, L2, VALUE, withRegistrar } from "./_harness.ts";

const L3 = "7587869127315596298";

Deno.test("EtcdRegistrar grants a new lease and writes the key again when a keep-alive finds the lease gone (go-kit #1043)", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar, events }) => {
    await registrar.register();
    fake.expire(L1); // revoked by an operator, or expired while we could not reach etcd
    assert.equal(fake.get(KEY), undefined);
    await clock.tickAsync(950);
    assert.deepStrictEqual(fake.paths(), [
      "/lease/grant",
      "/kv/put",
      "/lease/keepalive",
      "/lease/grant",
      "/kv/put",
    ]);
    assert.deepStrictEqual([fake.get(KEY), fake.leaseOf(KEY), registrar.lease], [VALUE, L2, L2]);
    assert.deepStrictEqual(events, ["registered", "reregistered"]);
    assert.equal(registrar.registered, true);
    await clock.tickAsync(950);
    assert.deepStrictEqual(fake.calls("/lease/keepalive").map((r) => [r.at, r.body["ID"]]), [[950, L1], [
      1900,
      L2,
    ]]);
  });
});

Deno.test("EtcdRegistrar reports keep-alive failures and retries with capped, jittered backoff", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar, events, times }) => {
    await registrar.register();
    fake.script("/lease/keepalive", "http500", "network", "http503");
    await clock.tickAsync(5_000);
    // 950 fails, +375 fails, +750 fails, +750 works, then +950 each.
    assert.deepStrictEqual(times("/lease/keepalive"), [950, 1325, 2075, 2825, 3775, 4725]);
    assert.deepStrictEqual(events, [
      "registered",
      "error:RegistryUnavailableError",
      "error:RegistryUnavailableError",
      "error:RegistryUnavailableError",
    ]);
    assert.equal(fake.calls("/lease/grant").length, 1, "the lease survived: no re-registration");
  });
});

Deno.test("EtcdRegistrar puts its key back after an outage longer than the TTL", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar, events, times }) => {
    await registrar.register();
    fake.down.add("http://a.test:2379");
    await clock.tickAsync(3_000);
    fake.expire(L1); // etcd let the lease expire meanwhile
    await clock.tickAsync(1_000);
    fake.down.clear();
    await clock.tickAsync(750);
    assert.deepStrictEqual(times("/lease/keepalive"), [950, 1325, 2075, 2825, 3575, 4325]);
    assert.deepStrictEqual(times("/lease/grant"), [0, 4325]);
    assert.deepStrictEqual([fake.get(KEY), fake.leaseOf(KEY)], [VALUE, L2]);
    assert.deepStrictEqual(events, [
      "registered",
      ...Array(5).fill("error:RegistryUnavailableError"),
      "reregistered",
    ]);
    await clock.tickAsync(950);
    assert.deepStrictEqual(fake.calls("/lease/keepalive").at(-1)!.body["ID"], L2);
  });
});

Deno.test("EtcdRegistrar writes the key on the next try when re-registration fails after the new grant", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar, events }) => {
    await registrar.register();
    fake.expire(L1);
    fake.script("/kv/put", "http503"); // the grant works, the put does not
    await clock.tickAsync(950);
    assert.deepStrictEqual(events, ["registered", "error:RegistryUnavailableError"]);
    assert.equal(fake.get(KEY), undefined);
    await clock.tickAsync(375);
    assert.deepStrictEqual([fake.get(KEY), fake.leaseOf(KEY)], [VALUE, L3], "the key is back");
    assert.deepStrictEqual(events, ["registered", "error:RegistryUnavailableError", "reregistered"]);
    assert.equal(registrar.lease, L3);
    await clock.tickAsync(950);
    assert.equal(fake.calls("/lease/keepalive").at(-1)!.body["ID"], L3);
  });
});

Deno.test("EtcdRegistrar treats an error line in the keep-alive answer as a failure, not a lost lease", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar, events }) => {
    await registrar.register();
    fake.script(
      "/lease/keepalive",
      () => Response.json({ error: { grpc_code: 14, http_code: 503, message: "etcdserver: no leader" } }),
    );
    await clock.tickAsync(950 + 375);
    assert.deepStrictEqual(events, ["registered", "error:RegistryUnavailableError"]);
    assert.equal(fake.calls("/lease/grant").length, 1, "no needless new lease");
    assert.equal(registrar.lease, L1);
  });
});

Deno.test("EtcdRegistrar stop() during register() leaves no keep-alive running", async () => {
  const fake = new FakeEtcd();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  fake.script("/lease/grant", async (request) => {
    await gate;
    return fake.respond(request);
  });
  await withRegistrar({}, async ({ clock, registrar, events }) => {
    const pending = registrar.register();
    await clock.tickAsync(0);
    registrar.stop();
    release();
    await assert.rejects(pending, (e) => e instanceof StoppedError);
    assert.equal(registrar.registered, false);
    assert.equal(clock.countTimers(), 0);
    await clock.tickAsync(10_000);
    assert.equal(fake.calls("/lease/keepalive").length, 0);
    assert.deepStrictEqual(events, []);
  }, fake);
});

Deno.test("EtcdRegistrar deregister() during register() wins: no key and no keep-alive are left", async () => {
  const fake = new FakeEtcd();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  fake.script("/kv/put", async (request) => {
    await gate;
    return fake.respond(request);
  });
  await withRegistrar({}, async ({ clock, registrar, events }) => {
    const pending = registrar.register();
    await clock.tickAsync(0); // granted; the put hangs
    const leaving = registrar.deregister();
    release();
    await assert.rejects(pending, (e) => e instanceof StoppedError);
    await leaving;
    await clock.tickAsync(10_000);
    assert.equal(fake.get(KEY), undefined);
    assert.equal(fake.leases.size, 0, "the lease granted meanwhile was revoked");
    assert.equal(fake.calls("/lease/keepalive").length, 0);
    assert.equal(registrar.registered, false);
    assert.ok(!events.includes("registered"));
  }, fake);
});

Deno.test("EtcdRegistrar deregister() during a keep-alive's re-registration revokes the lease it was writing under", async () => {
  const fake = new FakeEtcd();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  await withRegistrar({}, async ({ clock, registrar, events }) => {
    await registrar.register();
    fake.expire(L1);
    fake.script("/kv/put", async (request) => {
      await gate;
      return fake.respond(request);
    });
    await clock.tickAsync(950); // keep-alive: lease gone; grant L2; the put hangs
    assert.deepStrictEqual(fake.paths().slice(-2), ["/lease/grant", "/kv/put"]);
    const leaving = registrar.deregister();
    release();
    await leaving;
    await clock.tickAsync(0);
    assert.equal(fake.get(KEY), undefined, "the late put was undone");
    assert.equal(fake.leases.size, 0);
    assert.deepStrictEqual(events, ["registered", "deregistered"]);
  }, fake);
});

Deno.test("EtcdRegistrar stop() while a keep-alive is answered schedules nothing more", async () => {
  const fake = new FakeEtcd();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  await withRegistrar({}, async ({ clock, registrar }) => {
    await registrar.register();
    fake.script("/lease/keepalive", async (request) => {
      await gate;
      return fake.respond(request);
    });
    await clock.tickAsync(950);
    registrar.stop();
    release();
    await clock.tickAsync(0);
    assert.equal(clock.countTimers(), 0);
    await clock.tickAsync(10_000);
    assert.equal(fake.calls("/lease/keepalive").length, 1);
  }, fake);
});

Deno.test("EtcdRegistrar grants a new lease and writes its key again after etcd lost its data (revision reset)", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar, events, times }) => {
    await registrar.register();
    for (let i = 0; i < 20; i++) fake.put("/other", String(i));
    fake.wipe(); // restarted on a fresh data dir: the key, the lease and the revision are gone
    assert.equal(fake.get(KEY), undefined);
    await clock.tickAsync(950);
    assert.deepStrictEqual([fake.get(KEY), fake.leaseOf(KEY), registrar.lease], [VALUE, L2, L2]);
    assert.deepStrictEqual(fake.revision, 2, "written once into the fresh store");
    assert.deepStrictEqual(events, ["registered", "reregistered"]);
    assert.deepStrictEqual(times("/lease/grant"), [0, 950]);
  });
});
