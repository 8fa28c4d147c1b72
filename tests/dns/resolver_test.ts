// DohResolver: what goes on the wire (GET, POST, JSON API), the shapes it returns (node:dns/promises'
// Resolver), CNAME chains, negative answers and argument validation. Faults and failover are in
// resolver_faults_test.ts, caching in cache_test.ts.
import { assert } from "../_deps.ts";
import { a, aaaa, cname, FakeDoh, soa, srv, txt } from "../_fakes/doh.ts";
import { DnsError } from "../../src/dns/errors.ts";
import { DohResolver, type DohResolverOptions } from "../../src/dns/resolver.ts";
import { encodeQuery, RCODE, RR_TYPE } from "../../src/dns/wire.ts";
import { isSdError, SdError } from "../../src/errors.ts";

const SERVER = "https://doh.test/dns-query";

function setup(options: DohResolverOptions = {}): { fake: FakeDoh; resolver: DohResolver } {
  const fake = new FakeDoh();
  const resolver = new DohResolver({ servers: [SERVER], fetch: fake.fetch, ...options });
  return { fake, resolver };
}

/** Asserts a DnsError with `code` (and the given fields) and returns it. */
async function rejectsDns(
  promise: Promise<unknown>,
  code: string,
  fields: Partial<DnsError> = {},
): Promise<DnsError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof DnsError, `expected a DnsError, got ${caught}`);
  assert.equal(caught.code, code, caught.message);
  for (const [k, v] of Object.entries(fields)) assert.deepStrictEqual(caught[k as keyof DnsError], v, k);
  return caught;
}

Deno.test("DohResolver sends a GET with the query as base64url without padding and message ID 0", async (t) => {
  const cases: [string, number, string][] = [
    ["_http._tcp.api.svc.test", RR_TYPE.SRV, "AAABAAABAAAAAAAABV9odHRwBF90Y3ADYXBpA3N2YwR0ZXN0AAAhAAE"],
    // Standard base64 of these has "+" and "/" (and "=" padding); base64url has "-" and "_" and no padding.
    ["~~~.example", RR_TYPE.A, "AAABAAABAAAAAAAAA35-fgdleGFtcGxlAAABAAE"],
    ["~?~.example", RR_TYPE.A, "AAABAAABAAAAAAAAA34_fgdleGFtcGxlAAABAAE"],
  ];
  for (const [name, type, dns] of cases) {
    await t.step(name, async () => {
      const { fake, resolver } = setup();
      fake.set(name, type, {
        answers: [type === RR_TYPE.A ? a(name, "10.0.0.1") : srv(name, 1, 1, 80, "x.svc.test")],
      });
      await (type === RR_TYPE.A ? resolver.resolve4(name) : resolver.resolveSrv(name));
      assert.equal(fake.requests.length, 1);
      const [request] = fake.requests;
      assert.equal(request!.method, "GET");
      assert.equal(request!.url.href, `${SERVER}?dns=${dns}`);
      assert.equal(request!.accept, "application/dns-message");
      assert.equal(request!.query!.id, 0);
      assert.deepStrictEqual(request!.question, { name, type });
    });
  }
});

Deno.test("DohResolver sends a POST of the exact query bytes as application/dns-message when asked", async () => {
  const { fake, resolver } = setup({ method: "POST" });
  fake.set("api.example", "AAAA", { answers: [aaaa("api.example", "2001:db8::1")] });
  assert.deepStrictEqual(await resolver.resolve6("api.example"), ["2001:db8::1"]);
  const [request] = fake.requests;
  assert.equal(request!.method, "POST");
  assert.equal(request!.url.href, SERVER);
  assert.equal(request!.contentType, "application/dns-message");
  assert.equal(request!.accept, "application/dns-message");
  assert.deepStrictEqual(request!.body, encodeQuery("api.example", RR_TYPE.AAAA));
  assert.deepStrictEqual([...request!.body!.subarray(0, 2)], [0, 0]);
});

