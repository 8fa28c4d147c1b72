// The etcd backend on a real three-member cluster on loopback: the member the client uses (and the
// leader) is killed, and the client carries on through another member: the instancer's watch
// resumes where it stopped, the registrar's key stays alive, and later writes are seen.
//   bash scripts/servers/etcd.sh cluster-start && eval "$(bash scripts/servers/etcd.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/etcd_cluster_test.ts
import { assert } from "../_deps.ts";
import { EtcdClient, EtcdInstancer, EtcdRegistrar } from "../../src/etcd/mod.ts";
import { serverTest } from "./_server.ts";
import {
  cluster,
  clusterEndpoints,
  del,
  put,
  range,
  retryUnavailable,
  uniquePrefix,
  withEtcdLock,
} from "./_etcd.ts";
import { Gate, next, Recorder, sleep, startOf } from "./_etcd_sd.ts";

serverTest(
  "EtcdClient carries an instancer and a registrar over to another member when the leader they used is killed",
  "SD_ETCD_CLUSTER",
  () =>
    withEtcdLock("exclusive", async () => {
      const [m1, m2, m3] = clusterEndpoints() as [string, string, string];
      const prefix = uniquePrefix("sd-cluster");
      const gate = new Gate();
      const client = new EtcdClient({ endpoints: [m1, m2, m3], fetch: gate.fetch, timeout: 2000 });
      const instancer = new EtcdInstancer(client, prefix, { backoff: { initial: 100, max: 1000 } });
      const recorder = new Recorder(instancer);
      const registrar = new EtcdRegistrar(client, { key: `${prefix}self`, value: "127.0.0.1:9301", ttl: 3 });
      const lost: string[] = [];
      registrar.addEventListener("reregistered", () => lost.push("reregistered"));
      let stopped = false;
      try {
        await registrar.register();
        await retryUnavailable(() => put(m3, `${prefix}other`, "127.0.0.1:9302"));
        await recorder.until("[127.0.0.1:9301,127.0.0.1:9302]");
        assert.ok(gate.requests.every((r) => r.endpoint === m1), "everything went to member 1 so far");

        await cluster.memberLead(1); // the hard case: the others must elect a new leader first
        const before = gate.requests.length;
        const settled = recorder.events.length;
        await cluster.memberStop(1, { kill: true });
        stopped = true;

        await recorder.seen(/^error:/, settled, 5000);
        await recorder.until("[127.0.0.1:9301,127.0.0.1:9302]", 10_000);
        // A write proposed while the old leader dies can hang for etcd's request timeout (5.5 s) first.
        await retryUnavailable(() => put(m2, `${prefix}late`, "127.0.0.1:9303"), 15_000);
        await recorder.until("[127.0.0.1:9301,127.0.0.1:9302,127.0.0.1:9303]", 10_000);
        await sleep(4000); // longer than the TTL: keep-alives must be reaching another member
        assert.equal(
          (await retryUnavailable(() => range(m2, `${prefix}self`))).kvs?.[0]?.lease,
          registrar.lease,
        );
        assert.deepStrictEqual(lost, [], "the lease never lapsed");

        const later = gate.requests.slice(before);
        const served = new Set(later.filter((r) => r.endpoint !== m1).map((r) => r.endpoint));
        assert.ok(served.size >= 1, "another member took over");
        const lastWatch = gate.calls("/watch").at(-1)!;
        assert.notEqual(lastWatch.endpoint, m1);
        for (const w of gate.calls("/watch")) assert.equal(startOf(w), next(w.delivered));
        // Once one member answered, the client sticks to it instead of knocking on member 1 first.
        const tail = gate.requests.slice(-3);
        assert.ok(tail.every((r) => r.endpoint !== m1), `recent requests: ${tail.map((r) => r.endpoint)}`);
      } finally {
        instancer.stop();
        await registrar.deregister().catch(() => {});
        if (stopped) await cluster.memberStart(1);
        await retryUnavailable(() => del(m2, prefix, { prefix: true }));
        await sleep(20);
      }
    }),
);
