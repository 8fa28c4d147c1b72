import { assert, fakeTime } from "../_deps.ts";
import { Hono } from "hono";
import type { ShutdownReport, ShutdownSignal, SignalSource } from "../../mod.ts";
import { MemoryRegistry } from "../../src/memory/mod.ts";
import {
  type ListeningServer,
  type SelfRegistrar,
  type ServerAdapter,
  serveRegistered,
} from "../../src/hono/serve.ts";
import { healthHandler, HealthState } from "../../src/hono/health.ts";
import { denoServer } from "../../src/hono/serve_deno.ts";
import { nodeServer } from "../../src/hono/serve_node.ts";

/** A signal source fired by hand; `exited` resolves with the exit code. */
function fakeSignals(log: string[]) {
  const listeners = new Map<ShutdownSignal, () => void>();
  let exited: (code: number) => void = () => {};
  const exit = new Promise<number>((resolve) => (exited = resolve));
  const source: SignalSource = {
    runtime: "fake",
    listen(signal, listener) {
      listeners.set(signal, listener);
      return () => listeners.delete(signal);
    },
    exit(code) {
      log.push(`exit ${code}`);
      exited(code);
    },
  };
  return { source, exit, listeners, fire: (signal: ShutdownSignal) => listeners.get(signal)?.() };
}

/** An in-memory server: requests go straight to the handler; shutdown waits for those in flight. */
function fakeServer(log: string[]) {
  let handler: ((request: Request, env: unknown) => Promise<Response>) | undefined;
  let accepting = true;
  let inFlight = 0;
  let idle: (() => void)[] = [];
  const settle = () => {
    if (inFlight > 0) return;
    for (const resolve of idle) resolve();
    idle = [];
  };
  const adapter: ServerAdapter = {
    runtime: "fake",
    listen(h, { hostname, port }): Promise<ListeningServer> {
      handler = h;
      return Promise.resolve({
        hostname,
        port: port || 4321,
        shutdown() {
          accepting = false;
          log.push("server shutdown");
          return new Promise<void>((resolve) => {
            idle.push(resolve);
            settle();
          });
        },
        close() {
          log.push("server close");
          inFlight = 0;
          settle();
        },
      });
    },
  };
  return {
    adapter,
    async request(path: string): Promise<Response> {
      if (!handler || !accepting) throw new TypeError("Connection refused");
      inFlight++;
      try {
        const response = await handler(new Request(`http://fake${path}`), undefined);
        return new Response(await response.text(), { status: response.status });
      } finally {
        inFlight--;
        settle();
      }
    },
  };
}

/** A registrar that logs; `deregister` runs `onDeregister` first, or hangs ignoring its signal. */
function fakeRegistrar(log: string[], onDeregister: () => Promise<void> | void = () => {}, hang = false) {
  const registrar: SelfRegistrar & { signals: AbortSignal[] } = {
    signals: [],
    register() {
      log.push("register");
      return Promise.resolve();
    },
    async deregister(options) {
      if (options?.signal) registrar.signals.push(options.signal);
      await onDeregister();
      log.push("deregister");
      if (hang) await new Promise<void>(() => {});
    },
    stop() {
      log.push("stop");
    },
  };
  return registrar;
}

/** A Hono app with a health route following `health`, and a `/slow` route that waits for `gate`. */
function app(health: HealthState, log: string[]) {
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  let entered: () => void = () => {};
  const started = new Promise<void>((resolve) => (entered = resolve));
  const hono = new Hono()
    .get("/health", healthHandler(health))
    .get("/slow", async (c) => {
      entered();
      await gate;
      log.push("slow answered");
      return c.text("done");
    });
  return { hono, open, started };
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 1));
}

