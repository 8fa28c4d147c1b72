/**
 * The endpointer: one endpoint per discovered instance, kept in step with an Instancer.
 *
 * @module
 */
import { EndpointCache, type EndpointEntry, type Snapshot } from "./_endpoint_cache.ts";
import { requireFunction, requireMethod, requireNumber, requireSignal } from "./_validate.ts";
import { describe, isSdError, StoppedError } from "./errors.ts";
import type {
  DiscoveryEvent,
  Endpoint,
  Endpointer,
  Factory,
  Instancer,
  Logger,
  Subscription,
} from "./types.ts";

export type { EndpointEntry };

/** A pending {@linkcode DefaultEndpointer.ready} call. */
interface Waiter {
  readonly waitThroughErrors: boolean;
  readonly settle: () => void;
}

/** Options for {@linkcode DefaultEndpointer}. */
export interface DefaultEndpointerOptions {
  /**
   * After a discovery error, keep serving the last endpoints for this many milliseconds, then close
   * them all and make `endpoints()` throw the error until discovery recovers (go-kit
   * `InvalidateOnError`). `0` invalidates at the first read after the error. Default: never invalidate.
   */
  invalidateAfter?: number;
  /** Closes the endpointer when aborted. */
  signal?: AbortSignal;
  /** Clock in milliseconds, for invalidation. Default: `Date.now`. */
  now?: () => number;
  /** Receives factory and close failures. Default: silent. */
  logger?: Logger;
}

/** Options for {@linkcode DefaultEndpointer.ready}. */
export interface DefaultEndpointerReadyOptions {
  /** Stops waiting when aborted; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Keep waiting through discovery errors that arrive before the first set of instances, for
   * callers that expect transient startup errors (a registry still starting) and bound the wait with
   * `signal`. A {@linkcode DiscoveryLoopError} still rejects: that instancer will never recover.
   * Default: `false`, so the first discovery error rejects the promise.
   */
  waitThroughErrors?: boolean;
}

/** Makes a change event whose entries are read from `snapshot` when first asked for. */
let changeOf: <Req, Res>(snapshot: Snapshot<Req, Res>) => EndpointsChangeEvent<Req, Res>;

/** Dispatched as `change` whenever the endpoints, or their instances' details, change. */
export class EndpointsChangeEvent<Req = unknown, Res = unknown> extends Event {
  #entries: readonly EndpointEntry<Req, Res>[] | undefined;
  #snapshot: Snapshot<Req, Res> | undefined;

  /**
   * Creates the event.
   *
   * @param entries The new entries.
   */
  constructor(entries: readonly EndpointEntry<Req, Res>[]) {
    super("change");
    this.#entries = entries;
  }

  /**
   * The new entries, sorted by instance: the state this event announced, even when read after later
   * changes. A {@linkcode DefaultEndpointer} builds them on the first read (here or from its
   * `entries()`), so listeners that only want to know that something changed cost nothing.
   */
  get entries(): readonly EndpointEntry<Req, Res>[] {
    if (this.#entries === undefined) {
      this.#entries = this.#snapshot!.entries();
      this.#snapshot = undefined;
    }
    return this.#entries;
  }

  static {
    changeOf = <Req, Res>(snapshot: Snapshot<Req, Res>) => {
      const event = new EndpointsChangeEvent<Req, Res>([]);
      event.#entries = undefined;
      event.#snapshot = snapshot;
      return event;
    };
  }
}

/**
 * Dispatched as `error` for a discovery failure (no `instance`) or a factory failure (with the
 * `instance` that was skipped).
 */
export class EndpointerErrorEvent extends Event {
  /** What went wrong. */
  readonly error: unknown;
  /** The instance whose factory failed, if that is what happened. */
  readonly instance: string | undefined;

  /**
   * Creates the event.
   *
   * @param error What went wrong.
   * @param instance The instance whose factory failed, if any.
   */
  constructor(error: unknown, instance?: string) {
    super("error");
    this.error = error;
    this.instance = instance;
  }
}

