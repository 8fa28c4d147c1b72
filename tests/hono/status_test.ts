import { Hono } from "hono";
import { assert } from "../_deps.ts";
import { DefaultEndpointer, FixedInstancer, httpFactory, InstanceCache, PullInstancer } from "../../mod.ts";
import { RegistryUnavailableError } from "../../src/errors.ts";
import { serviceProxy, statusHandler } from "../../src/hono/mod.ts";
import {
  beginCall,
  LeastRequestBalancer,
  ObservedBalancer,
  OutlierEjectionBalancer,
  PeakEwmaBalancer,
  RoundRobinBalancer,
} from "../../src/lb/mod.ts";

const factory = () => ({ endpoint: () => Promise.resolve(0) });

Deno.test("statusHandler lists counts and error codes, and addresses only when exposed", async () => {
  const cache = new InstanceCache();
  using endpointer = new DefaultEndpointer(cache, factory);
  cache.update({
    instances: [{ instance: "10.0.0.1:8080", zone: "a", tags: ["v1"] }, "10.0.0.2:8080"],
  });
  await endpointer.ready();
  const failed = new Promise((resolve) => endpointer.addEventListener("error", resolve, { once: true }));
  cache.update({ error: new RegistryUnavailableError("Consul at 10.9.9.9:8500 is unreachable") });
  await failed;
  const app = new Hono();
  app.get("/status", statusHandler({ users: { endpointer } }));
  app.get("/status/full", statusHandler({ users: { endpointer } }, { expose: true }));

  const hidden = await app.request("/status");
  assert.equal(hidden.headers.get("cache-control"), "no-store");
  const text = await hidden.text();
  assert.deepEqual(JSON.parse(text), {
    services: { users: { count: 2, error: { code: "ERR_REGISTRY_UNAVAILABLE" } } },
  });
  assert.doesNotMatch(text, /10\.\d+\.\d+\.\d+/);

  assert.deepEqual(await (await app.request("/status/full")).json(), {
    services: {
      users: {
        count: 2,
        error: {
          code: "ERR_REGISTRY_UNAVAILABLE",
          message: "RegistryUnavailableError: Consul at 10.9.9.9:8500 is unreachable",
        },
        instances: [{ instance: "10.0.0.1:8080", zone: "a", tags: ["v1"] }, { instance: "10.0.0.2:8080" }],
      },
    },
  });
  cache.stop();
});

Deno.test("statusHandler shows a pull-mode instancer's refresh figures", async () => {
  let now = 1_000;
  using pull = new PullInstancer(() => Promise.resolve({ instances: ["10.0.0.1:80"] }), {
    ttl: 5_000,
    now: () => now,
  });
  using endpointer = new DefaultEndpointer(pull, factory, { invalidateAfter: 0 });
  await pull.refresh();
  now = 2_000;
  const app = new Hono();
  app.get("/status", statusHandler({ users: { endpointer, pull } }));
  const body = await (await app.request("/status")).json();
  assert.deepEqual(body.services.users, {
    count: 1,
    error: null,
    pull: {
      fetchedAt: 1_000,
      expiresAt: 6_000,
      failures: 0,
      lastError: null,
      refreshing: false,
      lookups: 1,
    },
  });
});

Deno.test("statusHandler reports an invalidated endpointer's error and rejects a service without one", async () => {
  const cache = new InstanceCache();
  using endpointer = new DefaultEndpointer(cache, factory, { invalidateAfter: 0 });
  cache.update({ instances: ["10.0.0.1:80"] });
  await endpointer.ready();
  const failed = new Promise((resolve) => endpointer.addEventListener("error", resolve, { once: true }));
  cache.update({ error: new TypeError("fetch failed") });
  await failed;
  const app = new Hono();
  app.get("/status", statusHandler({ users: { endpointer } }));
  const body = await (await app.request("/status")).json();
  assert.deepEqual(body.services.users, { count: 0, error: { code: "TypeError" } });
  assert.throws(
    () => statusHandler({ users: {} as never }),
    /services\["users"\]\.endpointer must be an endpointer/,
  );
  cache.stop();
});

