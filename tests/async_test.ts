// The internal async helpers: delay, deadline and backoffDelay, under fake time.
import { assert, fakeTime } from "./_deps.ts";
import { backoffDelay, deadline, delay } from "../src/_async.ts";
import { spySignal } from "./_helpers.ts";

Deno.test("delay resolves after exactly ms and removes its abort listener", async () => {
  const clock = fakeTime(0);
  try {
    const controller = new AbortController();
    const counts = spySignal(controller.signal);
    let done = false;
    const pending = delay(100, controller.signal).then(() => done = true);
    await clock.tickAsync(99);
    assert.equal(done, false);
    await clock.tickAsync(1);
    await pending;
    assert.equal(done, true);
    assert.deepEqual(counts, { added: 1, removed: 1 });
  } finally {
    clock.uninstall();
  }
});

Deno.test("delay without a signal resolves on time", async () => {
  const clock = fakeTime(0);
  try {
    let done = false;
    const pending = delay(10).then(() => done = true);
    await clock.tickAsync(10);
    await pending;
    assert.equal(done, true);
  } finally {
    clock.uninstall();
  }
});

Deno.test("delay rejects with the signal's reason on abort and clears its timer", async () => {
  const clock = fakeTime(0);
  try {
    const controller = new AbortController();
    const pending = delay(1_000, controller.signal);
    assert.equal(clock.countTimers(), 1);
    const reason = new Error("shutting down");
    controller.abort(reason);
    await assert.rejects(pending, (e) => e === reason);
    assert.equal(clock.countTimers(), 0);

    const aborted = AbortSignal.abort("already");
    const counts = spySignal(aborted);
    await assert.rejects(delay(1_000, aborted), (e) => e === "already");
    assert.equal(clock.countTimers(), 0, "no timer for an already-aborted signal");
    assert.deepEqual(counts, { added: 0, removed: 0 });
  } finally {
    clock.uninstall();
  }
});

Deno.test("deadline aborts with a TimeoutError after ms and removes its parent listener", async () => {
  const clock = fakeTime(0);
  try {
    const parent = new AbortController();
    const counts = spySignal(parent.signal);
    const { signal } = deadline(50, parent.signal);
    await clock.tickAsync(49);
    assert.equal(signal.aborted, false);
    await clock.tickAsync(1);
    assert.equal(signal.aborted, true);
    assert.ok(signal.reason instanceof DOMException);
    assert.equal(signal.reason.name, "TimeoutError");
    assert.equal(signal.reason.message, "Timed out after 50 ms");
    assert.deepEqual(counts, { added: 1, removed: 1 });
    parent.abort(); // too late to matter
    assert.equal(signal.reason.name, "TimeoutError");
  } finally {
    clock.uninstall();
  }
});

Deno.test("deadline follows its parent's abort with the parent's reason and clears its timer", async () => {
  const clock = fakeTime(0);
  try {
    const parent = new AbortController();
    const { signal } = deadline(1_000, parent.signal);
    const reason = new Error("caller gave up");
    parent.abort(reason);
    assert.equal(signal.aborted, true);
    assert.equal(signal.reason, reason);
    assert.equal(clock.countTimers(), 0);

    const early = deadline(1_000, AbortSignal.abort("before"));
    assert.equal(early.signal.reason, "before");
    assert.equal(clock.countTimers(), 0, "no timer for an already-aborted parent");
    early.clear();
    await clock.tickAsync(0);
  } finally {
    clock.uninstall();
  }
});

Deno.test("deadline of Infinity has no timer but still follows the parent", async () => {
  const clock = fakeTime(0);
  try {
    const parent = new AbortController();
    const { signal, clear } = deadline(Infinity, parent.signal);
    assert.equal(clock.countTimers(), 0);
    await clock.tickAsync(1e9);
    assert.equal(signal.aborted, false);
    parent.abort("stop");
    assert.equal(signal.reason, "stop");
    clear();

    const alone = deadline(Infinity);
    assert.equal(clock.countTimers(), 0);
    alone.clear();
    assert.equal(alone.signal.aborted, false);
  } finally {
    clock.uninstall();
  }
});

Deno.test("deadline.clear releases the timer and the parent listener", async () => {
  const clock = fakeTime(0);
  try {
    const parent = new AbortController();
    const counts = spySignal(parent.signal);
    const { signal, clear } = deadline(10, parent.signal);
    clear();
    assert.equal(clock.countTimers(), 0);
    assert.deepEqual(counts, { added: 1, removed: 1 });
    await clock.tickAsync(100);
    parent.abort();
    assert.equal(signal.aborted, false);
    clear(); // harmless twice

    const noParent = deadline(10);
    await clock.tickAsync(10);
    assert.equal(noParent.signal.reason.name, "TimeoutError");
  } finally {
    clock.uninstall();
  }
});

Deno.test("backoffDelay grows exponentially up to the cap with equal jitter", () => {
  const options = { initial: 100, max: 1_000, multiplier: 2 };
  const low = () => 0;
  const high = () => 1;
  const mid = () => 0.5;
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, options, high)), [
    100,
    200,
    400,
    800,
    1_000,
    1_000,
  ]);
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffDelay(n, options, low)), [50, 100, 200, 400, 500]);
  assert.equal(backoffDelay(3, options, mid), 300);
  assert.equal(backoffDelay(0, options, high), 100, "n below 1 counts as the first retry");
  assert.equal(backoffDelay(-3, options, low), 50);
  assert.equal(backoffDelay(1, { initial: 10, max: 1_000, multiplier: 3 }, high), 10);
  assert.equal(backoffDelay(3, { initial: 10, max: 1_000, multiplier: 3 }, high), 90);
});
