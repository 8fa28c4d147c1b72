// A call with no deadline, no caller's signal and nobody listening runs its first attempt outside the
// retry loop (src/lb/_run_retry.ts). These tests run each scenario both ways (bare: `timeout:
// Infinity`; loop: a deadline that never comes due) and require the same picks, endpoint calls,
// callbacks, discards and outcome.
import { assert } from "../_deps.ts";
import { RetryError } from "../../src/errors.ts";
import type { Balancer } from "../../src/lb/balancer.ts";
import { retry, type RetryOptions } from "../../src/lb/retry.ts";
import type { Endpoint } from "../../src/types.ts";

type Step = "throw" | "retryable" | "ok" | "no endpoint";

/** What a scenario did, in order, and how the call ended. */
async function trace(steps: Step[], options: RetryOptions<string>): Promise<string[]> {
  const log: string[] = [];
  let n = 0;
  const endpoints: Endpoint<string, string>[] = ["a", "b", "c", "d"].map((name) => (request) => {
    const step = steps[n++];
    log.push(`call ${name}(${request}) -> ${step}`);
    if (step === "throw") return Promise.reject(new Error(`${name} failed`));
    return Promise.resolve(step === "retryable" ? `${name}:retry` : `${name}:ok`);
  });
  let pick = 0;
  const balancer: Balancer<string, string> = {
    endpoint(exclude) {
      log.push(`pick (excluding ${exclude === undefined ? "none" : [...exclude].length})`);
      if (steps[n] === "no endpoint") {
        n++;
        throw new Error("no endpoint");
      }
      return endpoints[pick++ % endpoints.length]!;
    },
  };
  const call = retry(balancer, {
    backoff: false,
    retryResult: (result) => {
      log.push(`retryResult ${result}`);
      return result.endsWith(":retry");
    },
    discard: (result) => log.push(`discard ${result}`),
    shouldRetry: (attempt, error) => {
      log.push(`shouldRetry ${attempt} ${error instanceof Error ? error.message : String(error)}`);
      return true;
    },
    ...options,
  });
  try {
    log.push(`returned ${await call("x")}`);
  } catch (error) {
    assert.ok(error instanceof RetryError);
    const final = error.final instanceof Error ? error.final.message : String(error.final);
    log.push(`threw ${error.code} (${error.errors.length} errors, final: ${final})`);
  }
  return log;
}

const scenarios: [string, Step[], RetryOptions<string>][] = [
  ["the first attempt succeeds", ["ok"], {}],
  ["the first attempt throws, the second succeeds", ["throw", "ok"], {}],
  ["the balancer has no endpoint first, then one", ["no endpoint", "ok"], {}],
  ["a retryable result, then success (the first is discarded)", ["retryable", "ok"], {}],
  ["every attempt retryable: the last result is returned", ["retryable", "retryable", "retryable"], {}],
  ["one attempt only, retryable: it is returned", ["retryable"], { attempts: 1 }],
  ["one attempt only, thrown: a RetryError", ["throw"], { attempts: 1 }],
  ["every attempt throws", ["throw", "throw", "throw"], {}],
];

for (const [name, steps, options] of scenarios) {
  Deno.test(`retry without a deadline runs the first attempt bare, as the loop would: ${name}`, async () => {
    const bare = await trace(steps, { ...options, timeout: Infinity });
    const loop = await trace(steps, { ...options, timeout: 1e9 });
    assert.deepEqual(bare, loop);
  });
}

Deno.test("retry without a deadline, as the loop: a retryResult that throws gets its result discarded", async () => {
  const run = async (timeout: number) => {
    const log: string[] = [];
    const boom = new Error("retryResult broke");
    const call = retry({ endpoint: () => () => Promise.resolve("r") }, {
      attempts: 2,
      timeout,
      backoff: false,
      retryResult: () => {
        log.push("retryResult");
        throw boom;
      },
      discard: (result) => log.push(`discard ${result}`),
    });
    const error = await call(undefined).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof RetryError);
    assert.deepEqual(error.errors, [boom, boom]);
    return log;
  };
  const bare = await run(Infinity);
  assert.deepEqual(bare, ["retryResult", "discard r", "retryResult", "discard r"]);
  assert.deepEqual(await run(1e9), bare);
});

Deno.test("retry without a deadline turns an endpoint's synchronous throw into an attempt error", async () => {
  const call = retry({
    endpoint: () => () => {
      throw new TypeError("sync");
    },
  }, { attempts: 2, timeout: Infinity, backoff: false });
  const error = await call(undefined).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof RetryError);
  assert.equal(error.errors.length, 2);
  assert.ok(error.errors.every((e) => e instanceof TypeError));
});
