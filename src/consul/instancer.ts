/**
 * Discovery from Consul's health endpoint with blocking queries.
 *
 * @module
 */
import { backoffDelay, type BackoffOptions, delay } from "../_async.ts";
import { requireFunction, requireMethod, requireNumber, requireSignal, requireString } from "../_validate.ts";
import { MalformedResponseError } from "../errors.ts";
import { BackgroundInstancer, backoffOptions } from "../background_instancer.ts";
import type { InstanceInput } from "../instance_cache.ts";
import type { Logger } from "../types.ts";
import type { ConsulClient, ConsulHealthOptions } from "./client.ts";
import {
  type ConsulLookup,
  type ConsulServiceQuery,
  lookupHealthService,
  queryOptions,
  toInstances,
} from "./health.ts";
import { TokenBucket } from "./_token_bucket.ts";

/**
 * The token bucket that paces the query loop. With the defaults, a change waits at most 1 s for the
 * next query (plus a round trip), and a service that changes without pause costs at most 3 + 75
 * queries a minute (one every 0.8-1 s after the burst): `burst + 60000 / (interval * (1 - jitter))`.
 */
export interface ConsulRateLimit {
  /** Queries that may run back to back. Default: 3. */
  burst?: number;
  /**
   * Milliseconds to earn one more query once the burst is spent: the longest a change can wait for
   * the next query. Default: 1,000, or `wait` if shorter.
   */
  interval?: number;
  /**
   * Share of `interval`, in [0, 1), by which a wait for a token is shortened at random, so that
   * instancers woken by the same write do not stay in step. Default: 0.2.
   */
  jitter?: number;
}

/** Options for {@linkcode ConsulInstancer}. */
export interface ConsulInstancerOptions extends ConsulServiceQuery {
  /**
   * Longest time Consul holds a blocking query, ms (at most 600,000). The request's own timeout is
   * `wait * 17 / 16` plus the client's timeout. Default: 60,000.
   */
  wait?: number;
  /**
   * Paces the loop: an answer is not a change (Consul wakes blocked queries for unrelated writes), so
   * a busy service degrades to one query per `interval` instead of a request storm, and no change
   * waits longer than `interval` for the next query. A query sent after a pacing pause blocks for at
   * most `interval`, so that an agent that restarted during the pause (with a lower index) is noticed
   * at once rather than after `wait`. Default: `{ burst: 3, interval: 1000, jitter: 0.2 }`: a change
   * shows within 1 s, and continuous churn costs at most 3 + 75 queries a minute (`interval` no
   * longer than `wait`).
   */
  rateLimit?: ConsulRateLimit;
  /**
   * Milliseconds for which instances that vanished in an index reset (X-Consul-Index went backwards:
   * the agent restarted without its state, or a server is behind) are still served, so that live
   * registrars can register again before their instances disappear. An instance that shows up again
   * is no longer carried; 0 drops them at once. Set it above the registrars' keep-alive interval plus
   * their backoff. Default: 15,000.
   */
  resetGrace?: number;
  /**
   * Once the first carried instance is back after a reset, how long the others still wait for theirs
   * before they are dropped (registrars come back at about the same time; one that does not has most
   * likely left, e.g. was deregistered before the new agent was read); one that comes back later is
   * served again from then. Bounded by `resetGrace`. Default: 2,000.
   */
  resetSettle?: number;
  /** Pause after failures: capped exponential with jitter. Default: `{ initial: 1000, max: 60000, multiplier: 2 }`. */
  backoff?: Partial<BackoffOptions>;
  /** Random source in [0, 1) for the backoff and pacing jitter. Default: `Math.random`. */
  random?: () => number;
  /** Stops the instancer when aborted. */
  signal?: AbortSignal;
  /** Receives failures and skipped entries. Default: silent. */
  logger?: Logger;
}

const DEFAULT_BACKOFF: BackoffOptions = { initial: 1000, max: 60_000, multiplier: 2 };

/**
 * An Instancer over one Consul service, kept current with blocking queries on
 * `/v1/health/service/<name>`, by the rules Consul documents: the index comes from `X-Consul-Index`,
 * is reset to 0 when it goes backwards and never used below 1 (an index of 0 is a server bug that
 * would turn blocking into busy polling); a token bucket paces the loop, so churn degrades it to
 * polling about once a second while no change waits longer than that; failures back off with
 * jitter and reset on success. Passing instances only, unless `passingOnly` is `false`.
 *
 * An agent that restarted without its state (a dev agent, a rebuilt cluster) answers with a lower
 * index: after a failed query the next one does not block, a query after a pacing pause blocks for
 * at most the pacing interval, and an answer to a blocking query with a lower index is dropped (it
 * may come from a server that is behind) and followed at once by one that does not block; so the new
 * agent's state shows within about a second. Instances that vanished in such a reset are served for
 * `resetGrace` while registrars register them again, so the endpointer does not go empty.
 *
 * Each instance is `Service.Address` (or `Node.Address`) and `Service.Port`, IPv6 bracketed, with
 * `id`, `tags`, `meta`, `zone` (datacenter), `status` and `weight` (from `Service.Weights`) in its
 * details. A failed, malformed or oversized answer is an error event; the last good state stays in
 * every endpointer.
 *
 * @example
 * ```ts
 * import { ConsulClient, ConsulInstancer } from "./mod.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const client = new ConsulClient({
 *   fetch: () =>
 *     Promise.resolve(Response.json([{
 *       Node: { Address: "10.0.0.1", Datacenter: "dc1" },
 *       Service: { ID: "api-1", Service: "api", Address: "", Port: 8080, Tags: ["v2"], Meta: null },
 *       Checks: [{ Status: "passing" }],
 *     }], { headers: { "x-consul-index": "10" } })),
 * });
 * using instancer = new ConsulInstancer(client, "api", { tags: ["v2"] });
 * for await (const event of instancer) {
 *   assertEquals(event.instances, ["10.0.0.1:8080"]);
 *   break;
 * }
 * ```
 */
