// EtcdClient between several members: failover order, the preferred member, 5xx and network errors,
// per-member timeouts on fake time (headers and body), and the caller's signal.
import { assert, fakeTime } from "../_deps.ts";
import { FakeEtcd } from "../_fakes/etcd.ts";
import { EtcdClient, type EtcdClientOptions } from "../../src/etcd/client.ts";
import { RegistryUnavailableError } from "../../src/errors.ts";
import type { Logger } from "../../src/types.ts";

const A = "http://a.test:2379";
const B = "http://b.test:2379";
const C = "http://c.test:2379";

function setup(options: Partial<EtcdClientOptions> = {}): { fake: FakeEtcd; client: EtcdClient } {
  const fake = new FakeEtcd();
  const client = new EtcdClient({ endpoints: [A, B, C], fetch: fake.fetch, ...options });
  return { fake, client };
}

const short = (url: string) => new URL(url).hostname[0];

Deno.test("EtcdClient fails over in order and then prefers the member that answered", async () => {
  const warnings: unknown[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (message, data) => void warnings.push([message, data]),
    error() {},
  };
  const { fake, client } = setup({ logger });
  const members = () => fake.requests.splice(0).map((r) => short(r.endpoint)).join("");

  await client.range("/k");
  assert.equal(members(), "a");
  fake.down.add(A);
  await client.range("/k");
  assert.equal(members(), "ab");
  await client.range("/k");
  assert.equal(members(), "b", "the member that answered is asked first");
  fake.down.add(B);
  await client.range("/k");
  assert.equal(members(), "bc");
  fake.down.delete(A);
  fake.down.add(C);
  await client.range("/k");
  assert.equal(members(), "ca", "wraps around to the first member");
  await client.range("/k");
  assert.equal(members(), "a");
  assert.equal(warnings.length, 3);
  assert.deepStrictEqual((warnings[0] as [string, { endpoint: string }])[1].endpoint, A);
});

Deno.test("EtcdClient fails over on 500, 503 and network errors and throws the last one when every member fails", async () => {
  const { fake, client } = setup();
  fake.script("/kv/put", "http500", "http503");
  assert.equal(await client.put("/k", "v"), "2");
  assert.deepStrictEqual(fake.requests.map((r) => short(r.endpoint)), ["a", "b", "c"]);
  fake.requests.length = 0;
  fake.down.add(A).add(B);
  fake.script("/kv/put", "http503");
  await assert.rejects(client.put("/k", "v"), (e: Error) => {
    assert.ok(e instanceof RegistryUnavailableError);
    assert.equal(e.code, "ERR_REGISTRY_UNAVAILABLE");
    assert.match(
      e.message,
      /etcd at http:\/\/b.test:2379 failed on \/kv\/put: TypeError: .*Connection refused/,
    );
    return true;
  });
  assert.deepStrictEqual(fake.requests.map((r) => short(r.endpoint)), ["c", "a", "b"]);
  fake.requests.length = 0;
  fake.down.clear();
  fake.script("/kv/put", "http503", "http503", "http500");
  await assert.rejects(
    client.put("/k", "v"),
    /etcd at http:\/\/b.test:2379 answered 500 on \/kv\/put: etcdserver: internal error/,
  );
});

Deno.test("EtcdClient gives each member its own timeout for the answer's headers", async () => {
  const clock = fakeTime(0);
  try {
    const { fake, client } = setup({ timeout: 2000 });
    fake.script("/kv/range", "hang", "hang");
    let settled: string | undefined;
    const pending = client.range("/k").then((r) => (settled = `ok at ${Date.now()} rev ${r.revision}`));
    await clock.tickAsync(1999);
    assert.deepStrictEqual(fake.requests.map((r) => [short(r.endpoint), r.at]), [["a", 0]]);
    await clock.tickAsync(1);
    assert.deepStrictEqual(fake.requests.map((r) => [short(r.endpoint), r.at]), [["a", 0], ["b", 2000]]);
    await clock.tickAsync(2000);
    await pending;
    assert.equal(settled, "ok at 4000 rev 1");
    assert.ok(fake.requests[0]!.signal?.aborted, "the timed-out request was aborted");
    assert.equal(clock.countTimers(), 0, "no deadline timer left");
  } finally {
    clock.uninstall();
  }
});

