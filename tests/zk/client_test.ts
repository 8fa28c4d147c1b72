import { assert, fakeTime } from "../_deps.ts";
import { FakeZkServer } from "../_fakes/zk_server.ts";
import { isZkError, ZkError } from "../../src/zk/errors.ts";
import { ZkClient, type ZkSessionEvent } from "../../src/zk/client.ts";
import { client, next } from "./_helpers.ts";

Deno.test("ZkClient creates, reads, watches and deletes nodes", async () => {
  const server = new FakeZkServer();
  const zk = client(server.address);
  try {
    await zk.ensurePath("/services/api");
    const seen: string[] = [];
    assert.deepEqual(
      await zk.getChildren("/services/api", { watch: (e) => seen.push(`${e.type} ${e.path}`) }),
      [],
    );
    const node = await zk.create("/services/api/n-", "10.0.0.1:80", { mode: "ephemeral-sequential" });
    assert.equal(node, "/services/api/n-0000000000");
    assert.deepEqual(seen, ["children /services/api"]);
    const { data, stat } = await zk.getData(node);
    assert.equal(new TextDecoder().decode(data), "10.0.0.1:80");
    assert.equal(stat.ephemeralOwner.toString(16).padStart(16, "0"), zk.sessionId);
    await zk.setData(node, "10.0.0.2:80");
    assert.equal((await zk.exists(node))?.version, 1);
    await zk.delete(node);
    assert.equal(await zk.exists(node), null);
    const error = await zk.getData(node).catch((e) => e);
    assert.ok(error instanceof ZkError);
    assert.equal(error.zkCode, "NONODE");
    assert.equal(error.code, "ERR_REGISTRY_REJECTED");
  } finally {
    await zk.close();
    await server.close();
  }
});

Deno.test("ZkClient close ends the session on the server and is idempotent", async () => {
  const server = new FakeZkServer();
  const zk = client(server.address);
  try {
    await zk.create("/e", "x", { mode: "ephemeral" });
    await Promise.all([zk.close(), zk.close()]);
    assert.equal(zk.state, "closed");
    assert.equal(server.nodes.has("/e"), false);
    await assert.rejects(zk.getData("/"), (e: Error) => e.name === "StoppedError");
  } finally {
    await zk.close();
    await server.close();
  }
});

Deno.test("ZkClient validates its arguments eagerly", async () => {
  assert.throws(() => new ZkClient(""), TypeError);
  assert.throws(() => new ZkClient("127.0.0.1:2181/chroot"), /chroot/);
  assert.throws(() => new ZkClient("127.0.0.1:99999"), /Bad ZooKeeper server/);
  assert.throws(() => new ZkClient("127.0.0.1", { sessionTimeout: 0 }), RangeError);
  assert.throws(() => new ZkClient("127.0.0.1", { auth: [{ scheme: "digest", auth: "" }] }), TypeError);
  const zk = new ZkClient("[::1]:2181,localhost");
  assert.throws(() => zk.getData("relative"), /must start with "\/"/);
  await assert.rejects(zk.create("/a/", "x"), /empty/);
  assert.equal(zk.state, "idle"); // nothing connected
  await zk.close();
});

Deno.test("ZkClient sends its credentials again on every connection", async () => {
  const server = new FakeZkServer();
  const zk = client(server.address, { auth: [{ scheme: "digest", auth: "user:secret" }] });
  try {
    await zk.ready();
    const id = zk.sessionId;
    const disconnected = next(zk, "disconnected");
    server.dropConnections();
    await disconnected;
    await zk.ready();
    assert.equal(zk.sessionId, id); // the session was resumed
    assert.deepEqual(server.auths, ["digest:user:secret", "digest:user:secret"]);
  } finally {
    await zk.close();
    await server.close();
  }
});

