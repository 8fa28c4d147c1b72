/**
 * Discovery from the values under an etcd key prefix, kept current by a watch.
 *
 * @module
 */
import { backoffDelay, type BackoffOptions, delay } from "../_async.ts";
import type { InstanceInput } from "../_event.ts";
import { requireFunction, requireMethod, requireNumber, requireString } from "../_validate.ts";
import { BackgroundInstancer, backoffOptions } from "../background_instancer.ts";
import { describe, RegistryUnavailableError } from "../errors.ts";
import type { Logger } from "../types.ts";
import { kvsToInstances, next } from "./_wire.ts";
import type { EtcdClient, EtcdKeyValue, EtcdWatchMessage } from "./client.ts";

/** Options for {@linkcode EtcdInstancer}. */
export interface EtcdInstancerOptions {
  /**
   * Milliseconds without any message on the watch (event or progress notification) after which the
   * stream is presumed dead and opened again from the last revision seen. etcd sends progress
   * notifications every `--experimental-watch-progress-notify-interval` (10 minutes by default); set that
   * below this to keep healthy idle streams open. Default: 60,000.
   */
  idleTimeout?: number;
  /** Pause after failures: capped exponential with jitter. Default: `{ initial: 500, max: 30000, multiplier: 2 }`. */
  backoff?: Partial<BackoffOptions>;
  /**
   * Milliseconds for which keys that vanished in a revision reset (etcd's revision went backwards:
   * its data was wiped, or restored from a snapshot) are still served, so that live registrars can
   * write them again before their instances disappear. 0 drops them at once. Set it above the
   * registrars' keep-alive interval plus their backoff. Default: 15,000.
   */
  resetGrace?: number;
  /** Random source in [0, 1) for jitter. Default: `Math.random`. */
  random?: () => number;
  /** Stops the instancer when aborted. */
  signal?: AbortSignal;
  /** Receives reconnects and skipped values. Default: silent. */
  logger?: Logger;
}

const DEFAULT_BACKOFF: BackoffOptions = { initial: 500, max: 30_000, multiplier: 2 };
/** A watch that ends sooner than this after opening counts as a failure for the backoff. */
const SHORT_WATCH_MS = 1_000;

/** Thrown inside the loop to re-list after a compaction or a revision reset; never escapes. */
class Relist extends Error {
  /** The store's revision went backwards (not a compaction). */
  readonly reset: boolean;
  constructor(reset = false) {
    super();
    this.reset = reset;
  }
}

/**
 * An Instancer over every key under a prefix: each value is an instance string (as go-kit stores
 * them), with the key as its `id` detail. It lists the prefix, then watches it from the listed
 * revision + 1, so nothing between the two is lost; a broken stream is resumed from the last revision
 * seen (no lost and no duplicate states), a stream silent for `idleTimeout` is reopened the same way,
 * and a watch cancelled by compaction lists again and watches from the new revision. A revision lower
 * than one already seen, or another cluster ID, means etcd lost or replaced its data (a wipe, a snapshot
 * restore): it lists again from scratch and serves the keys that vanished for `resetGrace` while
 * registrars write them again. A watch that ends soon after opening, or having delivered nothing but
 * its creation, counts as a failure for the backoff. Failures are
 * error events that leave the last good state in every endpointer, with capped, jittered backoff.
 * go-kit's never re-established a failed watch.
 *
 * The prefix is matched byte for byte: `/services/api` also matches `/services/api2/x`, so end it
 * with `/`.
 *
 * @example
 * ```ts
 * import { EtcdClient } from "./client.ts";
 * import { EtcdInstancer } from "./instancer.ts";
 * import { assertEquals } from "@std/assert";
 *
 * // A stand-in gateway: one key under the prefix; the watch stream ends at once.
 * const fakeEtcd = (input: Request | URL | string) => {
 *   const path = new URL(new Request(input).url).pathname;
 *   if (path === "/v3/kv/range") {
 *     return Promise.resolve(Response.json({
 *       header: { revision: "3" },
 *       kvs: [{ key: btoa("/services/api/1"), value: btoa("10.0.0.1:8080") }],
 *     }));
 *   }
 *   return Promise.resolve(new Response(""));
 * };
 * const client = new EtcdClient({ endpoints: ["http://127.0.0.1:2379"], fetch: fakeEtcd });
 * using instancer = new EtcdInstancer(client, "/services/api/", { backoff: { initial: 60_000 } });
 * for await (const event of instancer) {
 *   assertEquals(event.instances, ["10.0.0.1:8080"]);
 *   break;
 * }
 * ```
 */
