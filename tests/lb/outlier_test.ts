// OutlierEjectionBalancer: consecutive failures eject an instance for base x k (capped), success resets,
// a cap on the ejected share, panic mode, lazy return on an injected clock, hooks, inner begin.
import { assert } from "../_deps.ts";
import { beginCall, type CallOutcome } from "../../src/lb/balancer.ts";
import { LeastRequestBalancer } from "../../src/lb/least_request.ts";
import { OutlierEjectionBalancer, type OutlierEjectionOptions } from "../../src/lb/outlier.ts";
import type { DetailedEndpointer } from "../../src/lb/rfc2782.ts";
import { RoundRobinBalancer } from "../../src/lb/round_robin.ts";
import type { Endpointer } from "../../src/types.ts";
import { endpointerOf, entries, type Entry, nameOf, picks } from "./_entries.ts";

function setup(names: string[], options: OutlierEjectionOptions = {}) {
  const clock = { now: 0 };
  const events: string[] = [];
  const all = entries(names);
  const { endpointer, set } = endpointerOf(all);
  let view: (DetailedEndpointer<unknown, string> & Endpointer<unknown, string>) | undefined;
  const balancer = new OutlierEjectionBalancer(endpointer, (inService) => {
    view = inService;
    return new RoundRobinBalancer(inService);
  }, {
    now: () => clock.now,
    onEject: (instance, until) => events.push(`eject ${instance} until ${until}`),
    onReturn: (instance) => events.push(`return ${instance}`),
    ...options,
  });
  const ep = (name: string) => all.find((e) => e.instance === name)!.endpoint;
  const report = (name: string, outcome: CallOutcome, value?: unknown) =>
    beginCall(balancer, ep(name)).end(outcome, value);
  const inService = () => view!.entries().map((e) => e.instance).join();
  return { clock, events, all, set, balancer, report, inService, view: () => view! };
}

Deno.test("OutlierEjectionBalancer ejects after consecutiveFailures in a row; a success resets the count", () => {
  const t = setup(["a", "b", "c"], { consecutiveFailures: 3, maxEjectedShare: 0.5 });
  t.report("a", "error", new TypeError("connection refused"));
  t.report("a", "error");
  t.report("a", "success");
  t.report("a", "error");
  t.report("a", "error");
  assert.equal(t.inService(), "a,b,c");
  t.report("a", "error");
  assert.equal(t.inService(), "b,c");
  assert.ok(t.balancer.isEjected("a"));
  assert.deepEqual(t.events, ["eject a until 30000"]);
  assert.deepEqual(picks(() => t.balancer.endpoint(), t.all, 4), ["b", "c", "b", "c"]);
});

Deno.test("OutlierEjectionBalancer counts thrown errors, retryable results and 5xx responses, not 4xx or cancellations", () => {
  const t = setup(["a", "b"], { consecutiveFailures: 1, maxEjectedShare: 0.5 });
  t.report("a", "success", new Response(null, { status: 404 }));
  t.report("a", "cancelled", new DOMException("aborted", "AbortError"));
  assert.equal(t.inService(), "a,b");
  t.report("a", "success", new Response(null, { status: 500 }));
  assert.equal(t.inService(), "b");
  const u = setup(["a", "b"], { consecutiveFailures: 1, maxEjectedShare: 0.5 });
  u.report("b", "retryable", new Response(null, { status: 503 }));
  assert.equal(u.inService(), "a");
  const custom = setup(["a", "b"], {
    consecutiveFailures: 1,
    maxEjectedShare: 0.5,
    isFailure: (_outcome, value) => value === "overloaded",
  });
  custom.report("a", "error");
  custom.report("b", "success", "overloaded");
  assert.equal(custom.inService(), "a");
});

