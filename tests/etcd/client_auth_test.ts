// EtcdClient authentication (a token from /auth/authenticate sent as the raw Authorization header,
// fetched again when etcd rejects it) and gateway prefix detection (/v3, then /v3beta, /v3alpha).
import { assert } from "../_deps.ts";
import { b64, FakeEtcd } from "../_fakes/etcd.ts";
import { EtcdClient, type EtcdClientOptions } from "../../src/etcd/client.ts";
import { RegistryRejectedError, RegistryUnavailableError } from "../../src/errors.ts";

const A = "http://a.test:2379";
const B = "http://b.test:2379";

function setup(options: Partial<EtcdClientOptions> = {}): { fake: FakeEtcd; client: EtcdClient } {
  const fake = new FakeEtcd();
  fake.users = new Map([["svc", "s3cret"]]);
  const client = new EtcdClient({
    endpoints: [A],
    fetch: fake.fetch,
    username: "svc",
    password: "s3cret",
    ...options,
  });
  return { fake, client };
}

const trace = (fake: FakeEtcd) => fake.requests.map((r) => `${r.path} ${r.authorization ?? "-"}`);

Deno.test("EtcdClient authenticates once and sends the token as the raw Authorization header", async () => {
  const { fake, client } = setup();
  await client.put("/k", "v");
  await client.range("/k");
  await client.grant(5);
  assert.deepStrictEqual(trace(fake), [
    "/auth/authenticate -",
    "/kv/put token-1",
    "/kv/range token-1",
    "/lease/grant token-1",
  ]);
  assert.deepStrictEqual(fake.requests[0]!.body, { name: "svc", password: "s3cret" });
});

Deno.test("EtcdClient authenticates again, once, when etcd answers invalid auth token", async () => {
  const { fake, client } = setup();
  await client.put("/k", "v");
  fake.tokens.clear(); // the token expired (etcd's simple tokens live 5 minutes unused)
  assert.equal((await client.range("/k")).kvs[0]?.value, "v");
  assert.deepStrictEqual(trace(fake), [
    "/auth/authenticate -",
    "/kv/put token-1",
    "/kv/range token-1",
    "/auth/authenticate -",
    "/kv/range token-2",
  ]);
});

Deno.test("EtcdClient gives up with RegistryRejectedError when a fresh token is rejected as well", async () => {
  const { fake, client } = setup();
  fake.script("/kv/range", "http400"); // not an auth failure: thrown as is
  await assert.rejects(client.range("/k"), (e) => e instanceof RegistryRejectedError && e.status === 400);
  fake.requests.length = 0;
  // etcd keeps rejecting every token: one re-authentication, then the refusal.
  const invalid = () => Response.json({ error: "etcdserver: invalid auth token", code: 16 }, { status: 401 });
  fake.script("/kv/range", invalid, invalid, invalid);
  await assert.rejects(client.range("/k"), (e) => {
    assert.ok(e instanceof RegistryRejectedError);
    assert.equal(e.status, 401);
    assert.equal(e.detail, "etcdserver: invalid auth token");
    return true;
  });
  assert.deepStrictEqual(trace(fake), [
    "/kv/range token-1",
    "/auth/authenticate -",
    "/kv/range token-2",
  ]);
});

Deno.test("EtcdClient reports a wrong password as RegistryRejectedError naming the user, without retrying", async () => {
  const { fake, client } = setup({ password: "wrong" });
  await assert.rejects(client.range("/k"), (e) => {
    assert.ok(e instanceof RegistryRejectedError);
    assert.equal(e.status, 400);
    assert.match(e.message, /refused user "svc": etcdserver: authentication failed/);
    return true;
  });
  assert.deepStrictEqual(fake.paths(), ["/auth/authenticate"]);
});

Deno.test("EtcdClient without credentials surfaces etcd's 'user name is empty' refusal", async () => {
  const fake = new FakeEtcd();
  fake.users = new Map([["svc", "s3cret"]]);
  const client = new EtcdClient({ endpoints: [A], fetch: fake.fetch });
  await assert.rejects(client.range("/k"), /refused \/kv\/range with 400: etcdserver: user name is empty/);
  assert.deepStrictEqual(fake.paths(), ["/kv/range"]);
});

Deno.test("EtcdClient fails over when authentication meets a dead member or a 5xx, and rejects a token-less answer", async () => {
  const { fake, client } = setup({ endpoints: [A, B] });
  fake.down.add(A);
  await client.put("/k", "v");
  assert.deepStrictEqual(fake.requests.map((r) => `${new URL(r.endpoint).hostname[0]}${r.path}`), [
    "a/auth/authenticate",
    "b/auth/authenticate",
    "b/kv/put",
  ]);
  const five = setup({ endpoints: [A, B] });
  five.fake.script("/auth/authenticate", "http503");
  await five.client.range("/k");
  assert.deepStrictEqual(five.fake.paths(), ["/auth/authenticate", "/auth/authenticate", "/kv/range"]);
  const odd = setup();
  odd.fake.script("/auth/authenticate", () => Response.json({ header: {} }));
  await assert.rejects(odd.client.range("/k"), /authenticate without a token/);
  const garbled = setup();
  garbled.fake.script("/auth/authenticate", "garbage");
  await assert.rejects(garbled.client.range("/k"), /invalid JSON/);
  const allDown = setup();
  allDown.fake.down.add(A);
  await assert.rejects(
    allDown.client.range("/k"),
    (e) => e instanceof RegistryUnavailableError && /failed to authenticate/.test(e.message),
  );
});

