import { Hono } from "hono";
import { assert, fakeTime } from "../_deps.ts";
import { DefaultEndpointer, FixedInstancer, httpFactory, InstanceCache, PullInstancer } from "../../mod.ts";
import { RoundRobinBalancer } from "../../src/lb/mod.ts";
import {
  type Balancer,
  type Refreshable,
  serviceProxy,
  type ServiceProxyOptions,
} from "../../src/hono/mod.ts";
import type { RefreshOptions } from "../../src/pull_instancer.ts";
import type { Problem } from "../../src/hono/_problem.ts";

type Upstream = (request: Request, instance: string) => Response | Promise<Response>;

/** A gateway over fixed instances whose "network" is `upstream`; `seen` records what reached it. */
function gateway(
  instances: string[],
  upstream: Upstream,
  options: ServiceProxyOptions = {},
  path = "/api/*",
) {
  const seen: { instance: string; request: Request }[] = [];
  const factory = httpFactory({
    fetch: async (input, init) => {
      const request = new Request(input, init);
      const instance = new URL(request.url).host;
      seen.push({ instance, request });
      return await upstream(request, instance);
    },
  });
  const endpointer = new DefaultEndpointer(new FixedInstancer(instances), factory);
  const app = new Hono();
  app.all(path, serviceProxy(new RoundRobinBalancer(endpointer), { backoff: false, ...options }));
  return { app, seen, endpointer, [Symbol.dispose]: () => endpointer.close() };
}

const ok: Upstream = (request) => new Response(`ok ${new URL(request.url).pathname}`);
const DENO_INFO = { remoteAddr: { hostname: "203.0.113.7", port: 5555, transport: "tcp" } };

async function problem(response: Response) {
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  return await response.json() as Problem;
}

Deno.test("serviceProxy forwards method, path, query and body, and drops the prefix", async () => {
  using g = gateway(
    ["10.0.0.1:8080"],
    async (request) => new Response(await request.text(), { status: 201 }),
  );
  await g.endpointer.ready();
  const app = new Hono();
  app.all("/api/*", serviceProxy(new RoundRobinBalancer(g.endpointer), { stripPrefix: "/api/" }));
  const response = await app.request("/api/users/1?full=1&x=%20", { method: "POST", body: "hello" });
  assert.equal(response.status, 201);
  assert.equal(await response.text(), "hello");
  const { request } = g.seen[0]!;
  assert.equal(request.method, "POST");
  assert.equal(request.url, "http://10.0.0.1:8080/users/1?full=1&x=%20");
});

Deno.test("serviceProxy strips a prefix only on a segment boundary", async () => {
  using g = gateway(["10.0.0.1:8080"], ok, { stripPrefix: "/api" }, "*");
  await g.endpointer.ready();
  assert.equal(await (await g.app.request("/api")).text(), "ok /");
  assert.equal(await (await g.app.request("/api/")).text(), "ok /");
  assert.equal(await (await g.app.request("/api/a/b")).text(), "ok /a/b");
  assert.equal(await (await g.app.request("/apix/a")).text(), "ok /apix/a");
});

Deno.test("serviceProxy rewrites the path with a function that sees the context", async () => {
  type AppEnv = { Bindings: { VERSION: string } };
  const app = new Hono<AppEnv>();
  using g = gateway(["10.0.0.1:8080"], ok);
  await g.endpointer.ready();
  app.all(
    "/users/:id",
    serviceProxy<AppEnv>(new RoundRobinBalancer(g.endpointer), {
      stripPrefix: "/users",
      rewrite: (path, c) => `/${c.env.VERSION}/people${path}`,
    }),
  );
  const response = await app.request("/users/7?q=1", {}, { VERSION: "v2" });
  assert.equal(await response.text(), "ok /v2/people/7");
  assert.equal(g.seen[0]!.request.url, "http://10.0.0.1:8080/v2/people/7?q=1");
});

