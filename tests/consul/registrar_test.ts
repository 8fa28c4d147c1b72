// ConsulRegistrar against the fake agent on fake time: what it registers, the TTL keep-alive and its
// backoff, and re-registration when the agent lost the service (go-kit never renewed TTL checks:
// #446; etcd's #1043 is the same bug class). go-kit equivalent: TestRegistrar. Failures, stop,
// deregistration and call order are in registrar_lifecycle_test.ts.
import { assert } from "../_deps.ts";
import { FakeConsul } from "../_fakes/consul.ts";
import type { ConsulServiceRegistration } from "../../src/consul/registration.ts";
import { withRegistrar } from "./_setup.ts";

Deno.test("ConsulRegistrar registers the service with its checks and marks TTL checks passing (go-kit TestRegistrar)", async () => {
  const registration: ConsulServiceRegistration = {
    name: "api",
    address: "10.0.0.7",
    port: 8080,
    tags: ["v2"],
    meta: { version: "2.1" },
    weights: { passing: 10, warning: 1 },
    enableTagOverride: false,
    checks: [
      {
        ttl: 15_000,
        name: "heartbeat",
        notes: "renewed by the process",
        deregisterCriticalServiceAfter: 60_000,
      },
      {
        http: "http://10.0.0.7:8080/health",
        interval: 10_000,
        timeout: 2_000,
        method: "HEAD",
        header: { "x-probe": ["1"] },
        tlsSkipVerify: true,
      },
      {
        tcp: "10.0.0.7:8080",
        interval: 5_000,
        status: "passing",
        successBeforePassing: 2,
        failuresBeforeCritical: 3,
      },
    ],
    extra: { TaggedAddresses: { lan: { Address: "10.0.0.7", Port: 8080 } } },
  };
  await withRegistrar({ registration }, async ({ consul, registrar, events, calls }) => {
    assert.equal(consul.services.size, 0);
    await registrar.register();
    assert.ok(registrar.registered);
    assert.equal(registrar.serviceId, "api-10.0.0.7-8080");
    assert.equal(registrar.instance, "10.0.0.7:8080");
    assert.deepStrictEqual(events, ["registered"]);
    assert.deepStrictEqual(calls(), [
      "PUT /v1/agent/service/register@0",
      "PUT /v1/agent/check/pass/service:api-10.0.0.7-8080:1@0",
    ]);
    assert.equal(consul.requests[0]!.url.search, "?replace-existing-checks=true");
    assert.deepStrictEqual(JSON.parse(consul.requests[0]!.body!), {
      TaggedAddresses: { lan: { Address: "10.0.0.7", Port: 8080 } },
      ID: "api-10.0.0.7-8080",
      Name: "api",
      Address: "10.0.0.7",
      Port: 8080,
      Tags: ["v2"],
      Meta: { version: "2.1" },
      Weights: { Passing: 10, Warning: 1 },
      EnableTagOverride: false,
      Checks: [
        {
          CheckID: "service:api-10.0.0.7-8080:1",
          Name: "heartbeat",
          Notes: "renewed by the process",
          DeregisterCriticalServiceAfter: "60000ms",
          TTL: "15000ms",
        },
        {
          CheckID: "service:api-10.0.0.7-8080:2",
          Interval: "10000ms",
          Timeout: "2000ms",
          HTTP: "http://10.0.0.7:8080/health",
          Method: "HEAD",
          Header: { "x-probe": ["1"] },
          TLSSkipVerify: true,
        },
        {
          CheckID: "service:api-10.0.0.7-8080:3",
          Status: "passing",
          SuccessBeforePassing: 2,
          FailuresBeforeCritical: 3,
          Interval: "5000ms",
          TCP: "10.0.0.7:8080",
        },
      ],
    });
    assert.deepStrictEqual(consul.services.get("api-10.0.0.7-8080")?.checks.map((c) => c.status), [
      "passing",
      "critical",
      "passing",
    ]);
    await registrar.deregister();
    assert.equal(consul.services.size, 0);
    assert.deepStrictEqual(events, ["registered", "deregistered"]);
    assert.ok(!registrar.registered);
  });
});

