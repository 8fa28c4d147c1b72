// EurekaRegistrar on fake time over the fake server: go-kit's sd/eureka registrar tests, the
// registration JSON, the heartbeat schedule, re-registration on 404, backoff, and validation.
import { assert } from "../_deps.ts";
import { FakeEureka } from "../_fakes/eureka.ts";
import { EurekaClient } from "../../src/eureka/client.ts";
import { EurekaRegistrar } from "../../src/eureka/registrar.ts";
import { RegistryRejectedError, RegistryUnavailableError } from "../../src/errors.ts";
import { BEAT, ID, SERVER, withRegistrar } from "./_harness.ts";

Deno.test("EurekaRegistrar registers with the JSON current servers accept", async () => {
  await withRegistrar({ metadata: { version: "2" } }, async ({ clock, fake, registrar, events }) => {
    await clock.tickAsync(1234);
    await registrar.register();
    assert.deepStrictEqual(events, ["registered"]);
    assert.equal(registrar.registered, true);
    const [post] = fake.calls("POST /apps/USERS");
    assert.deepStrictEqual(post!.body, {
      instance: {
        instanceId: ID,
        hostName: "10.0.0.1",
        app: "USERS",
        ipAddr: "10.0.0.1",
        status: "UP",
        overriddenStatus: "UNKNOWN",
        port: { $: 8080, "@enabled": "true" },
        securePort: { $: 443, "@enabled": "false" },
        countryId: 1,
        dataCenterInfo: { "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", name: "MyOwn" },
        leaseInfo: { renewalIntervalInSecs: 10, durationInSecs: 30 },
        metadata: { version: "2" },
        homePageUrl: "http://10.0.0.1:8080/",
        statusPageUrl: "http://10.0.0.1:8080/info",
        healthCheckUrl: "http://10.0.0.1:8080/health",
        vipAddress: "users",
        secureVipAddress: "users",
        isCoordinatingDiscoveryServer: "false",
        lastUpdatedTimestamp: "1234",
        lastDirtyTimestamp: "0",
      },
    });
    assert.equal(fake.get("users", ID)?.status, "UP");
  });
});

Deno.test("EurekaRegistrar sends the secure port, an Amazon data center and the names it is given", async () => {
  const options = {
    app: "Billing",
    ipAddr: "fd00::7",
    port: undefined as unknown as number, // the harness's default 8080 removed: secure only
    securePort: 8443,
    hostName: "billing-7.internal",
    instanceId: "i-7",
    vipAddress: "billing.vip",
    secureVipAddress: "billing.secure",
    status: "STARTING" as const,
    dataCenterInfo: { name: "Amazon" as const, metadata: { "instance-id": "i-7", "availability-zone": "z" } },
  };
  await withRegistrar(options, async ({ clock, fake, registrar }) => {
    await registrar.register();
    await clock.tickAsync(0);
    const body =
      (fake.calls("POST /apps/BILLING")[0]!.body as { instance: Record<string, unknown> }).instance;
    assert.deepStrictEqual(
      [body["app"], body["instanceId"], body["status"], body["port"], body["securePort"], body["vipAddress"]],
      [
        "BILLING",
        "i-7",
        "STARTING",
        { $: 80, "@enabled": "false" },
        { $: 8443, "@enabled": "true" },
        "billing.vip",
      ],
    );
    assert.deepStrictEqual(body["dataCenterInfo"], {
      "@class": "com.netflix.appinfo.AmazonInfo",
      name: "Amazon",
      metadata: { "instance-id": "i-7", "availability-zone": "z" },
    });
    assert.equal(body["homePageUrl"], "https://billing-7.internal:8443/");
    assert.equal(body["secureHealthCheckUrl"], "https://billing-7.internal:8443/health");
    assert.equal(registrar.instance, "[fd00::7]:8443");
    assert.equal(registrar.app, "BILLING");
    assert.equal(registrar.instanceId, "i-7");
  });
});

Deno.test("EurekaRegistrar counts registrations like go-kit's TestRegistrar", async () => {
  const fake = new FakeEureka();
  await withRegistrar({}, async ({ registrar, clock, events }) => {
    const other = new EurekaRegistrar(new EurekaClient({ urls: SERVER, fetch: fake.fetch }), {
      app: "users",
      ipAddr: "10.0.0.2",
      port: 8080,
    });
    try {
      await registrar.deregister(); // not registered: the server does not know it, which is fine
      assert.equal(fake.instances("users").length, 0);
      await registrar.register();
      assert.equal(fake.instances("users").length, 1);
      await other.register();
      assert.equal(fake.instances("users").length, 2);
      await registrar.deregister();
      assert.equal(fake.instances("users").length, 1);
      await registrar.register();
      await registrar.register(); // registers again (refreshing the server's copy), still one entry
      assert.equal(fake.instances("users").length, 2);
      await clock.tickAsync(30_000);
      assert.equal(fake.instances("users").length, 2);
      await registrar.deregister();
      assert.equal(fake.instances("users").length, 1);
      assert.deepStrictEqual(events, [
        "registered",
        "deregistered",
        "registered",
        "registered",
        "deregistered",
      ]);
    } finally {
      other.stop();
    }
  }, fake);
});

