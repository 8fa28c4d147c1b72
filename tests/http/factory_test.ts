import { assert, fakeTime } from "../_deps.ts";
import { type FetchFunction, httpFactory, type HttpFactoryOptions } from "../../src/http/factory.ts";

interface Seen {
  method: string;
  path: string;
  search: string;
  trace: string | null;
  type: string | null;
  body: string;
}

/** Echoes what it received as JSON. */
async function echo(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const seen: Seen = {
    method: request.method,
    path: url.pathname,
    search: url.search,
    trace: request.headers.get("x-trace"),
    type: request.headers.get("content-type"),
    body: await request.text(),
  };
  return Response.json(seen);
}

/** Runs `fn` against a real server on loopback, given its instance string; shuts it down after. */
async function withServer(
  handler: (request: Request) => Response | Promise<Response>,
  fn: (instance: string) => Promise<void>,
  hostname = "127.0.0.1",
): Promise<void> {
  const server = Deno.serve({ hostname, port: 0, onListen() {} }, handler);
  try {
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    await fn(`${host}:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

async function send(instance: string, request: Request, options: HttpFactoryOptions = {}): Promise<Seen> {
  const { endpoint } = httpFactory(options)(instance, {});
  const response = await endpoint(request);
  assert.equal(response.status, 200);
  return await response.json();
}

/** A fetch that records its calls and answers 200 "ok". */
function recordingFetch(): { fetch: FetchFunction; calls: { url: string; init: RequestInit }[] } {
  const calls: { url: string; init: RequestInit }[] = [];
  return {
    calls,
    fetch: (input, init) => {
      calls.push({ url: String(input), init: init ?? {} });
      return Promise.resolve(new Response("ok"));
    },
  };
}

Deno.test("httpFactory joins the path prefix to the request path and keeps the query", async () => {
  await withServer(echo, async (instance) => {
    const request = new Request("http://ignored.invalid/users/1?x=2&y=a%20b");
    const prefixed = await send(instance, request, { pathPrefix: "/api/v2/" });
    assert.equal(prefixed.path, "/api/v2/users/1");
    assert.equal(prefixed.search, "?x=2&y=a%20b");
    const plain = await send(instance, request);
    assert.equal(plain.path, "/users/1");
    const root = await send(instance, new Request("http://ignored.invalid/"), { pathPrefix: "/api" });
    assert.equal(root.path, "/api/");
    assert.equal(root.search, "");
  });
});

Deno.test("httpFactory carries the method, headers and body to the instance", async () => {
  await withServer(echo, async (instance) => {
    const seen = await send(
      instance,
      new Request("http://ignored.invalid/items/7", {
        method: "PUT",
        headers: { "x-trace": "abc-123", "content-type": "text/plain;charset=utf-8" },
        body: "hello world",
      }),
    );
    assert.deepStrictEqual(seen, {
      method: "PUT",
      path: "/items/7",
      search: "",
      trace: "abc-123",
      type: "text/plain;charset=utf-8",
      body: "hello world",
    });
  });
});

Deno.test("httpFactory endpoints never consume the caller's Request, so a POST body can be sent twice", async () => {
  await withServer(echo, async (first) => {
    await withServer(echo, async (second) => {
      const factory = httpFactory();
      const a = factory(first, {}).endpoint;
      const b = factory(second, {}).endpoint;
      const request = new Request("http://ignored.invalid/orders", { method: "POST", body: "payload" });
      for (const endpoint of [a, a, b]) {
        const response = await endpoint(request);
        const seen: Seen = await response.json();
        assert.equal(seen.method, "POST");
        assert.equal(seen.body, "payload");
      }
      assert.equal(request.bodyUsed, false);
      assert.equal(await request.text(), "payload");
    });
  });
});

Deno.test("httpFactory replays a streamed request body on every send", async () => {
  await withServer(echo, async (instance) => {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("chunk-1 "));
        controller.enqueue(new TextEncoder().encode("chunk-2"));
        controller.close();
      },
    });
    const request = new Request("http://ignored.invalid/upload", {
      method: "POST",
      body: stream,
      duplex: "half",
    } as RequestInit);
    assert.equal((await send(instance, request)).body, "chunk-1 chunk-2");
    assert.equal((await send(instance, request)).body, "chunk-1 chunk-2");
  });
});

async function ipv6Unavailable(): Promise<string | undefined> {
  const permission = await Deno.permissions.query({ name: "net", host: "[::1]" });
  if (permission.state !== "granted") return "no permission for [::1] (run with --allow-net=127.0.0.1,[::1])";
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
  } catch (error) {
    return `this machine cannot listen on ::1 (${(error as Error).message})`;
  }
  return undefined;
}

const noV6 = await ipv6Unavailable();
if (noV6 === undefined) {
  Deno.test("httpFactory reaches a real IPv6 instance written [::1]:port", async () => {
    await withServer(echo, async (instance) => {
      assert.match(instance, /^\[::1\]:\d+$/);
      const seen = await send(instance, new Request("http://ignored.invalid/v6?q=1"));
      assert.equal(seen.path, "/v6");
      assert.equal(seen.search, "?q=1");
    }, "::1");
  });
} else {
  Deno.test({
    name: `httpFactory reaches a real IPv6 instance written [::1]:port (skipped: ${noV6})`,
    ignore: true,
    fn() {},
  });
}

Deno.test("httpFactory targets IPv6 instances and the https scheme in the URL it fetches", async () => {
  const { fetch, calls } = recordingFetch();
  const factory = httpFactory({ fetch, scheme: "https", pathPrefix: "/p" });
  const response = await factory("[2001:db8::1]:8443", {}).endpoint(new Request("http://x/a?b=c"));
  await response.body?.cancel();
  assert.equal(calls[0]!.url, "https://[2001:db8::1]:8443/p/a?b=c");
});

Deno.test("httpFactory carries the redirect mode and sends no body for a GET", async () => {
  const { fetch, calls } = recordingFetch();
  const { endpoint } = httpFactory({ fetch })("10.0.0.1:80", {});
  const response = await endpoint(new Request("http://x/", { redirect: "manual" }));
  await response.body?.cancel();
  assert.equal(calls[0]!.init.redirect, "manual");
  assert.equal(calls[0]!.init.method, "GET");
  assert.equal(calls[0]!.init.body ?? null, null);
  // No header timeout by default (as fetch has none), so no signal of its own.
  assert.equal(calls[0]!.init.signal, undefined);
});

Deno.test("httpFactory with a header timeout gives fetch a signal, and without one passes the caller's as it is", async () => {
  const { fetch, calls } = recordingFetch();
  const timed = httpFactory({ fetch, timeout: 1000 })("10.0.0.1:80", {}).endpoint;
  await (await timed(new Request("http://x/"))).body?.cancel();
  assert.ok(calls[0]!.init.signal instanceof AbortSignal);
  const caller = new AbortController().signal;
  const plain = httpFactory({ fetch })("10.0.0.1:80", {}).endpoint;
  await (await plain(new Request("http://x/"), { signal: caller })).body?.cancel();
  assert.equal(calls[1]!.init.signal, caller);
});

Deno.test("httpFactory turns a custom fetch that throws or returns a bare Response into a promise", async () => {
  const throwing = httpFactory({
    fetch: () => {
      throw new TypeError("Illegal invocation");
    },
  })("10.0.0.1:80", {}).endpoint;
  const pending = throwing(new Request("http://x/"));
  assert.ok(pending instanceof Promise);
  await assert.rejects(pending, /Illegal invocation/);
  const bare = httpFactory({ fetch: () => new Response("ok") as unknown as Promise<Response> })(
    "10.0.0.1:80",
    {},
  ).endpoint;
  assert.equal(await (await bare(new Request("http://x/"))).text(), "ok");
});

Deno.test("httpFactory rejects an instance that is not host:port with a TypeError quoting it", () => {
  const factory = httpFactory();
  for (const bad of ["", "host:80/path", "user@host:80", "host:99999", "host:80?q=1", "a b:80", "[::1"]) {
    assert.throws(
      () => factory(bad, {}),
      (error: unknown) =>
        error instanceof TypeError &&
        error.message === `Instance ${JSON.stringify(bad)} is not a valid host:port`,
      bad,
    );
  }
  // These are fine.
  for (const good of ["10.0.0.1:8080", "service.local:80", "[::1]:9000", "example.com"]) factory(good, {});
});

Deno.test("httpFactory rejects bad options, naming the value", () => {
  const cases: [HttpFactoryOptions, typeof TypeError | typeof RangeError, RegExp][] = [
    [{ scheme: "ftp" as "http" }, TypeError, /^options\.scheme must be "http" or "https", got "ftp"$/],
    [{ pathPrefix: "api" }, TypeError, /^options\.pathPrefix must start with "\/", got "api"$/],
    [{ pathPrefix: 5 as unknown as string }, TypeError, /^options\.pathPrefix must start with "\/", got 5$/],
    [
      { fetch: "fetch" as unknown as FetchFunction },
      TypeError,
      /^options\.fetch must be a function, got "fetch"$/,
    ],
    [{ timeout: -1 }, RangeError, /^options\.timeout .*got -1$/],
    [{ timeout: NaN }, TypeError, /^options\.timeout must be a number, got NaN$/],
  ];
  for (const [options, ErrorClass, message] of cases) {
    assert.throws(
      () => httpFactory(options),
      (error: unknown) => error instanceof ErrorClass && message.test(error.message),
      Deno.inspect(options),
    );
  }
});

Deno.test("httpFactory fails an attempt with a TimeoutError when headers do not arrive in time", async () => {
  const clock = fakeTime(0);
  try {
    let seen: AbortSignal | undefined;
    const fetch: FetchFunction = (_input, init) =>
      new Promise((_resolve, reject) => {
        seen = init!.signal!;
        seen.addEventListener("abort", () => reject(seen!.reason), { once: true });
      });
    const { endpoint } = httpFactory({ fetch, timeout: 500 })("10.0.0.1:80", {});
    // A caller signal that never aborts: the timeout still applies.
    const outcome = endpoint(new Request("http://x/slow"), { signal: new AbortController().signal })
      .catch((error) => error);
    await clock.tickAsync(499);
    assert.equal(seen!.aborted, false);
    await clock.tickAsync(1);
    const error = await outcome;
    assert.ok(error instanceof DOMException);
    assert.equal(error.name, "TimeoutError");
    assert.equal(error.message, "Timed out after 500 ms");
    assert.equal(clock.countTimers(), 0);
  } finally {
    clock.uninstall();
  }
});

Deno.test("httpFactory clears its header timer once the response arrives", async () => {
  const clock = fakeTime(0);
  try {
    let seen: AbortSignal | undefined;
    const fetch: FetchFunction = (_input, init) => {
      seen = init!.signal!;
      return new Promise((resolve) => setTimeout(() => resolve(new Response("ok")), 100));
    };
    const { endpoint } = httpFactory({ fetch, timeout: 500 })("10.0.0.1:80", {});
    const pending = endpoint(new Request("http://x/"));
    await clock.tickAsync(100);
    const response = await pending;
    assert.equal(clock.countTimers(), 0);
    await clock.tickAsync(1000);
    assert.equal(seen!.aborted, false);
    assert.equal(await response.text(), "ok");
  } finally {
    clock.uninstall();
  }
});

Deno.test("httpFactory rejects with the caller's reason when the caller aborts before the response", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let arrived!: () => void;
  const requestArrived = new Promise<void>((resolve) => arrived = resolve);
  await withServer(async () => {
    arrived();
    await gate;
    return new Response("too late");
  }, async (instance) => {
    // Should the abort not work, the server answers after 2 s and the assertion below fails.
    const failsafe = setTimeout(release, 2000);
    try {
      const { endpoint } = httpFactory()(instance, {});
      const controller = new AbortController();
      const pending = endpoint(new Request("http://x/wait"), { signal: controller.signal }).catch((e) => e);
      await requestArrived;
      const reason = new Error("caller gave up");
      controller.abort(reason);
      assert.equal(await pending, reason);
    } finally {
      clearTimeout(failsafe);
      release();
    }
  });
});

Deno.test("httpFactory lets the caller's signal abort reading the body after the headers", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  await withServer(() => {
    const body = new ReadableStream<Uint8Array>({
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
    });
    return new Response(body);
  }, async (instance) => {
    // Should the abort not reach the body, the server sends "tail" after 2 s and the assertion fails.
    const failsafe = setTimeout(release, 2000);
    try {
      const { endpoint } = httpFactory()(instance, {});
      const controller = new AbortController();
      const response = await endpoint(new Request("http://x/stream"), { signal: controller.signal });
      const reader = response.body!.getReader();
      const first = await reader.read();
      assert.equal(new TextDecoder().decode(first.value), "head");
      const reason = new Error("stop reading");
      controller.abort(reason);
      // The server still holds "tail" back: only the abort can end this read.
      const next = await reader.read().then(() => "read more", (error) => error);
      assert.equal(next, reason);
    } finally {
      clearTimeout(failsafe);
      release();
    }
  });
});
