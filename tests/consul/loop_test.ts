// The blocking-query loop of ConsulInstancer by Consul's rules, on fake time: an answer is not a
// change, the index never goes backwards or to 0 unnoticed, churn is paced by the token bucket (a
// change waits at most 1 s, churn costs at most 3 + 75 queries a minute), and failures back off with
// jitter and reset on success. go-kit equivalents: TestInstancerWithEOF,
// TestInstancerWithInvalidIndex, TestInstancerLoopIndex (#1214), and the 100% CPU bug #627.
import { assert } from "../_deps.ts";
import { FakeConsul } from "../_fakes/consul.ts";
import { api, withInstancer } from "./_setup.ts";

const FAST = { rateLimit: { burst: 2, interval: 100 } };

function seeded(): FakeConsul {
  const consul = new FakeConsul();
  consul.put(api(1));
  consul.put(api(2));
  return consul;
}

Deno.test("ConsulInstancer keeps blocking on the index each answer returned (go-kit TestInstancerLoopIndex, #1214)", async () => {
  await withInstancer({ consul: seeded() }, async ({ clock, consul, queries }) => {
    // Unrelated writes every 2 s for 10 minutes wake every blocked query.
    for (let i = 0; i < 300; i++) {
      consul.touch();
      await clock.tickAsync(2_000);
    }
    const sent = consul.healthRequests().map((r) => Number(r.url.searchParams.get("index") ?? 0));
    // Every query after the first sends exactly the index of the answer before it: never 0, never
    // smaller, never stuck on an old one.
    assert.deepStrictEqual(sent.slice(1), consul.answeredIndexes.slice(0, sent.length - 1));
    for (let i = 2; i < sent.length; i++) assert.ok(sent[i]! > sent[i - 1]!, queries().join(" "));
  });
});

/** Ticks 10 ms at a time until the last event shows `instance`; returns the time that took. */
async function visibleAfter(
  ctx: { clock: { tickAsync(ms: number): Promise<number> }; events: string[] },
  instance: string,
): Promise<number> {
  for (let waited = 0; waited <= 70_000; waited += 10) {
    if (ctx.events.at(-1)?.includes(instance)) return waited;
    await ctx.clock.tickAsync(10);
  }
  throw new Error(`${instance} never showed; events ${ctx.events.join(" ")}`);
}

Deno.test("ConsulInstancer paces a churning service to at most 3 + 75 queries a minute instead of a request storm", async (t) => {
  // The jitter shortens a wait for a token by up to 20%: random 0 is the slowest pace, near 1 the fastest.
  for (const [random, min, max] of [[0, 1_000, 1_000], [0.5, 900, 900], [0.999_999, 800, 801]] as const) {
    await t.step(`random ${random}`, async () => {
      await withInstancer({ consul: seeded(), options: { random: () => random } }, async (ctx) => {
        for (let i = 0; i < 600; i++) {
          ctx.consul.touch(); // answers that are not changes, ten a second for a minute
          await ctx.clock.tickAsync(100);
        }
        const times = ctx.times();
        // Three at once (the burst), then one per 0.8-1 s: never more than 3 + 60/0.8.
        assert.ok(times.length <= 3 + 75, `${times.length} queries in a minute`);
        assert.ok(times.length >= 3 + 59, `${times.length} queries in a minute`);
        const gaps = times.slice(4).map((at, i) => at - times[i + 3]!);
        assert.ok(gaps.every((g) => g >= min && g <= max), `gaps ${gaps}`);
        // None of those answers was a change.
        assert.deepStrictEqual(ctx.events, ["[10.0.0.1:8080,10.0.0.2:8080]"]);
      });
    });
  }
});