Deno.test("OutlierEjectionBalancer returns an instance when its time is up, and each ejection lasts longer, up to the cap", () => {
  const t = setup(["a", "b"], {
    consecutiveFailures: 1,
    maxEjectedShare: 0.5,
    baseEjectionTime: 1_000,
    maxEjectionTime: 2_500,
  });
  t.report("a", "error");
  t.clock.now = 999;
  assert.equal(t.inService(), "b");
  t.clock.now = 1_000;
  assert.equal(t.inService(), "a,b"); // checked lazily on the next read
  t.report("a", "error"); // second ejection: 2 x base
  t.clock.now = 2_999;
  assert.equal(t.inService(), "b");
  t.clock.now = 3_000;
  t.report("a", "error"); // third: 3 x base, capped at 2,500
  t.clock.now = 5_500;
  assert.equal(t.inService(), "a,b");
  // Time in service brings the multiplier down: 5 base times later, the next ejection is a first again.
  t.clock.now = 10_500;
  t.report("a", "error");
  assert.deepEqual(t.events, [
    "eject a until 1000",
    "return a",
    "eject a until 3000",
    "return a",
    "eject a until 5500",
    "return a",
    "eject a until 11500",
  ]);
});

Deno.test("OutlierEjectionBalancer ejects at most maxEjectedShare of the instances (at least one)", () => {
  const names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
  const t = setup(names, { consecutiveFailures: 1 });
  for (const name of names) t.report(name, "error");
  assert.equal(t.inService(), "b,c,d,e,f,g,h,i,j");
  const u = setup(["a", "b", "c"], { consecutiveFailures: 1, maxEjectedShare: 0 });
  u.report("a", "error");
  u.report("b", "error");
  assert.equal(u.inService(), "b,c");
});

Deno.test("OutlierEjectionBalancer falls back to every instance when fewer than panicThreshold remain", () => {
  const t = setup(["a", "b", "c", "d"], { consecutiveFailures: 1, maxEjectedShare: 1, panicThreshold: 0.5 });
  t.report("a", "error");
  t.report("b", "error");
  assert.equal(t.inService(), "c,d"); // 2 of 4 in service: not below half
  t.report("c", "error");
  assert.equal(t.inService(), "a,b,c,d"); // 1 of 4: panic, all in use
  assert.ok(t.balancer.isEjected("c"));
});

Deno.test("OutlierEjectionBalancer keeps ejections across updates and its view's arrays while nothing changes", () => {
  const t = setup(["a", "b", "c"], { consecutiveFailures: 1, maxEjectedShare: 0.5 });
  t.report("b", "error");
  const view = t.view();
  const before = view.entries();
  assert.equal(view.entries(), before);
  assert.equal(view.endpoints(), view.endpoints());
  const next: Entry[] = [...t.all, ...entries(["d"])];
  t.set(next);
  assert.equal(t.inService(), "a,c,d");
  t.set(next.filter((e) => e.instance !== "b"));
  assert.equal(t.inService(), "a,c,d");
  assert.ok(!t.balancer.isEjected("b"));
});

Deno.test("OutlierEjectionBalancer passes attempts on to the inner balancer's begin", () => {
  const all = entries(["a", "b"]);
  let inner: LeastRequestBalancer<unknown, string> | undefined;
  const balancer = new OutlierEjectionBalancer(endpointerOf(all).endpointer, (view) => {
    inner = new LeastRequestBalancer(view, { random: () => 0 });
    return inner;
  });
  const picked = balancer.endpoint();
  const call = beginCall(balancer, picked);
  assert.equal(inner!.inFlight(picked), 1);
  assert.equal(nameOf(all, balancer.endpoint()), "b");
  call.end("success");
  call.end("error"); // ignored
  assert.equal(inner!.inFlight(picked), 0);
});

Deno.test("OutlierEjectionBalancer validates its arguments", () => {
  const { endpointer } = endpointerOf([]);
  const rr = (view: Endpointer<unknown, string>) => new RoundRobinBalancer(view);
  assert.throws(() => new OutlierEjectionBalancer({} as never, rr), TypeError);
  assert.throws(() => new OutlierEjectionBalancer(endpointer, "x" as never), TypeError);
  assert.throws(() => new OutlierEjectionBalancer(endpointer, () => ({}) as never), TypeError);
  assert.throws(() => new OutlierEjectionBalancer(endpointer, rr, { consecutiveFailures: 0 }), RangeError);
  assert.throws(() => new OutlierEjectionBalancer(endpointer, rr, { maxEjectedShare: 2 }), RangeError);
  assert.throws(() => new OutlierEjectionBalancer(endpointer, rr, { panicThreshold: -1 }), RangeError);
  assert.throws(() => new OutlierEjectionBalancer(endpointer, rr, { onEject: 1 as never }), TypeError);
});
