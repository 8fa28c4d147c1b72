import { assert } from "../_deps.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import { RetryError } from "../../src/errors.ts";
import { FixedEndpointer, FixedInstancer } from "../../src/fixed.ts";
import { balancedFetch, type BalancedFetchOptions } from "../../src/http/balanced_fetch.ts";
import { type FetchFunction, httpFactory } from "../../src/http/factory.ts";
import type { Balancer } from "../../src/lb/balancer.ts";
import { RoundRobinBalancer } from "../../src/lb/round_robin.ts";

interface Backend {
  /** "b0", "b1", "b2" in the order round robin visits them (sorted by instance string). */
  name: string;
  instance: string;
  /** "METHOD /path?query body" per request received. */
  hits: string[];
  shutdown(): Promise<void>;
}

/** Answers a request, given the backend's name and the request body already read as text. */
type Handler = (request: Request, name: string, body: string) => Response | Promise<Response>;

/** The default answer: 200 naming the backend, the method, the path and query, and the body. */
function hello(request: Request, name: string, body: string): Response {
  const url = new URL(request.url);
  return new Response(`${name} ${request.method} ${url.pathname}${url.search} ${body}`.trim());
}

/**
 * Starts one real loopback server per handler behind FixedInstancer + DefaultEndpointer + httpFactory,
 * runs `fn` with them and a new round-robin balancer factory, then shuts everything down.
 */
async function withBackends(
  handlers: Handler[],
  fn: (
    backends: Backend[],
    balancer: () => Balancer<Request, Response>,
    responses: Response[],
  ) => Promise<void>,
): Promise<void> {
  type Entry = { server: Deno.HttpServer<Deno.NetAddr>; instance: string; handler: Handler; hits: string[] };
  const servers: Entry[] = [];
  try {
    for (const handler of handlers) {
      const hits: string[] = [];
      const entry: Entry = { handler, hits, instance: "", server: undefined as unknown as Entry["server"] };
      entry.server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
        const url = new URL(request.url);
        const body = await request.text();
        hits.push(`${request.method} ${url.pathname}${url.search} ${body}`.trim());
        return await entry.handler(request, entry.instance, body);
      });
      entry.instance = `127.0.0.1:${entry.server.addr.port}`;
      servers.push(entry);
    }
    // Name backends in the order the endpointer sorts their instances.
    const sorted = [...servers].sort((a, b) => (a.instance < b.instance ? -1 : 1));
    const names = new Map(sorted.map((s, i) => [s.instance, `b${i}`]));
    const backends: Backend[] = sorted.map((s) => {
      let closed: Promise<void> | undefined;
      return {
        name: names.get(s.instance)!,
        instance: s.instance,
        hits: s.hits,
        shutdown: () => closed ??= s.server.shutdown(),
      };
    });
    // Handlers see the backend's name rather than its address.
    for (const s of servers) {
      const handler = s.handler;
      const name = names.get(s.instance)!;
      s.handler = (request, _instance, body) => handler(request, name, body);
    }
    // Real fetch, watched: every response the endpoints receive, in order.
    const responses: Response[] = [];
    const fetchAndRecord: FetchFunction = async (input, init) => {
      const response = await fetch(input, init);
      responses.push(response);
      return response;
    };
    using endpointer = new DefaultEndpointer(
      new FixedInstancer(servers.map((s) => s.instance)),
      httpFactory({ fetch: fetchAndRecord }),
    );
    await endpointer.ready();
    try {
      await fn(backends, () => new RoundRobinBalancer(endpointer), responses);
    } finally {
      for (const b of backends) await b.shutdown();
    }
  } finally {
    for (const s of servers) await s.server.shutdown();
  }
}

const fast: BalancedFetchOptions = { backoff: false };

