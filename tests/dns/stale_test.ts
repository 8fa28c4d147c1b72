// DohResolver serving stale answers (RFC 8767): an expired cached answer is served when every server
// fails, within maxStale and not beyond, with the stale TTL, a warning and an onStale report; for
// staleTtl after a failed refresh it is served without asking again; NXDOMAIN and NODATA still replace
// what was cached; cancellation never serves stale. Fake time throughout (the resolver's clock is
// Date.now, installed before it is built).
import { assert, fakeTime, type InstalledClock } from "../_deps.ts";
import { a, type DohFault, FakeDoh, soa, srv } from "../_fakes/doh.ts";
import { AnswerCache, type CachedAnswer } from "../../src/dns/_cache.ts";
import { DnsError } from "../../src/dns/errors.ts";
import { type DnsStaleAnswer, DohResolver, type DohResolverOptions } from "../../src/dns/resolver.ts";
import { RCODE } from "../../src/dns/wire.ts";
import type { Logger } from "../../src/types.ts";

const SERVER = "https://doh.test/dns-query";
const BACKUP = "https://doh2.test/dns-query";
const T0 = 1_700_000_000_000;

async function withClock(fn: (clock: InstalledClock) => Promise<void>): Promise<void> {
  const clock = fakeTime(T0);
  try {
    await fn(clock);
    assert.equal(clock.countTimers(), 0, "no timer is left behind");
  } finally {
    clock.uninstall();
  }
}

function setup(options: DohResolverOptions = {}) {
  const fake = new FakeDoh();
  fake.set("api.example", "A", { answers: [a("api.example", "10.0.0.1", 10)] });
  const warnings: { message: string; data: Record<string, unknown> | undefined }[] = [];
  const errors: string[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (message, data) => void warnings.push({ message, data }),
    error: (message) => void errors.push(message),
  };
  const stale: DnsStaleAnswer[] = [];
  const resolver = new DohResolver({
    servers: [SERVER],
    fetch: fake.fetch,
    logger,
    onStale: (answer) => void stale.push(answer),
    ...options,
  });
  return { fake, resolver, warnings, errors, stale };
}

async function caught(promise: Promise<unknown>): Promise<DnsError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DnsError, `expected a DnsError, got ${error}`);
    return error;
  }
  throw new Error("expected a rejection");
}

const staleWarnings = (warnings: { message: string }[]) =>
  warnings.filter((w) => w.message.includes("stale")).length;

Deno.test("DohResolver serves an expired answer with the stale TTL when every server fails", async (t) => {
  const faults: [DohFault, string][] = [
    ["network", "ECONNREFUSED"],
    ["hang", "ETIMEOUT"],
    ["servfail", "ESERVFAIL"],
    ["refused", "EREFUSED"],
    ["http500", "ESERVFAIL"],
    ["http404", "EBADRESP"],
    ["garbage", "EBADRESP"],
  ];
  for (const [fault, code] of faults) {
    await t.step(`${fault} (${code})`, () =>
      withClock(async (clock) => {
        const { fake, resolver, warnings, stale } = setup({ servers: [SERVER, BACKUP] });
        assert.deepStrictEqual(await resolver.resolve4("api.example"), ["10.0.0.1"]);
        clock.tick(10_000 + 5_000); // expired 5 s ago
        fake.fail(SERVER, fault).fail(BACKUP, fault);
        const pending = resolver.resolve4("api.example", { ttl: true });
        await clock.tickAsync(fault === "hang" ? 10_000 : 0);
        assert.deepStrictEqual(await pending, [{ address: "10.0.0.1", ttl: 30 }]);
        assert.deepStrictEqual(fake.servers(), [SERVER, SERVER, BACKUP], "both servers were asked first");
        assert.equal(staleWarnings(warnings), 1);
        assert.equal(stale.length, 1);
        assert.deepStrictEqual(
          [stale[0]!.hostname, stale[0]!.rrtype, stale[0]!.staleFor, stale[0]!.error.code],
          ["api.example", "A", fault === "hang" ? 15 : 5, code],
        );
        assert.equal(fake.openBodies, 0);
      }));
  }
});

Deno.test("DohResolver serves stale answers up to maxStale past expiry and not beyond", async () => {
  await withClock(async (clock) => {
    const { fake, resolver } = setup({ maxStale: 60 });
    await resolver.resolve4("api.example");
    fake.fail(SERVER, "network");
    clock.tick(10_000 + 59_999);
    assert.deepStrictEqual(await resolver.resolve4("api.example"), ["10.0.0.1"]);
    clock.tick(1);
    assert.equal((await caught(resolver.resolve4("api.example"))).code, "ECONNREFUSED");
  });
});

