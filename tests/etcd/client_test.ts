// EtcdClient against the fake gateway: what each call sends (base64 keys and values, prefix ranges,
// int64 strings) and how it reads the gateway's encoding (int64 strings kept exact, omitted zero
// values, malformed answers). go-kit equivalents: TestNewClient and TestClientOptions (sd/etcdv3),
// TestGetEntries (sd/etcd, v2) for the values under a prefix.
import { assert } from "../_deps.ts";
import { b64, FakeEtcd, header } from "../_fakes/etcd.ts";
import { EtcdClient, type EtcdClientOptions } from "../../src/etcd/client.ts";
import { MalformedResponseError, RegistryRejectedError, RegistryUnavailableError } from "../../src/errors.ts";

const A = "http://a.test:2379";

function setup(options: Partial<EtcdClientOptions> = {}): { fake: FakeEtcd; client: EtcdClient } {
  const fake = new FakeEtcd();
  const client = new EtcdClient({ endpoints: [A], fetch: fake.fetch, ...options });
  return { fake, client };
}

/** A client whose every call to `path` gets `body` as a 200 JSON answer. */
function answering(body: unknown): EtcdClient {
  const fake = new FakeEtcd();
  fake.script("/kv/range", () => Response.json(body));
  fake.script("/lease/grant", () => Response.json(body));
  fake.script("/lease/keepalive", () => Response.json(body));
  fake.script("/kv/deleterange", () => Response.json(body));
  return new EtcdClient({ endpoints: [A], fetch: fake.fetch });
}