Deno.test("balancedFetch spreads requests over three real servers in turn", async () => {
  await withBackends([hello, hello, hello], async (backends, balancer) => {
    const api = balancedFetch(balancer(), fast);
    const answers: string[] = [];
    for (let i = 0; i < 9; i++) answers.push(await (await api(`/items/${i}`)).text());
    assert.deepStrictEqual(answers, Array.from({ length: 9 }, (_, i) => `b${i % 3} GET /items/${i}`));
    for (const b of backends) assert.equal(b.hits.length, 3);
  });
});

Deno.test("balancedFetch loses no request when a server goes away mid-way", async () => {
  await withBackends([hello, hello, hello], async (backends, balancer) => {
    const api = balancedFetch(balancer(), fast);
    for (let i = 0; i < 3; i++) assert.equal(await (await api("/before")).text(), `b${i} GET /before`);
    await backends[1]!.shutdown();
    const answers: string[] = [];
    for (let i = 0; i < 8; i++) {
      const response = await api("/after");
      assert.equal(response.status, 200);
      answers.push((await response.text()).split(" ")[0]!);
    }
    // b1's turns are retried on the next backend not tried: b2.
    assert.deepStrictEqual(answers, ["b0", "b2", "b0", "b2", "b0", "b2", "b0", "b2"]);
    assert.equal(backends[1]!.hits.length, 1);
  });
});

Deno.test("balancedFetch retries a 503 on another server and releases the 503's body", async () => {
  const b0Down: Handler = (request, name, body) =>
    name === "b0" ? new Response("b0 unavailable", { status: 503 }) : hello(request, name, body);
  await withBackends([b0Down, b0Down, b0Down], async (backends, balancer, responses) => {
    const api = balancedFetch(balancer(), fast);
    const answers: string[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await api("/x");
      assert.equal(response.status, 200);
      answers.push((await response.text()).split(" ")[0]!);
    }
    assert.deepStrictEqual(answers, ["b1", "b2", "b1", "b2"]);
    assert.equal(backends[0]!.hits.length, 2);
    // Both 503s were dropped with their bodies cancelled (a cancelled body counts as used).
    assert.deepStrictEqual(responses.map((r) => [r.status, r.bodyUsed]), [
      [503, true],
      [200, true],
      [200, true],
      [503, true],
      [200, true],
      [200, true],
    ]);
  });
});

Deno.test("balancedFetch returns the last 503 when every server answers 503", async () => {
  const unavailable: Handler = (_request, name) => new Response(`${name} unavailable`, { status: 503 });
  await withBackends([unavailable, unavailable, unavailable], async (backends, balancer) => {
    const response = await balancedFetch(balancer(), fast)("/x");
    assert.equal(response.status, 503);
    assert.equal(await response.text(), "b2 unavailable");
    for (const b of backends) assert.deepStrictEqual(b.hits, ["GET /x"]);
  });
});

Deno.test("balancedFetch sends a POST once by default and retries it only with retryNonIdempotent", async () => {
  const firstDown: Handler = (request, name, body) =>
    name === "b0" ? new Response("down", { status: 503 }) : hello(request, name, body);
  await withBackends([firstDown, firstDown, firstDown], async (backends, balancer) => {
    const once = await balancedFetch(balancer(), fast)("/orders", { method: "POST", body: "order-1" });
    assert.equal(once.status, 503);
    assert.equal(await once.text(), "down");
    assert.deepStrictEqual(backends.map((b) => b.hits), [["POST /orders order-1"], [], []]);
    const retried = await balancedFetch(balancer(), { ...fast, retryNonIdempotent: true })("/orders", {
      method: "POST",
      body: "order-2",
    });
    assert.equal(await retried.text(), "b1 POST /orders order-2");
    // The body was replayed to the second server.
    assert.deepStrictEqual(backends.map((b) => b.hits), [
      ["POST /orders order-1", "POST /orders order-2"],
      ["POST /orders order-2"],
      [],
    ]);
  });
});