Deno.test("DohResolver serves stale answers for a day by default", async () => {
  await withClock(async (clock) => {
    const { fake, resolver } = setup();
    await resolver.resolve4("api.example");
    fake.fail(SERVER, "network");
    clock.tick(10_000 + 86_400_000 - 1);
    assert.deepStrictEqual(await resolver.resolve4("api.example"), ["10.0.0.1"]);
    clock.tick(1);
    assert.equal((await caught(resolver.resolve4("api.example"))).code, "ECONNREFUSED");
  });
});

Deno.test("DohResolver with maxStale 0 or cacheSize 0 never serves stale answers", async (t) => {
  for (const options of [{ maxStale: 0 }, { cacheSize: 0 }]) {
    await t.step(JSON.stringify(options), () =>
      withClock(async (clock) => {
        const { fake, resolver, stale, warnings } = setup(options);
        await resolver.resolve4("api.example");
        clock.tick(10_000);
        fake.fail(SERVER, "network");
        assert.equal((await caught(resolver.resolve4("api.example"))).code, "ECONNREFUSED");
        assert.deepStrictEqual([stale.length, staleWarnings(warnings)], [0, 0]);
      }));
  }
});

Deno.test("DohResolver serves stale for staleTtl after a failed refresh without asking, then asks again", async () => {
  await withClock(async (clock) => {
    const { fake, resolver, stale, warnings } = setup();
    await resolver.resolveSrv("_s._tcp.example").catch(() => {});
    fake.set("_s._tcp.example", "SRV", { answers: [srv("_s._tcp.example", 1, 1, 80, "t.example", 10)] });
    clock.tick(60_000); // let the negative answer expire
    await resolver.resolveSrv("_s._tcp.example");
    clock.tick(10_000);
    fake.fail(SERVER, "servfail");
    assert.deepStrictEqual(await resolver.resolveSrv("_s._tcp.example", { ttl: true }), [
      { name: "t.example", port: 80, priority: 1, weight: 1, ttl: 30 },
    ]);
    const asked = fake.requests.length;
    clock.tick(10_000);
    assert.deepStrictEqual(await resolver.resolveSrv("_s._tcp.example", { ttl: true }), [
      { name: "t.example", port: 80, priority: 1, weight: 1, ttl: 20 },
    ]);
    clock.tick(19_500);
    assert.deepStrictEqual(
      (await resolver.resolveSrv("_s._tcp.example", { ttl: true })).map((r) => r.ttl),
      [1],
      "never 0 while stale",
    );
    assert.equal(fake.requests.length, asked, "nothing was asked within the stale TTL");
    assert.deepStrictEqual(stale.map((s) => s.staleFor), [0, 10, 29]);
    assert.equal(staleWarnings(warnings), 1, "one warning per failed refresh");
    clock.tick(500);
    fake.heal(SERVER);
    assert.deepStrictEqual(await resolver.resolveSrv("_s._tcp.example", { ttl: true }), [
      { name: "t.example", port: 80, priority: 1, weight: 1, ttl: 10 },
    ]);
    assert.equal(fake.requests.length, asked + 1);
    assert.equal(stale.length, 3, "a fresh answer is not reported");
  });
});

Deno.test("DohResolver with staleTtl 0 reports TTL 0 and asks the servers on every lookup", async () => {
  await withClock(async (clock) => {
    const { fake, resolver } = setup({ staleTtl: 0 });
    await resolver.resolve4("api.example");
    clock.tick(10_000);
    fake.fail(SERVER, "network");
    assert.deepStrictEqual(await resolver.resolve4("api.example", { ttl: true }), [{
      address: "10.0.0.1",
      ttl: 0,
    }]);
    await resolver.resolve4("api.example");
    assert.equal(fake.requests.length, 3);
  });
});

Deno.test("DohResolver takes NXDOMAIN and NODATA as answers that replace a stale entry, and keeps negative caching", async () => {
  await withClock(async (clock) => {
    const { fake, resolver, stale } = setup();
    fake.set("api.example", "AAAA", { authorities: [soa("example", 300, 20)] });
    await resolver.resolve4("api.example");
    clock.tick(10_000);
    fake.set("api.example", "A", { rcode: RCODE.NXDOMAIN, authorities: [soa("example", 300, 20)] });
    assert.equal((await caught(resolver.resolve4("api.example"))).code, "ENOTFOUND");
    assert.equal((await caught(resolver.resolve6("api.example"))).code, "ENODATA");
    assert.equal(fake.requests.length, 3);
    // Cached for the SOA minimum, as before.
    clock.tick(19_999);
    assert.equal((await caught(resolver.resolve4("api.example"))).code, "ENOTFOUND");
    assert.equal((await caught(resolver.resolve6("api.example"))).code, "ENODATA");
    assert.equal(fake.requests.length, 3);
    assert.equal(stale.length, 0);
    // Past it, with the server down, the negative answers are the ones served stale.
    clock.tick(1);
    fake.fail(SERVER, "network");
    assert.equal((await caught(resolver.resolve4("api.example"))).code, "ENOTFOUND");
    assert.equal((await caught(resolver.resolve6("api.example"))).code, "ENODATA");
    assert.deepStrictEqual(stale.map((s) => [s.rrtype, s.error.code]), [
      ["A", "ECONNREFUSED"],
      ["AAAA", "ECONNREFUSED"],
    ]);
  });
});

