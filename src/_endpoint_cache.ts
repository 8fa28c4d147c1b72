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

type Close = () => void | Promise<void>;

/** What a factory returned. */
interface Made<Req, Res> {
  readonly endpoint: Endpoint<Req, Res>;
  readonly close?: Close | undefined;
}

/**
 * One published state of the cache: parallel arrays indexed alike, sorted by instance, never mutated
 * once built. Per instance that is one slot in each array (details and closers only when some instance
 * has them), instead of a map entry and two objects. The entries are built on first request: a caller
 * that only reads endpoints() never pays for them.
 */
export class Snapshot<Req, Res> {
  readonly instances: readonly string[];
  /** Frozen: endpoints() hands it out. */
  readonly endpoints: readonly Endpoint<Req, Res>[];
  /** Per index, `undefined` (or a hole) meaning EMPTY_DETAILS; `undefined` when none has details. */
  readonly details: readonly (InstanceDetails | undefined)[] | undefined;
  #entries: readonly EndpointEntry<Req, Res>[] | undefined;
  /** Entries built for an earlier snapshot, whose unchanged objects the first build reuses. */
  #previous: readonly EndpointEntry<Req, Res>[] | undefined;

  constructor(
    instances: readonly string[],
    endpoints: readonly Endpoint<Req, Res>[],
    details: readonly (InstanceDetails | undefined)[] | undefined,
    previous: readonly EndpointEntry<Req, Res>[] | undefined,
  ) {
    this.instances = instances;
    this.endpoints = endpoints;
    this.details = details;
    this.#previous = previous;
    if (instances.length === 0) this.#entries = NONE;
  }

  /** Entries once built, or what an earlier snapshot built, for the next snapshot to reuse. */
  get reusable(): readonly EndpointEntry<Req, Res>[] | undefined {
    return this.#entries ?? this.#previous;
  }

  /** Whether the entries have been built. */
  get built(): boolean {
    return this.#entries !== undefined;
  }

  /** The entries, built on the first call and the same frozen array after. */
  entries(): readonly EndpointEntry<Req, Res>[] {
    return this.#entries ??= this.#build();
  }

  #build(): readonly EndpointEntry<Req, Res>[] {
    const { instances, endpoints, details } = this;
    const previous = this.#previous ?? NONE;
    this.#previous = undefined;
    const out = new Array<EndpointEntry<Req, Res>>(instances.length);
    let p = 0;
    for (let i = 0; i < instances.length; i++) {
      const instance = instances[i]!;
      const endpoint = endpoints[i]!;
      const d = details?.[i] ?? EMPTY_DETAILS;
      // Both lists are sorted: an unchanged entry (same instance, endpoint and details) is reused, so
      // entry identity survives changes elsewhere.
      while (p < previous.length && previous[p]!.instance < instance) p++;
      const before = previous[p];
      out[i] = before !== undefined && before.instance === instance && before.endpoint === endpoint &&
          before.details === d
        ? before
        : { instance, details: d, endpoint };
    }
    return Object.freeze(out);
  }
}

const EMPTY: Snapshot<unknown, unknown> = new Snapshot(NONE, NONE, undefined, undefined);

/** The shared empty snapshot (it holds nothing of any type). */
function empty<Req, Res>(): Snapshot<Req, Res> {
  return EMPTY as unknown as Snapshot<Req, Res>;
}

export class EndpointCache<Req, Res> {
  readonly #factory: Factory<Req, Res>;
  readonly #options: EndpointCacheOptions;
  #snapshot: Snapshot<Req, Res> = empty();
  /** Indexed like the snapshot's arrays; `undefined` until some endpoint has a close. */
  #closers: (Close | undefined)[] | undefined;
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

  /** The current state, for a change event to read its entries from later. */
  get snapshot(): Snapshot<Req, Res> {
    return this.#snapshot;
  }

  entries(): readonly EndpointEntry<Req, Res>[] {
    this.#check();
    return this.#snapshot.entries();
  }

