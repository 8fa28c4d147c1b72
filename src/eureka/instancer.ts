/**
 * Discovery of one Eureka application by polling.
 *
 * @module
 */
import { backoffDelay, type BackoffOptions, delay } from "../_async.ts";
import type { InstanceInput } from "../_event.ts";
import { requireFunction, requireMethod, requireNumber, requireSignal, requireString } from "../_validate.ts";
import { BackgroundInstancer, backoffOptions } from "../background_instancer.ts";
import { describe } from "../errors.ts";
import type { Logger } from "../types.ts";
import {
  type EurekaSelectOptions,
  notFoundError,
  type Selection,
  selection,
  toInstances,
} from "./_select.ts";
import type { EurekaClient } from "./client.ts";

/** Options for {@linkcode EurekaInstancer}. */
export interface EurekaInstancerOptions extends EurekaSelectOptions {
  /** Milliseconds between polls, each stretched by up to 10% at random. Default: 30,000. */
  interval?: number;
  /**
   * How long, in ms, a 404 for an application that had instances counts as an error (the last good
   * set kept, polls at the normal interval) before it counts as no instances. A restarted server
   * knows nobody until each registrar's next heartbeat, so set it to their renewal interval if it is
   * not Eureka's default. `0`: a 404 is no instances at once. Default: 30,000 (one heartbeat at
   * Eureka's default renewal interval).
   */
  notFoundGrace?: number;
  /** Pause after failed polls: capped exponential with jitter. Default: `{ initial: 1000, max: 30000, multiplier: 2 }`. */
  backoff?: Partial<BackoffOptions>;
  /** Random source in [0, 1) for jitter. Default: `Math.random`. */
  random?: () => number;
  /** Stops the instancer when aborted. */
  signal?: AbortSignal;
  /** Receives failed polls and skipped instances. Default: silent. */
  logger?: Logger;
}

const DEFAULT_BACKOFF: BackoffOptions = { initial: 1000, max: 30_000, multiplier: 2 };

/**
 * An Instancer over one Eureka application: it polls `GET /apps/{APP}` every `interval` and publishes
 * the instances whose status is selected (only `UP` by default, where go-kit published every status,
 * #1076) as `ipAddr:port` (or the host name, or the secure port, by option; IPv6 bracketed, which
 * go-kit did not do, #1274).
 *
 * Each instance's details carry `id` (the instanceId), `status` (`UP` → `passing`, `STARTING` →
 * `warning`, `DOWN` and `OUT_OF_SERVICE` → `critical`, `UNKNOWN` → `unknown`), `zone` (metadata
 * `zone`, else the Amazon availability zone) and `meta`: the instance's metadata plus the keys of
 * {@linkcode EUREKA_META_KEYS}: `eureka.status` (the raw status), `eureka.app`, `eureka.hostName`,
 * `eureka.vipAddress` and `eureka.secureVipAddress`.
 *
 * A 404 for the application means the server knows no instance of it: they all deregistered or
 * expired, or the server restarted and they have not registered again yet (until their next
 * heartbeat). So a 404 for an application that had instances is an error event that keeps the last
 * good set for `notFoundGrace` (polls go on at the normal interval), and only then an empty set that
 * drops the gone instances; with no instances before, it is an empty set at once. Pull mode's
 * `eurekaLookup` makes a 404 an error by default, bounded there by `staleIfError`. (The
 * client checks once per server that such a 404 does not come from a wrong base path.) Any other
 * failure (unreachable, 5xx, garbage, timeout) is an error event that leaves the last good state in
 * every endpointer, followed by retries with capped, jittered backoff.
 *
 * To follow many applications with one poll, use {@linkcode EurekaRegistry} instead.
 *
 * @example
 * ```ts
 * import { EurekaClient } from "./client.ts";
 * import { EurekaInstancer } from "./instancer.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const fakeEureka = () =>
 *   Promise.resolve(Response.json({
 *     application: {
 *       name: "USERS",
 *       instance: [
 *         { instanceId: "a", ipAddr: "10.0.0.1", status: "UP", port: { $: 8080, "@enabled": "true" } },
 *         { instanceId: "b", ipAddr: "10.0.0.2", status: "OUT_OF_SERVICE", port: 8080 },
 *       ],
 *     },
 *   }));
 * const client = new EurekaClient({ urls: "http://127.0.0.1:8761/eureka", fetch: fakeEureka });
 * using instancer = new EurekaInstancer(client, "users");
 * for await (const event of instancer) {
 *   assertEquals(event.instances, ["10.0.0.1:8080"]);
 *   assertEquals(event.details?.get("10.0.0.1:8080")?.status, "passing");
 *   break;
 * }
 * ```
 */
