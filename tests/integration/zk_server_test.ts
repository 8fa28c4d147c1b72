// Checks the real ZooKeeper (scripts/servers/zookeeper.sh) that the ZooKeeper backend's integration
// tests run against, and documents the binary protocol the backend speaks, over raw Deno.connect
// sockets. Start it, then:
//   bash scripts/servers/zookeeper.sh start && eval "$(bash scripts/servers/zookeeper.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/zk_server_test.ts
// The ensemble tests also need `zookeeper.sh ensemble-start` (before `env`, which then sets SD_ZK_ENSEMBLE).
import { assert } from "../_deps.ts";
import { serverTest } from "./_server.ts";
import {
  cliChildren,
  cliCreate,
  cliDeleteAll,
  closeSession,
  connectRequest,
  create,
  CreateFlag,
  ensemble,
  ensembleMembers,
  exists,
  fourLetter,
  hostPort,
  openSession,
  serverMode,
  standalone,
  uniquePath,
  withZkLock,
  ZkConnection,
  ZkError,
} from "./_zk.ts";

const VARIABLE = "SD_ZK_ADDR";
const ENSEMBLE = "SD_ZK_ENSEMBLE";

/** A reconnect with an expired (or closed) session: timeOut 0, sessionId 0, 16 zero bytes, then EOF. */
async function assertExpired(address: string, sessionId: bigint, passwd: Uint8Array): Promise<void> {
  const { connection, session } = await openSession(address, 4000, { sessionId, passwd });
  try {
    assert.equal(session.timeoutMs, 0);
    assert.equal(session.sessionId, 0n);
    assert.deepEqual(session.passwd, new Uint8Array(16));
    assert.equal(await connection.closedByPeer(), true, "the server hangs up on an expired session");
  } finally {
    connection.close();
  }
}

/** Polls `read` until it returns `want`: a server-side effect, so a bounded real-time wait. */
async function eventually<T>(read: () => Promise<T>, want: T, what: string, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  let got = await read();
  while (!Object.is(got, want) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    got = await read();
  }
  assert.equal(got, want, what);
}

/** Whether `path` exists, asked over a short-lived session of its own. */
async function nodeExists(address: string, path: string): Promise<boolean> {
  const { connection } = await openSession(address);
  try {
    return (await exists(connection, 1, path)) !== undefined;
  } finally {
    connection.close();
  }
}

serverTest(
  "ZooKeeper answers ruok with imok and reports standalone mode and its session bounds",
  VARIABLE,
  (address) =>
    withZkLock("shared", async () => {
      assert.equal(await fourLetter(address, "ruok"), "imok");
      const srvr = await fourLetter(address, "srvr");
      assert.match(srvr, /^Zookeeper version: 3\.\d+\.\d+/);
      assert.equal(await serverMode(address), "standalone");
      const conf = await fourLetter(address, "conf");
      const tick = Number(/^tickTime=(\d+)$/m.exec(conf)?.[1]);
      const min = Number(/^minSessionTimeout=(\d+)$/m.exec(conf)?.[1]);
      const max = Number(/^maxSessionTimeout=(\d+)$/m.exec(conf)?.[1]);
      assert.ok(tick > 0 && min >= 2 * tick && max >= min, `bad bounds in conf:\n${conf}`);
      assert.match(conf, new RegExp(`^clientPort=${hostPort(address).port}$`, "m"));
    }),
);

