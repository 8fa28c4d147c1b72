// ConsulRegistrar's lifecycle on fake time: failures of register() and deregister(), stop(), the
// order of concurrent calls, async dispose, and eager validation of the registration.
import { assert } from "../_deps.ts";
import { FakeConsul } from "../_fakes/consul.ts";
import { ConsulClient } from "../../src/consul/client.ts";
import { ConsulRegistrar, type ConsulRegistrarOptions } from "../../src/consul/registrar.ts";
import type { ConsulServiceRegistration } from "../../src/consul/registration.ts";
import { SERVICE, withRegistrar } from "./_setup.ts";

Deno.test("ConsulRegistrar register() rejects and dispatches error when the agent refuses", async () => {
  const consul = new FakeConsul();
  consul.agentFaults.push("http403", "network");
  await withRegistrar({ consul }, async ({ registrar, events }) => {
    await assert.rejects(registrar.register(), {
      name: "ConsulHttpError",
      status: 403,
      code: "ERR_REGISTRATION",
    });
    await assert.rejects(registrar.register(), { name: "RegistryUnavailableError" });
    assert.deepStrictEqual(events, ["error:ConsulHttpError", "error:RegistryUnavailableError"]);
    assert.ok(!registrar.registered);
    await registrar.register();
    assert.ok(registrar.registered);
  });
});

Deno.test("ConsulRegistrar keeps its keep-alive when registering again fails", async () => {
  const consul = new FakeConsul();
  await withRegistrar({ consul }, async ({ clock, registrar, calls }) => {
    await registrar.register();
    consul.agentFaults.push("http500");
    await assert.rejects(registrar.register(), { name: "RegistryUnavailableError" });
    assert.ok(registrar.registered);
    await clock.tickAsync(4_750);
    assert.equal(calls().at(-1), "PUT /v1/agent/check/pass/service:api-10.0.0.7-8080@4750");
  });
});

Deno.test("ConsulRegistrar.stop() halts the keep-alive and leaves the registration; it is idempotent", async () => {
  await withRegistrar({}, async ({ clock, consul, registrar, calls }) => {
    await registrar.register();
    await clock.tickAsync(4_750);
    registrar.stop();
    registrar.stop();
    assert.ok(!registrar.registered);
    await clock.tickAsync(60_000);
    assert.equal(calls().length, 3);
    assert.equal(consul.services.size, 1, "the registration stays; its TTL check expires on its own");
    // It can be started again.
    await registrar.register();
    assert.ok(registrar.registered);
  });
});