Deno.test("DohResolver in JSON mode asks with name and type parameters and application/dns-json", async () => {
  const { fake, resolver } = setup({ format: "json", servers: ["https://doh.test/resolve"] });
  fake.set("_http._tcp.api.example", "SRV", {
    answers: [srv("_http._tcp.api.example", 10, 60, 8080, "host.example")],
  });
  assert.deepStrictEqual(await resolver.resolveSrv("_http._tcp.api.example"), [
    { name: "host.example", port: 8080, priority: 10, weight: 60 },
  ]);
  const [request] = fake.requests;
  assert.equal(request!.url.href, "https://doh.test/resolve?name=_http._tcp.api.example&type=SRV");
  assert.equal(request!.accept, "application/dns-json");
  assert.equal(request!.format, "json");
});

/** A fetch answering every request with `body` as JSON of the given content type. */
function jsonServer(body: unknown, contentType = "application/dns-json") {
  return () =>
    Promise.resolve(
      new Response(typeof body === "string" ? body : JSON.stringify(body), {
        headers: { "content-type": contentType },
      }),
    );
}

Deno.test("DohResolver parses the JSON API's presentation data for SRV, TXT, A, AAAA and CNAME", async (t) => {
  const json = (fetch: ReturnType<typeof jsonServer>) =>
    new DohResolver({ servers: [SERVER], format: "json", fetch });
  await t.step("SRV 10 60 8080 host. and the root target", async () => {
    const resolver = json(jsonServer({
      Status: 0,
      Question: [{ name: "_x._tcp.a.example.", type: 33 }],
      Answer: [
        { name: "_x._tcp.a.example.", type: 33, TTL: 30, data: "10 60 8080 host." },
        { name: "_x._tcp.a.example.", type: 33, TTL: 30, data: "0 0 0 ." },
      ],
    }));
    assert.deepStrictEqual(await resolver.resolveSrv("_x._tcp.a.example", { ttl: true }), [
      { name: "host", port: 8080, priority: 10, weight: 60, ttl: 30 },
      { name: "", port: 0, priority: 0, weight: 0, ttl: 30 },
    ]);
  });
  await t.step("TXT with several quoted strings and escapes", async () => {
    const resolver = json(jsonServer({
      Status: 0,
      Question: [{ name: "a.example.", type: 16 }],
      Answer: [
        { name: "a.example.", type: 16, TTL: 30, data: '"v=1" "say \\"hi\\"" ""' },
        { name: "a.example.", type: 16, TTL: 30, data: '"second"' },
      ],
    }));
    assert.deepStrictEqual(await resolver.resolveTxt("a.example"), [["v=1", 'say "hi"', ""], ["second"]]);
  });
  await t.step("A through a CNAME, served as application/json", async () => {
    const resolver = json(jsonServer(
      {
        Status: 0,
        Question: [{ name: "www.example.", type: 1 }],
        Answer: [
          { name: "www.example.", type: 5, TTL: 30, data: "api.example." },
          { name: "api.example.", type: 1, TTL: 20, data: "10.0.0.7" },
        ],
      },
      "application/json; charset=utf-8",
    ));
    assert.deepStrictEqual(await resolver.resolve4("www.example", { ttl: true }), [{
      address: "10.0.0.7",
      ttl: 20,
    }]);
  });
  await t.step("AAAA", async () => {
    const resolver = json(jsonServer({
      Status: 0,
      Question: [{ name: "a.example.", type: 28 }],
      Answer: [{ name: "a.example.", type: 28, TTL: 30, data: "2001:DB8::1" }],
    }));
    assert.deepStrictEqual(await resolver.resolve6("a.example"), ["2001:db8::1"]);
  });
  await t.step("Status 3 is ENOTFOUND", async () => {
    const resolver = json(jsonServer({ Status: 3, Question: [{ name: "gone.example.", type: 33 }] }));
    await rejectsDns(resolver.resolveSrv("gone.example"), "ENOTFOUND", {
      syscall: "querySrv",
      hostname: "gone.example",
    });
  });
  await t.step("a record whose data does not fit its type is EBADRESP", async () => {
    const resolver = json(jsonServer({
      Status: 0,
      Question: [{ name: "a.example.", type: 1 }],
      Answer: [{ name: "a.example.", type: 1, TTL: 30, data: "not-an-address" }],
    }));
    await rejectsDns(resolver.resolve4("a.example"), "EBADRESP");
  });
  await t.step("a body without Status, and one that is not JSON, are EBADRESP", async () => {
    await rejectsDns(json(jsonServer({ Answer: [] })).resolve4("a.example"), "EBADRESP");
    await rejectsDns(json(jsonServer("{not json")).resolve4("a.example"), "EBADRESP");
    await rejectsDns(json(jsonServer("[1]")).resolve4("a.example"), "EBADRESP");
  });
  await t.step("malformed sections and records are EBADRESP", async () => {
    const q = [{ name: "a.example.", type: 33 }];
    const bodies: unknown[] = [
      { Status: 0, Question: q, Answer: {} },
      { Status: 0, Question: q, Answer: [null] },
      { Status: 0, Question: q, Answer: [{ name: 7, type: 33, TTL: 1, data: "1 1 1 a." }] },
      { Status: 0, Question: q, Answer: [{ name: "a.example.", type: 33, TTL: -1, data: "1 1 1 a." }] },
      { Status: 0, Question: q, Answer: [{ name: "a.example.", type: 33, TTL: 1, data: "1 1 a." }] },
      { Status: 0, Question: q, Answer: [{ name: "a.example.", type: 33, TTL: 1, data: "1 1 70000 a." }] },
      { Status: 0, Question: q, Answer: [{ name: "a.example.", type: 28, TTL: 1, data: "10.0.0.1" }] },
      {
        Status: 3,
        Question: q,
        Authority: [{ name: "example.", type: 6, TTL: 1, data: "ns1. host. 1 2 3" }],
      },
    ];
    for (const body of bodies) {
      await rejectsDns(json(jsonServer(body)).resolveSrv("a.example"), "EBADRESP");
    }
  });
  await t.step("records of types it does not parse are carried along and ignored", async () => {
    const resolver = json(jsonServer({
      Status: 0,
      Question: [{ name: "a.example.", type: 1 }],
      Answer: [
        {
          name: "a.example.",
          type: 46,
          TTL: 30,
          data: "A 13 2 30 20300101000000 20200101000000 1 example. sig=",
        },
        { name: "a.example.", type: 1, TTL: 30, data: "10.0.0.8" },
      ],
    }));
    assert.deepStrictEqual(await resolver.resolve4("a.example"), ["10.0.0.8"]);
  });
  await t.step("an answer for another name is EBADRESP", async () => {
    const resolver = json(jsonServer({ Status: 0, Question: [{ name: "b.example.", type: 1 }], Answer: [] }));
    await rejectsDns(resolver.resolve4("a.example"), "EBADRESP");
  });
});

