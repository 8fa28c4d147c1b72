// deno bench of one pull-mode lookup per backend, against the real servers whose variables are set
// (SD_CONSUL_ADDR, SD_ETCD_ENDPOINTS, SD_EUREKA_URL, SD_DOH_URL, SD_ZK_ADDR; see
// tests/integration/README.md), each on a service of two instances:
//   deno bench --allow-net=127.0.0.1 --allow-env bench/pull_lookup.bench.ts
// Backends without their variable are skipped with one line saying so. Before the benches, the median
// and p90 of 50 lookups per backend are printed (deno bench reports means). The DNS lookup uses a
// resolver without a cache (every lookup is a DoH query), on the fixture zone's `_http._tcp.api`.
// The ZooKeeper lookup opens a session, reads, and closes it: the price of holding no socket across
// requests.
import { DohResolver } from "../src/dns/resolver.ts";
import { ConsulClient, consulLookup, ConsulRegistrar } from "../src/consul/mod.ts";
import { srvLookup } from "../src/dnssrv/mod.ts";
import { EtcdClient, etcdLookup } from "../src/etcd/mod.ts";
import { EurekaClient, eurekaLookup, EurekaRegistrar } from "../src/eureka/mod.ts";
import type { Lookup } from "../src/pull_instancer.ts";
import { ZkClient, zkLookup, ZkRegistrar } from "../src/zk/mod.ts";
import { readInstances } from "../src/zk/_util.ts";

const RUN = crypto.randomUUID().slice(0, 8);
const RUNS = 50;

function env(name: string): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") return undefined;
  return Deno.env.get(name)?.trim() || undefined;
}

const cleanups: (() => Promise<unknown>)[] = [];
const lookups: [string, Lookup][] = [];

const consul = env("SD_CONSUL_ADDR");
if (consul !== undefined) {
  const client = new ConsulClient({ address: consul });
  const name = `pull-bench-${RUN}`;
  for (const port of [9201, 9202]) {
    const registrar = new ConsulRegistrar(client, {
      name,
      address: "127.0.0.1",
      port,
      checks: [{ ttl: 30_000, deregisterCriticalServiceAfter: 60_000 }],
    });
    await registrar.register();
    cleanups.push(() => registrar.deregister());
  }
  lookups.push(["consulLookup", consulLookup(client, name)]);
  lookups.push(["consulLookup, cached", consulLookup(client, name, { cached: { maxAge: 30_000 } })]);
}

const etcd = env("SD_ETCD_ENDPOINTS");
if (etcd !== undefined) {
  const client = new EtcdClient({ endpoints: etcd.split(",") });
  const prefix = `/sd-pull-bench-${RUN}/`;
  const { id } = await client.grant(60);
  await client.put(`${prefix}a`, "127.0.0.1:9201", { lease: id });
  await client.put(`${prefix}b`, "127.0.0.1:9202", { lease: id });
  cleanups.push(() => client.revoke(id));
  lookups.push(["etcdLookup", etcdLookup(client, prefix)]);
}

const eureka = env("SD_EUREKA_URL");
if (eureka !== undefined) {
  const client = new EurekaClient({ urls: eureka });
  const app = `PULL-BENCH-${RUN}`.toUpperCase();
  for (const port of [9201, 9202]) {
    const registrar = new EurekaRegistrar(client, { app, ipAddr: "127.0.0.1", port });
    await registrar.register();
    cleanups.push(async () => {
      await registrar.deregister();
      registrar.stop();
    });
  }
  lookups.push(["eurekaLookup", eurekaLookup(client, app)]);
}

const doh = env("SD_DOH_URL");
if (doh !== undefined) {
  const zone = (env("SD_DNS_ZONE") ?? "svc.test").replace(/\.$/, "");
  const resolver = new DohResolver({ servers: [doh], cacheSize: 0 });
  lookups.push(["srvLookup (DoH, no cache)", srvLookup(resolver, `_http._tcp.api.${zone}`)]);
}

const zk = env("SD_ZK_ADDR");
if (zk !== undefined) {
  const owner = new ZkClient(zk);
  const path = `/sd-pull-bench-${RUN}/api`;
  for (const instance of ["127.0.0.1:9201", "127.0.0.1:9202"]) {
    await new ZkRegistrar(owner, { path, instance }).register();
  }
  cleanups.push(async () => {
    await owner.close(); // the ephemeral nodes go with the session
    const cleaner = new ZkClient(zk);
    await cleaner.delete(path).catch(() => {});
    await cleaner.delete(path.slice(0, path.lastIndexOf("/"))).catch(() => {});
    await cleaner.close();
  });
  lookups.push(["zkLookup (connect, read, close)", zkLookup({ servers: zk, path })]);
  // For comparison: the same read on a session kept open (what watch mode pays per read).
  lookups.push([
    "ZooKeeper read on a kept session (comparison)",
    async ({ signal }) => ({ instances: await readInstances(owner, path, { call: { signal } }) }),
  ]);
}

if (lookups.length === 0) {
  console.log("pull_lookup.bench.ts: skipped (set the SD_* server variables and allow env)");
}

for (const [name, lookup] of lookups) {
  const samples: number[] = [];
  for (let i = 0; i < RUNS + 5; i++) {
    const start = performance.now();
    const { instances } = await lookup({ signal: AbortSignal.timeout(10_000) });
    if (i >= 5) samples.push(performance.now() - start); // 5 warm-up runs
    const count = [...instances].length;
    if (count < 2) throw new Error(`${name} found ${count} instances, expected at least 2`);
  }
  samples.sort((a, b) => a - b);
  const at = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!.toFixed(2);
  console.log(`${name}: median ${at(0.5)} ms, p90 ${at(0.9)} ms over ${samples.length} lookups`);
  Deno.bench(name, async () => {
    await lookup({ signal: AbortSignal.timeout(10_000) });
  });
}

globalThis.addEventListener("unload", () => {
  for (const cleanup of cleanups) void cleanup().catch(() => {});
});
