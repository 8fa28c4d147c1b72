/**
 * Discovery from the data of a ZooKeeper node's children, kept current by a child watch.
 *
 * @module
 */
import { backoffDelay, type BackoffOptions, delay } from "../_async.ts";
import type { InstanceInput } from "../_event.ts";
import { requireFunction, requireMethod, requireNumber } from "../_validate.ts";
import { BackgroundInstancer, backoffOptions } from "../background_instancer.ts";
import { describe } from "../errors.ts";
import type { Logger } from "../types.ts";
import type { ZkClient } from "./client.ts";
import { readInstances, validatePath } from "./_util.ts";

/** Options for {@linkcode ZkInstancer}. */
export interface ZkInstancerOptions {
  /** Create the service path (and its parents) when it is missing. Default: false. */
  createParents?: boolean;
  /** Pause after failures: capped exponential with jitter. Default: `{ initial: 250, max: 10000, multiplier: 2 }`. */
  backoff?: Partial<BackoffOptions>;
  /** Random source in [0, 1) for jitter. Default: `Math.random`. */
  random?: () => number;
  /** Time limit of each lookup, in ms. Default: the client's. */
  timeout?: number;
  /**
   * After the session expired (the ensemble dropped it, or lost its data), an empty listing is not
   * published for this many ms while the last set had instances: registrars create their nodes again,
   * and a read can come between one re-creating the service node and its own child. A listing with
   * instances is published at once; an empty one still stands when the time is up. 0 turns it off.
   * Default: 15,000.
   */
  resetGrace?: number;
  /** Stops the instancer when aborted. */
  signal?: AbortSignal;
  /** Receives failures and skipped nodes. Default: silent. */
  logger?: Logger;
}

const DEFAULT_BACKOFF: BackoffOptions = { initial: 250, max: 10_000, multiplier: 2 };

/**
 * An Instancer over the children of one ZooKeeper node: each child's data is an instance string (as
 * go-kit and {@linkcode ZkRegistrar} store them), with the child's name as its `id` detail. It reads
 * the children with a watch, reads their data, publishes, and waits for the watch; it re-arms on every
 * change, after every reconnect (the server forgets a connection's watches) and after session expiry.
 * A failure is an error event that leaves the last good state in every endpointer, followed by a
 * retry with capped, jittered backoff; go-kit's stopped for good after one error.
 *
 * @example
 * ```ts ignore
 * import { ZkClient, ZkInstancer } from "./mod.ts";
 *
 * const client = new ZkClient("127.0.0.1:2181");
 * using instancer = new ZkInstancer(client, "/services/api", { createParents: true });
 * for await (const event of instancer) {
 *   // event.instances: the data of each child of /services/api (or event.error)
 *   break;
 * }
 * ```
 */
export class ZkInstancer extends BackgroundInstancer {
  readonly #client: ZkClient;
  readonly #path: string;
  readonly #options: ZkInstancerOptions;
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;
  #wake: (() => void) | undefined;
  #fired = false;
  readonly #resetGrace: number;
  /** Until when an empty listing is held back after a session expiry. */
  #holdEmptyUntil = -Infinity;
  #hadInstances = false;
  // One watcher function for the life of the instancer, so a failing loop never piles up watches.
  readonly #watcher = () => {
    this.#fired = true;
    this.#wake?.();
  };

  /**
   * Starts watching at once.
   *
   * @param client The client (may be shared with registrars and other instancers).
   * @param path The service node, e.g. `/services/api`.
   * @param options Parent creation, backoff, signal, logger.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(client: ZkClient, path: string, options: ZkInstancerOptions = {}) {
    super(options);
    requireMethod(client, "getChildren", "client");
    validatePath(path, false);
    this.#client = client;
    this.#path = path;
    this.#backoff = backoffOptions(options.backoff, DEFAULT_BACKOFF);
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    this.#random = options.random ?? Math.random;
    this.#options = options;
    this.#resetGrace = requireNumber(options.resetGrace ?? 15_000, "options.resetGrace", { min: 0 });
    const onExpired = () => {
      if (this.#hadInstances) this.#holdEmptyUntil = Date.now() + this.#resetGrace;
    };
    if (!this.stopSignal.aborted && typeof client.addEventListener === "function") {
      client.addEventListener("expired", onExpired);
      this.stopSignal.addEventListener("abort", () => client.removeEventListener("expired", onExpired), {
        once: true,
      });
    }
    this.start(() => this.#run());
  }

  /** The watched node. */
  get path(): string {
    return this.#path;
  }

  /**
   * Reads the instances once, without a watch and without touching the instancer's state.
   *
   * @param options A signal.
   * @returns The instances.
   * @throws {ZkError} On failure.
   */
  lookup(options: { signal?: AbortSignal } = {}): Promise<InstanceInput[]> {
    return this.#read(options.signal, false);
  }

  async #run(): Promise<void> {
    const stopped = this.stopSignal;
    let failures = 0;
    let ensured = !this.#options.createParents;
    while (!stopped.aborted) {
      try {
        if (!ensured) {
          await this.#client.ensurePath(this.#path, this.#call(stopped));
          ensured = true;
        }
        this.#fired = false;
        const instances = await this.#read(stopped, true);
        const hold = instances.length === 0 ? this.#holdEmptyUntil - Date.now() : 0;
        if (hold > 0) {
          // Registrars are re-creating their nodes after the expiry: look again on the watch, or
          // once the grace is over, and publish an empty set only then.
          await this.#waitForWatch(stopped, hold);
          continue;
        }
        this.#holdEmptyUntil = -Infinity;
        this.#hadInstances = instances.length > 0;
        this.update({ instances });
        failures = 0;
        await this.#waitForWatch(stopped);
        continue;
      } catch (error) {
        if (stopped.aborted) return;
        failures++;
        this.#options.logger?.warn("ZooKeeper lookup failed; keeping the last good state", {
          path: this.#path,
          error: describe(error),
        });
        this.update({ error });
      }
      try {
        await delay(backoffDelay(failures, this.#backoff, this.#random), stopped);
      } catch {
        return;
      }
    }
  }

  #call(signal: AbortSignal | undefined): { signal?: AbortSignal; timeout?: number } {
    const o: { signal?: AbortSignal; timeout?: number } = {};
    if (signal !== undefined) o.signal = signal;
    if (this.#options.timeout !== undefined) o.timeout = this.#options.timeout;
    return o;
  }

  #read(signal: AbortSignal | undefined, watch: boolean): Promise<InstanceInput[]> {
    return readInstances(this.#client, this.#path, {
      call: this.#call(signal),
      watch: watch ? this.#watcher : undefined,
      logger: this.#options.logger,
    });
  }

  /** Waits for the children watch to fire, or at most `ms` when given. */
  #waitForWatch(stopped: AbortSignal, ms?: number): Promise<void> {
    if (this.#fired) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        reject(stopped.reason);
      };
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        stopped.removeEventListener("abort", onAbort);
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(() => this.#wake?.(), ms);
      stopped.addEventListener("abort", onAbort, { once: true });
    });
  }
}