  endpoints(): readonly Endpoint<Req, Res>[] {
    // Hot path: one field test while healthy.
    if (this.#deadline !== undefined || this.#invalidated) this.#check();
    return this.#snapshot.endpoints;
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
    this.#rebuild(NONE, NO_DETAILS, false);
    this.#options.onInvalidate();
    return true;
  }

  close(): void {
    this.#deadline = undefined;
    this.#rebuild(NONE, NO_DETAILS, false);
  }

  #check(): void {
    this.expire();
    if (this.#invalidated) throw this.#error;
  }

  /**
   * Merges the sorted new instances with the sorted current ones: a survivor keeps its endpoint (and
   * closer), a newcomer gets the factory, and what is left of the current ones is closed afterwards.
   */
  #rebuild(
    listed: readonly string[],
    details: ReadonlyMap<string, InstanceDetails>,
    forceChanged: boolean,
  ): UpdateOutcome {
    const old = this.#snapshot;
    const oldInstances = old.instances;
    const failures: { instance: string; error: unknown }[] = [];
    const noDetails = details.size === 0;
    let instances = listed;
    /** For input out of order: the newcomers' factory results, made in input order beforehand. */
    let premade: Map<string, Made<Req, Res> | undefined> | undefined;
    if (!isSortedUnique(listed)) {
      // An Instancer breaking the sorted contract: the factory still sees the instances in the order
      // given, and the snapshot is sorted all the same.
      premade = new Map();
      for (const instance of listed) {
        if (premade.has(instance) || indexOf(oldInstances, instance) !== -1) continue;
        const d = noDetails ? EMPTY_DETAILS : details.get(instance) ?? EMPTY_DETAILS;
        premade.set(instance, this.#make(instance, d, failures));
      }
      instances = [...new Set(listed)].sort();
    }
    const oldEndpoints = old.endpoints;
    const oldDetails = old.details;
    const oldClosers = this.#closers;
    const n = instances.length;
    const nextInstances = new Array<string>(n);
    const nextEndpoints = new Array<Endpoint<Req, Res>>(n);
    let nextDetails: (InstanceDetails | undefined)[] | undefined;
    let nextClosers: (Close | undefined)[] | undefined;
    /** Indices into the current arrays of the instances that are gone. */
    const gone: number[] = [];
    // A change is an endpoint made, removed or given new details; a re-listed instance whose factory
    // fails again is not.
    let changed = forceChanged;
    let size = 0;
    let j = 0;
    for (let i = 0; i < n; i++) {
      const instance = instances[i]!;
      while (j < oldInstances.length && oldInstances[j]! < instance) gone.push(j++);
      const d = noDetails ? EMPTY_DETAILS : details.get(instance) ?? EMPTY_DETAILS;
      let endpoint: Endpoint<Req, Res>;
      let close: Close | undefined;
      let kept = d;
      if (j < oldInstances.length && oldInstances[j] === instance) {
        endpoint = oldEndpoints[j]!;
        close = oldClosers?.[j];
        const before = oldDetails?.[j] ?? EMPTY_DETAILS;
        if (before === d || sameDetails(before, d)) kept = before;
        else changed = true;
        j++;
      } else {
        const made = premade !== undefined ? premade.get(instance) : this.#make(instance, d, failures);
        if (made === undefined) continue;
        endpoint = made.endpoint;
        close = made.close;
        changed = true;
      }
      nextInstances[size] = instance;
      nextEndpoints[size] = endpoint;
      if (kept !== EMPTY_DETAILS) (nextDetails ??= new Array(n))[size] = kept;
      if (close !== undefined) (nextClosers ??= new Array(n))[size] = close;
      size++;
    }
    while (j < oldInstances.length) gone.push(j++);
    if (gone.length > 0) changed = true;
    if (changed) {
      if (size < n) {
        // Skipped instances leave the tails unused; shortening frees them.
        nextInstances.length = size;
        nextEndpoints.length = size;
        if (nextDetails !== undefined) nextDetails.length = size;
        if (nextClosers !== undefined) nextClosers.length = size;
      }
      this.#snapshot = size === 0 ? empty() : new Snapshot(
        nextInstances,
        Object.freeze(nextEndpoints),
        nextDetails,
        old.reusable,
      );
      this.#closers = nextClosers;
    }
    // After the factory calls, as go-kit does; the snapshot no longer lists them.
    for (const index of gone) {
      const close = oldClosers?.[index];
      if (close !== undefined) this.#closeOne(oldInstances[index]!, close);
    }
    return { changed, failures };
  }

  /** Calls the factory; a failure is recorded and logged, and gives `undefined`. */
  #make(
    instance: string,
    details: InstanceDetails,
    failures: { instance: string; error: unknown }[],
  ): Made<Req, Res> | undefined {
    try {
      const made = this.#factory(instance, details);
      if (typeof made?.endpoint !== "function") {
        throw new TypeError(`Factory returned no endpoint function for ${JSON.stringify(instance)}`);
      }
      return made;
    } catch (error) {
      failures.push({ instance, error });
      this.#options.logger?.warn("Factory failed; instance skipped until the next update", {
        instance,
        error,
      });
      return undefined;
    }
  }

  #closeOne(instance: string, close: Close): void {
    const report = (error: unknown) =>
      this.#options.logger?.warn("Endpoint close failed", { instance, error: describe(error) });
    try {
      const result = close();
      if (result !== undefined && typeof (result as Promise<void>).then === "function") {
        (result as Promise<void>).then(undefined, report);
      }
    } catch (error) {
      report(error);
    }
  }
}

const NO_DETAILS: ReadonlyMap<string, InstanceDetails> = new Map();

/** Whether the list is strictly increasing by code unit (sorted, no duplicates), as Instancers send. */
function isSortedUnique(list: readonly string[]): boolean {
  for (let i = 1; i < list.length; i++) if (!(list[i - 1]! < list[i]!)) return false;
  return true;
}

/** The index of `instance` in a sorted list, or -1. */
function indexOf(sorted: readonly string[], instance: string): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const at = sorted[mid]!;
    if (at === instance) return mid;
    if (at < instance) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
