// srvLookup: the result's shape, the TTL (smallest record TTL in ms), one resolver view per lookup
// when the resolver has scope(), aborts and errors.
import { assert, fakeTime } from "../_deps.ts";
import { a, FakeDoh, srv } from "../_fakes/doh.ts";
import { DnsError } from "../../src/dns/errors.ts";
import { DohResolver } from "../../src/dns/resolver.ts";
import type { SrvResolver } from "../../src/dnssrv/lookup.ts";
import { type ScopedSrvResolver, srvLookup } from "../../src/dnssrv/pull.ts";
import { PullInstancer } from "../../src/pull_instancer.ts";

const NAME = "_http._tcp.api.example";
const signal = () => new AbortController().signal;

type Srv = { name: string; port: number; priority: number; weight: number; ttl?: number };

function resolverOf(records: Srv[] | (() => Promise<Srv[]>)) {
  const calls: { name: string; options: { signal?: AbortSignal; ttl?: boolean } | undefined }[] = [];
  const resolver: SrvResolver = {
    resolveSrv(name, options) {
      calls.push({ name, options });
      return typeof records === "function" ? records() : Promise.resolve(records);
    },
  };
  return { resolver, calls };
}

Deno.test("srvLookup gives target:port instances with priority and weight, and the smallest TTL in ms", async () => {
  const { resolver, calls } = resolverOf([
    { name: "api-1.example.", port: 8080, priority: 10, weight: 60, ttl: 30 },
    { name: "api-2.example.", port: 8081, priority: 20, weight: 40, ttl: 12 },
  ]);
  const s = signal();
  const result = await srvLookup(resolver, NAME)({ signal: s });
  assert.deepStrictEqual(result, {
    instances: [
      { instance: "api-1.example:8080", priority: 10, weight: 60 },
      { instance: "api-2.example:8081", priority: 20, weight: 40 },
    ],
    ttl: 12_000,
  });
  assert.deepStrictEqual(calls, [{ name: NAME, options: { ttl: true, signal: s } }]);
});

Deno.test("srvLookup has no TTL when the resolver reports none, and 0 for a TTL of 0", async () => {
  const none = resolverOf([{ name: "api-1.example", port: 8080, priority: 1, weight: 1 }]);
  assert.equal((await srvLookup(none.resolver, NAME)({ signal: signal() })).ttl, undefined);
  const zero = resolverOf([{ name: "api-1.example", port: 8080, priority: 1, weight: 1, ttl: 0 }]);
  assert.equal((await srvLookup(zero.resolver, NAME)({ signal: signal() })).ttl, 0);
  // "." : decidedly not available, an empty set with its TTL.
  const dot = resolverOf([{ name: ".", port: 0, priority: 0, weight: 0, ttl: 60 }]);
  assert.deepStrictEqual(await srvLookup(dot.resolver, NAME)({ signal: signal() }), {
    instances: [],
    ttl: 60_000,
  });
});

Deno.test("srvLookup takes one view from scope() per lookup, when the resolver has one", async () => {
  const views: string[] = [];
  let n = 0;
  const base = resolverOf([{ name: "api-1.example", port: 8080, priority: 1, weight: 1, ttl: 5 }]);
  const resolver: ScopedSrvResolver = {
    resolveSrv: () => Promise.reject(new Error("the shared resolver must not be used directly")),
    scope() {
      const id = `view-${++n}`;
      return {
        resolveSrv(name, options) {
          views.push(id);
          return base.resolver.resolveSrv(name, options);
        },
      };
    },
  };
  const lookup = srvLookup(resolver, NAME);
  await lookup({ signal: signal() });
  await lookup({ signal: signal() });
  assert.deepStrictEqual(views, ["view-1", "view-2"]);
});

Deno.test("srvLookup over a DohResolver: a view per lookup, the shared cache answering within the TTL", async () => {
  const fake = new FakeDoh();
  fake.set(NAME, "SRV", {
    answers: [srv(NAME, 10, 60, 8080, "api-1.example", 30)],
    additionals: [a("api-1.example", "10.0.0.1", 20)],
  });
  const clock = fakeTime(0);
  try {
    const resolver = new DohResolver({ servers: ["https://doh.test/dns-query"], fetch: fake.fetch });
    const lookup = srvLookup(resolver, NAME, { resolveTargets: "ipv4" });
    const first = await lookup({ signal: signal() });
    assert.deepStrictEqual(first, {
      instances: [{ instance: "10.0.0.1:8080", priority: 10, weight: 60 }],
      ttl: 20_000,
    });
    assert.equal(fake.requests.length, 1, "the target's address came in the additional section");
    await lookup({ signal: signal() });
    assert.equal(fake.requests.length, 1, "the second lookup is answered by the shared cache");
  } finally {
    clock.uninstall();
  }
});

