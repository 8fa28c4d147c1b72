import { assert, withClock } from "../_deps.ts";
import { StoppedError } from "../../src/errors.ts";
import type { MemoryRegistrar, MemoryRegistrarOptions } from "../../src/memory/registrar.ts";
import { MemoryRegistry } from "../../src/memory/registry.ts";
import { RegistrarErrorEvent, RegistrarEvent } from "../../src/registrar.ts";
import type { Logger } from "../../src/types.ts";

/** Records "type instance" (and the error message for `error`) for every registrar event. */
function events(registrar: MemoryRegistrar): string[] {
  const seen: string[] = [];
  for (const type of ["registered", "deregistered", "reregistered"]) {
    registrar.addEventListener(type, (event) => {
      assert.ok(event instanceof RegistrarEvent);
      seen.push(`${Date.now()} ${event.type} ${event.instance}`);
    });
  }
  registrar.addEventListener("error", (event) => {
    assert.ok(event instanceof RegistrarErrorEvent);
    seen.push(`${Date.now()} error ${event.instance} ${(event.error as Error).message}`);
  });
  return seen;
}

/** Records the times at which the registry is asked to renew. */
function renewals(registry: MemoryRegistry): number[] {
  const times: number[] = [];
  const renew = registry.renew.bind(registry);
  registry.renew = (service, instance) => {
    times.push(Date.now());
    return renew(service, instance);
  };
  return times;
}

