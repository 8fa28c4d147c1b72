/**
 * Request-driven discovery for hosts that forbid background work between requests (Cloudflare
 * Workers and other request-scoped runtimes): no timer, loop or connection outlives a call.
 *
 * @module
 */
import { backoffDelay, type BackoffOptions, delay, raceSignal } from "./_async.ts";
import type { InstanceInput } from "./_event.ts";
import { requireFunction, requireNumber, requireSignal } from "./_validate.ts";
import { BackgroundInstancer, backoffOptions } from "./background_instancer.ts";
import {
  describe,
  isSdError,
  MalformedResponseError,
  RegistryUnavailableError,
  SdError,
  StoppedError,
} from "./errors.ts";
import type { Logger } from "./types.ts";

/** What one lookup found: the complete set of instances, and how long the registry says it stays fresh. */
export interface LookupResult {
  /** Every instance of the service (bare strings or strings with details, any order). */
  readonly instances: Iterable<InstanceInput>;
  /**
   * How long the answer stays fresh, in milliseconds, when the registry says so (a DNS TTL, an HTTP
   * `Cache-Control: max-age`). `undefined` means the instancer's `ttl` option applies.
   */
  readonly ttl?: number | undefined;
}

/** What a {@linkcode Lookup} is given. */
export interface LookupOptions {
  /** Aborts the lookup: on the caller's signal, the refresh timeout, or `stop()`. */
  readonly signal: AbortSignal;
}

/**
 * One non-blocking read of a service's instances from a registry. Every backend builds one
 * (`consulLookup`, `etcdLookup`, `eurekaLookup`, `srvLookup`, `zkLookup`, `memoryLookup`).
 */
export type Lookup = (options: LookupOptions) => Promise<LookupResult>;

/** Options for {@linkcode PullInstancer}. All durations are in milliseconds. */
export interface PullInstancerOptions {
  /** How long a looked-up set stays fresh when the registry gives no TTL. Default: 10000. */
  ttl?: number;
  /** Floor for a registry's TTL, so that a TTL of 0 does not mean a lookup per request. Default: 1000. */
  minTtl?: number;
  /** Ceiling for a registry's TTL. Default: 300000 (5 min). */
  maxTtl?: number;
  /**
   * After the TTL, serve the known set at once for this long while one refresh runs in the
   * background (through the caller's `waitUntil` when given). Default: 60000.
   */
  staleWhileRevalidate?: number;
  /**
   * Once a refresh has failed, keep serving the last good set for this long past its expiry; after
   * that the failure is reported (an error event, and {@linkcode PullInstancer.refresh} rejects).
   * Default: 300000 (5 min).
   */
  staleIfError?: number;
  /** Bound on one lookup, whatever the lookup does with its signal. Default: 5000. */
  timeout?: number;
  /**
   * Spacing of refreshes after failures: capped exponential with jitter. Default: 1000 doubling to
   * 30000.
   */
  backoff?: Partial<BackoffOptions>;
  /**
   * How often a call that found another call's refresh in flight looks for its outcome. It never
   * awaits the other call's promise (a Worker request must not). Default: 10.
   */
  waitInterval?: number;
  /** Stops the instancer when aborted. */
  signal?: AbortSignal;
  /** Clock. Default: `Date.now`. */
  now?: () => number;
  /** Randomness for the backoff jitter, in [0, 1). Default: `Math.random`. */
  random?: () => number;
  /** Receives refresh failures that are being ridden out. Default: silent. */
  logger?: Logger;
}

/** Options for {@linkcode PullInstancer.refresh}: what the current request offers. */
export interface RefreshOptions {
  /** The request's signal: aborts waiting and an inline lookup (a background refresh is not tied to it). */
  signal?: AbortSignal;
  /**
   * Keeps a background refresh alive after the response, e.g. a Worker's `ctx.waitUntil` (pass it as
   * `(p) => ctx.waitUntil(p)`). Without it a background refresh runs unawaited, which long-lived hosts
   * allow and Workers may cut short (a cut-short refresh is taken over after `timeout`).
   */
  waitUntil?: (promise: Promise<unknown>) => void;
}

/** How a {@linkcode PullInstancer.refresh} call was answered. */
export type RefreshSource =
  /** Within the TTL: nothing was looked up. */
  | "fresh"
  /** Past the TTL, within `staleWhileRevalidate`: the known set, with a refresh in the background. */
  | "stale"
  /** Looked up inline by this call. */
  | "refreshed"
  /** Another call's refresh was in flight; this call waited for its result (without awaiting it). */
  | "coalesced"
  /** The last refresh failed; the last good set is served within `staleIfError`. */
  | "stale-if-error";

