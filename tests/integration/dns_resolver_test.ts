// DohResolver against the real dnsdist DoH front end and BIND (scripts/servers/dns.sh). Start them, then:
//   eval "$(bash scripts/servers/dns.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/dns_resolver_test.ts
// These tests read the fixture's A/AAAA/CNAME/TXT records and never change them; SRV records are
// added under names of their own (removed afterwards), so dns_server_test.ts can run in parallel.
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