Deno.test("srvLookup checks its arguments when built", () => {
  const { resolver } = resolverOf([]);
  const bad: [() => unknown, RegExp][] = [
    [() => srvLookup({} as SrvResolver, NAME), /resolver must have a resolveSrv\(\) method/],
    [() => srvLookup(resolver, ""), /name must be a non-empty string, got ""/],
    [() => srvLookup(resolver, NAME, null as never), /options must be an object, got null/],
    [() => srvLookup(resolver, NAME, { resolveTargets: "v4" as never }), /resolveTargets must be .*got "v4"/],
    [() => srvLookup(resolver, NAME, { resolveTargets: "ipv6" }), /resolver must have a resolve6\(\) method/],
  ];
  for (const [build, message] of bad) assert.throws(build, message);
});

Deno.test("srvLookup honours its signal before and during the query", async () => {
  const fake = new FakeDoh();
  fake.fail("https://doh.test/dns-query", "hang");
  const resolver = new DohResolver({ servers: ["https://doh.test/dns-query"], fetch: fake.fetch });
  const lookup = srvLookup(resolver, NAME);
  const before = new AbortController();
  before.abort(new Error("request gone"));
  await assert.rejects(lookup({ signal: before.signal }), /request gone/);
  assert.equal(fake.requests.length, 0);

  const during = new AbortController();
  const pending = lookup({ signal: during.signal });
  await new Promise((resolve) => setTimeout(resolve, 0));
  during.abort(new Error("client went away"));
  // The resolver reports an abort the node:dns way.
  await assert.rejects(pending, (e: unknown) => e instanceof DnsError && e.code === "ECANCELLED");
  assert.equal(fake.requests.length, 1);
});

Deno.test("srvLookup passes resolver errors on and rejects unusable answers with a clear error", async () => {
  const nx = new FakeDoh(); // knows no name: NXDOMAIN
  const resolver = new DohResolver({ servers: ["https://doh.test/dns-query"], fetch: nx.fetch });
  const missing = await srvLookup(resolver, NAME)({ signal: signal() }).then(() => undefined, (e) => e);
  assert.ok(missing instanceof DnsError, String(missing));
  assert.equal(missing.code, "ENOTFOUND");

  const garbage = resolverOf(() => Promise.resolve("nope" as never));
  const bad = await srvLookup(garbage.resolver, NAME)({ signal: signal() }).then(() => undefined, (e) => e);
  assert.ok(bad instanceof DnsError && bad.code === "EBADRESP", String(bad));
  assert.match(bad.message, /resolver returned "nope"/);

  const ports = resolverOf([{ name: "api-1.example", port: 0, priority: 1, weight: 1, ttl: 5 }]);
  const port0 = await srvLookup(ports.resolver, NAME)({ signal: signal() }).then(() => undefined, (e) => e);
  assert.ok(port0 instanceof DnsError && port0.code === "ENODATA", String(port0));

  const noView: ScopedSrvResolver = { ...resolverOf([]).resolver, scope: () => ({}) as SrvResolver };
  await assert.rejects(
    srvLookup(noView, NAME)({ signal: signal() }),
    /resolver.scope\(\) must have a resolveSrv\(\) method/,
  );
});

Deno.test("a PullInstancer over srvLookup stays fresh for the records' TTL", async () => {
  const clock = fakeTime(0);
  try {
    let port = 8080;
    const { resolver, calls } = resolverOf(() =>
      Promise.resolve([{ name: "10.0.0.1", port, priority: 1, weight: 1, ttl: 30 }])
    );
    using instancer = new PullInstancer(srvLookup(resolver, NAME), { ttl: 5_000, staleWhileRevalidate: 0 });
    await instancer.refresh();
    port = 8081;
    await clock.tickAsync(29_999);
    assert.equal((await instancer.refresh()).source, "fresh");
    await clock.tickAsync(1);
    assert.equal((await instancer.refresh()).source, "refreshed");
    assert.deepStrictEqual(instancer.state()?.instances, ["10.0.0.1:8081"]);
    assert.equal(calls.length, 2);
  } finally {
    clock.uninstall();
  }
});