Deno.test("EtcdClient falls back to /v3beta when /v3 answers 404 page not found, and stays there", async () => {
  const fake = new FakeEtcd();
  fake.prefix = "/v3beta";
  const infos: unknown[] = [];
  const client = new EtcdClient({
    endpoints: [A],
    fetch: fake.fetch,
    logger: { debug() {}, info: (_m, data) => void infos.push(data), warn() {}, error() {} },
  });
  await client.put("/k", "v");
  await client.range("/k");
  assert.deepStrictEqual(fake.requests.map((r) => `${r.prefix}${r.path}`), [
    "/v3/kv/put",
    "/v3beta/kv/put",
    "/v3beta/kv/range",
  ]);
  assert.deepStrictEqual(infos, [{ from: "/v3", to: "/v3beta" }]);
});

Deno.test("EtcdClient finds /v3alpha on the oldest gateways and reports a member with no v3 gateway", async () => {
  const fake = new FakeEtcd();
  fake.prefix = "/v3alpha";
  const client = new EtcdClient({ endpoints: [A], fetch: fake.fetch });
  assert.equal((await client.range("/k")).revision, "1");
  assert.deepStrictEqual(fake.requests.map((r) => r.prefix), ["/v3", "/v3beta", "/v3alpha"]);

  const none = new FakeEtcd();
  none.prefix = "/nothing";
  const lost = new EtcdClient({ endpoints: [A], fetch: none.fetch });
  await assert.rejects(lost.range("/k"), (e) => {
    assert.ok(e instanceof RegistryRejectedError);
    assert.equal(e.status, 404);
    assert.match(e.message, /etcd at http:\/\/a.test:2379 has no v3 gateway/);
    return true;
  });
  assert.equal(none.requests.length, 3);
});

Deno.test("EtcdClient detects the prefix once when the first calls run concurrently", async () => {
  const fake = new FakeEtcd();
  fake.prefix = "/v3beta";
  const client = new EtcdClient({ endpoints: [A], fetch: fake.fetch });
  const [range, lease, put] = await Promise.all([client.range("/k"), client.grant(5), client.put("/p", "1")]);
  assert.deepStrictEqual([range.revision, lease.ttl, put], ["1", 5, "2"]);
  await client.range("/k");
  assert.equal(fake.requests.at(-1)!.prefix, "/v3beta", "the prefix did not overshoot to /v3alpha");
});

Deno.test("EtcdClient detects the gateway prefix when authentication is the first call", async () => {
  const { fake, client } = setup();
  fake.prefix = "/v3beta";
  await client.put("/k", "v");
  assert.equal(fake.get("/k"), "v");
  assert.deepStrictEqual(fake.requests.at(-1)!.prefix + fake.requests.at(-1)!.path, "/v3beta/kv/put");
  assert.equal(fake.requests.at(-1)!.authorization, "token-1");
});

Deno.test("EtcdClient re-authenticates for a watch that etcd cancelled for an invalid token", async () => {
  const { fake, client } = setup();
  await client.put("/svc/a", "1");
  fake.tokens.clear();
  const first = [];
  for await (const message of client.watch("/svc/", { prefix: true })) {
    first.push(message);
    break;
  }
  assert.equal(first[0]!.canceled, true);
  assert.match(first[0]!.cancelReason ?? "", /invalid auth token/);
  // The next call (the instancer's retry) fetches a new token instead of reusing the dead one.
  const again = client.watch("/svc/", { prefix: true, startRevision: "2" });
  const created = await again.next();
  await again.return();
  assert.equal(created.value && created.value.canceled, false);
  assert.deepStrictEqual(trace(fake).slice(-3), ["/watch token-1", "/auth/authenticate -", "/watch token-2"]);
  assert.deepStrictEqual(fake.watches[1]!.create, {
    key: b64("/svc/"),
    range_end: b64("/svc0"),
    start_revision: "2",
    progress_notify: true,
  });
});

Deno.test("EtcdClient stops authenticating when the caller's signal aborts", async () => {
  const { fake, client } = setup({ endpoints: [A, B] });
  fake.script("/auth/authenticate", "hang");
  const controller = new AbortController();
  const reason = new Error("caller gave up");
  const pending = client.range("/k", { signal: controller.signal });
  await new Promise((resolve) => setTimeout(resolve, 0));
  controller.abort(reason);
  await assert.rejects(pending, (e) => e === reason);
  assert.deepStrictEqual(fake.paths(), ["/auth/authenticate"], "no failover, no range");
});