Deno.test("ConsulInstancer shows every change within 1 s, even amid churn and right after other changes (not 15 s)", async () => {
  await withInstancer({ consul: seeded(), options: { random: () => 0 } }, async (ctx) => {
    await ctx.clock.tickAsync(20_000);
    // Three changes within a second of each other, then one that follows two others within 15 s.
    const delays: number[] = [];
    for (const [n, gap] of [[3, 0], [4, 300], [5, 300], [6, 5_000]] as const) {
      await ctx.clock.tickAsync(gap);
      ctx.consul.put(api(n));
      delays.push(await visibleAfter(ctx, `10.0.0.${n}:8080`));
    }
    assert.ok(delays.every((d) => d <= 1_000), `delays ${delays}`);
    // Churn ten times a second, with a change every 2.37 s among it: each shows within 1 s.
    const churnDelays: number[] = [];
    for (let n = 7; n < 30; n++) {
      for (let i = 0; i < 20; i++) {
        ctx.consul.touch();
        await ctx.clock.tickAsync(100);
      }
      await ctx.clock.tickAsync(370);
      ctx.consul.put(api(n));
      churnDelays.push(await visibleAfter(ctx, `10.0.0.${n}:8080`));
    }
    assert.ok(churnDelays.every((d) => d <= 1_000), `delays ${churnDelays}`);
    assert.ok(churnDelays.some((d) => d > 0), "the churn made the bucket wait");
  });
});

Deno.test("ConsulInstancer sends about one query per wait to an idle agent", async () => {
  await withInstancer({ consul: seeded(), options: { wait: 2_000 } }, async ({ clock, times }) => {
    await clock.tickAsync(60_000);
    // t=0 without an index, then one blocking query per 2 s (the bucket earns a token per `wait`).
    assert.equal(times().length, 2 + 30);
    assert.deepStrictEqual(times().slice(0, 5), [0, 0, 2_000, 4_000, 6_000]);
  });
});

Deno.test("ConsulInstancer keeps looping after a network error and recovers at once (go-kit TestInstancerWithEOF)", async () => {
  const consul = seeded();
  consul.healthFaults.push("ok", "network");
  await withInstancer({ consul }, async ({ clock, events, errors, queries, times }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080,10.0.0.2:8080]", "error:RegistryUnavailableError"]);
    assert.match(
      errors[0]!.message,
      /GET \/v1\/health\/service\/api to Consul at http:\/\/127\.0\.0\.1:8500.*connection refused/,
    );
    // Backoff 750 ms (1 s with equal jitter at 0.5); the retry does not block, so that the recovery
    // shows at once.
    await clock.tickAsync(750);
    assert.deepStrictEqual(times(), [0, 0, 750]);
    assert.deepStrictEqual(queries(), ["-/-", "12/60000ms", "-/-"]);
    assert.deepStrictEqual(events.slice(2), ["[10.0.0.1:8080,10.0.0.2:8080]"]);
  });
});

Deno.test("ConsulInstancer backs off exponentially with jitter up to a cap, and resets on success (#627)", async () => {
  const consul = seeded();
  consul.healthFaults.push("ok", ...Array<"http500">(9).fill("http500"), "ok", "ok", "http500");
  await withInstancer({ consul, options: FAST }, async ({ clock, times }) => {
    await clock.tickAsync(400_000);
    const gaps = times().slice(1).map((t, i) => t - times()[i]!);
    // 750 ms, doubling, capped at 60 s (45 s with the jitter at 0.5); a success resets it: the next
    // failure waits 750 ms again.
    // (The two zeros and the 60 s: the recovery query, then a blocking query held for `wait`.)
    assert.deepStrictEqual(
      gaps.slice(0, 13),
      [0, 750, 1_500, 3_000, 6_000, 12_000, 24_000, 45_000, 45_000, 45_000, 0, 60_000, 750],
    );
  });
});

