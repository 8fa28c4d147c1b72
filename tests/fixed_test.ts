// FixedInstancer and FixedEndpointer (go-kit sd.FixedInstancer, sd.FixedEndpointer).
import { assert } from "./_deps.ts";
import {
  DefaultEndpointer,
  type DiscoveryEvent,
  type Endpoint,
  FixedEndpointer,
  FixedInstancer,
  type Logger,
} from "../mod.ts";

const flush = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

Deno.test("FixedInstancer delivers its sorted, de-duplicated list once and nothing after", async () => {
  const instancer = new FixedInstancer(["c:1", "a:1", { instance: "b:1", weight: 2 }, "a:1"]);
  const events: DiscoveryEvent[] = [];
  instancer.subscribe((event) => void events.push(event));
  await flush();
  assert.deepEqual(events, [{
    instances: ["a:1", "b:1", "c:1"],
    details: new Map([["b:1", { weight: 2 }]]),
  }]);
  instancer.stop();
  instancer.stop();
  await flush();
  assert.equal(events.length, 1);
});

Deno.test("FixedInstancer neither sorts nor keeps a reference to the caller's array (go-kit bug)", async () => {
  const literal = ["z:1", "y:1", "x:1", "y:1"];
  const instancer = new FixedInstancer(literal);
  // go-kit handed the same slice to every endpointer, whose cache sorted it in place.
  const factory = (instance: string) => ({ endpoint: () => Promise.resolve(instance) });
  using first = new DefaultEndpointer(instancer, factory);
  using second = new DefaultEndpointer(instancer, factory);
  await first.ready();
  await second.ready();
  assert.deepEqual(literal, ["z:1", "y:1", "x:1", "y:1"]);
  literal.length = 0;
  assert.deepEqual(instancer.state()?.instances, ["x:1", "y:1", "z:1"]);
  assert.deepEqual(await Promise.all(first.endpoints().map((e) => e(undefined))), ["x:1", "y:1", "z:1"]);
  assert.equal(second.endpoints().length, 3);
  instancer.stop();
});

Deno.test("FixedInstancer validates its instances eagerly", () => {
  assert.throws(
    () => new FixedInstancer(["a:1", { instance: "b:1", weight: Number.NaN }]),
    new RangeError("instances[1]: weight must be a finite number >= 0, got NaN"),
  );
  assert.throws(
    () => new FixedInstancer(null as never),
    new TypeError("instances must be an iterable of instances, got null"),
  );
});

Deno.test("FixedInstancer passes its logger on to report listener failures", async () => {
  const messages: string[] = [];
  const log = (message: string) => void messages.push(message);
  const logger: Logger = { debug: log, info: log, warn: log, error: log };
  const instancer = new FixedInstancer(new Set(["a:1"]), { logger });
  instancer.subscribe(() => {
    throw new Error("oops");
  });
  await flush();
  assert.deepEqual(messages, ["Instancer listener threw"]);
  instancer.stop();
});

Deno.test("FixedEndpointer returns the same frozen copy of its endpoints every time", async () => {
  const one: Endpoint<number, number> = (n) => Promise.resolve(n + 1);
  const two: Endpoint<number, number> = (n) => Promise.resolve(n + 2);
  const source = [one, two];
  const endpointer = new FixedEndpointer(source);
  const endpoints = endpointer.endpoints();
  assert.equal(endpointer.endpoints(), endpoints);
  assert.ok(Object.isFrozen(endpoints));
  source.pop();
  assert.deepEqual(endpoints, [one, two], "the caller's array is copied");
  assert.equal(await endpoints[1]!(1), 3);
  assert.deepEqual(new FixedEndpointer(new Set([two])).endpoints(), [two], "any iterable");
  assert.deepEqual(new FixedEndpointer([]).endpoints(), []);
});

Deno.test("FixedEndpointer rejects an element that is not a function", () => {
  const ok: Endpoint = () => Promise.resolve();
  assert.throws(
    () => new FixedEndpointer([ok, "http://a" as never]),
    new TypeError("endpoints[1] must be a function, got string"),
  );
});
