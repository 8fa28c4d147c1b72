/**
 * Discovery by DNS SRV records, re-queried at the records' TTL.
 *
 * @module
 */
import { backoffDelay, type BackoffOptions, deadline, delay } from "../_async.ts";
import { requireFunction, requireMethod, requireNumber, requireSignal, requireString } from "../_validate.ts";
import { BackgroundInstancer, backoffOptions } from "../background_instancer.ts";
import { DnsError } from "../dns/errors.ts";
import { DohResolver } from "../dns/resolver.ts";
// deno-lint-ignore no-unused-vars
import type { Rfc2782Balancer } from "../lb/rfc2782.ts";
import type { Logger } from "../types.ts";
import { lookupSrv, type LookupSrvOptions, type SrvLookup, type SrvResolver } from "./lookup.ts";

/** Options for {@linkcode DnsSrvInstancer}. */
export interface DnsSrvInstancerOptions {
  /** Answers the queries. Default: a {@linkcode DohResolver} with its default servers. */
  resolver?: SrvResolver;
  /** Shortest pause between lookups, ms, whatever the TTL. Default: 5,000. */
  minInterval?: number;
  /** Longest pause between lookups, ms, whatever the TTL. Default: 300,000. */
  maxInterval?: number;
  /** Pause when the resolver reports no TTL (Node's resolver), ms. Default: 30,000. */
  fallbackInterval?: number;
  /** A fixed pause between lookups, ms, ignoring TTLs (go-kit's behaviour). Default: follow the TTL. */
  interval?: number;
  /** Each pause is stretched by up to this fraction, at random, so instances do not query in step. Default: 0.1. */
  jitter?: number;
  /** Milliseconds one lookup may take. Default: 10,000. */
  timeout?: number;
  /** Pause after failed lookups: capped exponential with jitter. Default: `{ initial: 1000, max: 60000, multiplier: 2 }`. */
  backoff?: Partial<BackoffOptions>;
  /** Replace targets by their addresses; see {@linkcode LookupSrvOptions.resolveTargets}. Default: `false`. */
  resolveTargets?: LookupSrvOptions["resolveTargets"];
  /** Random source in [0, 1) for jitter. Default: `Math.random`. */
  random?: () => number;
  /** Stops the instancer when aborted. */
  signal?: AbortSignal;
  /** Receives lookup failures and skipped records. Default: silent. */
  logger?: Logger;
}

const DEFAULT_BACKOFF: BackoffOptions = { initial: 1000, max: 60_000, multiplier: 2 };

/**
 * An Instancer over the SRV records of one name. Unlike go-kit's (fixed interval, TTL ignored, priority
 * and weight dropped), it re-queries when the records' TTL runs out, clamped to
 * [`minInterval`, `maxInterval`] and stretched by a little jitter; it keeps `priority` and `weight` in
 * each instance's details for {@linkcode Rfc2782Balancer}; and a failed lookup is an error event that
 * leaves the last good state in every endpointer, followed by capped, jittered retries.
 *
 * @example
 * ```ts
 * import { DnsSrvInstancer } from "./instancer.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const resolver = {
 *   resolveSrv: () => Promise.resolve([{ name: "10.0.0.7", port: 8080, priority: 1, weight: 5, ttl: 60 }]),
 * };
 * using instancer = new DnsSrvInstancer("_http._tcp.api.example", { resolver });
 * for await (const event of instancer) {
 *   assertEquals(event.instances, ["10.0.0.7:8080"]);
 *   break;
 * }
 * ```
 */
export class DnsSrvInstancer extends BackgroundInstancer {
  readonly #name: string;
  readonly #resolver: SrvResolver;
  readonly #options: DnsSrvInstancerOptions;
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;

