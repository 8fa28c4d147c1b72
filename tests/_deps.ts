// Every third-party test dependency comes through this file, so that moving to @std/assert and
// @std/testing (once JSR is reachable) is a one-file change.
export { default as assert } from "node:assert/strict";
// @ts-types="@types/sinonjs__fake-timers"
import FakeTimers from "@sinonjs/fake-timers";
export { FakeTimers };

/** A clock installed by {@linkcode fakeTime}. */
export type InstalledClock = ReturnType<typeof FakeTimers.install>;

/**
 * Fakes setTimeout/clearTimeout/setInterval/clearInterval and Date, starting at `now`. Microtasks
 * stay real. Uninstall in a `finally`.
 */
export function fakeTime(now = 0): InstalledClock {
  return FakeTimers.install({
    now,
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date", "performance"],
  });
}

/** Runs `fn` with a {@linkcode fakeTime} clock starting at 0, and uninstalls it afterwards. */
export async function withClock(fn: (clock: InstalledClock) => Promise<void>): Promise<void> {
  const clock = fakeTime(0);
  try {
    await fn(clock);
  } finally {
    clock.uninstall();
  }
}
