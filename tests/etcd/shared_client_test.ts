// One EtcdClient shared by an EtcdInstancer and an EtcdRegistrar: neither disturbs the other. In
// go-kit's etcdv3 client, Register and Deregister closed the shared watcher and so silently ended any
// Instancer on the same client.
import { assert, fakeTime } from "../_deps.ts";
import { FakeEtcd } from "../_fakes/etcd.ts";
import { EtcdClient } from "../../src/etcd/client.ts";
import { EtcdInstancer } from "../../src/etcd/instancer.ts";
import { EtcdRegistrar } from "../../src/etcd/registrar.ts";
import { KEY, MEMBER, summary, VALUE } from "./_harness.ts";

Deno.test("EtcdInstancer and EtcdRegistrar on one client never disturb each other", async () => {
  const clock = fakeTime(0);
  const fake = new FakeEtcd();
  fake.put("/svc/other", "10.0.0.2:8080");
  const client = new EtcdClient({ endpoints: [MEMBER], fetch: fake.fetch });
  const instancer = new EtcdInstancer(client, "/svc/", { random: () => 0.5 });
  const registrar = new EtcdRegistrar(client, { key: KEY, value: VALUE, ttl: 3, random: () => 0.5 });
  try {
    const events: string[] = [];
    instancer.subscribe((e) => void events.push(summary(e)));
    await clock.tickAsync(0);
    await registrar.register();
    await clock.tickAsync(10_000); // ten keep-alives
    assert.equal(fake.calls("/lease/keepalive").length, 10);
    await registrar.deregister();
    await clock.tickAsync(0);
    await registrar.register();
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, [
      "[10.0.0.2:8080]",
      "[10.0.0.1:8080,10.0.0.2:8080]",
      "[10.0.0.2:8080]",
      "[10.0.0.1:8080,10.0.0.2:8080]",
    ]);
    assert.equal(fake.watches.length, 1, "the instancer's one watch was never closed or reopened");
    assert.equal(fake.watches[0]!.closed, false);

    // Stopping the instancer leaves the registrar's keep-alive running.
    instancer.stop();
    await clock.tickAsync(0);
    assert.ok(fake.watches[0]!.cancelled);
    const before = fake.calls("/lease/keepalive").length;
    await clock.tickAsync(2_000);
    assert.equal(fake.calls("/lease/keepalive").length, before + 2);
    assert.equal(registrar.registered, true);
  } finally {
    instancer.stop();
    registrar.stop();
    await clock.tickAsync(0);
    assert.equal(clock.countTimers(), 0);
    clock.uninstall();
  }
});

Deno.test("EtcdInstancer sees a registrar's key vanish with its lost lease and come back under the new one", async () => {
  const clock = fakeTime(0);
  const fake = new FakeEtcd();
  const client = new EtcdClient({ endpoints: [MEMBER], fetch: fake.fetch });
  const instancer = new EtcdInstancer(client, "/svc/", { random: () => 0.5 });
  const registrar = new EtcdRegistrar(client, { key: KEY, value: VALUE, ttl: 3, random: () => 0.5 });
  try {
    const events: string[] = [];
    instancer.subscribe((e) => void events.push(summary(e)));
    await clock.tickAsync(0);
    await registrar.register();
    await clock.tickAsync(0);
    fake.expire(registrar.lease!);
    await clock.tickAsync(950);
    assert.deepStrictEqual(events, ["[]", "[10.0.0.1:8080]", "[]", "[10.0.0.1:8080]"]);
    assert.equal(fake.watches.length, 1);
  } finally {
    instancer.stop();
    registrar.stop();
    await clock.tickAsync(0);
    clock.uninstall();
  }
});