export class ConsulInstancer extends BackgroundInstancer {
  readonly #client: ConsulClient;
  readonly #service: string;
  readonly #query: ConsulHealthOptions;
  readonly #options: ConsulInstancerOptions;
  readonly #wait: number;
  readonly #bucket: TokenBucket;
  readonly #interval: number;
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;
  readonly #resetGrace: number;
  #index = 0;
  /** The instances of the last answer accepted. */
  #latest: InstanceInput[] = [];
  /** Instances carried over an index reset, still served until seen again or the grace ends. */
  #carried = new Map<string, InstanceInput>();
  /** Carried instances seen again since the reset, in any state. */
  #returned = new Set<string>();
  readonly #resetSettle: number;
  #settling = false;
  /** Counts resets, so that an older grace period does not end a newer one. */
  #resets = 0;

  /**
   * Starts watching `service` at once.
   *
   * @param client The Consul client.
   * @param service The service name.
   * @param options Selection (passing-only, tags, filter, consistency), wait, pacing, backoff.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(client: ConsulClient, service: string, options: ConsulInstancerOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object, got ${String(options)}`);
    }
    super(options);
    requireMethod(client, "healthService", "client");
    this.#client = client;
    this.#service = requireString(service, "service");
    this.#wait = requireNumber(options.wait ?? 60_000, "options.wait", { min: 1 });
    if (this.#wait > 600_000) {
      throw new RangeError(`options.wait must be at most 600000 (10 min), got ${this.#wait}`);
    }
    const burst = requireNumber(options.rateLimit?.burst ?? 3, "options.rateLimit.burst", {
      min: 1,
      integer: true,
    });
    const interval = requireNumber(
      options.rateLimit?.interval ?? Math.min(1_000, this.#wait),
      "options.rateLimit.interval",
    );
    const jitter = requireNumber(options.rateLimit?.jitter ?? 0.2, "options.rateLimit.jitter", { min: 0 });
    if (jitter >= 1) throw new RangeError(`options.rateLimit.jitter must be below 1, got ${jitter}`);
    this.#resetGrace = requireNumber(options.resetGrace ?? 15_000, "options.resetGrace", { min: 0 });
    this.#resetSettle = requireNumber(options.resetSettle ?? 2_000, "options.resetSettle", { min: 0 });
    const backoff = backoffOptions(options.backoff, DEFAULT_BACKOFF);
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    // Validates tags, filter and consistency now rather than on the first request.
    this.#query = { ...queryOptions(options), wait: this.#wait };
    this.#options = options;
    this.#random = options.random ?? Math.random;
    this.#bucket = new TokenBucket(burst, interval, jitter, this.#random);
    this.#interval = interval;
    this.#backoff = backoff;
    this.start(() => this.#run());
  }

  /** The service this instancer follows. */
  get service(): string {
    return this.#service;
  }

  /** The last `X-Consul-Index` accepted: what blocking queries wait on (0 before the first answer or after a reset). */
  get index(): number {
    return this.#index;
  }

  /**
   * Asks Consul once, without blocking and without touching the instancer's state (for pull mode and
   * health checks).
   *
   * @param options A signal.
   * @returns The instances and the answer's index.
   * @throws {RegistryUnavailableError | ConsulHttpError | MalformedResponseError} As the client.
   */
  lookup(options: { signal?: AbortSignal } = {}): Promise<ConsulLookup> {
    requireSignal(options.signal, "options.signal");
    const { wait: _, signal: __, ...query } = this.#options;
    return lookupHealthService(
      this.#client,
      this.#service,
      options.signal === undefined ? query : {
        ...query,
        signal: options.signal,
      },
    );
  }

