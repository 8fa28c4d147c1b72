// The ZooKeeper backend through server data loss (exclusive use of the standalone server): the server
// restarted on an empty data dir several times (every node and session gone, the zxid back at 0)
// under live registrars, an instancer and an endpointer sampled every 10 ms. ZooKeeper refuses a
// client that has seen a later zxid than its own; each cycle checks that the clients treat that as
// an expired session (new session, registrations back), that a change made after the wipe shows
// within 5 s, and that the endpointer is never empty.
//   bash scripts/servers/zookeeper.sh start && eval "$(bash scripts/servers/zookeeper.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/zk_wipe_test.ts
import { assert } from "../_deps.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import { ZkClient, ZkInstancer, ZkRegistrar } from "../../src/zk/mod.ts";
import { serverTest } from "./_server.ts";
import { standalone, uniquePath, withZkLock } from "./_zk.ts";
import { Recorder, sampleEmpty, sleep, waitFor } from "./_etcd_sd.ts";

const CYCLES = 4;

const SESSION_TIMEOUT = 6_000;

/** The instance strings stored under `path` (sorted; [] if missing or on failure). */
async function stored(client: ZkClient, path: string): Promise<string[]> {
  try {
    const names = await client.getChildren(path, { timeout: 2_000 });
    const data = await Promise.all(names.map((n) => client.getData(`${path}/${n}`, { timeout: 2_000 })));
    return data.map((d) => new TextDecoder().decode(d.data)).sort();
  } catch {
    return [];
  }
}

serverTest(
  "ZkClient, ZkRegistrar and ZkInstancer recover from ZooKeeper losing its data, cycle after cycle, and the endpointer is never empty",
  "SD_ZK_ADDR",
  (addr) =>
    withZkLock("exclusive", async () => {
      const root = uniquePath("wipe");
      const path = `${root}/api`;
      const clients: ZkClient[] = [];
      const newClient = () => {
        const c = new ZkClient(addr, { sessionTimeout: SESSION_TIMEOUT });
        clients.push(c);
        return c;
      };
      const registrar = (port: number) =>
        new ZkRegistrar(newClient(), { path, instance: `127.0.0.1:${port}` });
      const live = [registrar(9401), registrar(9402)];
      const instancer = new ZkInstancer(newClient(), path, { backoff: { initial: 100, max: 1000 } });
      const recorder = new Recorder(instancer);
      const endpointer = new DefaultEndpointer<unknown, string>(instancer, (instance) => ({
        endpoint: () => Promise.resolve(instance),
      }));
      let sampler: ReturnType<typeof sampleEmpty> | undefined;
      let extra: ZkRegistrar | undefined;
      const stale: number[] = [];
      const back: number[] = [];
      const state = (ports: number[]) => `[${ports.map((p) => `127.0.0.1:${p}`).join(",")}]`;
      try {
        for (const r of live) await r.register();
        await recorder.until(state([9401, 9402]));
        await endpointer.ready();
        sampler = sampleEmpty(endpointer);

        for (let cycle = 1; cycle <= CYCLES; cycle++) {
          const ports = [9401, 9402, ...(extra === undefined ? [] : [9403])];
          const want = ports.map((p) => `127.0.0.1:${p}`);
          // Enough writes that the zxid every client has seen (replies and pings carry it) is well
          // above what the fresh server reaches in this cycle (each new session is one transaction,
          // reads none), so it refuses them all: the clients must notice by themselves.
          const filler = newClient();
          await filler.create(`${root}-filler`, "0", { mode: "ephemeral" });
          for (let i = 0; i < 200; i++) await filler.setData(`${root}-filler`, String(i));
          await filler.close();
          await sleep(SESSION_TIMEOUT / 3 + 500); // a ping interval: every client has the zxid
          const wiped = Date.now();
          await standalone.wipe();
          const checker = newClient();
          await waitFor(
            `cycle ${cycle}: the registrations back in ZooKeeper`,
            async () => JSON.stringify(await stored(checker, path)) === JSON.stringify(want),
            10_000,
          );
          await checker.close();
          back.push(Date.now() - wiped);
          await recorder.until(state(ports), 5_000);

          // A change after the wipe: a new instance registers, or the extra one deregisters.
          const changed = Date.now();
          if (extra === undefined) {
            extra = registrar(9403);
            await extra.register();
            await recorder.until(state([9401, 9402, 9403]), 5_000);
          } else {
            await extra.deregister();
            extra = undefined;
            await recorder.until(state([9401, 9402]), 5_000);
          }
          stale.push(Date.now() - changed);
        }
        const expected = [9401, 9402, ...(extra === undefined ? [] : [9403])].map((p) => `127.0.0.1:${p}`);
        assert.deepStrictEqual(await stored(newClient(), path), expected, "nothing lost");
        assert.deepStrictEqual(endpointer.entries().map((e) => e.instance).sort(), expected);
        const { samples, empty } = sampler!;
        assert.ok(samples > 100, `sampled ${samples} times`);
        assert.equal(empty, 0, `the endpointer was empty in ${empty} of ${samples} samples`);
        assert.ok(Math.max(...stale) < 5000);
        console.log(
          `ZooKeeper wipe: ${CYCLES} cycles; registrations back after ${
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
        const cleaner = clients[0];
        await cleaner?.delete(path).catch(() => {});
        await cleaner?.delete(root).catch(() => {});
        await Promise.allSettled(clients.map((c) => c.close()));
        await sleep(20);
      }
    }),
);
