// lookupSrv: one SRV lookup turned into instances. The go-kit bugs it fixes: trailing dots kept,
// priority and weight dropped, one port-0 record failing the whole lookup (issue #892).
import { assert } from "../_deps.ts";
import { a, aaaa, FakeDoh, srv } from "../_fakes/doh.ts";
import { DnsError } from "../../src/dns/errors.ts";
import { DohResolver } from "../../src/dns/resolver.ts";
import { joinHostPort, lookupSrv, type SrvResolver } from "../../src/dnssrv/lookup.ts";
import type { Logger } from "../../src/types.ts";

type Srv = { name: string; port: number; priority: number; weight: number; ttl?: number };

/** A resolver answering resolveSrv with `records` and recording the options it was given. */
function resolverOf(records: unknown, extra: Partial<SrvResolver> = {}) {
  const calls: { method: string; name: string; options: unknown }[] = [];
  const resolver: SrvResolver = {
    resolveSrv(name, options) {
      calls.push({ method: "resolveSrv", name, options });
      return Promise.resolve(records as Srv[]);
    },
    ...extra,
  };
  return { resolver, calls };
}

function recordingLogger() {
  const warnings: [string, Record<string, unknown> | undefined][] = [];
  const logger: Logger = { debug() {}, info() {}, warn: (m, d) => void warnings.push([m, d]), error() {} };
  return { logger, warnings };
}

Deno.test("lookupSrv turns records into target:port instances without the trailing dot, keeping priority and weight", async () => {
  const { resolver, calls } = resolverOf([
    { name: "api-1.example.", port: 8080, priority: 10, weight: 60, ttl: 30 },
    { name: "api-2.example", port: 8081, priority: 20, weight: 0, ttl: 12 },
  ]);
  const result = await lookupSrv(resolver, "_http._tcp.api.example");
  assert.deepStrictEqual(result, {
    instances: [
      { instance: "api-1.example:8080", priority: 10, weight: 60 },
      { instance: "api-2.example:8081", priority: 20, weight: 0 },
    ],
    ttl: 12,
  });
  // The full name is asked verbatim, with TTLs requested.
  assert.deepStrictEqual(calls, [{
    method: "resolveSrv",
    name: "_http._tcp.api.example",
    options: { ttl: true },
  }]);
});

Deno.test("lookupSrv brackets IPv6 targets", async () => {
  const { resolver } = resolverOf([
    { name: "2001:db8::1", port: 443, priority: 1, weight: 1 },
    { name: "10.0.0.1", port: 80, priority: 1, weight: 1 },
  ]);
  const { instances, ttl } = await lookupSrv(resolver, "_x._tcp.example");
  assert.deepStrictEqual(instances.map((i) => typeof i === "string" ? i : i.instance), [
    "[2001:db8::1]:443",
    "10.0.0.1:80",
  ]);
  assert.equal(ttl, undefined, "a resolver without TTLs (Node's) gives none");
  assert.equal(joinHostPort("::1", 8080), "[::1]:8080");
  assert.equal(joinHostPort("host.example", 8080), "host.example:8080");
});

Deno.test("lookupSrv skips a port-0 record with a warning and keeps the rest (go-kit #892 failed them all)", async () => {
  const { logger, warnings } = recordingLogger();
  const { resolver } = resolverOf([
    { name: "unnamed.example.", port: 0, priority: 10, weight: 50, ttl: 30 },
    { name: "named.example.", port: 8080, priority: 10, weight: 50, ttl: 30 },
  ]);
  const { instances } = await lookupSrv(resolver, "_x._tcp.example", { logger });
  assert.deepStrictEqual(instances, [{ instance: "named.example:8080", priority: 10, weight: 50 }]);
  assert.deepStrictEqual(warnings, [["SRV record skipped: port 0", {
    name: "_x._tcp.example",
    target: "unnamed.example",
  }]]);
});

Deno.test("lookupSrv fails with ENODATA when every record has port 0", async () => {
  const { resolver } = resolverOf([
    { name: "a.example", port: 0, priority: 1, weight: 1 },
    { name: "b.example", port: 0, priority: 1, weight: 1 },
  ]);
  await assert.rejects(lookupSrv(resolver, "_x._tcp.example"), (e: unknown) => {
    assert.ok(e instanceof DnsError);
    assert.equal(e.code, "ENODATA");
    assert.equal(e.hostname, "_x._tcp.example");
    return true;
  });
});

