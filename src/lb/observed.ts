/**
 * Per-endpoint call figures gathered through the call-outcome seam, for status pages and metrics.
 *
 * @module
 */
import { requireFunction, requireMethod } from "../_validate.ts";
import type { Endpoint } from "../types.ts";
import type { Balancer, CallHandle, CallOutcome } from "./balancer.ts";

/** What an {@linkcode ObservedBalancer} knows about one endpoint. */
export interface CallFigures {
  /** Attempts begun. */
  readonly calls: number;
  /** Attempts that ended `"error"` or `"retryable"`. */
  readonly failures: number;
  /** Attempts begun and not yet ended. */
  readonly inFlight: number;
  /** Milliseconds the last ended attempt took (a cancelled one aside); `null` before one has. */
  readonly lastLatency: number | null;
}

/** Options for {@linkcode ObservedBalancer}. */
export interface ObservedBalancerOptions {
  /** Clock in milliseconds for {@linkcode CallFigures.lastLatency}. Default: `performance.now`. */
  now?: () => number;
}

interface Counters {
  calls: number;
  failures: number;
  inFlight: number;
  lastLatency: number | null;
}

/**
 * Wraps a balancer and counts, per endpoint, the attempts that `retry`, `balancedFetch` or
 * `serviceProxy` report through {@linkcode Balancer.begin}: calls, failures, calls in flight and the
 * last latency. Picks and the inner balancer's own learning are unchanged (its `begin` is called as
 * before). Only a wrapped balancer pays for it: one handle and two clock reads per attempt; the
 * figures are kept per endpoint object, weakly, so an instance that goes away takes them along.
 *
 * @example
 * ```ts
 * import { DefaultEndpointer, FixedInstancer } from "@edgekit/sd";
 * import { ObservedBalancer, retry, RoundRobinBalancer } from "@edgekit/sd/lb";
 * import { assertEquals } from "@std/assert";
 *
 * using endpointer = new DefaultEndpointer(
 *   new FixedInstancer(["a:80", "b:80"]),
 *   (instance) => ({
 *     endpoint: async () => {
 *       if (instance === "a:80") throw new TypeError("connection refused");
 *       return instance;
 *     },
 *   }),
 * );
 * await endpointer.ready();
 * let now = 0;
 * const observed = new ObservedBalancer(new RoundRobinBalancer(endpointer), { now: () => now++ });
 * await retry(observed, { backoff: false })(undefined);
 * const [a, b] = endpointer.entries().map((e) => observed.figures(e.endpoint));
 * assertEquals(a, { calls: 1, failures: 1, inFlight: 0, lastLatency: 1 });
 * assertEquals(b, { calls: 1, failures: 0, inFlight: 0, lastLatency: 1 });
 * ```
 */
export class ObservedBalancer<Req = unknown, Res = unknown> implements Balancer<Req, Res> {
  /** The wrapped balancer (a status page also reads its `inFlight`, `rtt` or `isEjected`). */
  readonly inner: Balancer<Req, Res>;
  readonly #now: () => number;
  readonly #figures = new WeakMap<Endpoint<Req, Res>, Counters>();

  /**
   * Creates the wrapper.
   *
   * @param inner The balancer that picks.
   * @param options The clock.
   * @throws {TypeError} If `inner` has no `endpoint` method or `now` is not a function.
   */
  constructor(inner: Balancer<Req, Res>, options: ObservedBalancerOptions = {}) {
    requireMethod(inner, "endpoint", "inner");
    if (options.now !== undefined) requireFunction(options.now, "options.now");
    this.inner = inner;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Picks with the inner balancer.
   *
   * @param exclude Endpoints to avoid if another is available.
   * @returns An endpoint.
   * @throws {NoEndpointsError} If there are no endpoints.
   */
  endpoint(exclude?: ReadonlySet<Endpoint<Req, Res>>): Endpoint<Req, Res> {
    return this.inner.endpoint(exclude);
  }

  /**
   * Counts an attempt on `endpoint` and tells the inner balancer.
   *
   * @param endpoint An endpoint this balancer picked.
   * @returns The handle to end the attempt on.
   */
  begin(endpoint: Endpoint<Req, Res>): CallHandle {
    const inner = this.inner.begin?.(endpoint);
    let counters = this.#figures.get(endpoint);
    if (counters === undefined) {
      counters = { calls: 0, failures: 0, inFlight: 0, lastLatency: null };
      this.#figures.set(endpoint, counters);
    }
    counters.calls++;
    counters.inFlight++;
    const started = this.#now();
    const target = counters;
    let open = true;
    return {
      end: (outcome: CallOutcome, value?: unknown) => {
        if (!open) return;
        open = false;
        target.inFlight--;
        if (outcome === "error" || outcome === "retryable") target.failures++;
        if (outcome !== "cancelled") target.lastLatency = this.#now() - started;
        inner?.end(outcome, value);
      },
    };
  }

  /**
   * The figures of `endpoint` now.
   *
   * @param endpoint One of the endpoints.
   * @returns A copy of its figures (all zero for an endpoint never called).
   */
  figures(endpoint: Endpoint<Req, Res>): CallFigures {
    const counters = this.#figures.get(endpoint);
    return counters === undefined
      ? { calls: 0, failures: 0, inFlight: 0, lastLatency: null }
      : { ...counters };
  }
}
