import { assert } from "../_deps.ts";
import { NoEndpointsError, RetryError, SdError } from "../../src/errors.ts";
import { FixedEndpointer } from "../../src/fixed.ts";
import { RandomBalancer } from "../../src/lb/random.ts";
import { retry, type RetryOptions } from "../../src/lb/retry.ts";
import { RoundRobinBalancer } from "../../src/lb/round_robin.ts";
import type { Balancer } from "../../src/lb/balancer.ts";
import type { Endpoint } from "../../src/types.ts";

function roundRobin<Res>(endpoints: Endpoint<string, Res>[]): RoundRobinBalancer<string, Res> {
  return new RoundRobinBalancer(new FixedEndpointer(endpoints));
}

function failing(error: unknown): Endpoint<string, string> {
  return () => Promise.reject(error);
}

/** The rejection of `promise`; fails the test if it fulfils. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

async function retryError(promise: Promise<unknown>): Promise<RetryError> {
  const error = await rejection(promise);
  assert.ok(error instanceof RetryError, `expected a RetryError, got ${String(error)}`);
  return error;
}

const noBackoff = { backoff: false } as const;

Deno.test("retry gives up with an error when there are never endpoints (go-kit TestRetryMaxTotalFail)", async () => {
  const call = retry(roundRobin<string>([]), { attempts: 999, timeout: 1000, ...noBackoff });
  const error = await retryError(call("hello"));
  assert.equal(error.code, "ERR_RETRY_EXHAUSTED");
  assert.equal(error.errors.length, 999);
  assert.ok(error.errors.every((e) => e instanceof NoEndpointsError));
  assert.equal(error.final, error.errors[998]);
  assert.equal(error.cause, error.final);
});

Deno.test("retry stops after its attempts and never reaches the third endpoint (go-kit TestRetryMaxPartialFail)", async () => {
  const one = new Error("error one");
  const two = new Error("error two");
  let reached = 0;
  const balancer = roundRobin([failing(one), failing(two), () => {
    reached++;
    return Promise.resolve("ok");
  }]);
  const error = await retryError(retry(balancer, { attempts: 2, timeout: 1000, ...noBackoff })("x"));
  assert.equal(reached, 0);
  assert.equal(error.code, "ERR_RETRY_EXHAUSTED");
  assert.deepStrictEqual(error.errors, [one, two]);
  assert.equal(error.final, two);
  assert.equal(error.message, "All 2 attempts failed (1: Error: error one; 2: Error: error two)");
});

Deno.test("retry succeeds on the third attempt when allowed three (go-kit TestRetryMaxSuccess)", async () => {
  const balancer = roundRobin([
    failing(new Error("error one")),
    failing(new Error("error two")),
    (request: string) => Promise.resolve(`ok ${request}`),
  ]);
  assert.equal(await retry(balancer, { attempts: 3, timeout: 1000, ...noBackoff })("x"), "ok x");
});

Deno.test("retry hands the callback the attempt's error unchanged (go-kit TestErrorPassedUnchangedToCallback)", async () => {
  const myErr = new Error("my error");
  const seen: [number, unknown][] = [];
  const call = retry(roundRobin([failing(myErr)]), {
    timeout: 1000,
    shouldRetry: (attempt, error) => {
      seen.push([attempt, error]);
      return false;
    },
  });
  const error = await retryError(call("x"));
  assert.equal(seen.length, 1);
  assert.equal(seen[0]![0], 1);
  assert.equal(seen[0]![1], myErr);
  assert.equal(error.final, myErr);
  assert.deepStrictEqual(error.errors, [myErr]);
});

Deno.test("retry stops with the callback's replacement as the final error (go-kit TestAbortEarlyCustomMessage)", async () => {
  const myErr = new Error("aborting early");
  const call = retry(roundRobin<string>([]), {
    timeout: 1000,
    shouldRetry: () => ({ retry: false, error: myErr }),
  });
  const error = await retryError(call("x"));
  assert.equal(error.final, myErr);
  assert.equal(error.cause, myErr);
  assert.equal(error.errors.length, 1);
  assert.ok(error.errors[0] instanceof NoEndpointsError);
});

Deno.test("retry without a callback keeps trying until an attempt succeeds (go-kit TestHandleNilCallback)", async () => {
  const balancer = roundRobin([
    failing(new Error("a")),
    failing(new Error("b")),
    () => Promise.resolve("ok"),
  ]);
  // An explicitly undefined callback, as plain JavaScript may pass (go-kit: nil).
  const options = { attempts: 3, timeout: 1000, shouldRetry: undefined, ...noBackoff };
  const call = retry(balancer, options as unknown as RetryOptions<string>);
  assert.equal(await call("x"), "ok");
});

Deno.test("retry passes the request and a signal to the endpoint and returns its result untouched", async () => {
  const result = { body: "payload" };
  const got: [string, AbortSignal | undefined][] = [];
  const call = retry(
    new RoundRobinBalancer(
      new FixedEndpointer([(req: string, options) => {
        got.push([req, options?.signal]);
        return Promise.resolve(result);
      }]),
    ),
  );
  assert.equal(await call("request-1"), result);
  assert.equal(got.length, 1);
  assert.equal(got[0]![0], "request-1");
  assert.ok(got[0]![1] instanceof AbortSignal);
  assert.equal(got[0]![1]!.aborted, false);
});

Deno.test("retry lists every attempt's error in order in the RetryError", async () => {
  const errors = [new Error("first"), new TypeError("second"), "third as a string"];
  const call = retry(roundRobin(errors.map(failing)), { attempts: 3, timeout: 1000, ...noBackoff });
  const error = await retryError(call("x"));
  assert.deepStrictEqual(error.errors, errors);
  assert.ok(Object.isFrozen(error.errors));
  assert.equal(error.final, "third as a string");
  assert.equal(error.name, "RetryError");
  assert.ok(error instanceof SdError);
  assert.equal(
    error.message,
    'All 3 attempts failed (1: Error: first; 2: TypeError: second; 3: "third as a string")',
  );
});

Deno.test("retry asks the callback after every failed attempt, the last included, with 1-based attempt numbers", async () => {
  const errors = [new Error("e1"), new Error("e2"), new Error("e3")];
  const calls: [number, unknown][] = [];
  const call = retry(roundRobin(errors.map(failing)), {
    attempts: 3,
    timeout: 1000,
    ...noBackoff,
    shouldRetry: (attempt, error) => {
      calls.push([attempt, error]);
      return true;
    },
  });
  const error = await retryError(call("x"));
  assert.deepStrictEqual(calls, [[1, errors[0]], [2, errors[1]], [3, errors[2]]]);
  assert.equal(error.final, errors[2]);
  assert.deepStrictEqual(error.errors, errors);
});

Deno.test("retry with one attempt still asks the callback, which can replace the final error", async () => {
  const own = new Error("own");
  const replacement = new Error("replaced");
  const calls: [number, unknown][] = [];
  const call = retry(roundRobin([failing(own)]), {
    attempts: 1,
    timeout: 1000,
    ...noBackoff,
    shouldRetry: (attempt, error) => {
      calls.push([attempt, error]);
      return { retry: false, error: replacement };
    },
  });
  const error = await retryError(call("x"));
  assert.deepStrictEqual(calls, [[1, own]]);
  assert.equal(error.final, replacement);
  assert.deepStrictEqual(error.errors, [own]);
});

Deno.test("retry lets the callback's answer after the last attempt replace the error but not add an attempt", async () => {
  const errors = [new Error("e1"), new Error("e2")];
  const replacement = new Error("replaced");
  let made = 0;
  const call = retry(
    roundRobin(errors.map((e) => () => {
      made++;
      return Promise.reject(e);
    })),
    {
      attempts: 2,
      timeout: 1000,
      ...noBackoff,
      shouldRetry: (attempt) => attempt < 2 ? true : { retry: true, error: replacement },
    },
  );
  const error = await retryError(call("x"));
  assert.equal(made, 2);
  assert.equal(error.final, replacement);
  assert.deepStrictEqual(error.errors, errors);
});

Deno.test("retry stops with what a callback threw after the last attempt", async () => {
  const own = new Error("own");
  const thrown = new Error("callback broke");
  const call = retry(roundRobin([failing(own)]), {
    attempts: 1,
    timeout: 1000,
    shouldRetry: () => {
      throw thrown;
    },
  });
  const error = await retryError(call("x"));
  assert.equal(error.final, thrown);
  assert.deepStrictEqual(error.errors, [own]);
});

Deno.test("retry ignores a replacement when the callback says to keep trying before the last attempt", async () => {
  const own = new Error("own");
  const call = retry(roundRobin([failing(new Error("e1")), failing(own)]), {
    attempts: 2,
    timeout: 1000,
    ...noBackoff,
    shouldRetry: (attempt) => attempt === 1 ? { retry: true, error: new Error("ignored") } : true,
  });
  const error = await retryError(call("x"));
  assert.equal(error.final, own);
});

Deno.test("retry keeps the attempt's error as final when the callback stops without a replacement", async () => {
  const own = new Error("own");
  const call = retry(roundRobin([failing(own)]), { timeout: 1000, shouldRetry: () => ({ retry: false }) });
  const error = await retryError(call("x"));
  assert.equal(error.final, own);
});

Deno.test("retry stops with what a throwing callback threw", async () => {
  const attemptError = new Error("attempt");
  const callbackError = new Error("callback broke");
  let attempts = 0;
  const call = retry(
    roundRobin([() => {
      attempts++;
      return Promise.reject(attemptError);
    }]),
    {
      attempts: 5,
      timeout: 1000,
      shouldRetry: () => {
        throw callbackError;
      },
    },
  );
  const error = await retryError(call("x"));
  assert.equal(attempts, 1);
  assert.equal(error.final, callbackError);
  assert.deepStrictEqual(error.errors, [attemptError]);
});

Deno.test("retry prefers endpoints not yet tried in the call, with round robin", async () => {
  const order: string[] = [];
  // a fails and, meanwhile, another caller takes b's turn: plain round robin would hand a out again.
  const a: Endpoint<string, string> = () => {
    order.push("a");
    balancer.endpoint();
    return Promise.reject(new Error("a down"));
  };
  const b: Endpoint<string, string> = () => {
    order.push("b");
    return Promise.resolve("b");
  };
  const balancer = roundRobin([a, b]);
  assert.equal(await retry(balancer, { attempts: 2, timeout: 1000, ...noBackoff })("x"), "b");
  assert.deepStrictEqual(order, ["a", "b"]);
});

Deno.test("retry prefers endpoints not yet tried in the call, with random", async () => {
  const order: number[] = [];
  const endpoints = [0, 1, 2].map((i): Endpoint<string, string> => () => {
    order.push(i);
    return Promise.reject(new Error(`e${i}`));
  });
  // A source stuck at 0 would pick endpoint 0 every time without exclusion.
  const balancer = new RandomBalancer(new FixedEndpointer(endpoints), { random: () => 0 });
  const error = await retryError(retry(balancer, { attempts: 4, timeout: 1000, ...noBackoff })("x"));
  // Every endpoint once, then (all tried) the plain pick again.
  assert.deepStrictEqual(order, [0, 1, 2, 0]);
  assert.deepStrictEqual(error.errors.map((e) => (e as Error).message), ["e0", "e1", "e2", "e0"]);
});

Deno.test("retry starts each call with nothing excluded", async () => {
  const excluded: number[] = [];
  const endpoint: Endpoint<string, string> = () => Promise.reject(new Error("down"));
  const balancer: Balancer<string, string> = {
    endpoint(exclude) {
      excluded.push(exclude?.size ?? 0);
      return endpoint;
    },
  };
  const call = retry(balancer, { attempts: 2, timeout: 1000, ...noBackoff });
  await rejection(call("x"));
  await rejection(call("y"));
  assert.deepStrictEqual(excluded, [0, 1, 0, 1]);
});

Deno.test("retry returns the first result not marked for retry and discards the earlier ones in order", async () => {
  const discarded: string[] = [];
  const balancer = roundRobin(["503 a", "503 b", "200 c"].map((r) => () => Promise.resolve(r)));
  const call = retry(balancer, {
    attempts: 3,
    timeout: 1000,
    ...noBackoff,
    retryResult: (r) => r.startsWith("503"),
    discard: (r) => discarded.push(r),
  });
  assert.equal(await call("x"), "200 c");
  assert.deepStrictEqual(discarded, ["503 a", "503 b"]);
});

Deno.test("retry returns the last result marked for retry when attempts run out", async () => {
  const discarded: string[] = [];
  const balancer = roundRobin(["503 a", "503 b", "503 c"].map((r) => () => Promise.resolve(r)));
  const call = retry(balancer, {
    attempts: 3,
    timeout: 1000,
    ...noBackoff,
    retryResult: (r) => r.startsWith("503"),
    discard: (r) => discarded.push(r),
  });
  assert.equal(await call("x"), "503 c");
  assert.deepStrictEqual(discarded, ["503 a", "503 b"]);
});

Deno.test("retry counts a result marked for retry as an attempt error with code ERR_RETRYABLE_RESULT", async () => {
  const discarded: string[] = [];
  const last = new Error("connection refused");
  const balancer = roundRobin<string>([() => Promise.resolve("503 a"), failing(last)]);
  const call = retry(balancer, {
    attempts: 2,
    timeout: 1000,
    ...noBackoff,
    retryResult: (r) => r.startsWith("503"),
    discard: (r) => discarded.push(r),
  });
  const error = await retryError(call("x"));
  // The last attempt failed outright: the earlier 503 is not returned, and it was discarded.
  assert.deepStrictEqual(discarded, ["503 a"]);
  assert.equal(error.errors.length, 2);
  assert.ok(error.errors[0] instanceof SdError);
  assert.equal((error.errors[0] as SdError).code, "ERR_RETRYABLE_RESULT");
  assert.equal((error.errors[0] as SdError).message, "Attempt 1 returned a result marked for retry");
  assert.equal(error.final, last);
});

Deno.test("retry returns a result marked for retry when the callback stops without a replacement", async () => {
  const discarded: string[] = [];
  const call = retry(roundRobin([() => Promise.resolve("503 a")]), {
    attempts: 3,
    timeout: 1000,
    retryResult: () => true,
    discard: (r) => discarded.push(r),
    shouldRetry: () => false,
  });
  assert.equal(await call("x"), "503 a");
  assert.deepStrictEqual(discarded, []);
});

Deno.test("retry discards a kept result when the callback stops with a replacement error", async () => {
  const discarded: string[] = [];
  const replacement = new Error("circuit open");
  const call = retry(roundRobin([() => Promise.resolve("503 a")]), {
    attempts: 3,
    timeout: 1000,
    retryResult: () => true,
    discard: (r) => discarded.push(r),
    shouldRetry: () => ({ retry: false, error: replacement }),
  });
  const error = await retryError(call("x"));
  assert.equal(error.final, replacement);
  assert.deepStrictEqual(discarded, ["503 a"]);
});

Deno.test("retry discards a kept result when the callback throws", async () => {
  const discarded: string[] = [];
  const thrown = new Error("callback broke");
  const call = retry(roundRobin([() => Promise.resolve("503 a")]), {
    attempts: 3,
    timeout: 1000,
    retryResult: () => true,
    discard: (r) => discarded.push(r),
    shouldRetry: () => {
      throw thrown;
    },
  });
  const error = await retryError(call("x"));
  assert.equal(error.final, thrown);
  assert.deepStrictEqual(discarded, ["503 a"]);
});

Deno.test("retry with no timeout (Infinity) still retries and succeeds", async () => {
  const call = retry(roundRobin([failing(new Error("a")), () => Promise.resolve("ok")]), {
    timeout: Infinity,
    ...noBackoff,
  });
  assert.equal(await call("x"), "ok");
});

Deno.test("retry rejects bad options with TypeError or RangeError naming the value", () => {
  const balancer = roundRobin<string>([]);
  const cases: [RetryOptions<string>, typeof TypeError | typeof RangeError, RegExp][] = [
    [{ attempts: 0 }, RangeError, /^options\.attempts must be an integer >= 1, got 0$/],
    [{ attempts: 1.5 }, RangeError, /^options\.attempts must be an integer >= 1, got 1\.5$/],
    [{ attempts: -2 }, RangeError, /got -2$/],
    [{ attempts: Infinity }, RangeError, /got Infinity$/],
    [{ attempts: NaN }, TypeError, /^options\.attempts must be a number, got NaN$/],
    [{ attempts: "3" as unknown as number }, TypeError, /got "3"$/],
    [{ timeout: -1 }, RangeError, /^options\.timeout must be a finite number >= 0, got -1$/],
    [{ timeout: NaN }, TypeError, /^options\.timeout must be a number, got NaN$/],
    [{ attemptTimeout: -5 }, RangeError, /^options\.attemptTimeout .*got -5$/],
    [{ attemptTimeout: null as unknown as number }, TypeError, /^options\.attemptTimeout .*got null$/],
    [
      { shouldRetry: "yes" as unknown as () => boolean },
      TypeError,
      /^options\.shouldRetry must be a function, got "yes"$/,
    ],
    [{ backoff: { initial: -1 } }, RangeError, /^options\.backoff\.initial .*got -1$/],
    [{ backoff: { max: NaN } }, TypeError, /^options\.backoff\.max must be a number, got NaN$/],
    [{ backoff: { multiplier: 0.5 } }, RangeError, /^options\.backoff\.multiplier .*>= 1, got 0\.5$/],
    [{ random: 5 as unknown as () => number }, TypeError, /^options\.random must be a function, got 5$/],
    [{ retryResult: true as unknown as () => boolean }, TypeError, /^options\.retryResult .*got true$/],
    [
      { discard: {} as unknown as () => void },
      TypeError,
      /^options\.discard must be a function, got an object$/,
    ],
  ];
  for (const [options, ErrorClass, message] of cases) {
    assert.throws(
      () => retry(balancer, options),
      (error: unknown) => error instanceof ErrorClass && message.test(error.message),
      `options ${Deno.inspect(options)}`,
    );
  }
  assert.throws(
    () => retry({} as Balancer<string, string>),
    /^TypeError: balancer must have a endpoint\(\) method, got an object$/,
  );
});

Deno.test("retry rejects a per-call signal that is not an AbortSignal", async () => {
  let picked = 0;
  const call = retry<string, string>({
    endpoint: () => {
      picked++;
      return () => Promise.resolve("ok");
    },
  });
  const error = await rejection(call("x", { signal: "stop" as unknown as AbortSignal }));
  assert.ok(error instanceof TypeError);
  assert.equal(error.message, 'signal must be an AbortSignal, got "stop"');
  assert.equal(picked, 0);
});