function scripted(values: number[]): () => number {
  let i = 0;
  return () => {
    const v = values[i++];
    if (v === undefined) throw new Error("random() called more often than scripted");
    return v;
  };
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (message: string) => {
    lines.push(`${level} ${message}`);
  };
  return { lines, debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

/** Event lines carry the fake time; tests without timers of their own still run at a fixed time. */
function atZero(fn: () => Promise<void>): () => Promise<void> {
  return () => withClock(fn);
}

Deno.test(
  "MemoryRegistrar registers and deregisters its instance with events",
  atZero(async () => {
    using registry = new MemoryRegistry();
    const registrar = registry.registrar("api", "10.0.0.1:80", { details: { weight: 5 } });
    const seen = events(registrar);
    assert.equal(registrar.registered, false);
    await registrar.register();
    assert.equal(registrar.registered, true);
    assert.deepStrictEqual(registry.instances("api"), ["10.0.0.1:80"]);
    using instancer = registry.instancer("api");
    assert.deepStrictEqual(instancer.details("10.0.0.1:80"), { weight: 5 });
    await registrar.deregister();
    assert.equal(registrar.registered, false);
    assert.deepStrictEqual(registry.instances("api"), []);
    // Deregistering again is harmless and reports nothing.
    await registrar.deregister();
    assert.deepStrictEqual(seen, ["0 registered 10.0.0.1:80", "0 deregistered 10.0.0.1:80"]);
  }),
);

Deno.test("MemoryRegistrar without a TTL holds no timer and never expires", async () => {
  await withClock(async (clock) => {
    using registry = new MemoryRegistry();
    const registrar = registry.registrar("api", "a:1");
    await registrar.register();
    assert.equal(clock.countTimers(), 0);
    await clock.tickAsync(1_000_000);
    assert.deepStrictEqual(registry.instances("api"), ["a:1"]);
    await registrar.deregister();
  });
});

Deno.test("MemoryRegistrar renews on a timer jittered by up to -10% of a third of the TTL", async () => {
  await withClock(async (clock) => {
    using registry = new MemoryRegistry();
    const times = renewals(registry);
    // Waits of 900 * (0.9 + 0.1 r): 900 * 0.9 = 810, 900, 855, 810.
    const registrar = registry.registrar("api", "a:1", { ttl: 2700, random: scripted([0, 1, 0.5, 0, 0]) });
    await registrar.register();
    assert.equal(clock.countTimers(), 2);
    await clock.tickAsync(809);
    assert.deepStrictEqual(times, []);
    await clock.tickAsync(1);
    assert.deepStrictEqual(times, [810]);
    await clock.tickAsync(2565 - 810);
    assert.deepStrictEqual(times, [810, 1710, 2565]);
    // Kept alive well past its TTL.
    await clock.tickAsync(810);
    assert.deepStrictEqual(registry.instances("api"), ["a:1"]);
    await registrar.deregister();
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("MemoryRegistrar renews every renewInterval with an injected random source at 1", async () => {
  await withClock(async (clock) => {
    using registry = new MemoryRegistry();
    const times = renewals(registry);
    const registrar = registry.registrar("api", "a:1", { ttl: 1000, renewInterval: 400, random: () => 1 });
    await registrar.register();
    await clock.tickAsync(1600);
    assert.deepStrictEqual(times, [400, 800, 1200, 1600]);
    await registrar.deregister();
  });
});

Deno.test("MemoryRegistrar registers again, dispatching reregistered, when the registry lost its entry", async () => {
  await withClock(async (clock) => {
    using registry = new MemoryRegistry();
    const logger = recordingLogger();
    const registrar = registry.registrar("api", "a:1", { ttl: 3000, random: () => 1, logger });
    const seen = events(registrar);
    using instancer = registry.instancer("api");
    const states: string[] = [];
    instancer.subscribe((event) => {
      states.push(`${Date.now()} ${event.instances?.join(",")}`);
    });
    await registrar.register();
    await clock.tickAsync(100);
    // Removed behind the registrar's back.
    registry.deregister("api", "a:1");
    await clock.tickAsync(899);
    assert.deepStrictEqual(registry.instances("api"), []);
    await clock.tickAsync(1);
    assert.deepStrictEqual(registry.instances("api"), ["a:1"]);
    assert.equal(registrar.registered, true);
    assert.deepStrictEqual(seen, ["0 registered a:1", "1000 reregistered a:1"]);
    assert.deepStrictEqual(logger.lines, ["warn Registration was lost; registered again"]);
    assert.deepStrictEqual(states, ["0 ", "0 a:1", "100 ", "1000 a:1"]);
    // The keep-alive goes on as before.
    await clock.tickAsync(1000);
    assert.deepStrictEqual(seen.length, 2);
    await registrar.deregister();
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("MemoryRegistrar stops its keep-alive on deregister", async () => {
  await withClock(async (clock) => {
    using registry = new MemoryRegistry();
    const times = renewals(registry);
    const registrar = registry.registrar("api", "a:1", { ttl: 300, random: () => 1 });
    const seen = events(registrar);
    await registrar.register();
    await clock.tickAsync(250);
    await registrar.deregister();
    assert.equal(clock.countTimers(), 0);
    await clock.tickAsync(10_000);
    assert.deepStrictEqual(times, [100, 200]);
    assert.deepStrictEqual(registry.instances("api"), []);
    assert.deepStrictEqual(seen, ["0 registered a:1", "250 deregistered a:1"]);
  });
});

Deno.test("MemoryRegistrar stop ends the keep-alive but leaves the registration to expire", async () => {
  await withClock(async (clock) => {
    using registry = new MemoryRegistry();
    const times = renewals(registry);
    const registrar = registry.registrar("api", "a:1", { ttl: 300, random: () => 1 });
    const seen = events(registrar);
    await registrar.register();
    await clock.tickAsync(150);
    registrar.stop();
    registrar.stop();
    assert.equal(registrar.registered, false);
    // Only the registry's TTL timer is left: renewed at 100, so it expires at 400.
    assert.equal(clock.countTimers(), 1);
    await clock.tickAsync(249);
    assert.deepStrictEqual(registry.instances("api"), ["a:1"]);
    await clock.tickAsync(1);
    assert.deepStrictEqual(registry.instances("api"), []);
    assert.deepStrictEqual(times, [100]);
    // Stopping is not deregistering: no event.
    assert.deepStrictEqual(seen, ["0 registered a:1"]);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("MemoryRegistrar restarts a single keep-alive when registered twice", async () => {
  await withClock(async (clock) => {
    using registry = new MemoryRegistry();
    const times = renewals(registry);
    const registrar = registry.registrar("api", "a:1", { ttl: 300, random: () => 1 });
    const seen = events(registrar);
    await registrar.register();
    await clock.tickAsync(50);
    await registrar.register();
    // One keep-alive timer and one TTL timer, not two of each.
    assert.equal(clock.countTimers(), 2);
    await clock.tickAsync(250);
    assert.deepStrictEqual(times, [150, 250]);
    assert.deepStrictEqual(seen, ["0 registered a:1", "50 registered a:1"]);
    await registrar.deregister();
  });
});

Deno.test(
  "MemoryRegistrar reports a closed registry as an error event and a StoppedError rejection",
  atZero(async () => {
    const registry = new MemoryRegistry();
    registry.close();
    const registrar = registry.registrar("api", "a:1");
    const seen = events(registrar);
    const error = await registrar.register().catch((e) => e);
    assert.ok(error instanceof StoppedError);
    assert.equal(registrar.registered, false);
    assert.deepStrictEqual(seen, ["0 error a:1 MemoryRegistry is stopped"]);
  }),
);

Deno.test("MemoryRegistrar stops its keep-alive with an error event when the registry closes", async () => {
  await withClock(async (clock) => {
    const registry = new MemoryRegistry();
    const logger = recordingLogger();
    const registrar = registry.registrar("api", "a:1", { ttl: 300, random: () => 1, logger });
    const seen = events(registrar);
    await registrar.register();
    await clock.tickAsync(50);
    registry.close();
    await clock.tickAsync(50);
    assert.equal(registrar.registered, false);
    assert.equal(clock.countTimers(), 0);
    assert.deepStrictEqual(seen, ["0 registered a:1", "100 error a:1 MemoryRegistry is stopped"]);
    assert.deepStrictEqual(logger.lines, ["error Keep-alive failed"]);
    // Deregistering afterwards is harmless.
    await registrar.deregister();
    assert.equal(seen.length, 2);
  });
});

Deno.test("MemoryRegistrar rejects with the reason of an already aborted signal and changes nothing", async () => {
  using registry = new MemoryRegistry();
  const registrar = registry.registrar("api", "a:1");
  const seen = events(registrar);
  const reason = new Error("shutting down");
  assert.equal(await registrar.register({ signal: AbortSignal.abort(reason) }).catch((e) => e), reason);
  assert.deepStrictEqual(registry.instances("api"), []);
  await registrar.register();
  assert.equal(await registrar.deregister({ signal: AbortSignal.abort(reason) }).catch((e) => e), reason);
  assert.deepStrictEqual(registry.instances("api"), ["a:1"]);
  assert.equal(registrar.registered, true);
  assert.equal(seen.length, 1);
  await registrar.deregister();
});

Deno.test("MemoryRegistrar deregisters at the end of an await using block", async () => {
  await withClock(async (clock) => {
    using registry = new MemoryRegistry();
    let seen: string[];
    {
      await using registrar = registry.registrar("api", "a:1", { ttl: 1000 });
      seen = events(registrar);
      await registrar.register();
      assert.deepStrictEqual(registry.instances("api"), ["a:1"]);
    }
    assert.deepStrictEqual(registry.instances("api"), []);
    assert.deepStrictEqual(seen, ["0 registered a:1", "0 deregistered a:1"]);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("MemoryRegistrar rejects bad arguments, naming the value", () => {
  using registry = new MemoryRegistry();
  const cases: [string, string, MemoryRegistrarOptions, typeof TypeError | typeof RangeError, RegExp][] = [
    ["", "a:1", {}, TypeError, /^service must be a non-empty string, got ""$/],
    ["api", null as unknown as string, {}, TypeError, /^instance must be a non-empty string, got null$/],
    ["api", "a:1", { ttl: 0 }, RangeError, /^options\.ttl must be a finite number >= 1, got 0$/],
    [
      "api",
      "a:1",
      { ttl: "10" as unknown as number },
      TypeError,
      /^options\.ttl must be a number, got "10"$/,
    ],
    ["api", "a:1", { renewInterval: 0 }, RangeError, /^options\.renewInterval .*got 0$/],
    [
      "api",
      "a:1",
      { ttl: 1000, renewInterval: 1000 },
      RangeError,
      /^options\.renewInterval must be below options\.ttl \(1000\), got 1000$/,
    ],
    ["api", "a:1", { ttl: 1000, renewInterval: 5000 }, RangeError, /got 5000$/],
    [
      "api",
      "a:1",
      { random: "x" as unknown as () => number },
      TypeError,
      /^options\.random must be a function, got "x"$/,
    ],
  ];
  for (const [service, instance, options, ErrorClass, message] of cases) {
    assert.throws(
      () => registry.registrar(service, instance, options),
      (error: unknown) => error instanceof ErrorClass && message.test(error.message),
      Deno.inspect([service, instance, options]),
    );
  }
});
