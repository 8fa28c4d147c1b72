import { assert, fakeTime } from "./_deps.ts";
import { recordingLogger } from "./_helpers.ts";
import { DefaultEndpointer } from "../src/endpointer.ts";
import { MalformedResponseError, RegistryUnavailableError, StoppedError } from "../src/errors.ts";
import { type LookupResult, PullInstancer, type PullInstancerOptions } from "../src/pull_instancer.ts";
import type { DiscoveryEvent } from "../src/types.ts";

/** A lookup whose answers the test hands out one call at a time. */
function scripted() {
  const calls: { signal: AbortSignal; resolve: (r: LookupResult) => void; reject: (e: unknown) => void }[] =
    [];
  const lookup = ({ signal }: { signal: AbortSignal }) =>
    new Promise<LookupResult>((resolve, reject) => void calls.push({ signal, resolve, reject }));
  return { calls, lookup };
}

/** A lookup that answers at once from a mutable script. */
function answering(first: LookupResult | Error) {
  let next: LookupResult | Error = first;
  let count = 0;
  return {
    get count() {
      return count;
    },
    set(value: LookupResult | Error) {
      next = value;
    },
    lookup: () => {
      count++;
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function make(
  lookup: PullInstancerOptions & { lookup: () => Promise<LookupResult> },
  clock: { now: number },
) {
  const { lookup: fn, ...options } = lookup;
  return new PullInstancer(fn, { now: () => clock.now, random: () => 0.5, ...options });
}

Deno.test("PullInstancer looks up inline on the first call, then serves fresh sets with no lookup", async () => {
  const clock = fakeTime(1_000);
  try {
    const registry = answering({ instances: ["10.0.0.2:80", "10.0.0.1:80"] });
    using pull = make({ lookup: registry.lookup, ttl: 5_000 }, clock);
    const first = await pull.refresh();
    assert.deepEqual(first, { source: "refreshed", lookups: 1, age: 0 });
    assert.deepEqual(pull.state()?.instances, ["10.0.0.1:80", "10.0.0.2:80"]);
    for (let i = 0; i < 50; i++) {
      clock.tick(99);
      assert.equal((await pull.refresh()).source, "fresh");
    }
    assert.equal(registry.count, 1);
    assert.deepEqual(pull.status, {
      fetchedAt: 1_000,
      expiresAt: 6_000,
      failures: 0,
      lastError: undefined,
      refreshing: false,
      lookups: 1,
    });
  } finally {
    clock.uninstall();
  }
});

Deno.test("PullInstancer serves a stale set at once and refreshes it once in the background through waitUntil", async () => {
  const clock = fakeTime(0);
  try {
    const registry = answering({ instances: ["a:1"] });
    using pull = make({ lookup: registry.lookup, ttl: 1_000, staleWhileRevalidate: 10_000 }, clock);
    await pull.refresh();
    registry.set({ instances: ["a:1", "b:2"] });
    clock.tick(1_500);
    const kept: Promise<unknown>[] = [];
    const waitUntil = (p: Promise<unknown>) => void kept.push(p);
    const stale = await pull.refresh({ waitUntil });
    assert.deepEqual(stale, { source: "stale", lookups: 1, age: 1_500 });
    // A second call while the refresh runs starts nothing.
    assert.deepEqual(await pull.refresh({ waitUntil }), { source: "stale", lookups: 0, age: 1_500 });
    assert.equal(kept.length, 1);
    await kept[0];
    assert.equal(registry.count, 2);
    assert.deepEqual(pull.state()?.instances, ["a:1", "b:2"]);
    assert.equal((await pull.refresh()).source, "fresh");
  } finally {
    clock.uninstall();
  }
});

Deno.test("PullInstancer looks up inline once a set is older than ttl plus staleWhileRevalidate", async () => {
  const clock = fakeTime(0);
  try {
    const registry = answering({ instances: ["a:1"] });
    using pull = make({ lookup: registry.lookup, ttl: 1_000, staleWhileRevalidate: 2_000 }, clock);
    await pull.refresh();
    clock.tick(3_000);
    registry.set({ instances: ["b:2"] });
    assert.deepEqual(await pull.refresh(), { source: "refreshed", lookups: 1, age: 0 });
    assert.deepEqual(pull.state()?.instances, ["b:2"]);
  } finally {
    clock.uninstall();
  }
});

Deno.test("PullInstancer takes the registry's ttl, bounded by minTtl and maxTtl", async () => {
  const clock = fakeTime(0);
  try {
    const registry = answering({ instances: ["a:1"], ttl: 0 });
    using pull = make({ lookup: registry.lookup, ttl: 10_000, minTtl: 500, maxTtl: 60_000 }, clock);
    await pull.refresh();
    assert.equal(pull.status.expiresAt, 500);
    registry.set({ instances: ["a:1"], ttl: 30_000 });
    clock.tick(500);
    await pull.refresh({ waitUntil: () => {} });
    await settle();
    assert.equal(pull.status.expiresAt, 30_500);
    registry.set({ instances: ["a:1"], ttl: 3_600_000 });
    clock.tick(30_000);
    await pull.refresh();
    await settle();
    assert.equal(pull.status.expiresAt, 30_500 + 60_000);
  } finally {
    clock.uninstall();
  }
});

Deno.test("PullInstancer merges concurrent cold calls into one lookup; the others wait on their own timers", async () => {
  const clock = fakeTime(0);
  try {
    const { calls, lookup } = scripted();
    using pull = new PullInstancer(lookup, { now: () => clock.now, waitInterval: 10 });
    const results = Array.from({ length: 8 }, () => pull.refresh());
    await settle();
    assert.equal(calls.length, 1);
    assert.equal(pull.status.refreshing, true);
    calls[0]!.resolve({ instances: ["a:1"] });
    // The waiting calls notice on their next poll, not through the first call's promise.
    const first = await results[0]!;
    assert.equal(first.source, "refreshed");
    await clock.tickAsync(10);
    const all = await Promise.all(results);
    assert.deepEqual(all.slice(1).map((r) => [r.source, r.lookups]), Array(7).fill(["coalesced", 0]));
    assert.equal(calls.length, 1);
  } finally {
    clock.uninstall();
  }
});

Deno.test("PullInstancer ends a lookup that ignores its signal at the timeout, as RegistryUnavailableError", async () => {
  const clock = fakeTime(0);
  try {
    const { calls, lookup } = scripted();
    using pull = new PullInstancer(lookup, { now: () => clock.now, timeout: 2_000 });
    const failed = pull.refresh();
    failed.catch(() => {});
    await settle();
    await clock.tickAsync(2_000);
    await assert.rejects(failed, (e: unknown) => {
      assert.ok(e instanceof RegistryUnavailableError);
      assert.match(e.message, /timed out after 2000 ms/);
      return true;
    });
    assert.equal(calls[0]!.signal.aborted, true);
    assert.equal(pull.status.refreshing, false);
  } finally {
    clock.uninstall();
  }
});

Deno.test("PullInstancer rides out failures within staleIfError, then reports the error and the endpointer throws it", async () => {
  const clock = fakeTime(0);
  try {
    const registry = answering({ instances: ["a:1"] });
    const { logger, records } = recordingLogger();
    using pull = make({
      lookup: registry.lookup,
      ttl: 1_000,
      staleWhileRevalidate: 1_000,
      staleIfError: 10_000,
      backoff: { initial: 1_000, max: 4_000, multiplier: 2 },
      logger,
    }, clock);
    using endpointer = new DefaultEndpointer(pull, (i) => ({ endpoint: () => Promise.resolve(i) }), {
      invalidateAfter: 0,
      now: () => clock.now,
    });
    const events: DiscoveryEvent[] = [];
    pull.subscribe((e) => void events.push(e));
    await pull.refresh();
    const down = new RegistryUnavailableError("Registry down");
    registry.set(down);
    clock.tick(2_500); // past ttl + swr: an inline lookup, which fails
    const ridden = await pull.refresh();
    assert.deepEqual(ridden, { source: "stale-if-error", lookups: 1, age: 2_500, error: down });
    assert.equal(registry.count, 2);
    assert.equal(endpointer.endpoints().length, 1);
    assert.equal(records.filter((r) => r.level === "warn").length, 1);
    // Within the backoff (1000 * 2^0, jitter 0.5 -> 750 ms) nothing is looked up.
    clock.tick(500);
    assert.equal((await pull.refresh()).lookups, 0);
    clock.tick(300);
    assert.equal((await pull.refresh()).lookups, 1);
    await settle();
    assert.equal(registry.count, 3);
    clock.tick(8_000); // expiry 1000 + staleIfError 10000 passed
    await assert.rejects(pull.refresh(), (e: unknown) => e === down);
    await settle();
    assert.throws(() => endpointer.endpoints(), (e: unknown) => e === down);
    assert.equal(events.at(-1)?.error, down);
    // Recovery on the first call once the backoff allows a lookup.
    registry.set({ instances: ["b:2"] });
    clock.tick(5_000);
    assert.equal((await pull.refresh()).source, "refreshed");
    await settle();
    assert.equal(endpointer.endpoints().length, 1);
    assert.equal(await endpointer.endpoints()[0]!(undefined), "b:2");
  } finally {
    clock.uninstall();
  }
});

Deno.test("PullInstancer rejects at once when nothing is known and the lookup fails, and spaces retries", async () => {
  const clock = fakeTime(0);
  try {
    const registry = answering(new Error("connection refused"));
    using pull = make(
      { lookup: registry.lookup, backoff: { initial: 1_000, max: 2_000, multiplier: 2 } },
      clock,
    );
    using endpointer = new DefaultEndpointer(pull, (i) => ({ endpoint: () => Promise.resolve(i) }));
    const ready = endpointer.ready();
    ready.catch(() => {});
    let first: unknown;
    await assert.rejects(pull.refresh(), (e: unknown) => {
      first = e;
      assert.equal((e as { code?: string }).code, "ERR_DISCOVERY");
      assert.match((e as Error).message, /Discovery lookup failed: Error: connection refused/);
      return true;
    });
    // Inside the backoff: rejected with no lookup.
    await assert.rejects(pull.refresh());
    assert.equal(registry.count, 1);
    clock.tick(750);
    await assert.rejects(pull.refresh());
    assert.equal(registry.count, 2);
    // Second backoff: 2000 capped, jitter 0.5 -> 1500.
    clock.tick(1_499);
    await assert.rejects(pull.refresh());
    assert.equal(registry.count, 2);
    clock.tick(1);
    registry.set({ instances: ["a:1"] });
    assert.equal((await pull.refresh()).source, "refreshed");
    // A Worker awaiting the endpointer fails fast with the discovery error instead of hanging.
    await assert.rejects(ready, (e: unknown) => e === first);
    assert.equal((await endpointer.ready()).length, 1);
  } finally {
    clock.uninstall();
  }
});

Deno.test("PullInstancer keeps the last good set when a lookup returns garbage", async () => {
  const clock = fakeTime(0);
  try {
    const registry = answering({ instances: ["a:1"] });
    using pull = make({ lookup: registry.lookup, ttl: 1_000, staleWhileRevalidate: 0 }, clock);
    await pull.refresh();
    for (
      const bad of [null, { instances: [42] }, { instances: ["a:1"], ttl: -1 }, {
        instances: ["a:1"],
        ttl: "5",
      }]
    ) {
      registry.set(bad as unknown as LookupResult);
      clock.tick(60_000);
      const result = await pull.refresh();
      await settle();
      assert.deepEqual([result.source, result.lookups], ["stale-if-error", 1]);
      assert.ok(result.error instanceof MalformedResponseError, String(result.error));
      assert.deepEqual(pull.state()?.instances, ["a:1"]);
    }
  } finally {
    clock.uninstall();
  }
});

Deno.test("PullInstancer rejects with the caller's reason on abort and does not count it as a registry failure", async () => {
  const clock = fakeTime(0);
  try {
    const { calls, lookup } = scripted();
    using pull = new PullInstancer(lookup, { now: () => clock.now });
    const controller = new AbortController();
    const call = pull.refresh({ signal: controller.signal });
    await settle();
    controller.abort(new Error("client went away"));
    await assert.rejects(call, /client went away/);
    assert.equal(calls[0]!.signal.aborted, true);
    assert.equal(pull.status.failures, 0);
    await assert.rejects(pull.refresh({ signal: controller.signal }), /client went away/);
  } finally {
    clock.uninstall();
  }
});

Deno.test("PullInstancer stop aborts a lookup in flight; refresh then throws StoppedError", async () => {
  const { calls, lookup } = scripted();
  const controller = new AbortController();
  const pull = new PullInstancer(lookup, { signal: controller.signal });
  const call = pull.refresh();
  await settle();
  controller.abort();
  await assert.rejects(call, StoppedError);
  assert.equal(calls[0]!.signal.aborted, true);
  await assert.rejects(pull.refresh(), StoppedError);
  pull.stop();
  const born = new PullInstancer(lookup, { signal: AbortSignal.abort() });
  assert.equal(born.stopped, true);
});

Deno.test("PullInstancer validates its arguments with messages that name the value", () => {
  const lookup = () => Promise.resolve({ instances: [] });
  assert.throws(() => new PullInstancer(42 as never), /lookup must be a function, got 42/);
  assert.throws(
    () => new PullInstancer(lookup, { ttl: -1 }),
    /options.ttl must be a finite number >= 0, got -1/,
  );
  assert.throws(() => new PullInstancer(lookup, { timeout: 0 }), /options.timeout/);
  assert.throws(() => new PullInstancer(lookup, { minTtl: 10, maxTtl: 5 }), /must not exceed/);
  assert.throws(() => new PullInstancer(lookup, { backoff: { initial: 0 } }), /options.backoff.initial/);
  assert.throws(() => new PullInstancer(lookup, null as never), /options must be an object, got null/);
  using pull = new PullInstancer(lookup);
  assert.rejects(pull.refresh({ waitUntil: 1 as never }), /options.waitUntil must be a function/);
});
