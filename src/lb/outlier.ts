/**
 * Passive outlier ejection: instances that fail several calls in a row are taken out of rotation for a
 * while.
 *
 * @module
 */
import type { EndpointEntry } from "../_endpoint_cache.ts";
import { requireFunction, requireMethod, requireNumber } from "../_validate.ts";
import type { Endpoint, Endpointer } from "../types.ts";
import type { Balancer, CallHandle, CallOutcome } from "./balancer.ts";
import type { DetailedEndpointer } from "./rfc2782.ts";

/** Options for {@linkcode OutlierEjectionBalancer}. */
export interface OutlierEjectionOptions {
  /** Failures in a row that eject an instance; an integer >= 1. Default: 5. */
  consecutiveFailures?: number;
  /**
   * How long, in milliseconds, a first ejection lasts; the k-th lasts `k x baseEjectionTime` (capped).
   * k falls by one for every `baseEjectionTime` an instance then stays in service. Default: 30,000.
   */
  baseEjectionTime?: number;
  /** The longest an ejection lasts, in milliseconds. Default: 300,000. */
  maxEjectionTime?: number;
  /**
   * At most this share of the instances is ejected at once (at least one may always be). Default: 0.1.
   */
  maxEjectedShare?: number;
  /**
   * Panic threshold: when fewer than this share of the instances is left in service, ejections are
   * ignored and every instance is used, since overloading a few survivors is worse. Default: 0.5.
   */
  panicThreshold?: number;
  /**
   * Whether an attempt's end counts as a failure. Default: `"error"` (thrown: connect errors, timeouts),
   * `"retryable"` (for `balancedFetch`, 502, 503 and 504) and a result that is a `Response` with a 5xx
   * status; `"cancelled"` never counts either way.
   */
  isFailure?: (outcome: CallOutcome, value: unknown) => boolean;
  /** Called when an instance is ejected, with the time it returns. Must not throw. */
  onEject?: (instance: string, until: number) => void;
  /** Called when an ejected instance is back in service. Must not throw. */
  onReturn?: (instance: string) => void;
  /** Clock in milliseconds. Default: `Date.now`. */
  now?: () => number;
}

/** Makes the balancer that picks among the instances in service. */
export type InnerBalancerFactory<Req, Res> = (
  inService: DetailedEndpointer<Req, Res> & Endpointer<Req, Res>,
) => Balancer<Req, Res>;

interface Health<Req, Res> {
  entry: EndpointEntry<Req, Res>;
  failures: number;
  /** Ejections counted toward the next one's length. */
  ejections: number;
  /** When it was ejected until (or returned); 0 if never ejected. */
  until: number;
  ejected: boolean;
}

/** The default failure test. */
function defaultIsFailure(outcome: CallOutcome, value: unknown): boolean {
  if (outcome === "error" || outcome === "retryable") return true;
  return outcome === "success" && typeof Response !== "undefined" && value instanceof Response &&
    value.status >= 500;
}

const NONE: readonly never[] = Object.freeze([]);

/**
 * Passive outlier ejection (Envoy's consecutive-5xx detection), around any balancer. It watches every
 * attempt through the call-outcome seam ({@linkcode Balancer.begin}, called by `retry` and
 * `balancedFetch`), and when an instance fails `consecutiveFailures` times in a row (a thrown error such
 * as a refused connection or a timeout, a retryable result, a 5xx response) it takes it out of the set
 * that the inner balancer sees for `k x baseEjectionTime` (the k-th ejection; at most
 * `maxEjectionTime`). A success resets the count. At most `maxEjectedShare` of the instances is out at
 * once, and if fewer than `panicThreshold` of them remain in service all are used (panic mode). Ejected
 * instances come back on their own when their time is up, checked lazily on the next pick (no timers).
 *
 * The inner balancer is built once over a live view of the instances in service; that view keeps the
 * same arrays until the set changes, so round robin, weighted and P2C balancers keep their cost per
 * pick. While nothing is ejected a pick costs one extra identity check.
 *
 * @example
 * ```ts
 * import { DefaultEndpointer, FixedInstancer } from "@edgekit/sd";
 * import { OutlierEjectionBalancer, retry, RoundRobinBalancer } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * using endpointer = new DefaultEndpointer(
 *   new FixedInstancer(["bad:80", "good:80"]),
 *   (instance) => ({
 *     endpoint: async () => {
 *       if (instance === "bad:80") throw new TypeError("connection refused");
 *       return instance;
 *     },
 *   }),
 * );
 * await endpointer.ready();
 * const ejected: string[] = [];
 * const balancer = new OutlierEjectionBalancer(endpointer, (inService) => new RoundRobinBalancer(inService), {
 *   consecutiveFailures: 2,
 *   maxEjectedShare: 0.5,
 *   onEject: (instance) => ejected.push(instance),
 * });
 * const call = retry(balancer, { attempts: 2, backoff: false });
 * for (let i = 0; i < 4; i++) assert((await call(undefined)) === "good:80");
 * assert(ejected.join() === "bad:80");
 * ```
 */
