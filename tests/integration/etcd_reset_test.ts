// The etcd backend through revision resets (exclusive use of the server): etcd restarted on a fresh
// data dir several times (keys, leases and history gone, the revision back at 1) under live
// registrars, an instancer and an endpointer sampled every 10 ms. Each cycle checks that the
// registrations come back, that a change made after the reset shows within 5 s, that a key nobody
// writes again is dropped after the grace period, and that the endpointer is never empty.
//   bash scripts/servers/etcd.sh start && eval "$(bash scripts/servers/etcd.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/etcd_reset_test.ts
import { assert } from "../_deps.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import { EtcdClient, EtcdInstancer, EtcdRegistrar } from "../../src/etcd/mod.ts";
import { serverTest } from "./_server.ts";
import { del, etcdScript, put, range, unb64, uniquePrefix, withEtcdLock } from "./_etcd.ts";
import { Recorder, sampleEmpty, sleep, waitFor } from "./_etcd_sd.ts";

const VARIABLE = "SD_ETCD_ENDPOINTS";
const CYCLES = 4;
const GRACE = 4000;

serverTest(
  "EtcdInstancer and EtcdRegistrar recover from etcd restarting on fresh data, cycle after cycle, and the endpointer is never empty",
  VARIABLE,
  (url) =>
    withEtcdLock("exclusive", async () => {
      const prefix = uniquePrefix("sd-reset");
      const registrar = (port: number) =>
        new EtcdRegistrar(new EtcdClient({ endpoints: [url] }), {
          key: `${prefix}${port}`,
          value: `127.0.0.1:${port}`,
          ttl: 3,
        });
      const live = [registrar(9301), registrar(9302)];
      const instancer = new EtcdInstancer(new EtcdClient({ endpoints: [url] }), prefix, {
        backoff: { initial: 100, max: 1000 },
        resetGrace: GRACE,
      });
      const recorder = new Recorder(instancer);
      const endpointer = new DefaultEndpointer<unknown, string>(instancer, (instance) => ({
        endpoint: () => Promise.resolve(instance),
      }));
      let sampler: ReturnType<typeof sampleEmpty> | undefined;
      let extra: EtcdRegistrar | undefined;
      const stale: number[] = [];
      const back: number[] = [];
      const state = (ports: number[]) => `[${ports.map((p) => `127.0.0.1:${p}`).join(",")}]`;
      const stored = async () =>
        ((await range(url, prefix, { prefix: true }).catch(() => ({ kvs: [] }))).kvs ?? [])
          .map((kv) => unb64(kv.value ?? "")).sort();
      try {
        for (const r of live) await r.register();
        await recorder.until(state([9301, 9302]));
        await endpointer.ready();
        sampler = sampleEmpty(endpointer);

        for (let cycle = 1; cycle <= CYCLES; cycle++) {
          // A key no registrar keeps (written by hand): the reset takes it for good. And enough
          // writes elsewhere that the old revision is well above what the fresh store reaches.
          await put(url, `${prefix}static`, "127.0.0.1:9399");
          for (let i = 0; i < 30; i++) await put(url, "/sd-reset-filler", String(i));
          const ports = [9301, 9302, ...(extra === undefined ? [] : [9303])];
          await recorder.until(state([...ports, 9399]));

          const wiped = Date.now();
          await etcdScript("wipe");
          const want = ports.map((p) => `127.0.0.1:${p}`).sort();
          await waitFor(
            `cycle ${cycle}: the registrations back in etcd`,
            async () => JSON.stringify(await stored()) === JSON.stringify(want),
            8000,
          );
          back.push(Date.now() - wiped);
          // The key nobody wrote again goes once the grace is over.
          await recorder.until(state(ports), GRACE + 5000);

          // A change after the reset: a new instance registers, or the extra one deregisters.
          const changed = Date.now();
          if (extra === undefined) {
            extra = registrar(9303);
            await extra.register();
            await recorder.until(state([9301, 9302, 9303]), 5000);
          } else {
            await extra.deregister();
            extra = undefined;
            await recorder.until(state([9301, 9302]), 5000);
          }
          stale.push(Date.now() - changed);
        }
        const expected = [9301, 9302, ...(extra === undefined ? [] : [9303])].map((p) => `127.0.0.1:${p}`);
        assert.deepStrictEqual(await stored(), expected, "nothing lost");
        assert.deepStrictEqual(endpointer.entries().map((e) => e.instance).sort(), expected);
        const { samples, empty } = sampler!;
        assert.ok(samples > 100, `sampled ${samples} times`);
        assert.equal(empty, 0, `the endpointer was empty in ${empty} of ${samples} samples`);
        assert.ok(Math.max(...stale) < 5000);
        console.log(
          `etcd reset: ${CYCLES} cycles; registrations back after ${
            back.join(", ")
          } ms; changes shown after ${stale.join(", ")} ms (max ${
            Math.max(...stale)
          }); endpointer empty in ${empty} of ${samples} samples`,
        );
      } finally {
        sampler?.stop();
        endpointer.close();
        instancer.stop();
        for (const r of [...live, ...(extra === undefined ? [] : [extra])]) {
          await r.deregister().catch(() => {});
        }
        await del(url, prefix, { prefix: true }).catch(() => {});
        await del(url, "/sd-reset-filler").catch(() => {});
        await sleep(20);
      }
    }),
);
