// deno bench: the CPU the request path adds to one call (#12 item 1), with a stub fetch that answers at
// once, so that only the library's work is timed. The baseline is the stub fetch called directly.
// balancedFetch runs over a round robin of 10 httpFactory endpoints, as a gateway would use it.
import { FixedEndpointer } from "../src/fixed.ts";
import { balancedFetch } from "../src/http/balanced_fetch.ts";
import { type FetchFunction, httpFactory } from "../src/http/factory.ts";
import { retry } from "../src/lb/retry.ts";
import { RoundRobinBalancer } from "../src/lb/round_robin.ts";

const OK = new Response(null, { status: 200 });
// Counts calls, so that the work cannot be optimised away.
export let calls = 0;
const stub: FetchFunction = () => {
  calls++;
  return Promise.resolve(OK);
};

const instances = Array.from({ length: 10 }, (_, i) => `10.0.0.${i + 1}:8080`);
function balancer(): RoundRobinBalancer<Request, Response> {
  const factory = httpFactory({ fetch: stub });
  return new RoundRobinBalancer(new FixedEndpointer(instances.map((i) => factory(i, {}).endpoint)));
}

const api = balancedFetch(balancer());
const timed = balancedFetch(balancer(), { timeout: 10_000 });
const caller = new AbortController().signal;
const request = new Request("http://service/users/1?x=2");
const endpoint = httpFactory({ fetch: stub })("10.0.0.1:8080", {}).endpoint;
const plain = retry(new RoundRobinBalancer(new FixedEndpointer([(x: number) => Promise.resolve(x + 1)])));

Deno.bench({
  name: "stub fetch called directly (baseline)",
  group: "one call",
  baseline: true,
  async fn() {
    await stub("http://10.0.0.1:8080/users/1?x=2");
  },
});

Deno.bench({
  name: 'balancedFetch("/users/1?x=2"), default options (no deadline, as fetch)',
  group: "one call",
  async fn() {
    await api("/users/1?x=2");
  },
});

Deno.bench({
  name: "balancedFetch with a 10 s deadline (timeout: 10_000)",
  group: "one call",
  async fn() {
    await timed("/users/1?x=2");
  },
});

Deno.bench({
  name: "balancedFetch with a caller's signal, default options",
  group: "one call",
  async fn() {
    await api("/users/1?x=2", { signal: caller });
  },
});

Deno.bench({
  name: "balancedFetch(request), a Request input, default options",
  group: "one call",
  async fn() {
    await api(request);
  },
});

Deno.bench({
  name: "httpFactory endpoint(request) alone, default options",
  group: "one call",
  async fn() {
    await endpoint(request);
  },
});

Deno.bench({
  name: "retry() over one endpoint, default options (10 s deadline)",
  group: "one call",
  async fn() {
    await plain(1);
  },
});

// 32 calls in flight at once, as a gateway under load has them: per iteration 32 calls, so divide the
// time by 32. Deadlines of calls that overlap share one timer (DeadlineQueue).
const BATCH = 32;
Deno.bench({
  name: "32 concurrent: stub fetch called directly (baseline)",
  group: "32 calls in flight",
  baseline: true,
  async fn() {
    await Promise.all(Array.from({ length: BATCH }, () => stub("http://10.0.0.1:8080/users/1?x=2")));
  },
});

Deno.bench({
  name: "32 concurrent: balancedFetch, default options",
  group: "32 calls in flight",
  async fn() {
    await Promise.all(Array.from({ length: BATCH }, () => api("/users/1?x=2")));
  },
});

Deno.bench({
  name: "32 concurrent: balancedFetch with a 10 s deadline",
  group: "32 calls in flight",
  async fn() {
    await Promise.all(Array.from({ length: BATCH }, () => timed("/users/1?x=2")));
  },
});

Deno.bench({
  name: "32 concurrent: a controller and a 10 s timer per call around the stub (a raw fetch's deadline)",
  group: "32 calls in flight",
  async fn() {
    await Promise.all(Array.from({ length: BATCH }, () => {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 10_000);
      return stub("http://10.0.0.1:8080/users/1?x=2", { signal: controller.signal }).finally(() =>
        clearTimeout(timer)
      );
    }));
  },
});
