// DnsSrvInstancer against the real BIND (scripts/servers/dns.sh), through the DoH front end and through
// Node's own resolver over plain DNS. Start the servers, then:
//   eval "$(bash scripts/servers/dns.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/dnssrv_test.ts
// Every test works on SRV names of its own (`_http._tcp.watch-<random>`) and deletes them, so it does
// not collide with dns_server_test.ts, which resets the fixture's `api` records.
import { assert } from "../_deps.ts";
import type { DnsError } from "../../src/dns/errors.ts";
import { DohResolver } from "../../src/dns/resolver.ts";
import { DnsSrvInstancer } from "../../src/dnssrv/instancer.ts";
import { lookupSrv } from "../../src/dnssrv/lookup.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import type { DiscoveryEvent, Instancer } from "../../src/types.ts";
import { nsupdate, zoneName } from "./_dns.ts";
import { REQUIRE_SERVERS, serverTest } from "./_server.ts";

/** Seconds of TTL on the records the tests add, as in the fixture. */
const TTL = 5;
/** How long a change may take to show: one TTL plus jitter, with room for a slow machine. */
const CAP_MS = 12_000;

function summary(event: DiscoveryEvent): string {
  return event.error !== undefined
    ? `error:${(event.error as DnsError).code}`
    : `[${event.instances.join(",")}]`;
}

/** The first event (current state included) that `predicate` accepts, or a rejection after `ms`. */
function waitFor(
  instancer: Instancer,
  predicate: (e: DiscoveryEvent) => boolean,
  ms = CAP_MS,
): Promise<DiscoveryEvent> {
  const seen: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      reject(new Error(`no matching event within ${ms} ms; saw ${JSON.stringify(seen)}`));
    }, ms);
    const subscription = instancer.subscribe((event) => {
      seen.push(summary(event));
      if (!predicate(event)) return;
      clearTimeout(timer);
      subscription.unsubscribe();
      resolve(event);
    });
  });
}

const has = (want: string) => (e: DiscoveryEvent) => summary(e) === want;

function names(zone: string) {
  const id = crypto.randomUUID().slice(0, 8);
  return { name: `_http._tcp.watch-${id}.${zone}`, host: (n: number) => `watch-${id}-${n}.${zone}` };
}

serverTest(
  "DnsSrvInstancer over DoH sees nsupdate changes within one TTL and keeps the last good set",
  "SD_DOH_URL",
  async (url) => {
    const zone = zoneName();
    const { name, host } = names(zone);
    await nsupdate([`update add ${name}. ${TTL} IN SRV 10 60 9001 ${host(1)}.`]);
    const instancer = new DnsSrvInstancer(name, {
      resolver: new DohResolver({ servers: [url], timeout: 3000 }),
      backoff: { initial: 1000, max: 2000 },
    });
    const endpointer = new DefaultEndpointer(
      instancer,
      (instance) => ({ endpoint: () => Promise.resolve(instance) }),
    );
    try {
      await waitFor(instancer, has(`[${host(1)}:9001]`));
      assert.deepStrictEqual(instancer.details(`${host(1)}:9001`), { priority: 10, weight: 60 });

      await nsupdate([`update add ${name}. ${TTL} IN SRV 20 40 9002 ${host(2)}.`]);
      await waitFor(instancer, has(`[${host(1)}:9001,${host(2)}:9002]`));
      assert.deepStrictEqual(instancer.details(`${host(2)}:9002`), { priority: 20, weight: 40 });

      await nsupdate([`update delete ${name}. SRV 10 60 9001 ${host(1)}.`]);
      await waitFor(instancer, has(`[${host(2)}:9002]`));

      // With the name gone the lookup fails (NXDOMAIN): an error event, and the endpointer keeps serving.
      await nsupdate([`update delete ${name}.`]);
      await waitFor(instancer, has("error:ENOTFOUND"));
      assert.deepStrictEqual(endpointer.entries().map((e) => e.instance), [`${host(2)}:9002`]);

      await nsupdate([`update add ${name}. ${TTL} IN SRV 10 10 9003 ${host(3)}.`]);
      await waitFor(instancer, has(`[${host(3)}:9003]`));
    } finally {
      endpointer.close();
      instancer.stop();
      await nsupdate([`update delete ${name}.`]);
    }
  },
);

