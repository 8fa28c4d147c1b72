// DohResolver against the real dnsdist DoH front end and BIND (scripts/servers/dns.sh). Start them, then:
//   eval "$(bash scripts/servers/dns.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/dns_resolver_test.ts
// These tests read the fixture's A/AAAA/CNAME/TXT records and never change them (the merging and
// serve-stale tests use a counting fetch, a clock of their own and a fetch sent to a dead port); SRV
// records are added under names of their own (removed afterwards), so dns_server_test.ts can run in
// parallel.
import { assert } from "../_deps.ts";
import { DnsError } from "../../src/dns/errors.ts";
import { DohResolver } from "../../src/dns/resolver.ts";
import type { FetchFunction } from "../../src/http/factory.ts";
import { nsupdate, zoneName } from "./_dns.ts";
import { serverTest } from "./_server.ts";

const VARIABLE = "SD_DOH_URL";

/** A fetch that counts the requests it passes on. */
function counting(): { fetch: FetchFunction; count: () => number } {
  let n = 0;
  return {
    fetch: (input, init) => {
      n++;
      return fetch(input, init);
    },
    count: () => n,
  };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    assert.ok(error instanceof DnsError, String(error));
    return error.code;
  }
}

serverTest(
  "DohResolver reads A, AAAA, CNAME and TXT records through real DoH, by GET and by POST",
  VARIABLE,
  async (url, t) => {
    const zone = zoneName();
    for (const method of ["GET", "POST"] as const) {
      await t.step(method, async () => {
        const resolver = new DohResolver({ servers: [url], method, timeout: 5000 });
        assert.deepStrictEqual(await resolver.resolve4(`api-1.${zone}`), ["127.0.0.11"]);
        assert.deepStrictEqual(await resolver.resolve6(`api-2.${zone}`), ["::1"]);
        assert.deepStrictEqual(await resolver.resolveCname(`www.${zone}`), [`api-1.${zone}`]);
        assert.deepStrictEqual(
          await resolver.resolve4(`www.${zone}`),
          ["127.0.0.11"],
          "the CNAME is followed",
        );
        assert.deepStrictEqual(await resolver.resolveTxt(`api.${zone}`), [["version=1"]]);
        const [withTtl] = await resolver.resolve4(`api-2.${zone}`, { ttl: true });
        assert.equal(withTtl?.address, "127.0.0.12");
        assert.ok(withTtl!.ttl >= 0 && withTtl!.ttl <= 5, `ttl ${withTtl!.ttl} is within the fixture's 5 s`);
      });
    }
  },
);

serverTest(
  "DohResolver reports a nonexistent name as ENOTFOUND and a missing type as ENODATA",
  VARIABLE,
  async (url) => {
    const zone = zoneName();
    const { fetch, count } = counting();
    const resolver = new DohResolver({ servers: [url], fetch });
    const missing = `nope-${crypto.randomUUID().slice(0, 8)}.${zone}`;
    assert.equal(await codeOf(resolver.resolve4(missing)), "ENOTFOUND");
    assert.equal(await codeOf(resolver.resolveSrv(`_http._tcp.${missing}`)), "ENOTFOUND");
    assert.equal(await codeOf(resolver.resolve6(`api-1.${zone}`)), "ENODATA");
    assert.equal(count(), 3);
    // The SOA in the negative answers lets them be cached (RFC 2308).
    assert.equal(await codeOf(resolver.resolve4(missing)), "ENOTFOUND");
    assert.equal(await codeOf(resolver.resolve6(`api-1.${zone}`)), "ENODATA");
    assert.equal(count(), 3);
  },
);

