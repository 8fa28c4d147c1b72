// PeakEwmaBalancer: the estimate jumps to peaks, decays with time, punishes failures, ignores
// cancellations; two random candidates, cost = rtt x (in flight + 1). All on an injected clock.
import { assert } from "../_deps.ts";
import { NoEndpointsError } from "../../src/errors.ts";
import { beginCall } from "../../src/lb/balancer.ts";
import { PeakEwmaBalancer } from "../../src/lb/peak_ewma.ts";
import { seededRandom } from "../../src/lb/random.ts";
import { RoundRobinBalancer } from "../../src/lb/round_robin.ts";
import { endpointerOf, entries, type Entry, nameOf } from "./_entries.ts";

function close(actual: number | undefined, expected: number): void {
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-9, `${actual} != ${expected}`);
}

Deno.test("PeakEwmaBalancer starts at defaultRtt, jumps to a peak and decays by exp(-t / decay)", () => {
  let now = 1_000;
  const all = entries(["a"]);
  const balancer = new PeakEwmaBalancer(endpointerOf(all).endpointer, { now: () => now, defaultRtt: 30 });
  const a = balancer.endpoint();
  close(balancer.rtt(a), 30);
  const call = beginCall(balancer, a);
  now += 200;
  call.end("success");
  close(balancer.rtt(a), 200);
  now += 10_000;
  close(balancer.rtt(a), 200 / Math.E);
});

Deno.test("PeakEwmaBalancer moves toward faster observations by 1 - exp(-elapsed / decay)", () => {
  let now = 0;
  const all = entries(["a"]);
  const balancer = new PeakEwmaBalancer(endpointerOf(all).endpointer, { now: () => now, defaultRtt: 30 });
  const a = balancer.endpoint();
  const first = beginCall(balancer, a);
  now = 100;
  first.end("success"); // the first sample replaces the default: 100
  now = 5_000;
  const call = beginCall(balancer, a);
  now = 5_010; // 10 ms, 4,910 ms after the last update
  call.end("success");
  const w = Math.exp(-4_910 / 10_000);
  close(balancer.rtt(a), 100 * w + 10 * (1 - w));
});

Deno.test("PeakEwmaBalancer replaces a new instance's default RTT with its first sample, however fast", () => {
  let now = 0;
  const all = entries(["a"]);
  const balancer = new PeakEwmaBalancer(endpointerOf(all).endpointer, { now: () => now, defaultRtt: 30 });
  const a = balancer.endpoint();
  const call = beginCall(balancer, a);
  now = 6;
  call.end("success");
  // Blended, a 6 ms host would still cost about 30 ms here and lose to an idle 50 ms host with one call
  // in flight for several seconds (the tail-latency bench's scenario b).
  close(balancer.rtt(a), 6);
});

Deno.test("PeakEwmaBalancer counts a failure as at least failurePenalty times the estimate; cancellations teach nothing", () => {
  let now = 0;
  const all = entries(["a"]);
  const balancer = new PeakEwmaBalancer(endpointerOf(all).endpointer, { now: () => now, defaultRtt: 20 });
  const a = balancer.endpoint();
  const failed = beginCall(balancer, a);
  now += 1; // fails fast
  failed.end("error", new TypeError("connection refused"));
  close(balancer.rtt(a), 40);
  const refused = beginCall(balancer, a);
  refused.end("retryable");
  close(balancer.rtt(a), 80); // failures compound
  const cancelled = beginCall(balancer, a);
  now += 1_000;
  cancelled.end("cancelled");
  close(balancer.rtt(a), 80 * Math.exp(-1_000 / 10_000));
});

Deno.test("PeakEwmaBalancer weighs the estimate by calls in flight", () => {
  const all = entries(["a", "b"]);
  const balancer = new PeakEwmaBalancer(endpointerOf(all).endpointer, { now: () => 0, random: () => 0 });
  assert.equal(nameOf(all, balancer.endpoint()), "a");
  beginCall(balancer, all[0]!.endpoint);
  assert.equal(nameOf(all, balancer.endpoint()), "b");
});

/** Sequential calls on a simulated clock; returns the share of calls that went to "slow". */
function slowShare(
  pick: () => Entry["endpoint"],
  all: Entry[],
  tick: (ms: number) => void,
  report: (
    endpoint: Entry["endpoint"],
  ) => { end(outcome: "success"): void },
): number {
  let slow = 0;
  for (let i = 0; i < 2_000; i++) {
    const endpoint = pick();
    const call = report(endpoint);
    const name = nameOf(all, endpoint);
    tick(name === "slow" ? 50 : 5);
    call.end("success");
    if (name === "slow") slow++;
  }
  return slow / 2_000;
}

Deno.test("PeakEwmaBalancer sends a 10x slower instance almost nothing, where round robin sends it a tenth", () => {
  let now = 0;
  const all = entries(["h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "h9", "slow"]);
  const { endpointer } = endpointerOf(all);
  const balancer = new PeakEwmaBalancer(endpointer, { now: () => now, random: seededRandom(4) });
  const share = slowShare(() => balancer.endpoint(), all, (ms) => now += ms, (e) => beginCall(balancer, e));
  assert.ok(share < 0.01, `slow share ${share}`);
  const rr = new RoundRobinBalancer(endpointer);
  assert.equal(slowShare(() => rr.endpoint(), all, () => {}, () => ({ end() {} })), 0.1);
});

Deno.test("PeakEwmaBalancer gives a new instance defaultRtt and keeps the others' estimates", () => {
  let now = 0;
  const first = entries(["a"]);
  const { endpointer, set } = endpointerOf(first);
  const balancer = new PeakEwmaBalancer(endpointer, { now: () => now, defaultRtt: 7 });
  const a = balancer.endpoint();
  const call = beginCall(balancer, a);
  now = 300;
  call.end("success");
  const all = [...first, ...entries(["b"])];
  set(all);
  balancer.endpoint();
  close(balancer.rtt(a), 300);
  close(balancer.rtt(all[1]!.endpoint), 7);
  set([]);
  assert.throws(() => balancer.endpoint(), NoEndpointsError);
  assert.equal(balancer.rtt(a), undefined);
});

Deno.test("PeakEwmaBalancer validates its options", () => {
  const { endpointer } = endpointerOf([]);
  assert.throws(() => new PeakEwmaBalancer({} as never), TypeError);
  assert.throws(() => new PeakEwmaBalancer(endpointer, { decay: 0 }), RangeError);
  assert.throws(() => new PeakEwmaBalancer(endpointer, { failurePenalty: 0.5 }), RangeError);
  assert.throws(() => new PeakEwmaBalancer(endpointer, { defaultRtt: -1 }), RangeError);
  assert.throws(() => new PeakEwmaBalancer(endpointer, { now: 1 as never }), TypeError);
});