Deno.test("serveRegistered on SIGTERM: draining, health 503, deregister, in-flight request answered, exit", async () => {
  const log: string[] = [];
  const health = new HealthState("starting");
  const signals = fakeSignals(log);
  const server = fakeServer(log);
  const { hono, open, started } = app(health, log);
  const registrar = fakeRegistrar(log, async () => {
    const response = await server.request("/health");
    log.push(`health ${response.status} while deregistering`);
  });
  let report: ShutdownReport | undefined;
  const served = await serveRegistered(hono, {
    hostname: "127.0.0.1",
    registrar,
    health,
    source: signals.source,
    server: server.adapter,
    onComplete: (r) => (report = r),
  });
  assert.equal(served.address.instance, "127.0.0.1:4321");
  assert.equal(served.runtime, "fake");
  assert.equal((await server.request("/health")).status, 200);

  const slow = server.request("/slow");
  await started;
  signals.fire("SIGTERM");
  await until(() => log.includes("server shutdown"));
  assert.equal(health.state, "draining");
  assert.ok(!log.some((line) => line.startsWith("exit")), "no exit while a request is in flight");
  open();
  const response = await slow;
  assert.deepEqual([response.status, await response.text()], [200, "done"]);
  assert.equal(await signals.exit, 143);
  assert.deepEqual(log, [
    "register",
    "health 503 while deregistering",
    "deregister",
    "stop",
    "server shutdown",
    "slow answered",
    "exit 143",
  ]);
  assert.deepEqual(report?.failures, []);
  assert.equal(health.state, "stopped");
  assert.equal(signals.listeners.size, 0, "the signal listeners are removed");
});

Deno.test("serveRegistered bounds a deregister that hangs: the timeout aborts it, drops connections, exits", async () => {
  const clock = fakeTime();
  try {
    const log: string[] = [];
    const signals = fakeSignals(log);
    const server = fakeServer(log);
    const registrar = fakeRegistrar(log, () => {}, true);
    let report: ShutdownReport | undefined;
    await serveRegistered(new Hono(), {
      hostname: "127.0.0.1",
      registrar,
      timeout: 1000,
      source: signals.source,
      server: server.adapter,
      onComplete: (r) => (report = r),
    });
    signals.fire("SIGINT");
    await clock.tickAsync(999);
    assert.deepEqual(log, ["register", "deregister"]);
    assert.equal(registrar.signals[0]?.aborted, false);
    await clock.tickAsync(1);
    assert.equal(await signals.exit, 130);
    assert.equal(registrar.signals[0]?.aborted, true, "the pending call was told to give up");
    assert.deepEqual(log, ["register", "deregister", "stop", "server shutdown", "server close", "exit 130"]);
    assert.equal(report?.timedOut, true);
    assert.deepEqual(
      report?.failures.map((f) => f.phase),
      ["registrar", "onStop"],
      "the drain started past the timeout",
    );
  } finally {
    clock.uninstall();
  }
});

Deno.test("serveRegistered drops a request still in flight at the timeout, then exits", async () => {
  const clock = fakeTime();
  try {
    const log: string[] = [];
    const health = new HealthState("starting");
    const signals = fakeSignals(log);
    const server = fakeServer(log);
    const { hono, started, open } = app(health, log);
    await serveRegistered(hono, {
      hostname: "127.0.0.1",
      registrar: fakeRegistrar(log),
      health,
      timeout: 500,
      drainDelay: 100,
      source: signals.source,
      server: server.adapter,
    });
    const slow = server.request("/slow");
    await started;
    signals.fire("SIGTERM");
    await clock.tickAsync(99);
    assert.deepEqual(log, ["register"], "deregistration waits for the drain delay");
    assert.equal(health.state, "draining");
    await clock.tickAsync(1);
    assert.deepEqual(log, ["register", "deregister", "stop", "server shutdown"]);
    await clock.tickAsync(400);
    assert.equal(await signals.exit, 143);
    assert.deepEqual(log, ["register", "deregister", "stop", "server shutdown", "server close", "exit 143"]);
    open();
    await slow;
  } finally {
    clock.uninstall();
  }
});

Deno.test("serveRegistered passes the bound address to the registrar function, advertise as its host", async () => {
  const log: string[] = [];
  const server = fakeServer(log);
  const seen: unknown[] = [];
  const served = await serveRegistered(new Hono(), {
    advertise: "fd00::5",
    registrar: (address) => {
      seen.push({ ...address });
      return fakeRegistrar(log);
    },
    source: null,
    server: server.adapter,
  });
  assert.deepEqual(seen, [{ hostname: "0.0.0.0", port: 4321, host: "fd00::5", instance: "[fd00::5]:4321" }]);
  const report = await served.stop();
  assert.equal(report.exitCode, null, "stop() never exits");
  assert.deepEqual(log, ["register", "deregister", "stop", "server shutdown"]);
});

