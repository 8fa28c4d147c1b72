// The Consul backend through agent restarts that lose all state (exclusive use of the agent): the dev
// agent restarted several times (`consul.sh restart`: empty catalog, the index starting low again)
// under live registrars, an instancer with the default options and an endpointer sampled every 10 ms.
// Each cycle checks that the registrations come back, that a change made after the restart shows
// within 5 s (odd cycles: a new instance registered as soon as the agent is up; even cycles: that
// instance deregistered once it is back), and that the endpointer is never empty; at the end nothing
// is lost. It prints, per cycle, the restart time and the times to re-registration and to the change.
//   bash scripts/servers/consul.sh start && eval "$(bash scripts/servers/consul.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/consul_restart_test.ts
import { assert } from "../_deps.ts";
import { ConsulClient, ConsulInstancer, ConsulRegistrar } from "../../src/consul/mod.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import { baseUrl, consulScript, instancesOf, uniqueName, until } from "../consul/_real.ts";
import { sampleEmpty, waitFor } from "./_etcd_sd.ts";
import { serverTestLocked } from "./_server.ts";

const CYCLES = 4;
const CHANGE_BOUND = 5_000;

serverTestLocked("consul", "exclusive")(
  "ConsulInstancer and ConsulRegistrar recover from agent restarts that lose all state, cycle after cycle, and the endpointer is never empty",
  "SD_CONSUL_ADDR",
  async (address) => {
    const name = uniqueName("sd-restart");
    const client = new ConsulClient({ address, timeout: 2_000 });
    // A 3 s TTL renewed every second, retried at most a second apart while the agent is down.
    const registrar = (port: number) =>
      new ConsulRegistrar(client, {
        name,
        id: `${name}-${port}`,
        address: "127.0.0.1",
        port,
        checks: [{ ttl: 3_000, deregisterCriticalServiceAfter: 60_000 }],
      }, { backoff: { initial: 200, max: 1_000 } });
    const live = [registrar(9311), registrar(9312)];
    let extra: ConsulRegistrar | undefined;
    // The defaults: what a user gets.
    const instancer = new ConsulInstancer(client, name);
    const endpointer = new DefaultEndpointer<unknown, string>(instancer, (instance) => ({
      endpoint: () => Promise.resolve(instance),
    }));
    let sampler: ReturnType<typeof sampleEmpty> | undefined;
    const figures: string[] = [];
    const changes: number[] = [];
    const state = (ports: number[]) => ports.map((p) => `127.0.0.1:${p}`).sort();
    const shown = (ports: number[]) =>
      until(
        instancer,
        (e) => JSON.stringify([...instancesOf(e)].sort()) === JSON.stringify(state(ports)),
        `the instancer to show ${state(ports)}`,
        20_000,
      );
    // What the agent has now (passing only, as the instancer asks).
    const stored = async () => {
      try {
        const response = await fetch(`${baseUrl(address)}/v1/health/service/${name}?passing`, {
          signal: AbortSignal.timeout(2_000),
        });
        if (!response.ok) {
          await response.body?.cancel();
          return [];
        }
        const entries = await response.json() as { Service: { Address: string; Port: number } }[];
        return entries.map((e) => `${e.Service.Address}:${e.Service.Port}`).sort();
      } catch {
        return [];
      }
    };
    try {
      for (const r of live) await r.register();
      await shown([9311, 9312]);
      await endpointer.ready();
      sampler = sampleEmpty(endpointer);

      for (let cycle = 1; cycle <= CYCLES; cycle++) {
        const ports = [9311, 9312, ...(extra === undefined ? [] : [9313])];
        const started = Date.now();
        await consulScript("restart");
        const ready = Date.now();
        let change: Promise<unknown>;
        let changed: number;
        let after: number[];
        if (extra === undefined) {
          // A change at once: a new instance registers on the fresh agent.
          changed = Date.now();
          extra = registrar(9313);
          await extra.register();
          after = [...ports, 9313];
          change = shown(after);
        } else {
          change = Promise.resolve();
          changed = NaN;
          after = ports.filter((p) => p !== 9313);
        }
        await waitFor(
          `cycle ${cycle}: the registrations back in the agent`,
          async () =>
            JSON.stringify(await stored()) === JSON.stringify(state([...new Set([...ports, 9313])])),
          10_000,
        );
        const back = Date.now() - ready;
        await change;
        if (!Number.isNaN(changed)) changes.push(Date.now() - changed);
        else {
          // The other change: the extra instance (registered again by now) deregisters.
          await shown(ports);
          changed = Date.now();
          await extra!.deregister();
          extra = undefined;
          await shown(after);
          changes.push(Date.now() - changed);
        }
        figures.push(
          `cycle ${cycle}: restart ${ready - started} ms, registrations back ${back} ms after, ${
            extra === undefined ? "deregistration" : "new instance"
          } shown after ${changes.at(-1)} ms`,
        );
        assert.ok(changes.at(-1)! <= CHANGE_BOUND, figures.at(-1));
      }
      const expected = state([9311, 9312, ...(extra === undefined ? [] : [9313])]);
      await waitFor(
        "the agent to hold every live registration",
        async () => JSON.stringify(await stored()) === JSON.stringify(expected),
        10_000,
      );
      assert.deepStrictEqual(endpointer.entries().map((e) => e.instance).sort(), expected, "nothing lost");
      const { samples, empty } = sampler!;
      assert.ok(samples > 100, `sampled ${samples} times`);
      assert.equal(empty, 0, `the endpointer was empty in ${empty} of ${samples} samples`);
      console.log(
        `consul restart: ${CYCLES} cycles\n  ${figures.join("\n  ")}\n  changes shown after ${
          changes.join(", ")
        } ms (max ${Math.max(...changes)}); endpointer empty in ${empty} of ${samples} samples`,
      );
    } finally {
      sampler?.stop();
      endpointer.close();
      instancer.stop();
      for (const r of [...live, ...(extra === undefined ? [] : [extra])]) {
        await r.deregister().catch(() => {});
      }
    }
  },
);