Deno.test("ConsulInstancer drops an answer whose index went backwards and reads again from 0 at once (go-kit TestInstancerWithInvalidIndex)", async () => {
  const consul = seeded();
  // The second query is answered by a server that is behind: an older index and an older state.
  consul.healthFaults.push("ok", { index: 3, services: [api(1)] });
  await withInstancer({ consul }, async ({ clock, events, errors, queries, instancer }) => {
    await clock.tickAsync(0);
    // Index 0: a query that does not block, at once (a reset is not a failure: no backoff, no error
    // event); then, paced, blocking on the index it returned, for one interval after the pause.
    assert.deepStrictEqual(queries(), ["-/-", "12/60000ms", "-/-"]);
    assert.equal(instancer.index, 12);
    await clock.tickAsync(900);
    assert.deepStrictEqual(queries(), ["-/-", "12/60000ms", "-/-", "12/1000ms"]);
    await clock.tickAsync(1_000);
    assert.deepStrictEqual(queries(), ["-/-", "12/60000ms", "-/-", "12/1000ms", "12/60000ms"]);
    // The older state (one instance) was never published.
    assert.deepStrictEqual(events, ["[10.0.0.1:8080,10.0.0.2:8080]"]);
    assert.deepStrictEqual(errors, []);
  });
});

Deno.test("ConsulInstancer never blocks on index 0: a zero index from the server becomes 1", async () => {
  const consul = seeded();
  consul.healthFaults.push("ok", { index: 0 });
  await withInstancer({ consul }, async ({ clock, events, errors, queries }) => {
    await clock.tickAsync(30_000);
    assert.match(errors[0]!.message, /X-Consul-Index 0 .*blocking on index 1/);
    assert.deepStrictEqual(queries().slice(0, 3), ["-/-", "12/60000ms", "1/60000ms"]);
    assert.match(queries()[3]!, /^12\//);
    assert.deepStrictEqual(events, [
      "[10.0.0.1:8080,10.0.0.2:8080]",
      "error:MalformedResponseError",
      "[10.0.0.1:8080,10.0.0.2:8080]",
    ]);
  });
});

Deno.test("ConsulInstancer follows an agent that restarted with a lower index and lost its services, never going empty, and drops what does not come back once the rest has settled", async () => {
  await withInstancer({ consul: seeded(), options: FAST }, async ({ clock, consul, events, queries }) => {
    await clock.tickAsync(0);
    consul.restart(5); // dev-mode restart: empty catalog, index from 5 (the blocked query answers)
    await clock.tickAsync(1_000);
    // The agent's empty catalog is served together with the instances it had, for the grace.
    assert.deepStrictEqual(events, ["[10.0.0.1:8080,10.0.0.2:8080]"]);
    assert.deepStrictEqual(queries().slice(0, 4), ["-/-", "12/60000ms", "-/-", "5/100ms"]);
    consul.put(api(1)); // its registrar registers again; api-2's never does
    consul.put(api(3)); // a change after the restart
    await clock.tickAsync(100);
    assert.deepStrictEqual(events, [
      "[10.0.0.1:8080,10.0.0.2:8080]",
      "[10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080]",
    ]);
    // api-1 is back, so api-2 has resetSettle (2 s) to come back too; it does not, and goes then,
    // well before the grace (15 s after the reset) would end.
    await clock.tickAsync(1_800);
    assert.equal(events.length, 2);
    await clock.tickAsync(200);
    assert.deepStrictEqual(events.slice(2), ["[10.0.0.1:8080,10.0.0.3:8080]"]);
    await clock.tickAsync(15_000);
    assert.equal(events.length, 3);
  });
});

Deno.test("ConsulInstancer drops a carried instance that came back critical and left, without waiting for the grace", async () => {
  // Seen in CI: a registrar re-registers (its TTL check critical until its first pass) and is
  // deregistered before the instancer saw it passing. Asking for every state while carrying shows
  // that it came back, so its removal shows at once instead of when the 15 s grace ends.
  await withInstancer({ consul: seeded(), options: FAST }, async ({ clock, consul, events }) => {
    await clock.tickAsync(0);
    consul.restart(5);
    await clock.tickAsync(1_000);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080,10.0.0.2:8080]"]);
    consul.put(api(1));
    consul.put(api(2, { checks: [{ id: "service:api-2", status: "critical", ttl: "15s" }] }));
    await clock.tickAsync(200);
    // api-2 is back but not passing yet: still carried, so nothing flickers.
    assert.ok(events.every((e) => e.includes("10.0.0.2:8080")), events.join(" "));
    consul.remove("api-2"); // deregistered before its first pass
    await clock.tickAsync(200);
    assert.deepStrictEqual(events.at(-1), "[10.0.0.1:8080]");
  });
});

