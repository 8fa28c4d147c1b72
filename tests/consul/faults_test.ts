// Fault injection: each way a Consul agent (or what sits in front of it) can fail, held for ten
// minutes of fake time. For every fault: an error event of the right class, the last good endpoints
// kept by an endpointer, a request rate bounded by the backoff and the token bucket (never a busy
// loop, #627), every response body read or cancelled, and recovery once the fault clears.
import { assert } from "../_deps.ts";
import { type ConsulFault, FakeConsul } from "../_fakes/consul.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import { api, withInstancer } from "./_setup.ts";

const CASES: [string, ConsulFault, string][] = [
  ["HTTP 500", "http500", "RegistryUnavailableError"],
  ["a refused connection", "network", "RegistryUnavailableError"],
  ["a query that never answers", "stall", "RegistryUnavailableError"],
  ["a body that stops halfway", "stallBody", "RegistryUnavailableError"],
  ["HTTP 403 (ACL)", "http403", "ConsulHttpError"],
  ["a body that is not JSON", "malformed", "MalformedResponseError"],
  ["JSON of the wrong types", "wrongTypes", "MalformedResponseError"],
  ["a huge streamed body", "huge", "MalformedResponseError"],
  ["a huge declared body", "hugeDeclared", "MalformedResponseError"],
  ["a missing X-Consul-Index", "noIndex", "MalformedResponseError"],
  ["X-Consul-Index 0", { index: 0 }, "MalformedResponseError"],
];

for (const [what, fault, errorName] of CASES) {
  Deno.test(`ConsulInstancer survives ${what}: error event, last good state, bounded rate, recovery`, async () => {
    const consul = new FakeConsul();
    consul.put(api(1));
    consul.put(api(2));
    consul.healthFaults.push("ok", ...Array<ConsulFault>(1000).fill(fault));
    // A 1 MiB cap keeps the oversized cases quick; the default cap is tested with the client.
    await withInstancer({ consul, client: { maxResponseBytes: 1 << 20 } }, async (ctx) => {
      const endpointer = new DefaultEndpointer(ctx.instancer, (instance) => ({
        endpoint: () => Promise.resolve(instance),
      }));
      try {
        await ctx.clock.tickAsync(0);
        const stalls = fault === "stall" || fault === "stallBody";
        if (stalls) await ctx.clock.tickAsync(73_750); // a blocking query's timeout: 60 s * 17/16 + 10 s
        assert.deepStrictEqual(ctx.events.slice(0, 2), [
          "[10.0.0.1:8080,10.0.0.2:8080]",
          `error:${errorName}`,
        ]);
        assert.equal(ctx.errors[0]!.name, errorName);
        await ctx.clock.tickAsync(600_000);
        // Ten minutes of failure: the backoff (up to 60 s) allows a few dozen queries.
        const during = ctx.consul.healthRequests().length;
        assert.ok(during <= 42, `${during} queries in ten minutes`);
        assert.ok(during >= 5, `the loop gave up after ${during} queries`);
        // The endpointer still serves the last good instances.
        assert.deepStrictEqual(endpointer.entries().map((e) => e.instance), [
          "10.0.0.1:8080",
          "10.0.0.2:8080",
        ]);
        // Bodies of failed answers were cancelled (a stalled one may be in flight right now).
        assert.ok(ctx.consul.openBodies <= (stalls ? 1 : 0), `${ctx.consul.openBodies} bodies left open`);
        // The fault clears; a change made meanwhile shows up within one backoff plus one token.
        ctx.consul.healthFaults.length = 0;
        ctx.consul.put(api(3));
        await ctx.clock.tickAsync(75_000);
        assert.equal(ctx.events.at(-1), "[10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080]");
        assert.equal(endpointer.entries().length, 3);
        assert.equal(endpointer.error, undefined);
      } finally {
        endpointer.close();
      }
    });
  });
}

Deno.test("ConsulInstancer survives a server whose index keeps going backwards: a reset, not an error; last good state; at most 3 + 75 queries a minute", async () => {
  const consul = new FakeConsul();
  consul.put(api(1));
  consul.put(api(2));
  // Every answer after the first claims index 3 (a server far behind, or one that keeps restarting).
  consul.healthFaults.push("ok", ...Array<ConsulFault>(1000).fill({ index: 3 }));
  await withInstancer({ consul }, async (ctx) => {
    const endpointer = new DefaultEndpointer(ctx.instancer, (instance) => ({
      endpoint: () => Promise.resolve(instance),
    }));
    try {
      await ctx.clock.tickAsync(600_000);
      const during = ctx.consul.healthRequests().length;
      assert.ok(during <= 3 + 750, `${during} queries in ten minutes`);
      assert.deepStrictEqual(ctx.events, ["[10.0.0.1:8080,10.0.0.2:8080]"]);
      assert.equal(endpointer.entries().length, 2);
      ctx.consul.healthFaults.length = 0;
      ctx.consul.put(api(3));
      await ctx.clock.tickAsync(2_000);
      assert.equal(ctx.events.at(-1), "[10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080]");
    } finally {
      endpointer.close();
    }
  });
});

Deno.test("ConsulInstancer reports a bad filter expression as the caller's error, not an unavailable registry", async () => {
  const consul = new FakeConsul();
  consul.put(api(1));
  await withInstancer(
    { consul, options: { filter: "Service.Bogus ~ 1" } },
    async ({ clock, events, errors }) => {
      await clock.tickAsync(0);
      assert.deepStrictEqual(events, ["error:ConsulHttpError"]);
      assert.equal((errors[0] as Error & { status?: number }).status, 500);
      assert.match(errors[0]!.message, /HTTP 500: "Failed to create boolean expression evaluator/);
    },
  );
});

Deno.test("ConsulInstancer reports a repeated identical failure once, and a different one again", async () => {
  const consul = new FakeConsul();
  consul.put(api(1));
  consul.healthFaults.push("ok", "http500", "http500", "http500", "malformed", "ok");
  await withInstancer({ consul, options: { rateLimit: { interval: 100 } } }, async ({ clock, events }) => {
    await clock.tickAsync(30_000);
    assert.deepStrictEqual(events, [
      "[10.0.0.1:8080]",
      "error:RegistryUnavailableError",
      "error:MalformedResponseError",
      "[10.0.0.1:8080]",
    ]);
  });
});

Deno.test("ConsulInstancer logs failures and skipped entries to its logger", async () => {
  const consul = new FakeConsul();
  consul.put(api(1));
  consul.put({ id: "api-9", name: "api", port: 0 });
  consul.healthFaults.push("ok", "http500");
  const logged: string[] = [];
  const logger = {
    debug() {},
    info() {},
    warn: (message: string, data?: Record<string, unknown>) =>
      void logged.push(`${message} ${data?.["id"] ?? ""}`),
    error() {},
  };
  await withInstancer({ consul, options: { logger } }, async ({ clock }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(logged, [
      "Consul entry skipped: no port api-9",
      "Consul query failed; keeping the last good state ",
    ]);
  });
});
