// EurekaInstancer under injected faults, on fake time: 500s, garbage, stalls, a 404 for the
// application, and changing JSON shapes. The last good state survives (except for the documented 404
// rule), an error event is sent, the instancer recovers, and the request times prove capped backoff
// instead of a tight loop.
import { assert } from "../_deps.ts";
import { type EurekaFault, FakeEureka, inst } from "../_fakes/eureka.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import { withInstancer } from "./_harness.ts";

const ROUTE = "GET /apps/users";

async function faultRun(fault: EurekaFault, expectedError: string): Promise<void> {
  const fake = new FakeEureka();
  fake.put(inst(1));
  await withInstancer(fake, {}, async ({ clock, events, instancer, times }) => {
    const endpointer = new DefaultEndpointer(
      instancer,
      (instance) => ({ endpoint: () => Promise.resolve(instance) }),
    );
    try {
      await clock.tickAsync(0);
      fake.script(ROUTE, fault, fault, fault);
      // Polls at 1 s, then backoff with random 0: 500 ms, 1 s, 2 s; the fourth attempt succeeds.
      await clock.tickAsync(1000);
      assert.deepStrictEqual(events, ["[10.0.0.1:8080]", expectedError], fault);
      assert.equal(endpointer.endpoints().length, 1, "the endpointer keeps the last good endpoint");
      await clock.tickAsync(3500);
      assert.deepStrictEqual(events, ["[10.0.0.1:8080]", expectedError, "[10.0.0.1:8080]"], fault);
      await clock.tickAsync(1000);
      assert.deepStrictEqual(times(ROUTE), [0, 1000, 1500, 2500, 4500, 5500], fault);
      assert.equal(endpointer.endpoints().length, 1);
    } finally {
      endpointer.close();
    }
  });
}

Deno.test("EurekaInstancer keeps the last good state through 500s, reports them and recovers", async () => {
  await faultRun("http500", "error:RegistryUnavailableError");
});

Deno.test("EurekaInstancer keeps the last good state through garbage answers", async () => {
  await faultRun("garbage", "error:MalformedResponseError");
  await faultRun("wrongShape", "error:MalformedResponseError");
});

Deno.test("EurekaInstancer keeps the last good state through refused connections", async () => {
  await faultRun("network", "error:RegistryUnavailableError");
});

Deno.test("EurekaInstancer times out a stalled server (headers or body) and recovers", async () => {
  for (const fault of ["hang", "stallBody"] as const) {
    const fake = new FakeEureka();
    fake.put(inst(1));
    await withInstancer(fake, {}, async ({ clock, events, times }) => {
      await clock.tickAsync(0);
      fake.script(ROUTE, fault);
      await clock.tickAsync(1000 + 4999);
      assert.deepStrictEqual(events, ["[10.0.0.1:8080]"], `${fault}: still waiting`);
      await clock.tickAsync(1);
      assert.deepStrictEqual(events, ["[10.0.0.1:8080]", "error:RegistryUnavailableError"], fault);
      await clock.tickAsync(500);
      assert.deepStrictEqual(events, [
        "[10.0.0.1:8080]",
        "error:RegistryUnavailableError",
        "[10.0.0.1:8080]",
      ]);
      assert.deepStrictEqual(times(ROUTE), [0, 1000, 6500], fault);
    }, { timeout: 5000 });
  }
});

Deno.test("EurekaInstancer keeps the last good set through a restarted server's 404 until the instances register again", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  fake.put(inst(2));
  await withInstancer(fake, {}, async ({ clock, events, instancer, times }) => {
    const endpointer = new DefaultEndpointer(
      instancer,
      (instance) => ({ endpoint: () => Promise.resolve(instance) }),
    );
    try {
      await clock.tickAsync(0);
      fake.restart(); // the new server knows nobody: 404 for the application
      let emptySeen = false;
      for (let t = 0; t < 2600; t += 100) {
        await clock.tickAsync(100);
        if (endpointer.endpoints().length === 0) emptySeen = true;
      }
      // One registrar is back after 2.6 s, the other after 3.6 s (their next heartbeats).
      fake.put(inst(1));
      await clock.tickAsync(1000);
      fake.put(inst(2));
      await clock.tickAsync(1000);
      assert.equal(emptySeen, false, "the endpointer was never empty");
      assert.deepStrictEqual(events, [
        "[10.0.0.1:8080,10.0.0.2:8080]",
        "error:RegistryRejectedError",
        "[10.0.0.1:8080]",
        "[10.0.0.1:8080,10.0.0.2:8080]",
      ]);
      // The normal interval throughout (a 404 is an answer, not a failure to back off from).
      assert.deepStrictEqual(times(ROUTE), [0, 1000, 2000, 3000, 4000]);
    } finally {
      endpointer.close();
    }
  });
});