Deno.test("DohResolver returns the shapes node:dns/promises' Resolver returns", async () => {
  const { fake, resolver } = setup();
  fake.set("_http._tcp.api.example", "SRV", {
    answers: [
      srv("_http._tcp.api.example", 10, 60, 8080, "api-1.example", 30),
      srv("_http._tcp.api.example", 20, 0, 8081, "api-2.example", 40),
    ],
  });
  fake.set("api-1.example", "A", {
    answers: [a("api-1.example", "10.0.0.1"), a("api-1.example", "10.0.0.2")],
  });
  fake.set("api-1.example", "AAAA", { answers: [aaaa("api-1.example", "::1")] });
  fake.set("www.example", "CNAME", { answers: [cname("www.example", "api-1.example")] });
  fake.set("api.example", "TXT", {
    answers: [txt("api.example", ["version=1"]), txt("api.example", ["a", "b"])],
  });

  const records = await resolver.resolveSrv("_http._tcp.api.example");
  assert.deepStrictEqual(records, [
    { name: "api-1.example", port: 8080, priority: 10, weight: 60 },
    { name: "api-2.example", port: 8081, priority: 20, weight: 0 },
  ]);
  assert.deepStrictEqual(Object.keys(records[0]!).sort(), ["name", "port", "priority", "weight"]);
  assert.deepStrictEqual(await resolver.resolve4("api-1.example"), ["10.0.0.1", "10.0.0.2"]);
  assert.deepStrictEqual(await resolver.resolve6("api-1.example"), ["::1"]);
  assert.deepStrictEqual(await resolver.resolveCname("www.example"), ["api-1.example"]);
  assert.deepStrictEqual(await resolver.resolveTxt("api.example"), [["version=1"], ["a", "b"]]);

  assert.deepStrictEqual(await resolver.resolve("api-1.example"), ["10.0.0.1", "10.0.0.2"]);
  assert.deepStrictEqual(await resolver.resolve("api-1.example", "AAAA"), ["::1"]);
  assert.deepStrictEqual(await resolver.resolve("www.example", "CNAME"), ["api-1.example"]);
  assert.deepStrictEqual(await resolver.resolve("api.example", "TXT"), [["version=1"], ["a", "b"]]);
  assert.deepStrictEqual(await resolver.resolve("_http._tcp.api.example", "SRV"), records);
  await assert.rejects(
    resolver.resolve("api.example", "MX" as "A"),
    (e: unknown) => e instanceof TypeError && /"MX"/.test(e.message),
  );
});

