// Request bodies through balancedFetch and serviceProxy: large ones stream to the instance as they
// arrive, small ones (and the first bufferLimit bytes of any) are held so that a failed attempt can be
// sent again elsewhere, and a body an instance read beyond that is never sent twice.
import { Hono } from "hono";
import { assert } from "../_deps.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import { RetryError } from "../../src/errors.ts";
import { FixedInstancer } from "../../src/fixed.ts";
import { balancedFetch, type BalancedFetchOptions } from "../../src/http/balanced_fetch.ts";
import { type FetchFunction, httpFactory } from "../../src/http/factory.ts";
import { RoundRobinBalancer } from "../../src/lb/round_robin.ts";
import { serviceProxy, type ServiceProxyOptions } from "../../src/hono/mod.ts";

const KIB = 1024;

/** Chunk `i` of a test body: `size` bytes all equal to `i % 251`, so order and loss both show. */
function chunk(i: number, size: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(size).fill(i % 251);
}

/** A checksum of what a body should be, and what it was. */
function expected(chunks: number, size: number): number {
  let sum = 0;
  for (let i = 0; i < chunks; i++) sum = (sum + (i % 251) * size * (i + 1)) % 1_000_003;
  return sum;
}

/** Reads a body and returns its byte count and the checksum of {@linkcode expected}. */
async function digest(body: ReadableStream<Uint8Array> | null, size: number) {
  let bytes = 0;
  let sum = 0;
  for await (const piece of body ?? []) {
    for (const byte of piece) {
      sum = (sum + byte * (Math.floor(bytes / size) + 1)) % 1_000_003;
      bytes++;
    }
  }
  return { bytes, sum };
}

/** A server on loopback; `handler` sees the request. */
function serve(handler: (request: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return { instance: `127.0.0.1:${server.addr.port}`, [Symbol.asyncDispose]: () => server.shutdown() };
}

/** An address nothing listens on: connections to it are refused. */
function refusing(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return `127.0.0.1:${port}`;
}

/**
 * A TCP server that reads `bytes` of each request, then drops the connection without answering:
 * the instance that fails after the body started flowing. Resolves `dropped` each time.
 */
function dropper(bytes: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let hits = 0;
  const conns: Promise<void>[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      hits++;
      conns.push((async () => {
        const buffer = new Uint8Array(16 * KIB);
        let read = 0;
        try {
          while (read < bytes) {
            const n = await conn.read(buffer);
            if (n === null) break;
            read += n;
          }
        } finally {
          conn.close();
        }
      })());
    }
  })();
  return {
    instance: `127.0.0.1:${listener.addr.port}`,
    get hits() {
      return hits;
    },
    [Symbol.asyncDispose]: async () => {
      listener.close();
      await loop.catch(() => {});
      await Promise.allSettled(conns);
    },
  };
}

function gateway(instances: string[], options: ServiceProxyOptions = {}, fetchImpl?: FetchFunction) {
  const endpointer = new DefaultEndpointer(
    new FixedInstancer(instances),
    httpFactory(fetchImpl === undefined ? {} : { fetch: fetchImpl }),
  );
  const app = new Hono().all(
    "/*",
    serviceProxy(new RoundRobinBalancer(endpointer), { backoff: false, endpointer, ...options }),
  );
  return { app, endpointer, [Symbol.dispose]: () => endpointer.close() };
}

function api(instances: string[], options: BalancedFetchOptions = {}) {
  const endpointer = new DefaultEndpointer(new FixedInstancer(instances), httpFactory());
  const call = balancedFetch(new RoundRobinBalancer(endpointer), { backoff: false, ...options });
  return { call, endpointer, [Symbol.dispose]: () => endpointer.close() };
}