Deno.test("EurekaInstancer counts a 404 as no instances once the grace is over, and at once with none before", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  await withInstancer(fake, { notFoundGrace: 3000 }, async ({ clock, events, raw }) => {
    await clock.tickAsync(0);
    fake.remove("users", "users-1");
    await clock.tickAsync(3000); // 404 at 1 s (the grace starts), 2 s and 3 s: still an error
    assert.deepStrictEqual(events, ["[10.0.0.1:8080]", "error:RegistryRejectedError"]);
    assert.match(raw[1]!.error!.message, /^Eureka knows no instance of application "users" \(HTTP 404\)/);
    await clock.tickAsync(1000); // 4 s: the grace (from 1 s) is over
    assert.deepStrictEqual(events, ["[10.0.0.1:8080]", "error:RegistryRejectedError", "[]"]);
    fake.put(inst(2));
    await clock.tickAsync(1000);
    fake.remove("users", "users-2");
    await clock.tickAsync(1000); // a new run of 404s gets a new grace
    assert.deepStrictEqual(events.slice(3), ["[10.0.0.2:8080]", "error:RegistryRejectedError"]);
  });
  const unknown = new FakeEureka();
  await withInstancer(unknown, {}, async ({ clock, events }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[]"], "no instances before: a 404 is an empty set at once");
  });
});

Deno.test("EurekaInstancer with notFoundGrace 0 turns a 404 for the application into an empty set at once", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  await withInstancer(fake, { notFoundGrace: 0 }, async ({ clock, events, times }) => {
    await clock.tickAsync(0);
    fake.script(ROUTE, "notFound");
    await clock.tickAsync(2000);
    // The app deregistered as far as the server knows: endpoints go, no error, normal schedule.
    assert.deepStrictEqual(events, ["[10.0.0.1:8080]", "[]", "[10.0.0.1:8080]"]);
    assert.deepStrictEqual(times(ROUTE), [0, 1000, 2000]);
  });
});

Deno.test("EurekaInstancer backs off, capped, while the server stays down: no tight loop", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  await withInstancer(fake, { backoff: { max: 10_000 } }, async ({ clock, events, times }) => {
    await clock.tickAsync(0);
    fake.script(ROUTE, ...Array.from({ length: 100 }, () => "http500" as const));
    await clock.tickAsync(60_000);
    // 500 ms, 1 s, 2 s, 4 s, then the cap (10 s, halved by the jitter at random 0): 5 s each.
    assert.deepStrictEqual(times(ROUTE), [
      0,
      1000,
      1500,
      2500,
      4500,
      8500,
      13_500,
      18_500,
      23_500,
      28_500,
      33_500,
      38_500,
      43_500,
      48_500,
      53_500,
      58_500,
    ]);
    assert.deepStrictEqual(
      events,
      ["[10.0.0.1:8080]", "error:RegistryUnavailableError"],
      "repeats are not re-sent",
    );
  });
});

Deno.test("EurekaInstancer sees the same instances whatever JSON shape the server uses", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1, { metadata: { zone: "a" } }));
  const shapes = [
    { lists: "single", port: "object", enabled: "boolean" },
    { lists: "array", port: "number", enabled: "string" },
    { lists: "single", port: "string", enabled: "string" },
    { lists: "array", port: "object", enabled: "string" },
  ] as const;
  await withInstancer(fake, {}, async ({ clock, events, instancer, times }) => {
    await clock.tickAsync(0);
    const first = instancer.details("10.0.0.1:8080");
    for (const shape of shapes) {
      fake.shape = { ...shape };
      await clock.tickAsync(1000);
    }
    assert.equal(times(ROUTE).length, 5);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080]"], "no shape produced a different state");
    assert.equal(instancer.details("10.0.0.1:8080"), first, "not even different details");
    fake.put(inst(2));
    fake.shape.lists = "single";
    await clock.tickAsync(1000);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080]", "[10.0.0.1:8080,10.0.0.2:8080]"]);
  });
});
