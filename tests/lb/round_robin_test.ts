import { assert } from "../_deps.ts";
import { NoEndpointsError } from "../../src/errors.ts";
import { FixedEndpointer } from "../../src/fixed.ts";
import { RoundRobinBalancer } from "../../src/lb/round_robin.ts";
import type { Endpoint, Endpointer } from "../../src/types.ts";

/** `n` distinct endpoints; endpoint `i` resolves to `i`. */
function makeEndpoints(n: number): Endpoint<unknown, number>[] {
  return Array.from({ length: n }, (_, i) => () => Promise.resolve(i));
}

/** An endpointer whose list the test swaps at will. */
class MutableEndpointer implements Endpointer<unknown, number> {
  list: readonly Endpoint<unknown, number>[];
  failure: Error | undefined;
  constructor(list: readonly Endpoint<unknown, number>[]) {
    this.list = list;
  }
  endpoints(): readonly Endpoint<unknown, number>[] {
    if (this.failure !== undefined) throw this.failure;
    return this.list;
  }
}

Deno.test("RoundRobinBalancer hands out endpoints in turn from the first (go-kit TestRoundRobin)", () => {
  const endpoints = makeEndpoints(3);
  const index = new Map(endpoints.map((e, i) => [e, i]));
  const balancer = new RoundRobinBalancer(new FixedEndpointer(endpoints));
  const counts = [0, 0, 0];
  const after: number[][] = [];
  for (let i = 0; i < 7; i++) {
    counts[index.get(balancer.endpoint())!]!++;
    after.push([...counts]);
  }
  assert.deepStrictEqual(after, [
    [1, 0, 0],
    [1, 1, 0],
    [1, 1, 1],
    [2, 1, 1],
    [2, 2, 1],
    [2, 2, 2],
    [3, 2, 2],
  ]);
});

Deno.test("RoundRobinBalancer throws NoEndpointsError without endpoints (go-kit TestRoundRobinNoEndpoints)", () => {
  const balancer = new RoundRobinBalancer(new FixedEndpointer([]));
  assert.throws(() => balancer.endpoint(), (error: unknown) => {
    assert.ok(error instanceof NoEndpointsError);
    assert.equal(error.code, "ERR_NO_ENDPOINTS");
    assert.equal(error.message, "No endpoints available");
    return true;
  });
});

Deno.test("RoundRobinBalancer does not advance when it has nothing to hand out", () => {
  const endpoints = makeEndpoints(3);
  const source = new MutableEndpointer([]);
  const balancer = new RoundRobinBalancer(source);
  for (let i = 0; i < 5; i++) assert.throws(() => balancer.endpoint(), NoEndpointsError);
  source.list = endpoints;
  assert.equal(balancer.endpoint(), endpoints[0]);
});

Deno.test("RoundRobinBalancer passes the endpointer's error through unchanged", () => {
  const endpoints = makeEndpoints(2);
  const source = new MutableEndpointer(endpoints);
  const balancer = new RoundRobinBalancer(source);
  const failure = new Error("discovery invalidated");
  source.failure = failure;
  assert.throws(() => balancer.endpoint(), (error: unknown) => error === failure);
  source.failure = undefined;
  // The failed pick did not advance the position either.
  assert.equal(balancer.endpoint(), endpoints[0]);
});

Deno.test("RoundRobinBalancer spreads interleaved concurrent callers exactly evenly (go-kit TestRoundRobinNoRace)", async () => {
  const endpoints = makeEndpoints(5);
  const index = new Map(endpoints.map((e, i) => [e, i]));
  const balancer = new RoundRobinBalancer(new FixedEndpointer(endpoints));
  const sequence: number[] = [];
  const callers = 100;
  const picksEach = 500;
  await Promise.all(
    Array.from({ length: callers }, async (_, caller) => {
      for (let i = 0; i < picksEach; i++) {
        // Yield between picks (a varying number of times) so that callers interleave.
        for (let y = 0; y <= (caller + i) % 3; y++) await Promise.resolve();
        sequence.push(index.get(balancer.endpoint())!);
      }
    }),
  );
  assert.equal(sequence.length, callers * picksEach);
  // Whatever the interleaving, the global order of picks is a perfect cycle.
  const wrong = sequence.findIndex((v, i) => v !== i % 5);
  assert.equal(wrong, -1, `pick ${wrong} broke the cycle`);
  const counts = [0, 0, 0, 0, 0];
  for (const v of sequence) counts[v]!++;
  assert.deepStrictEqual(counts, [10_000, 10_000, 10_000, 10_000, 10_000]);
});

Deno.test("RoundRobinBalancer continues modulo the new length when the set changes", () => {
  const [a, b, c] = makeEndpoints(3);
  const source = new MutableEndpointer([a!, b!, c!]);
  const balancer = new RoundRobinBalancer(source);
  const picks = [balancer.endpoint(), balancer.endpoint(), balancer.endpoint(), balancer.endpoint()];
  assert.deepStrictEqual(picks, [a, b, c, a]);
  // Position 4 now: 4 % 2 = 0, then 1, then 0.
  const [x, y] = makeEndpoints(2);
  source.list = [x!, y!];
  assert.deepStrictEqual([balancer.endpoint(), balancer.endpoint(), balancer.endpoint()], [x, y, x]);
  // Position 7: 7 % 5 = 2.
  const five = makeEndpoints(5);
  source.list = five;
  assert.deepStrictEqual([balancer.endpoint(), balancer.endpoint()], [five[2], five[3]]);
});

Deno.test("RoundRobinBalancer skips excluded endpoints, starting from its position", () => {
  const [a, b, c] = makeEndpoints(3);
  const balancer = new RoundRobinBalancer(new FixedEndpointer([a!, b!, c!]));
  // Position 0 is a, excluded: the next in turn is b.
  assert.equal(balancer.endpoint(new Set([a!])), b);
  // Position 1 is b; b and c excluded: wraps around to a.
  assert.equal(balancer.endpoint(new Set([b!, c!])), a);
  // Position 2 is c; an empty set changes nothing.
  assert.equal(balancer.endpoint(new Set()), c);
  // Position 3 (a); excluding something not in the list changes nothing.
  assert.equal(balancer.endpoint(new Set([makeEndpoints(1)[0]!])), a);
});

Deno.test("RoundRobinBalancer returns the endpoint in turn when every endpoint is excluded", () => {
  const [a, b] = makeEndpoints(2);
  const balancer = new RoundRobinBalancer(new FixedEndpointer([a!, b!]));
  const all = new Set([a!, b!]);
  assert.deepStrictEqual([balancer.endpoint(all), balancer.endpoint(all), balancer.endpoint(all)], [a, b, a]);
});

Deno.test("RoundRobinBalancer rejects an endpointer without endpoints()", () => {
  for (const bad of [undefined, null, {}, { endpoints: [] }]) {
    assert.throws(
      () => new RoundRobinBalancer(bad as unknown as Endpointer),
      (error: unknown) =>
        error instanceof TypeError && /endpointer must have a endpoints\(\) method/.test(error.message),
    );
  }
  assert.throws(() => new RoundRobinBalancer(null as unknown as Endpointer), /got null/);
});
