// LeastRequestBalancer: two random candidates, the one with fewer calls in flight (per weight) wins;
// calls are counted through begin/end, as retry reports them.
import { assert } from "../_deps.ts";
import { NoEndpointsError } from "../../src/errors.ts";
import { beginCall } from "../../src/lb/balancer.ts";
import { LeastRequestBalancer } from "../../src/lb/least_request.ts";
import { seededRandom } from "../../src/lb/random.ts";
import { retry } from "../../src/lb/retry.ts";
import { endpointerOf, entries, entry, nameOf } from "./_entries.ts";

/** Replays `values` in a loop. */
function cycle(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

Deno.test("LeastRequestBalancer takes the candidate with fewer calls in flight", () => {
  const all = entries(["a", "b", "c"]);
  // Every pick draws index 0 then (0, shifted past the first) 1: candidates a and b.
  const balancer = new LeastRequestBalancer(endpointerOf(all).endpointer, { random: () => 0 });
  const a = all[0]!.endpoint;
  assert.equal(nameOf(all, balancer.endpoint()), "a"); // a tie goes to the first candidate
  const first = beginCall(balancer, a);
  beginCall(balancer, a);
  assert.equal(balancer.inFlight(a), 2);
  assert.equal(nameOf(all, balancer.endpoint()), "b");
  first.end("success");
  first.end("success"); // a second end is ignored
  assert.equal(balancer.inFlight(a), 1);
});

Deno.test("LeastRequestBalancer divides the load by the weight detail", () => {
  const all = [entry("heavy", { weight: 3 }), entry("light", { weight: 1 })];
  const balancer = new LeastRequestBalancer(endpointerOf(all).endpointer, { random: () => 0 });
  const heavy = all[0]!.endpoint;
  beginCall(balancer, heavy);
  beginCall(balancer, heavy); // (2 + 1) / 3 = 1, a tie with light's (0 + 1) / 1: the first candidate
  assert.equal(nameOf(all, balancer.endpoint()), "heavy");
  beginCall(balancer, heavy); // 4 / 3 > 1
  assert.equal(nameOf(all, balancer.endpoint()), "light");
});

Deno.test("LeastRequestBalancer spreads concurrent calls within two of each other", () => {
  const all = entries(["a", "b", "c", "d", "e"]);
  const balancer = new LeastRequestBalancer(endpointerOf(all).endpointer, { random: seededRandom(11) });
  for (let i = 0; i < 100; i++) beginCall(balancer, balancer.endpoint());
  const loads = all.map((e) => balancer.inFlight(e.endpoint));
  assert.equal(loads.reduce((x, y) => x + y), 100);
  assert.ok(Math.max(...loads) - Math.min(...loads) <= 2, loads.join());
});

Deno.test("LeastRequestBalancer on a retry takes the least loaded instance not yet tried", () => {
  const all = entries(["a", "b", "c"]);
  const balancer = new LeastRequestBalancer(endpointerOf(all).endpointer, { random: cycle([0.5]) });
  const [a, b, c] = all.map((e) => e.endpoint) as [typeof all[0]["endpoint"], never, never];
  beginCall(balancer, b);
  assert.equal(nameOf(all, balancer.endpoint(new Set([a]))), "c");
  assert.ok([a, b, c].includes(balancer.endpoint(new Set([a, b, c]))));
});

Deno.test("LeastRequestBalancer counts the attempts that retry makes, until each settles", async () => {
  const releases: (() => void)[] = [];
  const all = entries(["a", "b"]).map((e) => ({
    ...e,
    endpoint: () => new Promise<string>((resolve) => releases.push(() => resolve(e.instance))),
  }));
  const balancer = new LeastRequestBalancer(endpointerOf(all).endpointer, { random: seededRandom(2) });
  const call = retry(balancer, { attempts: 1, timeout: 1000 });
  const pending = [call(undefined), call(undefined)];
  assert.deepEqual(all.map((e) => balancer.inFlight(e.endpoint)), [1, 1]);
  for (const release of releases) release();
  assert.deepEqual((await Promise.all(pending)).sort(), ["a", "b"]);
  assert.deepEqual(all.map((e) => balancer.inFlight(e.endpoint)), [0, 0]);
});

Deno.test("LeastRequestBalancer keeps counts across updates, throws NoEndpointsError when empty, validates", () => {
  const all = entries(["a", "b"]);
  const { endpointer, set } = endpointerOf(all);
  const balancer = new LeastRequestBalancer(endpointer, { random: () => 0 });
  balancer.endpoint();
  beginCall(balancer, all[0]!.endpoint);
  const next = [...all, entry("c")];
  set(next);
  balancer.endpoint();
  assert.equal(balancer.inFlight(all[0]!.endpoint), 1);
  set([]);
  assert.throws(() => balancer.endpoint(), NoEndpointsError);
  assert.throws(() => new LeastRequestBalancer({} as never), TypeError);
  assert.throws(() => new LeastRequestBalancer(endpointer, { random: "x" as never }), TypeError);
});
