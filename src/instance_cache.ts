/**
 * The shared state and fan-out behind every Instancer.
 *
 * @module
 */
import { copyEvent, failure, type InstanceInput, normalizeInstances, sameEvent } from "./_event.ts";
import { requireFunction, requireSignal } from "./_validate.ts";
import type {
  DiscoveryEvent,
  DiscoveryListener,
  InstanceDetails,
  Instancer,
  Logger,
  SubscribeOptions,
  Subscription,
} from "./types.ts";

export type { InstanceInput };

/**
 * What {@linkcode InstanceCache.update} accepts: a complete list of instances (bare strings or strings
 * with details, in any order, duplicates allowed) or an error.
 */
export type DiscoveryUpdate =
  | { readonly instances: Iterable<InstanceInput>; readonly error?: undefined }
  | { readonly error: unknown; readonly instances?: undefined };

/** Options for {@linkcode InstanceCache}. */
export interface InstanceCacheOptions {
  /** Receives a report when a listener throws or rejects. Default: silent. */
  logger?: Logger;
}

class Subscriber {
  readonly listener: DiscoveryListener;
  readonly queue: DiscoveryEvent[] = [];
  last: DiscoveryEvent | undefined;
  scheduled = false;
  busy = false;
  active = true;
  detach: () => void = () => {};
  onEnd: (() => void) | undefined;
  end: () => void = () => {};
  /** Subscribed after stop: end once the last state has been delivered. */
  endWhenDrained = false;

  constructor(listener: DiscoveryListener) {
    this.listener = listener;
  }
}

/**
 * Holds the current discovery state of one service and pushes it to subscribers. Backends extend it
 * (or own one) and call {@linkcode InstanceCache.update} with every lookup result; it validates,
 * sorts and de-duplicates the instances, drops states identical to the current one, and delivers to
 * each listener asynchronously, in order, with its own copy of the instances array. A listener that returns a promise gets its
 * next event only after that promise settles; events that pile up meanwhile collapse to the newest (they
 * are full snapshots), so a slow listener never holds up the others or the backend.
 *
 * Unlike go-kit's cache there is no state before the first update: a subscriber waits for the first
 * real result instead of seeing an empty set.
 *
 * @example
 * ```ts
 * import { InstanceCache } from "@edgekit/sd";
 * import { assert } from "@std/assert";
 *
 * const cache = new InstanceCache();
 * cache.update({ instances: ["10.0.0.2:80", { instance: "10.0.0.1:80", weight: 2 }] });
 * for await (const event of cache) {
 *   assert(event.instances?.join() === "10.0.0.1:80,10.0.0.2:80");
 *   break;
 * }
 * cache.stop();
 * ```
 */
export class InstanceCache implements Instancer {
  #state: DiscoveryEvent | undefined;
  #subscribers = new Set<Subscriber>();
  #stopped = false;
  #logger: Logger | undefined;

  /**
   * Creates an empty cache.
   *
   * @param options A logger for listener failures.
   */
  constructor(options: InstanceCacheOptions = {}) {
    this.#logger = options.logger;
  }