Deno.test("balancedFetch retries idempotent methods but not PATCH", async () => {
  const calls: string[] = [];
  const fetch: FetchFunction = (input, init) => {
    calls.push(`${init?.method} ${new URL(String(input)).host}`);
    return Promise.resolve(new Response(null, { status: 502 }));
  };
  using endpointer = new DefaultEndpointer(new FixedInstancer(["h1:80", "h2:80"]), httpFactory({ fetch }));
  await endpointer.ready();
  const api = balancedFetch(new RoundRobinBalancer(endpointer), { ...fast, attempts: 2 });
  for (const method of ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"]) {
    calls.length = 0;
    const response = await api("/r", { method });
    assert.equal(response.status, 502);
    assert.equal(calls.length, method === "PATCH" ? 1 : 2, method);
  }
});

Deno.test("balancedFetch accepts a relative path, an absolute URL, a URL object and a Request", async () => {
  await withBackends([hello], async (_backends, balancer) => {
    const api = balancedFetch(balancer(), fast);
    const text = async (response: Promise<Response>) => await (await response).text();
    assert.equal(await text(api("/users/1?full=1")), "b0 GET /users/1?full=1");
    // The origin is ignored: only the path and query matter.
    assert.equal(await text(api("http://payments.invalid/users/2?x=y")), "b0 GET /users/2?x=y");
    assert.equal(await text(api(new URL("https://other.invalid:9/users/3"))), "b0 GET /users/3");
    const request = new Request("http://any.invalid/users/4", { method: "PUT", body: "put-body" });
    assert.equal(await text(api(request)), "b0 PUT /users/4 put-body");
    // A Request plus init: init wins where it says something, as with fetch.
    assert.equal(await text(api(request, { method: "DELETE" })), "b0 DELETE /users/4 put-body");
    assert.equal(await text(api("relative/path")), "b0 GET /relative/path");
  });
});

Deno.test("balancedFetch rejects with the abort reason of an already aborted init.signal", async () => {
  await withBackends([hello], async (backends, balancer) => {
    const reason = new Error("not needed any more");
    const error = await balancedFetch(balancer(), fast)("/x", { signal: AbortSignal.abort(reason) })
      .catch((e) => e);
    assert.equal(error, reason);
    assert.equal(backends[0]!.hits.length, 0);
  });
});

Deno.test("balancedFetch rejects with the abort reason when init.signal aborts in flight", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let arrived!: () => void;
  const requestArrived = new Promise<void>((resolve) => arrived = resolve);
  const slow: Handler = async () => {
    arrived();
    await gate;
    return new Response("too late");
  };
  // Should the abort not work, the server answers after 2 s and the assertion fails.
  const failsafe = setTimeout(release, 2000);
  try {
    await withBackends([slow], async (backends, balancer) => {
      try {
        const controller = new AbortController();
        const pending = balancedFetch(balancer(), fast)("/x", { signal: controller.signal }).catch((e) => e);
        await requestArrived;
        const reason = new Error("user navigated away");
        controller.abort(reason);
        assert.equal(await pending, reason);
        assert.equal(backends[0]!.hits.length, 1);
      } finally {
        release();
      }
    });
  } finally {
    clearTimeout(failsafe);
  }
});

Deno.test("balancedFetch lets init.signal abort reading the body after the response arrived", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const streaming: Handler = () =>
    new Response(
      new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode("head"));
          await gate;
          try {
            controller.enqueue(new TextEncoder().encode("tail"));
            controller.close();
          } catch {
            // The client went away.
          }
        },
      }),
    );
  const failsafe = setTimeout(release, 2000);
  try {
    await withBackends([streaming], async (_backends, balancer) => {
      try {
        const controller = new AbortController();
        const response = await balancedFetch(balancer(), fast)("/stream", { signal: controller.signal });
        const reader = response.body!.getReader();
        assert.equal(new TextDecoder().decode((await reader.read()).value), "head");
        const reason = new Error("stop reading");
        controller.abort(reason);
        assert.equal(await reader.read().then(() => "read more", (error) => error), reason);
      } finally {
        release();
      }
    });
  } finally {
    clearTimeout(failsafe);
  }
});