  /**
   * Starts looking up `name` at once, then on the TTL schedule.
   *
   * @param name The full SRV name, e.g. `_http._tcp.api.example.com`.
   * @param options Resolver, schedule, backoff, target resolution.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(name: string, options: DnsSrvInstancerOptions = {}) {
    super(options);
    this.#name = requireString(name, "name");
    if (options.resolver !== undefined) requireMethod(options.resolver, "resolveSrv", "options.resolver");
    const min = requireNumber(options.minInterval ?? 5000, "options.minInterval", { min: 1 });
    const max = requireNumber(options.maxInterval ?? 300_000, "options.maxInterval", { min: 1 });
    if (max < min) throw new RangeError(`options.maxInterval must be >= minInterval (${min}), got ${max}`);
    requireNumber(options.fallbackInterval ?? 30_000, "options.fallbackInterval", { min: 1 });
    if (options.interval !== undefined) requireNumber(options.interval, "options.interval", { min: 1 });
    const jitter = requireNumber(options.jitter ?? 0.1, "options.jitter");
    if (jitter > 1) throw new RangeError(`options.jitter must be between 0 and 1, got ${jitter}`);
    requireNumber(options.timeout ?? 10_000, "options.timeout", { min: 1 });
    const backoff = backoffOptions(options.backoff, DEFAULT_BACKOFF);
    const mode = options.resolveTargets ?? false;
    if (mode !== false && mode !== "ipv4" && mode !== "ipv6" && mode !== "both") {
      throw new TypeError(
        `options.resolveTargets must be false, "ipv4", "ipv6" or "both", got ${JSON.stringify(mode)}`,
      );
    }
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    this.#options = options;
    this.#backoff = backoff;
    this.#random = options.random ?? Math.random;
    this.#resolver = options.resolver ?? new DohResolver();
    this.start(() => this.#run());
  }

  /** The SRV name this instancer follows. */
  get name(): string {
    return this.#name;
  }

  /**
   * Looks the name up once, without touching the instancer's state (for pull mode and health checks).
   *
   * @param options A signal.
   * @returns The instances and the smallest TTL.
   * @throws {DnsError} As {@linkcode lookupSrv}.
   */
  lookup(options: { signal?: AbortSignal } = {}): Promise<SrvLookup> {
    requireSignal(options.signal, "options.signal");
    const lookupOptions: LookupSrvOptions = { resolveTargets: this.#options.resolveTargets ?? false };
    if (options.signal !== undefined) lookupOptions.signal = options.signal;
    if (this.#options.logger !== undefined) lookupOptions.logger = this.#options.logger;
    return lookupSrv(this.#resolver, this.#name, lookupOptions);
  }

  async #run(): Promise<void> {
    const stopSignal = this.stopSignal;
    let failures = 0;
    while (!stopSignal.aborted) {
      let wait: number;
      const limit = deadline(this.#options.timeout ?? 10_000, stopSignal);
      try {
        // Raced with the deadline: a resolver may ignore the signal (node:dns does) and never settle.
        const result = await untilAborted(this.lookup({ signal: limit.signal }), limit.signal);
        if (stopSignal.aborted) return;
        this.update({ instances: result.instances });
        failures = 0;
        wait = this.#nextInterval(result.ttl);
      } catch (error) {
        if (stopSignal.aborted) return;
        failures++;
        this.#options.logger?.warn("SRV lookup failed; keeping the last good state", {
          name: this.#name,
          error,
        });
        this.update({
          error: limit.signal.aborted
            ? new DnsError(
              "ETIMEOUT",
              "querySrv",
              this.#name,
              { cause: limit.signal.reason },
              "lookup timed out",
            )
            : error,
        });
        wait = backoffDelay(failures, this.#backoff, this.#random);
      } finally {
        limit.clear();
      }
      try {
        await delay(wait, stopSignal);
      } catch {
        return;
      }
    }
  }

  #nextInterval(ttl: number | undefined): number {
    const o = this.#options;
    let base: number;
    if (o.interval !== undefined) base = o.interval;
    else if (ttl === undefined) base = o.fallbackInterval ?? 30_000;
    else base = Math.min(o.maxInterval ?? 300_000, Math.max(o.minInterval ?? 5000, ttl * 1000));
    return base * (1 + (o.jitter ?? 0.1) * this.#random());
  }
}

/** Settles as `promise` does, or rejects with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