Deno.test("ConsulRegistrar.stop() during register() keeps the keep-alive off", async () => {
  await withRegistrar({}, async ({ clock, registrar, events }) => {
    const pending = registrar.register();
    registrar.stop();
    await pending;
    assert.deepStrictEqual(events, ["registered"]);
    assert.ok(!registrar.registered);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("ConsulRegistrar runs register() and deregister() in call order", async () => {
  await withRegistrar({}, async ({ clock, consul, registrar, events, calls }) => {
    const done = Promise.all([
      registrar.register(),
      registrar.deregister(),
      registrar.register(),
      registrar.deregister(),
    ]);
    await done;
    assert.deepStrictEqual(events, ["registered", "deregistered", "registered", "deregistered"]);
    assert.deepStrictEqual(calls().map((c) => c.split("@")[0]!.split("/")[4]), [
      "register",
      "pass",
      "deregister",
      "register",
      "pass",
      "deregister",
    ]);
    assert.equal(consul.services.size, 0);
    await clock.tickAsync(60_000);
    assert.equal(calls().length, 6, "no keep-alive after the last deregister");
  });
});

Deno.test("ConsulRegistrar.deregister() lets a re-registration in flight land first, so it cannot resurrect the service", async () => {
  const consul = new FakeConsul();
  await withRegistrar({ consul }, async ({ clock, registrar, events, calls }) => {
    await registrar.register();
    consul.restart();
    // The renewal at 4.75 s finds the check gone; the agent takes 1 s to apply the re-registration.
    consul.agentFaults.push("ok", { delay: 1_000 });
    await clock.tickAsync(4_750);
    assert.equal(calls().at(-1), "PUT /v1/agent/service/register@4750");
    const done = registrar.deregister();
    await clock.tickAsync(1_000);
    await done;
    assert.deepStrictEqual(calls().slice(2).map((c) => c.replace("service:api-10.0.0.7-8080", "<check>")), [
      "PUT /v1/agent/check/pass/<check>@4750",
      "PUT /v1/agent/service/register@4750",
      "PUT /v1/agent/check/pass/<check>@5750",
      "PUT /v1/agent/service/deregister/api-10.0.0.7-8080@5750",
    ]);
    assert.equal(consul.services.size, 0, "deregistered after the re-registration, not before");
    assert.deepStrictEqual(events, ["registered", "deregistered"]);
  });
});

Deno.test("ConsulRegistrar.stop() aborts a renewal in flight", async () => {
  const consul = new FakeConsul();
  await withRegistrar({ consul }, async ({ clock, registrar, events }) => {
    await registrar.register();
    consul.agentFaults.push("stall");
    await clock.tickAsync(4_750);
    registrar.stop();
    await clock.tickAsync(0);
    // The stalled pass was aborted at once: no timeout error 10 s later, no timer left.
    assert.equal(clock.countTimers(), 0);
    await clock.tickAsync(20_000);
    assert.deepStrictEqual(events, ["registered"]);
  });
});

Deno.test("ConsulRegistrar.deregister() counts an agent without the service as success", async () => {
  await withRegistrar({}, async ({ registrar, events, calls }) => {
    await registrar.deregister();
    assert.deepStrictEqual(events, ["deregistered"]);
    assert.deepStrictEqual(calls(), ["PUT /v1/agent/service/deregister/api-10.0.0.7-8080@0"]);
  });
});

Deno.test("ConsulRegistrar.deregister() rejects and dispatches error when the agent is down", async () => {
  const consul = new FakeConsul();
  await withRegistrar({ consul }, async ({ registrar, events }) => {
    await registrar.register();
    consul.agentFaults.push("network");
    await assert.rejects(registrar.deregister(), { name: "RegistryUnavailableError" });
    assert.deepStrictEqual(events, ["registered", "error:RegistryUnavailableError"]);
    assert.ok(!registrar.registered, "the keep-alive is off even so");
  });
});

Deno.test("ConsulRegistrar calls with an aborted signal reject without a request", async () => {
  await withRegistrar({}, async ({ registrar, events, calls }) => {
    const reason = new Error("cancelled");
    const signal = AbortSignal.abort(reason);
    await assert.rejects(registrar.register({ signal }), (e) => e === reason);
    await assert.rejects(registrar.deregister({ signal }), (e) => e === reason);
    assert.deepStrictEqual(calls(), []);
    assert.deepStrictEqual(events, []);
  });
});

Deno.test("ConsulRegistrar's async dispose deregisters only what it registered", async () => {
  await withRegistrar({}, async ({ consul, registrar, calls }) => {
    await registrar[Symbol.asyncDispose]();
    assert.deepStrictEqual(calls(), []);
    await registrar.register();
    await registrar[Symbol.asyncDispose]();
    assert.equal(consul.services.size, 0);
    assert.equal(calls().at(-1), "PUT /v1/agent/service/deregister/api-10.0.0.7-8080@0");
  });
});

Deno.test("ConsulRegistrar rejects bad arguments eagerly, naming the value", () => {
  const client = new ConsulClient({ fetch: () => Promise.reject(new Error("unused")) });
  const make = (registration: unknown, options: ConsulRegistrarOptions = {}) => () =>
    new ConsulRegistrar(client, registration as ConsulServiceRegistration, options);
  const bad: [() => unknown, RegExp][] = [
    [() => new ConsulRegistrar({} as ConsulClient, SERVICE), /client must have a registerService\(\) method/],
    [make(null), /registration must be an object, got null/],
    [make({ name: "" }), /registration.name must be a non-empty string, got ""/],
    [make({ name: "a", port: 70_000 }), /registration.port must be at most 65535, got 70000/],
    [make({ name: "a", port: 1.5 }), /registration.port must be an integer >= 0, got 1.5/],
    [make({ name: "a", id: "" }), /registration.id must be a non-empty string/],
    [make({ name: "a", tags: [1] }), /registration.tags must be an array of strings, got \[1\]/],
    [make({ name: "a", meta: { a: 1 } }), /registration.meta must be an object of strings/],
    [
      make({ name: "a", weights: { passing: 0, warning: 1 } }),
      /weights.passing must be an integer >= 1, got 0/,
    ],
    [make({ name: "a", checks: {} }), /registration.checks must be an array/],
    [make({ name: "a", checks: [null] }), /checks\[0\] must be an object, got null/],
    [
      make({ name: "a", checks: [{ ttl: 1000, tcp: "x:1" }] }),
      /checks\[0\] must have exactly one of ttl, http or tcp, got \["ttl","tcp"\]/,
    ],
    [make({ name: "a", checks: [{ ttl: 0 }] }), /checks\[0\].ttl must be a finite number >= 1, got 0/],
    [
      make({ name: "a", checks: [{ http: "http://x/" }] }),
      /checks\[0\].interval must be a number, got undefined/,
    ],
    [make({ name: "a", checks: [{ tcp: "", interval: 1 }] }), /checks\[0\].tcp must be a non-empty string/],
    [
      make({ name: "a", checks: [{ ttl: 9, status: "ok" }] }),
      /checks\[0\].status must be passing, warning or critical, got "ok"/,
    ],
    [
      make({ name: "a", checks: [{ ttl: 9000 }] }, { interval: 9000 }),
      /options.interval must be below the shortest TTL \(9000\), got 9000/,
    ],
    [make({ name: "a" }, { random: 1 as never }), /options.random must be a function, got 1/],
    [
      make({ name: "a" }, { backoff: { multiplier: 0.5 } }),
      /options.backoff.multiplier must be a finite number >= 1, got 0.5/,
    ],
  ];
  for (const [build, message] of bad) assert.throws(build, message);
});

Deno.test("ConsulRegistrar names checks as Consul would and uses explicit ids and names", () => {
  const client = new ConsulClient({ fetch: () => Promise.reject(new Error("unused")) });
  const one = new ConsulRegistrar(client, { name: "a", checks: [{ ttl: 3000 }] });
  assert.equal(one.serviceId, "a");
  assert.equal(one.instance, "a");
  const own = new ConsulRegistrar(client, { name: "a", id: "a-1", address: "::1", port: 80 });
  assert.equal(own.serviceId, "a-1");
  assert.equal(own.instance, "[::1]:80");
});