Deno.test("ConsulInstancer keeps serving a carried instance that came back critical until its check passes", async () => {
  await withInstancer({ consul: seeded(), options: FAST }, async ({ clock, consul, events }) => {
    await clock.tickAsync(0);
    consul.restart(5);
    await clock.tickAsync(1_000);
    consul.put(api(1, { checks: [{ id: "service:api-1", status: "critical", ttl: "15s" }] }));
    consul.put(api(2, { checks: [{ id: "service:api-2", status: "critical", ttl: "15s" }] }));
    await clock.tickAsync(200);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080,10.0.0.2:8080]"], "never empty while they come back");
    consul.setStatus("api-1", "passing");
    consul.setStatus("api-2", "passing");
    await clock.tickAsync(200);
    // Passing again: served as found, no longer carried; the grace's end changes nothing.
    await clock.tickAsync(15_000);
    assert.equal(events.at(-1), "[10.0.0.1:8080,10.0.0.2:8080]");
    assert.ok(events.every((e) => e !== "[]"), events.join(" "));
  });
});

Deno.test("ConsulInstancer notices an agent that restarted while no query was open within 2 s, not after the wait", async () => {
  // The real agent answers a query blocked on an index above its own only after the whole wait. If
  // it restarts while the loop waits for a token (nothing open, so nothing fails), the next query
  // carries the old index; it must not block for long.
  const consul = seeded();
  await withInstancer({ consul }, async ({ clock, events, queries }) => {
    await clock.tickAsync(0);
    for (let i = 0; i < 3; i++) {
      consul.touch(); // churn: the burst is spent, the loop waits for a token
      await clock.tickAsync(0);
    }
    assert.equal(consul.parked, 0, "no query open: the loop is pacing");
    consul.restart(5); // no open query to cut
    consul.put(api(1));
    consul.put(api(2)); // the registrars are back (index 7)
    consul.put(api(3)); // and a change after the restart (index 8)
    const waited = await visibleAfterRestart();
    assert.ok(waited <= 2_000, `the change showed ${waited} ms after the restart; queries ${queries()}`);
    assert.ok(events.every((e) => e !== "[]"), events.join(" "));

    async function visibleAfterRestart(): Promise<number> {
      for (let t = 0; t <= 70_000; t += 10) {
        if (events.at(-1)?.includes("10.0.0.3:8080")) return t;
        await clock.tickAsync(10);
      }
      return Infinity;
    }
  });
});

Deno.test("ConsulInstancer holds a blocking query up to wait*17/16 plus the timeout, then retries", async () => {
  const consul = seeded();
  consul.healthFaults.push("ok", "stall");
  await withInstancer({ consul, options: { wait: 16_000 } }, async ({ clock, events, errors, times }) => {
    // 16 s of wait + 1 s of Consul's jitter + the 10 s request timeout.
    await clock.tickAsync(26_999);
    assert.equal(events.length, 1);
    await clock.tickAsync(1);
    assert.deepStrictEqual(events.slice(1), ["error:RegistryUnavailableError"]);
    assert.match(errors[0]!.message, /did not answer GET \/v1\/health\/service\/api within 27000 ms/);
    await clock.tickAsync(750);
    assert.deepStrictEqual(times(), [0, 0, 27_750, 27_750]);
    assert.deepStrictEqual(events.slice(2), ["[10.0.0.1:8080,10.0.0.2:8080]"]);
  });
});

Deno.test("ConsulInstancer tolerates Consul's wait jitter without timing out", async () => {
  const consul = seeded();
  consul.jitter = 60_000 / 16; // the most Consul adds
  await withInstancer({ consul }, async ({ clock, errors, times }) => {
    await clock.tickAsync(200_000);
    assert.deepStrictEqual(errors, []);
    assert.deepStrictEqual(times(), [0, 0, 63_750, 127_500, 191_250]);
  });
});
