// The lean request path (#12 item 1): what balancedFetch, httpFactory and retry allocate per call, and
// that the semantics did not change with it.
import { assert, withClock } from "../_deps.ts";
import { RetryError } from "../../src/errors.ts";
import { FixedEndpointer } from "../../src/fixed.ts";
import { balancedFetch, type BalancedFetchOptions } from "../../src/http/balanced_fetch.ts";
import { type FetchFunction, httpFactory, type HttpFactoryOptions } from "../../src/http/factory.ts";
import { retry } from "../../src/lb/retry.ts";
import { RoundRobinBalancer } from "../../src/lb/round_robin.ts";
import type { Endpoint } from "../../src/types.ts";

interface Sent {
  url: string;
  init: RequestInit | undefined;
}

/** A fetch that records what it is given and answers with `answer()`. */
function recording(answer: (sent: Sent) => Promise<Response>): { fetch: FetchFunction; sent: Sent[] } {
  const sent: Sent[] = [];
  const fetch: FetchFunction = (input, init) => {
    const one = { url: String(input), init };
    sent.push(one);
    return answer(one);
  };
  return { fetch, sent };
}

function api(
  fetch: FetchFunction,
  factoryOptions: Omit<HttpFactoryOptions, "fetch"> = {},
  options: BalancedFetchOptions = {},
  instances = ["10.0.0.1:8080", "10.0.0.2:8080"],
) {
  const factory = httpFactory({ ...factoryOptions, fetch });
  const endpoints = instances.map((i) => factory(i, {}).endpoint);
  return balancedFetch(new RoundRobinBalancer(new FixedEndpointer(endpoints)), {
    backoff: false,
    ...options,
  });
}

/** An AbortSignal that counts the listeners added to it and not yet removed. */
function countedSignal(): { controller: AbortController; live: () => number } {
  const controller = new AbortController();
  const signal = controller.signal;
  const listeners = new Set<unknown>();
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  Object.assign(signal, {
    addEventListener(
      type: string,
      listener: EventListenerOrEventListenerObject,
      options?: AddEventListenerOptions,
    ) {
      listeners.add(listener);
      add(type, listener, options);
    },
    removeEventListener(type: string, listener: EventListenerOrEventListenerObject) {
      listeners.delete(listener);
      remove(type, listener);
    },
  });
  return { controller, live: () => listeners.size };
}

Deno.test("balancedFetch with no deadline and no caller signal gives fetch no signal and sets no timer", async () => {
  await withClock(async (clock) => {
    let release!: () => void;
    const { fetch, sent } = recording(() =>
      new Promise((resolve) => release = () => resolve(new Response("ok")))
    );
    // Default options on both layers: no deadline anywhere, as with fetch itself.
    const pending = api(fetch)("/users/1?x=2");
    await clock.tickAsync(0);
    assert.equal(clock.countTimers(), 0);
    // A plain GET without headers goes to fetch exactly as a raw fetch of the URL would.
    assert.deepStrictEqual(sent, [{ url: "http://10.0.0.1:8080/users/1?x=2", init: undefined }]);
    release();
    assert.equal(await (await pending).text(), "ok");
  });
});

Deno.test("balancedFetch gives fetch an init only for what a raw fetch would need one for", async () => {
  const { fetch, sent } = recording(() => Promise.resolve(new Response("ok")));
  const call = api(fetch);
  await (await call("/a", { method: "get" })).body?.cancel();
  await (await call("/b", { method: "DELETE" })).body?.cancel();
  const headers = new Headers({ "x-a": "1" });
  await (await call("/c", { headers })).body?.cancel();
  assert.deepStrictEqual(sent.map((one) => one.init), [
    undefined,
    { method: "DELETE" },
    { method: "GET", headers },
  ]);
});