/** The outcome of {@linkcode PullInstancer.refresh}. */
export interface RefreshResult {
  /** How the call was answered. */
  readonly source: RefreshSource;
  /** Lookups this call started: 0 or 1, never more. */
  readonly lookups: 0 | 1;
  /** Age of the set being served, in milliseconds since its lookup finished. */
  readonly age: number;
  /** The failure being ridden out, for `"stale-if-error"`. */
  readonly error?: unknown;
}

/** Plain facts about a {@linkcode PullInstancer}, for status pages and logs. */
export interface PullStatus {
  /** When the served set was looked up (clock time), if ever. */
  readonly fetchedAt: number | undefined;
  /** When the served set stops being fresh. */
  readonly expiresAt: number | undefined;
  /** Refreshes failed in a row since the last success. */
  readonly failures: number;
  /** The last refresh failure, until a refresh succeeds. */
  readonly lastError: unknown;
  /** Whether a refresh is in flight (started by any call). */
  readonly refreshing: boolean;
  /** Lookups started since construction. */
  readonly lookups: number;
}

const DEFAULT_BACKOFF: BackoffOptions = { initial: 1_000, max: 30_000, multiplier: 2 };

/**
 * An Instancer driven by its callers instead of a background loop, for hosts that forbid background
 * work between requests. Build it (and the endpointer on it) once, at module scope: the constructor
 * does no I/O and starts no timer. Then call {@linkcode PullInstancer.refresh} at the top of each
 * request: within `ttl` it returns at once with no lookup; within `staleWhileRevalidate` it serves the
 * known set and refreshes in the background (through `waitUntil`); past that, or with nothing known,
 * it looks up inline, bounded by `timeout` and the caller's signal.
 *
 * Concurrent calls share one refresh without sharing a promise: what crosses calls is plain settled
 * data (the set, its timestamps, the last error), and a call that finds another's refresh in flight
 * polls that data on its own timer. A call makes at most one lookup, and the instancer at most one per
 * `ttl` while lookups succeed; failures are spaced by a capped, jittered backoff.
 *
 * It implements the Instancer contract, so {@linkcode DefaultEndpointer}, the balancers, `retry` and
 * `balancedFetch` work on it unchanged. Give the endpointer `invalidateAfter: 0` so that, once
 * `staleIfError` has run out, `endpoints()` throws the discovery error instead of serving an old set.
 *
 * @example A Worker-shaped handler over the in-memory registry
 * ```ts
 * import { DefaultEndpointer, PullInstancer } from "@edgekit/sd";
 * import { MemoryRegistry, memoryLookup } from "@edgekit/sd/memory";
 * import { assertEquals } from "@std/assert";
 *
 * using registry = new MemoryRegistry();
 * registry.register("users", "10.0.0.1:8080");
 *
 * // Module scope: no I/O, no timers.
 * using users = new PullInstancer(memoryLookup(registry, "users"), { ttl: 30_000 });
 * using endpointer = new DefaultEndpointer(users, (instance) => ({ endpoint: async () => instance }), {
 *   invalidateAfter: 0,
 * });
 *
 * // Per request:
 * const first = await users.refresh();
 * assertEquals(first.source, "refreshed");
 * assertEquals(await endpointer.endpoints()[0]!(undefined), "10.0.0.1:8080");
 * const second = await users.refresh();
 * assertEquals([second.source, second.lookups], ["fresh", 0]);
 * ```
 */
export class PullInstancer extends BackgroundInstancer {
  readonly #lookup: Lookup;
  readonly #ttl: number;
  readonly #minTtl: number;
  readonly #maxTtl: number;
  readonly #swr: number;
  readonly #staleIfError: number;
  readonly #timeout: number;
  readonly #backoff: BackoffOptions;
  readonly #waitInterval: number;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #logger: Logger | undefined;

  // Shared across calls (and, in a Worker, across requests) as plain settled data only.
  #fetchedAt: number | undefined;
  #expiresAt = -Infinity;
  #inflight: { id: number; since: number } | undefined;
  #settled = 0;
  #started = 0;
  #failures = 0;
  #retryAt = -Infinity;
  #lastError: unknown;