Deno.test("serviceProxy streams a 4 MiB upload: the instance reads its first chunk before the client sends the last", async () => {
  const chunks = 64;
  const size = 64 * KIB;
  let sawFirst!: () => void;
  const firstSeen = new Promise<void>((resolve) => sawFirst = resolve);
  let sent = 0;
  let sentWhenSeen = -1;
  await using upstream = serve(async (request) => {
    const reader = request.body!.getReader();
    const first = await reader.read();
    sentWhenSeen = sent;
    sawFirst();
    const rest = new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(first.value!),
      pull: async (c) => {
        const next = await reader.read();
        if (next.done) c.close();
        else c.enqueue(next.value);
      },
    });
    return Response.json(await digest(rest, size));
  });
  using g = gateway([upstream.instance]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === chunks - 1) {
        // The last chunk waits until the instance has seen the first: a gateway that held the whole
        // body before sending would never get there (the stream errors after 10 s instead).
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("The instance saw nothing before the last chunk")),
            10_000,
          );
        });
        try {
          await Promise.race([firstSeen, late]);
        } finally {
          clearTimeout(timer);
        }
      }
      if (sent === chunks) return controller.close();
      controller.enqueue(chunk(sent, size));
      sent++;
    },
  }, { highWaterMark: 0 });
  const response = await g.app.request("/upload", { method: "POST", body, duplex: "half" } as RequestInit);
  assert.equal(response.status, 200);
  assert.deepStrictEqual(await response.json(), { bytes: chunks * size, sum: expected(chunks, size) });
  assert.ok(sentWhenSeen >= 1 && sentWhenSeen < chunks, `sent ${sentWhenSeen} chunks when seen`);
});

Deno.test("balancedFetch sends a small streamed body again to another instance after a 503 or a refused connection", async () => {
  const got: string[] = [];
  await using busy = serve(async (request) => {
    got.push(`busy ${(await request.text()).length}`);
    return new Response("busy", { status: 503 });
  });
  await using echo = serve(async (request) => new Response(await request.text()));
  const stream = () =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const text of ["small ", "streamed ", "body"]) {
          controller.enqueue(new TextEncoder().encode(text));
        }
        controller.close();
      },
    });
  const closed = refusing();
  for (const first of [busy.instance, closed]) {
    // Round robin starts at the lower instance string: put the failing one first.
    const instances = [first, echo.instance].sort();
    using a = api(instances, { attempts: 2 });
    await a.endpointer.ready();
    let response = await a.call("/x", { method: "PUT", body: stream(), duplex: "half" } as RequestInit);
    if (instances[0] !== first) {
      // The echo came first: the next call starts at the failing one.
      await response.text();
      response = await a.call("/x", { method: "PUT", body: stream(), duplex: "half" } as RequestInit);
    }
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "small streamed body");
  }
  assert.deepStrictEqual(got, ["busy 19"]);
});

Deno.test("serviceProxy sends a 1 MiB streamed body to another instance when the first refused the connection", async () => {
  const size = 16 * KIB;
  const chunks = 64;
  await using upstream = serve(async (request) => Response.json(await digest(request.body, size)));
  const closed = refusing();
  using g = gateway([closed, upstream.instance].sort(), { attempts: 2, retryNonIdempotent: true });
  for (let call = 0; call < 2; call++) {
    // Round robin: one of the two calls starts at the refusing instance.
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull: (c) => i === chunks ? c.close() : c.enqueue(chunk(i++, size)),
    }, { highWaterMark: 0 });
    const response = await g.app.request("/up", { method: "POST", body, duplex: "half" } as RequestInit);
    assert.equal(response.status, 200);
    assert.deepStrictEqual(await response.json(), { bytes: chunks * size, sum: expected(chunks, size) });
  }
});

Deno.test("serviceProxy does not send a large body again once an instance read past bufferLimit, and answers 502", async () => {
  const size = 16 * KIB;
  const chunks = 64;
  await using drop = dropper(512 * KIB);
  let reached = 0;
  await using upstream = serve(async (request) => {
    reached++;
    await request.body?.cancel();
    return new Response("ok");
  });
  // Round robin starts at the lower instance string.
  const instances = [drop.instance, upstream.instance].sort();
  using g = gateway(instances, { attempts: 2, retryNonIdempotent: true });
  let sent = 0;
  const body = () =>
    new ReadableStream<Uint8Array>({
      pull: (c) => sent === chunks ? c.close() : c.enqueue(chunk(sent++, size)),
    }, { highWaterMark: 0 });
  if (instances[0] !== drop.instance) {
    await (await g.app.request("/first", { method: "GET" })).text();
    reached = 0;
  }
  const response = await g.app.request("/up", { method: "PUT", body: body(), duplex: "half" } as RequestInit);
  assert.equal(response.status, 502);
  const problem = await response.json();
  assert.equal(problem.detail, "1 attempt to reach the service failed");
  assert.equal(drop.hits, 1);
  assert.equal(reached, 0, "the other instance got no attempt");
  assert.ok(sent * size > 128 * KIB, `sent ${sent * size} bytes`);
});

