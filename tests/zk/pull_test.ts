// zkLookup: a session of its own per lookup, closed whatever happens; the instancer's decoding; no
// TTL; aborts and errors. Against the in-process fake server.
import { assert } from "../_deps.ts";
import { FakeZkServer } from "../_fakes/zk_server.ts";
import { PullInstancer } from "../../src/pull_instancer.ts";
import { isZkError } from "../../src/zk/errors.ts";
import { ZkInstancer } from "../../src/zk/instancer.ts";
import { zkLookup } from "../../src/zk/pull.ts";
import { denoConnect } from "../../src/zk/socket_deno.ts";
import type { ZkConnect } from "../../src/zk/socket.ts";
import { client } from "./_helpers.ts";

const signal = () => new AbortController().signal;

/** A connect that counts the sockets it opens and closes. */
function countingConnect(): { connect: ZkConnect; opened: () => number; open: () => number } {
  let opened = 0;
  let closed = 0;
  const connect: ZkConnect = async (host, port, options) => {
    const socket = await denoConnect(host, port, options);
    opened++;
    let done = false;
    return {
      readable: socket.readable,
      writable: socket.writable,
      close: () => {
        if (!done) closed++;
        done = true;
        return socket.close();
      },
    };
  };
  return { connect, opened: () => opened, open: () => opened - closed };
}

async function seeded(server: FakeZkServer): Promise<void> {
  const zk = client(server.address);
  try {
    await zk.ensurePath("/svc");
    await zk.create("/svc/a", "10.0.0.1:8080");
    await zk.create("/svc/b", " 10.0.0.2:8080\n");
    await zk.create("/svc/empty", "");
  } finally {
    await zk.close();
  }
}

Deno.test("zkLookup reads the children's data in a session of its own, closed afterwards, with no TTL", async () => {
  const server = new FakeZkServer();
  try {
    await seeded(server);
    const sockets = countingConnect();
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => void warnings.push(m), error() {} };
    const lookup = zkLookup({ servers: server.address, path: "/svc", connect: sockets.connect, logger });
    const result = await lookup({ signal: signal() });
    assert.deepStrictEqual(result, {
      instances: [{ instance: "10.0.0.1:8080", id: "a" }, { instance: "10.0.0.2:8080", id: "b" }],
      ttl: undefined,
    });
    assert.deepStrictEqual(warnings, ["ZooKeeper child with empty data skipped"]);
    assert.deepStrictEqual([sockets.opened(), sockets.open()], [1, 0]);
    await lookup({ signal: signal() });
    assert.deepStrictEqual([sockets.opened(), sockets.open()], [2, 0], "one session per lookup");
  } finally {
    await server.close();
  }
});

Deno.test("zkLookup gives what ZkInstancer.lookup gives", async () => {
  const server = new FakeZkServer();
  const zk = client(server.address);
  const instancer = new ZkInstancer(zk, "/svc");
  try {
    await seeded(server);
    const pulled = await zkLookup({ servers: server.address, path: "/svc", connect: denoConnect })({
      signal: signal(),
    });
    assert.deepStrictEqual(pulled.instances, await instancer.lookup());
  } finally {
    instancer.stop();
    await zk.close();
    await server.close();
  }
});

Deno.test("zkLookup closes its session when the path is missing, and reports NONODE", async () => {
  const server = new FakeZkServer();
  try {
    const sockets = countingConnect();
    const lookup = zkLookup({ servers: server.address, path: "/nowhere", connect: sockets.connect });
    const error = await lookup({ signal: signal() }).then(() => undefined, (e) => e);
    assert.ok(isZkError(error, "NONODE"), String(error));
    assert.deepStrictEqual([sockets.opened(), sockets.open()], [1, 0]);
  } finally {
    await server.close();
  }
});

Deno.test("zkLookup honours its signal: before connecting, and with the server silent", async () => {
  const server = new FakeZkServer();
  try {
    await seeded(server);
    const sockets = countingConnect();
    const lookup = zkLookup({ servers: server.address, path: "/svc", connect: sockets.connect });
    const before = new AbortController();
    before.abort(new Error("request gone"));
    await assert.rejects(lookup({ signal: before.signal }), /request gone/);
    assert.equal(sockets.opened(), 0);

    server.misbehave = "silent";
    const during = new AbortController();
    const pending = lookup({ signal: during.signal });
    setTimeout(() => during.abort(new Error("client went away")), 50);
    await assert.rejects(pending, /client went away/);
    assert.equal(sockets.open(), 0, "the socket is closed");
  } finally {
    await server.close();
  }
});

Deno.test("zkLookup turns a garbled reply into an error and still closes its socket", async () => {
  const server = new FakeZkServer();
  try {
    await seeded(server);
    const sockets = countingConnect();
    const lookup = zkLookup({
      servers: server.address,
      path: "/svc",
      connect: sockets.connect,
      timeout: 500,
    });
    server.misbehave = "garbage";
    const error = await lookup({ signal: signal() }).then(() => undefined, (e) => e);
    assert.ok(error instanceof Error && !(error instanceof TypeError), String(error));
    assert.equal(sockets.open(), 0);
  } finally {
    await server.close();
  }
});

Deno.test("zkLookup checks its options when built, without connecting", () => {
  let connects = 0;
  const connect: ZkConnect = () => {
    connects++;
    return Promise.reject(new Error("no"));
  };
  const bad: [() => unknown, RegExp][] = [
    [() => zkLookup(null as never), /options must be an object with servers and path, got null/],
    [
      () => zkLookup({ servers: "127.0.0.1:2181", path: "svc", connect }),
      /path must start with "\/", got "svc"/,
    ],
    [() => zkLookup({ servers: "", path: "/svc", connect }), /./],
    [
      () => zkLookup({ servers: "127.0.0.1:2181", path: "/svc", timeout: 0 }),
      /options.timeout must be .*got 0/,
    ],
  ];
  for (const [build, message] of bad) assert.throws(build, message);
  zkLookup({ servers: "127.0.0.1:2181", path: "/svc", connect });
  assert.equal(connects, 0);
});

Deno.test("a PullInstancer over zkLookup opens one session per refresh and none while fresh", async () => {
  const server = new FakeZkServer();
  try {
    await seeded(server);
    const sockets = countingConnect();
    using instancer = new PullInstancer(
      zkLookup({ servers: server.address, path: "/svc", connect: sockets.connect }),
      {
        ttl: 60_000,
      },
    );
    await instancer.refresh();
    assert.deepStrictEqual(instancer.state()?.instances, ["10.0.0.1:8080", "10.0.0.2:8080"]);
    assert.equal((await instancer.refresh()).source, "fresh");
    assert.deepStrictEqual([sockets.opened(), sockets.open()], [1, 0]);
  } finally {
    await server.close();
  }
});
