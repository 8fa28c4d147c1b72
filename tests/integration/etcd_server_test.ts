// Checks the real etcd (scripts/servers/etcd.sh) that the etcd backend's integration tests run
// against, through its v3 JSON gateway with plain fetch. Start it, then:
//   bash scripts/servers/etcd.sh start && eval "$(bash scripts/servers/etcd.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/etcd_server_test.ts
// The cluster test also needs `etcd.sh cluster-start` (before `env`, which then sets SD_ETCD_CLUSTER).
import { assert } from "../_deps.ts";
import { serverTest } from "./_server.ts";
import {
  authCredentials,
  authenticate,
  b64,
  call,
  cluster,
  clusterEndpoints,
  compact,
  del,
  EtcdHttpError,
  leaseGrant,
  leaseKeepAlive,
  leaseRevoke,
  put,
  range,
  retryUnavailable,
  single,
  unb64,
  uniquePrefix,
  WatchStream,
  withEtcdLock,
} from "./_etcd.ts";

const VARIABLE = "SD_ETCD_ENDPOINTS";
const INT64 = /^[1-9]\d*$/;

/** Asserts that `promise` rejects with an EtcdHttpError of this HTTP status and gRPC code. */
async function rejectsWith(promise: Promise<unknown>, status: number, code: number, message: RegExp) {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof EtcdHttpError, `expected EtcdHttpError, got ${e}`);
    assert.equal(e.status, status);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

/** etcd's gauge of open watchers, from /metrics on the client port. */
async function watcherCount(endpoint: string): Promise<number> {
  const text = await (await fetch(new URL("/metrics", endpoint))).text();
  const line = text.split("\n").find((l) => l.startsWith("etcd_debugging_mvcc_watcher_total "));
  assert.ok(line, "etcd_debugging_mvcc_watcher_total is missing from /metrics");
  return Number(line.split(" ")[1]);
}

