// The blocking-query loop of ConsulInstancer by Consul's rules, on fake time: an answer is not a
// change, the index never goes backwards or to 0 unnoticed, churn is paced by the token bucket, and
// failures back off with jitter and reset on success. go-kit equivalents: TestInstancerWithEOF,
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

Deno.test("ConsulInstancer paces a churning service to one query per 15 s instead of a request storm", async () => {
  await withInstancer({ consul: seeded() }, async ({ clock, consul, events, times }) => {
    for (let i = 0; i < 300; i++) {
      consul.touch(); // answers that are not changes
      await clock.tickAsync(1_000);
    }
    // Two at once (the burst), then one per 15 s: 2 + 300/15.
    assert.equal(times().length, 22);
    const gaps = times().slice(2).map((t, i) => t - times()[i + 1]!);
    assert.ok(gaps.every((g) => g === 15_000), `gaps ${gaps}`);
    // None of those answers was a change.
    assert.deepStrictEqual(events, ["[10.0.0.1:8080,10.0.0.2:8080]"]);
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
    // Backoff 750 ms (1 s with equal jitter at 0.5), then a token (the burst is spent) at 15 s; the
    // retry does not block, so that the recovery shows at once.
    await clock.tickAsync(15_000);
    assert.deepStrictEqual(times(), [0, 0, 15_000]);
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

Deno.test("ConsulInstancer drops an answer whose index went backwards and starts over from 0 (go-kit TestInstancerWithInvalidIndex)", async () => {
  const consul = seeded();
  // The second query is answered by a server that is behind: an older index and an older state.
  consul.healthFaults.push("ok", { index: 3, services: [api(1)] });
  await withInstancer({ consul }, async ({ clock, events, errors, queries, instancer }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080,10.0.0.2:8080]", "error:MalformedResponseError"]);
    assert.match(errors[0]!.message, /went backwards from 12 to 3/);
    assert.equal(instancer.index, 0);
    await clock.tickAsync(15_000);
    // Index 0: a non-blocking query, then (on the next token) blocking on the index it returns.
    assert.deepStrictEqual(queries(), ["-/-", "12/60000ms", "-/-"]);
    await clock.tickAsync(15_000);
    assert.deepStrictEqual(queries(), ["-/-", "12/60000ms", "-/-", "12/60000ms"]);
    // The older state (one instance) was never published.
    assert.deepStrictEqual(events.slice(2), ["[10.0.0.1:8080,10.0.0.2:8080]"]);
  });
});

Deno.test("ConsulInstancer never blocks on index 0: a zero index from the server becomes 1", async () => {
  const consul = seeded();
  consul.healthFaults.push("ok", { index: 0 });
  await withInstancer({ consul }, async ({ clock, events, errors, queries }) => {
    await clock.tickAsync(30_000);
    assert.match(errors[0]!.message, /X-Consul-Index 0 .*blocking on index 1/);
    assert.deepStrictEqual(queries(), ["-/-", "12/60000ms", "1/60000ms", "12/60000ms"]);
    assert.deepStrictEqual(events, [
      "[10.0.0.1:8080,10.0.0.2:8080]",
      "error:MalformedResponseError",
      "[10.0.0.1:8080,10.0.0.2:8080]",
    ]);
  });
});

Deno.test("ConsulInstancer follows an agent that restarted with a lower index and lost its services", async () => {
  await withInstancer({ consul: seeded(), options: FAST }, async ({ clock, consul, events, queries }) => {
    await clock.tickAsync(0);
    consul.restart(5); // dev-mode restart: empty catalog, index from 5
    await clock.tickAsync(1_000);
    consul.put(api(3));
    await clock.tickAsync(1_000);
    assert.deepStrictEqual(events, [
      "[10.0.0.1:8080,10.0.0.2:8080]",
      "error:MalformedResponseError",
      "[]",
      "[10.0.0.3:8080]",
    ]);
    assert.deepStrictEqual(queries(), ["-/-", "12/60000ms", "-/-", "5/60000ms", "6/60000ms"]);
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
    assert.deepStrictEqual(times(), [0, 0, 27_750]);
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