export class EurekaInstancer extends BackgroundInstancer {
  readonly #client: EurekaClient;
  readonly #app: string;
  readonly #select: Selection;
  readonly #interval: number;
  readonly #grace: number;
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;
  readonly #logger: Logger | undefined;

  /**
   * Starts polling at once.
   *
   * @param client The Eureka client (may be shared with registrars and other instancers).
   * @param app The application's name (Eureka ignores its case).
   * @param options Statuses, address, interval, backoff, signal, logger.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(client: EurekaClient, app: string, options: EurekaInstancerOptions = {}) {
    super(options);
    requireMethod(client, "getApplication", "client");
    this.#client = client;
    this.#app = requireString(app, "app");
    this.#select = selection(options);
    this.#interval = requireNumber(options.interval ?? 30_000, "options.interval", { min: 1 });
    this.#grace = requireNumber(options.notFoundGrace ?? 30_000, "options.notFoundGrace", { min: 0 });
    this.#backoff = backoffOptions(options.backoff, DEFAULT_BACKOFF);
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger;
    this.start(() => this.#run());
  }

  /** The application followed. */
  get app(): string {
    return this.#app;
  }

  /**
   * Reads the application once, without touching the instancer's state (for pull mode and health
   * checks).
   *
   * @param options A signal.
   * @returns The instances to publish (empty when the server knows none).
   * @throws {RegistryUnavailableError | RegistryRejectedError | MalformedResponseError}
   */
  async lookup(options: { signal?: AbortSignal } = {}): Promise<{ instances: InstanceInput[] }> {
    requireSignal(options.signal, "options.signal");
    const app = await this.#client.getApplication(this.#app, options);
    return { instances: app === undefined ? [] : toInstances(app.instances, this.#select, this.#logger) };
  }

  async #run(): Promise<void> {
    const stopped = this.stopSignal;
    let failures = 0;
    let had = false; // the last set published had instances
    let missingSince: number | undefined; // the first 404 of the current run of them
    while (!stopped.aborted) {
      let wait: number;
      try {
        const app = await this.#client.getApplication(this.#app, { signal: stopped });
        failures = 0;
        wait = this.#interval * (1 + 0.1 * this.#random());
        if (app === undefined && had && this.#grace > 0) {
          missingSince ??= Date.now();
          if (Date.now() - missingSince < this.#grace) {
            this.#logger?.warn("Eureka knows no instance of the application; keeping the last good state", {
              app: this.#app,
              graceLeft: this.#grace - (Date.now() - missingSince),
            });
            this.update({ error: notFoundError(this.#app) });
            await delay(wait, stopped).catch(() => {});
            continue;
          }
        }
        if (app !== undefined) missingSince = undefined;
        const instances = app === undefined ? [] : toInstances(app.instances, this.#select, this.#logger);
        this.update({ instances });
        had = instances.length > 0;
      } catch (error) {
        if (stopped.aborted) return;
        failures++;
        this.#logger?.warn("Eureka poll failed; keeping the last good state", {
          app: this.#app,
          error: describe(error),
        });
        this.update({ error });
        wait = backoffDelay(failures, this.#backoff, this.#random);
      }
      try {
        await delay(wait, stopped);
      } catch {
        return;
      }
    }
  }
}
