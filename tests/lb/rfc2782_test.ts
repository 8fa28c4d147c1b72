// Rfc2782Balancer: lowest priority first, weighted random within it, weight 0 rare but possible,
// fall-through when a tier is exhausted. go-kit's dnssrv dropped priority and weight altogether.
import { assert } from "../_deps.ts";
import type { EndpointEntry } from "../../src/_endpoint_cache.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import { NoEndpointsError } from "../../src/errors.ts";
import { FixedInstancer } from "../../src/fixed.ts";
import { seededRandom } from "../../src/lb/random.ts";
import { type DetailedEndpointer, Rfc2782Balancer } from "../../src/lb/rfc2782.ts";
import type { Endpoint, InstanceDetails } from "../../src/types.ts";

type Ep = Endpoint<unknown, string>;

function entry(instance: string, details: InstanceDetails): EndpointEntry<unknown, string> {
  return { instance, details, endpoint: () => Promise.resolve(instance) };
}

/** An endpointer whose entries the test swaps; `entries()` keeps its identity until then. */
function endpointerOf(list: EndpointEntry<unknown, string>[]) {
  let current: readonly EndpointEntry<unknown, string>[] = list;
  const endpointer: DetailedEndpointer<unknown, string> = { entries: () => current };
  return { endpointer, set: (next: EndpointEntry<unknown, string>[]) => void (current = next) };
}

/** Replays `values`, failing if asked for more. */
function scripted(values: number[]): () => number {
  let i = 0;
  return () => {
    const v = values[i++];
    if (v === undefined) throw new Error(`random() called ${i} times, more than scripted`);
    return v;
  };
}

function nameOf(entries: EndpointEntry<unknown, string>[], endpoint: Ep): string {
  return entries.find((e) => e.endpoint === endpoint)!.instance;
}

// Upper tail of the chi-square distribution at p = 0.001, by degrees of freedom.
const CHI2_999: Record<number, number> = { 1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467, 5: 20.515 };

Deno.test("Rfc2782Balancer picks in proportion to weight within the lowest priority (chi-square, 200,000 seeded picks)", () => {
  const entries = [
    entry("w60:80", { priority: 10, weight: 60 }),
    entry("w30:80", { priority: 10, weight: 30 }),
    entry("w10:80", { priority: 10, weight: 10 }),
    entry("w0a:80", { priority: 10, weight: 0 }),
    entry("w0b:80", { priority: 10, weight: 0 }),
    entry("backup1:80", { priority: 20, weight: 100 }),
    entry("backup2:80", { priority: 20, weight: 1 }),
  ];
  const { endpointer } = endpointerOf(entries);
  const balancer = new Rfc2782Balancer(endpointer, { random: seededRandom(20240601) });
  const picks = 200_000;
  const counts = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const name = nameOf(entries, balancer.endpoint());
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  assert.equal(
    counts.get("backup1:80"),
    undefined,
    "a higher priority is never used while a lower one has endpoints",
  );
  assert.equal(counts.get("backup2:80"), undefined);

  // Weight 0 counts as 0.01 (the default zeroWeight) next to non-zero weights.
  const weights = [60, 30, 10, 0.01, 0.01];
  const total = weights.reduce((a, b) => a + b, 0);
  const names = ["w60:80", "w30:80", "w10:80", "w0a:80", "w0b:80"];
  let chi2 = 0;
  names.forEach((name, i) => {
    const expected = (picks * weights[i]!) / total;
    const observed = counts.get(name) ?? 0;
    chi2 += (observed - expected) ** 2 / expected;
  });
  const df = names.length - 1;
  assert.ok(
    chi2 < CHI2_999[df]!,
    `chi-square ${chi2.toFixed(2)} >= ${CHI2_999[df]} (df ${df}): ${[...counts]}`,
  );
  for (const zero of ["w0a:80", "w0b:80"]) {
    const n = counts.get(zero) ?? 0;
    assert.ok(n >= 1, `${zero} was never picked`);
    assert.ok(n < picks / 1000, `${zero} was picked ${n} times, not rarely`);
  }
});

