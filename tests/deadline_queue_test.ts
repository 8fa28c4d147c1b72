// DeadlineQueue: deadlines of one length on one timer (src/_deadline_queue.ts), under fake time.
import { assert, type InstalledClock, withClock } from "./_deps.ts";
import { DeadlineQueue } from "../src/_deadline_queue.ts";
import { spySignal } from "./_helpers.ts";

/** Records when (fake ms) and why each signal aborts. */
function watch(signals: AbortSignal[], clock: InstalledClock): string[] {
  const log: string[] = [];
  signals.forEach((signal, i) =>
    signal.addEventListener("abort", () => {
      const reason = signal.reason as DOMException;
      log.push(`${i} at ${clock.now}: ${reason.name} ${reason.message}`);
    })
  );
  return log;
}

Deno.test("DeadlineQueue aborts each deadline ms after its own start, on one timer", async () => {
  await withClock(async (clock) => {
    const queue = new DeadlineQueue(100);
    const signals = [queue.start().signal];
    await clock.tickAsync(3);
    signals.push(queue.start().signal);
    await clock.tickAsync(4);
    signals.push(queue.start().signal);
    const log = watch(signals, clock);
    assert.equal(clock.countTimers(), 1);
    await clock.tickAsync(92);
    assert.deepEqual(log, []);
    for (let t = 0; t < 8; t++) {
      await clock.tickAsync(1);
      assert.ok(clock.countTimers() <= 1);
    }
    assert.deepEqual(log, [
      "0 at 100: TimeoutError Timed out after 100 ms",
      "1 at 103: TimeoutError Timed out after 100 ms",
      "2 at 107: TimeoutError Timed out after 100 ms",
    ]);
    assert.equal(clock.countTimers(), 0);
    assert.equal(queue.size, 0);
  });
});

Deno.test("DeadlineQueue clears its timer once no deadline is pending, and re-arms for the next one", async () => {
  await withClock(async (clock) => {
    const queue = new DeadlineQueue(50);
    const a = queue.start();
    const b = queue.start();
    a.clear();
    assert.equal(clock.countTimers(), 1);
    b.clear();
    b.clear();
    assert.equal(clock.countTimers(), 0);
    assert.equal(queue.size, 0);
    await clock.tickAsync(20);
    const c = queue.start();
    const log = watch([c.signal], clock);
    await clock.tickAsync(50);
    assert.deepEqual(log, ["0 at 70: TimeoutError Timed out after 50 ms"]);
    assert.equal(a.signal.aborted || b.signal.aborted, false);
    c.clear();
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("DeadlineQueue keeps the timer for the oldest pending deadline when a newer one clears first", async () => {
  await withClock(async (clock) => {
    const queue = new DeadlineQueue(100);
    const first = queue.start();
    await clock.tickAsync(10);
    const second = queue.start();
    await clock.tickAsync(10);
    const third = queue.start();
    first.clear();
    const log = watch([first.signal, second.signal, third.signal], clock);
    await clock.tickAsync(100);
    // The timer armed for the first (at 100) finds it cleared and waits for the second (at 110).
    assert.deepEqual(log, [
      "1 at 110: TimeoutError Timed out after 100 ms",
      "2 at 120: TimeoutError Timed out after 100 ms",
    ]);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("DeadlineQueue follows the parent: its reason, its listener removed, and an aborted parent at once", async () => {
  await withClock(async (clock) => {
    const queue = new DeadlineQueue(100);
    const parent = new AbortController();
    const counts = spySignal(parent.signal);
    const followed = queue.start(parent.signal);
    const cleared = queue.start(parent.signal);
    cleared.clear();
    parent.abort(new Error("caller gave up"));
    assert.equal((followed.signal.reason as Error).message, "caller gave up");
    assert.equal(cleared.signal.aborted, false);
    assert.deepEqual(counts, { added: 2, removed: 2 });
    assert.equal(clock.countTimers(), 0);
    const late = queue.start(parent.signal);
    assert.equal(late.signal.aborted, true);
    assert.equal((late.signal.reason as Error).message, "caller gave up");
    assert.equal(clock.countTimers(), 0);
    late.clear();
    await clock.tickAsync(200);
    assert.equal(cleared.signal.aborted, false);
  });
});

Deno.test("DeadlineQueue removes the parent listener when the deadline comes due", async () => {
  await withClock(async (clock) => {
    const queue = new DeadlineQueue(10);
    const parent = new AbortController();
    const counts = spySignal(parent.signal);
    const deadline = queue.start(parent.signal);
    await clock.tickAsync(10);
    assert.equal((deadline.signal.reason as DOMException).name, "TimeoutError");
    assert.deepEqual(counts, { added: 1, removed: 1 });
    parent.abort();
    assert.equal((deadline.signal.reason as DOMException).name, "TimeoutError");
  });
});

Deno.test("DeadlineQueue holds about twice what is pending when calls end out of order", async () => {
  await withClock(async (clock) => {
    const queue = new DeadlineQueue(1000);
    const oldest = queue.start();
    const pending = [oldest];
    for (let i = 0; i < 10_000; i++) {
      const deadline = queue.start();
      if (i % 100 === 0) pending.push(deadline);
      else deadline.clear();
      assert.ok(queue.size <= 2 * pending.length + 65, `size ${queue.size} with ${pending.length} pending`);
    }
    const log = watch(pending.map((d) => d.signal), clock);
    await clock.tickAsync(1000);
    assert.equal(log.length, pending.length);
    assert.equal(clock.countTimers(), 0);
    assert.equal(queue.size, 0);
  });
});

Deno.test("DeadlineQueue lets abort listeners start and clear deadlines while it expires others", async () => {
  await withClock(async (clock) => {
    const queue = new DeadlineQueue(100);
    const a = queue.start();
    const b = queue.start();
    await clock.tickAsync(50);
    const c = queue.start();
    let restarted: AbortSignal | undefined;
    a.signal.addEventListener("abort", () => {
      c.clear();
      restarted = queue.start().signal;
    });
    await clock.tickAsync(50);
    assert.ok(a.signal.aborted && b.signal.aborted);
    assert.equal(c.signal.aborted, false);
    assert.equal(clock.countTimers(), 1);
    const log = watch([restarted!], clock);
    await clock.tickAsync(100);
    assert.deepEqual(log, ["0 at 200: TimeoutError Timed out after 100 ms"]);
    assert.equal(clock.countTimers(), 0);
  });
});
