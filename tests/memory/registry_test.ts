import { assert, fakeTime, type InstalledClock } from "../_deps.ts";
import { StoppedError } from "../../src/errors.ts";
import { type MemoryRegisterOptions, MemoryRegistry } from "../../src/memory/registry.ts";
import type { DiscoveryEvent } from "../../src/types.ts";

async function withClock(fn: (clock: InstalledClock) => Promise<void> | void): Promise<void> {
  const clock = fakeTime(0);
  try {
    await fn(clock);
  } finally {
    clock.uninstall();
  }
}

/** "a,b" for an instances event, "error: message" for a failure. */
function show(event: DiscoveryEvent): string {
  return event.error !== undefined ? `error: ${event.error.message}` : event.instances.join(",");
}

Deno.test("MemoryRegistry lists registered instances sorted, and services that have any", () => {
  using registry = new MemoryRegistry();
  registry.register("api", "10.0.0.2:80");
  registry.register("api", "10.0.0.1:80");
  registry.register("db", "10.0.1.1:5432");
  assert.deepStrictEqual(registry.instances("api"), ["10.0.0.1:80", "10.0.0.2:80"]);
  assert.deepStrictEqual(registry.instances("db"), ["10.0.1.1:5432"]);
  assert.deepStrictEqual(registry.instances("unknown"), []);
  assert.deepStrictEqual(registry.services(), ["api", "db"]);
  // Registering again replaces, it does not duplicate.
  registry.register("api", "10.0.0.1:80", { details: { weight: 3 } });
  assert.deepStrictEqual(registry.instances("api"), ["10.0.0.1:80", "10.0.0.2:80"]);
});

Deno.test("MemoryRegistry deregister reports whether the instance was there and drops empty services", () => {
  using registry = new MemoryRegistry();
  registry.register("api", "a:1");
  registry.register("db", "d:1");
  assert.equal(registry.deregister("api", "a:1"), true);
  assert.equal(registry.deregister("api", "a:1"), false);
  assert.equal(registry.deregister("nothing", "a:1"), false);
  assert.deepStrictEqual(registry.instances("api"), []);
  assert.deepStrictEqual(registry.services(), ["db"]);
});

Deno.test("MemoryRegistry publishes the registered details to instancers", () => {
  using registry = new MemoryRegistry();
  registry.register("api", "a:1", { details: { weight: 2, zone: "eu-1", tags: ["blue"], meta: { v: "1" } } });
  registry.register("api", "b:1");
  using instancer = registry.instancer("api");
  const state = instancer.state()!;
  assert.deepStrictEqual(state.instances, ["a:1", "b:1"]);
  assert.deepStrictEqual(state.details?.get("a:1"), {
    weight: 2,
    zone: "eu-1",
    tags: ["blue"],
    meta: { v: "1" },
  });
  assert.equal(state.details?.has("b:1"), false);
  assert.ok(Object.isFrozen(instancer.details("a:1")));
});

Deno.test("MemoryRegistry rejects bad arguments and details, registering nothing", () => {
  using registry = new MemoryRegistry();
  const cases: [string, string, MemoryRegisterOptions, typeof TypeError | typeof RangeError, RegExp][] = [
    ["", "a:1", {}, TypeError, /^service must be a non-empty string, got ""$/],
    ["api", 5 as unknown as string, {}, TypeError, /^instance must be a non-empty string, got 5$/],
    ["api", "a:1", { ttl: 0 }, RangeError, /^options\.ttl must be a finite number >= 1, got 0$/],
    ["api", "a:1", { ttl: NaN }, TypeError, /^options\.ttl must be a number, got NaN$/],
    ["api", "a:1", { ttl: Infinity }, RangeError, /got Infinity$/],
    [
      "api",
      "a:1",
      { details: { weight: -1 } },
      RangeError,
      /^details\[0\]: weight must be a finite number >= 0, got -1$/,
    ],
    [
      "api",
      "a:1",
      { details: { tags: "blue" as unknown as string[] } },
      TypeError,
      /^details\[0\]: tags must be an array of strings/,
    ],
    [
      "api",
      "a:1",
      { details: { status: "up" as "passing" } },
      TypeError,
      /^details\[0\]: status must be one of .*got "up"$/,
    ],
    [
      "api",
      "a:1",
      { details: { meta: { v: 1 as unknown as string } } },
      TypeError,
      /meta\["v"\] must be a string, got 1$/,
    ],
  ];
  for (const [service, instance, options, ErrorClass, message] of cases) {
    assert.throws(
      () => registry.register(service, instance, options),
      (error: unknown) => error instanceof ErrorClass && message.test(error.message),
      Deno.inspect([service, instance, options]),
    );
  }
  assert.deepStrictEqual(registry.services(), []);
  assert.throws(() => registry.instancer(""), /^TypeError: service must be a non-empty string/);
});