Deno.test("Rfc2782Balancer maps each random draw to the first running weight above it", () => {
  const entries = [entry("a:80", { weight: 1 }), entry("b:80", { weight: 3 }), entry("c:80", { weight: 0 })];
  const { endpointer } = endpointerOf(entries);
  // Running sums 1, 4, 4.01 over a total of 4.01.
  const draws = [0, 0.2493, 0.2494, 0.9975, 0.9976, 1];
  const balancer = new Rfc2782Balancer(endpointer, { random: scripted(draws) });
  const got = draws.map(() => nameOf(entries, balancer.endpoint()));
  assert.deepStrictEqual(got, ["a:80", "a:80", "b:80", "b:80", "c:80", "c:80"]);
});

Deno.test("Rfc2782Balancer picks evenly when every endpoint of a priority has weight 0", () => {
  const entries = [entry("a:80", { weight: 0 }), entry("b:80", { weight: 0 }), entry("c:80", { weight: 0 })];
  const { endpointer } = endpointerOf(entries);
  const balancer = new Rfc2782Balancer(endpointer, { random: scripted([0.1, 0.4, 0.7]) });
  assert.deepStrictEqual([0, 1, 2].map(() => nameOf(entries, balancer.endpoint())), ["a:80", "b:80", "c:80"]);
});

Deno.test("Rfc2782Balancer counts a missing priority as 0 and a missing weight as 1", () => {
  const entries = [
    entry("plain:80", {}),
    entry("weighted:80", { weight: 3 }),
    entry("later:80", { priority: 1, weight: 1000 }),
  ];
  const { endpointer } = endpointerOf(entries);
  const balancer = new Rfc2782Balancer(endpointer, { random: scripted([0.24, 0.26]) });
  assert.deepStrictEqual([0, 1].map(() => nameOf(entries, balancer.endpoint())), ["plain:80", "weighted:80"]);
});

Deno.test("Rfc2782Balancer draws among the endpoints not yet tried, then falls through to the next priority", () => {
  const entries = [
    entry("p1-a:80", { priority: 1, weight: 1 }),
    entry("p1-b:80", { priority: 1, weight: 3 }),
    entry("p2-a:80", { priority: 2, weight: 5 }),
    entry("p3-a:80", { priority: 3, weight: 5 }),
  ];
  const ep = (name: string) => entries.find((e) => e.instance === name)!.endpoint;
  const { endpointer } = endpointerOf(entries);
  const balancer = new Rfc2782Balancer(endpointer, { random: scripted([0, 0.99, 0.5, 0.5, 0.5, 0.5]) });
  // With p1-b excluded, even a draw of 0.99 lands on p1-a: the weights are re-summed without it.
  assert.equal(nameOf(entries, balancer.endpoint(new Set([ep("p1-b:80")]))), "p1-a:80");
  assert.equal(nameOf(entries, balancer.endpoint(new Set([ep("p1-a:80")]))), "p1-b:80");
  const tier1 = new Set([ep("p1-a:80"), ep("p1-b:80")]);
  assert.equal(nameOf(entries, balancer.endpoint(tier1)), "p2-a:80");
  assert.equal(nameOf(entries, balancer.endpoint(new Set([...tier1, ep("p2-a:80")]))), "p3-a:80");
  // Everything tried: start over in the best priority.
  const all = new Set(entries.map((e) => e.endpoint));
  assert.ok(nameOf(entries, balancer.endpoint(all)).startsWith("p1-"));
  // An empty exclusion set is the plain pick.
  assert.ok(nameOf(entries, balancer.endpoint(new Set())).startsWith("p1-"));
});

