import { assert } from "../_deps.ts";
import { FakeZkServer } from "../_fakes/zk_server.ts";
import { ZkRegistrar } from "../../src/zk/registrar.ts";
import { ZkInstancer } from "../../src/zk/instancer.ts";
import { client, collect, next, show } from "./_helpers.ts";

const PROTECTED = /^\/services\/api\/_c_[0-9a-f]{32}-0000000000$/;

Deno.test("ZkRegistrar creates a protected ephemeral sequential node under the service path (#849)", async () => {
  const server = new FakeZkServer();
  const zk = client(server.address);
  const registrar = new ZkRegistrar(zk, { path: "/services/api", instance: "10.0.0.1:8080" });
  try {
    const events: string[] = [];
    registrar.addEventListener("registered", () => events.push("registered"));
    await registrar.register();
    assert.match(registrar.node!, PROTECTED);
    const node = server.nodes.get(registrar.node!)!;
    assert.equal(new TextDecoder().decode(node.data), "10.0.0.1:8080");
    assert.equal(node.ephemeralOwner.toString(16).padStart(16, "0"), zk.sessionId);
    assert.deepEqual([...server.nodes.keys()].sort(), ["/", "/services", "/services/api", registrar.node!]);
    assert.deepEqual(events, ["registered"]);
  } finally {
    await zk.close();
    await server.close();
  }
});

Deno.test("ZkRegistrar deregister deletes its own node, not the service node (#628)", async () => {
  const server = new FakeZkServer();
  const zk = client(server.address);
  const other = new ZkRegistrar(zk, { path: "/services/api", instance: "10.0.0.2:8080" });
  const registrar = new ZkRegistrar(zk, { path: "/services/api", instance: "10.0.0.1:8080" });
  try {
    await other.register();
    await registrar.register();
    const mine = registrar.node!;
    const events: string[] = [];
    registrar.addEventListener("deregistered", () => events.push("deregistered"));
    await registrar.deregister();
    assert.equal(server.nodes.has(mine), false);
    assert.equal(server.nodes.has(other.node!), true);
    assert.equal(server.nodes.has("/services/api"), true);
    assert.equal(registrar.node, undefined);
    await registrar.deregister(); // nothing left to delete: no error, no event
    assert.deepEqual(events, ["deregistered"]);
  } finally {
    await zk.close();
    await server.close();
  }
});

Deno.test("ZkRegistrar registers again after the session expires", async () => {
  const server = new FakeZkServer();
  const zk = client(server.address);
  const watcher = client(server.address);
  const registrar = new ZkRegistrar(zk, { path: "/services/api", instance: "10.0.0.1:8080" });
  let instancer: ZkInstancer | undefined;
  try {
    await registrar.register();
    instancer = new ZkInstancer(watcher, "/services/api");
    const first = registrar.node!;
    const { events, until } = collect(instancer);
    await until(1);
    assert.equal(show(events[0]!), "10.0.0.1:8080");
    const reregistered = next(registrar, "reregistered");
    server.misbehave = "expire";
    await zk.exists("/").catch(() => {});
    await reregistered;
    assert.match(registrar.node!, /^\/services\/api\/_c_[0-9a-f]{32}-0000000001$/);
    assert.notEqual(registrar.node, first);
    assert.equal(server.nodes.has(first), false);
    while (show(events[events.length - 1]!) !== "10.0.0.1:8080" || events.length < 3) {
      await until(events.length + 1);
    }
    assert.deepEqual(events.map(show), ["10.0.0.1:8080", "", "10.0.0.1:8080"]);
    registrar.stop();
  } finally {
    instancer?.stop();
    await watcher.close();
    await zk.close();
    await server.close();
  }
});

Deno.test("ZkRegistrar reports a failed registration as a rejection and an error event", async () => {
  const server = new FakeZkServer();
  const zk = client(server.address);
  const registrar = new ZkRegistrar(zk, {
    path: "/nowhere",
    instance: "10.0.0.1:8080",
    createParents: false,
  });
  try {
    const errors: unknown[] = [];
    registrar.addEventListener("error", (e) => errors.push((e as Event & { error: unknown }).error));
    await assert.rejects(registrar.register(), /create "\/nowhere\/_c_[0-9a-f]{32}-" failed: NONODE/);
    assert.equal(errors.length, 1);
    assert.equal(registrar.registered, false);
    assert.throws(() => new ZkRegistrar(zk, { path: "/a", instance: "" }), TypeError);
  } finally {
    await zk.close();
    await server.close();
  }
});