Deno.test("lookupSrv treats a lone '.' target as an empty set, not an error (RFC 2782)", async () => {
  const { logger, warnings } = recordingLogger();
  for (const name of ["", "."]) {
    const { resolver } = resolverOf([{ name, port: 0, priority: 0, weight: 0, ttl: 3600 }]);
    assert.deepStrictEqual(await lookupSrv(resolver, "_x._tcp.example", { logger }), {
      instances: [],
      ttl: 3600,
    });
  }
  assert.deepStrictEqual(warnings, []);
  // Among other records a root target is skipped.
  const { resolver } = resolverOf([
    { name: ".", port: 0, priority: 0, weight: 0 },
    { name: "a.example", port: 80, priority: 0, weight: 0 },
  ]);
  const { instances } = await lookupSrv(resolver, "_x._tcp.example", { logger });
  assert.deepStrictEqual(instances, [{ instance: "a.example:80", priority: 0, weight: 0 }]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]![0], /root target/);
});

Deno.test("lookupSrv gives an empty set for an empty answer", async () => {
  const { resolver } = resolverOf([]);
  assert.deepStrictEqual(await lookupSrv(resolver, "_x._tcp.example"), { instances: [], ttl: undefined });
});

Deno.test("lookupSrv skips malformed records with a warning and rejects a non-array answer", async () => {
  const { logger, warnings } = recordingLogger();
  const { resolver } = resolverOf([
    null,
    { name: 42, port: 80, priority: 1, weight: 1 },
    { name: "a.example", port: 70_000, priority: 1, weight: 1 },
    { name: "a.example", port: 80, priority: -1, weight: 1 },
    { name: "a.example", port: 80, priority: 1, weight: 1.5 },
    { name: "ok.example", port: 80, priority: 1, weight: 1, ttl: -5 },
  ]);
  const { instances, ttl } = await lookupSrv(resolver, "_x._tcp.example", { logger });
  assert.deepStrictEqual(instances, [{ instance: "ok.example:80", priority: 1, weight: 1 }]);
  assert.equal(ttl, undefined, "a negative TTL is ignored");
  assert.equal(warnings.length, 5);
  assert.ok(warnings.every(([m]) => m === "SRV record skipped: malformed"));

  await assert.rejects(
    lookupSrv(resolverOf({ records: [] }).resolver, "_x._tcp.example"),
    (e: unknown) => e instanceof DnsError && e.code === "EBADRESP",
  );
});

Deno.test("lookupSrv passes the signal to the resolver and propagates its errors", async () => {
  const signal = new AbortController().signal;
  const { resolver, calls } = resolverOf([]);
  await lookupSrv(resolver, "_x._tcp.example", { signal });
  assert.deepStrictEqual(calls[0]!.options, { ttl: true, signal });
  const failure = new DnsError("ENOTFOUND", "querySrv", "_x._tcp.example");
  const failing: SrvResolver = { resolveSrv: () => Promise.reject(failure) };
  await assert.rejects(lookupSrv(failing, "_x._tcp.example"), (e: unknown) => e === failure);
});

Deno.test("lookupSrv validates its arguments", async () => {
  await assert.rejects(lookupSrv({} as SrvResolver, "_x._tcp.example"), TypeError);
  await assert.rejects(lookupSrv(resolverOf([]).resolver, ""), TypeError);
});

/** A resolver with addresses for targets, recording resolve4/resolve6 calls. */
function addressResolver() {
  const calls: string[] = [];
  const table: Record<string, { address: string; ttl: number }[] | string[]> = {
    "4:a.example": [{ address: "10.0.0.1", ttl: 8 }, { address: "10.0.0.2", ttl: 9 }],
    "6:a.example": [{ address: "2001:db8::1", ttl: 7 }],
    "4:b.example": ["10.0.0.3"], // a resolver without TTLs
  };
  const lookup = (family: 4 | 6) => (host: string, options: { ttl: true; signal?: AbortSignal }) => {
    calls.push(`${family}:${host}:${options.ttl}`);
    const found = table[`${family}:${host}`];
    return found ? Promise.resolve(found) : Promise.reject(new DnsError("ENODATA", "queryA", host));
  };
  return { calls, extra: { resolve4: lookup(4), resolve6: lookup(6) } };
}

const TARGETS = [
  { name: "a.example.", port: 80, priority: 1, weight: 5, ttl: 30 },
  { name: "b.example.", port: 81, priority: 2, weight: 6, ttl: 30 },
  { name: "10.9.9.9", port: 82, priority: 3, weight: 7, ttl: 30 },
];

