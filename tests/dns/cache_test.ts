// The DohResolver's answer cache: hits, expiry at the smallest TTL less the HTTP Age (RFC 8484 5.1),
// negative caching from the SOA (RFC 2308), SRV targets' addresses from the additional section, the
// caps, and the bounded LRU underneath (AnswerCache).
import { assert } from "../_deps.ts";
import { a, aaaa, cname, FakeDoh, soa, srv } from "../_fakes/doh.ts";
import { AnswerCache, type CachedAnswer, cacheKey } from "../../src/dns/_cache.ts";
import { DnsError } from "../../src/dns/errors.ts";
import { DohResolver, type DohResolverOptions } from "../../src/dns/resolver.ts";
import { RCODE, RR_TYPE } from "../../src/dns/wire.ts";

const SERVER = "https://doh.test/dns-query";
const T0 = 1_700_000_000_000;

function setup(options: DohResolverOptions = {}) {
  const fake = new FakeDoh();
  const clock = { now: T0 };
  const resolver = new DohResolver({
    servers: [SERVER],
    fetch: fake.fetch,
    now: () => clock.now,
    ...options,
  });
  return { fake, resolver, clock };
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DnsError, String(error));
    return error.code;
  }
  return "resolved";
}

Deno.test("DohResolver answers a repeated query from its cache without a second fetch", async () => {
  const { fake, resolver } = setup();
  fake.set("_s._tcp.example", "SRV", { answers: [srv("_s._tcp.example", 1, 1, 80, "t.example")] });
  const first = await resolver.resolveSrv("_s._tcp.example");
  const second = await resolver.resolveSrv("_S._TCP.example.");
  assert.deepStrictEqual(second, first);
  assert.notEqual(second, first, "each caller gets its own array");
  assert.equal(fake.requests.length, 1);
});

Deno.test("DohResolver keeps an answer for its smallest TTL, CNAMEs included", async () => {
  const { fake, resolver, clock } = setup();
  fake.set("www.example", "A", {
    answers: [
      cname("www.example", "api.example", 10),
      a("api.example", "10.0.0.1", 300),
      a("api.example", "10.0.0.2", 60),
    ],
  });
  await resolver.resolve4("www.example");
  clock.now = T0 + 9_999;
  assert.deepStrictEqual(await resolver.resolve4("www.example", { ttl: true }), [
    { address: "10.0.0.1", ttl: 291 },
    { address: "10.0.0.2", ttl: 51 },
  ]);
  assert.equal(fake.requests.length, 1);
  clock.now = T0 + 10_000;
  await resolver.resolve4("www.example");
  assert.equal(fake.requests.length, 2);
});

Deno.test("DohResolver subtracts the HTTP Age from the freshness and from reported TTLs", async () => {
  const { fake, resolver, clock } = setup();
  fake.set("api.example", "A", { answers: [a("api.example", "10.0.0.1", 10)], headers: { age: "4" } });
  assert.deepStrictEqual(await resolver.resolve4("api.example", { ttl: true }), [{
    address: "10.0.0.1",
    ttl: 6,
  }]);
  clock.now = T0 + 2_000;
  assert.deepStrictEqual(await resolver.resolve4("api.example", { ttl: true }), [{
    address: "10.0.0.1",
    ttl: 4,
  }]);
  clock.now = T0 + 5_999;
  await resolver.resolve4("api.example");
  assert.equal(fake.requests.length, 1);
  clock.now = T0 + 6_000;
  await resolver.resolve4("api.example");
  assert.equal(fake.requests.length, 2);
});

Deno.test("DohResolver does not cache an answer whose Age has used up its TTL, and ignores a bad Age", async () => {
  const { fake, resolver } = setup();
  fake.set("old.example", "A", { answers: [a("old.example", "10.0.0.1", 10)], headers: { age: "10" } });
  assert.deepStrictEqual(await resolver.resolve4("old.example", { ttl: true }), [{
    address: "10.0.0.1",
    ttl: 0,
  }]);
  await resolver.resolve4("old.example");
  assert.equal(fake.requests.length, 2);
  fake.set("odd.example", "A", { answers: [a("odd.example", "10.0.0.1", 10)], headers: { age: "soon" } });
  assert.deepStrictEqual(await resolver.resolve4("odd.example", { ttl: true }), [{
    address: "10.0.0.1",
    ttl: 10,
  }]);
});

