// The power-of-two-choices core shared by LeastRequestBalancer and PeakEwmaBalancer; internal.
// Per-instance state survives entry updates (keyed by instance string); a pick allocates nothing.
import type { EndpointEntry } from "../_endpoint_cache.ts";
import { NoEndpointsError } from "../errors.ts";
import type { Endpoint } from "../types.ts";
import type { CallHandle, CallOutcome } from "./balancer.ts";
import type { DetailedEndpointer } from "./rfc2782.ts";
import type { SlowStart } from "./slow_start.ts";
import { effectiveWeights } from "./_weights.ts";

/** What the core tracks per instance. */
export interface LoadSlot<Req, Res> {
  endpoint: Endpoint<Req, Res>;
  /** Configured weight (0 replaced). */
  weight: number;
  /** When it appeared, on the slow-start clock; -Infinity when not ramped. */
  addedAt: number;
  /** Attempts begun and not yet ended. */
  inFlight: number;
  /** Latency estimate in ms (Peak-EWMA only). */
  rtt: number;
  /** When `rtt` was last updated. */
  stamp: number;
  /** Whether an attempt has ended on it (Peak-EWMA replaces the default RTT with the first sample). */
  seen: boolean;
}

/** How a balancer turns its state into a cost, and learns from an ended attempt. */
export interface LoadModel<Req, Res> {
  /** The clock in ms, read once per pick and twice per attempt. */
  readonly now: () => number;
  /** Sets up a new instance's state. */
  init(slot: LoadSlot<Req, Res>, now: number): void;
  /** Cost of sending one more call to `slot` now, before weights; lower is better. */
  cost(slot: LoadSlot<Req, Res>, now: number): number;
  /** Learns from an attempt that began at `started` and ended at `now`. */
  learn(slot: LoadSlot<Req, Res>, started: number, now: number, outcome: CallOutcome, value: unknown): void;
}

class Call<Req, Res> implements CallHandle {
  readonly #slot: LoadSlot<Req, Res>;
  readonly #model: LoadModel<Req, Res>;
  readonly #started: number;
  #open = true;

  constructor(slot: LoadSlot<Req, Res>, model: LoadModel<Req, Res>) {
    this.#slot = slot;
    this.#model = model;
    this.#started = model.now();
    slot.inFlight++;
  }

  end(outcome: CallOutcome, value?: unknown): void {
    if (!this.#open) return;
    this.#open = false;
    this.#slot.inFlight--;
    this.#model.learn(this.#slot, this.#started, this.#model.now(), outcome, value);
  }
}

const IGNORED: CallHandle = Object.freeze({ end() {} });

export class P2c<Req, Res> {
  readonly #endpointer: DetailedEndpointer<Req, Res>;
  readonly #model: LoadModel<Req, Res>;
  readonly #random: () => number;
  readonly #slowStart: SlowStart | undefined;
  #planFor: readonly EndpointEntry<Req, Res>[] | undefined;
  #slots: LoadSlot<Req, Res>[] = [];
  #byInstance = new Map<string, LoadSlot<Req, Res>>();
  #byEndpoint = new Map<Endpoint<Req, Res>, LoadSlot<Req, Res>>();
  #last: LoadSlot<Req, Res> | undefined;
  #seen = false;

  constructor(
    endpointer: DetailedEndpointer<Req, Res>,
    model: LoadModel<Req, Res>,
    random: () => number,
    slowStart: SlowStart | undefined,
  ) {
    this.#endpointer = endpointer;
    this.#model = model;
    this.#random = random;
    this.#slowStart = slowStart;
  }

  endpoint(exclude: ReadonlySet<Endpoint<Req, Res>> | undefined): Endpoint<Req, Res> {
    const entries = this.#endpointer.entries();
    if (entries !== this.#planFor) this.#plan(entries);
    const slots = this.#slots;
    const n = slots.length;
    if (n === 0) throw new NoEndpointsError();
    const now = this.#model.now();
    let slot: LoadSlot<Req, Res>;
    if (exclude !== undefined && exclude.size > 0) {
      // A retry: the cheapest instance not yet tried, by a scan (retries are rare).
      let best: LoadSlot<Req, Res> | undefined;
      let bestCost = Infinity;
      for (const s of slots) {
        if (exclude.has(s.endpoint)) continue;
        const c = this.#cost(s, now);
        if (best === undefined || c < bestCost) {
          best = s;
          bestCost = c;
        }
      }
      slot = best ?? this.#choose(slots, n, now);
    } else {
      slot = this.#choose(slots, n, now);
    }
    this.#last = slot;
    return slot.endpoint;
  }

  begin(endpoint: Endpoint<Req, Res>): CallHandle {
    const last = this.#last;
    if (last !== undefined && last.endpoint === endpoint) return new Call(last, this.#model);
    let slot: LoadSlot<Req, Res> | undefined;
    try {
      slot = this.slotOf(endpoint);
    } catch {
      // An invalidated endpointer throws from entries(); begin must not.
    }
    return slot === undefined ? IGNORED : new Call(slot, this.#model);
  }

  /** The state of the instance behind `endpoint`, for tests and inspection. */
  slotOf(endpoint: Endpoint<Req, Res>): LoadSlot<Req, Res> | undefined {
    const entries = this.#endpointer.entries();
    if (entries !== this.#planFor) this.#plan(entries);
    return this.#byEndpoint.get(endpoint);
  }

  #choose(slots: LoadSlot<Req, Res>[], n: number, now: number): LoadSlot<Req, Res> {
    if (n === 1) return slots[0]!;
    const i = index(this.#random(), n);
    let j = index(this.#random(), n - 1);
    if (j >= i) j++;
    const a = slots[i]!;
    const b = slots[j]!;
    return this.#cost(b, now) < this.#cost(a, now) ? b : a;
  }

  #cost(slot: LoadSlot<Req, Res>, now: number): number {
    const ramp = this.#slowStart;
    const weight = ramp === undefined || slot.addedAt === -Infinity
      ? slot.weight
      : slot.weight * ramp.factor(slot.addedAt);
    return this.#model.cost(slot, now) / weight;
  }

  #plan(entries: readonly EndpointEntry<Req, Res>[]): void {
    const weights = effectiveWeights(entries);
    const old = this.#byInstance;
    const byInstance = new Map<string, LoadSlot<Req, Res>>();
    const byEndpoint = new Map<Endpoint<Req, Res>, LoadSlot<Req, Res>>();
    const stamp = this.#seen && this.#slowStart !== undefined ? this.#slowStart.now() : -Infinity;
    const now = this.#model.now();
    const slots = entries.map((entry, i) => {
      let slot = old.get(entry.instance);
      if (slot === undefined) {
        slot = {
          endpoint: entry.endpoint,
          weight: 1,
          addedAt: stamp,
          inFlight: 0,
          rtt: 0,
          stamp: now,
          seen: false,
        };
        this.#model.init(slot, now);
      }
      slot.endpoint = entry.endpoint;
      slot.weight = weights[i]!;
      byInstance.set(entry.instance, slot);
      byEndpoint.set(entry.endpoint, slot);
      return slot;
    });
    if (entries.length > 0) this.#seen = true;
    this.#slots = slots;
    this.#byInstance = byInstance;
    this.#byEndpoint = byEndpoint;
    this.#last = undefined;
    this.#planFor = entries;
  }
}

function index(r: number, n: number): number {
  const i = (r * n) | 0;
  return i < n ? (i < 0 ? 0 : i) : n - 1;
}