Deno.test("lookupSrv with resolveTargets replaces each target by its addresses", async (t) => {
  const cases: ["ipv4" | "ipv6" | "both", string[], string[], number][] = [
    ["ipv4", ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:81", "10.9.9.9:82"], [
      "4:a.example:true",
      "4:b.example:true",
    ], 8],
    ["ipv6", ["[2001:db8::1]:80", "10.9.9.9:82"], ["6:a.example:true", "6:b.example:true"], 7],
    [
      "both",
      ["10.0.0.1:80", "10.0.0.2:80", "[2001:db8::1]:80", "10.0.0.3:81", "10.9.9.9:82"],
      ["4:a.example:true", "6:a.example:true", "4:b.example:true", "6:b.example:true"],
      7,
    ],
  ];
  for (const [mode, want, asked, ttl] of cases) {
    await t.step(mode, async () => {
      const { calls, extra } = addressResolver();
      const { logger, warnings } = recordingLogger();
      const { resolver } = resolverOf(TARGETS, extra);
      const result = await lookupSrv(resolver, "_x._tcp.example", { resolveTargets: mode, logger });
      assert.deepStrictEqual(result.instances.map((i) => typeof i === "string" ? i : i.instance), want);
      assert.deepStrictEqual(calls, asked, "IP literal targets are not looked up");
      assert.equal(result.ttl, ttl, "the smallest TTL includes the addresses'");
      const first = result.instances[0]!;
      assert.deepStrictEqual(typeof first === "string" ? undefined : [first.priority, first.weight], [1, 5]);
      assert.equal(warnings.length, mode === "ipv6" ? 1 : 0, "b.example has no IPv6 address");
    });
  }
});

Deno.test("lookupSrv with resolveTargets fails when no target has an address, and needs the methods", async () => {
  const { extra } = addressResolver();
  const { resolver } = resolverOf([{ name: "nothing.example", port: 80, priority: 1, weight: 1 }], extra);
  await assert.rejects(
    lookupSrv(resolver, "_x._tcp.example", { resolveTargets: "both" }),
    (e: unknown) => e instanceof DnsError && e.code === "ENODATA" && e.hostname === "nothing.example",
  );
  const bare = resolverOf([{ name: "a.example", port: 80, priority: 1, weight: 1 }]).resolver;
  await assert.rejects(
    lookupSrv(bare, "_x._tcp.example", { resolveTargets: "ipv4" }),
    (e: unknown) => e instanceof TypeError && /resolve4/.test(e.message),
  );
});

Deno.test("lookupSrv with resolveTargets rethrows at once when its signal aborts", async () => {
  const controller = new AbortController();
  const reason = new Error("stop");
  let asked = 0;
  const resolver: SrvResolver = {
    resolveSrv: () =>
      Promise.resolve([
        { name: "a.example", port: 80, priority: 1, weight: 1 },
        { name: "b.example", port: 80, priority: 1, weight: 1 },
      ]),
    resolve4: () => {
      asked++;
      controller.abort(reason);
      return Promise.reject(reason);
    },
  };
  await assert.rejects(
    lookupSrv(resolver, "_x._tcp.example", { resolveTargets: "ipv4", signal: controller.signal }),
    (e: unknown) => e === reason,
  );
  assert.equal(asked, 1, "b.example is not looked up after the abort");
});

Deno.test("lookupSrv over DohResolver resolves targets from the SRV answer's additional section without more fetches", async () => {
  const fake = new FakeDoh();
  const name = "_http._tcp.api.example";
  fake.set(name, "SRV", {
    answers: [srv(name, 10, 60, 8080, "api-1.example", 30), srv(name, 20, 40, 8081, "api-2.example", 30)],
    additionals: [a("api-1.example", "10.0.0.1", 30), aaaa("api-2.example", "2001:db8::2", 30)],
  });
  const resolver = new DohResolver({ servers: ["https://doh.test/dns-query"], fetch: fake.fetch });
  const result = await lookupSrv(resolver, name, { resolveTargets: "both" });
  assert.deepStrictEqual(result.instances, [
    { instance: "10.0.0.1:8080", priority: 10, weight: 60 },
    { instance: "[2001:db8::2]:8081", priority: 20, weight: 40 },
  ]);
  // One SRV query, plus AAAA for api-1 and A for api-2, which the additional section lacked.
  assert.deepStrictEqual(fake.requests.map((r) => `${r.question.type}:${r.question.name}`), [
    `33:${name}`,
    "28:api-1.example",
    "1:api-2.example",
  ]);
});