Deno.test("balancedFetch with a timeout runs one timer per call (retry's deadline; httpFactory's would fire later)", async () => {
  await withClock(async (clock) => {
    const { fetch, sent } = recording(() => new Promise(() => {}));
    const outcome = api(fetch, { timeout: 30_000 }, { timeout: 10_000 })("/slow").catch((error) => error);
    await clock.tickAsync(0);
    assert.equal(clock.countTimers(), 1);
    await clock.tickAsync(10_000);
    const error = await outcome;
    assert.ok(error instanceof RetryError);
    assert.equal(error.code, "ERR_DEADLINE_EXCEEDED");
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.init!.signal!.reason, error.final);
    assert.equal((error.final as DOMException).message, "Timed out after 10000 ms");
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("balancedFetch keeps httpFactory's header timeout when it is shorter than retry's deadline", async () => {
  await withClock(async (clock) => {
    const { fetch, sent } = recording((one) =>
      new Promise((_resolve, reject) => {
        const signal = one.init!.signal!;
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      })
    );
    const outcome = api(fetch, { timeout: 500 }, { attempts: 2 })("/slow").catch((error) => error);
    await clock.tickAsync(499);
    assert.equal(sent.length, 1);
    await clock.tickAsync(1);
    await clock.tickAsync(0);
    assert.equal(sent.length, 2, "the first attempt timed out after 500 ms and the second began");
    await clock.tickAsync(500);
    const error = await outcome;
    assert.ok(error instanceof RetryError && error.code === "ERR_RETRY_EXHAUSTED");
    assert.deepStrictEqual(
      error.errors.map((e) => (e as DOMException).message),
      ["Timed out after 500 ms", "Timed out after 500 ms"],
    );
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("balancedFetch leaves no listener on the caller's signal and no timer once the call settles", async () => {
  await withClock(async (clock) => {
    const { fetch } = recording(() => Promise.resolve(new Response("ok")));
    // Without a deadline the caller's signal goes to fetch as it is; with one, it is linked and unlinked.
    for (const options of [{}, { timeout: 1000 }]) {
      const { controller, live } = countedSignal();
      const call = api(fetch, options, options);
      const response = await call("/a", { signal: controller.signal });
      assert.equal(live(), 0);
      assert.equal(clock.countTimers(), 0);
      await response.body?.cancel();
      const failing = api(() => Promise.reject(new Error("refused")), options, options);
      await failing("/a", { signal: controller.signal }).catch(() => {});
      assert.equal(live(), 0);
      assert.equal(clock.countTimers(), 0);
    }
  });
});

Deno.test("balancedFetch sends the path and query URL parsing gives for any string, parsed or not", async () => {
  const { fetch, sent } = recording(() => Promise.resolve(new Response("ok")));
  const call = api(fetch, {}, { attempts: 1 }, ["10.0.0.1:8080"]);
  // Characters that parsing keeps, encodes, drops or reads as structure, in random strings (seeded).
  const alphabet = [
    "/",
    "/",
    "a",
    "Z",
    "0",
    ".",
    "%",
    "2",
    "e",
    "E",
    "?",
    "#",
    " ",
    "\\",
    "'",
    "`",
    "{",
    "^",
    "|",
    "\t",
    "é",
    "~",
    "@",
    ":",
    ";",
  ];
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const inputs = ["/", "/a?", "//host/x", "/.well-known/x", "/a/%2e%2E/b", "/a/.%2e/b", "/a?b'c", "/a?x=./y"];
  for (let i = 0; i < 3000; i++) {
    let input = "/";
    const length = Math.floor(next() * 12);
    for (let j = 0; j < length; j++) input += alphabet[Math.floor(next() * alphabet.length)];
    inputs.push(input);
  }
  for (const input of inputs) {
    let expected: string;
    try {
      const url = new URL(input, "http://service.invalid");
      expected = "http://10.0.0.1:8080" + url.pathname + url.search;
    } catch {
      await assert.rejects(call(input), TypeError, `input ${JSON.stringify(input)}`);
      continue;
    }
    await (await call(input)).body?.cancel();
    assert.equal(sent.at(-1)!.url, expected, `input ${JSON.stringify(input)}`);
  }
});

Deno.test("balancedFetch parses the input once and keeps the path inside pathPrefix", async () => {
  const { fetch, sent } = recording(() => Promise.resolve(new Response("ok")));
  const call = api(fetch, { pathPrefix: "/v1" });
  await call("/a/../b?x=1#fragment");
  await call("/../../etc?");
  await call(new URL("http://payments/users/1?y"));
  await call(new Request("http://payments/users/2?#top"));
  assert.deepStrictEqual(sent.map((s) => s.url), [
    "http://10.0.0.1:8080/v1/b?x=1",
    "http://10.0.0.2:8080/v1/etc",
    "http://10.0.0.1:8080/v1/users/1?y",
    "http://10.0.0.2:8080/v1/users/2",
  ]);
});

Deno.test("balancedFetch normalises a simple init's method and still sends a non-idempotent one once", async () => {
  const { fetch, sent } = recording(() => Promise.resolve(new Response(null, { status: 503 })));
  const call = api(fetch);
  const response = await call("/orders", { method: "post", headers: { "x-id": "7" } });
  assert.equal(response.status, 503);
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.init!.method, "POST");
  assert.equal(new Headers(sent[0]!.init!.headers).get("x-id"), "7");
  await call("/orders", { method: "delete" });
  assert.equal(sent.length, 4, "DELETE is idempotent: three attempts");
});

Deno.test("balancedFetch sends an init with a body through Request, body included, on every attempt", async () => {
  const bodies: string[] = [];
  const { fetch } = recording((one) => {
    bodies.push(new TextDecoder().decode(one.init!.body as ArrayBuffer));
    return Promise.resolve(new Response(null, { status: 503 }));
  });
  const call = api(fetch, {}, { retryNonIdempotent: true });
  await call("/orders", { method: "POST", body: "hello", headers: { "content-type": "text/plain" } });
  assert.deepStrictEqual(bodies, ["hello", "hello", "hello"]);
});

Deno.test("balancedFetch rejects an invalid init at once, before any attempt", async () => {
  const { fetch, sent } = recording(() => Promise.resolve(new Response("ok")));
  const call = api(fetch);
  for (const init of [{ method: "CONNECT" }, { method: "bad method" }, { headers: { "bad name": "x" } }]) {
    const error = await call("/a", init).then(() => undefined, (e) => e);
    assert.ok(error instanceof TypeError, `${JSON.stringify(init)}: ${String(error)}`);
  }
  assert.equal(sent.length, 0);
});

Deno.test("balancedFetch gives endpoints that are not httpFactory's one Request per call, shared by its attempts", async () => {
  const seen: Request[] = [];
  const endpoint: Endpoint<Request, Response> = (request) => {
    seen.push(request);
    return Promise.resolve(new Response(null, { status: 503 }));
  };
  const controller = new AbortController();
  const call = balancedFetch(new RoundRobinBalancer(new FixedEndpointer([endpoint, endpoint])), {
    backoff: false,
  });
  await call("/a?b", { headers: { "x-id": "1" }, signal: controller.signal });
  assert.equal(seen.length, 3);
  assert.ok(seen.every((r) => r === seen[0]));
  assert.equal(seen[0]!.url, "http://service.invalid/a?b");
  assert.equal(seen[0]!.headers.get("x-id"), "1");
  controller.abort();
  assert.equal(seen[0]!.signal.aborted, true);
});

Deno.test("retry without a deadline or a caller signal gives the endpoint no signal and sets no timer", async () => {
  await withClock(async (clock) => {
    const got: (AbortSignal | undefined)[] = [];
    const call = retry(
      new RoundRobinBalancer(
        new FixedEndpointer([(x: number, options) => {
          got.push(options?.signal);
          return new Promise<number>((resolve) => queueMicrotask(() => resolve(x)));
        }]),
      ),
      { timeout: Infinity },
    );
    const pending = call(1);
    assert.equal(clock.countTimers(), 0);
    assert.equal(await pending, 1);
    assert.deepStrictEqual(got, [undefined]);
  });
});

Deno.test("retry with a caller signal and no deadline passes the caller's own signal and leaves no listener", async () => {
  const { controller, live } = countedSignal();
  const got: (AbortSignal | undefined)[] = [];
  const call = retry(
    new RoundRobinBalancer(
      new FixedEndpointer([(x: number, options) => {
        got.push(options?.signal);
        return Promise.resolve(x);
      }]),
    ),
    { timeout: Infinity },
  );
  assert.equal(await call(1, { signal: controller.signal }), 1);
  assert.deepStrictEqual(got, [controller.signal]);
  assert.equal(live(), 0);
});
