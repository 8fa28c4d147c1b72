import { assert } from "../_deps.ts";
import { FakeZkServer } from "../_fakes/zk_server.ts";
import { MalformedResponseError } from "../../src/errors.ts";
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

Deno.test("ZkInstancer skips child names no node can have with a warning, and reports a listing of only those as malformed", async () => {
  const server = new FakeZkServer();
  const node = (data: string) => ({
    data: new TextEncoder().encode(data),
    ephemeralOwner: 0n,
    version: 0,
    cversion: 0,
    seq: 0,
  });
  server.nodes.set("/svc", node(""));
  // The fake lists whatever follows "/svc/": names a broken or hostile server could send.
  for (const bad of ["", ".", "..", "a\u0000b"]) server.nodes.set(`/svc/${bad}`, node("10.6.6.6:66"));
  server.nodes.set("/svc/ok", node("10.0.0.1:80"));
  const zk = client(server.address);
  const warnings: unknown[] = [];
  const logger = {
    debug() {},
    info() {},
    warn: (m: string, d?: unknown) => void warnings.push([m, d]),
    error() {},
  };
  const instancer = new ZkInstancer(zk, "/svc", {
    logger,
    backoff: { initial: 5, max: 10 },
    random: () => 0.5,
  });
  try {
    const { events, until } = collect(instancer);
    await until(1);
    assert.deepEqual(events.map(show), ["10.0.0.1:80"]);
    assert.deepEqual(warnings, [
      ["ZooKeeper child with an impossible name skipped", { path: "/svc", child: '""' }],
      ["ZooKeeper child with an impossible name skipped", { path: "/svc", child: '"."' }],
      ["ZooKeeper child with an impossible name skipped", { path: "/svc", child: '".."' }],
      ["ZooKeeper child with an impossible name skipped", { path: "/svc", child: '"a\\u0000b"' }],
    ]);
    // Only impossible names left: a malformed answer, not a TypeError and not an empty set.
    await zk.delete("/svc/ok");
    await until(2);
    const error = events[1]!.error;
    assert.ok(error instanceof MalformedResponseError, String(error));
    assert.equal(
      error.message,
      'ZooKeeper listed only impossible child names under "/svc": "", ".", "..", "a\\u0000b"',
    );
  } finally {
    instancer.stop();
    await zk.close();
    await server.close();
  }
});

/** Polls `check` every 5 ms for at most 5 s. */
async function eventually(what: string, check: () => boolean): Promise<void> {
  for (let waited = 0; !check(); waited += 5) {
    if (waited > 5_000) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** An instancer over /svc with one instance, then the server loses its data (a new session follows). */
async function afterDataLoss(
  resetGrace: number | undefined,
  body: (ctx: { zk: ReturnType<typeof client>; events: string[] }) => Promise<void>,
): Promise<void> {
  const server = new FakeZkServer();
  const zk = client(server.address, { backoff: { initial: 5, max: 20 } });
  const instancer = new ZkInstancer(zk, "/svc", {
    createParents: true,
    backoff: { initial: 5, max: 20 },
    random: () => 0.5,
    ...(resetGrace === undefined ? {} : { resetGrace }),
  });
  try {
    const events: string[] = [];
    instancer.subscribe((e) => void events.push(show(e)));
    await zk.ensurePath("/svc");
    await zk.create("/svc/a", "10.0.0.1:80", { mode: "ephemeral" });
    await eventually("the instance", () => events.at(-1) === "10.0.0.1:80");
    for (let i = 0; i < 20; i++) await zk.exists("/svc"); // the zxid seen well above a fresh server's
    const expired = next(zk, "expired");
    server.wipe();
    await expired;
    // The service node is gone too: the instancer reports that, keeping the last good state.
    await eventually("the missing node reported", () => /NONODE/.test(events.at(-1) ?? ""));
    await body({ zk, events });
  } finally {
    instancer.stop();
    await zk.close();
    await server.close();
  }
}

Deno.test("ZkInstancer publishes no empty set while a registrar re-creates the service node and then its own after data loss", async () => {
  await afterDataLoss(undefined, async ({ zk, events }) => {
    await zk.ensurePath("/svc"); // a registrar re-creates the service node first ...
    // ... and its own node a moment later: the instancer, retrying every few ms, reads the empty
    // node in between and must not publish it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    await zk.create("/svc/b", "10.0.0.2:80", { mode: "ephemeral" });
    await eventually("the instance back", () => events.at(-1) === "10.0.0.2:80");
    const since = events.slice(events.indexOf("10.0.0.1:80"));
    assert.ok(!since.includes(""), events.join(" | "));
  });
});

Deno.test("ZkInstancer publishes an empty set after data loss once resetGrace is over and nothing came back", async () => {
  await afterDataLoss(200, async ({ zk, events }) => {
    await zk.ensurePath("/svc"); // the service node, and no instance ever again
    await eventually("the empty set", () => events.at(-1) === "");
  });
});
