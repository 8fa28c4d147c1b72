import { Hono } from "hono";
import { assert } from "../_deps.ts";
import { healthHandler, HealthState, type ServingState } from "../../src/hono/mod.ts";

Deno.test("healthHandler answers 200 only while serving, for GET and HEAD, never cached", async () => {
  const health = new HealthState("starting");
  const app = new Hono();
  app.get("/healthz", healthHandler(health));
  const seen: [ServingState, number, unknown][] = [];
  for (const state of ["starting", "serving", "draining", "stopped"] as const) {
    health.set(state);
    const response = await app.request("/healthz");
    assert.equal(response.headers.get("cache-control"), "no-store");
    seen.push([state, response.status, await response.json()]);
    assert.equal((await app.request("/healthz", { method: "HEAD" })).status, response.status);
  }
  assert.deepEqual(seen, [
    ["starting", 503, { status: "STARTING", state: "starting" }],
    ["serving", 200, { status: "UP", state: "serving" }],
    ["draining", 503, { status: "DOWN", state: "draining" }],
    ["stopped", 503, { status: "DOWN", state: "stopped" }],
  ]);
});

Deno.test("healthHandler without a state is always serving", async () => {
  const app = new Hono();
  app.get("/healthz", healthHandler());
  assert.equal((await app.request("/healthz")).status, 200);
});

Deno.test("HealthState says whether it is serving or draining and rejects unknown states", () => {
  const health = new HealthState();
  assert.equal(health.state, "serving");
  assert.ok(health.serving && !health.draining);
  health.set("draining");
  assert.ok(health.draining && !health.serving);
  assert.throws(
    () => health.set("paused" as ServingState),
    /state must be one of starting, serving, draining, stopped, got "paused"/,
  );
  assert.throws(() => new HealthState("up" as ServingState), TypeError);
  assert.throws(() => healthHandler({} as HealthState), /state must be a HealthState/);
});