Deno.test("serviceProxy removes hop-by-hop headers and Host both ways and keeps the others", async () => {
  using g = gateway(["10.0.0.1:8080"], () =>
    new Response("gzip-decoded body", {
      headers: {
        "connection": "close",
        "keep-alive": "timeout=5",
        "content-encoding": "gzip",
        "x-upstream": "1",
        "set-cookie": "a=b",
      },
    }));
  await g.endpointer.ready();
  const response = await g.app.request("/api/x", {
    headers: {
      host: "gateway.example",
      connection: "keep-alive",
      "keep-alive": "timeout=5",
      te: "trailers",
      upgrade: "websocket",
      "proxy-authorization": "Basic c2VjcmV0",
      "accept-encoding": "br",
      authorization: "Bearer token",
      "x-request-id": "abc",
    },
  });
  const sent = g.seen[0]!.request.headers;
  for (const name of ["host", "connection", "keep-alive", "te", "upgrade", "proxy-authorization"]) {
    assert.equal(sent.get(name), null, name);
  }
  // Hono's proxy leaves Accept-Encoding to the runtime's fetch, which decodes what it asked for.
  assert.equal(sent.get("accept-encoding"), null);
  assert.equal(sent.get("authorization"), "Bearer token");
  assert.equal(sent.get("x-request-id"), "abc");
  assert.equal(response.headers.get("connection"), null);
  assert.equal(response.headers.get("keep-alive"), null);
  assert.equal(response.headers.get("content-encoding"), null);
  assert.equal(response.headers.get("x-upstream"), "1");
  assert.equal(response.headers.get("set-cookie"), "a=b");
});

Deno.test("serviceProxy sets X-Forwarded-* and drops forged ones by default", async () => {
  using g = gateway(["10.0.0.1:8080"], ok);
  await g.endpointer.ready();
  await g.app.request("https://gateway.example/api/x", {
    headers: {
      "x-forwarded-for": "198.51.100.1",
      "x-forwarded-host": "forged.example",
      "x-forwarded-proto": "http",
      forwarded: "for=198.51.100.1",
    },
  }, DENO_INFO);
  const sent = g.seen[0]!.request.headers;
  assert.equal(sent.get("x-forwarded-for"), "203.0.113.7");
  assert.equal(sent.get("x-forwarded-host"), "gateway.example");
  assert.equal(sent.get("x-forwarded-proto"), "https");
  assert.equal(sent.get("forwarded"), null);
});

Deno.test("serviceProxy finds the client address on each runtime, or leaves X-Forwarded-For out", async () => {
  using g = gateway(["10.0.0.1:8080"], ok);
  await g.endpointer.ready();
  const bun = { requestIP: (_: Request) => ({ address: "192.0.2.1", port: 1, family: "IPv4" }) };
  const node = { incoming: { socket: { remoteAddress: "192.0.2.2" } } };
  await g.app.request("/api/x", {}, bun);
  await g.app.request("/api/x", {}, node);
  await g.app.request("/api/x", { headers: { "cf-connecting-ip": "192.0.2.3" } }, {});
  await g.app.request("/api/x", { headers: { "x-forwarded-for": "198.51.100.1" } });
  assert.deepEqual(g.seen.map((s) => s.request.headers.get("x-forwarded-for")), [
    "192.0.2.1",
    "192.0.2.2",
    "192.0.2.3",
    null,
  ]);
});

Deno.test("serviceProxy appends to X-Forwarded-For behind a trusted proxy, or leaves the headers alone", async () => {
  const incoming = {
    "x-forwarded-for": "198.51.100.1",
    "x-forwarded-host": "public.example",
    "x-forwarded-proto": "https",
  };
  {
    using g = gateway(["10.0.0.1:8080"], ok, { forwarded: "append", clientAddress: () => "10.1.1.1" });
    await g.endpointer.ready();
    await g.app.request("http://lb.internal/api/x", { headers: incoming });
    const sent = g.seen[0]!.request.headers;
    assert.equal(sent.get("x-forwarded-for"), "198.51.100.1, 10.1.1.1");
    assert.equal(sent.get("x-forwarded-host"), "public.example");
    assert.equal(sent.get("x-forwarded-proto"), "https");
  }
  {
    using g = gateway(["10.0.0.1:8080"], ok, { forwarded: false });
    await g.endpointer.ready();
    await g.app.request("http://lb.internal/api/x", { headers: { "x-forwarded-for": "forged" } }, DENO_INFO);
    const sent = g.seen[0]!.request.headers;
    assert.equal(sent.get("x-forwarded-for"), "forged");
    assert.equal(sent.get("x-forwarded-host"), null);
  }
});