Deno.test("DohResolver does not cache a TTL of 0", async () => {
  const { fake, resolver } = setup();
  fake.set("zero.example", "A", { answers: [a("zero.example", "10.0.0.1", 0)] });
  await resolver.resolve4("zero.example");
  await resolver.resolve4("zero.example");
  assert.equal(fake.requests.length, 2);
});

Deno.test("DohResolver caches NXDOMAIN and NODATA for the SOA minimum (RFC 2308)", async (t) => {
  await t.step("NXDOMAIN", async () => {
    const { fake, resolver, clock } = setup();
    fake.set("gone.example", "A", { rcode: RCODE.NXDOMAIN, authorities: [soa("example", 300, 20)] });
    assert.equal(await code(resolver.resolve4("gone.example")), "ENOTFOUND");
    clock.now = T0 + 19_999;
    assert.equal(await code(resolver.resolve4("gone.example")), "ENOTFOUND");
    assert.equal(fake.requests.length, 1);
    clock.now = T0 + 20_000;
    fake.set("gone.example", "A", { answers: [a("gone.example", "10.0.0.9")] });
    assert.deepStrictEqual(await resolver.resolve4("gone.example"), ["10.0.0.9"]);
    assert.equal(fake.requests.length, 2);
  });
  await t.step("NODATA, capped by the SOA's own TTL", async () => {
    const { fake, resolver, clock } = setup();
    fake.set("api.example", "AAAA", { authorities: [soa("example", 15, 600)] });
    assert.equal(await code(resolver.resolve6("api.example")), "ENODATA");
    clock.now = T0 + 14_999;
    assert.equal(await code(resolver.resolve6("api.example")), "ENODATA");
    assert.equal(fake.requests.length, 1);
    clock.now = T0 + 15_000;
    assert.equal(await code(resolver.resolve6("api.example")), "ENODATA");
    assert.equal(fake.requests.length, 2);
  });
  await t.step("NXDOMAIN in JSON mode", async () => {
    const { fake, resolver, clock } = setup({ format: "json" });
    fake.set("gone.example", "SRV", { rcode: RCODE.NXDOMAIN, authorities: [soa("example", 300, 30)] });
    assert.equal(await code(resolver.resolveSrv("gone.example")), "ENOTFOUND");
    clock.now = T0 + 29_999;
    assert.equal(await code(resolver.resolveSrv("gone.example")), "ENOTFOUND");
    assert.equal(fake.requests.length, 1);
    clock.now = T0 + 30_000;
    assert.equal(await code(resolver.resolveSrv("gone.example")), "ENOTFOUND");
    assert.equal(fake.requests.length, 2);
  });
  await t.step("without an SOA, not at all", async () => {
    const { fake, resolver } = setup();
    fake.set("bare.example", "A", { rcode: RCODE.NXDOMAIN });
    assert.equal(await code(resolver.resolve4("bare.example")), "ENOTFOUND");
    assert.equal(await code(resolver.resolve4("bare.example")), "ENOTFOUND");
    assert.equal(fake.requests.length, 2);
  });
});

Deno.test("DohResolver caches the additional-section addresses of SRV targets, and nothing else", async () => {
  const { fake, resolver } = setup();
  fake.set("_s._tcp.example", "SRV", {
    answers: [
      srv("_s._tcp.example", 1, 1, 80, "t1.example", 60),
      srv("_s._tcp.example", 1, 1, 80, "t2.example", 60),
    ],
    additionals: [
      a("T1.example", "10.0.0.1", 20),
      a("t1.example", "10.0.0.2", 40),
      aaaa("t2.example", "2001:db8::2", 30),
      a("planted.example", "10.6.6.6", 300),
    ],
  });
  await resolver.resolveSrv("_s._tcp.example");
  assert.equal(fake.requests.length, 1);
  assert.deepStrictEqual(await resolver.resolve4("t1.example", { ttl: true }), [
    { address: "10.0.0.1", ttl: 20 },
    { address: "10.0.0.2", ttl: 40 },
  ]);
  assert.deepStrictEqual(await resolver.resolve6("t2.example"), ["2001:db8::2"]);
  assert.equal(fake.requests.length, 1, "target addresses came from the cache");
  // A name that is no target of the answer was not taken from the additional section.
  assert.equal(await code(resolver.resolve4("planted.example")), "ENOTFOUND");
  assert.equal(await code(resolver.resolve6("t1.example")), "ENOTFOUND");
  assert.equal(fake.requests.length, 3);
});

