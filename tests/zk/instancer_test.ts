import { assert } from "../_deps.ts";
import { FakeZkServer } from "../_fakes/zk_server.ts";
import { ZkInstancer } from "../../src/zk/instancer.ts";
import { client, collect, next, show } from "./_helpers.ts";

Deno.test("ZkInstancer publishes the children's data and follows every change", async () => {
  const server = new FakeZkServer();
  const zk = client(server.address);
  const instancer = new ZkInstancer(zk, "/svc", { createParents: true });
  try {
    const { events, until } = collect(instancer);
    await until(1);
    const a = await zk.create("/svc/a", "10.0.0.1:80");
    await until(2);
    await zk.create("/svc/b", "10.0.0.2:80");
    await until(3);
    await zk.create("/svc/c", "10.0.0.3:80");
    await until(4);
    await zk.delete(a);
    await until(5);
    await zk.delete("/svc/b");
    await until(6);
    assert.deepEqual(events.map(show), [
      "",
      "10.0.0.1:80",
      "10.0.0.1:80,10.0.0.2:80",
      "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80",
      "10.0.0.2:80,10.0.0.3:80",
      "10.0.0.3:80",
    ]);
    assert.equal(instancer.details("10.0.0.3:80")?.id, "c");
  } finally {
    instancer.stop();
    await zk.close();
    await server.close();
  }
});

Deno.test("ZkInstancer reports a missing path, keeps retrying and recovers", async () => {
  const server = new FakeZkServer();
  const zk = client(server.address);
  const instancer = new ZkInstancer(zk, "/missing", { backoff: { initial: 5, max: 10 }, random: () => 0.5 });
  try {
    const { events, until } = collect(instancer);
    await until(1);
    assert.match(show(events[0]!), /getChildren "\/missing" failed: NONODE/);
    await zk.ensurePath("/missing");
    await zk.create("/missing/x", "10.0.0.9:80");
    // A retry may read the path between its creation and the child's (an empty set, or another
    // error): wait for the state the test needs, not for a count of events.
    while (show(events[events.length - 1]!) !== "10.0.0.9:80") await until(events.length + 1);
    assert.match(show(events[0]!), /NONODE/);
  } finally {
    instancer.stop();
    await zk.close();
    await server.close();
  }
});

Deno.test("ZkInstancer re-arms its watch after a reconnect and after session expiry", async () => {
  const server = new FakeZkServer();
  const zk = client(server.address, { backoff: { initial: 1, max: 2 } });
  const writer = client(server.address);
  const instancer = new ZkInstancer(zk, "/svc", { createParents: true });
  try {
    const { events, until } = collect(instancer);
    await until(1);
    const disconnected = next(zk, "disconnected");
    server.dropConnections();
    await disconnected;
    await writer.create("/svc/a", "10.0.0.1:80");
    while (show(events[events.length - 1]!) !== "10.0.0.1:80") await until(events.length + 1);
    const expired = next(zk, "expired");
    server.misbehave = "expire";
    await zk.exists("/").catch(() => {});
    await expired;
    await writer.create("/svc/b", "10.0.0.2:80");
    while (show(events[events.length - 1]!) !== "10.0.0.1:80,10.0.0.2:80") await until(events.length + 1);
    assert.ok(events.every((e) => !e.error || /CONNECTIONLOSS/.test(e.error.message)));
  } finally {
    instancer.stop();
    await writer.close();
    await zk.close();
    await server.close();
  }
});

Deno.test("ZkInstancer validates its arguments and stops idempotently", async () => {
  const zk = client("127.0.0.1:1");
  assert.throws(() => new ZkInstancer(zk, "svc"), /must start with/);
  assert.throws(() => new ZkInstancer({} as never, "/svc"), /client must have a getChildren/);
  assert.throws(() => new ZkInstancer(zk, "/svc", { backoff: { initial: 0 } }), RangeError);
  const controller = new AbortController();
  controller.abort();
  const born = new ZkInstancer(zk, "/svc", { signal: controller.signal });
  born.stop();
  born.stop();
  assert.equal(zk.state, "idle");
  await zk.close();
});