export class EtcdInstancer extends BackgroundInstancer {
  readonly #client: EtcdClient;
  readonly #prefix: string;
  readonly #options: EtcdInstancerOptions;
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;
  readonly #idleTimeout: number;
  /** The key-value pairs under the prefix, as last known. */
  #kvs = new Map<string, string>();
  /** The last revision reflected in #kvs; the watch resumes after it. */
  #revision: string | undefined;
  /** Whether the current round's watch delivered events or progress (it was healthy). */
  #advanced = false;
  /** The cluster ID the watch last reported; another one means a different store. */
  #cluster: string | undefined;
  /** Keys carried over a revision reset, still served until written again or the grace ends. */
  #carried = new Map<string, string>();
  /** Counts resets, so that an older grace period does not end a newer one. */
  #resets = 0;
  readonly #resetGrace: number;

  /**
   * Starts listing and watching `prefix` at once.
   *
   * @param client The etcd client (may be shared with registrars and other instancers).
   * @param prefix The key prefix, e.g. `/services/api/`.
   * @param options Idle timeout, backoff, signal, logger.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(client: EtcdClient, prefix: string, options: EtcdInstancerOptions = {}) {
    super(options);
    requireMethod(client, "watch", "client");
    this.#client = client;
    this.#prefix = requireString(prefix, "prefix");
    this.#idleTimeout = requireNumber(options.idleTimeout ?? 60_000, "options.idleTimeout", { min: 1 });
    this.#resetGrace = requireNumber(options.resetGrace ?? 15_000, "options.resetGrace", { min: 0 });
    this.#backoff = backoffOptions(options.backoff, DEFAULT_BACKOFF);
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    this.#random = options.random ?? Math.random;
    this.#options = options;
    this.start(() => this.#run());
  }

  /** The watched prefix. */
  get prefix(): string {
    return this.#prefix;
  }

  /**
   * Lists the prefix once, without touching the instancer's state (for pull mode and health checks).
   *
   * @param options A signal.
   * @returns The instances and the store revision they were read at.
   * @throws {RegistryUnavailableError | RegistryRejectedError | MalformedResponseError}
   */
  async lookup(
    options: { signal?: AbortSignal } = {},
  ): Promise<{ instances: InstanceInput[]; revision: string }> {
    const { revision, kvs } = await this.#client.range(this.#prefix, { prefix: true, ...options });
    return { instances: kvsToInstances(kvs.map((kv) => [kv.key, kv.value]), this.#options.logger), revision };
  }

  async #run(): Promise<void> {
    const stopped = this.stopSignal;
    // Consecutive rounds that ended without a useful watch; drives the backoff.
    let failures = 0;
    // The last round ended in a relist after compaction, and no change has arrived since.
    let relisted = false;
    while (!stopped.aborted) {
      this.#advanced = false;
      let opened = Date.now();
      // A stream is healthy if it lasted and delivered events or progress (or idled out after a
      // long wait). One accepted and closed at once, or that sends only its creation, is not: a
      // proxy or a broken member doing that must meet a growing backoff, not a reopen every 500 ms.
      const healthy = () => {
        const lasted = Date.now() - opened;
        return lasted >= SHORT_WATCH_MS && (this.#advanced || lasted >= this.#idleTimeout);
      };
      try {
        if (this.#revision === undefined) await this.#list();
        opened = Date.now();
        await this.#watch();
        // The stream ended cleanly (the server closed it, or it idled out). Pause briefly all the
        // same, and longer each time a stream ends unhealthy: never a tight loop.
        failures = healthy() ? 1 : failures + 1;
      } catch (error) {
        if (stopped.aborted) return;
        if (healthy()) {
          // The stream was healthy before it broke: back off afresh, not from an old outage.
          failures = 0;
          relisted = false;
        }
        if (error instanceof Relist) {
          this.#revision = undefined;
          if (error.reset) this.#carryOver();
          // List again at once; but if compaction keeps cancelling fresh watches, back off.
          if (!relisted) {
            relisted = true;
            continue;
          }
          failures++;
        } else {
          failures++;
          this.#options.logger?.warn("etcd watch failed; keeping the last good state", {
            prefix: this.#prefix,
            error: describe(error),
          });
          this.update({ error });
        }
      }
      try {
        await delay(backoffDelay(failures, this.#backoff, this.#random), stopped);
      } catch {
        return;
      }
    }
  }

  async #list(): Promise<void> {
    const { revision, kvs } = await this.#client.range(this.#prefix, {
      prefix: true,
      signal: this.stopSignal,
    });
    this.#kvs = new Map(kvs.map((kv) => [kv.key, kv.value]));
    for (const key of this.#kvs.keys()) this.#carried.delete(key);
    this.#revision = revision;
    this.#publish();
  }

  /** After a revision reset: keeps serving the keys known so far for the grace period. */
  #carryOver(): void {
    const round = ++this.#resets;
    if (this.#resetGrace === 0) {
      this.#carried.clear();
      this.#kvs = new Map();
      return;
    }
    for (const [key, value] of this.#kvs) this.#carried.set(key, value);
    this.#kvs = new Map();
    delay(this.#resetGrace, this.stopSignal).then(() => {
      if (round !== this.#resets || this.#carried.size === 0) return;
      this.#options.logger?.info("etcd reset grace over; dropping keys not written again", {
        prefix: this.#prefix,
        keys: [...this.#carried.keys()],
      });
      this.#carried.clear();
      this.#publish();
    }, () => {}); // stopped
  }

