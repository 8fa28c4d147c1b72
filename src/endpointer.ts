/**
 * The endpointer: one endpoint per discovered instance, kept in step with an Instancer.
 *
 * @module
 */
import { EndpointCache, type EndpointEntry } from "./_endpoint_cache.ts";
import { requireFunction, requireMethod, requireNumber, requireSignal } from "./_validate.ts";
import { StoppedError } from "./errors.ts";
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

/** Dispatched as `change` whenever the endpoints, or their instances' details, change. */
export class EndpointsChangeEvent<Req = unknown, Res = unknown> extends Event {
  /** The new entries, sorted by instance. */
  readonly entries: readonly EndpointEntry<Req, Res>[];

  /**
   * Creates the event.
   *
   * @param entries The new entries.
   */
  constructor(entries: readonly EndpointEntry<Req, Res>[]) {
    super("change");
    this.entries = entries;
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
 * returns the same frozen array until something changes.
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
  #waiters = new Set<() => void>();
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
   * @param options A signal to stop waiting.
   * @returns The endpoints at that time.
   * @throws The signal's reason if it aborts first, or a {@linkcode StoppedError} if the endpointer
   *   closes first.
   */
  ready(options: { signal?: AbortSignal } = {}): Promise<readonly Endpoint<Req, Res>[]> {
    requireSignal(options.signal, "options.signal");
    const signal = options.signal;
    return new Promise((resolve, reject) => {
      const settle = () => {
        signal?.removeEventListener("abort", onAbort);
        if (!this.#hasState) {
          reject(new StoppedError("DefaultEndpointer"));
          return;
        }
        try {
          resolve(this.#cache.endpoints());
        } catch (error) {
          reject(error);
        }
      };
      const onAbort = () => {
        this.#waiters.delete(settle);
        reject(signal?.reason);
      };
      if (this.#hasState || this.#closed) {
        settle();
        return;
      }
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      this.#waiters.add(settle);
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
      this.dispatchEvent(new EndpointerErrorEvent(event.error));
      return;
    }
    const first = !this.#hasState;
    this.#hasState = true;
    for (const failure of outcome.failures) {
      this.dispatchEvent(new EndpointerErrorEvent(failure.error, failure.instance));
    }
    if (outcome.changed || first) this.dispatchEvent(new EndpointsChangeEvent(this.#cache.entries()));
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
    for (const settle of waiters) settle();
  }
}