  /**
   * Creates the instancer. Nothing is looked up until the first {@linkcode PullInstancer.refresh}.
   *
   * @param lookup One read of the service's instances (see the backends' `*Lookup` functions).
   * @param options TTLs, bounds, backoff, clock, randomness, logger and a stop signal.
   * @throws {TypeError | RangeError} If an option is invalid.
   */
  constructor(lookup: Lookup, options: PullInstancerOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object, got ${describe(options)}`);
    }
    // The base wires the `signal` option and the stop signal; no loop is ever started.
    super(options);
    requireFunction(lookup, "lookup");
    this.#lookup = lookup;
    this.#ttl = requireNumber(options.ttl ?? 10_000, "options.ttl");
    this.#minTtl = requireNumber(options.minTtl ?? Math.min(1_000, this.#ttl), "options.minTtl");
    this.#maxTtl = requireNumber(options.maxTtl ?? Math.max(300_000, this.#ttl), "options.maxTtl");
    if (this.#minTtl > this.#maxTtl) {
      throw new RangeError(
        `options.minTtl (${this.#minTtl}) must not exceed options.maxTtl (${this.#maxTtl})`,
      );
    }
    this.#swr = requireNumber(options.staleWhileRevalidate ?? 60_000, "options.staleWhileRevalidate");
    this.#staleIfError = requireNumber(options.staleIfError ?? 300_000, "options.staleIfError");
    this.#timeout = requireNumber(options.timeout ?? 5_000, "options.timeout", { min: 1 });
    this.#backoff = backoffOptions(options.backoff, DEFAULT_BACKOFF);
    this.#waitInterval = requireNumber(options.waitInterval ?? 10, "options.waitInterval", { min: 1 });
    if (options.now !== undefined) requireFunction(options.now, "options.now");
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger;
  }

