// EurekaRegistry on fake time over the fake server: one full fetch then deltas, the hash-code check
// and the full fetch it triggers, the delta age limit, instancers sharing one poll, and lifecycles.
import { assert, fakeTime } from "../_deps.ts";
import { FakeEureka, inst } from "../_fakes/eureka.ts";
import { EurekaClient } from "../../src/eureka/client.ts";
import { EurekaRegistry } from "../../src/eureka/registry.ts";
import { record, recordingLogger, SERVER, withRegistry } from "./_harness.ts";

function order(n: number) {
  return { app: "orders", instanceId: `orders-${n}`, ipAddr: `10.0.1.${n}`, port: 9090 };
}

/** The registry's copy as `APP id STATUS` lines, and the server's, for comparison. */
function copyOf(registry: EurekaRegistry): string[] {
  return (registry.applications() ?? []).flatMap((a) =>
    a.instances.map((i) => `${a.name} ${i.instanceId} ${i.status}`).sort()
  );
}
function serverOf(fake: FakeEureka, apps: string[]): string[] {
  return apps.flatMap((app) => fake.instances(app).map((i) => `${i.app} ${i.instanceId} ${i.status}`).sort());
}

Deno.test("EurekaRegistry fetches everything once, then applies deltas while the hash codes agree", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  fake.put(order(1));
  await withRegistry(fake, {}, async ({ clock, registry, routes }) => {
    const users = record(registry.instancer("users"));
    const orders = record(registry.instancer("ORDERS"));
    await clock.tickAsync(0);
    fake.put(inst(2));
    await clock.tickAsync(1000);
    fake.setStatus("users", "users-1", "OUT_OF_SERVICE");
    fake.remove("orders", "orders-1");
    await clock.tickAsync(1000);
    fake.put(order(2));
    await clock.tickAsync(1000);
    assert.deepStrictEqual(routes(), ["GET /apps", "GET /apps/delta", "GET /apps/delta", "GET /apps/delta"]);
    assert.deepStrictEqual(users.events, [
      "[10.0.0.1:8080]",
      "[10.0.0.1:8080,10.0.0.2:8080]",
      "[10.0.0.2:8080]",
    ]);
    assert.deepStrictEqual(orders.events, ["[10.0.1.1:9090]", "[]", "[10.0.1.2:9090]"]);
    assert.deepStrictEqual(copyOf(registry), serverOf(fake, ["orders", "users"]));
    assert.equal(registry.hashCode(), "OUT_OF_SERVICE_1_UP_2_");
  });
});

Deno.test("EurekaRegistry fetches everything again when a delta's hash code disagrees", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  const logger = recordingLogger();
  await withRegistry(fake, { logger }, async ({ clock, registry, routes }) => {
    const users = record(registry.instancer("users"));
    await clock.tickAsync(0);
    // A change the delta queue lost: the delta alone leaves the copy short of one instance.
    fake.put(inst(2));
    fake.forgetChanges();
    await clock.tickAsync(1000);
    assert.deepStrictEqual(routes(), ["GET /apps", "GET /apps/delta", "GET /apps"]);
    assert.deepStrictEqual(users.events, ["[10.0.0.1:8080]", "[10.0.0.1:8080,10.0.0.2:8080]"]);
    assert.deepStrictEqual(logger.lines, [
      "info Eureka delta disagrees with the server's hash code; fetching everything",
    ]);
    // A server whose delta hash is simply wrong costs a full fetch per poll, but never a wrong state.
    fake.deltaHashOverride = "UP_7_";
    await clock.tickAsync(1000);
    assert.deepStrictEqual(routes().slice(3), ["GET /apps/delta", "GET /apps"]);
    assert.deepStrictEqual(users.events.length, 2);
  });
});

