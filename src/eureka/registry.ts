/**
 * A local copy of the whole Eureka registry, kept current with deltas, feeding instancers for any
 * number of applications.
 *
 * @module
 */
import { backoffDelay, type BackoffOptions, delay } from "../_async.ts";
import { requireFunction, requireMethod, requireNumber, requireSignal, requireString } from "../_validate.ts";
import { backoffOptions } from "../background_instancer.ts";
import { describe } from "../errors.ts";
import { InstanceCache } from "../instance_cache.ts";
import type { Logger } from "../types.ts";
import { type EurekaSelectOptions, type Selection, selection, toInstances } from "./_select.ts";
import { reconcileHashCode } from "./_wire.ts";
import type { EurekaApplication, EurekaApplications, EurekaClient, EurekaInstance } from "./client.ts";

/** Options for {@linkcode EurekaRegistry}. */
export interface EurekaRegistryOptions {
  /** Milliseconds between polls, each stretched by up to 10% at random. Default: 30,000. */
  interval?: number;
  /**
   * Fetch the whole registry instead of a delta when the last good poll is older than this many
   * milliseconds: the server keeps changes for about 3 minutes, so after a longer gap a delta would
   * miss some, and the hash check cannot catch every such loss. `0` never uses deltas. Default: 120,000.
   */
  maxDeltaAge?: number;
  /** Pause after failed polls: capped exponential with jitter. Default: `{ initial: 1000, max: 30000, multiplier: 2 }`. */
  backoff?: Partial<BackoffOptions>;
  /** Random source in [0, 1) for jitter. Default: `Math.random`. */
  random?: () => number;
  /** Clock in milliseconds, for `maxDeltaAge`. Default: `Date.now`. */
  now?: () => number;
  /** Stops the registry (and its instancers) when aborted. */
  signal?: AbortSignal;
  /** Receives failed polls, hash mismatches and skipped instances. Default: silent. */
  logger?: Logger;
}

/** Options for {@linkcode EurekaRegistry.instancer}. */
export interface EurekaRegistryInstancerOptions extends EurekaSelectOptions {
  /** Stops this instancer when aborted. */
  signal?: AbortSignal;
}

const DEFAULT_BACKOFF: BackoffOptions = { initial: 1000, max: 30_000, multiplier: 2 };

type Apps = Map<string, Map<string, EurekaInstance>>;

/**
 * Keeps a copy of the whole registry, the way Eureka's own client does: one full fetch of `/apps`,
 * then a poll of `/apps/delta` every `interval`, applying each change (`ADDED`, `MODIFIED`,
 * `DELETED`) and checking the result against the server's `apps__hashcode` (every status with its
 * instance count, `DOWN_1_UP_2_`); when they disagree (servers do produce such deltas) it fetches
 * the whole registry again instead of trusting the delta (eureka-js-client applies deltas without
 * that check). It also fetches in full after a gap longer than `maxDeltaAge`.
 *
 * {@linkcode EurekaRegistry.instancer} gives an Instancer per application, all fed by this one poll;
 * they publish and describe instances exactly as {@linkcode EurekaInstancer} does, and an application
 * the registry does not hold is an empty set. A failed poll is an error event in every instancer,
 * which keep their last good state, followed by capped, jittered retries. `stop()` stops the poll and
 * every instancer made here.
 *
 * @example
 * ```ts
 * import { EurekaClient } from "./client.ts";
 * import { EurekaRegistry } from "./registry.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const fakeEureka = () =>
 *   Promise.resolve(Response.json({
 *     applications: {
 *       apps__hashcode: "UP_2_",
 *       application: [
 *         { name: "USERS", instance: { instanceId: "u1", ipAddr: "10.0.0.1", status: "UP", port: 8080 } },
 *         { name: "ORDERS", instance: { instanceId: "o1", ipAddr: "10.0.0.2", status: "UP", port: 9090 } },
 *       ],
 *     },
 *   }));
 * const client = new EurekaClient({ urls: "http://127.0.0.1:8761/eureka", fetch: fakeEureka });
 * using registry = new EurekaRegistry(client);
 * const orders = registry.instancer("orders");
 * for await (const event of orders) {
 *   assertEquals(event.instances, ["10.0.0.2:9090"]);
 *   break;
 * }
 * ```
 */