serverTest(
  "A ZooKeeper ConnectRequest opens a session and closeSession ends it and the connection",
  VARIABLE,
  (address) =>
    withZkLock("shared", async () => {
      const frame = connectRequest({ timeoutMs: 4000 });
      // 4-byte length, then protocolVersion 0, lastZxidSeen 0, timeOut 4000, sessionId 0, passwd as
      // a 16-byte buffer of zeros, readOnly false: 45 bytes.
      assert.deepEqual(
        Array.from(frame),
        [0, 0, 0, 45, 0, 0, 0, 0, ...Array(8).fill(0), 0, 0, 0x0f, 0xa0, ...Array(8).fill(0), 0, 0, 0, 16]
          .concat(Array(16).fill(0), [0]),
      );
      using connection = await ZkConnection.open(address);
      await connection.send(frame);
      const record = await connection.readFrame();
      // protocolVersion, timeOut, sessionId, passwd (length + 16 bytes), readOnly: 37 bytes.
      assert.equal(record.length, 37);
      const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
      assert.equal(view.getInt32(0), 0, "protocolVersion");
      assert.equal(view.getInt32(4), 4000, "negotiated timeOut");
      const sessionId = view.getBigInt64(8);
      assert.notEqual(sessionId, 0n);
      assert.equal(view.getInt32(16), 16, "passwd length");
      const passwd = record.slice(20, 36);
      assert.notDeepEqual(passwd, new Uint8Array(16));
      assert.equal(record[36], 0, "readOnly false");

      const reply = await closeSession(connection, 1);
      assert.equal(reply.xid, 1);
      assert.equal(reply.err, ZkError.ok);
      assert.ok(reply.zxid > 0n, "closing a session is a transaction");
      assert.equal(reply.body.remaining, 0);
      assert.equal(await connection.closedByPeer(), true, "the server closes the connection");
      await assertExpired(address, sessionId, passwd);
    }),
);

serverTest(
  "ZooKeeper clamps a requested session timeout to its configured bounds",
  VARIABLE,
  (address) =>
    withZkLock("shared", async () => {
      const conf = await fourLetter(address, "conf");
      const min = Number(/^minSessionTimeout=(\d+)$/m.exec(conf)?.[1]);
      const max = Number(/^maxSessionTimeout=(\d+)$/m.exec(conf)?.[1]);
      const between = Math.floor((min + max) / 2);
      for (const [asked, granted] of [[1, min], [between, between], [max * 10, max]] as const) {
        const { connection, session } = await openSession(address, asked);
        try {
          assert.equal(session.timeoutMs, granted, `asked for ${asked} ms`);
          assert.equal((await closeSession(connection, 1)).err, ZkError.ok);
        } finally {
          connection.close();
        }
      }
    }),
);

serverTest(
  "zkCli creates and lists persistent znodes on the ZooKeeper server",
  VARIABLE,
  (address) =>
    withZkLock("shared", async () => {
      const path = uniquePath("cli");
      try {
        assert.equal(await cliChildren(address, path), undefined);
        await cliCreate(address, path, "parent");
        await cliCreate(address, `${path}/b`, "2");
        await cliCreate(address, `${path}/a`, "1");
        assert.deepEqual((await cliChildren(address, path))?.sort(), ["a", "b"]);
        assert.ok((await cliChildren(address, "/"))?.includes(path.slice(1)));
        // The same node seen over the wire: persistent, two children.
        const { connection } = await openSession(address);
        try {
          const stat = await exists(connection, 1, path);
          assert.equal(stat?.ephemeralOwner, 0n);
          assert.equal(stat?.numChildren, 2);
          assert.equal(stat?.dataLength, "parent".length);
          await closeSession(connection, 2);
        } finally {
          connection.close();
        }
      } finally {
        await cliDeleteAll(address, path);
      }
      assert.equal(await cliChildren(address, path), undefined);
    }),
);

serverTest(
  "A ZooKeeper ephemeral znode belongs to its session and is deleted when the session closes",
  VARIABLE,
  (address) =>
    withZkLock("shared", async () => {
      const path = uniquePath("ephemeral");
      const { connection, session } = await openSession(address);
      try {
        assert.deepEqual(await create(connection, 1, path, "up", CreateFlag.ephemeral), { err: 0, path });
        assert.deepEqual(await create(connection, 2, path, "again", CreateFlag.ephemeral), {
          err: ZkError.nodeExists,
          path: undefined,
        });
        const stat = await exists(connection, 3, path);
        assert.equal(stat?.ephemeralOwner, session.sessionId);
        assert.equal(stat?.dataLength, 2);
        assert.ok((await cliChildren(address, "/"))?.includes(path.slice(1)), "zkCli sees the node");
        assert.equal((await closeSession(connection, 4)).err, ZkError.ok);
      } finally {
        connection.close();
      }
      // closeSession is acknowledged after the ephemeral node is gone.
      assert.equal(await nodeExists(address, path), false);
      assert.equal((await cliChildren(address, "/"))?.includes(path.slice(1)), false);
    }),
);

