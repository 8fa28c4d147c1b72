// Pull mode against a real Consul agent (SD_CONSUL_ADDR, started by scripts/servers/consul.sh): a
// PullInstancer over consulLookup sees registrations and deregistrations after its TTL, a fresh
// refresh sends nothing, and reads through the agent's cache (`?cached`) carry a TTL from `Age`.
import { assert } from "../_deps.ts";
import { ConsulClient, consulLookup, ConsulRegistrar } from "../../src/consul/mod.ts";
import type { FetchFunction } from "../../src/http/factory.ts";
import { PullInstancer } from "../../src/pull_instancer.ts";
import { uniqueName } from "../consul/_real.ts";
import { serverTestLocked } from "./_server.ts";

// Consul tests share the agent; the restart test takes it for itself.
const serverTest = serverTestLocked("consul", "shared");

const TTL = 400;

/** A fetch that counts health reads. */
function counting(): { fetch: FetchFunction; reads: () => number } {
  let reads = 0;
  return {
    fetch: (input, init) => {
      if (String(input).includes("/v1/health/service/")) reads++;
      return fetch(input, init);
    },
    reads: () => reads,
  };
}

const ttlService = (name: string, port: number) => ({
  name,
  address: "127.0.0.1",
  port,
  checks: [{ ttl: 30_000, deregisterCriticalServiceAfter: 60_000 }],
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

serverTest(
  "Consul pull: a PullInstancer over consulLookup sees two instances, then one after the TTL; fresh refreshes send nothing",
  "SD_CONSUL_ADDR",
  async (address) => {
    const name = uniqueName("pull");
    const counter = counting();
    const client = new ConsulClient({ address, fetch: counter.fetch });
    const registrars = [9101, 9102].map((port) => new ConsulRegistrar(client, ttlService(name, port)));
    using instancer = new PullInstancer(consulLookup(client, name), { ttl: TTL, staleWhileRevalidate: 0 });
    try {
      await Promise.all(registrars.map((r) => r.register()));
      const first = await instancer.refresh();
      assert.deepStrictEqual([first.source, first.lookups], ["refreshed", 1]);
      assert.deepStrictEqual(instancer.state()?.instances, ["127.0.0.1:9101", "127.0.0.1:9102"]);
      assert.equal(instancer.state()?.details?.get("127.0.0.1:9102")?.status, "passing");
      const reads = counter.reads();
      assert.equal(reads, 1);

      const fresh = await instancer.refresh();
      assert.deepStrictEqual([fresh.source, fresh.lookups], ["fresh", 0]);
      assert.equal(counter.reads(), reads, "a fresh refresh sends no request");

      await registrars[1]!.deregister();
      // Still fresh: the old set, no request.
      assert.equal((await instancer.refresh()).source, "fresh");
      assert.deepStrictEqual(instancer.state()?.instances, ["127.0.0.1:9101", "127.0.0.1:9102"]);
      assert.equal(counter.reads(), reads);

      await sleep(TTL + 50);
      const after = await instancer.refresh();
      assert.deepStrictEqual([after.source, after.lookups], ["refreshed", 1]);
      assert.deepStrictEqual(instancer.state()?.instances, ["127.0.0.1:9101"]);
      assert.equal(counter.reads(), reads + 1, "one request per lookup");
    } finally {
      await Promise.allSettled(registrars.map((r) => r.deregister()));
    }
  },
);

serverTest(
  "Consul pull: a read through the agent's cache takes its TTL from the requested max-age and the agent's Age",
  "SD_CONSUL_ADDR",
  async (address) => {
    const name = uniqueName("pull-cached");
    const client = new ConsulClient({ address });
    const registrar = new ConsulRegistrar(client, ttlService(name, 9103));
    try {
      await registrar.register();
      const lookup = consulLookup(client, name, { cached: { maxAge: 30_000, staleIfError: 60_000 } });
      const signal = AbortSignal.timeout(10_000);
      const miss = await lookup({ signal });
      assert.deepStrictEqual([...miss.instances].map((i) => typeof i === "string" ? i : i.instance), [
        "127.0.0.1:9103",
      ]);
      assert.ok(miss.ttl !== undefined && miss.ttl <= 30_000 && miss.ttl > 20_000, `ttl ${miss.ttl}`);
      const hit = await lookup({ signal });
      assert.ok(hit.ttl !== undefined && hit.ttl <= 30_000 && hit.ttl > 20_000, `ttl ${hit.ttl}`);
      // Without `cached`, the agent says nothing about freshness: the instancer's ttl applies.
      assert.equal((await consulLookup(client, name)({ signal })).ttl, undefined);
    } finally {
      await registrar.deregister();
    }
  },
);
