// Type-level checks (deno check runs them with the rest of tests/): the subpath's handlers and options
// fit a user's typed Hono app, its Bindings and Variables included, without casts.
import { Hono } from "hono";
import { assert } from "../_deps.ts";
import { DefaultEndpointer, FixedInstancer, httpFactory, PullInstancer } from "../../mod.ts";
import { RoundRobinBalancer } from "../../src/lb/mod.ts";
import {
  healthHandler,
  HealthState,
  serviceProxy,
  type ServiceProxyOptions,
  statusHandler,
} from "../../src/hono/mod.ts";

type Bindings = { UPSTREAM_VERSION: string; SD_REGISTRY: string };
type Variables = { requestId: string };
type AppEnv = { Bindings: Bindings; Variables: Variables };

Deno.test("the Hono handlers type-check in a typed app", async () => {
  using endpointer = new DefaultEndpointer(
    new FixedInstancer(["10.0.0.1:80"]),
    httpFactory({
      fetch: (input) => Promise.resolve(new Response(new URL(new Request(input).url).pathname)),
    }),
  );
  using pull = new PullInstancer(() => Promise.resolve({ instances: [] }));
  const balancer = new RoundRobinBalancer(endpointer);
  const app = new Hono<AppEnv>();
  app.use("*", async (c, next) => {
    c.set("requestId", "r1");
    await next();
  });
  // Without a type argument: fits any app.
  app.all("/plain/*", serviceProxy(balancer, { stripPrefix: "/plain", timeout: 5_000, attempts: 2 }));
  app.use("/mw/*", serviceProxy(balancer));
  // With the app's Env: the callbacks see typed bindings and variables.
  app.all(
    "/typed/:id",
    serviceProxy<AppEnv>(balancer, {
      rewrite: (path, c) => `/${c.env.UPSTREAM_VERSION}${path}/${c.req.param("id")}?r=${c.get("requestId")}`,
      clientAddress: (c) => c.req.header("x-real-ip"),
    }),
  );
  // Options built apart, typed by the app's Env.
  const options: ServiceProxyOptions<AppEnv> = {
    pull,
    endpointer,
    readyTimeout: 1_000,
    forwarded: "append",
    exposeErrors: false,
    retryStatuses: [503],
    backoff: { initial: 5, max: 50 },
  };
  app.all("/pull/*", serviceProxy(balancer, options));
  app.get("/healthz", healthHandler(new HealthState()));
  app.get("/status", statusHandler({ users: { endpointer, pull } }, { expose: true }));
  app.get("/typed-health", healthHandler<AppEnv>());

  // Type errors only: never called.
  const _wrong = () => {
    // @ts-expect-error forwarded is "set", "append" or false
    serviceProxy(balancer, { forwarded: "yes" });
    // @ts-expect-error rewrite returns a path
    serviceProxy(balancer, { rewrite: () => 1 });
    // @ts-expect-error a binding the app does not have
    serviceProxy<AppEnv>(balancer, { rewrite: (path, c) => `${c.env.MISSING}${path}` });
  };

  const response = await app.request("/plain/x", {}, { UPSTREAM_VERSION: "v1", SD_REGISTRY: "" });
  assert.equal(await response.text(), "/x");
});
