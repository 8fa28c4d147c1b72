import { assert, fakeTime } from "../_deps.ts";
import { RetryError } from "../../src/errors.ts";
import { FixedEndpointer } from "../../src/fixed.ts";
import { balancedFetch } from "../../src/http/balanced_fetch.ts";
import { type Balancer, beginCall, type CallOutcome } from "../../src/lb/balancer.ts";
import { type AttemptEvent, retry } from "../../src/lb/retry.ts";
import { RoundRobinBalancer } from "../../src/lb/round_robin.ts";
import type { Endpoint } from "../../src/types.ts";

/** A round-robin balancer that logs `begin <name>` and `end <name> <outcome>` in order. */
function tracking<Req, Res>(named: Record<string, Endpoint<Req, Res>>) {
  const names = new Map(Object.entries(named).map(([name, endpoint]) => [endpoint, name]));
  const inner = new RoundRobinBalancer(new FixedEndpointer(Object.values(named)));
  const log: string[] = [];
  const values: unknown[] = [];
  const balancer: Balancer<Req, Res> = {
    endpoint: (exclude) => inner.endpoint(exclude),
    begin(endpoint) {
      const name = names.get(endpoint)!;
      log.push(`begin ${name}`);
      return {
        end(outcome: CallOutcome, value?: unknown) {
          log.push(`end ${name} ${outcome}`);
          values.push(value);
        },
      };
    },
  };
  return { balancer, log, values };
}

const noBackoff = { backoff: false } as const;

Deno.test("retry reports each attempt's start before it runs and its end with the outcome and value", async () => {
  const boom = new Error("boom");
  const order: string[] = [];
  const { balancer, log, values } = tracking<string, string>({
    a: () => {
      order.push(log.at(-1)!);
      return Promise.reject(boom);
    },
    b: (x) => Promise.resolve(`b:${x}`),
  });
  assert.equal(await retry(balancer, { timeout: 1000, ...noBackoff })("x"), "b:x");
  assert.deepStrictEqual(order, ["begin a"]);
  assert.deepStrictEqual(log, ["begin a", "end a error", "begin b", "end b success"]);
  assert.deepStrictEqual(values, [boom, "b:x"]);
});

Deno.test("retry reports a result marked by retryResult as retryable, even when it is returned in the end", async () => {
  const { balancer, log, values } = tracking<string, number>({
    a: () => Promise.resolve(503),
    b: () => Promise.resolve(502),
  });
  const call = retry(balancer, { attempts: 2, timeout: 1000, retryResult: (s) => s >= 500, ...noBackoff });
  assert.equal(await call("x"), 502);
  assert.deepStrictEqual(log, ["begin a", "end a retryable", "begin b", "end b retryable"]);
  assert.deepStrictEqual(values, [503, 502]);
});

Deno.test("retry reports an attempt the caller aborts as cancelled, at once, even if the endpoint ignores its signal", async () => {
  const { balancer, log, values } = tracking<string, string>({ a: () => new Promise<string>(() => {}) });
  const controller = new AbortController();
  const pending = retry(balancer, { timeout: 1000 })("x", { signal: controller.signal });
  const reason = new Error("caller gave up");
  controller.abort(reason);
  await pending.then(() => assert.fail("expected a rejection"), (error) => assert.equal(error, reason));
  assert.deepStrictEqual(log, ["begin a", "end a cancelled"]);
  assert.deepStrictEqual(values, [reason]);
});

Deno.test("retry reports an attempt cut by attemptTimeout or the overall deadline as an error with a TimeoutError", async () => {
  using clock = disposable(fakeTime());
  const { balancer, log, values } = tracking<string, string>({
    a: () => new Promise<string>(() => {}),
    b: () => new Promise<string>(() => {}),
  });
  const pending = retry(balancer, { attempts: 2, timeout: 150, attemptTimeout: 100, ...noBackoff })("x");
  const settled = pending.then(() => assert.fail("expected a rejection"), (error) => error);
  await clock.tickAsync(100);
  assert.deepStrictEqual(log, ["begin a", "end a error", "begin b"]);
  await clock.tickAsync(50);
  const error = await settled;
  assert.ok(error instanceof RetryError && error.code === "ERR_DEADLINE_EXCEEDED");
  assert.deepStrictEqual(log, ["begin a", "end a error", "begin b", "end b error"]);
  assert.ok(values.every((v) => v instanceof DOMException && v.name === "TimeoutError"));
});