Deno.test("DohResolver never serves stale to a caller that cancels", async () => {
  await withClock(async (clock) => {
    const { fake, resolver, stale } = setup();
    await resolver.resolve4("api.example");
    clock.tick(10_000);
    fake.fail(SERVER, "hang");
    const controller = new AbortController();
    const aborted = caught(resolver.resolve4("api.example", { signal: controller.signal }));
    const view = resolver.scope();
    const viewed = caught(view.resolve4("api.example"));
    await clock.tickAsync(100);
    controller.abort();
    view.cancel();
    assert.deepStrictEqual([(await aborted).code, (await viewed).code], ["ECANCELLED", "ECANCELLED"]);
    assert.equal(stale.length, 0);
    // Whereas a lookup that runs into the timeout is served stale.
    const timedOut = resolver.resolve4("api.example");
    await clock.tickAsync(5_000);
    assert.deepStrictEqual(await timedOut, ["10.0.0.1"]);
    assert.equal(stale.length, 1);
  });
});

Deno.test("DohResolver serves one stale answer to every merged caller after one failed query", async () => {
  await withClock(async (clock) => {
    const { fake, resolver, stale, warnings } = setup();
    await resolver.resolve4("api.example");
    clock.tick(10_000);
    fake.fail(SERVER, "network");
    const results = await Promise.all(Array.from({ length: 3 }, () => resolver.resolve4("api.example")));
    assert.deepStrictEqual(results, [["10.0.0.1"], ["10.0.0.1"], ["10.0.0.1"]]);
    assert.equal(fake.requests.length, 2);
    assert.equal(staleWarnings(warnings), 1);
    assert.equal(stale.length, 3, "each caller's answer is reported");
  });
});

Deno.test("DohResolver logs and ignores an onStale that throws", async () => {
  await withClock(async (clock) => {
    const { fake, resolver, errors } = setup({
      onStale: () => {
        throw new Error("boom");
      },
    });
    await resolver.resolve4("api.example");
    clock.tick(10_000);
    fake.fail(SERVER, "network");
    assert.deepStrictEqual(await resolver.resolve4("api.example"), ["10.0.0.1"]);
    assert.equal(errors.length, 1);
  });
});

Deno.test("DohResolver rejects invalid serve-stale and merging options eagerly", () => {
  const cases: [DohResolverOptions, RegExp][] = [
    [{ maxStale: -1 }, /^RangeError: options\.maxStale must be a finite number >= 0, got -1$/],
    [{ staleTtl: Infinity }, /^RangeError: options\.staleTtl must be a finite number >= 0, got Infinity$/],
    [{ staleTtl: "30" as unknown as number }, /^TypeError: options\.staleTtl must be a number, got "30"$/],
    [{ onStale: 1 as unknown as () => void }, /^TypeError: options\.onStale must be a function, got 1$/],
    [
      { mergeInFlight: "yes" as unknown as boolean },
      /^TypeError: options\.mergeInFlight must be a boolean, got "yes"$/,
    ],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => new DohResolver(options), (error: Error) => message.test(String(error)));
  }
});

function entry(expires: number): CachedAnswer {
  return { rcode: RCODE.NOERROR, records: [], storedAt: 0, age: 0, expires };
}

Deno.test("AnswerCache keeps an expired entry for maxStale and drops it after", () => {
  const cache = new AnswerCache(10, 5_000);
  const e = entry(1_000);
  cache.set("k", e);
  assert.equal(cache.get("k", 999), e);
  assert.equal(cache.get("k", 5_999), e, "stale, still there");
  assert.equal(cache.get("k", 6_000), undefined);
  assert.equal(cache.size, 0);
});

Deno.test("AnswerCache counts stale entries toward its bound", () => {
  const cache = new AnswerCache(2, 60_000);
  cache.set("old", entry(1_000));
  cache.set("b", entry(100_000));
  cache.set("c", entry(100_000));
  assert.equal(cache.size, 2);
  assert.equal(cache.get("old", 2_000), undefined, "the least recently used went first");
});