Deno.test("serviceProxy answers 503 problem+json when there is no instance", async () => {
  using g = gateway([], ok);
  await g.endpointer.ready();
  const response = await g.app.request("/api/x");
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("retry-after"), "1");
  assert.deepEqual(await problem(response), {
    type: "about:blank",
    title: "Service Unavailable",
    status: 503,
    detail: "No instance of the service is available",
    code: "ERR_NO_ENDPOINTS",
  });
});

Deno.test("serviceProxy answers 502 when every attempt failed, naming no address unless asked", async () => {
  const refused: Upstream = (_, instance) => {
    throw new TypeError(`error trying to connect: ${instance}: Connection refused`);
  };
  for (const exposeErrors of [false, true]) {
    using g = gateway(["10.0.0.1:8080", "10.0.0.2:8080"], refused, { attempts: 3, exposeErrors });
    await g.endpointer.ready();
    const response = await g.app.request("/api/x");
    assert.equal(response.status, 502);
    assert.equal(g.seen.length, 3);
    const body = await problem(response);
    assert.equal(body.title, "Bad Gateway");
    assert.equal(body.code, "ERR_RETRY_EXHAUSTED");
    const text = JSON.stringify(body);
    if (exposeErrors) {
      assert.match(
        String(body.detail),
        /^3 attempts to reach the service failed: RetryError: .*10\.0\.0\.2:8080/,
      );
    } else {
      assert.equal(body.detail, "3 attempts to reach the service failed");
      assert.doesNotMatch(text, /10\.0\.0\./);
    }
  }
});

Deno.test("serviceProxy retries on another instance within its attempts, once for POST", async () => {
  const firstDown: Upstream = (request, instance) => {
    if (instance === "10.0.0.1:8080") throw new TypeError("Connection refused");
    return ok(request, instance);
  };
  {
    using g = gateway(["10.0.0.1:8080", "10.0.0.2:8080"], firstDown, { attempts: 2 });
    await g.endpointer.ready();
    assert.equal((await g.app.request("/api/x")).status, 200);
    assert.deepEqual(g.seen.map((s) => s.instance), ["10.0.0.1:8080", "10.0.0.2:8080"]);
    // Not idempotent: one attempt only, unless retryNonIdempotent.
    const posts = [];
    for (let i = 0; i < 2; i++) {
      posts.push((await g.app.request("/api/x", { method: "POST", body: "x" })).status);
    }
    assert.deepEqual(posts.sort(), [200, 502]);
    assert.equal(g.seen.length, 4);
  }
  {
    using g = gateway(["10.0.0.1:8080", "10.0.0.2:8080"], firstDown, {
      attempts: 2,
      retryNonIdempotent: true,
    });
    await g.endpointer.ready();
    const response = await g.app.request("/api/x", { method: "POST", body: "twice" });
    assert.equal(response.status, 200);
    assert.deepEqual(await Promise.all(g.seen.map((s) => s.request.text())), ["twice", "twice"]);
  }
});

Deno.test("serviceProxy passes on the last instance's own answer when every attempt got a retryable status", async () => {
  using g = gateway(
    ["10.0.0.1:8080"],
    () => new Response("busy", { status: 503, headers: { "retry-after": "9" } }),
    {
      attempts: 2,
    },
  );
  await g.endpointer.ready();
  const response = await g.app.request("/api/x");
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("retry-after"), "9");
  assert.equal(await response.text(), "busy");
  assert.equal(g.seen.length, 2);
});