Deno.test("EtcdClient validates its options eagerly (go-kit TestClientOptions)", () => {
  const fetch = new FakeEtcd().fetch;
  const bad: [unknown, RegExp, ErrorConstructor][] = [
    [undefined, /options must be an object/, TypeError],
    [{ endpoints: [] }, /options.endpoints must be a non-empty array of URLs/, TypeError],
    [{ endpoints: "http://a:2379" }, /non-empty array of URLs, got "http/, TypeError],
    [{ endpoints: ["not a url"] }, /endpoints\[0\] is not a URL: "not a url"/, TypeError],
    [{ endpoints: ["127.0.0.1:2379"] }, /endpoints\[0\] is not a URL: "127.0.0.1:2379"/, TypeError],
    [
      { endpoints: ["localhost:2379"] },
      /endpoints\[0\] must be an http: or https: URL, got "localhost/,
      TypeError,
    ],
    [{ endpoints: [A, "ftp://b:21"] }, /endpoints\[1\] must be an http: or https: URL, got "ftp/, TypeError],
    [{ endpoints: [A], username: "u" }, /username and options.password go together/, TypeError],
    [{ endpoints: [A], password: "p" }, /username and options.password go together/, TypeError],
    [
      { endpoints: [A], username: "", password: "p" },
      /options.username must be a non-empty string/,
      TypeError,
    ],
    [{ endpoints: [A], timeout: 0 }, /options.timeout must be a finite number >= 1, got 0/, RangeError],
    [{ endpoints: [A], maxResponseBytes: 10 }, /maxResponseBytes must be an integer >= 64/, RangeError],
    [{ endpoints: [A], fetch: "fetch" }, /options.fetch must be a function/, TypeError],
  ];
  for (const [options, message, type] of bad) {
    assert.throws(() => new EtcdClient(options as EtcdClientOptions), (e: Error) => {
      assert.ok(e instanceof type, `${e.name} for ${JSON.stringify(options)}`);
      assert.match(e.message, message);
      return true;
    });
  }
  assert.ok(new EtcdClient({ endpoints: [A], fetch }));
});

Deno.test("EtcdClient makes no request until the first call, even for an unreachable member (go-kit TestNewClient)", () => {
  const fake = new FakeEtcd();
  fake.down.add("http://10.255.255.1:2379");
  const client = new EtcdClient({ endpoints: ["http://10.255.255.1:2379/ignored/path"], fetch: fake.fetch });
  assert.deepStrictEqual(client.endpoints, ["http://10.255.255.1:2379"]);
  assert.equal(fake.requests.length, 0);
});

Deno.test("EtcdClient ranges over a prefix with range_end = the prefix with its last byte incremented", async () => {
  const { fake, client } = setup();
  fake.put("/services/api/b", "10.0.0.2:80");
  fake.put("/services/api/a", "10.0.0.1:80");
  fake.put("/services/apiX/c", "10.0.0.3:80"); // after "/services/api0": outside the range
  fake.put("/services/api0", "10.0.0.4:80");
  const range = await client.range("/services/api/", { prefix: true });
  assert.deepStrictEqual(fake.requests[0]!.body, {
    key: b64("/services/api/"),
    range_end: b64("/services/api0"),
  });
  assert.equal(fake.requests[0]!.prefix, "/v3");
  assert.equal(range.revision, "5");
  assert.deepStrictEqual(range.kvs, [
    { key: "/services/api/a", value: "10.0.0.1:80", modRevision: "3", lease: "0" },
    { key: "/services/api/b", value: "10.0.0.2:80", modRevision: "2", lease: "0" },
  ]);
  // Without prefix: one key, no range_end.
  const one = await client.range("/services/api0");
  assert.deepStrictEqual(fake.requests[1]!.body, { key: b64("/services/api0") });
  assert.deepStrictEqual(one.kvs.map((kv) => kv.value), ["10.0.0.4:80"]);
});

Deno.test("EtcdClient reads an empty range whose kvs and count the gateway omitted (go-kit v3 GetEntries: none is no error)", async () => {
  const { client } = setup();
  assert.deepStrictEqual(await client.range("/nothing/", { prefix: true }), { revision: "1", kvs: [] });
});

Deno.test("EtcdClient sends and reads UTF-8 keys and values as base64", async () => {
  const { fake, client } = setup();
  await client.put("/svc/ünï/😀", "wert-ß");
  assert.deepStrictEqual(fake.requests[0]!.body, { key: b64("/svc/ünï/😀"), value: b64("wert-ß") });
  assert.equal(fake.get("/svc/ünï/😀"), "wert-ß");
  const { kvs } = await client.range("/svc/ünï/", { prefix: true });
  assert.deepStrictEqual(kvs.map((kv) => [kv.key, kv.value]), [["/svc/ünï/😀", "wert-ß"]]);
});

Deno.test("EtcdClient keeps 64-bit lease IDs exact as strings in grant, put, keep-alive and revoke", async () => {
  const { fake, client } = setup();
  const lease = await client.grant(5);
  assert.deepStrictEqual(lease, { id: "7587869127315596296", ttl: 5 });
  assert.ok(BigInt(lease.id) > BigInt(Number.MAX_SAFE_INTEGER));
  assert.deepStrictEqual(fake.requests[0]!.body, { TTL: "5" });
  assert.equal(await client.put("/k", "v", { lease: lease.id }), "2");
  assert.equal(fake.requests[1]!.body["lease"], "7587869127315596296");
  assert.equal(fake.leaseOf("/k"), "7587869127315596296");
  const { kvs } = await client.range("/k");
  assert.equal(kvs[0]!.lease, "7587869127315596296");
  assert.equal(await client.keepAlive(lease.id), 5);
  assert.deepStrictEqual(fake.requests[3]!.body, { ID: "7587869127315596296" });
  await client.revoke(lease.id);
  assert.deepStrictEqual(fake.requests[4]!.body, { ID: "7587869127315596296" });
  assert.equal(fake.get("/k"), undefined, "revoking deletes the attached key");
});

Deno.test("EtcdClient reads omitted zero values: no TTL is a lost lease, no deleted count is 0, no value is empty", async () => {
  const { fake, client } = setup();
  assert.equal(await client.keepAlive("12345"), 0, "an unknown lease comes back without TTL");
  assert.equal(await client.delete("/absent"), 0);
  fake.put("/a", "1");
  fake.put("/b", "");
  assert.equal(await client.delete("/", { prefix: true }), 2);
  assert.deepStrictEqual(fake.calls("/kv/deleterange")[1]!.body, { key: b64("/"), range_end: b64("0") });
  const bare = answering({ header: {}, kvs: [{ key: b64("/x") }] });
  assert.deepStrictEqual(await bare.range("/x"), {
    revision: "0",
    kvs: [{ key: "/x", value: "", modRevision: "0", lease: "0" }],
  });
});

Deno.test("EtcdClient revoking a lease that is already gone is not an error", async () => {
  const { fake, client } = setup();
  await client.revoke("999");
  assert.deepStrictEqual(fake.paths(), ["/lease/revoke"]);
});

Deno.test("EtcdClient keepAlive reads the gateway's stream wrapper and a bare answer alike", async () => {
  assert.equal(await answering({ result: { header: header(3), ID: "1", TTL: "7" } }).keepAlive("1"), 7);
  assert.equal(await answering({ header: header(3), ID: "1", TTL: "9" }).keepAlive("1"), 9);
});

Deno.test("EtcdClient refuses malformed answers and wrong types with MalformedResponseError", async (t) => {
  const cases: [string, unknown, "range" | "grant" | "keepAlive" | "delete", RegExp][] = [
    ["a JSON array", [1], "range", /expected an object/],
    [
      "a string revision that is not a number",
      { header: { revision: "1e3" } },
      "range",
      /header.revision = "1e3"/,
    ],
    [
      "a boolean revision",
      { header: { revision: true } },
      "range",
      /header.revision = true, expected an int64/,
    ],
    ["an unsafe number revision", { header: { revision: 2 ** 60 } }, "range", /header.revision/],
    ["a header that is a string", { header: "h" }, "range", /header = "h", expected an object/],
    ["kvs as an object", { header: {}, kvs: {} }, "range", /kvs = \{\}, expected an array/],
    ["a kv that is null", { header: {}, kvs: [null] }, "range", /kvs\[0\] = null, expected an object/],
    [
      "a numeric key",
      { header: {}, kvs: [{ key: 5 }] },
      "range",
      /kvs\[0\].key = 5, expected a base64 string/,
    ],
    [
      "bad base64",
      { header: {}, kvs: [{ key: "!!!" }] },
      "range",
      /kvs\[0\].key = "!!!", expected valid base64/,
    ],
    ["a lease ID of 0", { header: {}, ID: "0", TTL: "5" }, "grant", /granted lease ID 0/],
    ["a lease ID that is omitted", { header: {}, TTL: "5" }, "grant", /granted lease ID 0/],
    [
      "a TTL beyond 2^53",
      { header: {}, ID: "1", TTL: "90071992547409930" },
      "grant",
      /TTL = "9007.*safe integer/,
    ],
    ["a result that is a number", { result: 5 }, "keepAlive", /result = 5, expected an object/],
    ["a deleted count that is text", { header: {}, deleted: "many" }, "delete", /deleted = "many"/],
  ];
  for (const [name, body, call, message] of cases) {
    await t.step(name, async () => {
      const client = answering(body);
      const run = call === "range"
        ? client.range("/x")
        : call === "grant"
        ? client.grant(5)
        : call === "keepAlive"
        ? client.keepAlive("1")
        : client.delete("/x");
      await assert.rejects(run, (e: Error) => {
        assert.ok(e instanceof MalformedResponseError, `${e.name}: ${e.message}`);
        assert.equal((e as MalformedResponseError).code, "ERR_MALFORMED_RESPONSE");
        assert.match(e.message, message);
        return true;
      });
    });
  }
  await t.step("a body that is not JSON", async () => {
    const { fake, client } = setup();
    fake.script("/kv/range", "garbage");
    await assert.rejects(client.range("/x"), /etcd answered \/kv\/range with invalid JSON: "\{not json"/);
  });
  await t.step("an answer over maxResponseBytes", async () => {
    const { fake, client } = setup({ maxResponseBytes: 64 });
    fake.script("/kv/range", () => Response.json({ header: {}, pad: "x".repeat(200) }));
    await assert.rejects(client.range("/x"), (e: Error) => e instanceof MalformedResponseError);
  });
});

Deno.test("EtcdClient answers a 4xx with RegistryRejectedError carrying the status and etcd's message", async () => {
  const { fake, client } = setup({ endpoints: [A, "http://b.test:2379"] });
  fake.script("/kv/put", "http400");
  await assert.rejects(client.put("/k", "v"), (e: Error) => {
    assert.ok(e instanceof RegistryRejectedError);
    assert.equal(e.status, 400);
    assert.equal(e.detail, "etcdserver: bad request");
    assert.equal(e.code, "ERR_REGISTRY_REJECTED");
    assert.match(
      e.message,
      /etcd at http:\/\/a.test:2379 refused \/kv\/put with 400: etcdserver: bad request/,
    );
    return true;
  });
  assert.deepStrictEqual(fake.requests.map((r) => r.endpoint), [A], "a refusal is not failed over");
});

Deno.test("EtcdClient checks call arguments", async () => {
  const { client } = setup();
  await assert.rejects(client.range(""), /key must be a non-empty string, got ""/);
  await assert.rejects(client.put("/k", 5 as unknown as string), /value must be a string, got 5/);
  await assert.rejects(client.grant(1.5), /ttl must be an integer >= 1, got 1.5/);
  await assert.rejects(client.grant(0), /ttl must be an integer >= 1, got 0/);
  await assert.rejects(client.keepAlive(""), /id must be a non-empty string/);
  await assert.rejects(
    client.range("/k", { signal: "s" as unknown as AbortSignal }),
    /options.signal must be an AbortSignal/,
  );
});

Deno.test("EtcdClient keepAlive reads an error line in the keep-alive stream as unavailability, not as a lost lease", async () => {
  // The gateway answers a failing keep-alive stream with 200 and an error object (no TTL).
  const client = answering({
    error: {
      grpc_code: 14,
      http_code: 503,
      message: "etcdserver: no leader",
      http_status: "Service Unavailable",
    },
  });
  await assert.rejects(client.keepAlive("1"), (e: Error) => {
    assert.ok(e instanceof RegistryUnavailableError, `${e.name}: ${e.message}`);
    assert.match(e.message, /keep-alive of lease 1 failed: etcdserver: no leader/);
    return true;
  });
});

Deno.test("EtcdClient accepts int64 fields sent as JSON numbers when they are safe integers", async () => {
  assert.deepStrictEqual(
    await answering({ header: { revision: 7 }, kvs: [{ key: b64("/k"), mod_revision: 6 }] }).range("/k"),
    {
      revision: "7",
      kvs: [{ key: "/k", value: "", modRevision: "6", lease: "0" }],
    },
  );
});

Deno.test("EtcdClient revoke() reports a server error instead of swallowing it", async () => {
  const { fake, client } = setup();
  fake.script("/lease/revoke", "http500");
  await assert.rejects(client.revoke("5"), (e) => e instanceof RegistryUnavailableError);
});

Deno.test("EtcdClient decodes bytes that are not UTF-8 as U+FFFD instead of failing the whole answer", async () => {
  const client = answering({
    header: header(4),
    kvs: [{ key: b64("/a"), value: "//79" }, { key: "L2L/", value: b64("ok") }],
  });
  assert.deepStrictEqual((await client.range("/", { prefix: true })).kvs.map((kv) => [kv.key, kv.value]), [
    ["/a", "\uFFFD\uFFFD\uFFFD"],
    ["/b\uFFFD", "ok"],
  ]);
});