Deno.test("EurekaRegistrar sends heartbeats at the renewal interval, a little early at random", async () => {
  await withRegistrar({}, async ({ clock, registrar, times }) => {
    await registrar.register();
    await clock.tickAsync(30_000);
    assert.deepStrictEqual(times(BEAT), [9500, 19_000, 28_500]);
  });
  await withRegistrar({ random: () => 0 }, async ({ clock, registrar, times }) => {
    await registrar.register();
    await clock.tickAsync(30_000);
    assert.deepStrictEqual(times(BEAT), [9000, 18_000, 27_000]);
  });
});

Deno.test("EurekaRegistrar registers again when a heartbeat gets a 404 (go-kit TestExpiredInstance)", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar, events, times }) => {
    await registrar.register();
    fake.restart();
    await clock.tickAsync(9500);
    assert.deepStrictEqual(events, ["registered", "reregistered"]);
    assert.equal(fake.instances("users").length, 1);
    assert.deepStrictEqual(times("POST /apps/USERS"), [0, 9500]);
    await clock.tickAsync(9500);
    assert.deepStrictEqual(times(BEAT), [9500, 19_000], "then heartbeats as usual");
    assert.equal(registrar.registered, true);
  });
});

Deno.test("EurekaRegistrar retries failed heartbeats with capped, jittered backoff and keeps the registration", async () => {
  await withRegistrar(
    { backoff: { initial: 1000, max: 4000 } },
    async ({ clock, fake, registrar, events, times }) => {
      await registrar.register();
      fake.script(BEAT, "http500", "network", "hang", "http500");
      // 9500 fails; backoff at random 0.5 is three quarters of the capped delay: 750, 1500, 3000,
      // 3000. The hang at 11,750 ends after the client's 5,000 ms timeout.
      await clock.tickAsync(9500 + 750 + 1500 + 5000 + 3000);
      assert.deepStrictEqual(times(BEAT), [9500, 10_250, 11_750, 19_750]);
      assert.deepStrictEqual(events, [
        "registered",
        "error:RegistryUnavailableError",
        "error:RegistryUnavailableError",
        "error:RegistryUnavailableError",
        "error:RegistryUnavailableError",
      ]);
      await clock.tickAsync(3000 + 9500);
      assert.deepStrictEqual(times(BEAT).slice(4), [22_750, 32_250], "the interval resumes after a success");
      assert.equal(fake.instances("users").length, 1);
      assert.equal(registrar.registered, true);
    },
  );
});

Deno.test("EurekaRegistrar retries a failed re-registration through the next heartbeat", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar, events, times }) => {
    await registrar.register();
    fake.restart();
    fake.script("POST /apps/USERS", "http500");
    await clock.tickAsync(9500 + 750);
    assert.deepStrictEqual(events, ["registered", "error:RegistryUnavailableError", "reregistered"]);
    assert.deepStrictEqual(times("POST /apps/USERS"), [0, 9500, 10_250]);
    assert.equal(fake.instances("users").length, 1);
  });
});

Deno.test("EurekaRegistrar rejects a refused registration, dispatches it and stays idle (go-kit TestBadRegister)", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar, events }) => {
    fake.script("POST /apps/USERS", "http400");
    await assert.rejects(
      registrar.register(),
      (e: Error) => e instanceof RegistryRejectedError && e.status === 400,
    );
    assert.deepStrictEqual(events, ["error:RegistryRejectedError"]);
    assert.equal(registrar.registered, false);
    assert.equal(clock.countTimers(), 0, "no heartbeat after a failed registration");
    assert.equal(fake.instances("users").length, 0);
  });
});

Deno.test("EurekaRegistrar surfaces a failed deregistration (go-kit TestBadDeregister)", async () => {
  await withRegistrar({}, async ({ fake, registrar, events }) => {
    await registrar.register();
    fake.script(`DELETE /apps/USERS/${ID}`, "http500");
    await assert.rejects(registrar.deregister(), RegistryUnavailableError);
    assert.deepStrictEqual(events, ["registered", "error:RegistryUnavailableError"]);
    assert.equal(fake.instances("users").length, 1);
    assert.equal(registrar.registered, false, "heartbeats stopped all the same");
  });
});