export class EurekaRegistry implements Disposable {
  readonly #client: EurekaClient;
  readonly #interval: number;
  readonly #maxDeltaAge: number;
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  readonly #controller = new AbortController();
  readonly #detach: () => void;
  readonly #instancers = new Map<EurekaRegistryInstancer, Selection>();
  /** The registry as last known good, by upper-case application name, then instance id. */
  #apps: Apps | undefined;
  /** `now()` of the last good poll. */
  #fresh = 0;

  /**
   * Starts fetching at once.
   *
   * @param client The Eureka client (may be shared with registrars).
   * @param options Interval, delta age, backoff, signal, logger.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(client: EurekaClient, options: EurekaRegistryOptions = {}) {
    requireMethod(client, "getDelta", "client");
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object, got ${describe(options)}`);
    }
    requireSignal(options.signal, "options.signal");
    this.#client = client;
    this.#interval = requireNumber(options.interval ?? 30_000, "options.interval", { min: 1 });
    this.#maxDeltaAge = requireNumber(options.maxDeltaAge ?? 120_000, "options.maxDeltaAge", {
      finite: false,
    });
    this.#backoff = backoffOptions(options.backoff, DEFAULT_BACKOFF);
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    if (options.now !== undefined) requireFunction(options.now, "options.now");
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
    const signal = options.signal;
    const onAbort = () => this.stop();
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#detach = () => signal?.removeEventListener("abort", onAbort);
    if (signal?.aborted) {
      this.stop();
      return;
    }
    this.#run().catch((error: unknown) => {
      // A bug in the loop, not a failed poll (those are caught inside): report it and stop.
      if (this.stopped) return;
      this.#logger?.error("Eureka registry loop ended with an error", { error: describe(error) });
      for (const instancer of this.#instancers.keys()) instancer.update({ error });
    });
  }

  /** Whether {@linkcode EurekaRegistry.stop} has run. */
  get stopped(): boolean {
    return this.#controller.signal.aborted;
  }