Deno.test("ConsulRegistrar renews TTL checks at a third of the TTL, less jitter", async () => {
  await withRegistrar({}, async ({ clock, registrar, calls }) => {
    await registrar.register();
    await clock.tickAsync(15_000);
    // 15 s / 3 = 5 s, less 10% jitter scaled by random() = 0.5: every 4.75 s.
    assert.deepStrictEqual(calls().slice(1), [
      "PUT /v1/agent/check/pass/service:api-10.0.0.7-8080@0",
      "PUT /v1/agent/check/pass/service:api-10.0.0.7-8080@4750",
      "PUT /v1/agent/check/pass/service:api-10.0.0.7-8080@9500",
      "PUT /v1/agent/check/pass/service:api-10.0.0.7-8080@14250",
    ]);
  });
});

Deno.test("ConsulRegistrar registers again when the agent lost the check, by 404 or by message", async (t) => {
  for (const status of [404, 500] as const) {
    await t.step(`HTTP ${status}`, async () => {
      const consul = new FakeConsul();
      consul.lostCheckStatus = status;
      await withRegistrar({ consul }, async ({ clock, registrar, events, calls }) => {
        await registrar.register();
        consul.restart(); // the agent forgot everything
        assert.equal(consul.services.size, 0);
        await clock.tickAsync(4_750);
        assert.deepStrictEqual(events, ["registered", "reregistered"]);
        assert.deepStrictEqual(calls().slice(2), [
          "PUT /v1/agent/check/pass/service:api-10.0.0.7-8080@4750",
          "PUT /v1/agent/service/register@4750",
          "PUT /v1/agent/check/pass/service:api-10.0.0.7-8080@4750",
        ]);
        assert.equal(consul.services.get("api-10.0.0.7-8080")?.checks[0]?.status, "passing");
        // And the keep-alive carries on as before.
        await clock.tickAsync(4_750);
        assert.equal(calls().length, 6);
        assert.ok(registrar.registered);
      });
    });
  }
});

Deno.test("ConsulRegistrar retries a failing keep-alive with capped, jittered backoff and resets on success", async () => {
  const consul = new FakeConsul();
  await withRegistrar({ consul }, async ({ clock, registrar, events, calls }) => {
    await registrar.register();
    consul.agentFaults.push("network", "http500", "stall", "network", "network");
    await clock.tickAsync(60_000);
    const passes = calls().slice(2, 9).map((c) => Number(c.split("@")[1]));
    // 4750 fails; then 750 ms, 1500 ms; the stalled one times out after 10 s (at 17 s); then 3 s,
    // then 3.75 s twice (capped at the 5 s interval, with jitter); then success and 4.75 s again.
    assert.deepStrictEqual(passes, [4_750, 5_500, 7_000, 20_000, 23_750, 27_500, 32_250]);
    assert.deepStrictEqual(events, [
      "registered",
      "error:RegistryUnavailableError",
      "error:RegistryUnavailableError",
      "error:RegistryUnavailableError",
      "error:RegistryUnavailableError",
      "error:RegistryUnavailableError",
    ]);
    assert.ok(registrar.registered);
  });
});

Deno.test("ConsulRegistrar without a TTL check confirms the agent still has the service, and registers it again", async () => {
  const registration = { name: "web", port: 80, checks: [{ http: "http://127.0.0.1/", interval: 10_000 }] };
  const consul = new FakeConsul();
  await withRegistrar({ registration, consul }, async ({ clock, registrar, events, calls }) => {
    await registrar.register();
    assert.equal(registrar.instance, "web-80");
    await clock.tickAsync(28_500);
    consul.restart();
    await clock.tickAsync(28_500);
    assert.deepStrictEqual(calls(), [
      "PUT /v1/agent/service/register@0",
      "GET /v1/agent/service/web-80@28500",
      "GET /v1/agent/service/web-80@57000",
      "PUT /v1/agent/service/register@57000",
    ]);
    assert.deepStrictEqual(events, ["registered", "reregistered"]);
  });
});

Deno.test("ConsulRegistrar with keepAlive false registers once and runs no timer", async () => {
  await withRegistrar({ options: { keepAlive: false } }, async ({ clock, registrar, calls }) => {
    await registrar.register();
    assert.equal(clock.countTimers(), 0);
    await clock.tickAsync(60_000);
    assert.equal(calls().length, 2);
  });
});