/**
 * Subscribes to an Instancer and keeps one endpoint per instance, made by a Factory: a new instance
 * gets the factory called once, a vanished one has its `close` run, a surviving one keeps its endpoint.
 * A throwing factory skips that instance (reported as an `error` event) until the next update lists it
 * again. On a discovery error the last endpoints stay in service, unless `invalidateAfter` is set.
 *
 * It is an EventTarget: `change` ({@linkcode EndpointsChangeEvent}) and `error`
 * ({@linkcode EndpointerErrorEvent}). {@linkcode DefaultEndpointer.endpoints} is the hot path: it
 * returns the same frozen array until something changes. {@linkcode DefaultEndpointer.ready} waits for
 * the first instances and, by default, rejects with a discovery error that comes before them.
 *
 * @example
 * ```ts
 * import { DefaultEndpointer, FixedInstancer } from "@edgekit/sd";
 * import { assert } from "@std/assert";
 *
 * const instancer = new FixedInstancer(["10.0.0.1:80", "10.0.0.2:80"]);
 * using endpointer = new DefaultEndpointer(instancer, (instance) => ({
 *   endpoint: async (path: string) => `GET http://${instance}${path}`,
 * }));
 * await endpointer.ready();
 * const [first] = endpointer.endpoints();
 * assert((await first!("/health")) === "GET http://10.0.0.1:80/health");
 * ```
 */