Deno.test("DohResolver with ttl: true returns each record's TTL", async () => {
  const { fake, resolver } = setup();
  fake.set("_s._tcp.example", "SRV", {
    answers: [
      srv("_s._tcp.example", 1, 2, 3, "t.example", 45),
      srv("_s._tcp.example", 1, 2, 4, "u.example", 50),
    ],
  });
  fake.set("t.example", "A", { answers: [a("t.example", "10.0.0.1", 12)] });
  fake.set("t.example", "AAAA", { answers: [aaaa("t.example", "2001:db8::5", 13)] });
  assert.deepStrictEqual(await resolver.resolveSrv("_s._tcp.example", { ttl: true }), [
    { name: "t.example", port: 3, priority: 1, weight: 2, ttl: 45 },
    { name: "u.example", port: 4, priority: 1, weight: 2, ttl: 50 },
  ]);
  assert.deepStrictEqual(await resolver.resolve4("t.example", { ttl: true }), [{
    address: "10.0.0.1",
    ttl: 12,
  }]);
  assert.deepStrictEqual(await resolver.resolve6("t.example", { ttl: true }), [{
    address: "2001:db8::5",
    ttl: 13,
  }]);
});

Deno.test("DohResolver reports NXDOMAIN as ENOTFOUND and an empty answer as ENODATA, with Node's fields", async () => {
  const { fake, resolver } = setup();
  fake.set("api.example", "A", { answers: [] }); // NODATA
  const notFound = await rejectsDns(resolver.resolveSrv("_http._tcp.gone.example"), "ENOTFOUND", {
    syscall: "querySrv",
    hostname: "_http._tcp.gone.example",
  });
  assert.equal(notFound.message, "querySrv ENOTFOUND _http._tcp.gone.example");
  assert.ok(notFound instanceof SdError && isSdError(notFound));
  assert.equal(notFound.name, "DnsError");
  await rejectsDns(resolver.resolve4("api.example"), "ENODATA", {
    syscall: "queryA",
    hostname: "api.example",
  });
  await rejectsDns(resolver.resolve6("x.example"), "ENOTFOUND", { syscall: "queryAaaa" });
  await rejectsDns(resolver.resolveCname("x.example"), "ENOTFOUND", { syscall: "queryCname" });
  await rejectsDns(resolver.resolveTxt("x.example"), "ENOTFOUND", { syscall: "queryTxt" });
  // A NOERROR answer holding only records of another type is NODATA too.
  fake.set("mixed.example", "A", { answers: [txt("mixed.example", ["x"])] });
  await rejectsDns(resolver.resolve4("mixed.example"), "ENODATA");
});

Deno.test("DohResolver follows CNAME chains in the answer and ignores records for other names", async () => {
  const { fake, resolver } = setup();
  fake.set("www.example", "A", {
    answers: [
      cname("www.example", "mid.example"),
      cname("MID.example", "api.example"),
      a("api.example", "10.0.0.1"),
      a("unrelated.example", "10.9.9.9"),
    ],
  });
  assert.deepStrictEqual(await resolver.resolve4("www.example"), ["10.0.0.1"]);
  // Asking for the CNAME itself returns only the first link.
  fake.set("www.example", "CNAME", {
    answers: [cname("www.example", "mid.example"), cname("mid.example", "api.example")],
  });
  assert.deepStrictEqual(await resolver.resolveCname("www.example"), ["mid.example"]);
});

Deno.test("DohResolver cuts a CNAME loop and reports ENODATA", async () => {
  const { fake, resolver } = setup();
  fake.set("x.example", "A", { answers: [cname("x.example", "y.example"), cname("y.example", "x.example")] });
  await rejectsDns(resolver.resolve4("x.example"), "ENODATA");
});

