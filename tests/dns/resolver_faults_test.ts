// DohResolver against servers that fail: HTTP errors, garbage, wrong content types, oversized or
// mismatched answers, error rcodes, silence (fake time), cancellation; failover order and the
// preference for the last server that worked. Every response body must be read or cancelled.
import { assert, fakeTime } from "../_deps.ts";
import { a, type DohFault, FakeDoh, responseTo } from "../_fakes/doh.ts";
import { DnsError } from "../../src/dns/errors.ts";
import { DohResolver, type DohResolverOptions } from "../../src/dns/resolver.ts";
import { decodeMessage, encodeMessage } from "../../src/dns/wire.ts";
import { MalformedResponseError } from "../../src/errors.ts";
import type { Logger } from "../../src/types.ts";

const A = "https://a.test/dns-query";
const B = "https://b.test/dns-query";
const C = "https://c.test/dns-query";

function setup(servers: string[], options: DohResolverOptions = {}) {
  const fake = new FakeDoh();
  for (const name of ["one.example", "two.example", "three.example", "four.example", "five.example"]) {
    fake.set(name, "A", { answers: [a(name, "10.0.0.1")] });
  }
  const warnings: { message: string; data: Record<string, unknown> | undefined }[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (message, data) => void warnings.push({ message, data }),
    error() {},
  };
  const resolver = new DohResolver({ servers, fetch: fake.fetch, logger, ...options });
  return { fake, resolver, warnings };
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

Deno.test("DohResolver maps each way a single server can fail to Node's error codes", async (t) => {
  const cases: [DohFault, string, RegExp][] = [
    ["http500", "ESERVFAIL", /HTTP 500/],
    ["http404", "EBADRESP", /HTTP 404/],
    ["garbage", "EBADRESP", /malformed answer/],
    ["wrongType", "EBADRESP", /"text\/html"/],
    ["oversize", "EBADRESP", /exceeds 65535 bytes/],
    ["oversizeDeclared", "EBADRESP", /100000 bytes exceeds 65535/],
    ["mismatch", "EBADRESP", /"other\.one\.example"/],
    ["wrongId", "EBADRESP", /not an answer/],
    ["truncated", "EBADRESP", /truncated/],
    ["servfail", "ESERVFAIL", /rcode 2/],
    ["refused", "EREFUSED", /rcode 5/],
    ["network", "ECONNREFUSED", /Connection refused/],
  ];
  for (const [fault, code, detail] of cases) {
    await t.step(`${fault} is ${code}`, async () => {
      const { fake, resolver } = setup([A]);
      fake.fail(A, fault);
      const error = await caught(resolver.resolve4("one.example"));
      assert.equal(error.code, code);
      assert.match(error.message, detail);
      assert.match(error.message, /^queryA [A-Z]+ one\.example: /);
      assert.equal(error.server, A);
      assert.equal(error.hostname, "one.example");
      assert.equal(fake.openBodies, 0, "every response body is read or cancelled");
      // Failures are not cached: the healed server is asked again.
      fake.heal(A);
      assert.deepStrictEqual(await resolver.resolve4("one.example"), ["10.0.0.1"]);
      assert.equal(fake.requests.length, 2);
    });
  }
});

Deno.test("DohResolver keeps the decoder's error as the cause of EBADRESP for garbage", async () => {
  const { fake, resolver } = setup([A]);
  fake.fail(A, "garbage");
  const error = await caught(resolver.resolve4("one.example"));
  assert.ok(error.cause instanceof MalformedResponseError, `cause: ${error.cause}`);
});

Deno.test("DohResolver refuses a body larger than maxResponseBytes", async () => {
  const { fake, resolver } = setup([A], { maxResponseBytes: 40 });
  const error = await caught(resolver.resolve4("one.example"));
  assert.equal(error.code, "EBADRESP");
  assert.match(error.message, /exceeds 40 bytes/);
  assert.equal(fake.openBodies, 0);
  const roomy = setup([A], { maxResponseBytes: 200 });
  assert.deepStrictEqual(await roomy.resolver.resolve4("one.example"), ["10.0.0.1"]);
});

Deno.test("DohResolver reassembles an answer that arrives in many small chunks", async () => {
  const { fake, resolver } = setup([A]);
  fake.chunkSize = 7;
  assert.deepStrictEqual(await resolver.resolve4("one.example"), ["10.0.0.1"]);
  assert.equal(fake.openBodies, 0);
});

Deno.test("DohResolver treats an empty 200 answer as EBADRESP", async () => {
  const resolver = new DohResolver({
    servers: [A],
    fetch: () =>
      Promise.resolve(new Response(null, { headers: { "content-type": "application/dns-message" } })),
  });
  assert.equal((await caught(resolver.resolve4("one.example"))).code, "EBADRESP");
});

Deno.test("DohResolver tries the servers in order, logs each failover and returns the first answer", async () => {
  const { fake, resolver, warnings } = setup([A, B, C]);
  fake.fail(A, "network").fail(B, "http500");
  assert.deepStrictEqual(await resolver.resolve4("one.example"), ["10.0.0.1"]);
  assert.deepStrictEqual(fake.servers(), [A, B, C]);
  assert.deepStrictEqual(warnings.map((w) => [w.message, w.data?.["server"]]), [
    ["DoH server failed; trying the next one", A],
    ["DoH server failed; trying the next one", B],
  ]);
  assert.equal(fake.openBodies, 0);
});

Deno.test("DohResolver starts with the last server that worked and wraps around the list", async () => {
  const { fake, resolver } = setup([A, B, C]);
  fake.fail(A, "servfail");
  await resolver.resolve4("one.example");
  assert.deepStrictEqual(fake.servers(), [A, B]);
  await resolver.resolve4("two.example");
  assert.deepStrictEqual(fake.servers().slice(2), [B], "B worked last, so it goes first");
  fake.fail(B, "refused").heal(A).fail(C, "wrongType");
  await resolver.resolve4("three.example");
  assert.deepStrictEqual(fake.servers().slice(3), [B, C, A], "after C the list wraps to A");
  await resolver.resolve4("four.example");
  assert.deepStrictEqual(fake.servers().slice(6), [A]);
  // setServers starts over from the first server.
  resolver.setServers([B, A]);
  fake.heal(B);
  await resolver.resolve4("five.example");
  assert.deepStrictEqual(fake.servers().slice(7), [B]);
});

Deno.test("DohResolver reports the last server's error when every server fails", async (t) => {
  await t.step("SERVFAIL then REFUSED is EREFUSED", async () => {
    const { fake, resolver } = setup([A, B]);
    fake.fail(A, "servfail").fail(B, "refused");
    const error = await caught(resolver.resolve4("one.example"));
    assert.equal(error.code, "EREFUSED");
    assert.equal(error.server, B);
    assert.deepStrictEqual(fake.servers(), [A, B]);
  });
  await t.step("REFUSED then SERVFAIL is ESERVFAIL", async () => {
    const { fake, resolver } = setup([A, B]);
    fake.fail(A, "refused").fail(B, "servfail");
    assert.equal((await caught(resolver.resolve4("one.example"))).code, "ESERVFAIL");
  });
  await t.step("garbage then HTTP 500 is ESERVFAIL, and nothing is left open", async () => {
    const { fake, resolver } = setup([A, B]);
    fake.fail(A, "garbage").fail(B, "http500");
    assert.equal((await caught(resolver.resolve4("one.example"))).code, "ESERVFAIL");
    assert.equal(fake.bodies, 2);
    assert.equal(fake.openBodies, 0);
  });
});

Deno.test("DohResolver times out a server that never answers and fails over to the next", async () => {
  const clock = fakeTime(0);
  try {
    const { fake, resolver } = setup([A, B], { timeout: 1000 });
    fake.fail(A, "hang");
    let result: unknown;
    const pending = resolver.resolve4("one.example").then((r) => result = r);
    await clock.tickAsync(999);
    assert.equal(result, undefined);
    assert.deepStrictEqual(fake.servers(), [A]);
    await clock.tickAsync(1);
    await pending;
    assert.deepStrictEqual(result, ["10.0.0.1"]);
    assert.deepStrictEqual(fake.servers(), [A, B]);
    assert.equal(clock.countTimers(), 0);
  } finally {
    clock.uninstall();
  }
});

Deno.test("DohResolver fails with ETIMEOUT after the timeout when the only server never answers", async (t) => {
  for (const fault of ["hang", "stallBody"] as const) {
    await t.step(fault, async () => {
      const clock = fakeTime(0);
      try {
        const { fake, resolver } = setup([A], { timeout: 2500 });
        fake.fail(A, fault);
        const seen: { error?: DnsError } = {};
        const pending = caught(resolver.resolve4("one.example")).then((e) => seen.error = e);
        await clock.tickAsync(2499);
        assert.equal(seen.error, undefined);
        await clock.tickAsync(1);
        const error = await pending;
        assert.equal(error.code, "ETIMEOUT");
        assert.equal(error.server, A);
        assert.equal((error.cause as DOMException).name, "TimeoutError");
        assert.equal(fake.openBodies, 0);
        assert.equal(clock.countTimers(), 0);
      } finally {
        clock.uninstall();
      }
    });
  }
});

Deno.test("DohResolver.cancel() fails every lookup in flight with ECANCELLED and tries no other server", async () => {
  const clock = fakeTime(0);
  try {
    const { fake, resolver } = setup([A, B]);
    fake.fail(A, "hang");
    const first = caught(resolver.resolve4("one.example"));
    const second = caught(resolver.resolveSrv("_x._tcp.example"));
    await clock.tickAsync(10);
    resolver.cancel();
    const errors = await Promise.all([first, second]);
    assert.deepStrictEqual(errors.map((e) => [e.code, e.syscall]), [["ECANCELLED", "queryA"], [
      "ECANCELLED",
      "querySrv",
    ]]);
    assert.deepStrictEqual(fake.servers(), [A, A]);
    assert.equal(clock.countTimers(), 0);
    // The resolver still works afterwards.
    fake.heal(A);
    assert.deepStrictEqual(await resolver.resolve4("one.example"), ["10.0.0.1"]);
  } finally {
    clock.uninstall();
  }
});

Deno.test("DohResolver fails with ECANCELLED when the caller's signal aborts, keeping the reason as cause", async () => {
  const clock = fakeTime(0);
  try {
    const { fake, resolver } = setup([A, B]);
    fake.fail(A, "hang");
    const controller = new AbortController();
    const pending = caught(resolver.resolve4("one.example", { signal: controller.signal }));
    await clock.tickAsync(100);
    const reason = new Error("caller gave up");
    controller.abort(reason);
    const error = await pending;
    assert.equal(error.code, "ECANCELLED");
    assert.equal(error.cause, reason);
    assert.deepStrictEqual(fake.servers(), [A]);
    assert.equal(clock.countTimers(), 0);

    const already = await caught(resolver.resolve4("two.example", { signal: AbortSignal.abort(reason) }));
    assert.equal(already.code, "ECANCELLED");
    assert.equal(already.cause, reason);
    assert.deepStrictEqual(fake.servers(), [A], "nothing is sent for a signal that has already aborted");
  } finally {
    clock.uninstall();
  }
});

Deno.test("DohResolver over real fetch on loopback survives a server that errs, babbles, mislabels or stalls", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    const dns = url.searchParams.get("dns") ?? "";
    const query = decodeMessage(
      Uint8Array.from(atob(dns.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)),
    );
    const ok = { "content-type": "application/dns-message" };
    switch (url.pathname) {
      case "/500":
        return new Response("overloaded", { status: 500 });
      case "/garbage":
        return new Response(new Uint8Array([1, 2, 3, 4, 5]), { headers: ok });
      case "/html":
        return new Response("<html></html>", { headers: { "content-type": "text/html" } });
      case "/hang":
        await gate;
        return new Response("late");
      default: {
        const q = query.questions[0]!;
        return new Response(
          new Uint8Array(encodeMessage(responseTo(q, { answers: [a(q.name, "10.1.2.3")] }))),
          {
            headers: ok,
          },
        );
      }
    }
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    for (const [path, code] of [["/500", "ESERVFAIL"], ["/garbage", "EBADRESP"], ["/html", "EBADRESP"]]) {
      const alone = new DohResolver({ servers: [`${base}${path}`] });
      assert.equal((await caught(alone.resolve4("one.example"))).code, code, path);
    }
    const stalled = new DohResolver({ servers: [`${base}/hang`], timeout: 200 });
    assert.equal((await caught(stalled.resolve4("one.example"))).code, "ETIMEOUT");
    const resolver = new DohResolver({
      servers: [`${base}/500`, `${base}/garbage`, `${base}/html`, `${base}/hang`, `${base}/dns-query`],
      timeout: 200,
    });
    assert.deepStrictEqual(await resolver.resolve4("one.example"), ["10.1.2.3"]);
  } finally {
    release();
    await server.shutdown();
  }
});