serverTest(
  "A ZooKeeper session left without closeSession expires after its timeout and takes its ephemeral node",
  VARIABLE,
  (address) =>
    withZkLock("shared", async () => {
      const path = uniquePath("expire");
      const conf = await fourLetter(address, "conf");
      const min = Number(/^minSessionTimeout=(\d+)$/m.exec(conf)?.[1]);
      const { connection, session } = await openSession(address, min);
      try {
        assert.equal((await create(connection, 1, path, "", CreateFlag.ephemeral)).err, ZkError.ok);
      } finally {
        connection.close(); // a dropped connection, not a closed session
      }
      assert.equal(await nodeExists(address, path), true, "the session outlives its connection");
      await eventually(() => nodeExists(address, path), false, "the node goes once the session expires");
      await assertExpired(address, session.sessionId, session.passwd);
    }),
);

serverTest(
  "A ZooKeeper session and its ephemeral node survive a restart when the client comes back in time",
  VARIABLE,
  (address) =>
    withZkLock("exclusive", async () => {
      const path = uniquePath("restart");
      const first = await openSession(address, 4000);
      try {
        assert.equal((await create(first.connection, 1, path, "", CreateFlag.ephemeral)).err, ZkError.ok);
      } finally {
        first.connection.close();
      }
      await standalone.restart(); // on the same data; each loaded session gets a fresh timeout
      const { sessionId, passwd } = first.session;
      const { connection, session } = await openSession(address, 4000, { sessionId, passwd });
      try {
        assert.equal(session.sessionId, sessionId);
        assert.equal(session.timeoutMs, 4000);
        assert.deepEqual(session.passwd, passwd);
        assert.equal((await exists(connection, 1, path))?.ephemeralOwner, sessionId);
        assert.equal((await closeSession(connection, 2)).err, ZkError.ok);
      } finally {
        connection.close();
      }
      assert.equal(await nodeExists(address, path), false);
    }),
);

serverTest(
  "A ZooKeeper ensemble has one leader and two followers and replicates a znode between members",
  ENSEMBLE,
  (value) =>
    withZkLock("shared", async () => {
      const members = ensembleMembers(value);
      assert.equal(members.length, 3);
      for (const m of members) assert.equal(await fourLetter(m, "ruok"), "imok");
      const modes = await Promise.all(members.map(serverMode));
      assert.deepEqual([...modes].sort(), ["follower", "follower", "leader"]);
      const path = uniquePath("ensemble");
      try {
        await cliCreate(members[0]!, path, "x");
        await eventually(
          async () => (await cliChildren(members[2]!, "/"))?.includes(path.slice(1)),
          true,
          "member 3 serves the node written through member 1",
        );
      } finally {
        await cliDeleteAll(members[0]!, path);
      }
    }),
);

serverTest(
  "A ZooKeeper session moves to another ensemble member when the leader it used is killed",
  ENSEMBLE,
  (value) =>
    withZkLock("exclusive", async () => {
      const members = ensembleMembers(value);
      const modes = await Promise.all(members.map(serverMode));
      const leader = modes.indexOf("leader");
      assert.ok(leader >= 0, `no leader among ${modes}`);
      const n = (leader + 1) as 1 | 2 | 3;
      const other = members[(leader + 1) % 3]!;
      const path = uniquePath("failover");
      const first = await openSession(members[leader]!, 10000);
      try {
        assert.equal((await create(first.connection, 1, path, "", CreateFlag.ephemeral)).err, ZkError.ok);
        await ensemble.memberStop(n, { kill: true }); // returns once the other two have a quorum
        assert.equal(await first.connection.closedByPeer(), true, "the killed member's socket is gone");
        const { sessionId, passwd } = first.session;
        const { connection, session } = await openSession(other, 10000, { sessionId, passwd });
        try {
          assert.equal(session.sessionId, sessionId);
          assert.equal(session.timeoutMs, 10000);
          assert.equal((await exists(connection, 1, path))?.ephemeralOwner, sessionId);
          assert.equal((await closeSession(connection, 2)).err, ZkError.ok);
        } finally {
          connection.close();
        }
        assert.equal(await nodeExists(other, path), false);
      } finally {
        first.connection.close();
        await ensemble.memberStart(n);
      }
      assert.deepEqual((await Promise.all(members.map(serverMode))).sort(), [
        "follower",
        "follower",
        "leader",
      ]);
    }),
);