Deno.test("EurekaRegistrar.stop halts heartbeats, leaves the registration and is idempotent", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar, times, events }) => {
    await registrar.register();
    await clock.tickAsync(9500);
    registrar.stop();
    registrar.stop();
    await clock.tickAsync(60_000);
    assert.deepStrictEqual(times(BEAT), [9500]);
    assert.equal(fake.instances("users").length, 1, "the server evicts it in its own time");
    assert.deepStrictEqual(events, ["registered"]);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("EurekaRegistrar's stop, deregister or a second register overtake a registration in flight", async () => {
  for (const overtake of ["stop", "deregister", "register"] as const) {
    await withRegistrar({}, async ({ clock, fake, registrar }) => {
      fake.script("POST /apps/USERS", "hang");
      const first = registrar.register();
      await clock.tickAsync(10);
      const second = overtake === "stop"
        ? (registrar.stop(), Promise.resolve())
        : overtake === "deregister"
        ? registrar.deregister()
        : registrar.register();
      await assert.rejects(first, (e: Error) => e.name === "StoppedError", overtake);
      await second;
      assert.equal(fake.calls("POST /apps/USERS")[0]!.signal?.aborted, true, overtake);
      assert.equal(registrar.registered, overtake === "register", overtake);
    });
  }
});

Deno.test("EurekaRegistrar honours the caller's signal without reporting it as an error", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar, events }) => {
    const reason = new Error("shutting down");
    await assert.rejects(registrar.register({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
    assert.equal(fake.requests.length, 0);
    fake.script("POST /apps/USERS", "hang");
    const controller = new AbortController();
    const call = registrar.register({ signal: controller.signal });
    await clock.tickAsync(10);
    controller.abort(reason);
    await assert.rejects(call, (e) => e === reason);
    await assert.rejects(registrar.deregister({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
    await assert.rejects(
      registrar.setStatus("UP", { signal: AbortSignal.abort(reason) }),
      (e) => e === reason,
    );
    await assert.rejects(
      registrar.setMetadata({}, { signal: AbortSignal.abort(reason) }),
      (e) => e === reason,
    );
    assert.deepStrictEqual(events, []);
    assert.equal(registrar.registered, false);
  });
});

Deno.test("EurekaRegistrar deregisters on asyncDispose", async () => {
  await withRegistrar({}, async ({ fake, registrar, events }) => {
    {
      await using r = registrar;
      await r.register();
    }
    assert.deepStrictEqual(events, ["registered", "deregistered"]);
    assert.equal(fake.instances("users").length, 0);
  });
});

Deno.test("EurekaRegistrar validates its options eagerly, quoting the bad value", () => {
  const client = new EurekaClient({ urls: SERVER, fetch: () => Promise.reject(new Error("unused")) });
  const base = { app: "users", ipAddr: "10.0.0.1", port: 8080 };
  const cases: [unknown, RegExp][] = [
    [undefined, /options must be an object with app, ipAddr and a port, got undefined/],
    [{ ...base, app: "" }, /options.app must be a non-empty string, got ""/],
    [{ ...base, ipAddr: 7 }, /options.ipAddr must be a non-empty string, got 7/],
    [{ app: "u", ipAddr: "h" }, /options.port or options.securePort is required/],
    [{ ...base, port: 70000 }, /options.port must be at most 65535, got 70000/],
    [{ ...base, securePort: 1.5 }, /options.securePort must be an integer >= 1, got 1.5/],
    [{ ...base, hostName: "" }, /options.hostName must be a non-empty string, got ""/],
    [
      { ...base, status: "UNKNOWN" },
      /options.status must be one of UP, DOWN, STARTING, OUT_OF_SERVICE, got "UNKNOWN"/,
    ],
    [{ ...base, metadata: { a: 1 } }, /options.metadata\["a"\] must be a string, got 1/],
    [{ ...base, renewalIntervalInSecs: 0 }, /options.renewalIntervalInSecs must be an integer >= 1, got 0/],
    [
      { ...base, durationInSecs: 30 },
      /options.durationInSecs must be above renewalIntervalInSecs \(30\), got 30/,
    ],
    [{ ...base, dataCenterInfo: { name: "Azure" } }, /options.dataCenterInfo must be \{ name: "MyOwn" \}/],
    [
      { ...base, dataCenterInfo: { name: "Amazon" } },
      /options.dataCenterInfo.metadata must be an object of strings/,
    ],
    [{ ...base, backoff: { max: 0 } }, /options.backoff.max must be a finite number >= 1, got 0/],
    [{ ...base, random: "r" }, /options.random must be a function, got "r"/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => new EurekaRegistrar(client, options as never), message);
  }
  assert.throws(() => new EurekaRegistrar({} as never, base), /client must have a renew\(\) method/);
});

Deno.test("EurekaRegistrar's stop aborts a heartbeat or re-registration in flight without an error event", async () => {
  for (const stalled of [BEAT, "POST /apps/USERS"]) {
    await withRegistrar({}, async ({ clock, fake, registrar, events }) => {
      await registrar.register();
      if (stalled !== BEAT) fake.restart(); // the heartbeat gets a 404, then the POST stalls
      fake.script(stalled, "hang");
      await clock.tickAsync(9500);
      const inFlight = fake.calls(stalled).at(-1)!;
      assert.equal(inFlight.signal?.aborted, false, stalled);
      registrar.stop();
      await clock.tickAsync(0);
      assert.equal(inFlight.signal?.aborted, true, stalled);
      await clock.tickAsync(60_000);
      assert.deepStrictEqual(events, ["registered"], stalled);
    });
  }
});
