// Pull mode against a real etcd (SD_ETCD_ENDPOINTS, started by scripts/servers/etcd.sh): a
// PullInstancer over etcdLookup sees two registrars' keys, then one after the TTL once a registrar
// deregisters; a fresh refresh sends nothing, and each lookup is one range request.
import { assert } from "../_deps.ts";
import { EtcdClient, etcdLookup, EtcdRegistrar } from "../../src/etcd/mod.ts";
import type { FetchFunction } from "../../src/http/factory.ts";
import { PullInstancer } from "../../src/pull_instancer.ts";
import { serverTest } from "./_server.ts";
import { uniquePrefix, withEtcdLock } from "./_etcd.ts";
import { sleep } from "./_etcd_sd.ts";

const TTL = 400;

serverTest(
  "etcd pull: a PullInstancer over etcdLookup sees two instances, then one after the TTL; fresh refreshes send nothing",
  "SD_ETCD_ENDPOINTS",
  (url) =>
    withEtcdLock("shared", async () => {
      const prefix = uniquePrefix("sd-pull");
      const paths: string[] = [];
      const counting: FetchFunction = (input, init) => {
        paths.push(new URL(String(input)).pathname);
        return fetch(input, init);
      };
      const client = new EtcdClient({ endpoints: [url], fetch: counting });
      const registrars = ["a", "b"].map((name, i) =>
        new EtcdRegistrar(client, { key: `${prefix}${name}`, value: `127.0.0.1:910${i + 1}`, ttl: 10 })
      );
      using instancer = new PullInstancer(etcdLookup(client, prefix), { ttl: TTL, staleWhileRevalidate: 0 });
      try {
        await Promise.all(registrars.map((r) => r.register()));
        paths.length = 0;
        const first = await instancer.refresh();
        assert.deepStrictEqual([first.source, first.lookups], ["refreshed", 1]);
        assert.deepStrictEqual(instancer.state()?.instances, ["127.0.0.1:9101", "127.0.0.1:9102"]);
        assert.deepStrictEqual(instancer.details("127.0.0.1:9102"), { id: `${prefix}b` });
        assert.deepStrictEqual(paths, ["/v3/kv/range"], "one range request per lookup");

        const fresh = await instancer.refresh();
        assert.deepStrictEqual([fresh.source, fresh.lookups], ["fresh", 0]);
        assert.equal(paths.length, 1, "a fresh refresh sends no request");

        await registrars[1]!.deregister();
        paths.length = 0;
        assert.equal((await instancer.refresh()).source, "fresh");
        assert.deepStrictEqual(instancer.state()?.instances, ["127.0.0.1:9101", "127.0.0.1:9102"]);

        await sleep(TTL + 50);
        const after = await instancer.refresh();
        assert.deepStrictEqual([after.source, after.lookups], ["refreshed", 1]);
        assert.deepStrictEqual(instancer.state()?.instances, ["127.0.0.1:9101"]);
        assert.deepStrictEqual(paths, ["/v3/kv/range"]);
      } finally {
        await Promise.allSettled(registrars.map((r) => r.deregister()));
        for (const r of registrars) r.stop();
      }
    }),
);