serverTest(
  "lookupSrv over DoH skips a port-0 record and reads a lone '.' target as an empty set",
  "SD_DOH_URL",
  async (url) => {
    const zone = zoneName();
    const mixed = names(zone);
    const none = names(zone);
    const resolver = new DohResolver({ servers: [url], timeout: 3000 });
    try {
      await nsupdate([
        `update add ${mixed.name}. ${TTL} IN SRV 10 10 0 ${mixed.host(1)}.`,
        `update add ${mixed.name}. ${TTL} IN SRV 10 10 9005 ${mixed.host(2)}.`,
        `update add ${none.name}. ${TTL} IN SRV 0 0 0 .`,
      ]);
      const warnings: string[] = [];
      const logger = { debug() {}, info() {}, warn: (m: string) => void warnings.push(m), error() {} };
      const found = await lookupSrv(resolver, mixed.name, { logger });
      assert.deepStrictEqual(found.instances, [{
        instance: `${mixed.host(2)}:9005`,
        priority: 10,
        weight: 10,
      }]);
      assert.ok(found.ttl !== undefined && found.ttl <= TTL);
      assert.deepStrictEqual(warnings, ["SRV record skipped: port 0"]);
      assert.deepStrictEqual((await lookupSrv(resolver, none.name)).instances, []);
    } finally {
      await nsupdate([`update delete ${mixed.name}.`, `update delete ${none.name}.`]);
    }
  },
);

// Deno's node:dns Resolver.setServers() reads the system's servers first, which needs this permission.
const SYS = { name: "sys", kind: "networkInterfaces" } as const;
const sysGranted = (await Deno.permissions.query(SYS)).state === "granted";

/** A serverTest on SD_DNS_ADDR that also needs `--allow-sys=networkInterfaces`. */
function nodeDnsTest(name: string, fn: (address: string) => Promise<void>): void {
  if (sysGranted) return serverTest(name, "SD_DNS_ADDR", fn);
  const reason = "needs --allow-sys=networkInterfaces for node:dns Resolver.setServers()";
  if (Deno.env.get(REQUIRE_SERVERS) === "1") {
    Deno.test(name, () => {
      throw new Error(`${reason}, and ${REQUIRE_SERVERS}=1`);
    });
  } else {
    Deno.test({ name: `${name} (skipped: ${reason})`, ignore: true, fn() {} });
  }
}

nodeDnsTest("DnsSrvInstancer works with node:dns's own Resolver over plain DNS", async (addr) => {
  const zone = zoneName();
  const { name, host } = names(zone);
  const { promises } = await import("node:dns");
  const resolver = new promises.Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([addr]);
  await nsupdate([
    `update add ${name}. ${TTL} IN SRV 10 60 9011 ${host(1)}.`,
    `update add ${host(1)}. ${TTL} IN A 127.0.0.41`,
  ]);
  // Node's resolver reports no SRV TTLs, so the fallback interval sets the pace.
  const instancer = new DnsSrvInstancer(name, { resolver, fallbackInterval: 1000, jitter: 0 });
  const byAddress = new DnsSrvInstancer(name, { resolver, resolveTargets: "ipv4" });
  try {
    await waitFor(instancer, has(`[${host(1)}:9011]`));
    assert.deepStrictEqual(instancer.details(`${host(1)}:9011`), { priority: 10, weight: 60 });
    await waitFor(byAddress, has("[127.0.0.41:9011]"));
    assert.equal((await instancer.lookup()).ttl, undefined);
    const ttl = (await byAddress.lookup()).ttl;
    assert.ok(ttl !== undefined && ttl <= TTL, `resolve4's TTLs count when targets are resolved, got ${ttl}`);

    await nsupdate([`update add ${name}. ${TTL} IN SRV 20 40 9012 ${host(2)}.`]);
    await waitFor(instancer, has(`[${host(1)}:9011,${host(2)}:9012]`));
  } finally {
    byAddress.stop();
    instancer.stop();
    await nsupdate([`update delete ${name}.`, `update delete ${host(1)}.`]);
  }
});