Deno.test("Rfc2782Balancer fails over through the priorities with a real endpointer", async () => {
  const instancer = new FixedInstancer([
    { instance: "primary-1:80", priority: 10, weight: 50 },
    { instance: "primary-2:80", priority: 10, weight: 50 },
    { instance: "backup:80", priority: 20, weight: 1 },
  ]);
  using endpointer = new DefaultEndpointer(
    instancer,
    (instance) => ({ endpoint: () => Promise.resolve(instance) }),
  );
  await endpointer.ready();
  const balancer = new Rfc2782Balancer(endpointer, { random: seededRandom(3) });
  const tried = new Set<Endpoint<unknown, string>>();
  const order: string[] = [];
  for (let i = 0; i < 3; i++) {
    const endpoint = balancer.endpoint(tried);
    tried.add(endpoint);
    order.push(await endpoint(undefined));
  }
  assert.deepStrictEqual(order.slice(0, 2).sort(), ["primary-1:80", "primary-2:80"]);
  assert.equal(order[2], "backup:80");
});

Deno.test("Rfc2782Balancer rebuilds its plan when the entries change", () => {
  const first = [entry("old:80", { priority: 1, weight: 1 })];
  const { endpointer, set } = endpointerOf(first);
  const balancer = new Rfc2782Balancer(endpointer, { random: () => 0.5 });
  assert.equal(nameOf(first, balancer.endpoint()), "old:80");
  const second = [
    entry("backup:80", { priority: 9, weight: 1 }),
    entry("new:80", { priority: 2, weight: 1 }),
  ];
  set(second);
  assert.equal(nameOf(second, balancer.endpoint()), "new:80");
  set([]);
  assert.throws(() => balancer.endpoint(), NoEndpointsError);
});

Deno.test("Rfc2782Balancer throws NoEndpointsError without endpoints and does not draw", () => {
  const { endpointer } = endpointerOf([]);
  const balancer = new Rfc2782Balancer(endpointer, { random: scripted([]) });
  assert.throws(
    () => balancer.endpoint(),
    (e: unknown) => e instanceof NoEndpointsError && e.code === "ERR_NO_ENDPOINTS",
  );
  assert.throws(() => balancer.endpoint(new Set([() => Promise.resolve("x")])), NoEndpointsError);
});

Deno.test("Rfc2782Balancer stays in range when the random source returns exactly 1", () => {
  const entries = [entry("a:80", { weight: 1 }), entry("b:80", { weight: 1 })];
  const { endpointer } = endpointerOf(entries);
  const balancer = new Rfc2782Balancer(endpointer, { random: () => 1 });
  assert.equal(nameOf(entries, balancer.endpoint()), "b:80");
});

Deno.test("Rfc2782Balancer honours a custom zeroWeight", () => {
  const entries = [entry("zero:80", { weight: 0 }), entry("one:80", { weight: 1 })];
  const { endpointer } = endpointerOf(entries);
  // zeroWeight 1 makes the weight-0 record as likely as a weight-1 one: running sums 1, 2.
  const balancer = new Rfc2782Balancer(endpointer, { random: scripted([0.49, 0.5]), zeroWeight: 1 });
  assert.deepStrictEqual([0, 1].map(() => nameOf(entries, balancer.endpoint())), ["zero:80", "one:80"]);
});

Deno.test("Rfc2782Balancer rejects invalid arguments", () => {
  const { endpointer } = endpointerOf([]);
  assert.throws(() => new Rfc2782Balancer({} as DetailedEndpointer), TypeError);
  assert.throws(() => new Rfc2782Balancer(endpointer, { random: 1 as unknown as () => number }), TypeError);
  assert.throws(() => new Rfc2782Balancer(endpointer, { zeroWeight: 0 }), RangeError);
  assert.throws(() => new Rfc2782Balancer(endpointer, { zeroWeight: -1 }), RangeError);
  assert.throws(() => new Rfc2782Balancer(endpointer, { zeroWeight: Number.NaN }), TypeError);
  assert.throws(() => new Rfc2782Balancer(endpointer, { zeroWeight: Infinity }), RangeError);
});
