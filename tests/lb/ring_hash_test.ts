// RingHashBalancer: sticky keys, minimal movement on one add/remove (measured over 10,000 keys),
// weighted shares, retries walking the ring.
import { assert } from "../_deps.ts";
import { NoEndpointsError } from "../../src/errors.ts";
import { RingHashBalancer } from "../../src/lb/ring_hash.ts";
import { seededRandom } from "../../src/lb/random.ts";
import { endpointerOf, entries, type Entry, entry, nameOf, tally } from "./_entries.ts";

const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
const NAMES = Array.from({ length: 10 }, (_, i) => `10.0.0.${i + 1}:80`);

function owners(ring: RingHashBalancer<unknown, string>, all: readonly Entry[]): string[] {
  return KEYS.map((key) => nameOf(all, ring.pick(key)));
}

Deno.test("RingHashBalancer sends a key to the same instance every time", () => {
  const all = entries(NAMES);
  const ring = new RingHashBalancer(endpointerOf(all).endpointer);
  assert.deepEqual(owners(ring, all), owners(ring, all));
});

Deno.test("RingHashBalancer moves about 1/(n+1) of the keys on an add, all to the newcomer, and only the removed one's keys on a remove", () => {
  const all = entries(NAMES);
  const { endpointer, set } = endpointerOf(all);
  const ring = new RingHashBalancer(endpointer);
  const before = owners(ring, all);
  const grown = [...all, entry("10.0.0.11:80")];
  set(grown);
  const afterAdd = owners(ring, grown);
  const moved = KEYS.filter((_, i) => afterAdd[i] !== before[i]).length / KEYS.length;
  assert.ok(moved > 0.06 && moved < 0.12, `moved on add: ${moved}`); // ideal 1/11 = 0.091
  assert.ok(KEYS.every((_, i) => afterAdd[i] === before[i] || afterAdd[i] === "10.0.0.11:80"));
  const shrunk = all.filter((e) => e.instance !== "10.0.0.4:80");
  set(shrunk);
  const afterRemove = owners(ring, shrunk);
  const movedOnRemove = KEYS.filter((_, i) => afterRemove[i] !== before[i]);
  assert.deepEqual(movedOnRemove, KEYS.filter((_, i) => before[i] === "10.0.0.4:80"));
  const share = movedOnRemove.length / KEYS.length;
  assert.ok(share > 0.06 && share < 0.14, `moved on remove: ${share}`); // ideal 1/10
});

Deno.test("RingHashBalancer spreads keys evenly and in proportion to weight", () => {
  const all = entries(NAMES);
  const even = tally(owners(new RingHashBalancer(endpointerOf(all).endpointer), all));
  for (const name of NAMES) assert.ok(even[name]! > 700 && even[name]! < 1300, JSON.stringify(even));
  const weighted = [entry("heavy", { weight: 3 }), entry("light1"), entry("light2")];
  const counts = tally(owners(new RingHashBalancer(endpointerOf(weighted).endpointer), weighted));
  assert.ok(counts["heavy"]! > 5_300 && counts["heavy"]! < 6_700, JSON.stringify(counts)); // ideal 6,000
});

Deno.test("RingHashBalancer.forKey starts at the key's instance and retries along the ring", () => {
  const all = entries(NAMES);
  const ring = new RingHashBalancer(endpointerOf(all).endpointer);
  const bound = ring.forKey("user-7");
  const first = bound.endpoint();
  assert.equal(first, ring.pick("user-7"));
  const tried = new Set([first]);
  const second = bound.endpoint(tried);
  assert.notEqual(second, first);
  tried.add(second);
  const third = bound.endpoint(tried);
  assert.ok(!tried.has(third));
  assert.equal(bound.endpoint(new Set(all.map((e) => e.endpoint))), first); // all tried: the owner again
});

Deno.test("RingHashBalancer.endpoint without a key spreads picks by weight; empty throws NoEndpointsError", () => {
  const all = [entry("a", { weight: 1 }), entry("b", { weight: 3 })];
  const ring = new RingHashBalancer(endpointerOf(all).endpointer, { random: seededRandom(8) });
  let b = 0;
  for (let i = 0; i < 4_000; i++) if (nameOf(all, ring.endpoint()) === "b") b++;
  assert.ok(b > 2_700 && b < 3_300, `b ${b}`);
  assert.throws(() => new RingHashBalancer(endpointerOf([]).endpointer).pick("k"), NoEndpointsError);
  assert.throws(() => new RingHashBalancer(endpointerOf([]).endpointer, { replicas: 0 }), RangeError);
  assert.throws(() => new RingHashBalancer({} as never), TypeError);
});