export class DefaultEndpointer<Req = unknown, Res = unknown> extends EventTarget
  implements Endpointer<Req, Res>, Disposable {
  readonly #cache: EndpointCache<Req, Res>;
  readonly #subscription: Subscription;
  readonly #options: DefaultEndpointerOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #hasState = false;
  /** The newest discovery error while the last event was one (the cache keeps the first). */
  #lastError: Error | undefined;
  #waiters = new Set<Waiter>();
  #detachSignal: () => void = () => {};

  /**
   * Subscribes to `instancer`.
   *
   * @param instancer Where the instances come from.
   * @param factory Makes an endpoint for an instance.
   * @param options Invalidation, signal, clock and logger.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(instancer: Instancer, factory: Factory<Req, Res>, options: DefaultEndpointerOptions = {}) {
    super();
    requireMethod(instancer, "subscribe", "instancer");
    requireFunction(factory, "factory");
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object, got ${String(options)}`);
    }
    if (options.invalidateAfter !== undefined) {
      requireNumber(options.invalidateAfter, "options.invalidateAfter", { finite: true });
    }
    if (options.now !== undefined) requireFunction(options.now, "options.now");
    requireSignal(options.signal, "options.signal");
    this.#options = options;
    this.#cache = new EndpointCache(factory, {
      invalidateAfter: options.invalidateAfter,
      now: options.now ?? Date.now,
      logger: options.logger,
      onInvalidate: () => {
        // Checked when the microtask runs: a close() in the same turn means no events follow.
        queueMicrotask(() => {
          if (!this.#closed) this.dispatchEvent(new EndpointsChangeEvent<Req, Res>([]));
        });
      },
    });
    const signal = options.signal;
    if (signal !== undefined) {
      const onAbort = () => this.close();
      signal.addEventListener("abort", onAbort, { once: true });
      this.#detachSignal = () => signal.removeEventListener("abort", onAbort);
    }
    this.#subscription = instancer.subscribe((event) => this.#onEvent(event));
    if (signal?.aborted) this.close();
  }

  /** Whether {@linkcode DefaultEndpointer.close} has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The current discovery error, if the last event from the instancer was a failure. */
  get error(): Error | undefined {
    return this.#cache.error;
  }

  /**
   * Returns the current endpoints, sorted by instance. The same frozen array is returned until
   * something changes, so this allocates nothing.
   *
   * @returns The endpoints (empty before the first state and after close).
   * @throws The discovery error, once `invalidateAfter` has passed since it.
   */
  endpoints(): readonly Endpoint<Req, Res>[] {
    return this.#cache.endpoints();
  }

  /**
   * Returns the current endpoints with their instances and details, sorted by instance.
   *
   * @returns The entries.
   * @throws The discovery error, once `invalidateAfter` has passed since it.
   */
  entries(): readonly EndpointEntry<Req, Res>[] {
    return this.#cache.entries();
  }

  /**
   * Waits for the first set of instances from the instancer.
   *
   * By default a discovery error that arrives first rejects the promise with that error (also when
   * `ready()` is called later, while the endpointer has had no instances and its current state is an
   * error), so that a caller with a deadline, such as a Worker request, fails fast and visibly instead
   * of hanging. Pass `waitThroughErrors: true` to keep waiting for instances instead. Once instances
   * have arrived, later errors do not reject: the last endpoints stay in service.
   *
   * @param options A signal to stop waiting, and whether to wait through discovery errors.
   * @returns The endpoints at that time.
   * @throws The discovery error, if one arrives before the first instances (unless `waitThroughErrors`),
   *   or once `invalidateAfter` has passed since a later one.
   * @throws The signal's reason if it aborts first.
   * @throws {StoppedError} If the endpointer closes first.
   * @throws {TypeError} If `signal` is not an AbortSignal or `waitThroughErrors` not a boolean.
   *
   * @example Failing fast, or waiting through a registry that is still starting
   * ```ts
   * import { DefaultEndpointer, InstanceCache } from "@edgekit/sd";
   * import { assert } from "@std/assert";
   *
   * const registry = new InstanceCache();
   * registry.update({ error: new Error("connection refused") });
   * using endpointer = new DefaultEndpointer(registry, (instance) => ({
   *   endpoint: async () => instance,
   * }));
   * const failed = await endpointer.ready().then(() => undefined, (error: Error) => error);
   * assert(failed?.message === "connection refused");
   *
   * const waiting = endpointer.ready({ waitThroughErrors: true, signal: AbortSignal.timeout(5000) });
   * registry.update({ instances: ["10.0.0.1:80"] });
   * assert((await waiting).length === 1);
   * registry.stop();
   * ```
   */
  ready(options: DefaultEndpointerReadyOptions = {}): Promise<readonly Endpoint<Req, Res>[]> {
    requireSignal(options.signal, "options.signal");
    const waitThroughErrors = options.waitThroughErrors ?? false;
    if (typeof waitThroughErrors !== "boolean") {
      throw new TypeError(`options.waitThroughErrors must be a boolean, got ${describe(waitThroughErrors)}`);
    }
    const signal = options.signal;
    return new Promise((resolve, reject) => {
      const settle = () => {
        signal?.removeEventListener("abort", onAbort);
        if (!this.#hasState) {
          reject(this.#closed ? new StoppedError("DefaultEndpointer") : this.#lastError);
          return;
        }
        try {
          resolve(this.#cache.endpoints());
        } catch (error) {
          reject(error);
        }
      };
      const waiter: Waiter = { waitThroughErrors, settle };
      const onAbort = () => {
        this.#waiters.delete(waiter);
        reject(signal?.reason);
      };
      if (this.#hasState || this.#closed || this.#fails(waiter)) {
        settle();
        return;
      }
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      this.#waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Unsubscribes from the instancer and closes every endpoint. Idempotent; no events follow.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscription.unsubscribe();
    this.#detachSignal();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#cache.close();
    this.#settleWaiters();
  }

  /** Same as {@linkcode DefaultEndpointer.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #onEvent(event: DiscoveryEvent): void {
    if (this.#closed) return;
    const outcome = this.#cache.update(event);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (event.error !== undefined) {
      this.#options.logger?.warn("Discovery error; keeping the last endpoints", { error: event.error });
      const deadline = this.#cache.deadline;
      if (deadline !== undefined) {
        const wait = Math.max(0, deadline - (this.#options.now ?? Date.now)());
        this.#timer = setTimeout(() => this.#expire(), wait);
      }
      this.#lastError = event.error;
      this.dispatchEvent(new EndpointerErrorEvent(event.error));
      // A listener may have closed the endpointer, which has settled every waiter already.
      if (!this.#hasState && !this.#closed) this.#failWaiters();
      return;
    }
    const first = !this.#hasState;
    this.#hasState = true;
    this.#lastError = undefined;
    for (const failure of outcome.failures) {
      this.dispatchEvent(new EndpointerErrorEvent(failure.error, failure.instance));
    }
    if (outcome.changed || first) this.dispatchEvent(changeOf(this.#cache.snapshot));
    if (first) this.#settleWaiters();
  }

  #expire(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    if (!this.#cache.expire() && this.#cache.deadline !== undefined) {
      // The injected clock has not reached the deadline yet; look again later.
      const wait = Math.max(1, this.#cache.deadline - (this.#options.now ?? Date.now)());
      this.#timer = setTimeout(() => this.#expire(), wait);
    }
  }

  #settleWaiters(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) waiter.settle();
  }

  /** Rejects the waiters that the current discovery error, before any instances, fails. */
  #failWaiters(): void {
    for (const waiter of [...this.#waiters]) {
      if (!this.#fails(waiter)) continue;
      this.#waiters.delete(waiter);
      waiter.settle();
    }
  }

  /** Whether the current state, an error before any instances, rejects `waiter`. */
  #fails(waiter: Waiter): boolean {
    const error = this.#lastError;
    if (this.#hasState || error === undefined) return false;
    // An instancer whose loop has ended never sends instances: waiting through that would hang.
    return !waiter.waitThroughErrors || (isSdError(error) && error.code === "ERR_DISCOVERY_LOOP_ENDED");
  }
}