Deno.test("serviceProxy answers 504 at the route's deadline and when attempts time out", async () => {
  const hang: Upstream = (request) =>
    new Promise((_, reject) => request.signal.addEventListener("abort", () => reject(request.signal.reason)));
  const clock = fakeTime();
  try {
    {
      using g = gateway(["10.0.0.1:8080"], hang, { timeout: 1_000 });
      await g.endpointer.ready();
      const pending = g.app.request("/api/x");
      await clock.tickAsync(1_000);
      const response = await pending;
      assert.equal(response.status, 504);
      assert.deepEqual(await problem(response), {
        type: "about:blank",
        title: "Gateway Timeout",
        status: 504,
        detail: "The service did not answer in time",
        code: "ERR_DEADLINE_EXCEEDED",
      });
    }
    {
      using g = gateway(["10.0.0.1:8080", "10.0.0.2:8080"], hang, { attempts: 2, attemptTimeout: 100 });
      await g.endpointer.ready();
      const pending = g.app.request("/api/x");
      await clock.tickAsync(200);
      const response = await pending;
      assert.equal(response.status, 504);
      assert.equal(g.seen.length, 2);
      assert.equal((await problem(response)).code, "ERR_DEADLINE_EXCEEDED");
    }
  } finally {
    clock.uninstall();
  }
});

Deno.test("serviceProxy streams the response body as the instance sends it", async () => {
  let push!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) });
  using g = gateway(["10.0.0.1:8080"], () => new Response(body));
  await g.endpointer.ready();
  const response = await g.app.request("/api/events");
  const reader = response.body!.getReader();
  push.enqueue(new TextEncoder().encode("first"));
  assert.equal(new TextDecoder().decode((await reader.read()).value), "first");
  push.enqueue(new TextEncoder().encode("second"));
  assert.equal(new TextDecoder().decode((await reader.read()).value), "second");
  push.close();
  assert.equal((await reader.read()).done, true);
});

Deno.test("serviceProxy forwards a streamed request body", async () => {
  using g = gateway(["10.0.0.1:8080"], async (request) => new Response(await request.text()));
  await g.endpointer.ready();
  const chunks = ["a", "b", "c"];
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(new TextEncoder().encode(next));
    },
  });
  const response = await g.app.request("/api/upload", { method: "PUT", body, duplex: "half" } as RequestInit);
  assert.equal(await response.text(), "abc");
});

Deno.test("serviceProxy in pull mode refreshes with the request's signal and the Worker's waitUntil", async () => {
  const calls: RefreshOptions[] = [];
  const pull: Refreshable = {
    refresh: (options = {}) => {
      calls.push(options);
      return Promise.resolve({ source: "fresh", lookups: 0, age: 0 });
    },
  };
  using g = gateway(["10.0.0.1:8080"], ok, { pull });
  await g.endpointer.ready();
  const waited: Promise<unknown>[] = [];
  const executionCtx = {
    waitUntil: (p: Promise<unknown>) => void waited.push(p),
    passThroughOnException() {},
    props: {},
  };
  assert.equal((await g.app.request("/api/x", {}, {}, executionCtx)).status, 200);
  // Outside Workers c.executionCtx throws: no waitUntil then.
  assert.equal((await g.app.request("/api/x")).status, 200);
  assert.equal(calls.length, 2);
  assert.ok(calls[0]!.signal instanceof AbortSignal);
  const marker = Promise.resolve("bg");
  calls[0]!.waitUntil!(marker);
  assert.deepEqual(waited, [marker]);
  assert.equal(calls[1]!.waitUntil, undefined);
  assert.ok(calls[1]!.signal instanceof AbortSignal);
});