Deno.test("EurekaRegistry does not apply a mismatched delta when the full fetch that follows fails", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  await withRegistry(fake, {}, async ({ clock, registry, routes }) => {
    const users = record(registry.instancer("users"));
    await clock.tickAsync(0);
    fake.remove("users", "users-1");
    fake.deltaHashOverride = "UP_1_DOWN_9_";
    fake.script("GET /apps", "http500");
    await clock.tickAsync(1000);
    assert.deepStrictEqual(users.events, ["[10.0.0.1:8080]", "error:RegistryUnavailableError"]);
    assert.deepStrictEqual(copyOf(registry), ["USERS users-1 UP"], "the copy is still the last good one");
    fake.deltaHashOverride = undefined;
    await clock.tickAsync(500);
    assert.deepStrictEqual(routes(), ["GET /apps", "GET /apps/delta", "GET /apps", "GET /apps/delta"]);
    assert.deepStrictEqual(users.events, ["[10.0.0.1:8080]", "error:RegistryUnavailableError", "[]"]);
  });
});

Deno.test("EurekaRegistry fetches everything after a gap longer than maxDeltaAge, and always with 0", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  await withRegistry(fake, { maxDeltaAge: 5000, backoff: { initial: 4000, max: 4000 } }, async (run) => {
    const users = record(run.registry.instancer("users"));
    await run.clock.tickAsync(0);
    fake.script("GET /apps/delta", "network", "network", "network");
    // Polls: 1000 (fail), then every 2,000 ms (the 4 s cap halved at random 0): 3000, 5000 fail;
    // 7000 is 7 s after the last good poll: a full fetch.
    await run.clock.tickAsync(7000);
    assert.deepStrictEqual(run.routes(), [
      "GET /apps",
      "GET /apps/delta",
      "GET /apps/delta",
      "GET /apps/delta",
      "GET /apps",
    ]);
    assert.deepStrictEqual(users.events, [
      "[10.0.0.1:8080]",
      "error:RegistryUnavailableError",
      "[10.0.0.1:8080]",
    ]);
  });
  const always = new FakeEureka();
  await withRegistry(always, { maxDeltaAge: 0 }, async ({ clock, routes }) => {
    await clock.tickAsync(2000);
    assert.deepStrictEqual(routes(), ["GET /apps", "GET /apps", "GET /apps"]);
  });
});

Deno.test("EurekaRegistry feeds any number of instancers from one poll, late ones included", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  fake.put(inst(2, { status: "DOWN", securePort: 8443, securePortEnabled: true }));
  await withRegistry(fake, {}, async ({ clock, registry, routes }) => {
    const a = record(registry.instancer("users"));
    const b = record(registry.instancer("Users", { statuses: ["UP", "DOWN"] }));
    await clock.tickAsync(0);
    const late = record(registry.instancer("users", { secure: true, statuses: ["DOWN"] }));
    const missing = record(registry.instancer("payments"));
    await clock.tickAsync(0);
    assert.deepStrictEqual(routes(), ["GET /apps"], "one request, however many instancers");
    assert.deepStrictEqual(a.events, ["[10.0.0.1:8080]"]);
    assert.deepStrictEqual(b.events, ["[10.0.0.1:8080,10.0.0.2:8080]"]);
    assert.deepStrictEqual(late.events, ["[10.0.0.2:8443]"]);
    assert.deepStrictEqual(missing.events, ["[]"], "an application the registry lacks is an empty set");
    assert.equal(b.raw[0]!.details?.get("10.0.0.2:8080")?.status, "critical");
  });
});

Deno.test("EurekaRegistry reports a failed poll to every instancer, which keep their state, and recovers", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  fake.put(order(1));
  await withRegistry(fake, {}, async ({ clock, registry, routes }) => {
    const users = record(registry.instancer("users"));
    const orders = record(registry.instancer("orders"));
    await clock.tickAsync(0);
    fake.script("GET /apps/delta", "garbage", "http500");
    await clock.tickAsync(1000 + 500 + 1000);
    assert.deepStrictEqual(users.events, [
      "[10.0.0.1:8080]",
      "error:MalformedResponseError",
      "error:RegistryUnavailableError",
      "[10.0.0.1:8080]",
    ]);
    assert.deepStrictEqual(orders.events, [
      "[10.0.1.1:9090]",
      "error:MalformedResponseError",
      "error:RegistryUnavailableError",
      "[10.0.1.1:9090]",
    ]);
    assert.equal(fake.requests.map((r) => r.at).join(), "0,1000,1500,2500");
    assert.equal(routes().length, 4);
  });
});

