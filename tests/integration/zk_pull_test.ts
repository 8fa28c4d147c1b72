// Pull mode against the real ZooKeeper (SD_ZK_ADDR, started by scripts/servers/zookeeper.sh): a
// PullInstancer over zkLookup sees two registrars' nodes, then one after the TTL once a registrar
// deregisters; each lookup opens one connection and closes it; a fresh refresh opens none.
import { assert } from "../_deps.ts";
import { PullInstancer } from "../../src/pull_instancer.ts";
import { ZkClient, zkLookup, ZkRegistrar } from "../../src/zk/mod.ts";
import { denoConnect } from "../../src/zk/socket_deno.ts";
import type { ZkConnect } from "../../src/zk/socket.ts";
import { serverTest } from "./_server.ts";
import { uniquePath, withZkLock } from "./_zk.ts";

const TTL = 400;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

serverTest(
  "ZooKeeper pull: a PullInstancer over zkLookup sees two instances, then one after the TTL; fresh refreshes open no connection",
  "SD_ZK_ADDR",
  (addr) =>
    withZkLock("shared", async () => {
      const root = uniquePath("pull");
      const path = `${root}/api`;
      let opened = 0;
      let open = 0;
      const connect: ZkConnect = async (host, port, options) => {
        const socket = await denoConnect(host, port, options);
        opened++;
        open++;
        let closed = false;
        return {
          readable: socket.readable,
          writable: socket.writable,
          close: () => {
            if (!closed) open--;
            closed = true;
            return socket.close();
          },
        };
      };
      const owner = new ZkClient(addr, { sessionTimeout: 6_000 });
      const registrars = ["127.0.0.1:9101", "127.0.0.1:9102"].map((instance) =>
        new ZkRegistrar(owner, { path, instance })
      );
      using instancer = new PullInstancer(zkLookup({ servers: addr, path, connect }), {
        ttl: TTL,
        staleWhileRevalidate: 0,
      });
      try {
        for (const r of registrars) await r.register();
        const first = await instancer.refresh();
        assert.deepStrictEqual([first.source, first.lookups], ["refreshed", 1]);
        assert.deepStrictEqual(instancer.state()?.instances, ["127.0.0.1:9101", "127.0.0.1:9102"]);
        assert.deepStrictEqual([opened, open], [1, 0], "one connection per lookup, closed after it");

        const fresh = await instancer.refresh();
        assert.deepStrictEqual([fresh.source, fresh.lookups], ["fresh", 0]);
        assert.equal(opened, 1, "a fresh refresh opens no connection");

        await registrars[1]!.deregister();
        assert.equal((await instancer.refresh()).source, "fresh");
        assert.deepStrictEqual(instancer.state()?.instances, ["127.0.0.1:9101", "127.0.0.1:9102"]);

        await sleep(TTL + 50);
        const after = await instancer.refresh();
        assert.deepStrictEqual([after.source, after.lookups], ["refreshed", 1]);
        assert.deepStrictEqual(instancer.state()?.instances, ["127.0.0.1:9101"]);
        assert.deepStrictEqual([opened, open], [2, 0]);
      } finally {
        await Promise.allSettled(registrars.map((r) => r.deregister()));
        await owner.delete(path).catch(() => {});
        await owner.delete(root).catch(() => {});
        await owner.close();
      }
    }),
);