Deno.test("balancedFetch passes on a 503 that came after the instance read past bufferLimit instead of retrying", async () => {
  const size = 16 * KIB;
  const chunks = 32;
  let calls = 0;
  // A fetch that reads 256 KiB of the body, then answers 503 (an instance that read and gave up).
  const reading: FetchFunction = async (input, init) => {
    calls++;
    const reader = (init!.body as ReadableStream<Uint8Array>).getReader();
    for (let read = 0; read < 256 * KIB;) read += (await reader.read()).value!.byteLength;
    await reader.cancel();
    return new Response(`busy ${new URL(String(input)).host}`, { status: 503 });
  };
  const endpointer = new DefaultEndpointer(
    new FixedInstancer(["a:1", "b:1"]),
    httpFactory({ fetch: reading }),
  );
  using _ = endpointer;
  await endpointer.ready();
  const call = balancedFetch(new RoundRobinBalancer(endpointer), { backoff: false, attempts: 3 });
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull: (c) => i === chunks ? c.close() : c.enqueue(chunk(i++, size)),
  }, { highWaterMark: 0 });
  const response = await call("/x", { method: "PUT", body, duplex: "half" } as RequestInit);
  assert.equal(response.status, 503);
  assert.equal(await response.text(), "busy a:1");
  assert.equal(calls, 1);
});

Deno.test("balancedFetch holds a body of known small size and sends it as bytes on every attempt", async () => {
  const bodies: unknown[] = [];
  const fetchImpl: FetchFunction = (_input, init) => {
    bodies.push(init!.body);
    return Promise.resolve(new Response(null, { status: 503 }));
  };
  const endpointer = new DefaultEndpointer(
    new FixedInstancer(["a:1", "b:1"]),
    httpFactory({ fetch: fetchImpl }),
  );
  using _ = endpointer;
  await endpointer.ready();
  const call = balancedFetch(new RoundRobinBalancer(endpointer), { backoff: false, attempts: 2 });
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode("ab"));
      c.enqueue(new TextEncoder().encode("cd"));
      c.close();
    },
  });
  const request = new Request("http://x/y", {
    method: "PUT",
    body: stream,
    headers: { "content-length": "4" },
    duplex: "half",
  } as RequestInit);
  await (await call(request)).body?.cancel();
  assert.equal(bodies.length, 2);
  for (const body of bodies) assert.equal(new TextDecoder().decode(body as Uint8Array), "abcd");
});

Deno.test("balancedFetch with bufferLimit 0 retries a streamed body only if none of it was read", async () => {
  const seen: string[] = [];
  const fetchImpl: FetchFunction = async (input, init) => {
    const host = new URL(String(input)).host;
    if (host === "a:1") throw new TypeError("Connection refused"); // before reading any of it
    seen.push(await new Response(init!.body).text());
    return new Response("ok");
  };
  const endpointer = new DefaultEndpointer(
    new FixedInstancer(["a:1", "b:1"]),
    httpFactory({ fetch: fetchImpl }),
  );
  using _ = endpointer;
  await endpointer.ready();
  const call = balancedFetch(new RoundRobinBalancer(endpointer), { backoff: false, bufferLimit: 0 });
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode("whole"));
      c.close();
    },
  });
  const response = await call("/x", { method: "PUT", body, duplex: "half" } as RequestInit);
  assert.equal(await response.text(), "ok");
  assert.deepStrictEqual(seen, ["whole"]);

  const reads: FetchFunction = async (input, init) => {
    await (init!.body as ReadableStream<Uint8Array>).getReader().read();
    throw new TypeError(`Connection reset by ${new URL(String(input)).host}`);
  };
  using other = new DefaultEndpointer(new FixedInstancer(["a:1", "b:1"]), httpFactory({ fetch: reads }));
  await other.ready();
  const once = balancedFetch(new RoundRobinBalancer(other), { backoff: false, bufferLimit: 0 });
  const again = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode("part"));
    },
  });
  const error = await once("/x", { method: "PUT", body: again, duplex: "half" } as RequestInit).catch((e) =>
    e
  );
  assert.ok(error instanceof RetryError);
  assert.equal(error.errors.length, 1);
  await again.cancel().catch(() => {});
});

Deno.test("balancedFetch validates bufferLimit", () => {
  using endpointer = new DefaultEndpointer(new FixedInstancer([]), httpFactory());
  const balancer = new RoundRobinBalancer(endpointer);
  assert.throws(() => balancedFetch(balancer, { bufferLimit: -1 }), RangeError);
  assert.throws(() => balancedFetch(balancer, { bufferLimit: "1" as unknown as number }), TypeError);
  balancedFetch(balancer, { bufferLimit: Infinity });
});
