// etcdLookup: one range read per lookup, decoded as the instancer decodes; no TTL; aborts, failover
// and errors; and the shared decoding (the instancer's lookup gives the same instances).
import { assert, fakeTime } from "../_deps.ts";
import { FakeEtcd } from "../_fakes/etcd.ts";
import { EtcdClient } from "../../src/etcd/client.ts";
import { EtcdInstancer } from "../../src/etcd/instancer.ts";
import { etcdLookup } from "../../src/etcd/pull.ts";
import { MalformedResponseError, RegistryRejectedError, RegistryUnavailableError } from "../../src/errors.ts";
import { PullInstancer } from "../../src/pull_instancer.ts";
import { MEMBER, recordingLogger } from "./_harness.ts";

const signal = () => new AbortController().signal;

function seeded(): { fake: FakeEtcd; client: EtcdClient } {
  const fake = new FakeEtcd();
  fake.put("/svc/a", "10.0.0.1:8080");
  fake.put("/svc/b", "10.0.0.2:8080");
  fake.put("/svc2/c", "10.0.0.3:8080"); // another prefix
  return { fake, client: new EtcdClient({ endpoints: [MEMBER], fetch: fake.fetch }) };
}

Deno.test("etcdLookup reads the prefix with one range request and no TTL", async () => {
  const { fake, client } = seeded();
  const result = await etcdLookup(client, "/svc/")({ signal: signal() });
  assert.deepStrictEqual(result, {
    instances: [{ instance: "10.0.0.1:8080", id: "/svc/a" }, { instance: "10.0.0.2:8080", id: "/svc/b" }],
    ttl: undefined,
  });
  assert.deepStrictEqual(fake.paths(), ["/kv/range"]);
  const body = fake.calls("/kv/range")[0]!.body;
  assert.deepStrictEqual([atob(String(body["key"])), atob(String(body["range_end"]))], ["/svc/", "/svc0"]);
});

Deno.test("etcdLookup skips empty and non-UTF-8 values as the instancer does, with the same output", async () => {
  const { fake, client } = seeded();
  fake.put("/svc/empty", "");
  fake.script("/kv/range", (request) => {
    const answer = fake.respond(request);
    return answer.json().then((json) => {
      // A value that is not UTF-8: the byte 0xff.
      json.kvs.push({ key: btoa("/svc/binary"), value: btoa("\xff") });
      return Response.json(json);
    });
  });
  const logger = recordingLogger();
  const pulled = await etcdLookup(client, "/svc/", { logger })({ signal: signal() });
  assert.deepStrictEqual(logger.lines, [
    "warn etcd key with an empty value skipped",
    "warn etcd key with a value that is not UTF-8 text skipped",
  ]);
  const clock = fakeTime(0);
  try {
    using instancer = new EtcdInstancer(client, "/svc/", { backoff: { initial: 60_000 } });
    const listed = await instancer.lookup();
    assert.deepStrictEqual(pulled.instances, listed.instances);
  } finally {
    clock.uninstall();
  }
});

Deno.test("etcdLookup checks its arguments when built", () => {
  const { client } = seeded();
  assert.throws(() => etcdLookup({} as EtcdClient, "/svc/"), /client must have a range\(\) method/);
  assert.throws(() => etcdLookup(client, ""), /prefix must be a non-empty string, got ""/);
  assert.throws(() => etcdLookup(client, "/svc/", null as never), /options must be an object, got null/);
});

Deno.test("etcdLookup honours its signal before and during the request", async () => {
  const { fake, client } = seeded();
  const lookup = etcdLookup(client, "/svc/");
  const before = new AbortController();
  before.abort(new Error("request gone"));
  await assert.rejects(lookup({ signal: before.signal }), /request gone/);
  assert.equal(fake.requests.length, 0);

  fake.script("/kv/range", "hang");
  const during = new AbortController();
  const pending = lookup({ signal: during.signal });
  await new Promise((resolve) => setTimeout(resolve, 0));
  during.abort(new Error("client went away"));
  await assert.rejects(pending, /client went away/);
  assert.equal(fake.requests.length, 1);
  assert.equal(fake.requests[0]!.signal?.aborted, true);
});

Deno.test("etcdLookup fails over to the next member: one request per member tried", async () => {
  const fake = new FakeEtcd();
  fake.put("/svc/a", "10.0.0.1:8080");
  fake.down.add("http://a.test:2379");
  const client = new EtcdClient({
    endpoints: ["http://a.test:2379", "http://b.test:2379"],
    fetch: fake.fetch,
  });
  const result = await etcdLookup(client, "/svc/")({ signal: signal() });
  assert.deepStrictEqual(result.instances, [{ instance: "10.0.0.1:8080", id: "/svc/a" }]);
  assert.deepStrictEqual(fake.requests.map((r) => `${r.endpoint}${r.path}`), [
    "http://a.test:2379/kv/range",
    "http://b.test:2379/kv/range",
  ]);
});

Deno.test("etcdLookup turns bad answers into clear errors, without the password", async () => {
  const cases: [string, new (...args: never[]) => Error, RegExp][] = [
    ["garbage", MalformedResponseError, /invalid JSON: "\{not json"/],
    ["notObject", MalformedResponseError, /the answer to \/kv\/range = \[1,2,3\], expected an object/],
    ["http503", RegistryUnavailableError, /answered 503 on \/kv\/range: etcdserver: no leader/],
    ["http400", RegistryRejectedError, /refused \/kv\/range with 400/],
  ];
  for (const [fault, type, message] of cases) {
    const fake = new FakeEtcd();
    fake.users = new Map([["svc", "pa55word"]]);
    fake.script("/kv/range", fault as never);
    const client = new EtcdClient({
      endpoints: [MEMBER],
      fetch: fake.fetch,
      username: "svc",
      password: "pa55word",
    });
    const error = await etcdLookup(client, "/svc/")({ signal: signal() }).then(() => undefined, (e) => e);
    assert.ok(error instanceof type, `${fault}: ${error}`);
    assert.match(error.message, message);
    assert.ok(!error.message.includes("pa55word"), error.message);
  }
  const fake = new FakeEtcd();
  fake.script("/kv/range", Response.json({ header: {}, kvs: [{ key: 7 }] }));
  const client = new EtcdClient({ endpoints: [MEMBER], fetch: fake.fetch });
  await assert.rejects(
    etcdLookup(client, "/svc/")({ signal: signal() }),
    (e: Error) =>
      e instanceof MalformedResponseError && /kvs\[0\]\.key = 7, expected a base64 string/.test(e.message),
  );
});

Deno.test("a PullInstancer over etcdLookup asks once per TTL", async () => {
  const clock = fakeTime(0);
  try {
    const { fake, client } = seeded();
    using instancer = new PullInstancer(etcdLookup(client, "/svc/"), { ttl: 5_000, staleWhileRevalidate: 0 });
    await instancer.refresh();
    fake.delete("/svc/b");
    await clock.tickAsync(4_999);
    assert.equal((await instancer.refresh()).source, "fresh");
    assert.deepStrictEqual(instancer.state()?.instances, ["10.0.0.1:8080", "10.0.0.2:8080"]);
    await clock.tickAsync(1);
    assert.equal((await instancer.refresh()).source, "refreshed");
    assert.deepStrictEqual(instancer.state()?.instances, ["10.0.0.1:8080"]);
    assert.deepStrictEqual(fake.paths(), ["/kv/range", "/kv/range"]);
  } finally {
    clock.uninstall();
  }
});
