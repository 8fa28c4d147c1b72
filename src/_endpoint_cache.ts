// The endpoint cache behind DefaultEndpointer: turns instance sets into endpoints via the factory,
// reuses surviving ones, closes vanished ones, and handles invalidate-after-error. Internal.
import { EMPTY_DETAILS, sameDetails } from "./_event.ts";
import { describe } from "./errors.ts";
import type { DiscoveryEvent, Endpoint, Factory, InstanceDetails, Logger } from "./types.ts";

/** One live endpoint with the instance it talks to. */
export interface EndpointEntry<Req = unknown, Res = unknown> {
  /** The instance string. */
  readonly instance: string;
  /** The instance's details (frozen). */
  readonly details: InstanceDetails;
  /** The endpoint the factory made for it. */
  readonly endpoint: Endpoint<Req, Res>;
}

interface Live<Req, Res> {
  entry: EndpointEntry<Req, Res>;
  close: (() => void | Promise<void>) | undefined;
}

/** What an update did, for events. */
export interface UpdateOutcome {
  /** The endpoints or their instances' details changed. */
  changed: boolean;
  /** Factory failures, one per skipped instance. */
  failures: { instance: string; error: unknown }[];
}

export interface EndpointCacheOptions {
  invalidateAfter: number | undefined;
  now: () => number;
  logger: Logger | undefined;
  /** Called after the endpoints were invalidated (from a read or the timer). */
  onInvalidate: () => void;
}

const NONE: readonly never[] = Object.freeze([]);

export class EndpointCache<Req, Res> {
  readonly #factory: Factory<Req, Res>;
  readonly #options: EndpointCacheOptions;
  #live = new Map<string, Live<Req, Res>>();
  #endpoints: readonly Endpoint<Req, Res>[] = NONE;
  #entries: readonly EndpointEntry<Req, Res>[] = NONE;
  #error: Error | undefined;
  /** Set while in error with an invalidate-after timeout pending. */
  #deadline: number | undefined;
  #invalidated = false;

  constructor(factory: Factory<Req, Res>, options: EndpointCacheOptions) {
    this.#factory = factory;
    this.#options = options;
  }

  /** The current error, if the last event was a failure. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** When the endpoints will be invalidated, if an invalidation is pending. */
  get deadline(): number | undefined {
    return this.#deadline;
  }

  get invalidated(): boolean {
    return this.#invalidated;
  }

  entries(): readonly EndpointEntry<Req, Res>[] {
    this.#check();
    return this.#entries;
  }

  endpoints(): readonly Endpoint<Req, Res>[] {
    // Hot path: one field test while healthy.
    if (this.#deadline !== undefined || this.#invalidated) this.#check();
    return this.#endpoints;
  }

  update(event: DiscoveryEvent): UpdateOutcome {
    if (event.error !== undefined) {
      // Keep serving the last endpoints. With an invalidate-after timeout, the first error of a run
      // starts the clock; later errors neither extend it nor replace the error (go-kit semantics).
      if (this.#error === undefined) {
        this.#error = event.error;
        if (this.#options.invalidateAfter !== undefined) {
          this.#deadline = this.#options.now() + this.#options.invalidateAfter;
        }
      }
      return { changed: false, failures: [] };
    }
    this.#error = undefined;
    this.#deadline = undefined;
    const wasInvalidated = this.#invalidated;
    this.#invalidated = false;
    return this.#rebuild(event.instances, event.details, wasInvalidated);
  }

  /** Invalidates now if the deadline has passed. Returns whether it did. */
  expire(): boolean {
    if (this.#deadline === undefined || this.#options.now() < this.#deadline) return false;
    this.#deadline = undefined;
    this.#invalidated = true;
    this.#rebuild([], new Map(), false);
    this.#options.onInvalidate();
    return true;
  }

  close(): void {
    this.#deadline = undefined;
    this.#rebuild([], new Map(), false);
  }

  #check(): void {
    this.expire();
    if (this.#invalidated) throw this.#error;
  }

  #rebuild(
    instances: readonly string[],
    details: ReadonlyMap<string, InstanceDetails>,
    forceChanged: boolean,
  ): UpdateOutcome {
    const old = this.#live;
    const next = new Map<string, Live<Req, Res>>();
    const failures: { instance: string; error: unknown }[] = [];
    // A change is an endpoint made, removed or given new details; a re-listed instance whose factory
    // fails again, or a duplicate, is not.
    let changed = forceChanged;
    const noDetails = details.size === 0;
    let last: string | undefined;
    let ordered = true;
    for (const instance of instances) {
      // Duplicates never leak a second endpoint. Instances arrive sorted, so a repeat is adjacent; only
      // after an out-of-order one (an Instancer breaking that contract) does every instance need a lookup.
      if (last !== undefined && instance < last) ordered = false;
      if (instance === last || (!ordered && next.has(instance))) continue;
      last = instance;
      const d = noDetails ? EMPTY_DETAILS : details.get(instance) ?? EMPTY_DETAILS;
      const live = old.get(instance);
      if (live !== undefined) {
        old.delete(instance);
        if (live.entry.details !== d && !sameDetails(live.entry.details, d)) {
          live.entry = { instance, details: d, endpoint: live.entry.endpoint };
          changed = true;
        }
        next.set(instance, live);
        continue;
      }
      try {
        const made = this.#factory(instance, d);
        if (typeof made?.endpoint !== "function") {
          throw new TypeError(`Factory returned no endpoint function for ${JSON.stringify(instance)}`);
        }
        next.set(instance, { entry: { instance, details: d, endpoint: made.endpoint }, close: made.close });
        changed = true;
      } catch (error) {
        failures.push({ instance, error });
        this.#options.logger?.warn("Factory failed; instance skipped until the next update", {
          instance,
          error,
        });
      }
    }
    for (const [instance, live] of old) {
      changed = true;
      this.#closeOne(instance, live);
    }
    this.#live = next;
    if (changed) {
      const entries = Object.freeze([...next.values()].map((l) => l.entry));
      this.#entries = entries;
      this.#endpoints = Object.freeze(entries.map((e) => e.endpoint));
    }
    return { changed, failures };
  }

  #closeOne(instance: string, live: Live<Req, Res>): void {
    if (live.close === undefined) return;
    const report = (error: unknown) =>
      this.#options.logger?.warn("Endpoint close failed", { instance, error: describe(error) });
    try {
      const result = live.close();
      if (result !== undefined && typeof (result as Promise<void>).then === "function") {
        (result as Promise<void>).then(undefined, report);
      }
    } catch (error) {
      report(error);
    }
  }
}
