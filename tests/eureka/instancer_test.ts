// EurekaInstancer on fake time over the fake server: go-kit's sd/eureka instancer tests, the poll
// schedule, status filtering (go-kit #1076), instance strings (IPv6: #1274), details and options.
import { assert, fakeTime } from "../_deps.ts";
import { FakeEureka, inst } from "../_fakes/eureka.ts";
import { EurekaClient } from "../../src/eureka/client.ts";
import { EurekaInstancer } from "../../src/eureka/instancer.ts";
import { recordingLogger, SERVER, withInstancer } from "./_harness.ts";

Deno.test("EurekaInstancer publishes the registered instances (go-kit TestInstancer)", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  fake.put(inst(2));
  await withInstancer(fake, {}, async ({ clock, events, instancer }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080,10.0.0.2:8080]"]);
    assert.deepStrictEqual(instancer.state()?.instances, ["10.0.0.1:8080", "10.0.0.2:8080"]);
  });
});

Deno.test("EurekaInstancer follows registrations and removals at the next poll (go-kit TestInstancerReceivesUpdates)", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  await withInstancer(fake, {}, async ({ clock, events, times }) => {
    await clock.tickAsync(0);
    fake.put(inst(2));
    await clock.tickAsync(999);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080]"], "nothing before the next poll");
    await clock.tickAsync(1);
    fake.remove("users", "users-1");
    await clock.tickAsync(1000);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080]", "[10.0.0.1:8080,10.0.0.2:8080]", "[10.0.0.2:8080]"]);
    assert.deepStrictEqual(times("GET /apps/users"), [0, 1000, 2000]);
  });
});

Deno.test("EurekaInstancer reports a failing first poll as an error, not as an empty set (go-kit TestBadInstancerScheduleUpdates)", async () => {
  const fake = new FakeEureka();
  fake.script("GET /apps/users", "http500");
  await withInstancer(fake, {}, async ({ clock, events }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["error:RegistryUnavailableError"]);
  });
});

Deno.test("EurekaInstancer polls every interval, stretched by up to 10% at random", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  await withInstancer(fake, { interval: 30_000, random: () => 0.5 }, async ({ clock, times }) => {
    await clock.tickAsync(100_000);
    assert.deepStrictEqual(times("GET /apps/users"), [0, 31_500, 63_000, 94_500]);
  });
});

Deno.test("EurekaInstancer publishes only UP instances by default (go-kit #1076)", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  fake.put(inst(2, { status: "DOWN" }));
  fake.put(inst(3, { status: "OUT_OF_SERVICE" }));
  fake.put(inst(4, { status: "STARTING" }));
  fake.put(inst(5, { status: "UNKNOWN" }));
  await withInstancer(fake, {}, async ({ clock, events }) => {
    await clock.tickAsync(0);
    fake.setStatus("users", "users-1", "OUT_OF_SERVICE");
    fake.setStatus("users", "users-3", "UP");
    await clock.tickAsync(1000);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080]", "[10.0.0.3:8080]"]);
  });
});

Deno.test("EurekaInstancer publishes the statuses asked for, with the mapped status and the raw one in meta", async () => {
  const fake = new FakeEureka();
  const statuses = ["UP", "DOWN", "OUT_OF_SERVICE", "STARTING", "UNKNOWN"] as const;
  statuses.forEach((status, n) => fake.put(inst(n + 1, { status })));
  await withInstancer(fake, { statuses: [...statuses] }, async ({ clock, instancer }) => {
    await clock.tickAsync(0);
    const seen = instancer.state()!.instances!.map((i) => {
      const d = instancer.details(i)!;
      return `${i} ${d.status} ${d.meta?.["eureka.status"]}`;
    });
    assert.deepStrictEqual(seen, [
      "10.0.0.1:8080 passing UP",
      "10.0.0.2:8080 critical DOWN",
      "10.0.0.3:8080 critical OUT_OF_SERVICE",
      "10.0.0.4:8080 warning STARTING",
      "10.0.0.5:8080 unknown UNKNOWN",
    ]);
  });
});

Deno.test("EurekaInstancer details carry the instance id, metadata, VIP addresses and zone", async () => {
  const fake = new FakeEureka();
  fake.put(
    inst(1, { metadata: { zone: "zone-a", version: "2" }, vipAddress: "users-vip", hostName: "u1.local" }),
  );
  fake.put(inst(2, {
    secureVipAddress: "users-secure",
    dataCenterInfo: {
      "@class": "com.netflix.appinfo.AmazonInfo",
      name: "Amazon",
      metadata: { "availability-zone": "us-east-1c", "instance-id": "i-2" },
    },
  }));
  await withInstancer(fake, {}, async ({ clock, instancer }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(instancer.details("10.0.0.1:8080"), {
      id: "users-1",
      status: "passing",
      zone: "zone-a",
      meta: {
        zone: "zone-a",
        version: "2",
        "eureka.status": "UP",
        "eureka.app": "USERS",
        "eureka.hostName": "u1.local",
        "eureka.vipAddress": "users-vip",
        "eureka.secureVipAddress": "users",
      },
    });
    const second = instancer.details("10.0.0.2:8080")!;
    assert.equal(second.zone, "us-east-1c");
    assert.equal(second.meta?.["eureka.secureVipAddress"], "users-secure");
  });
});