  /** Throws a reset Relist if `message` comes from a store that lost or replaced its data. */
  #checkReset(message: EtcdWatchMessage): void {
    const cluster = message.clusterId;
    const before = this.#cluster;
    if (cluster !== undefined) this.#cluster = cluster;
    // The header of a creation or progress notification is the store's revision, which never falls
    // below one already seen in the same store (events are tracked by their own mod revisions).
    const backwards = message.events.length === 0 && message.revision !== "0" &&
      BigInt(message.revision) < BigInt(this.#revision!);
    const replaced = cluster !== undefined && before !== undefined && cluster !== before;
    if (!backwards && !replaced) return;
    this.#options.logger?.warn(
      "etcd revision went backwards or the cluster changed (data wiped or restored); listing again",
      {
        prefix: this.#prefix,
        seen: this.#revision,
        revision: message.revision,
        ...(replaced ? { cluster: before, newCluster: cluster } : {}),
      },
    );
    throw new Relist(true);
  }

  /** Watches from the revision after the last one seen until the stream ends or fails. */
  async #watch(): Promise<void> {
    const idle = new AbortController();
    const signal = AbortSignal.any([this.stopSignal, idle.signal]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(new DOMException("watch idle", "TimeoutError")), this.#idleTimeout);
    };
    arm();
    try {
      const stream = this.#client.watch(this.#prefix, {
        prefix: true,
        startRevision: next(this.#revision!),
        progressNotify: true,
        signal,
      });
      for await (const message of stream) {
        arm();
        this.#checkReset(message);
        if (message.canceled) {
          if (message.compactRevision !== undefined) {
            this.#options.logger?.info("etcd compacted past the watch; listing again", {
              prefix: this.#prefix,
              compactRevision: message.compactRevision,
            });
            throw new Relist();
          }
          throw new RegistryUnavailableError(
            `etcd cancelled the watch on ${JSON.stringify(this.#prefix)}${
              message.cancelReason ? `: ${message.cancelReason}` : ""
            }`,
          );
        }
        if (message.events.length > 0) {
          this.#apply(message.events);
          // Resume after the last event applied, not the header's revision: a watcher catching up
          // on history may be told the store's current revision before it has seen every event.
          this.#revision = message.events[message.events.length - 1]!.kv.modRevision;
          this.#advanced = true;
        } else if (!message.created && message.revision !== "0") {
          // A progress notification: every event up to this revision has been delivered.
          this.#revision = message.revision;
          this.#advanced = true;
        }
        // On (re)connection, republish: after an error event this restores the good state.
        if (message.events.length > 0 || message.created) this.#publish();
      }
    } catch (error) {
      if (idle.signal.aborted && !this.stopSignal.aborted) {
        // Silent for too long: reopen from the last revision, without an error event.
        this.#options.logger?.info("etcd watch idle; reopening it", { prefix: this.#prefix });
        return;
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #apply(events: readonly { type: "PUT" | "DELETE"; kv: EtcdKeyValue }[]): void {
    for (const { type, kv } of events) {
      this.#carried.delete(kv.key);
      if (type === "DELETE") this.#kvs.delete(kv.key);
      else this.#kvs.set(kv.key, kv.value);
    }
  }

  #publish(): void {
    const kvs = this.#carried.size === 0 ? this.#kvs : new Map([...this.#carried, ...this.#kvs]);
    this.update({ instances: kvsToInstances(kvs, this.#options.logger) });
  }
}
