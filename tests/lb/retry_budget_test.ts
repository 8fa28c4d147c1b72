// RetryBudget: retries limited to ratio x requests + minPerSecond x window, over a sliding window on an
// injected clock; wired into retry through its balancer wrapper and shouldRetry.
import { assert } from "../_deps.ts";
import { FixedEndpointer } from "../../src/fixed.ts";
import { beginCall } from "../../src/lb/balancer.ts";
import { LeastRequestBalancer } from "../../src/lb/least_request.ts";
import { retry } from "../../src/lb/retry.ts";
import { RetryBudget } from "../../src/lb/retry_budget.ts";
import { RoundRobinBalancer } from "../../src/lb/round_robin.ts";
import { RetryError } from "../../src/errors.ts";
import { endpointerOf, entries } from "./_entries.ts";

Deno.test("RetryBudget allows ratio x requests plus minPerSecond x window retries", () => {
  let now = 0;
  const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 1, window: 10_000, now: () => now });
  assert.equal(budget.available(), 10);
  for (let i = 0; i < 50; i++) budget.request();
  assert.equal(budget.available(), 20);
  for (let i = 0; i < 20; i++) budget.retried();
  assert.ok(!budget.canRetry());
  now = 9_999; // still inside the window
  assert.equal(budget.available(), 0);
});

Deno.test("RetryBudget forgets requests and retries as they leave the window, bucket by bucket", () => {
  let now = 0;
  const budget = new RetryBudget({ ratio: 0.5, minPerSecond: 0, window: 10_000, now: () => now });
  for (let i = 0; i < 10; i++) budget.request(); // bucket 0
  now = 5_000;
  for (let i = 0; i < 10; i++) budget.request(); // bucket 5
  budget.retried();
  assert.equal(budget.available(), 9);
  now = 10_000; // bucket 0 leaves
  assert.equal(budget.available(), 4);
  now = 15_000; // bucket 5 leaves too
  assert.equal(budget.available(), 0);
  now = 1_000_000; // far ahead: everything cleared at once
  budget.request();
  budget.request();
  assert.equal(budget.available(), 1);
});

Deno.test("RetryBudget keeps retry from multiplying load: 100 calls to a dead service make at most 110 attempts", async () => {
  let attempts = 0;
  const down = () => {
    attempts++;
    return Promise.reject(new TypeError("connection refused"));
  };
  const exhausted: number[] = [];
  const budget = new RetryBudget({
    ratio: 0.1,
    minPerSecond: 0,
    now: () => 0,
    onExhausted: () => exhausted.push(1),
  });
  const call = retry(budget.balancer(new RoundRobinBalancer(new FixedEndpointer([down, down, down]))), {
    attempts: 3,
    backoff: false,
    shouldRetry: budget.shouldRetry,
  });
  let lastError: unknown;
  for (let i = 0; i < 100; i++) await call(undefined).catch((error) => lastError = error);
  assert.ok(attempts <= 110 && attempts >= 100 + 9, `attempts ${attempts}`);
  assert.ok(exhausted.length > 0);
  // The final error is still the attempt's own.
  assert.ok(lastError instanceof RetryError && lastError.final instanceof TypeError);
});

Deno.test("RetryBudget.callback asks the caller's callback first and keeps its replacement error", () => {
  const budget = new RetryBudget({ ratio: 0, minPerSecond: 0, now: () => 0 });
  const replaced = new Error("replaced");
  assert.equal(budget.callback(() => false)(1, new Error("x")), false);
  assert.equal(budget.callback(() => true)(1, new Error("x")), false);
  assert.deepEqual(budget.callback(() => ({ retry: true, error: replaced }))(1, null), {
    retry: false,
    error: replaced,
  });
  const open = new RetryBudget({ minPerSecond: 1, now: () => 0 });
  assert.equal(open.callback(() => true)(1, null), true);
});

Deno.test("RetryBudget.balancer picks as its inner balancer and passes attempts on to its begin", () => {
  const all = entries(["a", "b"]);
  const inner = new LeastRequestBalancer(endpointerOf(all).endpointer, { random: () => 0 });
  const budget = new RetryBudget({ ratio: 1, minPerSecond: 0, now: () => 0 });
  const counted = budget.balancer(inner);
  const first = counted.endpoint();
  beginCall(counted, first);
  assert.equal(inner.inFlight(first), 1);
  assert.equal(budget.available(), 1);
  counted.endpoint(new Set([first]));
  assert.equal(budget.available(), 0);
  assert.equal(budget.balancer(new RoundRobinBalancer(endpointerOf(all).endpointer)).begin, undefined);
});

Deno.test("RetryBudget validates its options", () => {
  assert.throws(() => new RetryBudget({ ratio: -1 }), RangeError);
  assert.throws(() => new RetryBudget({ window: 0 }), RangeError);
  assert.throws(() => new RetryBudget({ now: 1 as never }), TypeError);
  assert.throws(() => new RetryBudget().balancer({} as never), TypeError);
  assert.throws(() => new RetryBudget().callback(1 as never), TypeError);
});