Deno.test("DohResolver caps cached lifetimes at maxTtl", async () => {
  const { fake, resolver, clock } = setup({ maxTtl: 60 });
  fake.set("long.example", "A", { answers: [a("long.example", "10.0.0.1", 86_400)] });
  await resolver.resolve4("long.example");
  clock.now = T0 + 59_999;
  await resolver.resolve4("long.example");
  assert.equal(fake.requests.length, 1);
  clock.now = T0 + 60_000;
  await resolver.resolve4("long.example");
  assert.equal(fake.requests.length, 2);
});

Deno.test("DohResolver with cacheSize 0 asks the server every time", async () => {
  const { fake, resolver } = setup({ cacheSize: 0 });
  fake.set("api.example", "A", { answers: [a("api.example", "10.0.0.1", 300)] });
  await resolver.resolve4("api.example");
  await resolver.resolve4("api.example");
  assert.equal(fake.requests.length, 2);
});

Deno.test("DohResolver evicts the least recently used answer when the cache is full", async () => {
  const { fake, resolver } = setup({ cacheSize: 2 });
  for (const name of ["a.example", "b.example", "c.example"]) {
    fake.set(name, "A", { answers: [a(name, "10.0.0.1")] });
  }
  await resolver.resolve4("a.example");
  await resolver.resolve4("b.example");
  await resolver.resolve4("a.example"); // a is now the most recent
  await resolver.resolve4("c.example"); // evicts b
  assert.equal(fake.requests.length, 3);
  await resolver.resolve4("a.example");
  await resolver.resolve4("c.example");
  assert.equal(fake.requests.length, 3);
  await resolver.resolve4("b.example");
  assert.equal(fake.requests.length, 4);
});

Deno.test("DohResolver keys its cache by type and clears it on setServers", async () => {
  const { fake, resolver } = setup();
  fake.set("api.example", "A", { answers: [a("api.example", "10.0.0.1")] });
  fake.set("api.example", "AAAA", { answers: [aaaa("api.example", "::1")] });
  await resolver.resolve4("api.example");
  await resolver.resolve6("api.example");
  assert.equal(fake.requests.length, 2);
  resolver.setServers([SERVER]);
  await resolver.resolve4("api.example");
  assert.equal(fake.requests.length, 3);
});

function entry(storedAt: number, expires: number, rcode: number = RCODE.NOERROR): CachedAnswer {
  return { rcode, records: [], storedAt, age: 0, expires };
}

Deno.test("AnswerCache drops an entry once its expiry is reached", () => {
  const cache = new AnswerCache(10);
  const e = entry(0, 1000);
  cache.set("k", e);
  assert.equal(cache.get("k", 999), e);
  assert.equal(cache.get("k", 1000), undefined);
  assert.equal(cache.size, 0);
});

Deno.test("AnswerCache ignores entries that are already expired and stores nothing when its size is 0", () => {
  const cache = new AnswerCache(10);
  cache.set("k", entry(5, 5));
  assert.equal(cache.size, 0);
  const off = new AnswerCache(0);
  off.set("k", entry(0, 10));
  assert.equal(off.size, 0);
});

Deno.test("AnswerCache evicts the least recently read or written entry beyond its size", () => {
  const cache = new AnswerCache(2);
  cache.set("a", entry(0, 10));
  cache.set("b", entry(0, 10));
  cache.get("a", 1);
  cache.set("c", entry(0, 10));
  assert.equal(cache.size, 2);
  assert.equal(cache.get("b", 1), undefined);
  assert.notEqual(cache.get("a", 1), undefined);
  assert.notEqual(cache.get("c", 1), undefined);
  cache.set("a", entry(0, 20)); // rewriting refreshes too
  cache.set("d", entry(0, 10));
  assert.equal(cache.get("c", 1), undefined);
  assert.equal(cache.get("a", 1)?.expires, 20);
  cache.clear();
  assert.equal(cache.size, 0);
});

Deno.test("cacheKey ignores case and a trailing dot and separates types", () => {
  assert.equal(cacheKey(RR_TYPE.A, "API.Example."), cacheKey(RR_TYPE.A, "api.example"));
  assert.notEqual(cacheKey(RR_TYPE.A, "api.example"), cacheKey(RR_TYPE.AAAA, "api.example"));
});