Deno.test("EurekaRegistry instancers stop on their own or with the registry, and a stopped registry polls no more", async () => {
  const clock = fakeTime(0);
  try {
    const fake = new FakeEureka();
    fake.put(inst(1));
    const client = new EurekaClient({ urls: SERVER, fetch: fake.fetch });
    const controller = new AbortController();
    const registry = new EurekaRegistry(client, {
      interval: 1000,
      random: () => 0,
      signal: controller.signal,
    });
    const own = new AbortController();
    const a = registry.instancer("users", { signal: own.signal });
    const b = registry.instancer("users");
    const ea = record(a);
    const eb = record(b);
    await clock.tickAsync(0);
    own.abort();
    assert.equal(a.stopped, true);
    fake.put(inst(2));
    await clock.tickAsync(1000);
    assert.deepStrictEqual(ea.events, ["[10.0.0.1:8080]"], "a stopped instancer hears nothing more");
    assert.deepStrictEqual(eb.events, ["[10.0.0.1:8080]", "[10.0.0.1:8080,10.0.0.2:8080]"]);
    controller.abort();
    assert.equal(registry.stopped, true);
    assert.equal(b.stopped, true);
    registry.stop();
    const after = registry.instancer("users");
    assert.equal(after.stopped, true);
    const count = fake.requests.length;
    await clock.tickAsync(10_000);
    assert.equal(fake.requests.length, count);
    assert.equal(clock.countTimers(), 0);
    assert.equal(registry.instancer("users", { signal: AbortSignal.abort() }).stopped, true);

    const born = new EurekaRegistry(client, { signal: AbortSignal.abort() });
    await clock.tickAsync(0);
    assert.equal(born.stopped, true);
    assert.equal(born.applications(), undefined);
    assert.equal(born.hashCode(), "");
    assert.equal(fake.requests.length, count, "a registry born stopped sends nothing");
  } finally {
    clock.uninstall();
  }
});

Deno.test("EurekaRegistry.lookup fetches the whole registry without touching the copy", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  await withRegistry(fake, {}, async ({ clock, registry }) => {
    await clock.tickAsync(0);
    fake.put(inst(2));
    const answer = await registry.lookup();
    assert.equal(answer.hashCode, "UP_2_");
    assert.equal(registry.hashCode(), "UP_1_");
  });
});

Deno.test("EurekaRegistry validates its arguments eagerly", () => {
  const client = new EurekaClient({ urls: SERVER, fetch: () => Promise.reject(new Error("unused")) });
  const cases: [() => unknown, RegExp][] = [
    [() => new EurekaRegistry({} as never), /client must have a getDelta\(\) method/],
    [() => new EurekaRegistry(client, null as never), /options must be an object, got null/],
    [
      () => new EurekaRegistry(client, { interval: -1 }),
      /options.interval must be a finite number >= 1, got -1/,
    ],
    [
      () => new EurekaRegistry(client, { maxDeltaAge: -1 }),
      /options.maxDeltaAge must be a finite number >= 0, got -1/,
    ],
    [() => new EurekaRegistry(client, { now: 5 as never }), /options.now must be a function, got 5/],
    [
      () => new EurekaRegistry(client, { signal: 1 as never }),
      /options.signal must be an AbortSignal, got 1/,
    ],
  ];
  for (const [make, message] of cases) assert.throws(make, message);
  const registry = new EurekaRegistry(client, { signal: AbortSignal.abort() });
  assert.throws(() => registry.instancer(""), /app must be a non-empty string, got ""/);
  assert.throws(() => registry.instancer("a", null as never), /options must be an object, got null/);
  assert.throws(() => registry.instancer("a", { address: "x" as never }), /options.address must be/);
});

Deno.test("EurekaRegistry.stop aborts a fetch in flight without an error event", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  await withRegistry(fake, {}, async ({ clock, registry }) => {
    const users = record(registry.instancer("users"));
    await clock.tickAsync(0);
    fake.script("GET /apps/delta", "hang");
    await clock.tickAsync(1000);
    const inFlight = fake.requests.at(-1)!;
    registry.stop();
    await clock.tickAsync(10_000);
    assert.equal(inFlight.signal?.aborted, true);
    assert.deepStrictEqual(users.events, ["[10.0.0.1:8080]"]);
    assert.equal(fake.requests.length, 2);
  });
});
