// deno bench against a real ZooKeeper (SD_ZK_ADDR; e.g. `eval "$(bash scripts/servers/zookeeper.sh env)"`
// then `deno bench --allow-net=127.0.0.1 --allow-env bench/zk.bench.ts`). Without it, no bench is
// registered and one line says so.
//
// Before the benches run, one measurement is printed (deno bench cannot report percentiles):
// propagation, the time from a ZkRegistrar's register() or deregister() call to the DefaultEndpointer's
// `change` event on another session's ZkInstancer, over 100 changes, as p50/p90/p99/max (target: p99
// under 50 ms). The bench: a one-shot ZkInstancer.lookup() of a 10-child service.
import { DefaultEndpointer } from "../src/endpointer.ts";
import { ZkClient, ZkInstancer, ZkRegistrar } from "../src/zk/mod.ts";

const VARIABLE = "SD_ZK_ADDR";
const permitted = Deno.permissions.querySync({ name: "env", variable: VARIABLE }).state === "granted";
const address = permitted ? Deno.env.get(VARIABLE) : undefined;

if (address === undefined) {
  console.log(`zk.bench.ts: skipped (set ${VARIABLE} and allow env to bench against a real ZooKeeper)`);
} else {
  const path = `/sd-bench-${crypto.randomUUID().slice(0, 8)}/api`;
  const writer = new ZkClient(address);
  const reader = new ZkClient(address);
  const instancer = new ZkInstancer(reader, path, { createParents: true });
  const endpointer = new DefaultEndpointer(
    instancer,
    (instance) => ({ endpoint: () => Promise.resolve(instance) }),
  );
  const registrars = Array.from(
    { length: 10 },
    (_, i) => new ZkRegistrar(writer, { path, instance: `10.0.0.${i}:80` }),
  );
  const waitChange = () =>
    new Promise<void>((r) => endpointer.addEventListener("change", () => r(), { once: true }));

  await waitChange().catch(() => {});
  const samples: number[] = [];
  for (let i = 0; i < 100; i++) {
    const registrar = registrars[i % 5]!;
    const changed = waitChange();
    const start = performance.now();
    if (registrar.registered) await registrar.deregister();
    else await registrar.register();
    await changed;
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!.toFixed(2);
  console.log(
    `zk propagation over ${samples.length} changes: p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${
      q(0.99)
    } ms, max ${q(1)} ms`,
  );
  for (const r of registrars) if (!r.registered) await r.register();

  Deno.bench("ZkInstancer.lookup of a 10-child service", async () => {
    await instancer.lookup();
  });

  globalThis.addEventListener("unload", () => {
    endpointer.close();
    instancer.stop();
  });
}
