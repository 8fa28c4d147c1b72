// WeightedBalancer: earliest-deadline-first over weights, smooth, weight changes without a reset,
// zero weights, exclusion for retries, slow start for late joiners.
import { assert } from "../_deps.ts";
import { NoEndpointsError } from "../../src/errors.ts";
import { seededRandom } from "../../src/lb/random.ts";
import { SlowStart } from "../../src/lb/slow_start.ts";
import { WeightedBalancer } from "../../src/lb/weighted.ts";
import { endpointerOf, entry, nameOf, picks, tally } from "./_entries.ts";

/** Largest gap, over every prefix of `seq`, between a name's count and its exact share. */
function maxLag(seq: readonly string[], shares: Record<string, number>): number {
  const counts: Record<string, number> = {};
  let worst = 0;
  seq.forEach((name, i) => {
    counts[name] = (counts[name] ?? 0) + 1;
    for (const [n, share] of Object.entries(shares)) {
      worst = Math.max(worst, Math.abs((counts[n] ?? 0) - (i + 1) * share));
    }
  });
  return worst;
}

Deno.test("WeightedBalancer gives each instance its weight's share, within two picks at every point", () => {
  const all = [entry("a", { weight: 5 }), entry("b", { weight: 1 }), entry("c", { weight: 1 })];
  const { endpointer } = endpointerOf(all);
  const balancer = new WeightedBalancer(endpointer, { random: seededRandom(1) });
  const seq = picks(() => balancer.endpoint(), all, 700);
  const counts = tally(seq);
  assert.ok(Math.abs(counts["a"]! - 500) <= 1 && Math.abs(counts["b"]! - 100) <= 1, JSON.stringify(counts));
  assert.ok(
    maxLag(seq, { a: 5 / 7, b: 1 / 7, c: 1 / 7 }) < 2,
    `lag ${maxLag(seq, { a: 5 / 7, b: 1 / 7, c: 1 / 7 })}`,
  );
  // Smooth: the heavy instance never runs more than its share of a round in a row.
  assert.ok(!seq.join("").includes("aaaaaaa"));
});

Deno.test("WeightedBalancer with equal weights is round robin", () => {
  const all = [entry("a"), entry("b"), entry("c")];
  const balancer = new WeightedBalancer(endpointerOf(all).endpointer, { random: () => 0 });
  assert.equal(picks(() => balancer.endpoint(), all, 9).join(""), "abcabcabc");
});

Deno.test("WeightedBalancer applies a weight change at once, keeping everyone's place", () => {
  const before = [entry("a", { weight: 1 }), entry("b", { weight: 1 }), entry("c", { weight: 1 })];
  const { endpointer, set } = endpointerOf(before);
  const balancer = new WeightedBalancer(endpointer, { random: seededRandom(3) });
  picks(() => balancer.endpoint(), before, 301);
  // Same endpoints, new details (as DefaultEndpointer does when only details change).
  const after = [
    { ...before[0]!, details: { weight: 1 } },
    { ...before[1]!, details: { weight: 4 } },
    { ...before[2]!, details: { weight: 1 } },
  ];
  set(after);
  const seq = picks(() => balancer.endpoint(), after, 600);
  assert.deepEqual(tally(seq), { a: 100, b: 400, c: 100 });
  assert.ok(maxLag(seq, { a: 1 / 6, b: 4 / 6, c: 1 / 6 }) < 2);
});

Deno.test("WeightedBalancer gives a newcomer its share from now on, with no burst of catch-up picks", () => {
  const first = [entry("a"), entry("b")];
  const { endpointer, set } = endpointerOf(first);
  const balancer = new WeightedBalancer(endpointer, { random: seededRandom(9) });
  picks(() => balancer.endpoint(), first, 1000);
  const all = [...first, entry("c")];
  set(all);
  const seq = picks(() => balancer.endpoint(), all, 30);
  assert.ok(maxLag(seq, { a: 1 / 3, b: 1 / 3, c: 1 / 3 }) < 2, seq.join(""));
  assert.ok(!seq.slice(0, 6).join("").includes("cc"));
});

Deno.test("WeightedBalancer treats weight 0 as almost never, and all-zero weights as equal", () => {
  const all = [entry("a", { weight: 2 }), entry("zero", { weight: 0 })];
  const balancer = new WeightedBalancer(endpointerOf(all).endpointer, { random: () => 0.5 });
  assert.equal(tally(picks(() => balancer.endpoint(), all, 2020))["zero"], 20);
  const a = all[0]!.endpoint;
  assert.equal(nameOf(all, balancer.endpoint(new Set([a]))), "zero");
  const zeros = [entry("x", { weight: 0 }), entry("y", { weight: 0 })];
  const even = new WeightedBalancer(endpointerOf(zeros).endpointer, { random: () => 0 });
  assert.equal(picks(() => even.endpoint(), zeros, 4).join(""), "xyxy");
});

Deno.test("WeightedBalancer skips excluded endpoints, and falls back to its turn when all are excluded", () => {
  const all = [entry("a"), entry("b"), entry("c")];
  const balancer = new WeightedBalancer(endpointerOf(all).endpointer, { random: () => 0 });
  const [a, b, c] = all.map((e) => e.endpoint);
  assert.equal(nameOf(all, balancer.endpoint(new Set([a!]))), "b");
  assert.equal(nameOf(all, balancer.endpoint(new Set([a!, b!, c!]))), "a");
  assert.equal(picks(() => balancer.endpoint(), all, 3).join(""), "cba");
});

Deno.test("WeightedBalancer ramps an instance that joins later with slowStart, not the first set", () => {
  let now = 0;
  const slowStart = new SlowStart({ window: 10_000, minFactor: 0.1, now: () => now });
  const first = [entry("a"), entry("b"), entry("c")];
  const { endpointer, set } = endpointerOf(first);
  const balancer = new WeightedBalancer(endpointer, { slowStart, random: seededRandom(5) });
  assert.deepEqual(tally(picks(() => balancer.endpoint(), first, 300)), { a: 100, b: 100, c: 100 });
  const all = [...first, entry("new")];
  set(all);
  // Age 0: factor 0.1, share 0.1 / 3.1.
  assert.ok(Math.abs(tally(picks(() => balancer.endpoint(), all, 620))["new"]! - 20) <= 2);
  now = 5_000; // factor 0.5, share 0.5 / 3.5
  assert.ok(Math.abs(tally(picks(() => balancer.endpoint(), all, 700))["new"]! - 100) <= 2);
  now = 10_000; // full weight
  assert.ok(Math.abs(tally(picks(() => balancer.endpoint(), all, 400))["new"]! - 100) <= 2);
});

Deno.test("WeightedBalancer throws NoEndpointsError without endpoints and validates its arguments", () => {
  const balancer = new WeightedBalancer(endpointerOf([]).endpointer);
  assert.throws(() => balancer.endpoint(), NoEndpointsError);
  assert.throws(() => new WeightedBalancer({} as never), TypeError);
  assert.throws(() => new WeightedBalancer(endpointerOf([]).endpointer, { random: 1 as never }), TypeError);
  assert.throws(
    () => new WeightedBalancer(endpointerOf([]).endpointer, { slowStart: { window: -1 } }),
    RangeError,
  );
});
