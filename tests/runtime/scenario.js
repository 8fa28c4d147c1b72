// The runtime smoke scenario: the same checks in Deno, Node, Bun and workerd, run against the bundled
// package (dist/sd.js, built by scripts/runtime_smoke.sh) with real fetch to a loopback upstream
// (upstream.mjs). Plain JavaScript, so every runtime loads it as it is.
import { trackTimers } from "./_timers.js";
import { honoScenario } from "./hono_scenario.js";

// A computed specifier on purpose: dist/ exists only after a build, and a literal import would make
// `deno check tests/` fail on a fresh clone. Resolved against this file, also inside workerd.
const BUNDLE = "./dist/sd.js";

const ATTEMPTS = 3;
const GETS = 6;
const PARALLEL = 4;

/** Fails the current check with `message` unless `condition` holds. */
function expect(condition, message) {
  if (!condition) throw new Error(message);
}

function describe(error) {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Returns what `fn` throws (synchronously or not), or fails the check if it does not throw. */
async function thrownBy(fn, what) {
  try {
    const value = await fn();
    await value?.body?.cancel?.();
  } catch (error) {
    return error;
  }
  throw new Error(`${what} did not throw`);
}

/** Resolves with the first `change` event whose entries satisfy `predicate`, or rejects after `ms`. */
function nextChange(endpointer, predicate, ms) {
  return new Promise((resolve, reject) => {
    const onChange = (event) => {
      if (!predicate(event.entries)) return;
      clearTimeout(timer);
      endpointer.removeEventListener("change", onChange);
      resolve(event.entries);
    };
    const timer = setTimeout(() => {
      endpointer.removeEventListener("change", onChange);
      reject(new Error(`No matching change event within ${ms} ms`));
    }, ms);
    endpointer.addEventListener("change", onChange);
  });
}

/**
 * Runs every check and reports each one through `log` as `PASS <runtime>: <check>` or
 * `FAIL <runtime>: <check>: <why>`. `live` holds two upstreams (answering as "a" and "b"), `dead` a
 * `host:port` that refuses connections.
 *
 * `ctx` is workerd's execution context (its `waitUntil` goes to the Hono gateway's pull refreshes).
 *
 * @param {{ runtime: string, live: string[], dead: string, log?: (line: string) => void,
 *   ctx?: { waitUntil(promise: Promise<unknown>): void } }} options
 * @returns {Promise<{ passed: number, failed: number }>}
 */
export async function runScenario({ runtime, live, dead, log = console.log, ctx }) {
  const result = { passed: 0, failed: 0 };
  const check = async (name, fn) => {
    try {
      const note = await fn();
      result.passed++;
      log(`PASS ${runtime}: ${name}${note ? ` (${note})` : ""}`);
      return true;
    } catch (error) {
      result.failed++;
      log(`FAIL ${runtime}: ${name}: ${describe(error)}`);
      return false;
    }
  };

  let sd;
  const loaded = await check("the bundle loads and exposes the public entry points", async () => {
    sd = await import(BUNDLE);
    const names = [
      "DefaultEndpointer",
      "FixedInstancer",
      "httpFactory",
      "balancedFetch",
      "RoundRobinBalancer",
    ];
    names.push("RandomBalancer", "retry", "seededRandom", "MemoryRegistry", "RetryError", "NoEndpointsError");
    const missing = names.filter((name) => typeof sd[name] !== "function");
    expect(missing.length === 0, `missing exports: ${missing.join(", ")}`);
  });
  if (!loaded) return result;

  const timers = trackTimers(BUNDLE.slice(2));
  const closers = [];
  try {
    await scenario(sd, { runtime, live, dead, check, closers, timers });
    const tag = `hono${runtime.replace(/[^a-z0-9]/gi, "")}${Math.random().toString(36).slice(2, 10)}`;
    await honoScenario(sd, { runtime, live, tag, check, closers, ctx });
  } finally {
    for (const close of closers.splice(0)) close();
    timers.restore();
  }
  return result;
}

async function scenario(sd, { runtime, live, dead, check, closers, timers }) {
  const { balancedFetch, DefaultEndpointer, FixedInstancer, httpFactory, isSdError } = sd;
  const { MemoryRegistry, NoEndpointsError, RetryError, RoundRobinBalancer } = sd;
  // Unique per run, so the upstream's per-tag counts stay exact even if it serves several runs.
  const tag = `${runtime.replace(/[^a-z0-9]/gi, "")}${Math.random().toString(36).slice(2, 10)}`;
  const isNetworkError = (error) =>
    error instanceof Error && !isSdError(error) && error.name !== "AbortError" &&
    error.name !== "TimeoutError";
  const retried = [];
  const options = {
    attempts: ATTEMPTS,
    timeout: 5000,
    backoff: { initial: 2, max: 10 },
    shouldRetry: (_attempt, error) => {
      retried.push(error);
      return true;
    },
  };
  const quiet = { ...options, shouldRetry: undefined };
  // No `fetch` option: the endpoints call the global fetch, unbound (workerd checks the `this`).
  const factory = httpFactory({ timeout: 3000 });
  const served = new Set();
  let sent = 0;

  // The live upstream "a" is listed twice, the others once, out of order; the dead one refuses.
  const listed = [live[1], dead, live[0], live[0]];
  const instancer = new FixedInstancer(listed);
  const endpointer = new DefaultEndpointer(instancer, factory);
  closers.push(() => endpointer.close(), () => instancer.stop());
  const balancer = new RoundRobinBalancer(endpointer);
  const api = balancedFetch(balancer, options);

  await check("the endpointer is ready with each distinct instance once, sorted", async () => {
    const endpoints = await endpointer.ready();
    const instances = endpointer.entries().map((entry) => entry.instance);
    const expected = [...new Set(listed)].sort();
    expect(endpoints.length === 3, `expected 3 endpoints, got ${endpoints.length}`);
    expect(instances.join() === expected.join(), `instances ${instances.join()} != ${expected.join()}`);
  });

  const verify = async (response, path, query) => {
    expect(response.status === 200, `status ${response.status} for ${path}`);
    const body = await response.json();
    expect(
      body.method === "GET" && body.path === path && body.query === query,
      `echo ${JSON.stringify(body)}`,
    );
    expect(body.header === "yes", `header x-smoke arrived as ${JSON.stringify(body.header)}`);
    expect(live.includes(`127.0.0.1:${body.port}`), `answered by unknown port ${body.port}`);
    served.add(body.server);
  };

  await check(`${GETS} sequential GETs all succeed through the balancer`, async () => {
    for (let i = 0; i < GETS; i++) {
      const path = `/${tag}/items/${i}`;
      sent++;
      await verify(await api(`${path}?n=${i}`, { headers: { "x-smoke": "yes" } }), path, `?n=${i}`);
    }
  });

  await check(`${PARALLEL} concurrent GETs all succeed through the balancer`, async () => {
    const paths = Array.from({ length: PARALLEL }, (_, i) => `/${tag}/parallel/${i}`);
    sent += PARALLEL;
    const responses = await Promise.all(
      paths.map((path) => api(new Request(`http://users${path}?p=1`, { headers: { "x-smoke": "yes" } }))),
    );
    for (const [i, response] of responses.entries()) await verify(response, paths[i], "?p=1");
  });

  await check("both live upstreams answered", () => {
    expect(served.has("a") && served.has("b"), `served by ${[...served].join() || "none"}`);
    return `servers ${[...served].sort().join(",")}`;
  });

  await check("the refused instance was tried and retried around with a network error", () => {
    expect(retried.length >= 1, "the dead instance was never picked");
    const odd = retried.filter((error) => !isNetworkError(error));
    expect(odd.length === 0, `unexpected attempt errors: ${odd.map(describe).join("; ")}`);
    return `${retried.length} refused attempts, e.g. ${describe(retried[0])}`;
  });

  await check("a retried POST carries its body to a live upstream", async () => {
    const post = balancedFetch(balancer, { ...options, retryNonIdempotent: true });
    // Two POSTs: with round robin over three instances, at least one of them can meet the dead one.
    for (let i = 0; i < 2; i++) {
      sent++;
      const response = await post(`/${tag}/echo`, { method: "POST", body: `payload ${i}` });
      const body = await response.json();
      expect(response.status === 200 && body.method === "POST", `POST answered ${response.status}`);
      expect(body.body === `payload ${i}`, `body arrived as ${JSON.stringify(body.body)}`);
    }
  });

  await check("each request reached the upstreams exactly once", async () => {
    let total = 0;
    for (const instance of live) {
      const response = await fetch(`http://${instance}/__stats/${tag}`);
      total += (await response.json()).count;
    }
    expect(total === sent, `upstreams counted ${total} requests, ${sent} were sent`);
    return `${total} requests`;
  });

  await check("a MemoryRegistry registration is discovered, served and withdrawn", async () => {
    const registry = new MemoryRegistry();
    const registrar = registry.registrar("smoke", live[1], { ttl: 10_000 });
    const memory = new DefaultEndpointer(registry.instancer("smoke"), factory);
    const memoryBalancer = new RoundRobinBalancer(memory);
    try {
      const appeared = nextChange(memory, (entries) => entries.length === 1, 2000);
      await registrar.register();
      await appeared;
      const response = await balancedFetch(memoryBalancer, quiet)(`/${tag}-memory/one`);
      const body = await response.json();
      expect(body.server === "b", `the registered instance answered as ${body.server}`);
      const gone = nextChange(memory, (entries) => entries.length === 0, 2000);
      await registrar.deregister();
      await gone;
      const thrown = await thrownBy(() => memoryBalancer.endpoint(), "endpoint() after deregister");
      expect(thrown instanceof NoEndpointsError, `after deregister: ${describe(thrown)}`);
    } finally {
      memory.close();
      registrar.stop();
      registry.close();
    }
  });

  await check(
    "no instance at all gives NoEndpointsError, wrapped in a RetryError by balancedFetch",
    async () => {
      const empty = new FixedInstancer([]);
      const none = new DefaultEndpointer(empty, factory);
      try {
        expect((await none.ready()).length === 0, "expected no endpoints");
        const noneBalancer = new RoundRobinBalancer(none);
        const direct = await thrownBy(() => noneBalancer.endpoint(), "endpoint()");
        expect(direct instanceof NoEndpointsError, `balancer threw ${describe(direct)}`);
        expect(isSdError(direct) && direct.code === "ERR_NO_ENDPOINTS", `code ${direct?.code}`);
        const failure = await thrownBy(() => balancedFetch(noneBalancer, quiet)("/x"), "balancedFetch");
        expect(failure instanceof RetryError, `expected RetryError, got ${describe(failure)}`);
        expect(failure.code === "ERR_RETRY_EXHAUSTED", `code ${failure.code}`);
        expect(failure.errors.length === ATTEMPTS, `${failure.errors.length} attempt errors`);
        expect(
          failure.errors.every((e) => e instanceof NoEndpointsError),
          "attempt errors not NoEndpointsError",
        );
      } finally {
        none.close();
        empty.stop();
      }
    },
  );

  await check("only a refusing instance gives a RetryError listing each network error", async () => {
    const deadOnly = new FixedInstancer([dead]);
    const down = new DefaultEndpointer(deadOnly, factory);
    try {
      await down.ready();
      const call = balancedFetch(new RoundRobinBalancer(down), quiet);
      const failure = await thrownBy(() => call(`/${tag}/down`), "balancedFetch");
      expect(failure instanceof RetryError, `expected RetryError, got ${describe(failure)}`);
      expect(failure.code === "ERR_RETRY_EXHAUSTED", `code ${failure.code}`);
      expect(failure.errors.length === ATTEMPTS, `${failure.errors.length} attempt errors`);
      const errors = failure.errors.map(describe).join("; ");
      expect(failure.errors.every(isNetworkError), `attempt errors: ${errors}`);
      expect(failure.final === failure.errors[ATTEMPTS - 1], "final is not the last attempt's error");
      expect(failure.cause === failure.final, "cause is not the final error");
    } finally {
      down.close();
      deadOnly.stop();
    }
  });

  await check("closing stops the instancer, empties the endpointer and leaves no timer", async () => {
    for (const close of closers.splice(0)) close();
    expect(endpointer.closed && instancer.stopped, "not closed");
    expect(endpointer.endpoints().length === 0, `${endpointer.endpoints().length} endpoints after close`);
    const thrown = await thrownBy(() => balancer.endpoint(), "endpoint() after close");
    expect(thrown instanceof NoEndpointsError, `after close: ${describe(thrown)}`);
    endpointer.close();
    instancer.stop();
    // The tracker must have seen the library's deadlines, or "none pending" would prove nothing.
    expect(timers.started() > 0, "no timer was seen at all");
    expect(timers.pending() === 0, `${timers.pending()} of ${timers.started()} timers still pending`);
    return `${timers.started()} timers started, none pending`;
  });
}
