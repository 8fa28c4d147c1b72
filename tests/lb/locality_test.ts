// LocalityEndpointer: the caller's zone first, then fallback zones, then everyone; only healthy
// instances of a tier, a minimum per tier, stable arrays; stacks on outlier ejection.
import { assert } from "../_deps.ts";
import { beginCall } from "../../src/lb/balancer.ts";
import { LocalityEndpointer } from "../../src/lb/locality.ts";
import { OutlierEjectionBalancer } from "../../src/lb/outlier.ts";
import { RoundRobinBalancer } from "../../src/lb/round_robin.ts";
import { endpointerOf, type Entry, entry } from "./_entries.ts";

const names = (view: LocalityEndpointer<unknown, string>) => view.entries().map((e) => e.instance).join();

function fleet(): Entry[] {
  return [
    entry("a1", { zone: "a" }),
    entry("a2", { zone: "a" }),
    entry("b1", { zone: "b" }),
    entry("c1", { zone: "c" }),
    entry("none"),
  ];
}

Deno.test("LocalityEndpointer offers only the caller's zone while it has enough healthy instances", () => {
  const view = new LocalityEndpointer(endpointerOf(fleet()).endpointer, { zone: "a" });
  assert.equal(names(view), "a1,a2");
  assert.equal(view.zone, "a");
  assert.equal(view.entries(), view.entries());
  assert.equal(view.endpoints(), view.endpoints());
  assert.equal(view.endpoints().length, 2);
});

Deno.test("LocalityEndpointer falls back to the next zone, then to everyone, when a tier is unhealthy or too small", () => {
  const all = fleet();
  const { endpointer, set } = endpointerOf(all);
  const view = new LocalityEndpointer(endpointer, { zone: "a", fallbackZones: ["b"], minHealthy: 2 });
  assert.equal(names(view), "a1,a2");
  const sick = all.map((e) => e.instance === "a2" ? entry("a2", { zone: "a", status: "critical" }) : e);
  set(sick);
  assert.equal(names(view), "a1,b1,c1,none"); // a has 1 healthy, b has 1: both below 2
  assert.equal(view.zone, undefined);
  const single = new LocalityEndpointer(endpointer, { zone: "a", fallbackZones: ["b"], minHealthy: 1 });
  assert.equal(names(single), "a1");
  set(sick.filter((e) => e.instance !== "a1"));
  assert.equal(names(single), "b1");
  assert.equal(single.zone, "b");
});

Deno.test("LocalityEndpointer offers every instance when none is healthy, and nothing when there are none", () => {
  const all = [
    entry("a1", { zone: "a", status: "critical" }),
    entry("b1", { zone: "b", status: "critical" }),
  ];
  const { endpointer, set } = endpointerOf(all);
  const view = new LocalityEndpointer(endpointer, { zone: "a" });
  assert.equal(names(view), "a1,b1");
  set([]);
  assert.equal(names(view), "");
});

Deno.test("LocalityEndpointer under outlier ejection falls back when the local instances are ejected", () => {
  const all = fleet();
  const balancer = new OutlierEjectionBalancer(
    endpointerOf(all).endpointer,
    (inService) =>
      new RoundRobinBalancer(new LocalityEndpointer(inService, { zone: "b", fallbackZones: ["a"] })),
    { consecutiveFailures: 1, maxEjectedShare: 0.5, now: () => 0 },
  );
  assert.equal(balancer.endpoint(), all[2]!.endpoint); // b1
  beginCall(balancer, all[2]!.endpoint).end("error", new TypeError("connection refused"));
  const next = [balancer.endpoint(), balancer.endpoint()];
  assert.deepEqual(new Set(next), new Set([all[0]!.endpoint, all[1]!.endpoint])); // zone a
});

Deno.test("LocalityEndpointer validates its arguments", () => {
  const { endpointer } = endpointerOf([]);
  assert.throws(() => new LocalityEndpointer({} as never, { zone: "a" }), TypeError);
  assert.throws(() => new LocalityEndpointer(endpointer, undefined as never), TypeError);
  assert.throws(() => new LocalityEndpointer(endpointer, { zone: "" }), TypeError);
  assert.throws(
    () => new LocalityEndpointer(endpointer, { zone: "a", fallbackZones: [1 as never] }),
    TypeError,
  );
  assert.throws(() => new LocalityEndpointer(endpointer, { zone: "a", minHealthy: 0 }), RangeError);
});