Deno.test("statusHandler shows per-instance outcome figures from the balancer, totals without addresses", async () => {
  let now = 0;
  let release!: () => void;
  const factory = httpFactory({
    fetch: async (input) => {
      const url = new URL(String(input));
      if (url.host === "10.0.0.1:8080") {
        now += 2;
        throw new TypeError("Connection refused");
      }
      if (url.pathname === "/slow") await new Promise<void>((resolve) => release = resolve);
      now += 5;
      return new Response("ok");
    },
  });
  using endpointer = new DefaultEndpointer(new FixedInstancer(["10.0.0.1:8080", "10.0.0.2:8080"]), factory);
  await endpointer.ready();
  const ewma = new PeakEwmaBalancer(endpointer, { now: () => now, random: () => 0 });
  const observed = new ObservedBalancer(ewma, { now: () => now });
  const services = { users: { endpointer, balancer: observed } };
  const app = new Hono()
    .all("/api/*", serviceProxy(observed, { stripPrefix: "/api", attempts: 2, backoff: false }))
    .get("/status", statusHandler(services))
    .get("/status/full", statusHandler(services, { expose: true }));
  for (let i = 0; i < 3; i++) assert.equal((await app.request("/api/x")).status, 200);
  const slow = app.request("/api/slow");
  const whileSlow = await (await app.request("/status")).json();
  release();
  assert.equal((await slow).status, 200);

  const [a, b] = endpointer.entries().map((e) => observed.figures(e.endpoint));
  const calls = a!.calls + b!.calls;
  assert.equal(b!.calls, 4, "every request ends on the healthy instance");
  assert.deepEqual(whileSlow.services.users.outcomes, { calls: calls, failures: a!.failures, inFlight: 1 });
  assert.doesNotMatch(JSON.stringify(whileSlow), /10\.0\.0/);

  const full = (await (await app.request("/status/full")).json()).services.users;
  assert.deepEqual(full.outcomes, { calls, failures: a!.calls, inFlight: 0 });
  const [first, second] = full.instances;
  assert.equal(first.instance, "10.0.0.1:8080");
  assert.deepEqual(first.outcomes, {
    calls: a!.calls,
    failures: a!.calls,
    inFlight: 0,
    lastLatency: 2,
    rtt: Math.round(ewma.rtt(endpointer.entries()[0]!.endpoint)! * 100) / 100,
  });
  assert.ok(first.outcomes.rtt >= 4, "a failure counts as at least twice the estimate");
  assert.deepEqual(
    { ...second.outcomes, rtt: undefined },
    { calls: 4, failures: 0, inFlight: 0, lastLatency: 5, rtt: undefined },
  );
});

Deno.test("statusHandler shows outlier ejection and least-request counts without an ObservedBalancer", async () => {
  using endpointer = new DefaultEndpointer(
    new FixedInstancer(["10.0.0.1:80", "10.0.0.2:80"]),
    (instance) => ({ endpoint: () => Promise.resolve(instance) }),
  );
  await endpointer.ready();
  const least = new LeastRequestBalancer(endpointer);
  const outlier = new OutlierEjectionBalancer(endpointer, (inService) => new RoundRobinBalancer(inService), {
    consecutiveFailures: 1,
    maxEjectedShare: 0.5,
    now: () => 0,
  });
  const [bad, good] = endpointer.entries().map((e) => e.endpoint);
  beginCall(outlier, bad!).end("error", new TypeError("refused"));
  const open = beginCall(least, good!);
  const app = new Hono().get(
    "/status",
    statusHandler({ a: { endpointer, balancer: outlier }, b: { endpointer, balancer: least } }, {
      expose: true,
    }),
  );
  const { services } = await (await app.request("/status")).json();
  assert.deepEqual(services.a.instances.map((i: { outcomes: unknown }) => i.outcomes), [
    { ejected: true },
    { ejected: false },
  ]);
  assert.equal(services.a.outcomes, undefined);
  assert.deepEqual(services.b.instances.map((i: { outcomes: unknown }) => i.outcomes), [
    { inFlight: 0 },
    { inFlight: 1 },
  ]);
  assert.deepEqual(services.b.outcomes, { calls: 0, failures: 0, inFlight: 1 });
  open.end("success");
});