  /**
   * Makes the known set good enough for the current request, looking it up only when needed (see the
   * class description). Call it before reading the endpointer.
   *
   * @param options The request's signal and `waitUntil`.
   * @returns How the call was answered.
   * @throws The discovery error when nothing servable is known: no set yet, or `staleIfError` has run
   *   out since the last failure (a Worker answers 503). Lookup timeouts become a
   *   {@linkcode RegistryUnavailableError}. The caller's signal's reason if it aborts. A
   *   {@linkcode StoppedError} after stop.
   */
  refresh(options: RefreshOptions = {}): Promise<RefreshResult> {
    // The warm path (a fresh set) stays synchronous: no async frame, one settled promise.
    if (this.#fetchedAt !== undefined && !this.stopped && options?.signal?.aborted !== true) {
      const now = this.#now();
      if (now < this.#expiresAt) {
        return Promise.resolve({ source: "fresh", lookups: 0, age: now - this.#fetchedAt });
      }
    }
    return this.#refresh(options);
  }

  async #refresh(options: RefreshOptions): Promise<RefreshResult> {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object, got ${describe(options)}`);
    }
    const { signal, waitUntil } = options;
    requireSignal(signal, "options.signal");
    if (waitUntil !== undefined) requireFunction(waitUntil, "options.waitUntil");
    if (this.stopped) throw new StoppedError("PullInstancer");
    signal?.throwIfAborted();
    let waited = false;
    for (;;) {
      const now = this.#now();
      if (this.#fetchedAt !== undefined && now < this.#expiresAt) {
        return { source: waited ? "coalesced" : "fresh", lookups: 0, age: now - this.#fetchedAt };
      }
      const stale = this.#staleAnswer(now, waitUntil);
      if (stale !== undefined) return stale;
      if (!waited && this.#refreshing(now)) {
        // Another call is looking up: wait for its settled outcome, then look again.
        waited = true;
        await this.#awaitOther(signal);
        continue;
      }
      if (now < this.#retryAt) throw this.#giveUp(this.#lastError);
      try {
        await this.#run(signal);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (this.stopped) throw new StoppedError("PullInstancer");
        // This call did look up (and no background refresh starts inside the new backoff).
        const after = this.#staleAnswer(this.#now(), undefined);
        if (after !== undefined) return { ...after, lookups: 1 };
        throw this.#giveUp(this.#lastError ?? error);
      }
      return { source: "refreshed", lookups: 1, age: this.#now() - (this.#fetchedAt ?? 0) };
    }
  }

  /** Plain facts for status pages: timestamps, failures, the last error, whether a refresh runs. */
  get status(): PullStatus {
    return {
      fetchedAt: this.#fetchedAt,
      expiresAt: this.#fetchedAt === undefined ? undefined : this.#expiresAt,
      failures: this.#failures,
      lastError: this.#lastError,
      refreshing: this.#refreshing(this.#now()),
      lookups: this.#started,
    };
  }

  // Serves the known set without an inline lookup when the windows allow it, starting a background
  // refresh when none runs and the backoff allows one.
  #staleAnswer(now: number, waitUntil: RefreshOptions["waitUntil"]): RefreshResult | undefined {
    if (this.#fetchedAt === undefined) return undefined;
    const failing = this.#failures > 0;
    if (now >= this.#expiresAt + (failing ? this.#staleIfError : this.#swr)) return undefined;
    let lookups: 0 | 1 = 0;
    if (!this.#refreshing(now) && now >= this.#retryAt) {
      lookups = 1;
      this.#background(waitUntil);
    }
    const age = now - this.#fetchedAt;
    return failing
      ? { source: "stale-if-error", lookups, age, error: this.#lastError }
      : { source: "stale", lookups, age };
  }

  #background(waitUntil: RefreshOptions["waitUntil"]): void {
    const run = this.#run(undefined).then(() => {}, () => {});
    waitUntil?.(run);
  }

  #refreshing(now: number): boolean {
    // A refresh whose request was cut short never settles; after its timeout it no longer counts.
    return this.#inflight !== undefined && now < this.#inflight.since + this.#timeout + this.#waitInterval;
  }

  async #awaitOther(signal: AbortSignal | undefined): Promise<void> {
    const settled = this.#settled;
    while (this.#settled === settled && this.#refreshing(this.#now()) && !this.stopped) {
      await delay(this.#waitInterval, signal);
    }
  }

  // One lookup, bounded by the timeout, the caller's signal and stop; never throws past its caller
  // without recording the outcome in the shared plain state.
  async #run(signal: AbortSignal | undefined): Promise<void> {
    const id = ++this.#started;
    this.#inflight = { id, since: this.#now() };
    const controller = new AbortController();
    const abort = (reason: unknown) => controller.abort(reason);
    const onCaller = () => abort(signal?.reason);
    const stopSignal = this.stopSignal;
    const onStop = () => abort(stopSignal.reason);
    signal?.addEventListener("abort", onCaller, { once: true });
    stopSignal.addEventListener("abort", onStop, { once: true });
    const timer = setTimeout(() => {
      abort(new RegistryUnavailableError(`Discovery lookup timed out after ${this.#timeout} ms`));
    }, this.#timeout);
    try {
      // A lookup that ignores its signal still ends here when the signal aborts.
      const result = await raceSignal(this.#lookup({ signal: controller.signal }), controller.signal);
      if (this.stopped) return;
      this.#accept(result);
    } catch (error) {
      if (this.stopped || signal?.aborted) throw error;
      this.#fail(error);
      throw this.#lastError;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onCaller);
      stopSignal.removeEventListener("abort", onStop);
      if (this.#inflight?.id === id) this.#inflight = undefined;
      this.#settled++;
    }
  }

  #accept(result: LookupResult): void {
    if (typeof result !== "object" || result === null || result.instances == null) {
      throw new MalformedResponseError(`Lookup must resolve to { instances, ttl? }, got ${describe(result)}`);
    }
    const ttl = result.ttl;
    if (ttl !== undefined && (typeof ttl !== "number" || Number.isNaN(ttl) || ttl < 0)) {
      throw new MalformedResponseError(`Lookup returned a bad ttl: ${describe(ttl)}`);
    }
    try {
      this.update({ instances: result.instances });
    } catch (error) {
      throw new MalformedResponseError(`Lookup returned bad instances: ${describe(error)}`, { cause: error });
    }
    const now = this.#now();
    this.#fetchedAt = now;
    this.#expiresAt = now + Math.min(this.#maxTtl, Math.max(this.#minTtl, ttl ?? this.#ttl));
    this.#failures = 0;
    this.#retryAt = -Infinity;
    this.#lastError = undefined;
  }

  #fail(error: unknown): void {
    const wrapped = isSdError(error) ? error : new SdError(
      "ERR_DISCOVERY",
      `Discovery lookup failed: ${describe(error)}`,
      { cause: error },
    );
    this.#failures++;
    this.#lastError = wrapped;
    this.#retryAt = this.#now() + backoffDelay(this.#failures, this.#backoff, this.#random);
    this.#logger?.warn("Discovery refresh failed", { error: describe(wrapped), failures: this.#failures });
  }

  // Nothing servable: report the failure to subscribers (an endpointer then throws it) and return it.
  #giveUp(error: unknown): unknown {
    const reported = error ?? new SdError("ERR_DISCOVERY", "Discovery failed");
    this.update({ error: reported });
    return reported;
  }
}