serverTest(
  "DohResolver reads SRV records added with nsupdate and takes target addresses from the answer",
  VARIABLE,
  async (url) => {
    const zone = zoneName();
    const id = crypto.randomUUID().slice(0, 8);
    const name = `_http._tcp.res-${id}.${zone}`;
    const target = `res-${id}-1.${zone}`;
    try {
      await nsupdate([
        `update add ${name}. 5 IN SRV 10 60 9101 ${target}.`,
        `update add ${name}. 5 IN SRV 20 40 9102 res-${id}-2.${zone}.`,
        `update add ${target}. 5 IN A 127.0.0.31`,
      ]);
      const { fetch, count } = counting();
      const resolver = new DohResolver({ servers: [url], fetch });
      const records = await resolver.resolveSrv(name);
      assert.deepStrictEqual(records.sort((x, y) => x.port - y.port), [
        { name: target, port: 9101, priority: 10, weight: 60 },
        { name: `res-${id}-2.${zone}`, port: 9102, priority: 20, weight: 40 },
      ]);
      // BIND puts the in-zone target's A record in the additional section; no second query is needed.
      assert.deepStrictEqual(await resolver.resolve4(target), ["127.0.0.31"]);
      assert.equal(count(), 1);
    } finally {
      await nsupdate([`update delete ${name}.`, `update delete ${target}.`]);
    }
  },
);

serverTest("DohResolver fails over from a dead DoH URL to the real server", VARIABLE, async (url) => {
  const zone = zoneName();
  // Port 1 on loopback refuses connections.
  const dead = "http://127.0.0.1:1/dns-query";
  const resolver = new DohResolver({ servers: [dead, url], timeout: 5000 });
  assert.deepStrictEqual(await resolver.resolve4(`api-1.${zone}`), ["127.0.0.11"]);
  const alone = new DohResolver({ servers: [dead], timeout: 5000 });
  assert.equal(await codeOf(alone.resolve4(`api-1.${zone}`)), "ECONNREFUSED");
});

serverTest(
  "DohResolver sends one real DoH query for 8 identical lookups in flight, and one per scope() view",
  VARIABLE,
  async (url) => {
    const zone = zoneName();
    const { fetch, count } = counting();
    // cacheSize 0: every count below is a query in flight, never a cache hit.
    const resolver = new DohResolver({ servers: [url], fetch, cacheSize: 0 });
    const results = await Promise.all(Array.from({ length: 8 }, () => resolver.resolve4(`api-1.${zone}`)));
    assert.deepStrictEqual(results, Array(8).fill(["127.0.0.11"]));
    assert.equal(count(), 1);
    const views = [resolver.scope(), resolver.scope()];
    await Promise.all(
      views.flatMap((view) => [view.resolve4(`api-1.${zone}`), view.resolve4(`api-1.${zone}`)]),
    );
    assert.equal(count(), 3, "one query per view");
    await Promise.all([resolver.resolve4(`api-1.${zone}`), resolver.resolve6(`api-2.${zone}`)]);
    assert.equal(count(), 5, "different questions are not merged");
  },
);

serverTest(
  "DohResolver serves a real answer stale when the DoH server is unreachable after it expired",
  VARIABLE,
  async (url) => {
    const zone = zoneName();
    // A clock the test moves, and a fetch that can be sent to a dead port (port 1 refuses).
    let now = Date.now();
    let down = false;
    let requests = 0;
    const stale: string[] = [];
    const resolver = new DohResolver({
      servers: [url],
      now: () => now,
      maxStale: 3600,
      timeout: 5000,
      fetch: (input, init) => {
        requests++;
        const request = new Request(input, init);
        if (!down) return fetch(request);
        const dead = new URL(request.url);
        dead.host = "127.0.0.1:1";
        return fetch(new Request(dead, request));
      },
      onStale: (answer) => void stale.push(`${answer.hostname} ${answer.rrtype} ${answer.error.code}`),
    });
    const view = resolver.scope();
    assert.deepStrictEqual(await resolver.resolve4(`api-1.${zone}`), ["127.0.0.11"]);
    now += 6_000; // past the fixture's 5 s TTL
    down = true;
    assert.deepStrictEqual(await view.resolve4(`api-1.${zone}`, { ttl: true }), [{
      address: "127.0.0.11",
      ttl: 30,
    }]);
    assert.deepStrictEqual(stale, [`api-1.${zone} A ECONNREFUSED`]);
    assert.equal(requests, 2);
    now += 3_600_000; // past maxStale
    assert.equal(await codeOf(view.resolve4(`api-1.${zone}`)), "ECONNREFUSED");
    down = false;
    const [fresh] = await view.resolve4(`api-1.${zone}`, { ttl: true });
    assert.equal(fresh?.address, "127.0.0.11");
    assert.ok(fresh!.ttl <= 5, `a fresh answer carries the record's TTL, got ${fresh!.ttl}`);
    assert.equal(stale.length, 1);
  },
);
