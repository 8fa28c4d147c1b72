import { Hono } from "hono";
import { assert } from "../_deps.ts";
import { DefaultEndpointer, InstanceCache, PullInstancer } from "../../mod.ts";
import { RegistryUnavailableError } from "../../src/errors.ts";
import { statusHandler } from "../../src/hono/mod.ts";

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