  /**
   * The registry as last fetched: every application (upper-case names, sorted) with its instances
   * of every status; `undefined` before the first good fetch.
   *
   * @returns A snapshot.
   */
  applications(): EurekaApplication[] | undefined {
    if (this.#apps === undefined) return undefined;
    return [...this.#apps].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
      .map(([name, instances]) => ({ name, instances: [...instances.values()] }));
  }

  /**
   * The reconcile hash code of the local copy, as Eureka computes it (`DOWN_1_UP_2_`).
   *
   * @returns The hash code, `""` for an empty or not yet fetched registry.
   */
  hashCode(): string {
    return this.#apps === undefined ? "" : reconcileHashCode(allInstances(this.#apps));
  }

  /**
   * An Instancer for one application, fed by this registry's poll. It delivers the last good state
   * at once if there is one.
   *
   * @param app The application's name (any case).
   * @param options Statuses, address, secure port, signal.
   * @returns The instancer; stopping it detaches it from the registry.
   * @throws {TypeError} If an argument is invalid.
   */
  instancer(app: string, options: EurekaRegistryInstancerOptions = {}): EurekaRegistryInstancer {
    requireString(app, "app");
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object, got ${describe(options)}`);
    }
    requireSignal(options.signal, "options.signal");
    const select = selection(options);
    const signal = options.signal;
    const onAbort = () => instancer.stop();
    const instancer = new EurekaRegistryInstancer(app, () => {
      this.#instancers.delete(instancer);
      signal?.removeEventListener("abort", onAbort);
    });
    if (this.stopped || signal?.aborted) {
      instancer.stop();
      return instancer;
    }
    this.#instancers.set(instancer, select);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (this.#apps !== undefined) this.#feed(instancer, this.#apps);
    return instancer;
  }

  /**
   * Fetches the whole registry once, without touching the local copy (for pull mode and checks).
   *
   * @param options A signal.
   * @returns What the server answered.
   * @throws {RegistryUnavailableError | RegistryRejectedError | MalformedResponseError}
   */
  lookup(options: { signal?: AbortSignal } = {}): Promise<EurekaApplications> {
    return this.#client.getApplications(options);
  }

  /** Stops polling and every instancer made by this registry. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.#controller.abort(new DOMException("EurekaRegistry stopped", "AbortError"));
    this.#detach();
    for (const instancer of [...this.#instancers.keys()]) instancer.stop();
  }

  /** Same as {@linkcode EurekaRegistry.stop}. */
  [Symbol.dispose](): void {
    this.stop();
  }

  async #run(): Promise<void> {
    const stopped = this.#controller.signal;
    let failures = 0;
    while (!stopped.aborted) {
      let wait: number;
      try {
        const apps = this.#apps === undefined || this.#now() - this.#fresh > this.#maxDeltaAge
          ? await this.#full(stopped)
          : await this.#delta(this.#apps, stopped);
        this.#apps = apps;
        this.#fresh = this.#now();
        failures = 0;
        for (const instancer of this.#instancers.keys()) this.#feed(instancer, apps);
        wait = this.#interval * (1 + 0.1 * this.#random());
      } catch (error) {
        if (stopped.aborted) return;
        failures++;
        this.#logger?.warn("Eureka registry fetch failed; keeping the last good state", {
          error: describe(error),
        });
        for (const instancer of this.#instancers.keys()) instancer.update({ error });
        wait = backoffDelay(failures, this.#backoff, this.#random);
      }
      try {
        await delay(wait, stopped);
      } catch {
        return;
      }
    }
  }

  async #full(signal: AbortSignal): Promise<Apps> {
    const answer = await this.#client.getApplications({ signal });
    const apps: Apps = new Map();
    for (const app of answer.applications) {
      let instances = apps.get(app.name);
      if (instances === undefined) apps.set(app.name, instances = new Map());
      for (const instance of app.instances) instances.set(instance.instanceId, instance);
    }
    return apps;
  }

  /** Applies a delta to a copy of `current`; fetches everything when the hash codes disagree. */
  async #delta(current: Apps, signal: AbortSignal): Promise<Apps> {
    const delta = await this.#client.getDelta({ signal });
    const next: Apps = new Map(current);
    const copied = new Set<string>();
    for (const app of delta.applications) {
      for (const instance of app.instances) {
        const name = instance.app || app.name;
        let instances = next.get(name);
        if (instances === undefined) {
          next.set(name, instances = new Map());
          copied.add(name);
        } else if (!copied.has(name)) {
          next.set(name, instances = new Map(instances));
          copied.add(name);
        }
        if (instance.actionType === "DELETED") {
          instances.delete(instance.instanceId);
          if (instances.size === 0) next.delete(name);
        } else {
          instances.set(instance.instanceId, instance);
        }
      }
    }
    const local = reconcileHashCode(allInstances(next));
    if (local === delta.hashCode) return next;
    this.#logger?.info("Eureka delta disagrees with the server's hash code; fetching everything", {
      local,
      server: delta.hashCode,
    });
    return await this.#full(signal);
  }

  #feed(instancer: EurekaRegistryInstancer, apps: Apps): void {
    const select = this.#instancers.get(instancer);
    if (select === undefined) return;
    const instances = apps.get(instancer.app.toUpperCase())?.values() ?? [];
    instancer.update({ instances: toInstances(instances, select, this.#logger) });
  }
}

function* allInstances(apps: Apps): Iterable<EurekaInstance> {
  for (const instances of apps.values()) yield* instances.values();
}

/**
 * An Instancer for one application, fed by an {@linkcode EurekaRegistry}; made by
 * {@linkcode EurekaRegistry.instancer}. Stopping it detaches it from the registry; stopping the
 * registry stops it.
 *
 * @example
 * ```ts
 * import { EurekaClient, EurekaRegistry, type EurekaRegistryInstancer } from "./mod.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const fakeEureka = () => Promise.resolve(Response.json({ applications: { application: [] } }));
 * const client = new EurekaClient({ urls: "http://127.0.0.1:8761/eureka", fetch: fakeEureka });
 * using registry = new EurekaRegistry(client);
 * using users: EurekaRegistryInstancer = registry.instancer("users");
 * assertEquals(users.app, "users");
 * for await (const event of users) {
 *   assertEquals(event.instances, []); // the registry holds no USERS instance
 *   break;
 * }
 * ```
 */
export class EurekaRegistryInstancer extends InstanceCache {
  readonly #app: string;
  #onStop: (() => void) | undefined;

  /**
   * Made by {@linkcode EurekaRegistry.instancer}.
   *
   * @param app The application's name.
   * @param onStop Detaches it from its registry; runs once, on stop.
   */
  constructor(app: string, onStop?: () => void) {
    super();
    this.#app = requireString(app, "app");
    this.#onStop = onStop;
  }

  /** The application followed, as given. */
  get app(): string {
    return this.#app;
  }

  /** Stops delivery and detaches from the registry. Idempotent. */
  override stop(): void {
    if (this.stopped) return;
    super.stop();
    const onStop = this.#onStop;
    this.#onStop = undefined;
    onStop?.();
  }
}