  /** Whether {@linkcode InstanceCache.stop} has run. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Replaces the state and notifies subscribers unless it equals the current state. Ignored after
   * stop.
   *
   * @param update A complete list of instances, or an error.
   * @returns Whether subscribers were notified.
   * @throws {TypeError | RangeError} If an instance or its details are invalid; the state is unchanged.
   */
  update(update: DiscoveryUpdate): boolean {
    if (typeof update !== "object" || update === null) {
      throw new TypeError(`Update must be an object with instances or error, got ${String(update)}`);
    }
    const event = update.error !== undefined ? failure(update.error) : normalizeInstances(
      update.instances as Iterable<InstanceInput>,
      "instances",
      this.#state?.error === undefined ? this.#state : undefined,
    );
    if (this.#stopped) return false;
    if (this.#state !== undefined && sameEvent(this.#state, event)) return false;
    this.#state = event;
    for (const sub of this.#subscribers) this.#enqueue(sub, event);
    return true;
  }

  /**
   * Returns a copy of the current state, or `undefined` before the first update.
   *
   * @returns The current state.
   */
  state(): DiscoveryEvent | undefined {
    return this.#state === undefined ? undefined : copyEvent(this.#state);
  }

  /**
   * Returns the details of one instance in the current state.
   *
   * @param instance An instance string.
   * @returns Its details, or `undefined` if it is not present or has none.
   */
  details(instance: string): InstanceDetails | undefined {
    return this.#state?.details?.get(instance);
  }

  /**
   * Adds a listener. It receives the current state (if there is one) on a later microtask, then every
   * change. After stop it receives the last state and nothing more.
   *
   * @param listener The listener.
   * @param options A signal that unsubscribes when aborted.
   * @returns The subscription.
   * @throws {TypeError} If `listener` is not a function or `signal` not an AbortSignal.
   */
  subscribe(listener: DiscoveryListener, options: SubscribeOptions = {}): Subscription {
    requireFunction(listener, "listener");
    requireSignal(options.signal, "options.signal");
    return this.#add(listener, options.signal, undefined);
  }

  /**
   * Iterates over events: the current state first, then every change. A consumer slower than the
   * updates skips intermediate states and gets the newest. Iteration ends when the cache stops or the
   * loop breaks.
   *
   * @returns An async iterator of events.
   */
  [Symbol.asyncIterator](): AsyncIterator<DiscoveryEvent> {
    let held: DiscoveryEvent | undefined;
    // A private copy of what the consumer last took (it may mutate its own), to drop a held
    // snapshot that has come back to that state.
    let taken: DiscoveryEvent | undefined;
    let waiting: ((result: IteratorResult<DiscoveryEvent>) => void) | undefined;
    let done = false;
    const finish = () => {
      done = true;
      const w = waiting;
      waiting = undefined;
      w?.({ value: undefined, done: true });
    };
    // Snapshots that arrive while the consumer is busy replace each other, so a slow consumer gets
    // the newest state when it asks, not the first one that arrived meanwhile.
    const subscription = this.#add(
      (event) => {
        if (waiting !== undefined) {
          const w = waiting;
          waiting = undefined;
          taken = copyEvent(event);
          w({ value: event, done: false });
        } else {
          held = taken !== undefined && sameEvent(taken, event) ? undefined : event;
        }
      },
      undefined,
      finish,
    );
    return {
      next: (): Promise<IteratorResult<DiscoveryEvent>> => {
        if (held !== undefined) {
          const h = held;
          held = undefined;
          taken = copyEvent(h);
          return Promise.resolve({ value: h, done: false });
        }
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          waiting = resolve;
        });
      },
      return: (): Promise<IteratorResult<DiscoveryEvent>> => {
        held = undefined;
        subscription.unsubscribe();
        finish();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /**
   * Stops delivery: subscribers are dropped (their signals' listeners removed) and iterators end.
   * The last state is kept. Idempotent; subclasses extend it to stop their loops.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    const subs = [...this.#subscribers];
    this.#subscribers.clear();
    for (const sub of subs) {
      sub.active = false;
      sub.queue.length = 0;
      sub.detach();
      sub.onEnd?.();
    }
  }

  /** Same as {@linkcode InstanceCache.stop}. */
  [Symbol.dispose](): void {
    this.stop();
  }

  #add(
    listener: DiscoveryListener,
    signal: AbortSignal | undefined,
    onEnd: (() => void) | undefined,
  ): Subscription {
    const sub = new Subscriber(listener);
    sub.onEnd = onEnd;
    const unsubscribe = () => {
      if (!sub.active) return;
      sub.active = false;
      sub.queue.length = 0;
      this.#subscribers.delete(sub);
      sub.detach();
      sub.onEnd?.();
    };
    sub.end = unsubscribe;
    const subscription: Subscription = { unsubscribe, [Symbol.dispose]: unsubscribe };
    if (signal?.aborted || (this.#stopped && this.#state === undefined)) {
      unsubscribe();
      return subscription;
    }
    if (signal !== undefined) {
      signal.addEventListener("abort", unsubscribe, { once: true });
      sub.detach = () => signal.removeEventListener("abort", unsubscribe);
    }
    if (this.#stopped) sub.endWhenDrained = true;
    else this.#subscribers.add(sub);
    if (this.#state !== undefined) this.#enqueue(sub, this.#state);
    return subscription;
  }

  #enqueue(sub: Subscriber, event: DiscoveryEvent): void {
    sub.queue.push(event);
    if (sub.scheduled || sub.busy) return;
    sub.scheduled = true;
    queueMicrotask(() => this.#drain(sub));
  }

  #drain(sub: Subscriber): void {
    sub.scheduled = false;
    while (sub.active && !sub.busy && sub.queue.length > 0) {
      const event = sub.queue.shift()!;
      if (sub.last !== undefined && sameEvent(sub.last, event)) continue;
      sub.last = event;
      let result: void | Promise<void>;
      try {
        result = sub.listener(copyEvent(event));
      } catch (error) {
        this.#logger?.error("Instancer listener threw", { error });
        continue;
      }
      if (result !== undefined && typeof (result as Promise<void>).then === "function") {
        sub.busy = true;
        const settle = () => {
          sub.busy = false;
          // Full snapshots: whatever piled up while the listener was busy collapses to the newest.
          if (sub.queue.length > 1) sub.queue.splice(0, sub.queue.length - 1);
          this.#drain(sub);
        };
        (result as Promise<void>).then(settle, (error: unknown) => {
          this.#logger?.error("Instancer listener rejected", { error });
          settle();
        });
      }
    }
    if (sub.endWhenDrained && !sub.busy && sub.queue.length === 0) sub.end();
  }
}