Deno.test("DohResolver matches owner names case-insensitively and accepts a trailing dot", async () => {
  const { fake, resolver } = setup();
  fake.set("api.example", "A", { answers: [a("API.Example", "10.0.0.3")] });
  assert.deepStrictEqual(await resolver.resolve4("api.example."), ["10.0.0.3"]);
  assert.deepStrictEqual(fake.requests[0]!.question, { name: "api.example", type: RR_TYPE.A });
});

Deno.test("DohResolver keeps its servers as URLs and validates setServers", () => {
  const { resolver } = setup();
  assert.deepStrictEqual(new DohResolver().getServers(), [
    "https://cloudflare-dns.com/dns-query",
    "https://dns.google/dns-query",
  ]);
  assert.deepStrictEqual(resolver.getServers(), [SERVER]);
  resolver.setServers(["https://a.test/dns-query", "http://127.0.0.1:8054/dns-query"]);
  const servers = resolver.getServers();
  assert.deepStrictEqual(servers, ["https://a.test/dns-query", "http://127.0.0.1:8054/dns-query"]);
  servers.push("https://mutated.test/");
  assert.equal(resolver.getServers().length, 2, "getServers returns a copy");
  for (const bad of [[], ["not a url"], ["ftp://a.test/"], "https://a.test/", [42]]) {
    assert.throws(() => resolver.setServers(bad as string[]), TypeError, JSON.stringify(bad));
  }
  assert.deepStrictEqual(resolver.getServers(), [
    "https://a.test/dns-query",
    "http://127.0.0.1:8054/dns-query",
  ]);
});

Deno.test("DohResolver rejects invalid options eagerly", () => {
  const bad: [DohResolverOptions, ErrorConstructor][] = [
    [{ servers: [] }, TypeError],
    [{ method: "PUT" as "GET" }, TypeError],
    [{ format: "xml" as "json" }, TypeError],
    [{ timeout: 0 }, RangeError],
    [{ timeout: Number.NaN }, TypeError],
    [{ maxResponseBytes: 11 }, RangeError],
    [{ maxResponseBytes: 100.5 }, RangeError],
    [{ cacheSize: -1 }, RangeError],
    [{ cacheSize: 1.5 }, RangeError],
    [{ maxTtl: -1 }, RangeError],
    [{ fetch: "fetch" as unknown as NonNullable<DohResolverOptions["fetch"]> }, TypeError],
    [{ now: 5 as unknown as () => number }, TypeError],
  ];
  for (const [options, type] of bad) {
    assert.throws(() => new DohResolver(options), type, JSON.stringify(options));
  }
});

Deno.test("DohResolver rejects a bad hostname, options or signal without asking a server", async () => {
  const { fake, resolver } = setup();
  await assert.rejects(resolver.resolve4(`${"x".repeat(64)}.example`), RangeError);
  await assert.rejects(resolver.resolveSrv(""), TypeError);
  await assert.rejects(resolver.resolve4(42 as unknown as string), TypeError);
  await assert.rejects(resolver.resolve6("a.example", null as unknown as { ttl: true }), TypeError);
  await assert.rejects(
    resolver.resolveTxt("a.example", { signal: "stop" as unknown as AbortSignal }),
    TypeError,
  );
  assert.equal(fake.requests.length, 0);
});

Deno.test("DohResolver surfaces rcodes it cannot use as errors", async () => {
  const answer = (rcode: number) => () =>
    Promise.resolve(
      new Response(
        new Uint8Array([0, 0, 0x81, 0x80 | rcode, 0, 0, 0, 0, 0, 0, 0, 0]),
        { headers: { "content-type": "application/dns-message" } },
      ),
    );
  const cases: [number, string][] = [
    [RCODE.FORMERR, "EFORMERR"],
    [RCODE.NOTIMP, "ENOTIMP"],
    [9, "EBADRESP"],
  ];
  for (const [rcode, code] of cases) {
    const resolver = new DohResolver({ servers: [SERVER], fetch: answer(rcode) });
    await rejectsDns(resolver.resolve4("a.example"), code);
  }
  // NXDOMAIN with an SOA in the authority section still arrives as HTTP 200 (RFC 8484 section 4.2.1).
  const { fake, resolver } = setup();
  fake.set("gone.example", "A", { rcode: RCODE.NXDOMAIN, authorities: [soa("example", 60, 30)] });
  await rejectsDns(resolver.resolve4("gone.example"), "ENOTFOUND");
});
