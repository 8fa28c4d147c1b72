// Pull mode against the real BIND behind dnsdist's DoH (scripts/servers/dns.sh): a PullInstancer over
// srvLookup on a DohResolver sees two SRV records, stays fresh for their TTL without a query, and sees
// one after the TTL once the other is deleted with nsupdate.
import { assert } from "../_deps.ts";
import { DohResolver } from "../../src/dns/resolver.ts";
import { srvLookup } from "../../src/dnssrv/mod.ts";
import { PullInstancer } from "../../src/pull_instancer.ts";
import { nsupdate, zoneName } from "./_dns.ts";
import { serverTest } from "./_server.ts";

/** Seconds of TTL on the records this test adds. */
const TTL = 1;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

serverTest(
  "DNS SRV pull: a PullInstancer over srvLookup sees two records, then one after their TTL; fresh refreshes send nothing",
  "SD_DOH_URL",
  async (url) => {
    const zone = zoneName();
    const id = crypto.randomUUID().slice(0, 8);
    const name = `_http._tcp.pull-${id}.${zone}`;
    const host = (n: number) => `pull-${id}-${n}.${zone}`;
    let queries = 0;
    const resolver = new DohResolver({
      servers: [url],
      timeout: 3000,
      fetch: (input, init) => {
        queries++;
        return fetch(input, init);
      },
    });
    await nsupdate([
      `update add ${name}. ${TTL} IN SRV 10 60 9001 ${host(1)}.`,
      `update add ${name}. ${TTL} IN SRV 20 40 9002 ${host(2)}.`,
    ]);
    using instancer = new PullInstancer(srvLookup(resolver, name), { ttl: 30_000, staleWhileRevalidate: 0 });
    try {
      const first = await instancer.refresh();
      assert.deepStrictEqual([first.source, first.lookups], ["refreshed", 1]);
      assert.deepStrictEqual(instancer.state()?.instances, [`${host(1)}:9001`, `${host(2)}:9002`]);
      assert.deepStrictEqual(instancer.details(`${host(2)}:9002`), { priority: 20, weight: 40 });
      assert.equal(queries, 1, "one DoH query per lookup");
      // The records' TTL (1 s, floored by minTtl) governs, not the instancer's 30 s.
      assert.ok(instancer.status.expiresAt! - instancer.status.fetchedAt! <= 1_000);

      const fresh = await instancer.refresh();
      assert.deepStrictEqual([fresh.source, fresh.lookups], ["fresh", 0]);
      assert.equal(queries, 1, "a fresh refresh sends no query");

      await nsupdate([`update delete ${name}. SRV 20 40 9002 ${host(2)}.`]);
      // DoH front ends may cache the old answer for up to its TTL: look again after each expiry.
      const deadline = Date.now() + 6_000;
      let seen = instancer.state()?.instances;
      while (seen?.length !== 1 && Date.now() < deadline) {
        await sleep(TTL * 1000 + 50);
        const again = await instancer.refresh();
        assert.deepStrictEqual([again.source, again.lookups], ["refreshed", 1]);
        seen = instancer.state()?.instances;
      }
      assert.deepStrictEqual(seen, [`${host(1)}:9001`]);
    } finally {
      await nsupdate([`update delete ${name}.`]);
    }
  },
);