Deno.test("retry calls neither begin nor end when the balancer has no endpoint", async () => {
  let begun = 0;
  const balancer: Balancer<string, string> = {
    endpoint: () => {
      throw new Error("none");
    },
    begin: () => {
      begun++;
      return { end() {} };
    },
  };
  await retry(balancer, { attempts: 2, timeout: 1000, ...noBackoff })("x").catch(() => {});
  assert.equal(begun, 0);
});

Deno.test("retry works with balancers that do not implement begin", async () => {
  const balancer = new RoundRobinBalancer(new FixedEndpointer([(x: string) => Promise.resolve(x)]));
  assert.equal("begin" in balancer, false);
  assert.equal(await retry(balancer, { timeout: 1000 })("x"), "x");
});

Deno.test("balancedFetch reports a retryable status with its Response, then the success", async () => {
  const statuses = [503, 200];
  const { balancer, log, values } = tracking<Request, Response>({
    a: () => Promise.resolve(new Response(null, { status: statuses.shift()! })),
    b: () => Promise.resolve(new Response(null, { status: statuses.shift()! })),
  });
  const response = await balancedFetch(balancer, noBackoff)("/x");
  assert.equal(response.status, 200);
  assert.deepStrictEqual(log, ["begin a", "end a retryable", "begin b", "end b success"]);
  assert.deepStrictEqual(values.map((v) => (v as Response).status), [503, 200]);
});

Deno.test("beginCall returns the balancer's handle, or one that does nothing", () => {
  const endpoint: Endpoint<string, string> = (x) => Promise.resolve(x);
  const plain = new RoundRobinBalancer(new FixedEndpointer([endpoint]));
  const quiet = beginCall(plain, endpoint);
  quiet.end("success");
  quiet.end("error", new Error("ignored"));
  assert.equal(beginCall(plain, endpoint), quiet, "one shared handle, no allocation");
  const { balancer, log } = tracking({ a: endpoint });
  beginCall(balancer, balancer.endpoint()).end("success", "a");
  assert.deepStrictEqual(log, ["begin a", "end a success"]);
});

function disposable<T extends { uninstall(): void }>(clock: T): T & Disposable {
  return Object.assign(clock, { [Symbol.dispose]: () => clock.uninstall() });
}

Deno.test("retry tells onAttempt each attempt's number, endpoint, outcome, value and duration", async () => {
  using clock = disposable(fakeTime());
  const boom = new Error("boom");
  const a: Endpoint<string, string> = () => new Promise((_, reject) => setTimeout(() => reject(boom), 30));
  const b: Endpoint<string, string> = (x) => new Promise((resolve) => setTimeout(() => resolve(`b:${x}`), 5));
  const events: AttemptEvent<string>[] = [];
  const call = retry(new RoundRobinBalancer(new FixedEndpointer([a, b])), {
    timeout: 1000,
    onAttempt: (event) => {
      events.push(event);
      throw new Error("ignored: an observer cannot change the call");
    },
    now: () => Date.now(),
    ...noBackoff,
  });
  const pending = call("x");
  await clock.tickAsync(35);
  assert.equal(await pending, "b:x");
  assert.deepStrictEqual(events, [
    { attempt: 1, endpoint: a, outcome: "error", value: boom, duration: 30 },
    { attempt: 2, endpoint: b, outcome: "success", value: "b:x", duration: 5 },
  ]);
});

Deno.test("retry reads no clock when nobody listens to attempts", async () => {
  let reads = 0;
  const call = retry(new RoundRobinBalancer(new FixedEndpointer([(x: string) => Promise.resolve(x)])), {
    now: () => ++reads,
  });
  assert.equal(await call("x"), "x");
  assert.equal(reads, 0);
});

Deno.test("balancedFetch passes onAttempt through, with the Response as the value", async () => {
  const statuses = [503, 200];
  const endpoint = () => Promise.resolve(new Response(null, { status: statuses.shift()! }));
  const seen: string[] = [];
  const api = balancedFetch(new RoundRobinBalancer(new FixedEndpointer([endpoint, endpoint])), {
    onAttempt: (e) => seen.push(`${e.attempt} ${e.outcome} ${(e.value as Response).status}`),
    ...noBackoff,
  });
  assert.equal((await api("/x")).status, 200);
  assert.deepStrictEqual(seen, ["1 retryable 503", "2 success 200"]);
});