for (
  const [mis, message] of [
    ["garbage", /unknown xid 424242/],
    ["cut", /closed in the middle of a frame/],
    ["oversized", /Frame length 2147483647 .* is outside 0\.\.65536/],
  ] as const
) {
  Deno.test(`ZkClient survives a server that sends ${mis === "cut" ? "a frame cut mid-way" : mis}`, async () => {
    const server = new FakeZkServer();
    const zk = client(server.address, { maxFrameBytes: 65536 });
    try {
      await zk.ensurePath("/ok");
      const id = zk.sessionId;
      server.misbehave = mis;
      const error = await zk.getData("/ok").catch((e) => e);
      assert.ok(isZkError(error, "CONNECTIONLOSS"), String(error));
      assert.match(error.message, message);
      assert.equal(error.code, "ERR_REGISTRY_UNAVAILABLE");
      assert.ok((await zk.getData("/ok")).stat);
      assert.equal(zk.sessionId, id);
      assert.deepEqual(server.connects, [0n, BigInt(`0x${id}`)]);
    } finally {
      await zk.close();
      await server.close();
    }
  });
}

Deno.test("ZkClient drops a server silent past two thirds of the session timeout and resumes", async () => {
  const realTimeout = setTimeout;
  const settle = () => new Promise((r) => realTimeout(r, 2));
  const advance = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) {
      await clock.tickAsync(10);
      await settle();
    }
  };
  const clock = fakeTime(0);
  const server = new FakeZkServer();
  server.grantTimeout = 3_000;
  const zk = client(server.address);
  try {
    const ready = zk.ready();
    while (zk.state !== "connected") await advance(10);
    await ready;
    assert.equal(zk.sessionTimeout, 3_000);
    await advance(5_000); // pings keep an idle session up
    assert.equal(server.connects.length, 1);
    server.misbehave = "silent";
    const pending = zk.getData("/").catch((e) => e);
    await advance(2_100);
    const error = await pending;
    assert.ok(isZkError(error, "CONNECTIONLOSS"));
    assert.match(error.message, /No answer from 127\.0\.0\.1:\d+ for 2000 ms/);
    const again = zk.getData("/");
    while (zk.state !== "connected") await advance(10);
    assert.ok((await again).stat);
    assert.equal(server.connects.length, 2);
  } finally {
    await zk.close();
    await server.close();
    clock.uninstall();
  }
});

Deno.test("ZkClient starts a new session after expiry and reports it", async () => {
  const server = new FakeZkServer();
  const zk = client(server.address);
  try {
    const watched: string[] = [];
    await zk.getChildren("/", { watch: (e) => watched.push(e.type) });
    const old = zk.sessionId;
    const expired = next<ZkSessionEvent>(zk, "expired");
    server.misbehave = "expire";
    await zk.getData("/").catch(() => {});
    assert.equal((await expired).sessionId, old);
    await zk.ready();
    assert.notEqual(zk.sessionId, old);
    assert.deepEqual(watched, ["lost"]);
  } finally {
    await zk.close();
    await server.close();
  }
});

Deno.test("ZkClient moves on to the next server when one refuses connections", async () => {
  const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadAddress = `127.0.0.1:${dead.addr.port}`;
  dead.close();
  const server = new FakeZkServer();
  const zk = client([deadAddress, server.address], { backoff: { initial: 1, max: 2 } });
  try {
    const connected = next<ZkSessionEvent>(zk, "connected");
    await zk.ready();
    assert.equal((await connected).server, server.address);
  } finally {
    await zk.close();
    await server.close();
  }
});

Deno.test("ZkClient calls time out and honour their signal while no server answers", async () => {
  const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const address = `127.0.0.1:${dead.addr.port}`;
  dead.close();
  const zk = client(address, { backoff: { initial: 5, max: 10 } });
  try {
    const timedOut = await zk.getData("/", { timeout: 50 }).catch((e) => e);
    assert.ok(timedOut instanceof ZkError, String(timedOut));
    assert.equal(timedOut.zkCode, "REQUESTTIMEOUT");
    assert.equal(timedOut.zkNumber, 0);
    assert.equal(timedOut.code, "ERR_REGISTRY_UNAVAILABLE");
    assert.equal(timedOut.message, 'ZooKeeper getData "/" failed: REQUESTTIMEOUT (no answer within 50 ms)');
    assert.equal((timedOut.cause as Error).name, "TimeoutError");
    const controller = new AbortController();
    const call = zk.exists("/", { signal: controller.signal });
    controller.abort(new Error("caller gave up"));
    await assert.rejects(call, /caller gave up/);
  } finally {
    await zk.close();
  }
});

