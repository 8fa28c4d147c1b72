/**
 * Discovery from Consul's health endpoint with blocking queries.
 *
 * @module
 */
import { backoffDelay, type BackoffOptions, delay } from "../_async.ts";
import { requireFunction, requireMethod, requireNumber, requireSignal, requireString } from "../_validate.ts";
import { MalformedResponseError } from "../errors.ts";
import { BackgroundInstancer, backoffOptions } from "../background_instancer.ts";
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

/** The token bucket that paces the query loop. */
export interface ConsulRateLimit {
  /** Queries that may run back to back. Default: 2. */
  burst?: number;
  /** Milliseconds to earn one more query once the burst is spent. Default: 15,000, or `wait` if shorter. */
  interval?: number;
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
   * a busy service degrades to one query per `interval` instead of a request storm. Default:
   * `{ burst: 2, interval: 15000 }` (`interval` no longer than `wait`).
   */
  rateLimit?: ConsulRateLimit;
  /** Pause after failures: capped exponential with jitter. Default: `{ initial: 1000, max: 60000, multiplier: 2 }`. */
  backoff?: Partial<BackoffOptions>;
  /** Random source in [0, 1) for the backoff jitter. Default: `Math.random`. */
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
 * is reset to 0 when it goes backwards (the answer is dropped: it may come from a server that is
 * behind) and never used below 1 (an index of 0 is a server bug that would turn blocking into busy
 * polling); a token bucket paces the loop, so churn degrades it to polling; failures back off with
 * jitter and reset on success. Passing instances only, unless `passingOnly` is `false`.
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
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;
  #index = 0;

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
    const burst = requireNumber(options.rateLimit?.burst ?? 2, "options.rateLimit.burst", {
      min: 1,
      integer: true,
    });
    const interval = requireNumber(
      options.rateLimit?.interval ?? Math.min(15_000, this.#wait),
      "options.rateLimit.interval",
    );
    const backoff = backoffOptions(options.backoff, DEFAULT_BACKOFF);
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    // Validates tags, filter and consistency now rather than on the first request.
    this.#query = { ...queryOptions(options), wait: this.#wait };
    this.#options = options;
    this.#bucket = new TokenBucket(burst, interval);
    this.#backoff = backoff;
    this.#random = options.random ?? Math.random;
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
      try {
        await this.#bucket.take(stopSignal);
      } catch {
        return;
      }
      let problem: unknown;
      try {
        const answer = await this.#client.healthService(this.#service, {
          ...this.#query,
          index: recovering ? 0 : this.#index,
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
          this.#index = 0;
          problem = new MalformedResponseError(
            `Consul's X-Consul-Index went backwards from ${previous} to ${answer.index} for service ${
              JSON.stringify(this.#service)
            }; starting over from index 0`,
          );
        } else {
          this.#index = answer.index;
          this.update({ instances: toInstances(answer.entries, this.#service, logger) });
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
}