Deno.test("serveRegistered rejects bad options before it listens", async () => {
  const registrar = fakeRegistrar([]);
  const base = { registrar, source: null } as const;
  await assert.rejects(() => serveRegistered(new Hono(), base), {
    name: "TypeError",
    message: /hostname "0\.0\.0\.0" listens on every interface: set advertise/,
  });
  await assert.rejects(() => serveRegistered(new Hono(), { ...base, hostname: "127.0.0.1", port: 70000 }), {
    name: "RangeError",
    message: "port must be an integer from 0 to 65535, got 70000",
  });
  await assert.rejects(
    () => serveRegistered(new Hono(), { ...base, hostname: "127.0.0.1", drainDelay: -1 }),
    RangeError,
  );
  await assert.rejects(
    () => serveRegistered({} as Hono, { ...base, hostname: "127.0.0.1" }),
    { name: "TypeError", message: "app must have a fetch() method, got an object" },
  );
  await assert.rejects(
    () =>
      serveRegistered(new Hono(), { source: null, hostname: "127.0.0.1", registrar: {} as SelfRegistrar }),
    { name: "TypeError", message: "registrar must have a register() method, got an object" },
  );
});

Deno.test("serveRegistered shuts the server down and removes its listeners when registration fails", async () => {
  const log: string[] = [];
  const signals = fakeSignals(log);
  const server = fakeServer(log);
  const registrar = fakeRegistrar(log);
  registrar.register = () => Promise.reject(new Error("Registry down"));
  const health = new HealthState("starting");
  await assert.rejects(
    () =>
      serveRegistered(new Hono(), {
        hostname: "127.0.0.1",
        registrar,
        health,
        source: signals.source,
        server: server.adapter,
      }),
    { message: "Registry down" },
  );
  assert.deepEqual(log, ["server shutdown"]);
  assert.equal(health.state, "stopped");
  assert.equal(signals.listeners.size, 0);
});

for (const adapter of [denoServer, nodeServer]) {
  Deno.test(`serveRegistered on a real ${adapter.runtime} server: health 503 while leaving, the slow request answered`, async () => {
    const log: string[] = [];
    const health = new HealthState("starting");
    const signals = fakeSignals(log);
    const { hono, open, started } = app(health, log);
    using registry = new MemoryRegistry();
    const served = await serveRegistered(hono, {
      hostname: "127.0.0.1",
      registrar: ({ instance }) => {
        const registrar = registry.registrar("hello", instance);
        return {
          register: () => registrar.register(),
          async deregister() {
            const response = await fetch(`http://${instance}/health`);
            log.push(`health ${response.status} ${(await response.json()).state}`);
            await registrar.deregister();
            log.push("deregistered");
          },
        };
      },
      health,
      source: signals.source,
      server: adapter,
    });
    const url = `http://${served.address.instance}`;
    assert.deepEqual(registry.instances("hello"), [served.address.instance]);
    const slow = fetch(`${url}/slow`);
    await started;
    signals.fire("SIGTERM");
    await until(() => log.includes("deregistered"));
    assert.deepEqual(registry.instances("hello"), []);
    open();
    const response = await slow;
    assert.deepEqual([response.status, await response.text()], [200, "done"]);
    assert.equal(await signals.exit, 143);
    assert.deepEqual(log, ["health 503 draining", "deregistered", "slow answered", "exit 143"]);
    await assert.rejects(() => fetch(`${url}/health`), TypeError, "the server no longer accepts");
  });
}

Deno.test("The node:http adapter streams bodies both ways and keeps every header and cookie", async () => {
  const server = await nodeServer.listen(async (request) => {
    const body = await request.text();
    const headers = new Headers({ "x-method": request.method, "x-echo": request.headers.get("x-in") ?? "" });
    headers.append("set-cookie", "a=1");
    headers.append("set-cookie", "b=2");
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`${new URL(request.url).pathname}:`));
        controller.enqueue(new TextEncoder().encode(body));
        controller.close();
      },
    });
    return new Response(stream, { status: 201, headers });
  }, { hostname: "127.0.0.1", port: 0 });
  try {
    const response = await fetch(`http://127.0.0.1:${server.port}/echo?q=1`, {
      method: "POST",
      headers: { "x-in": "yes" },
      body: "x".repeat(100_000),
    });
    assert.equal(response.status, 201);
    assert.equal(response.headers.get("x-method"), "POST");
    assert.equal(response.headers.get("x-echo"), "yes");
    assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
    assert.equal(await response.text(), `/echo:${"x".repeat(100_000)}`);
  } finally {
    await server.shutdown();
  }
});