Deno.test("serviceProxy in pull mode answers 503 when the refresh fails, and forwards after recovery", async () => {
  let down = true;
  const lookup = () =>
    down
      ? Promise.reject(new TypeError("connect 10.9.9.9:8500 refused"))
      : Promise.resolve({ instances: ["10.0.0.1:8080"] });
  using instancer = new PullInstancer(lookup, { backoff: { initial: 1, max: 1 } });
  const factory = httpFactory({ fetch: (input) => ok(new Request(input), "") as Promise<Response> });
  using endpointer = new DefaultEndpointer(instancer, factory, { invalidateAfter: 0 });
  const app = new Hono();
  app.all(
    "/api/*",
    serviceProxy(new RoundRobinBalancer(endpointer), { pull: instancer, stripPrefix: "/api" }),
  );
  const failed = await app.request("/api/x");
  assert.equal(failed.status, 503);
  const body = await problem(failed);
  assert.equal(body.detail, "Service discovery failed");
  assert.doesNotMatch(JSON.stringify(body), /10\.9\.9\.9/);
  down = false;
  await new Promise((r) => setTimeout(r, 5));
  const response = await app.request("/api/x");
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "ok /x");
});

Deno.test("serviceProxy in watch mode waits for the first discovery, and answers 503 at once on its error", async () => {
  {
    const cache = new InstanceCache();
    using endpointer = new DefaultEndpointer(
      cache,
      httpFactory({ fetch: (input) => ok(new Request(input), "") as Promise<Response> }),
    );
    const app = new Hono();
    app.all("/*", serviceProxy(new RoundRobinBalancer(endpointer), { endpointer }));
    const pending = app.request("/x");
    cache.update({ instances: ["10.0.0.1:8080"] });
    assert.equal(await (await pending).text(), "ok /x");
    cache.stop();
  }
  {
    const cache = new InstanceCache();
    using endpointer = new DefaultEndpointer(cache, httpFactory(), { invalidateAfter: 0 });
    const app = new Hono();
    app.all("/*", serviceProxy(new RoundRobinBalancer(endpointer), { endpointer, readyTimeout: 60_000 }));
    const pending = app.request("/x");
    cache.update({ error: new Error("consul 10.9.9.9:8500 unreachable") });
    const response = await pending;
    assert.equal(response.status, 503);
    assert.equal((await problem(response)).detail, "Service discovery failed");
    cache.stop();
  }
});

Deno.test("serviceProxy answers 499 with no body when the client goes away", async () => {
  const hang: Upstream = (request) =>
    new Promise((_, reject) => request.signal.addEventListener("abort", () => reject(request.signal.reason)));
  using g = gateway(["10.0.0.1:8080"], hang);
  await g.endpointer.ready();
  const client = new AbortController();
  const pending = g.app.request("/api/x", { signal: client.signal });
  while (g.seen.length === 0) await new Promise((r) => setTimeout(r, 1));
  client.abort();
  const response = await pending;
  assert.equal(response.status, 499);
  assert.equal(response.body, null);
});

Deno.test("serviceProxy rejects invalid options with the bad value", () => {
  using endpointer = new DefaultEndpointer(new FixedInstancer([]), httpFactory());
  const balancer = new RoundRobinBalancer(endpointer);
  assert.throws(
    () => serviceProxy(balancer, { stripPrefix: "api" }),
    /stripPrefix must start with "\/", got "api"/,
  );
  assert.throws(
    () => serviceProxy(balancer, { forwarded: "yes" as "set" }),
    /forwarded must be "set", "append" or false, got "yes"/,
  );
  assert.throws(() => serviceProxy(balancer, { attempts: 0 }), RangeError);
  assert.throws(() => serviceProxy(balancer, { rewrite: 1 as unknown as () => string }), TypeError);
  assert.throws(() => serviceProxy(balancer, { readyTimeout: -1 }), RangeError);
});

Deno.test("serviceProxy reports each attempt's outcome to a balancer that learns from them", async () => {
  using g = gateway(["10.0.0.1:8080"], ok);
  await g.endpointer.ready();
  const inner = new RoundRobinBalancer(g.endpointer);
  const outcomes: string[] = [];
  const learning: Balancer<Request, Response> = {
    endpoint: (exclude) => inner.endpoint(exclude),
    begin: () => ({ end: (outcome) => void outcomes.push(outcome) }),
  };
  const app = new Hono();
  app.all("/*", serviceProxy(learning));
  assert.equal((await app.request("/x")).status, 200);
  assert.deepEqual(outcomes, ["success"]);
});