  async #run(): Promise<void> {
    const stopSignal = this.stopSignal;
    const logger = this.#options.logger;
    let failures = 0;
    // After a failure the next query does not block, so that recovery shows at once rather than when
    // the service next changes (an endpointer invalidating on errors would otherwise drop endpoints).
    let recovering = false;
    while (!stopSignal.aborted) {
      let paused: number;
      try {
        paused = await this.#bucket.take(stopSignal);
      } catch {
        return;
      }
      const index = recovering ? 0 : this.#index;
      // While no query was open the agent may have restarted with a lower index; a query on the old
      // one would then block for the whole wait, so after a pause it blocks for one interval only.
      const wait = paused > 0 ? Math.min(this.#wait, this.#interval) : this.#wait;
      let problem: unknown;
      try {
        // While instances are carried over a reset, ask for every state: a carried instance that is
        // back in any state (a re-registered TTL check is critical until its first pass) is no longer
        // carried, so its removal right after shows at once; only passing ones are published.
        const everyState = this.#query.passing === true && this.#carried.size > 0;
        const answer = await this.#client.healthService(this.#service, {
          ...this.#query,
          ...(everyState ? { passing: false } : {}),
          wait,
          index,
          signal: stopSignal,
        });
        if (stopSignal.aborted) return;
        const previous = this.#index;
        recovering = false;
        if (answer.index === 0) {
          this.#index = 1;
          problem = new MalformedResponseError(
            `Consul sent X-Consul-Index 0 for service ${JSON.stringify(this.#service)}; blocking on index 1`,
          );
        } else if (answer.index < previous) {
          logger?.warn("Consul's X-Consul-Index went backwards (agent restarted or server behind)", {
            service: this.#service,
            from: previous,
            to: answer.index,
          });
          this.#carryOver();
          failures = 0;
          if (index === 0) {
            // A read that did not block: the agent's state now, from a fresh index.
            this.#accept(answer.index, answer.entries, everyState);
          } else {
            // An answer to a wait on a newer index may come from a server that is behind: drop it,
            // and read again (paced, not blocking) from index 0.
            this.#index = 0;
          }
          continue;
        } else {
          this.#accept(answer.index, answer.entries, everyState);
          failures = 0;
          continue;
        }
      } catch (error) {
        if (stopSignal.aborted) return;
        problem = error;
        recovering = true;
      }
      failures++;
      logger?.warn("Consul query failed; keeping the last good state", {
        service: this.#service,
        error: problem,
      });
      this.update({ error: problem });
      try {
        await delay(backoffDelay(failures, this.#backoff, this.#random), stopSignal);
      } catch {
        return;
      }
    }
  }

  #accept(index: number, entries: Parameters<typeof toInstances>[0], everyState = false): void {
    this.#index = index;
    const all = toInstances(entries, this.#service, this.#options.logger);
    // Consul's `passing` filter, applied here when every state was asked for.
    this.#latest = everyState
      ? all.filter((instance) => typeof instance !== "string" && instance.status === "passing")
      : all;
    for (const instance of this.#latest) this.#carried.delete(keyOf(instance));
    if (everyState) {
      // A carried instance that is back but not passing yet (its registrar re-registered; the TTL
      // check passes a moment later) stays carried; one that came back and is gone again left for
      // good, so its removal shows now rather than when the grace ends.
      const present = new Set(all.map(keyOf));
      for (const key of [...this.#carried.keys()]) {
        if (present.has(key)) this.#returned.add(key);
        else if (this.#returned.has(key)) this.#carried.delete(key);
      }
    }
    if (this.#carried.size === 0) this.#returned.clear();
    else if (this.#resets > 0 && all.length > 0) this.#settle();
    this.#publish();
  }

  /** The new agent lists instances again: the carried ones not back by `resetSettle` are dropped. */
  #settle(): void {
    if (this.#settling) return;
    this.#settling = true;
    const round = this.#resets;
    delay(this.#resetSettle, this.stopSignal).then(() => {
      this.#settling = false;
      if (round !== this.#resets) return;
      let dropped = false;
      for (const key of [...this.#carried.keys()]) {
        // Carried keys never overlap #latest: #accept removes what it publishes.
        if (!this.#returned.has(key)) {
          this.#carried.delete(key);
          dropped = true;
        }
      }
      if (this.#carried.size === 0) this.#returned.clear();
      if (dropped) this.#publish();
    }, () => {}); // stopped
  }

  #publish(): void {
    this.update({
      instances: this.#carried.size === 0 ? this.#latest : [...this.#latest, ...this.#carried.values()],
    });
  }

  /** After an index reset: keeps serving the instances known so far for the grace period. */
  #carryOver(): void {
    const round = ++this.#resets;
    this.#returned.clear();
    this.#settling = false;
    if (this.#resetGrace === 0) {
      this.#carried.clear();
      return;
    }
    for (const instance of this.#latest) this.#carried.set(keyOf(instance), instance);
    this.#latest = [];
    delay(this.#resetGrace, this.stopSignal).then(() => {
      if (round !== this.#resets || this.#carried.size === 0) return;
      this.#options.logger?.info("Consul reset grace over; dropping instances not seen again", {
        service: this.#service,
        instances: [...this.#carried.keys()],
      });
      this.#carried.clear();
      this.#returned.clear();
      this.#publish();
    }, () => {}); // stopped
  }
}

function keyOf(instance: InstanceInput): string {
  return typeof instance === "string" ? instance : instance.instance;
}
