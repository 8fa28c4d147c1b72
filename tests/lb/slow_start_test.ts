// SlowStart: the weight factor ramps from minFactor to 1 over the window, in the chosen shape.
import { assert } from "../_deps.ts";
import { SlowStart } from "../../src/lb/slow_start.ts";

Deno.test("SlowStart ramps linearly from minFactor to 1 over the window", () => {
  let now = 1_000;
  const ramp = new SlowStart({ window: 10_000, now: () => now });
  assert.equal(ramp.factor(1_000), 0.1);
  now = 3_500;
  assert.equal(ramp.factor(1_000), 0.25);
  now = 11_000;
  assert.equal(ramp.factor(1_000), 1);
  assert.equal(ramp.factor(-Infinity), 1);
});

Deno.test("SlowStart with aggression 2 rises fast at first (square root), and clamps at minFactor", () => {
  let now = 0;
  const ramp = new SlowStart({ window: 100, aggression: 2, minFactor: 0.05, now: () => now });
  now = 25;
  assert.equal(ramp.factor(0), 0.5);
  now = 0;
  assert.equal(ramp.factor(0), 0.05);
  now = -10; // a clock that went backwards counts as age 0
  assert.equal(ramp.factor(0), 0.05);
});

Deno.test("SlowStart validates its options", () => {
  assert.throws(() => new SlowStart({ window: -1 }), RangeError);
  assert.throws(() => new SlowStart({ aggression: 0 }), RangeError);
  assert.throws(() => new SlowStart({ minFactor: 0 }), RangeError);
  assert.throws(() => new SlowStart({ minFactor: 1.5 }), RangeError);
  assert.throws(() => new SlowStart({ now: 5 as never }), TypeError);
});
