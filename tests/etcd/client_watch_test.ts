// EtcdClient.watch: the create request it sends and how it reads the newline-delimited stream
// (chunking, omitted PUT type, cancellations, error lines, garbage, cuts, size cap, abort).
import { assert, fakeTime } from "../_deps.ts";
import { b64, deleteEvent, FakeEtcd, type FakeWatch, header, putEvent } from "../_fakes/etcd.ts";
import { EtcdClient, type EtcdWatchMessage } from "../../src/etcd/client.ts";
import { MalformedResponseError, RegistryRejectedError, RegistryUnavailableError } from "../../src/errors.ts";

const A = "http://a.test:2379";
const B = "http://b.test:2379";

function setup(maxResponseBytes?: number): { fake: FakeEtcd; client: EtcdClient } {
  const fake = new FakeEtcd();
  fake.autoWatch = false;
  const client = new EtcdClient({
    endpoints: [A, B],
    fetch: fake.fetch,
    ...(maxResponseBytes === undefined ? {} : { maxResponseBytes }),
  });
  return { fake, client };
}

/** Opens a watch and returns its iterator and the fake's side of the stream. */
async function open(
  fake: FakeEtcd,
  client: EtcdClient,
  options: Parameters<EtcdClient["watch"]>[1] = { prefix: true },
): Promise<
  {
    it: AsyncGenerator<EtcdWatchMessage, void, undefined>;
    watch: FakeWatch;
    first: Promise<IteratorResult<EtcdWatchMessage, void>>;
  }
> {
  const before = fake.watches.length;
  const it = client.watch("/svc/", options);
  const first = it.next(); // the request goes out on the first next()
  for (let i = 0; i < 50 && fake.watches.length === before; i++) await Promise.resolve();
  assert.equal(fake.watches.length, before + 1, "the watch request reached the fake");
  return { it, watch: fake.watches.at(-1)!, first };
}

Deno.test("EtcdClient.watch sends key, range_end, start_revision and progress_notify", async () => {
  const { fake, client } = setup();
  const a = await open(fake, client, { prefix: true, startRevision: "9007199254740993" });
  assert.deepStrictEqual(a.watch.create, {
    key: b64("/svc/"),
    range_end: b64("/svc0"),
    start_revision: "9007199254740993",
    progress_notify: true,
  });
  const b = await open(fake, client, { startRevision: "0", progressNotify: false });
  assert.deepStrictEqual(b.watch.create, { key: b64("/svc/") });
  for (const { it, watch, first } of [a, b]) {
    watch.created(1);
    await first;
    await it.return(); // breaking off a suspended watch cancels its body
  }
  assert.ok(fake.watches.every((w) => w.cancelled), "both bodies were cancelled");
});

Deno.test("EtcdClient.watch decodes created, events (a missing type is PUT), deletes and progress notifications", async () => {
  const { fake, client } = setup();
  const { it, watch, first } = await open(fake, client);
  watch.created(7);
  assert.deepStrictEqual((await first).value, {
    revision: "7",
    clusterId: "16968896190503157282",
    created: true,
    canceled: false,
    compactRevision: undefined,
    cancelReason: undefined,
    events: [],
  });
  watch.events(8, putEvent("/svc/a", "10.0.0.1:80", 8), deleteEvent("/svc/b", 8));
  const second = (await it.next()).value as EtcdWatchMessage;
  assert.equal(second.revision, "8");
  assert.deepStrictEqual(second.events, [
    { type: "PUT", kv: { key: "/svc/a", value: "10.0.0.1:80", modRevision: "8", lease: "0" } },
    { type: "DELETE", kv: { key: "/svc/b", value: "", modRevision: "8", lease: "0" } },
  ]);
  watch.progress(12);
  const third = (await it.next()).value as EtcdWatchMessage;
  assert.deepStrictEqual([third.revision, third.created, third.events], ["12", false, []]);
  watch.end();
  assert.equal((await it.next()).done, true);
});

Deno.test("EtcdClient.watch reassembles lines split across chunks and splits chunks holding several lines", async () => {
  const { fake, client } = setup();
  const { it, watch, first } = await open(fake, client);
  const line = (rev: number) =>
    JSON.stringify({ result: { header: header(rev), events: [putEvent("/svc/x", `v${rev}`, rev)] } });
  const l2 = line(2);
  watch.raw(l2.slice(0, 10));
  watch.raw(l2.slice(10, 30));
  watch.raw(`${l2.slice(30)}\n\n${line(3)}\n${line(4).slice(0, 5)}`);
  watch.raw(`${line(4).slice(5)}\n   \n`);
  watch.raw(line(5)); // the last line may lack its newline
  watch.end();
  const revisions = [(await first).value!.revision];
  for await (const message of { [Symbol.asyncIterator]: () => it }) revisions.push(message.revision);
  assert.deepStrictEqual(revisions, ["2", "3", "4", "5"]);
});

Deno.test("EtcdClient.watch reports cancellations with and without a compaction revision", async () => {
  const { fake, client } = setup();
  const { it, watch, first } = await open(fake, client);
  watch.canceled(42);
  const compacted = (await first).value!;
  assert.deepStrictEqual(
    [compacted.canceled, compacted.compactRevision, compacted.revision],
    [true, "42", "0"],
  );
  watch.canceled(undefined, "etcdserver: mvcc: required revision is a future revision");
  const plain = (await it.next()).value!;
  assert.deepStrictEqual(
    [plain.canceled, plain.compactRevision, plain.cancelReason],
    [true, undefined, "etcdserver: mvcc: required revision is a future revision"],
  );
  watch.send({ header: header(3), canceled: true, compact_revision: "0" });
  assert.equal((await it.next()).value!.compactRevision, undefined);
  watch.send({ header: header(3), compact_revision: "5" }); // not cancelled: ignored
  assert.equal((await it.next()).value!.compactRevision, undefined);
  await it.return();
});

