// EurekaRegistrar.setStatus and setMetadata on fake time over the fake server: the calls each makes,
// what re-registration carries afterwards, failures and overtaking.
import { assert } from "../_deps.ts";
import { BEAT, ID, withRegistrar } from "./_harness.ts";
import type { EurekaRequest } from "../_fakes/eureka.ts";

const STATUS = `/apps/USERS/${ID}/status`;

function line(r: EurekaRequest): string {
  return `${r.route}${r.query.size ? `?${r.query}` : ""}`;
}

function registered(r: EurekaRequest): Record<string, unknown> {
  return (r.body as { instance: Record<string, unknown> }).instance;
}

Deno.test("EurekaRegistrar takes the instance out of service with an override and back with its removal", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar }) => {
    await registrar.register();
    await clock.tickAsync(1000);
    await registrar.setStatus("OUT_OF_SERVICE");
    assert.equal(registrar.status, "OUT_OF_SERVICE");
    assert.equal(fake.get("users", ID)?.status, "OUT_OF_SERVICE");
    await clock.tickAsync(9500);
    assert.equal(fake.get("users", ID)?.status, "OUT_OF_SERVICE", "a heartbeat keeps the override");
    await registrar.setStatus("UP");
    assert.equal(registrar.status, "UP");
    assert.equal(fake.get("users", ID)?.status, "UP");
    assert.deepStrictEqual(fake.requests.map(line), [
      "POST /apps/USERS",
      `PUT ${STATUS}?value=OUT_OF_SERVICE`,
      `${BEAT}`,
      `DELETE ${STATUS}?value=UP`,
    ]);
    assert.equal(fake.get("users", ID)?.overriddenStatus, "UNKNOWN");
  });
});

Deno.test("EurekaRegistrar registers again for other status changes, as Eureka's own client does", async () => {
  await withRegistrar({ status: "STARTING" }, async ({ clock, fake, registrar }) => {
    await registrar.register();
    assert.equal(fake.get("users", ID)?.status, "STARTING");
    await clock.tickAsync(500);
    await registrar.setStatus("UP");
    await registrar.setStatus("UP"); // no change: registers again all the same, harmlessly
    await registrar.setStatus("DOWN");
    assert.equal(fake.get("users", ID)?.status, "DOWN");
    const posts = fake.calls("POST /apps/USERS").map(registered);
    assert.deepStrictEqual(posts.map((b) => [b["status"], b["lastDirtyTimestamp"]]), [
      ["STARTING", "0"],
      ["UP", "500"],
      ["UP", "500"],
      ["DOWN", "500"],
    ]);
  });
});

Deno.test("EurekaRegistrar restores an override when it registers again after the server lost it", async () => {
  await withRegistrar({}, async ({ clock, fake, registrar, events }) => {
    await registrar.register();
    await registrar.setStatus("OUT_OF_SERVICE");
    fake.restart();
    await clock.tickAsync(9500);
    assert.deepStrictEqual(events, ["registered", "reregistered"]);
    const again = registered(fake.calls("POST /apps/USERS")[1]!);
    assert.deepStrictEqual([again["status"], again["overriddenStatus"]], [
      "OUT_OF_SERVICE",
      "OUT_OF_SERVICE",
    ]);
    assert.equal(fake.get("users", ID)?.status, "OUT_OF_SERVICE");
  });
});

Deno.test("EurekaRegistrar only records status and metadata while not registered", async () => {
  await withRegistrar({ metadata: { a: "1" } }, async ({ fake, registrar }) => {
    await registrar.setStatus("OUT_OF_SERVICE");
    await registrar.setMetadata({ b: "2" });
    assert.equal(fake.requests.length, 0);
    await registrar.register();
    const body = registered(fake.requests[0]!);
    assert.deepStrictEqual([body["status"], body["metadata"]], ["OUT_OF_SERVICE", { a: "1", b: "2" }]);
  });
});

Deno.test("EurekaRegistrar adds metadata on the server and in later registrations", async () => {
  await withRegistrar({ metadata: { a: "1" } }, async ({ clock, fake, registrar }) => {
    await registrar.register();
    await registrar.setMetadata({ a: "3", zone: "z 1" });
    assert.deepStrictEqual(fake.get("users", ID)?.metadata, { a: "3", zone: "z 1" });
    assert.equal(line(fake.requests[1]!), `PUT /apps/USERS/${ID}/metadata?a=3&zone=z+1`);
    fake.restart();
    await clock.tickAsync(9500);
    assert.deepStrictEqual(registered(fake.calls("POST /apps/USERS")[1]!)["metadata"], {
      a: "3",
      zone: "z 1",
    });
  });
});

Deno.test("EurekaRegistrar rejects and dispatches failed status and metadata calls", async () => {
  await withRegistrar({}, async ({ fake, registrar, events }) => {
    await registrar.register();
    fake.script(`PUT ${STATUS}`, "http500");
    await assert.rejects(
      registrar.setStatus("OUT_OF_SERVICE"),
      (e: Error) => e.name === "RegistryUnavailableError",
    );
    fake.script(`PUT /apps/USERS/${ID}/metadata`, "notFound");
    await assert.rejects(registrar.setMetadata({ a: "b" }), (e: Error) => e.name === "RegistryRejectedError");
    assert.deepStrictEqual(events, [
      "registered",
      "error:RegistryUnavailableError",
      "error:RegistryRejectedError",
    ]);
    assert.equal(registrar.registered, true, "the heartbeats go on");
  });
});

Deno.test("EurekaRegistrar's deregister or stop overtake a status call in flight", async () => {
  for (const overtake of ["deregister", "stop"] as const) {
    await withRegistrar({}, async ({ clock, fake, registrar, events }) => {
      await registrar.register();
      fake.script(`PUT ${STATUS}`, "hang");
      const call = registrar.setStatus("OUT_OF_SERVICE");
      await clock.tickAsync(10);
      if (overtake === "stop") registrar.stop();
      else await registrar.deregister();
      await assert.rejects(call, (e: Error) => e.name === "StoppedError");
      assert.equal(fake.calls(`PUT ${STATUS}`)[0]!.signal?.aborted, true);
      assert.equal(events.includes("error:StoppedError"), false, overtake);
    });
  }
});

Deno.test("EurekaRegistrar validates status and metadata arguments", async () => {
  await withRegistrar({}, async ({ fake, registrar }) => {
    await assert.rejects(
      registrar.setStatus("UNKNOWN" as never),
      /status must be one of UP, DOWN, STARTING, OUT_OF_SERVICE, got "UNKNOWN"/,
    );
    await assert.rejects(
      registrar.setMetadata([] as never),
      /metadata must be an object of strings, got an array/,
    );
    await assert.rejects(
      registrar.register({ signal: 1 } as never),
      /options.signal must be an AbortSignal, got 1/,
    );
    assert.equal(fake.requests.length, 0);
  });
});