Deno.test("EtcdClient times out a member that sends headers and then stalls the body, and fails over", async () => {
  const clock = fakeTime(0);
  try {
    const { fake, client } = setup({ timeout: 1000 });
    fake.script("/kv/range", "stallBody");
    const pending = client.range("/k");
    let done = false;
    pending.then(() => (done = true), () => (done = true));
    await clock.tickAsync(999);
    assert.equal(done, false);
    await clock.tickAsync(1);
    assert.deepStrictEqual((await pending).revision, "1");
    assert.deepStrictEqual(fake.requests.map((r) => [short(r.endpoint), r.at]), [["a", 0], ["b", 1000]]);
    assert.equal(clock.countTimers(), 0);
  } finally {
    clock.uninstall();
  }
});

Deno.test("EtcdClient reports a timeout on every member as RegistryUnavailableError", async () => {
  const clock = fakeTime(0);
  try {
    const { fake, client } = setup({ timeout: 500 });
    fake.script("/lease/grant", "hang", "hang", "hang");
    const pending = assert.rejects(client.grant(5), (e: Error) => {
      assert.ok(e instanceof RegistryUnavailableError);
      assert.match(
        e.message,
        /etcd at http:\/\/c.test:2379 failed on \/lease\/grant: no answer within 500 ms/,
      );
      return true;
    });
    await clock.tickAsync(1500);
    await pending;
    assert.deepStrictEqual(fake.requests.map((r) => r.at), [0, 500, 1000]);
  } finally {
    clock.uninstall();
  }
});

Deno.test("EtcdClient stops at once, without failover, when the caller's signal aborts", async () => {
  const clock = fakeTime(0);
  try {
    const { fake, client } = setup();
    fake.script("/kv/range", "hang");
    const controller = new AbortController();
    const reason = new Error("caller gave up");
    const pending = assert.rejects(client.range("/k", { signal: controller.signal }), (e) => e === reason);
    await clock.tickAsync(100);
    controller.abort(reason);
    await pending;
    assert.equal(fake.requests.length, 1, "no other member is tried");
    assert.ok(fake.requests[0]!.signal?.aborted);
    assert.equal(clock.countTimers(), 0);

    // Already aborted: the reason is thrown and no member is tried after the first refusal.
    const gone = AbortSignal.abort(reason);
    await assert.rejects(client.put("/k", "v", { signal: gone }), (e) => e === reason);
    assert.equal(fake.calls("/kv/put").length <= 1, true);
    assert.equal(fake.get("/k"), undefined);
  } finally {
    clock.uninstall();
  }
});

Deno.test("EtcdClient aborts a stalled body when the caller's signal aborts", async () => {
  const { fake, client } = setup();
  fake.script("/kv/range", "stallBody");
  const controller = new AbortController();
  const pending = client.range("/k", { signal: controller.signal });
  await new Promise((r) => setTimeout(r, 0));
  controller.abort(new Error("enough"));
  await assert.rejects(pending, /enough/);
  assert.equal(fake.requests.length, 1);
});

Deno.test("EtcdClient shares its preferred member between concurrent calls without mixing their answers", async () => {
  const { fake, client } = setup();
  fake.put("/a", "1");
  fake.put("/b", "2");
  fake.down.add(A);
  const [a, b, g] = await Promise.all([client.range("/a"), client.range("/b"), client.grant(3)]);
  assert.deepStrictEqual([a.kvs[0]?.value, b.kvs[0]?.value, g.ttl], ["1", "2", 3]);
  assert.deepStrictEqual(fake.requests.map((r) => short(r.endpoint)).sort().join(""), "aaabbb");
  await client.range("/a");
  assert.equal(short(fake.requests.at(-1)!.endpoint), "b");
});
