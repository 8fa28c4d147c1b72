// Retry over time: backoff, deadlines, per-attempt timeouts and caller aborts, all on fake time.
import { assert, type InstalledClock, withClock } from "../_deps.ts";
import { NoEndpointsError, RetryError } from "../../src/errors.ts";
import { FixedEndpointer } from "../../src/fixed.ts";
import { retry, type RetryOptions } from "../../src/lb/retry.ts";
import { RoundRobinBalancer } from "../../src/lb/round_robin.ts";
import type { Endpoint, Endpointer } from "../../src/types.ts";

function roundRobin(endpoints: Endpoint<string, string>[]): RoundRobinBalancer<string, string> {
  return new RoundRobinBalancer(new FixedEndpointer(endpoints));
}

/** Replays `values` as a random source. */
function scripted(values: number[]): () => number {
  let i = 0;
  return () => {
    const v = values[i++];
    if (v === undefined) throw new Error("random() called more often than scripted");
    return v;
  };
}

/** Settles `promise` into a plain record so that a rejection is never unhandled while time moves. */
function track<T>(promise: Promise<T>): { settled: boolean; value?: T; error?: unknown } {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

/** An endpoint that records when it was called and with which signal, then never settles. */
function hanging(log: { at: number; signal: AbortSignal }[]): Endpoint<string, string> {
  return (_req, options) => {
    log.push({ at: Date.now(), signal: options!.signal! });
    return new Promise<string>(() => {});
  };
}

/** Runs a call that fails every attempt and returns the times of its attempts. */
async function attemptTimes(clock: InstalledClock, options: RetryOptions<string>): Promise<number[]> {
  const times: number[] = [];
  const call = retry(
    roundRobin([() => {
      times.push(Date.now());
      return Promise.reject(new Error("down"));
    }]),
    options,
  );
  const outcome = track(call("x"));
  await clock.tickAsync(100_000);
  assert.ok(outcome.error instanceof RetryError);
  assert.equal(outcome.error.code, "ERR_RETRY_EXHAUSTED");
  assert.equal(clock.countTimers(), 0);
  return times;
}

Deno.test("retry pauses between half and all of min(max, initial * multiplier^(n-1)) before retry n", async () => {
  await withClock(async (clock) => {
    const times = await attemptTimes(clock, {
      attempts: 5,
      timeout: 60_000,
      backoff: { initial: 100, max: 300, multiplier: 2 },
      // Retry 1: 50 + 0.5 * 50; retry 2: 100 + 0.25 * 100; retry 3 (400 capped to 300): 150 + 150;
      // retry 4: 150 + 0.
      random: scripted([0.5, 0.25, 1, 0]),
    });
    assert.deepStrictEqual(times, [0, 75, 200, 500, 650]);
  });
});

Deno.test("retry with a random source at 0 pauses exactly half the default backoff, capped at 1000 ms", async () => {
  await withClock(async (clock) => {
    const times = await attemptTimes(clock, { attempts: 10, timeout: 60_000, random: () => 0 });
    // Pauses 5, 10, 20, 40, 80, 160, 320, 500 (cap 1000 halved), 500.
    assert.deepStrictEqual(times, [0, 5, 15, 35, 75, 155, 315, 635, 1135, 1635]);
  });
});

Deno.test("retry does not fire a retry a millisecond before its pause ends", async () => {
  await withClock(async (clock) => {
    let attempts = 0;
    const call = retry(
      roundRobin([() => {
        attempts++;
        return Promise.reject(new Error("down"));
      }]),
      { attempts: 2, timeout: 60_000, backoff: { initial: 40 }, random: () => 0 },
    );
    const outcome = track(call("x"));
    await clock.tickAsync(19);
    assert.equal(attempts, 1);
    await clock.tickAsync(1);
    assert.equal(attempts, 2);
    await clock.tickAsync(0);
    assert.ok(outcome.error instanceof RetryError);
  });
});

Deno.test("retry with backoff false retries at once", async () => {
  await withClock(async (clock) => {
    const times = await attemptTimes(clock, { attempts: 4, timeout: 60_000, backoff: false });
    assert.deepStrictEqual(times, [0, 0, 0, 0]);
  });
});

Deno.test("retry counts balancer errors as attempts but backs off instead of spinning", async () => {
  await withClock(async (clock) => {
    const picks: number[] = [];
    const empty = new FixedEndpointer<string, string>([]);
    const endpointer: Endpointer<string, string> = {
      endpoints: () => {
        picks.push(Date.now());
        return empty.endpoints();
      },
    };
    const call = retry(new RoundRobinBalancer(endpointer), {
      attempts: 1000,
      timeout: 1010,
      backoff: { initial: 100, max: 100 },
      random: () => 0,
    });
    const outcome = track(call("x"));
    await clock.tickAsync(0);
    assert.deepStrictEqual(picks, [0]);
    await clock.tickAsync(2000);
    assert.deepStrictEqual(picks, Array.from({ length: 21 }, (_, i) => i * 50));
    const error = outcome.error;
    assert.ok(error instanceof RetryError);
    assert.equal(error.code, "ERR_DEADLINE_EXCEEDED");
    assert.equal(error.errors.length, 21);
    assert.ok(error.errors.every((e) => e instanceof NoEndpointsError));
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("retry rejects with a RetryError on its deadline, not a bare timeout (go-kit TestRetryTimeout)", async () => {
  await withClock(async (clock) => {
    const gates: Promise<void>[] = [];
    const discarded: string[] = [];
    const call = retry(
      roundRobin([async () => {
        await gates.shift();
        return "ok";
      }]),
      { timeout: 1, discard: (r) => discarded.push(r) },
    );
    // A pre-released gate: the call succeeds within the deadline.
    gates.push(Promise.resolve());
    assert.equal(await call("x"), "ok");
    // A gate released after 10 ms: the 1 ms deadline wins.
    gates.push(new Promise((resolve) => setTimeout(resolve, 10)));
    const outcome = track(call("x"));
    await clock.tickAsync(1);
    const error = outcome.error;
    assert.ok(error instanceof RetryError, "go-kit returned a bare context.DeadlineExceeded here");
    assert.equal(error.code, "ERR_DEADLINE_EXCEEDED");
    assert.ok(error.final instanceof DOMException);
    assert.equal(error.final.name, "TimeoutError");
    assert.deepStrictEqual(error.errors, [error.final]);
    assert.equal(error.message, "Deadline exceeded after 1 attempt (1: TimeoutError: Timed out after 1 ms)");
    // The abandoned attempt's late result is handed to discard.
    await clock.tickAsync(9);
    assert.deepStrictEqual(discarded, ["ok"]);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("retry aborts the attempt in flight when the deadline passes", async () => {
  await withClock(async (clock) => {
    const log: { at: number; signal: AbortSignal }[] = [];
    const call = retry(roundRobin([hanging(log)]), { timeout: 100 });
    const outcome = track(call("x"));
    await clock.tickAsync(99);
    assert.equal(outcome.settled, false);
    assert.equal(log[0]!.signal.aborted, false);
    await clock.tickAsync(1);
    const error = outcome.error;
    assert.ok(error instanceof RetryError);
    assert.equal(error.code, "ERR_DEADLINE_EXCEEDED");
    assert.equal(log[0]!.signal.aborted, true);
    assert.equal(log[0]!.signal.reason, error.final);
    assert.equal((error.final as DOMException).name, "TimeoutError");
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("retry lists the earlier attempts' errors before the deadline in its RetryError", async () => {
  await withClock(async (clock) => {
    const first = new Error("refused");
    const log: { at: number; signal: AbortSignal }[] = [];
    const call = retry(roundRobin([() => Promise.reject(first), hanging(log)]), {
      timeout: 100,
      random: () => 0,
    });
    const outcome = track(call("x"));
    await clock.tickAsync(100);
    const error = outcome.error;
    assert.ok(error instanceof RetryError);
    assert.equal(error.code, "ERR_DEADLINE_EXCEEDED");
    assert.equal(log[0]!.at, 5);
    assert.deepStrictEqual(error.errors, [first, error.final]);
    assert.ok(error.final instanceof DOMException && error.final.name === "TimeoutError");
    assert.match(error.message, /^Deadline exceeded after 2 attempts \(1: Error: refused; 2: TimeoutError/);
  });
});

Deno.test("retry ends on its deadline during a pause without adding an attempt", async () => {
  await withClock(async (clock) => {
    const first = new Error("refused");
    let attempts = 0;
    const call = retry(
      roundRobin([() => {
        attempts++;
        return Promise.reject(first);
      }]),
      { timeout: 100, backoff: { initial: 1000 }, random: () => 0 },
    );
    const outcome = track(call("x"));
    await clock.tickAsync(100);
    const error = outcome.error;
    assert.ok(error instanceof RetryError);
    assert.equal(error.code, "ERR_DEADLINE_EXCEEDED");
    assert.equal(attempts, 1);
    assert.deepStrictEqual(error.errors, [first]);
    assert.ok(error.final instanceof DOMException && error.final.name === "TimeoutError");
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("retry rejects at once with the caller's reason even if the endpoint ignores its signal", async () => {
  await withClock(async (clock) => {
    let release!: (value: string) => void;
    let seen: AbortSignal | undefined;
    const discarded: string[] = [];
    const call = retry(
      roundRobin([(_req, options) => {
        seen = options?.signal;
        return new Promise<string>((resolve) => release = resolve);
      }]),
      { timeout: 1000, discard: (r) => discarded.push(r) },
    );
    const controller = new AbortController();
    const reason = new Error("client went away");
    const outcome = track(call("x", { signal: controller.signal }));
    await clock.tickAsync(10);
    controller.abort(reason);
    await clock.tickAsync(0);
    assert.equal(outcome.error, reason);
    assert.equal(Date.now(), 10);
    assert.equal(seen!.aborted, true);
    assert.equal(seen!.reason, reason);
    assert.equal(clock.countTimers(), 0);
    // The endpoint finishes later anyway: its result is discarded, not lost.
    release("late");
    await clock.tickAsync(0);
    assert.deepStrictEqual(discarded, ["late"]);
  });
});

Deno.test("retry rejects with the caller's reason when aborted during a pause and discards a kept result", async () => {
  await withClock(async (clock) => {
    const discarded: string[] = [];
    let attempts = 0;
    const call = retry(
      roundRobin([() => {
        attempts++;
        return Promise.resolve("503");
      }]),
      {
        timeout: 1000,
        backoff: { initial: 200 },
        random: () => 0,
        retryResult: () => true,
        discard: (r) => discarded.push(r),
      },
    );
    const controller = new AbortController();
    const outcome = track(call("x", { signal: controller.signal }));
    await clock.tickAsync(50);
    controller.abort();
    await clock.tickAsync(0);
    assert.ok(outcome.error instanceof DOMException);
    assert.equal(outcome.error.name, "AbortError");
    assert.equal(attempts, 1);
    assert.deepStrictEqual(discarded, ["503"]);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("retry rejects with the reason of an already aborted signal without picking an endpoint", async () => {
  let picked = 0;
  const call = retry<string, string>({
    endpoint: () => {
      picked++;
      return () => Promise.resolve("ok");
    },
  });
  const reason = new Error("already gone");
  const error = await call("x", { signal: AbortSignal.abort(reason) }).catch((e) => e);
  assert.equal(error, reason);
  assert.equal(picked, 0);
});

Deno.test("retry rejects with the caller's reason when the abort comes while the endpoint starts", async () => {
  const controller = new AbortController();
  const reason = new Error("aborted from inside");
  const discarded: string[] = [];
  const call = retry(
    roundRobin([() => {
      controller.abort(reason);
      return Promise.resolve("finished anyway");
    }]),
    { timeout: Infinity, discard: (r) => discarded.push(r) },
  );
  assert.equal(await call("x", { signal: controller.signal }).catch((e) => e), reason);
  await Promise.resolve();
  assert.deepStrictEqual(discarded, ["finished anyway"]);
});

Deno.test("retry times out each attempt on attemptTimeout and moves on", async () => {
  await withClock(async (clock) => {
    const log: { at: number; signal: AbortSignal }[] = [];
    const call = retry(roundRobin([hanging(log), (_req) => Promise.resolve(`ok at ${Date.now()}`)]), {
      timeout: 1000,
      attemptTimeout: 100,
      random: () => 0,
    });
    const outcome = track(call("x"));
    await clock.tickAsync(105);
    assert.equal(outcome.value, "ok at 105");
    assert.equal(log[0]!.signal.aborted, true);
    assert.equal((log[0]!.signal.reason as DOMException).name, "TimeoutError");
    assert.equal((log[0]!.signal.reason as DOMException).message, "Timed out after 100 ms");
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("retry exhausts its attempts, not its deadline, when every attempt times out", async () => {
  await withClock(async (clock) => {
    const log: { at: number; signal: AbortSignal }[] = [];
    const call = retry(roundRobin([hanging(log)]), {
      attempts: 2,
      timeout: 1000,
      attemptTimeout: 100,
      random: () => 0,
    });
    const outcome = track(call("x"));
    await clock.tickAsync(1000);
    const error = outcome.error;
    assert.ok(error instanceof RetryError);
    assert.equal(error.code, "ERR_RETRY_EXHAUSTED");
    assert.deepStrictEqual(log.map((l) => l.at), [0, 105]);
    assert.equal(error.errors.length, 2);
    assert.ok(error.errors.every((e) => e instanceof DOMException && e.name === "TimeoutError"));
    assert.equal(error.final, error.errors[1]);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("retry leaves no timer behind after a success", async () => {
  await withClock(async (clock) => {
    const call = retry(roundRobin([() => Promise.reject(new Error("a")), () => Promise.resolve("b")]), {
      timeout: 5000,
      attemptTimeout: 1000,
      random: () => 0,
    });
    const outcome = track(call("x"));
    await clock.tickAsync(5);
    assert.equal(outcome.value, "b");
    assert.equal(clock.countTimers(), 0);
  });
});
