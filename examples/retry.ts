/**
 * Retry across instances: a flaky instance fails, the call moves on to one not yet tried, with a
 * jittered backoff between attempts, inside an overall deadline. A callback stops early on errors that
 * retrying cannot fix and replaces them with a clearer one.
 *
 * Run: `deno run examples/retry.ts`
 */
import { FixedEndpointer, type RetryError } from "../mod.ts";
import { retry, RoundRobinBalancer } from "../src/lb/mod.ts";

class NotFound extends Error {}

let calls = 0;
const flaky = (id: number) => {
  calls++;
  return Promise.reject(new Error(`instance A refused request ${id}`));
};
const healthy = (id: number) => {
  calls++;
  if (id === 404) return Promise.reject(new NotFound(`no user ${id}`));
  return Promise.resolve({ id, name: `user-${id}` });
};

const getUser = retry(new RoundRobinBalancer(new FixedEndpointer([flaky, healthy])), {
  attempts: 3,
  timeout: 2000,
  backoff: { initial: 20, max: 200 },
  shouldRetry: (_attempt, error) =>
    error instanceof NotFound
      ? { retry: false, error: new Error("User does not exist", { cause: error }) }
      : true,
});

console.log(await getUser(7), `after ${calls} attempts`);

try {
  await getUser(404);
} catch (error) {
  const e = error as RetryError;
  console.log(`${e.code}: final error "${(e.final as Error).message}"; attempts: ${e.errors.length}`);
}