Deno.test("MemoryRegistry expires an instance exactly at its TTL", async () => {
  await withClock(async (clock) => {
    using registry = new MemoryRegistry();
    registry.register("api", "a:1", { ttl: 1000 });
    registry.register("api", "b:1");
    await clock.tickAsync(999);
    assert.deepStrictEqual(registry.instances("api"), ["a:1", "b:1"]);
    await clock.tickAsync(1);
    assert.deepStrictEqual(registry.instances("api"), ["b:1"]);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("MemoryRegistry renew pushes the expiry a full TTL out", async () => {
  await withClock(async (clock) => {
    using registry = new MemoryRegistry();
    registry.register("api", "a:1", { ttl: 1000 });
    await clock.tickAsync(600);
    assert.equal(registry.renew("api", "a:1"), true);
    await clock.tickAsync(999);
    assert.deepStrictEqual(registry.instances("api"), ["a:1"]);
    await clock.tickAsync(1);
    assert.deepStrictEqual(registry.instances("api"), []);
    // Gone: renewing no longer works.
    assert.equal(registry.renew("api", "a:1"), false);
    assert.equal(registry.renew("nothing", "a:1"), false);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("MemoryRegistry keeps a re-registration alive past the old registration's TTL", async () => {
  await withClock(async (clock) => {
    using registry = new MemoryRegistry();
    registry.register("api", "a:1", { ttl: 1000 });
    await clock.tickAsync(500);
    registry.register("api", "a:1", { ttl: 1000 });
    assert.equal(clock.countTimers(), 1);
    await clock.tickAsync(999);
    assert.deepStrictEqual(registry.instances("api"), ["a:1"]);
    await clock.tickAsync(1);
    assert.deepStrictEqual(registry.instances("api"), []);
    // Without a TTL a re-registration never expires and holds no timer.
    registry.register("api", "b:1", { ttl: 1000 });
    registry.register("api", "b:1");
    assert.equal(clock.countTimers(), 0);
    await clock.tickAsync(5000);
    assert.deepStrictEqual(registry.instances("api"), ["b:1"]);
  });
});

Deno.test("MemoryRegistry deregister clears the TTL timer", async () => {
  await withClock((clock) => {
    using registry = new MemoryRegistry();
    registry.register("api", "a:1", { ttl: 1000 });
    assert.equal(clock.countTimers(), 1);
    registry.deregister("api", "a:1");
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("MemoryRegistry tells instancers when an instance expires", async () => {
  await withClock(async (clock) => {
    using registry = new MemoryRegistry();
    registry.register("api", "a:1", { ttl: 1000 });
    registry.register("api", "b:1", { ttl: 2000 });
    using instancer = registry.instancer("api");
    const seen: string[] = [];
    instancer.subscribe((event) => {
      seen.push(`${Date.now()} ${show(event)}`);
    });
    await clock.tickAsync(3000);
    assert.deepStrictEqual(seen, ["0 a:1,b:1", "1000 b:1", "2000 "]);
  });
});

Deno.test("MemoryRegistry close stops its instancers, clears its timers and refuses further work", async () => {
  await withClock((clock) => {
    const registry = new MemoryRegistry();
    registry.register("api", "a:1", { ttl: 1000 });
    registry.register("db", "d:1", { ttl: 1000 });
    const api = registry.instancer("api");
    const db = registry.instancer("db");
    assert.equal(registry.closed, false);
    registry.close();
    assert.equal(registry.closed, true);
    assert.equal(api.stopped, true);
    assert.equal(db.stopped, true);
    assert.equal(clock.countTimers(), 0);
    for (
      const work of [
        () => registry.register("api", "b:1"),
        () => registry.renew("api", "a:1"),
        () => registry.instancer("api"),
      ]
    ) {
      assert.throws(work, (error: unknown) => {
        assert.ok(error instanceof StoppedError);
        assert.equal(error.code, "ERR_STOPPED");
        assert.equal(error.message, "MemoryRegistry is stopped");
        return true;
      });
    }
    // Reading and removing stay harmless, so that late cleanup never throws.
    assert.deepStrictEqual(registry.instances("api"), ["a:1"]);
    assert.equal(registry.deregister("api", "a:1"), true);
    registry.close();
    assert.equal(registry.closed, true);
  });
});

Deno.test("MemoryRegistry closes itself at the end of a using block", () => {
  let leaked: MemoryRegistry;
  {
    using registry = new MemoryRegistry();
    leaked = registry;
    assert.equal(registry.closed, false);
  }
  assert.equal(leaked.closed, true);
});

Deno.test("MemoryRegistry.registrar builds a registrar bound to the registry", async () => {
  using registry = new MemoryRegistry();
  const registrar = registry.registrar("api", "a:1", { details: { zone: "z1" } });
  assert.equal(registrar.instance, "a:1");
  await registrar.register();
  using instancer = registry.instancer("api");
  assert.deepStrictEqual(instancer.details("a:1"), { zone: "z1" });
  await registrar.deregister();
  assert.deepStrictEqual(registry.instances("api"), []);
});
