// DohResolver merging identical lookups in flight: one DoH request for concurrent identical lookups,
// separate ones for different questions, callers leaving on their own signals without hurting the
// others, the shared query aborted once nobody waits, and scope() views that share the settled cache
// but never a query in flight (Cloudflare Workers must not await another request's promise).
import { assert } from "../_deps.ts";
import { a, aaaa, FakeDoh, srv } from "../_fakes/doh.ts";
import { DnsError } from "../../src/dns/errors.ts";
import { DohResolver, type DohResolverOptions } from "../../src/dns/resolver.ts";

const SERVER = "https://doh.test/dns-query";

/**
 * A FakeDoh behind a gate: requests are counted (with their signals) as they arrive and answered only
 * once `open()` is called, so that lookups made meanwhile are truly concurrent. No timer runs out in
 * these tests: the gate opens, or the request's signal aborts, well within the 5 s timeout.
 */
function setup(options: DohResolverOptions = {}) {
  const fake = new FakeDoh();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  const signals: AbortSignal[] = [];
  const resolver = new DohResolver({
    servers: [SERVER],
    fetch: (input, init) => {
      const signal = init!.signal!;
      signals.push(signal);
      // Like a real fetch, it rejects as soon as its signal aborts.
      return new Promise<Response>((resolve, reject) => {
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        gate.then(() => signal.aborted || resolve(fake.fetch(input, init)));
      });
    },
    ...options,
  });
  fake.set("api.example", "A", { answers: [a("api.example", "10.0.0.1"), a("api.example", "10.0.0.2")] });
  fake.set("api.example", "AAAA", { answers: [aaaa("api.example", "2001:db8::1")] });
  fake.set("other.example", "A", { answers: [a("other.example", "10.0.0.9")] });
  fake.set("_s._tcp.example", "SRV", { answers: [srv("_s._tcp.example", 1, 1, 80, "t.example")] });
  return { fake, resolver, open, signals };
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

Deno.test("DohResolver sends one DoH request for 8 concurrent identical lookups and gives each caller its own copy", async () => {
  const { fake, resolver, open, signals } = setup();
  const names = ["_s._tcp.example", "_S._TCP.example.", "_s._tcp.EXAMPLE"];
  const lookups = Array.from(
    { length: 8 },
    (_, i) => resolver.resolveSrv(names[i % 3]!, i % 2 ? { signal: new AbortController().signal } : {}),
  );
  assert.equal(signals.length, 1, "one request while the lookups wait");
  open();
  const results = await Promise.all(lookups);
  assert.equal(fake.requests.length, 1);
  for (const result of results) {
    assert.deepStrictEqual(result, [{ name: "t.example", port: 80, priority: 1, weight: 1 }]);
  }
  assert.notEqual(results[0], results[1], "each caller has its own array");
  assert.notEqual(results[0]![0], results[1]![0], "and its own records");
  results[0]![0]!.port = 1;
  assert.equal(results[1]![0]!.port, 80);
});

Deno.test("DohResolver merges lookups that differ only in ttl and returns each the shape it asked for", async () => {
  const { fake, resolver, open } = setup();
  const bare = resolver.resolve4("api.example");
  const withTtl = resolver.resolve4("api.example", { ttl: true });
  open();
  assert.deepStrictEqual(await bare, ["10.0.0.1", "10.0.0.2"]);
  assert.deepStrictEqual(await withTtl, [{ address: "10.0.0.1", ttl: 30 }, { address: "10.0.0.2", ttl: 30 }]);
  assert.equal(fake.requests.length, 1);
});

Deno.test("DohResolver sends separate requests for different names and types in flight", async () => {
  const { fake, resolver, open } = setup();
  const lookups = [
    resolver.resolve4("api.example"),
    resolver.resolve4("other.example"),
    resolver.resolve6("api.example"),
    resolver.resolve4("api.example"),
  ];
  open();
  assert.deepStrictEqual(await Promise.all(lookups), [
    ["10.0.0.1", "10.0.0.2"],
    ["10.0.0.9"],
    ["2001:db8::1"],
    ["10.0.0.1", "10.0.0.2"],
  ]);
  assert.deepStrictEqual(fake.requests.map((r) => [r.question.name, r.question.type]), [
    ["api.example", 1],
    ["other.example", 1],
    ["api.example", 28],
  ]);
});

Deno.test("DohResolver with mergeInFlight: false sends a request per lookup", async () => {
  const { fake, resolver, open } = setup({ mergeInFlight: false });
  const lookups = Array.from({ length: 8 }, () => resolver.resolve4("api.example"));
  open();
  await Promise.all(lookups);
  assert.equal(fake.requests.length, 8);
});

Deno.test("DohResolver lets a caller whose signal aborts leave without cancelling the query for the others", async () => {
  const { fake, resolver, open, signals } = setup();
  const leaving = new AbortController();
  const staying = new AbortController();
  const gone = caught(resolver.resolve4("api.example", { signal: leaving.signal }));
  const withSignal = resolver.resolve4("api.example", { signal: staying.signal });
  const without = resolver.resolve4("api.example");
  const reason = new Error("this caller gave up");
  leaving.abort(reason);
  const error = await gone;
  assert.deepStrictEqual([error.code, error.syscall, error.hostname], [
    "ECANCELLED",
    "queryA",
    "api.example",
  ]);
  assert.equal(error.cause, reason);
  assert.equal(signals.length, 1);
  assert.equal(signals[0]!.aborted, false, "the shared query goes on");
  open();
  assert.deepStrictEqual(await withSignal, ["10.0.0.1", "10.0.0.2"]);
  assert.deepStrictEqual(await without, ["10.0.0.1", "10.0.0.2"]);
  assert.equal(fake.requests.length, 1);
  assert.equal(fake.openBodies, 0);
});

Deno.test("DohResolver aborts a shared query once every caller waiting for it has gone, and starts afresh after", async () => {
  const { fake, resolver, open, signals } = setup();
  const first = new AbortController();
  const second = new AbortController();
  const lookups = [
    caught(resolver.resolve4("api.example", { signal: first.signal })),
    caught(resolver.resolve4("api.example", { signal: second.signal })),
  ];
  first.abort();
  assert.equal(signals[0]!.aborted, false, "one caller is still waiting");
  second.abort();
  assert.equal(signals[0]!.aborted, true, "nobody is waiting any more");
  assert.deepStrictEqual((await Promise.all(lookups)).map((e) => e.code), ["ECANCELLED", "ECANCELLED"]);
  // A lookup now does not join the aborted query.
  const again = resolver.resolve4("api.example");
  assert.equal(signals.length, 2);
  open();
  assert.deepStrictEqual(await again, ["10.0.0.1", "10.0.0.2"]);
  assert.equal(fake.openBodies, 0);
});

Deno.test("DohResolver keeps a shared query running while a caller without a signal waits", async () => {
  const { resolver, open, signals } = setup();
  const controller = new AbortController();
  const pinned = resolver.resolve4("api.example");
  const leaving = caught(resolver.resolve4("api.example", { signal: controller.signal }));
  controller.abort();
  assert.equal((await leaving).code, "ECANCELLED");
  assert.equal(signals[0]!.aborted, false);
  open();
  assert.deepStrictEqual(await pinned, ["10.0.0.1", "10.0.0.2"]);
});

Deno.test("DohResolver gives every merged caller the shared query's failure", async () => {
  const { fake, resolver, open } = setup();
  fake.fail(SERVER, "servfail");
  const lookups = Array.from({ length: 3 }, () => caught(resolver.resolve4("api.example")));
  open();
  assert.deepStrictEqual((await Promise.all(lookups)).map((e) => e.code), [
    "ESERVFAIL",
    "ESERVFAIL",
    "ESERVFAIL",
  ]);
  assert.equal(fake.requests.length, 1);
});

Deno.test("DohResolver.scope() views merge only their own lookups and share the cache of settled answers", async () => {
  const { fake, resolver, open, signals } = setup();
  const one = resolver.scope();
  const two = resolver.scope();
  const lookups = [
    one.resolve4("api.example"),
    one.resolve4("api.example"),
    two.resolve4("api.example"),
    resolver.resolve4("api.example"),
    one.scope().resolve4("api.example"),
  ];
  assert.equal(signals.length, 4, "one query per view and one for the root, none shared across them");
  open();
  for (const result of await Promise.all(lookups)) assert.deepStrictEqual(result, ["10.0.0.1", "10.0.0.2"]);
  assert.equal(fake.requests.length, 4);
  // Settled answers are shared: a new view, the root and the old views all answer from the cache.
  assert.deepStrictEqual(await resolver.scope().resolve4("api.example"), ["10.0.0.1", "10.0.0.2"]);
  await two.resolve4("api.example");
  await resolver.resolve4("api.example");
  assert.equal(fake.requests.length, 4);
  // And an answer a view stored is there for the root.
  await one.resolve4("other.example");
  await resolver.resolve4("other.example");
  assert.equal(fake.requests.length, 5);
});

Deno.test("DohResolver.scope() views merge even when the root does not, and share its configuration", async () => {
  const { fake, resolver, open } = setup({ mergeInFlight: false });
  const view = resolver.scope();
  const lookups = [view.resolve4("api.example"), view.resolve4("api.example")];
  open();
  await Promise.all(lookups);
  assert.equal(fake.requests.length, 1);
  assert.deepStrictEqual(view.getServers(), [SERVER]);
  view.setServers(["https://doh2.test/dns-query"]);
  assert.deepStrictEqual(resolver.getServers(), ["https://doh2.test/dns-query"]);
  // setServers cleared the shared cache.
  await resolver.resolve4("api.example");
  assert.deepStrictEqual(fake.servers(), [SERVER, "https://doh2.test/dns-query"]);
});

Deno.test("DohResolver.cancel() on a view cancels its own lookups only", async () => {
  const { resolver, open, signals } = setup();
  const view = resolver.scope();
  const mine = caught(view.resolve4("api.example"));
  const root = resolver.resolve4("api.example");
  const sibling = resolver.scope().resolve4("api.example");
  view.cancel();
  assert.equal((await mine).code, "ECANCELLED");
  assert.deepStrictEqual(signals.map((s) => s.aborted), [true, false, false]);
  open();
  assert.deepStrictEqual(await root, ["10.0.0.1", "10.0.0.2"]);
  assert.deepStrictEqual(await sibling, ["10.0.0.1", "10.0.0.2"]);
});

Deno.test("DohResolver does not merge a lookup made after setServers with one sent to the old servers", async () => {
  const { fake, resolver, open } = setup();
  const old = resolver.resolve4("api.example");
  resolver.setServers(["https://doh2.test/dns-query"]);
  const fresh = resolver.resolve4("api.example");
  open();
  await Promise.all([old, fresh]);
  assert.deepStrictEqual(fake.servers(), [SERVER, "https://doh2.test/dns-query"]);
  // The old servers' answer was not cached; the new one was.
  await resolver.resolve4("api.example");
  assert.equal(fake.requests.length, 2);
});