Deno.test("EurekaInstancer brackets IPv6 addresses and can use host names or secure ports (go-kit #1274)", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1, { ipAddr: "fd00::1", hostName: "one.local", securePort: 8443, securePortEnabled: true }));
  fake.put(inst(2, { hostName: "two.local" }));
  fake.put(inst(3, { ipAddr: "", hostName: "three.local", portEnabled: false }));
  const logger = recordingLogger();
  await withInstancer(fake, { logger }, async ({ clock, events }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[10.0.0.2:8080,[fd00::1]:8080]"]);
    assert.deepStrictEqual(logger.lines, ["warn Eureka instance without a usable address and port skipped"]);
  });
  await withInstancer(fake, { address: "hostName" }, async ({ clock, events }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[one.local:8080,two.local:8080]"]);
  });
  await withInstancer(fake, { secure: true }, async ({ clock, events }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[[fd00::1]:8443]"]);
  });
});

Deno.test("EurekaInstancer with notFoundGrace 0 treats a 404 for the application as no instances, not as an error", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  await withInstancer(fake, { notFoundGrace: 0 }, async ({ clock, events }) => {
    await clock.tickAsync(0);
    fake.remove("users", "users-1");
    await clock.tickAsync(1000);
    fake.put(inst(2));
    await clock.tickAsync(1000);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080]", "[]", "[10.0.0.2:8080]"]);
  });
});

Deno.test("EurekaInstancer.lookup reads once without touching the state", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  await withInstancer(fake, {}, async ({ clock, events, instancer }) => {
    await clock.tickAsync(0);
    fake.put(inst(2));
    const { instances } = await instancer.lookup();
    assert.deepStrictEqual(instances.map((i) => typeof i === "string" ? i : i.instance), [
      "10.0.0.1:8080",
      "10.0.0.2:8080",
    ]);
    fake.remove("users", "users-1");
    fake.remove("users", "users-2");
    assert.deepStrictEqual((await instancer.lookup()).instances, []);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080]"]);
    assert.equal(instancer.app, "users");
  });
});

Deno.test("EurekaInstancer stops on stop() (idempotent) and on its signal, aborting the poll in flight", async () => {
  const clock = fakeTime(0);
  try {
    const fake = new FakeEureka();
    fake.script("GET /apps/users", "hang");
    const client = new EurekaClient({ urls: SERVER, fetch: fake.fetch });
    const controller = new AbortController();
    const instancer = new EurekaInstancer(client, "users", { signal: controller.signal });
    await clock.tickAsync(10);
    assert.equal(fake.requests[0]!.signal?.aborted, false);
    controller.abort();
    assert.equal(instancer.stopped, true);
    assert.equal(fake.requests[0]!.signal?.aborted, true);
    instancer.stop();
    await clock.tickAsync(60_000);
    assert.equal(fake.requests.length, 1);
    assert.equal(clock.countTimers(), 0);

    const born = new EurekaInstancer(client, "users", { signal: AbortSignal.abort() });
    await clock.tickAsync(0);
    assert.equal(born.stopped, true);
    assert.equal(fake.requests.length, 1, "an instancer born stopped sends nothing");
  } finally {
    clock.uninstall();
  }
});

Deno.test("EurekaInstancer validates its arguments eagerly", () => {
  const client = new EurekaClient({ urls: SERVER, fetch: () => Promise.reject(new Error("unused")) });
  const cases: [() => unknown, RegExp][] = [
    [() => new EurekaInstancer({} as never, "users"), /client must have a getApplication\(\) method/],
    [() => new EurekaInstancer(client, ""), /app must be a non-empty string, got ""/],
    [
      () => new EurekaInstancer(client, "u", { interval: 0 }),
      /options.interval must be a finite number >= 1, got 0/,
    ],
    [
      () => new EurekaInstancer(client, "u", { statuses: ["UP", "GONE" as never] }),
      /options.statuses must be an array of UP, DOWN, STARTING, OUT_OF_SERVICE, UNKNOWN, got "GONE"/,
    ],
    [
      () => new EurekaInstancer(client, "u", { address: "ip" as never }),
      /options.address must be "ipAddr" or "hostName", got "ip"/,
    ],
    [
      () => new EurekaInstancer(client, "u", { secure: "yes" as never }),
      /options.secure must be a boolean, got "yes"/,
    ],
    [
      () => new EurekaInstancer(client, "u", { backoff: { initial: 0 } }),
      /options.backoff.initial must be a finite number >= 1, got 0/,
    ],
    [
      () => new EurekaInstancer(client, "u", { random: 1 as never }),
      /options.random must be a function, got 1/,
    ],
    [
      () => new EurekaInstancer(client, "u", { signal: {} as never }),
      /options.signal must be an AbortSignal/,
    ],
  ];
  for (const [make, message] of cases) assert.throws(make, message);
});