Deno.test("EtcdClient.watch throws RegistryUnavailableError for an error line from a stopping server", async () => {
  const { fake, client } = setup();
  const { watch, first } = await open(fake, client);
  watch.serverError();
  await assert.rejects(first, (e) => {
    assert.ok(e instanceof RegistryUnavailableError);
    assert.equal(e.message, "etcd ended the watch stream: transport is closing");
    return true;
  });
  assert.ok(watch.closed);
});

Deno.test("EtcdClient.watch throws MalformedResponseError for garbage, wrong types and unknown event types", async (t) => {
  const cases: [string, string, RegExp][] = [
    [
      "a line that is not JSON",
      "<html>bad gateway</html>\n",
      /\/watch with invalid JSON: "<html>bad gateway/,
    ],
    ["a JSON array", "[1,2]\n", /expected an object/],
    ["a result that is a string", '{"result":"x"}\n', /result = "x", expected an object/],
    ["a boolean revision", '{"result":{"header":{"revision":true}}}\n', /result.header.revision = true/],
    ["events that are not an array", '{"result":{"header":{},"events":{}}}\n', /result.events = /],
    ["an unknown event type", '{"result":{"events":[{"type":"PATCH","kv":{}}]}}\n', /event type "PATCH"/],
    ["bad base64 in a key", '{"result":{"events":[{"kv":{"key":"%%"}}]}}\n', /events\[0\].kv.key = "%%"/],
    ["an error that is a string", '{"error":"boom"}\n', /error = "boom", expected an object/],
    ["an unfinished last line", '{"result":{"header":', /invalid JSON/],
  ];
  for (const [name, text, message] of cases) {
    await t.step(name, async () => {
      const { fake, client } = setup();
      const { watch, first } = await open(fake, client);
      watch.raw(text);
      watch.end();
      await assert.rejects(first, (e: Error) => {
        assert.ok(e instanceof MalformedResponseError, `${e.name}: ${e.message}`);
        assert.match(e.message, message);
        return true;
      });
    });
  }
});

Deno.test("EtcdClient.watch throws RegistryUnavailableError when the stream breaks mid-line", async () => {
  const { fake, client } = setup();
  const { it, watch, first } = await open(fake, client);
  watch.created(3);
  await first;
  watch.raw('{"result":{"header":{"revision":"4"},"ev');
  watch.fail(new TypeError("error reading a body from connection: connection reset"));
  await assert.rejects(it.next(), (e) => {
    assert.ok(e instanceof RegistryUnavailableError);
    assert.match(e.message, /etcd watch stream broke: TypeError: error reading a body/);
    return true;
  });
});

Deno.test("EtcdClient.watch refuses a message larger than maxResponseBytes", async () => {
  const { fake, client } = setup(100);
  const { watch, first } = await open(fake, client);
  watch.raw(`{"result":{"header":{},"pad":"${"x".repeat(200)}`);
  await assert.rejects(first, /etcd watch message exceeds 100 bytes/);
  assert.ok(watch.cancelled, "the body was cancelled");
});

Deno.test("EtcdClient.watch ends with the caller's reason when its signal aborts, and releases the body", async () => {
  const { fake, client } = setup();
  const controller = new AbortController();
  const { it, watch, first } = await open(fake, client, { prefix: true, signal: controller.signal });
  watch.created(2);
  await first;
  const pending = it.next();
  const reason = new Error("instancer stopped");
  controller.abort(reason);
  await assert.rejects(pending, (e) => e === reason);
  assert.ok(watch.cancelled, "the request was aborted");
  assert.equal((await it.next()).done, true);
});

Deno.test("EtcdClient.watch fails over when a member refuses the stream, and throws a 4xx at once", async () => {
  const { fake, client } = setup();
  fake.script("/watch", "http503");
  fake.autoWatch = true;
  const { it, first } = await open(fake, client);
  assert.equal((await first).value!.created, true);
  await it.return();
  assert.deepStrictEqual(fake.requests.map((r) => r.endpoint), [A, B]);
  fake.script("/watch", "http400");
  await assert.rejects(
    client.watch("/svc/").next(),
    (e) => e instanceof RegistryRejectedError && e.status === 400,
  );
});

Deno.test("EtcdClient.watch times out waiting for headers, but an open stream outlives the timeout", async () => {
  const clock = fakeTime(0);
  try {
    const fake = new FakeEtcd();
    fake.autoWatch = false;
    const client = new EtcdClient({ endpoints: [A, B], fetch: fake.fetch, timeout: 1000 });
    fake.script("/watch", "hang");
    const it = client.watch("/svc/", { prefix: true });
    const first = it.next();
    await clock.tickAsync(1000);
    assert.deepStrictEqual(fake.requests.map((r) => [r.endpoint, r.at]), [[A, 0], [B, 1000]]);
    await clock.tickAsync(60_000);
    const watch = fake.watches[0]!;
    assert.equal(watch.closed, false, "the stream is still open a minute later");
    watch.created(5);
    assert.equal((await first).value!.revision, "5");
    await it.return();
    assert.ok(watch.cancelled);
    assert.equal(clock.countTimers(), 0);
  } finally {
    clock.uninstall();
  }
});

Deno.test("EtcdClient.watch ends at once for an answer without a body", async () => {
  const { fake, client } = setup();
  fake.script("/watch", () => new Response(null));
  const messages = [];
  for await (const message of client.watch("/svc/", { prefix: true })) messages.push(message);
  assert.deepStrictEqual(messages, []);
});