Deno.test("balancedFetch retries only the statuses it is given and validates them", async () => {
  const statuses = [500, 503];
  const calls: number[] = [];
  const fetch: FetchFunction = () => {
    const status = statuses[calls.length % 2]!;
    calls.push(status);
    return Promise.resolve(new Response(String(status), { status }));
  };
  const { endpoint } = httpFactory({ fetch })("h:80", {});
  const api = balancedFetch(new RoundRobinBalancer(new FixedEndpointer([endpoint])), {
    ...fast,
    retryStatuses: [500],
  });
  // 500 is retried; the 503 that follows is returned as it is.
  const response = await api("/x");
  assert.equal(response.status, 503);
  assert.equal(await response.text(), "503");
  assert.deepStrictEqual(calls, [500, 503]);

  const balancer = new RoundRobinBalancer(new FixedEndpointer([endpoint]));
  for (const bad of [600, 99, 503.5, NaN, "503"]) {
    assert.throws(
      () => balancedFetch(balancer, { retryStatuses: [bad as number] }),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message === `options.retryStatuses must hold HTTP statuses, got ${String(bad)}`,
      String(bad),
    );
  }
  assert.throws(
    () => balancedFetch({} as Balancer<Request, Response>),
    /balancer must have a endpoint\(\) method/,
  );
});

Deno.test("balancedFetch cancels the body of every response it drops", async () => {
  const cancelled: string[] = [];
  let n = 0;
  const fetch: FetchFunction = () => {
    const id = `r${++n}`;
    const body = new ReadableStream({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode(id));
      },
      cancel() {
        cancelled.push(id);
      },
    });
    return Promise.resolve(new Response(body, { status: n < 3 ? 503 : 200 }));
  };
  const factory = httpFactory({ fetch });
  const endpoints = ["a:1", "b:1", "c:1"].map((i) => factory(i, {}).endpoint);
  const response = await balancedFetch(new RoundRobinBalancer(new FixedEndpointer(endpoints)), fast)("/x");
  assert.equal(response.status, 200);
  await response.body!.cancel();
  assert.deepStrictEqual(cancelled, ["r1", "r2", "r3"]);
});

Deno.test("balancedFetch rejects with a RetryError listing each network error when every attempt fails", async () => {
  const failures: TypeError[] = [];
  const fetch: FetchFunction = (input) => {
    const error = new TypeError(`connection refused: ${new URL(String(input)).host}`);
    failures.push(error);
    return Promise.reject(error);
  };
  using endpointer = new DefaultEndpointer(new FixedInstancer(["a:1", "b:1", "c:1"]), httpFactory({ fetch }));
  await endpointer.ready();
  const error = await balancedFetch(new RoundRobinBalancer(endpointer), fast)("/x").catch((e) => e);
  assert.ok(error instanceof RetryError);
  assert.equal(error.code, "ERR_RETRY_EXHAUSTED");
  assert.deepStrictEqual(error.errors, failures);
  assert.deepStrictEqual(failures.map((f) => f.message.split(": ")[1]), ["a:1", "b:1", "c:1"]);
});

Deno.test("balancedFetch rejects an input that is not a URL without calling any endpoint", async () => {
  let picked = 0;
  const api = balancedFetch({
    endpoint: () => {
      picked++;
      return () => Promise.resolve(new Response("ok"));
    },
  });
  const error = await api("http://[not-a-host/x").catch((e) => e);
  assert.ok(error instanceof TypeError);
  const badInit = await api("/x", { method: "GET", body: "not allowed" }).catch((e) => e);
  assert.ok(badInit instanceof TypeError);
  assert.equal(picked, 0);
});