Deno.test("ZkClient turns a call that the server leaves unanswered into a ZkError REQUESTTIMEOUT, not a bare DOMException", async () => {
  const server = new FakeZkServer();
  const zk = client(server.address);
  try {
    await zk.ensurePath("/services/api");
    server.misbehave = "silent";
    const error = await zk.getChildren("/services/api", { timeout: 100 }).catch((e) => e);
    assert.ok(isZkError(error, "REQUESTTIMEOUT"), String(error));
    assert.equal(error.code, "ERR_REGISTRY_UNAVAILABLE");
    assert.equal(error.path, "/services/api");
    assert.match(
      error.message,
      /^ZooKeeper getChildren "\/services\/api" failed: REQUESTTIMEOUT \(no answer within 100 ms\)$/,
    );
    assert.ok(error.cause instanceof DOMException && error.cause.name === "TimeoutError");
    // A caller's own timeout signal keeps its reason, as fetch does.
    server.misbehave = "silent";
    const reason = await zk.ready().then(() => zk.exists("/", { signal: AbortSignal.timeout(50) })).catch((
      e,
    ) => e);
    assert.ok(reason instanceof DOMException && reason.name === "TimeoutError", String(reason));
  } finally {
    await zk.close();
    await server.close();
  }
});

/** Polls `check` every 5 ms; rejects naming `what` after `ms` (a hung client fails, not hangs). */
async function until(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("ZkClient treats the session as expired when every server refuses the zxid it has seen (data loss), and starts over", async () => {
  const server = new FakeZkServer();
  const zk = client(server.address, { backoff: { initial: 5, max: 20 } });
  try {
    await zk.ensurePath("/services/api");
    await zk.create("/services/api/n", "10.0.0.1:80", { mode: "ephemeral" });
    for (let i = 0; i < 20; i++) await zk.exists("/services/api"); // the zxid seen well above a fresh server's
    const old = zk.sessionId;
    const watched: string[] = [];
    await zk.getChildren("/services/api", { watch: (e) => watched.push(e.type) });
    const expired: string[] = [];
    zk.addEventListener("expired", (e) => expired.push((e as ZkSessionEvent).sessionId));
    const connectsBefore = server.connects.length;
    server.wipe();
    await until("the expired event", () => expired.length > 0);
    assert.deepEqual(expired, [old]);
    assert.deepEqual(watched, ["lost"]);
    // On a fresh server: a new session, and it works (nothing hangs on the old zxid).
    assert.deepEqual(await zk.getChildren("/"), []);
    assert.notEqual(zk.sessionId, old);
    await zk.create("/again", "x", { mode: "ephemeral" });
    // Refused once with the old zxid and session, asked once more without the zxid (answered: the
    // session is unknown), then a new session.
    assert.deepEqual(server.connects.slice(connectsBefore), [BigInt(`0x${old}`), BigInt(`0x${old}`), 0n]);
  } finally {
    await zk.close();
    await server.close();
  }
});

Deno.test("ZkClient keeps its session while the servers hang up because they are not serving", async () => {
  const server = new FakeZkServer();
  const zk = client(server.address, { backoff: { initial: 5, max: 10 } });
  try {
    await zk.create("/e", "x", { mode: "ephemeral" });
    const id = zk.sessionId;
    let expired = 0;
    zk.addEventListener("expired", () => expired++);
    server.serving = false;
    const before = server.connects.length;
    server.dropConnections();
    await until("six refused connects", () => server.connects.length >= before + 6);
    assert.equal(expired, 0);
    server.serving = true;
    await zk.ready();
    assert.equal(zk.sessionId, id);
    assert.ok(server.nodes.has("/e"));
  } finally {
    await zk.close();
    await server.close();
  }
});
