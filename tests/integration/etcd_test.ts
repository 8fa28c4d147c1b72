// The etcd backend against a real etcd 3.4 (scripts/servers/etcd.sh): registration and removal seen
// by an instancer, the lease kept alive past its TTL, one client shared by both, a burst of writes
// ending in the exact store state. go-kit equivalents: TestIntegration, TestIntegrationTTL and
// TestIntegrationRegistrarOnly (#712) in sd/etcdv3.
//   bash scripts/servers/etcd.sh start && eval "$(bash scripts/servers/etcd.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/etcd_test.ts
import { assert } from "../_deps.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import { EtcdClient, EtcdInstancer, EtcdRegistrar } from "../../src/etcd/mod.ts";
import { serverTest } from "./_server.ts";
import { b64, call, del, put, range, uniquePrefix, withEtcdLock } from "./_etcd.ts";
import { Gate, Recorder, sleep, waitFor } from "./_etcd_sd.ts";

const VARIABLE = "SD_ETCD_ENDPOINTS";

/** The lease's remaining TTL and its keys, from the gateway (TTL -1 once it is gone). */
async function timeToLive(url: string, id: string): Promise<{ ttl: number; keys: string[] }> {
  const answer = await call<{ TTL?: string; keys?: string[] }>(url, "/v3/lease/timetolive", {
    ID: id,
    keys: true,
  });
  return { ttl: Number(answer.TTL ?? 0), keys: (answer.keys ?? []).map((k) => atob(k)) };
}

serverTest(
  "EtcdRegistrar's registration and removal reach an EtcdInstancer's endpointer (go-kit TestIntegration)",
  VARIABLE,
  (url) =>
    withEtcdLock("shared", async () => {
      const prefix = uniquePrefix("sd-it");
      const client = new EtcdClient({ endpoints: [url] });
      const instancer = new EtcdInstancer(client, prefix);
      const endpointer = new DefaultEndpointer(instancer, (instance) => ({
        endpoint: () => Promise.resolve(instance),
      }));
      const registrar = new EtcdRegistrar(client, { key: `${prefix}a`, value: "127.0.0.1:9001", ttl: 5 });
      try {
        assert.deepStrictEqual((await instancer.lookup()).instances, [], "nothing before register");
        await endpointer.ready({ signal: AbortSignal.timeout(5000) });
        assert.equal(endpointer.endpoints().length, 0);

        await registrar.register();
        await waitFor("one endpoint", () => endpointer.endpoints().length === 1);
        const stored = await range(url, `${prefix}a`);
        assert.equal(stored.kvs?.[0]?.value, b64("127.0.0.1:9001"));
        assert.equal(stored.kvs?.[0]?.lease, registrar.lease, "the int64 lease ID matches exactly");
        assert.match(registrar.lease!, /^[1-9]\d{0,18}$/);
        const live = await timeToLive(url, registrar.lease!);
        assert.ok(live.ttl > 0 && live.ttl <= 5, `TTL ${live.ttl}`);
        assert.deepStrictEqual(live.keys, [`${prefix}a`]);
        assert.deepStrictEqual(instancer.details("127.0.0.1:9001"), { id: `${prefix}a` });

        const lease = registrar.lease!;
        await registrar.deregister();
        await waitFor("no endpoint", () => endpointer.endpoints().length === 0);
        assert.equal((await range(url, `${prefix}a`)).kvs, undefined);
        assert.equal((await timeToLive(url, lease)).ttl, -1, "the lease was revoked");
      } finally {
        registrar.stop();
        endpointer.close();
        instancer.stop();
        await sleep(20);
      }
    }),
);

serverTest(
  "EtcdRegistrar keeps its 2 s lease alive for three times the TTL (go-kit TestIntegrationTTL)",
  VARIABLE,
  (url) =>
    withEtcdLock("shared", async () => {
      const key = `${uniquePrefix("sd-ttl")}a`;
      const gate = new Gate();
      const client = new EtcdClient({ endpoints: [url], fetch: gate.fetch });
      const registrar = new EtcdRegistrar(client, { key, value: "127.0.0.1:9002", ttl: 2 });
      const errors: unknown[] = [];
      registrar.addEventListener("error", (e) => errors.push(e));
      try {
        await registrar.register();
        const lease = registrar.lease;
        await sleep(6000);
        assert.equal((await range(url, key)).kvs?.[0]?.value, b64("127.0.0.1:9002"));
        assert.equal(registrar.lease, lease, "the same lease all along");
        const keepAlives = gate.calls("/lease/keepalive").length;
        // Every 600-667 ms: a third of the TTL, shortened by up to 10%.
        assert.ok(keepAlives >= 8 && keepAlives <= 11, `${keepAlives} keep-alives in 6 s`);
        assert.deepStrictEqual(errors, []);
      } finally {
        await registrar.deregister();
      }
      assert.equal((await range(url, key)).kvs, undefined);
    }),
);