export class OutlierEjectionBalancer<Req = unknown, Res = unknown> implements Balancer<Req, Res> {
  readonly #source: DetailedEndpointer<Req, Res>;
  readonly #inner: Balancer<Req, Res>;
  readonly #consecutive: number;
  readonly #base: number;
  readonly #max: number;
  readonly #maxShare: number;
  readonly #panic: number;
  readonly #isFailure: (outcome: CallOutcome, value: unknown) => boolean;
  readonly #onEject: ((instance: string, until: number) => void) | undefined;
  readonly #onReturn: ((instance: string) => void) | undefined;
  readonly #now: () => number;
  #planFor: readonly EndpointEntry<Req, Res>[] | undefined;
  #byInstance = new Map<string, Health<Req, Res>>();
  #byEndpoint = new Map<Endpoint<Req, Res>, Health<Req, Res>>();
  #ejectedCount = 0;
  /** Earliest return among ejected instances; Infinity when none is ejected. */
  #nextReturn = Infinity;
  #entries: readonly EndpointEntry<Req, Res>[] = NONE;
  #endpoints: readonly Endpoint<Req, Res>[] = NONE;

  /**
   * Creates the balancer.
   *
   * @param endpointer Supplies entries on every pick.
   * @param inner Makes the balancer that picks among the instances in service, given a view of them.
   * @param options Thresholds, times, hooks and clock.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(
    endpointer: DetailedEndpointer<Req, Res>,
    inner: InnerBalancerFactory<Req, Res>,
    options: OutlierEjectionOptions = {},
  ) {
    requireMethod(endpointer, "entries", "endpointer");
    requireFunction(inner, "inner");
    this.#consecutive = requireNumber(options.consecutiveFailures ?? 5, "options.consecutiveFailures", {
      min: 1,
      integer: true,
    });
    this.#base = requireNumber(options.baseEjectionTime ?? 30_000, "options.baseEjectionTime");
    this.#max = requireNumber(options.maxEjectionTime ?? 300_000, "options.maxEjectionTime");
    this.#maxShare = share(options.maxEjectedShare ?? 0.1, "options.maxEjectedShare");
    this.#panic = share(options.panicThreshold ?? 0.5, "options.panicThreshold");
    for (const name of ["isFailure", "onEject", "onReturn", "now"] as const) {
      if (options[name] !== undefined) requireFunction(options[name], `options.${name}`);
    }
    this.#isFailure = options.isFailure ?? defaultIsFailure;
    this.#onEject = options.onEject;
    this.#onReturn = options.onReturn;
    this.#now = options.now ?? Date.now;
    this.#source = endpointer;
    const view = {
      entries: () => this.#view(),
      endpoints: () => {
        this.#view();
        return this.#endpoints;
      },
    };
    this.#inner = inner(view);
    requireMethod(this.#inner, "endpoint", "inner(...)");
  }

  /**
   * Picks an endpoint with the inner balancer, among the instances in service.
   *
   * @param exclude Endpoints to avoid if another is available.
   * @returns An endpoint.
   * @throws {NoEndpointsError} If there are no endpoints.
   */
  endpoint(exclude?: ReadonlySet<Endpoint<Req, Res>>): Endpoint<Req, Res> {
    return this.#inner.endpoint(exclude);
  }

