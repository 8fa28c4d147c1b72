import { assert } from "../_deps.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import { MemoryInstancer } from "../../src/memory/instancer.ts";
import { MemoryRegistry } from "../../src/memory/registry.ts";
import type { DiscoveryEvent } from "../../src/types.ts";

/** Lets queued deliveries run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** "a,b" plus details as "a{weight:2}" for an instances event; "error: ..." for a failure. */
function show(event: DiscoveryEvent): string {
  if (event.error !== undefined) return `error: ${event.error.message}`;
  return event.instances.map((i) => {
    const d = event.details.get(i);
    return d === undefined ? i : `${i}${JSON.stringify(d)}`;
  }).join(",");
}

function record(instancer: MemoryInstancer): string[] {
  const seen: string[] = [];
  instancer.subscribe((event) => {
    seen.push(show(event));
  });
  return seen;
}

Deno.test("MemoryInstancer delivers the current instances first, asynchronously", async () => {
  using registry = new MemoryRegistry();
  registry.register("api", "b:1");
  registry.register("api", "a:1", { details: { weight: 2 } });
  using instancer = registry.instancer("api");
  assert.ok(instancer instanceof MemoryInstancer);
  const seen = record(instancer);
  assert.deepStrictEqual(seen, []);
  await settle();
  assert.deepStrictEqual(seen, ['a:1{"weight":2},b:1']);
});

Deno.test("MemoryInstancer delivers an empty set for a service with no instances yet", async () => {
  using registry = new MemoryRegistry();
  using instancer = registry.instancer("nobody");
  const seen = record(instancer);
  await settle();
  assert.deepStrictEqual(seen, [""]);
});

Deno.test("MemoryInstancer delivers every change of its service in order, and nothing of others", async () => {
  using registry = new MemoryRegistry();
  using instancer = registry.instancer("api");
  const seen = record(instancer);
  await settle();
  registry.register("api", "b:1");
  registry.register("other", "x:1");
  registry.register("api", "a:1");
  registry.register("api", "a:1", { details: { zone: "eu" } });
  registry.deregister("api", "b:1");
  registry.deregister("other", "x:1");
  registry.deregister("api", "a:1");
  await settle();
  assert.deepStrictEqual(seen, ["", "b:1", "a:1,b:1", 'a:1{"zone":"eu"},b:1', 'a:1{"zone":"eu"}', ""]);
});

Deno.test("MemoryInstancer does not repeat a state when a registration changes nothing", async () => {
  using registry = new MemoryRegistry();
  registry.register("api", "a:1", { details: { weight: 1 } });
  using instancer = registry.instancer("api");
  const seen = record(instancer);
  await settle();
  registry.register("api", "a:1", { details: { weight: 1 } });
  registry.register("api", "a:1", { details: { weight: 1 }, ttl: 60_000 });
  registry.deregister("api", "zzz:1");
  await settle();
  assert.deepStrictEqual(seen, ['a:1{"weight":1}']);
  registry.deregister("api", "a:1");
});

Deno.test("MemoryInstancer stop detaches it from the registry and leaves the others running", async () => {
  using registry = new MemoryRegistry();
  const first = registry.instancer("api");
  using second = registry.instancer("api");
  const seenFirst = record(first);
  const seenSecond = record(second);
  await settle();
  first.stop();
  assert.equal(first.stopped, true);
  first.stop();
  registry.register("api", "a:1");
  await settle();
  assert.deepStrictEqual(seenFirst, [""]);
  assert.deepStrictEqual(seenSecond, ["", "a:1"]);
  // The stopped instancer's state no longer follows the registry.
  assert.deepStrictEqual(first.state()?.instances, []);
  assert.deepStrictEqual(second.state()?.instances, ["a:1"]);
});

Deno.test("MemoryInstancer stops at the end of a using block", async () => {
  using registry = new MemoryRegistry();
  let seen: string[];
  let kept: MemoryInstancer;
  {
    using instancer = registry.instancer("api");
    kept = instancer;
    seen = record(instancer);
    await settle();
  }
  assert.equal(kept.stopped, true);
  registry.register("api", "a:1");
  await settle();
  assert.deepStrictEqual(seen, [""]);
  // A new instancer for the same service after the old one detached works as usual.
  using again = registry.instancer("api");
  assert.deepStrictEqual(again.state()?.instances, ["a:1"]);
});

Deno.test("MemoryInstancer iteration ends when the registry closes", async () => {
  const registry = new MemoryRegistry();
  const instancer = registry.instancer("api");
  const seen: string[] = [];
  const loop = (async () => {
    for await (const event of instancer) {
      seen.push(show(event));
      if (seen.length === 1) registry.register("api", "a:1");
      if (seen.length === 2) registry.close();
    }
  })();
  await loop;
  assert.deepStrictEqual(seen, ["", "a:1"]);
  assert.equal(instancer.stopped, true);
});

Deno.test("MemoryInstancer feeds a DefaultEndpointer that follows registrations", async () => {
  using registry = new MemoryRegistry();
  registry.register("echo", "a:1");
  const closed: string[] = [];
  using endpointer = new DefaultEndpointer(registry.instancer("echo"), (instance) => ({
    endpoint: (message: string) => Promise.resolve(`${instance}: ${message}`),
    close: () => {
      closed.push(instance);
    },
  }));
  const [first] = await endpointer.ready();
  assert.equal(await first!("hi"), "a:1: hi");
  registry.register("echo", "b:1");
  registry.deregister("echo", "a:1");
  await settle();
  const endpoints = endpointer.endpoints();
  assert.equal(endpoints.length, 1);
  assert.equal(await endpoints[0]!("hi"), "b:1: hi");
  assert.deepStrictEqual(closed, ["a:1"]);
});