serverTest(
  "EtcdRegistrar registers and deregisters on a client no instancer uses (go-kit #712)",
  VARIABLE,
  (url) =>
    withEtcdLock("shared", async () => {
      const key = `${uniquePrefix("sd-712")}a`;
      const registrar = new EtcdRegistrar(new EtcdClient({ endpoints: [url] }), {
        key,
        value: "127.0.0.1:9003",
      });
      const events: string[] = [];
      for (const type of ["registered", "deregistered", "error"]) {
        registrar.addEventListener(type, () => events.push(type));
      }
      await registrar.register();
      await registrar.deregister();
      assert.deepStrictEqual(events, ["registered", "deregistered"]);
      assert.equal((await range(url, key)).kvs, undefined);
    }),
);

serverTest(
  "EtcdInstancer and EtcdRegistrar on one client leave each other's watch and lease alone",
  VARIABLE,
  (url) =>
    withEtcdLock("shared", async () => {
      const prefix = uniquePrefix("sd-shared");
      const gate = new Gate();
      const client = new EtcdClient({ endpoints: [url], fetch: gate.fetch });
      const instancer = new EtcdInstancer(client, prefix);
      const recorder = new Recorder(instancer);
      const registrar = new EtcdRegistrar(client, { key: `${prefix}self`, value: "127.0.0.1:9004", ttl: 2 });
      try {
        await recorder.until("[]");
        await registrar.register();
        await recorder.until("[127.0.0.1:9004]");
        await sleep(1500); // a few keep-alives
        await registrar.deregister();
        await recorder.until("[]");
        await registrar.register();
        await recorder.until("[127.0.0.1:9004]");
        instancer.stop();
        const before = gate.calls("/lease/keepalive").length;
        await sleep(1500);
        assert.ok(
          gate.calls("/lease/keepalive").length > before,
          "keep-alives go on after the instancer stops",
        );
        assert.deepStrictEqual(recorder.events, ["[]", "[127.0.0.1:9004]", "[]", "[127.0.0.1:9004]"]);
        assert.equal(gate.calls("/watch").length, 1, "the one watch was never broken by the registrar");
      } finally {
        instancer.stop();
        await registrar.deregister();
      }
    }),
);

serverTest(
  "EtcdInstancer ends a burst of 60 writes in exactly the store's state, listing once and watching once",
  VARIABLE,
  (url) =>
    withEtcdLock("shared", async () => {
      const prefix = uniquePrefix("sd-burst");
      const gate = new Gate();
      const instancer = new EtcdInstancer(new EtcdClient({ endpoints: [url], fetch: gate.fetch }), prefix);
      const recorder = new Recorder(instancer);
      try {
        // Writes start at once, racing the instancer's list and watch.
        for (let i = 0; i < 60; i++) {
          if (i % 3 === 2) await del(url, `${prefix}${i - 1}`);
          else await put(url, `${prefix}${i}`, `127.0.0.1:${10_000 + (i % 20)}`);
        }
        const expected = (await range(url, prefix, { prefix: true })).kvs!.map((kv) => atob(kv.value!))
          .sort();
        assert.equal(expected.length, 20);
        await recorder.until(`[${[...new Set(expected)].join(",")}]`);
        assert.deepStrictEqual(gate.requests.map((r) => r.path), ["/v3/kv/range", "/v3/watch"]);
        assert.ok(!recorder.events.some((e) => e.startsWith("error")));
        // States never repeat back to back (identical states are not re-sent).
        assert.ok(recorder.events.every((e, i) => i === 0 || e !== recorder.events[i - 1]));
      } finally {
        instancer.stop();
        await del(url, prefix, { prefix: true });
        await sleep(20);
      }
    }),
);
