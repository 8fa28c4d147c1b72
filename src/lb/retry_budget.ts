/**
 * A retry budget: retries may add at most a set share of the request rate, so that they cannot
 * multiply the load on a struggling service.
 *
 * @module
 */
import { requireFunction, requireMethod, requireNumber } from "../_validate.ts";
import type { Endpoint } from "../types.ts";
import type { Balancer } from "./balancer.ts";
import type { RetryCallback } from "./retry.ts";

/** Options for {@linkcode RetryBudget}. */
export interface RetryBudgetOptions {
  /** Retries allowed per request, over the window: 0.2 lets retries add at most 20% load. Default: 0.2. */
  ratio?: number;
  /** Retries allowed per second regardless of the request rate, so that a quiet client can retry. Default: 10. */
  minPerSecond?: number;
  /** Span, in milliseconds, over which requests and retries are counted (in ten buckets). Default: 10,000. */
  window?: number;
  /** Called when a retry is refused for lack of budget. Must not throw. */
  onExhausted?: () => void;
  /** Clock in milliseconds. Default: `Date.now`. */
  now?: () => number;
}

const BUCKETS = 10;

/**
 * Limits retries to `ratio` of the requests plus `minPerSecond`, counted over a sliding window (Finagle's
 * and Linkerd's retry budget). Without one, three attempts per call can triple the load on a service
 * that is failing because it is overloaded; with one, retries add at most 20% (by default) and a
 * trickle.
 *
 * Use it in two places: wrap the balancer with {@linkcode RetryBudget.balancer}, which counts each
 * call's first pick as a request and each later pick (one that excludes endpoints already tried) as a
 * retry, and pass {@linkcode RetryBudget.shouldRetry} (or {@linkcode RetryBudget.callback} around your
 * own) as `retry`'s or `balancedFetch`'s `shouldRetry`, which stops retrying while the budget is spent
 * and leaves the attempt's own error as the final one. Counting costs a clock read and two array
 * writes per pick; nothing is allocated.
 *
 * @example
 * ```ts
 * import { FixedEndpointer } from "@edgekit/sd";
 * import { retry, RetryBudget, RoundRobinBalancer } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * let attempts = 0;
 * const down = async () => {
 *   attempts++;
 *   throw new TypeError("connection refused");
 * };
 * const budget = new RetryBudget({ ratio: 0.1, minPerSecond: 0 });
 * const call = retry(budget.balancer(new RoundRobinBalancer(new FixedEndpointer([down, down]))), {
 *   attempts: 3,
 *   backoff: false,
 *   shouldRetry: budget.shouldRetry,
 * });
 * for (let i = 0; i < 100; i++) await call(undefined).catch(() => {});
 * assert(attempts <= 110); // not 300
 * ```
 */
export class RetryBudget {
  readonly #ratio: number;
  readonly #reserve: number;
  readonly #span: number;
  readonly #onExhausted: (() => void) | undefined;
  readonly #now: () => number;
  readonly #requests = new Float64Array(BUCKETS);
  readonly #retries = new Float64Array(BUCKETS);
  #requestSum = 0;
  #retrySum = 0;
  /** Index of the current bucket, counted from the clock's epoch. */
  #tick = -Infinity;

  /**
   * Creates the budget.
   *
   * @param options Ratio, minimum rate, window, hook and clock.
   * @throws {TypeError | RangeError} If an option is invalid.
   */
  constructor(options: RetryBudgetOptions = {}) {
    this.#ratio = requireNumber(options.ratio ?? 0.2, "options.ratio");
    const minPerSecond = requireNumber(options.minPerSecond ?? 10, "options.minPerSecond");
    const window = requireNumber(options.window ?? 10_000, "options.window");
    if (window === 0) throw new RangeError("options.window must be > 0, got 0");
    if (options.onExhausted !== undefined) requireFunction(options.onExhausted, "options.onExhausted");
    if (options.now !== undefined) requireFunction(options.now, "options.now");
    this.#reserve = minPerSecond * window / 1000;
    this.#span = window / BUCKETS;
    this.#onExhausted = options.onExhausted;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Retries the budget allows right now (may be fractional).
   *
   * @returns `reserve + ratio x requests - retries` over the window, at least 0.
   */
  available(): number {
    this.#advance();
    const left = this.#reserve + this.#ratio * this.#requestSum - this.#retrySum;
    return left > 0 ? left : 0;
  }

  /** Counts one request (a call's first attempt). */
  request(): void {
    this.#advance();
    this.#requests[this.#slot()]!++;
    this.#requestSum++;
  }

  /** Counts one retry that is being made. */
  retried(): void {
    this.#advance();
    this.#retries[this.#slot()]!++;
    this.#retrySum++;
  }

  /**
   * Whether one more retry fits in the budget; calls `onExhausted` when it does not.
   *
   * @returns `true` if at least one retry is available.
   */
  canRetry(): boolean {
    if (this.available() >= 1) return true;
    this.#onExhausted?.();
    return false;
  }

  /**
   * A `shouldRetry` callback for `retry` or `balancedFetch`: retry while the budget allows.
   */
  readonly shouldRetry: RetryCallback = () => this.canRetry();

  /**
   * A `shouldRetry` callback that asks `next` first, then the budget.
   *
   * @param next Your own callback; its "no" (and any replacement error) wins.
   * @returns The combined callback.
   * @throws {TypeError} If `next` is not a function.
   */
  callback(next: RetryCallback): RetryCallback {
    requireFunction(next, "next");
    return (attempt, error) => {
      const decision = next(attempt, error);
      const go = typeof decision === "boolean" ? decision : Boolean(decision?.retry);
      if (!go) return decision;
      return this.canRetry()
        ? decision
        : typeof decision === "boolean"
        ? false
        : { ...decision, retry: false };
    };
  }

  /**
   * Wraps a balancer so that its picks are counted: a pick with nothing excluded is a request, a pick
   * that excludes endpoints (a retry) is a retry. Attempts are passed on to its `begin`, if any.
   *
   * @param inner The balancer to count picks of.
   * @returns A balancer that picks exactly as `inner` does.
   * @throws {TypeError} If `inner` has no `endpoint()` method.
   */
  balancer<Req, Res>(inner: Balancer<Req, Res>): Balancer<Req, Res> {
    requireMethod(inner, "endpoint", "inner");
    const counted: Balancer<Req, Res> = {
      endpoint: (exclude?: ReadonlySet<Endpoint<Req, Res>>) => {
        if (exclude === undefined || exclude.size === 0) this.request();
        else this.retried();
        return inner.endpoint(exclude);
      },
    };
    if (inner.begin !== undefined) counted.begin = (endpoint) => inner.begin!(endpoint);
    return counted;
  }

  #slot(): number {
    const i = this.#tick % BUCKETS;
    return i < 0 ? i + BUCKETS : i;
  }

  /** Moves the window to the current time, dropping buckets that fell out of it. */
  #advance(): void {
    const tick = Math.floor(this.#now() / this.#span);
    if (tick <= this.#tick) return;
    const steps = tick - this.#tick;
    if (steps >= BUCKETS) {
      this.#requests.fill(0);
      this.#retries.fill(0);
      this.#requestSum = 0;
      this.#retrySum = 0;
    } else {
      for (let k = 1; k <= steps; k++) {
        let i = (this.#tick + k) % BUCKETS;
        if (i < 0) i += BUCKETS;
        this.#requestSum -= this.#requests[i]!;
        this.#retrySum -= this.#retries[i]!;
        this.#requests[i] = 0;
        this.#retries[i] = 0;
      }
    }
    this.#tick = tick;
  }
}