  /**
   * Watches an attempt on `endpoint`, and passes it on to the inner balancer.
   *
   * @param endpoint An endpoint this balancer picked.
   * @returns The handle to end the attempt on.
   */
  begin(endpoint: Endpoint<Req, Res>): CallHandle {
    const inner = this.#inner.begin?.(endpoint);
    return new Attempt(this.#learn, endpoint, inner);
  }

  /**
   * Whether the instance is ejected now.
   *
   * @param instance An instance string.
   * @returns `true` while it is out of rotation (even if panic mode uses it anyway).
   */
  isEjected(instance: string): boolean {
    this.#view();
    return this.#byInstance.get(instance)?.ejected ?? false;
  }

  /** Called once per attempt by its handle. */
  readonly #learn = (endpoint: Endpoint<Req, Res>, outcome: CallOutcome, value: unknown): void => {
    if (outcome === "cancelled") return;
    let health: Health<Req, Res> | undefined;
    try {
      this.#view();
      health = this.#byEndpoint.get(endpoint);
    } catch {
      return; // an invalidated endpointer: nothing to learn about
    }
    if (health === undefined) return;
    let failed: boolean;
    try {
      failed = this.#isFailure(outcome, value);
    } catch {
      failed = outcome !== "success";
    }
    if (!failed) {
      health.failures = 0;
      return;
    }
    if (++health.failures < this.#consecutive || health.ejected) return;
    const total = this.#byInstance.size;
    if (this.#ejectedCount + 1 > Math.max(1, Math.floor(total * this.#maxShare))) return;
    const now = this.#now();
    // The multiplier falls by one per base time spent in service since the last return.
    if (health.ejections > 0 && this.#base > 0) {
      health.ejections = Math.max(0, health.ejections - Math.floor((now - health.until) / this.#base));
    }
    health.ejections++;
    health.ejected = true;
    health.failures = 0;
    health.until = now + Math.min(this.#max, this.#base * health.ejections);
    this.#ejectedCount++;
    if (health.until < this.#nextReturn) this.#nextReturn = health.until;
    this.#rebuild();
    this.#onEject?.(health.entry.instance, health.until);
  };

  /** The entries in service, kept current; identity changes only when they change. */
  #view(): readonly EndpointEntry<Req, Res>[] {
    const entries = this.#source.entries();
    if (entries !== this.#planFor) this.#plan(entries);
    else if (this.#nextReturn !== Infinity && this.#now() >= this.#nextReturn) this.#returnDue();
    return this.#entries;
  }

  #returnDue(): void {
    const now = this.#now();
    let next = Infinity;
    const returned: string[] = [];
    for (const health of this.#byInstance.values()) {
      if (!health.ejected) continue;
      if (health.until <= now) {
        health.ejected = false;
        this.#ejectedCount--;
        returned.push(health.entry.instance);
      } else if (health.until < next) next = health.until;
    }
    this.#nextReturn = next;
    this.#rebuild();
    for (const instance of returned) this.#onReturn?.(instance);
  }

  #plan(entries: readonly EndpointEntry<Req, Res>[]): void {
    const old = this.#byInstance;
    const byInstance = new Map<string, Health<Req, Res>>();
    const byEndpoint = new Map<Endpoint<Req, Res>, Health<Req, Res>>();
    let ejected = 0;
    let next = Infinity;
    for (const entry of entries) {
      const health = old.get(entry.instance) ??
        { entry, failures: 0, ejections: 0, until: 0, ejected: false };
      health.entry = entry;
      byInstance.set(entry.instance, health);
      byEndpoint.set(entry.endpoint, health);
      if (health.ejected) {
        ejected++;
        if (health.until < next) next = health.until;
      }
    }
    this.#byInstance = byInstance;
    this.#byEndpoint = byEndpoint;
    this.#ejectedCount = ejected;
    this.#nextReturn = next;
    this.#planFor = entries;
    if (next !== Infinity && this.#now() >= next) this.#returnDue();
    else this.#rebuild();
  }

  #rebuild(): void {
    const all = this.#planFor ?? NONE;
    const inService = all.length - this.#ejectedCount;
    const panic = this.#ejectedCount === 0 || inService < all.length * this.#panic;
    const entries = panic ? all : all.filter((e) => !this.#byInstance.get(e.instance)!.ejected);
    if (entries.length === this.#entries.length && entries.every((e, i) => e === this.#entries[i])) return;
    this.#entries = entries;
    this.#endpoints = Object.freeze(entries.map((e) => e.endpoint));
  }
}

type Learn<Req, Res> = (endpoint: Endpoint<Req, Res>, outcome: CallOutcome, value: unknown) => void;

class Attempt<Req, Res> implements CallHandle {
  readonly #learn: Learn<Req, Res>;
  readonly #endpoint: Endpoint<Req, Res>;
  readonly #inner: CallHandle | undefined;
  #open = true;

  constructor(learn: Learn<Req, Res>, endpoint: Endpoint<Req, Res>, inner: CallHandle | undefined) {
    this.#learn = learn;
    this.#endpoint = endpoint;
    this.#inner = inner;
  }

  end(outcome: CallOutcome, value?: unknown): void {
    if (!this.#open) return;
    this.#open = false;
    this.#inner?.end(outcome, value);
    this.#learn(this.#endpoint, outcome, value);
  }
}

function share(value: unknown, name: string): number {
  const n = requireNumber(value, name);
  if (n > 1) throw new RangeError(`${name} must be in [0, 1], got ${n}`);
  return n;
}