/** The watcher count once it has stopped changing (watches closed just before may still be going). */
async function settledWatcherCount(endpoint: string): Promise<number> {
  const deadline = Date.now() + 5000;
  let last = await watcherCount(endpoint);
  for (let same = 0; same < 3 && Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = await watcherCount(endpoint);
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

/** Polls `read` until it returns `want`; a server-side effect, so a bounded real-time wait. */
async function eventually<T>(read: () => Promise<T>, want: T, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  let got = await read();
  while (got !== want && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    got = await read();
  }
  assert.equal(got, want, what);
}

serverTest(
  "The etcd gateway stores base64 keys and reports every int64 as a string",
  VARIABLE,
  (url) =>
    withEtcdLock("shared", async () => {
      const key = `${uniquePrefix("kv")}ключ`; // non-ASCII: base64 carries UTF-8 bytes
      try {
        const first = await put(url, key, "v1");
        assert.match(first, INT64);
        const read = await range(url, key);
        assert.match(read.header.revision, INT64);
        assert.match(read.header.cluster_id, INT64);
        assert.equal(read.count, "1");
        assert.deepEqual(read.kvs, [{
          key: b64(key),
          create_revision: first,
          mod_revision: first,
          version: "1",
          value: b64("v1"),
        }]);
        assert.equal(unb64(read.kvs![0]!.key), key);

        const second = await put(url, key, "v2");
        assert.ok(BigInt(second) > BigInt(first));
        const again = (await range(url, key)).kvs![0]!;
        assert.deepEqual([again.create_revision, again.mod_revision, again.version], [first, second, "2"]);

        // Zero values are omitted: no kvs and no count for a key that does not exist.
        const none = await range(url, `${key}-missing`);
        assert.deepEqual(Object.keys(none).sort(), ["header"]);
      } finally {
        await del(url, key);
      }
    }),
);

serverTest(
  "An etcd prefix range returns only the keys under the prefix, sorted by key",
  VARIABLE,
  (url) =>
    withEtcdLock("shared", async () => {
      const prefix = uniquePrefix("prefix");
      try {
        await put(url, `${prefix}b`, "2");
        await put(url, `${prefix}a`, "1");
        await put(url, `${prefix.slice(0, -1)}0`, "outside"); // "/" + 1 = "0": just past the range
        const read = await range(url, prefix, { prefix: true });
        assert.equal(read.count, "2");
        assert.deepEqual(read.kvs!.map((kv) => [unb64(kv.key), unb64(kv.value!)]), [
          [`${prefix}a`, "1"],
          [`${prefix}b`, "2"],
        ]);
        assert.equal(await del(url, prefix, { prefix: true }), 2);
      } finally {
        await del(url, prefix, { prefix: true });
        await del(url, `${prefix.slice(0, -1)}0`);
      }
    }),
);

serverTest(
  "An etcd watch streams put and delete events as JSON lines until it is aborted",
  VARIABLE,
  (url) =>
    withEtcdLock("exclusive", async () => {
      const prefix = uniquePrefix("watch");
      const baseline = await settledWatcherCount(url);
      const watch = await WatchStream.open(url, {
        key: b64(prefix),
        range_end: b64(`${prefix.slice(0, -1)}0`),
        prev_kv: true,
      });
      try {
        const created = (await watch.next())!.result!;
        assert.equal(created.created, true);
        assert.equal(created.watch_id, undefined); // watch id 0 is a zero value, so it is omitted
        assert.match(created.header.revision, INT64);
        await eventually(() => watcherCount(url), baseline + 1, "the server counts the new watcher");

        const revision = await put(url, `${prefix}a`, "v1");
        const putLine = (await watch.next())!.result!;
        assert.equal(putLine.header.revision, revision);
        assert.deepEqual(putLine.events, [{
          kv: {
            key: b64(`${prefix}a`),
            create_revision: revision,
            mod_revision: revision,
            version: "1",
            value: b64("v1"),
          },
        }]); // no "type": PUT is enum value 0

        const deleted = BigInt(revision) + 1n;
        assert.equal(await del(url, `${prefix}a`), 1);
        const delLine = (await watch.next())!.result!;
        assert.equal(delLine.events!.length, 1);
        const event = delLine.events![0]!;
        assert.equal(event.type, "DELETE");
        assert.deepEqual(event.kv, { key: b64(`${prefix}a`), mod_revision: String(deleted) });
        assert.equal(event.prev_kv?.value, b64("v1"));
      } finally {
        await watch.close();
      }
      // Aborting the fetch closes the connection, and with it the server-side watch.
      await eventually(() => watcherCount(url), baseline, "the aborted watch is gone on the server");
    }),
);

serverTest(
  "An etcd lease is granted, kept alive and revoked together with its key",
  VARIABLE,
  (url) =>
    withEtcdLock("shared", async () => {
      const key = `${uniquePrefix("lease")}instance`;
      const id = await leaseGrant(url, 30);
      assert.match(id, INT64); // may exceed Number.MAX_SAFE_INTEGER: kept as a string
      try {
        await put(url, key, "up", { lease: id });
        assert.equal((await range(url, key)).kvs![0]!.lease, id);
        assert.equal(await leaseKeepAlive(url, id), 30);
        const live = await call<{ ID: string; TTL: string; grantedTTL: string; keys: string[] }>(
          url,
          "/v3/lease/timetolive",
          { ID: id, keys: true },
        );
        assert.deepEqual([live.ID, live.grantedTTL, live.keys], [id, "30", [b64(key)]]);
        assert.ok(Number(live.TTL) > 0 && Number(live.TTL) <= 30);
      } finally {
        await leaseRevoke(url, id);
      }
      assert.equal((await range(url, key)).kvs, undefined);
      assert.equal(await leaseKeepAlive(url, id), 0); // HTTP 200 with TTL omitted: the lease is gone
      await rejectsWith(leaseRevoke(url, id), 404, 5, /lease not found/);
    }),
);

serverTest(
  "An etcd watch from a compacted revision is canceled with the compact revision",
  VARIABLE,
  (url) =>
    withEtcdLock("exclusive", async () => {
      const key = `${uniquePrefix("compact")}k`;
      try {
        const old = await put(url, key, "v1");
        const now = await put(url, key, "v2");
        await compact(url, now);
        await rejectsWith(range(url, key, { revision: old }), 400, 11, /compacted/);
        const watch = await WatchStream.open(url, { key: b64(key), start_revision: old });
        try {
          // The watch is created first, then canceled at once in a second line.
          assert.equal((await watch.next())!.result!.created, true);
          const line = (await watch.next())!.result!;
          assert.equal(line.canceled, true);
          assert.equal(line.compact_revision, now);
          assert.equal(line.events, undefined);
          // That line's header has no revision (0, omitted): a client must not resume from it.
          assert.equal(line.header.revision, undefined);
        } finally {
          await watch.close();
        }
      } finally {
        await del(url, key);
      }
    }),
);

serverTest(
  "etcd restarted on its data keeps keys and revisions and ends open watches with an error line",
  VARIABLE,
  (url) =>
    withEtcdLock("exclusive", async () => {
      const key = `${uniquePrefix("restart")}k`;
      try {
        const before = await put(url, key, "kept");
        const watch = await WatchStream.open(url, { key: b64(key) });
        try {
          assert.equal((await watch.next())!.result!.created, true);
          await single.restart(0);
          const line = await watch.next();
          // Which of two errors comes first is a race inside etcd's gateway during shutdown: 14
          // Unavailable "transport is closing" (HTTP 503) or 1 Canceled "grpc: the client
          // connection is closing" (HTTP 408). A client must treat any "error" line as the end.
          const code = line?.error?.grpc_code;
          assert.ok(code === 14 || code === 1, `expected an error line, got ${JSON.stringify(line)}`);
          assert.equal(line?.error?.http_code, code === 14 ? 503 : 408);
          assert.equal(await watch.next(), undefined);
        } finally {
          await watch.close();
        }
        const read = await range(url, key);
        assert.deepEqual([read.kvs![0]!.mod_revision, read.kvs![0]!.value], [before, b64("kept")]);
        assert.ok(BigInt(await put(url, key, "after")) > BigInt(before));
      } finally {
        await del(url, key);
      }
    }),
);

serverTest(
  "etcd auth lets the test user write under its prefix only, with the raw token",
  VARIABLE,
  (url) =>
    withEtcdLock("exclusive", async () => {
      const { user, password, prefix } = authCredentials();
      const key = `${prefix}${crypto.randomUUID().slice(0, 8)}`;
      await single.authEnable();
      try {
        await rejectsWith(range(url, key), 400, 3, /user name is empty/);
        await rejectsWith(authenticate(url, user, "wrong"), 400, 3, /authentication failed/);
        const token = await authenticate(url, user, password);
        const revision = await put(url, key, "secret", { token });
        assert.equal((await range(url, key, { token })).kvs![0]!.mod_revision, revision);
        await rejectsWith(put(url, "/sd-outside", "x", { token }), 403, 7, /permission denied/);
        await rejectsWith(put(url, key, "x", { token: "not-a-token" }), 401, 16, /invalid auth token/);
        assert.equal(await del(url, key, { token }), 1);
      } finally {
        await single.authDisable();
      }
      assert.deepEqual(Object.keys(await range(url, key)), ["header"]); // anonymous again, key gone
    }),
);

serverTest(
  "The etcd cluster carries on through the other members when the leader a client used is killed",
  "SD_ETCD_CLUSTER",
  () =>
    withEtcdLock("exclusive", async () => {
      const [m1, m2, m3] = clusterEndpoints() as [string, string, string];
      const key = `${uniquePrefix("cluster")}k`;
      try {
        await put(m1, key, "v1");
        await cluster.memberLead(1); // the hard case: the others must elect a new leader first
        await cluster.memberStop(1, { kill: true });
        try {
          await assert.rejects(range(m1, key), TypeError); // connection refused
          // Until the election ends the others answer 503 "leader changed" / "no leader".
          assert.equal((await retryUnavailable(() => range(m2, key))).kvs![0]!.value, b64("v1"));
          await retryUnavailable(() => put(m3, key, "v2"));
        } finally {
          await cluster.memberStart(1);
        }
        // Back on its old data, member 1 catches up; a linearizable read there sees the later write.
        assert.equal((await retryUnavailable(() => range(m1, key))).kvs![0]!.value, b64("v2"));
      } finally {
        await retryUnavailable(() => del(m2, key));
      }
    }),
);
