import { assert } from "../_deps.ts";
import { RetryError } from "../../src/errors.ts";
import { FixedEndpointer } from "../../src/fixed.ts";
import { retry } from "../../src/lb/retry.ts";
import { RoundRobinBalancer } from "../../src/lb/round_robin.ts";

Deno.test("retry discards a result whose retryResult callback throws, and counts the throw as the attempt's error", async () => {
  const discarded: string[] = [];
  const boom = new Error("retryResult broke");
  const call = retry(new RoundRobinBalancer(new FixedEndpointer([() => Promise.resolve("first")])), {
    attempts: 2,
    backoff: false,
    retryResult: (result) => {
      if (result === "first") throw boom;
      return false;
    },
    discard: (result) => discarded.push(result),
  });
  const error = await call(undefined).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof RetryError);
  assert.deepEqual(error.errors, [boom, boom]);
  assert.deepEqual(discarded, ["first", "first"]);
});

Deno.test("retry hands back a result that retryResult accepts without discarding it", async () => {
  const discarded: string[] = [];
  const call = retry(new RoundRobinBalancer(new FixedEndpointer([() => Promise.resolve("ok")])), {
    retryResult: () => false,
    discard: (result) => discarded.push(result),
  });
  assert.equal(await call(undefined), "ok");
  assert.deepEqual(discarded, []);
});
