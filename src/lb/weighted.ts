/**
 * Smooth weighted balancing with an earliest-deadline-first scheduler.
 *
 * @module
 */
import type { EndpointEntry } from "../_endpoint_cache.ts";
import { requireFunction, requireMethod } from "../_validate.ts";
import { NoEndpointsError } from "../errors.ts";
import type { Endpoint } from "../types.ts";
import type { Balancer } from "./balancer.ts";
import type { DetailedEndpointer } from "./rfc2782.ts";
import type { SlowStart, SlowStartOptions } from "./slow_start.ts";
import { effectiveWeights, toSlowStart } from "./_weights.ts";

/** Options for {@linkcode WeightedBalancer}. */
export interface WeightedBalancerOptions {
  /**
   * Ramp the weight of instances that join later (see {@linkcode SlowStart}): a `SlowStart`, its
   * options, or `true` for the defaults. Default: no ramp.
   */
  slowStart?: SlowStart | SlowStartOptions | boolean;
  /**
   * Random source in [0, 1), used only to stagger the first turn of new instances so that a batch of
   * them does not move in lockstep. Default: `Math.random`.
   */
  random?: () => number;
}

/** Scheduler state of one instance; it survives updates of the entries. */
interface Slot<Req, Res> {
  endpoint: Endpoint<Req, Res>;
  /** The configured weight (details.weight, 0 replaced as documented). */
  weight: number;
  /** When it appeared, on the slow-start clock; -Infinity when not ramped. */
  addedAt: number;
  /** Virtual time of its next turn. */
  deadline: number;
  /** Tie-break among equal deadlines: first scheduled, first served. */
  order: number;
  /** Index in the heap. */
  pos: number;
}

/**
 * Spreads calls over instances in proportion to their `weight` detail (Consul `Service.Weights`, DNS
 * SRV weight, or any registry that fills it; missing counts as 1), smoothly: an instance of weight 3
 * among three of weight 1 gets every other call, not three in a row.
 *
 * Algorithm: earliest deadline first over virtual time. Each instance has a deadline; a pick takes the
 * instance with the smallest (ties: the one waiting longest), then moves its deadline on by
 * `1 / weight`. Over any stretch, instance i gets `weight_i / sum(weights)` of the picks, within one pick
 * each. A pick costs O(log n) and allocates nothing. When the entries change, instances that stay keep
 * their place; one whose weight changes has its remaining wait scaled by `old / new`, so the change
 * takes effect at once without resetting the schedule. New instances start within one turn of now, at a
 * random offset. A weight of 0 is 1/100 of the smallest positive weight (almost never picked, never
 * starved of retries); if all are 0, all count as 1. With `slowStart`, instances that join later get
 * `weight x factor` as their step while they ramp. With `exclude` (retries), the earliest instance not
 * excluded is picked, by a scan.
 *
 * @example
 * ```ts
 * import { DefaultEndpointer, FixedInstancer } from "@edgekit/sd";
 * import { WeightedBalancer } from "@edgekit/sd/lb";
 * import { assertEquals } from "@std/assert";
 *
 * const instancer = new FixedInstancer([
 *   { instance: "big:80", weight: 3 },
 *   { instance: "small:80", weight: 1 },
 * ]);
 * using endpointer = new DefaultEndpointer(instancer, (instance) => ({ endpoint: async () => instance }));
 * await endpointer.ready();
 * const balancer = new WeightedBalancer(endpointer, { random: () => 0.5 });
 * const picks: string[] = [];
 * for (let i = 0; i < 8; i++) picks.push(await balancer.endpoint()(undefined));
 * assertEquals(picks.filter((p) => p === "big:80").length, 6);
 * ```
 */
export class WeightedBalancer<Req = unknown, Res = unknown> implements Balancer<Req, Res> {
  readonly #endpointer: DetailedEndpointer<Req, Res>;
  readonly #random: () => number;
  readonly #slowStart: SlowStart | undefined;
  #planFor: readonly EndpointEntry<Req, Res>[] | undefined;
  #slots = new Map<string, Slot<Req, Res>>();
  #heap: Slot<Req, Res>[] = [];
  #now = 0;
  #order = 0;
  #seen = false;

  /**
   * Creates the balancer.
   *
   * @param endpointer Supplies entries with details on every pick.
   * @param options Slow start and random source.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(endpointer: DetailedEndpointer<Req, Res>, options: WeightedBalancerOptions = {}) {
    requireMethod(endpointer, "entries", "endpointer");
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    this.#endpointer = endpointer;
    this.#random = options.random ?? Math.random;
    this.#slowStart = toSlowStart(options.slowStart);
  }

  /**
   * Picks the instance whose turn it is; with `exclude`, the earliest one not in it, if any.
   *
   * @param exclude Endpoints to avoid if another is available.
   * @returns An endpoint.
   * @throws {NoEndpointsError} If there are no endpoints.
   */
  endpoint(exclude?: ReadonlySet<Endpoint<Req, Res>>): Endpoint<Req, Res> {
    const entries = this.#endpointer.entries();
    if (entries !== this.#planFor) this.#plan(entries);
    const heap = this.#heap;
    if (heap.length === 0) throw new NoEndpointsError();
    let slot = heap[0]!;
    if (exclude !== undefined && exclude.size > 0 && exclude.has(slot.endpoint)) {
      let best: Slot<Req, Res> | undefined;
      for (const s of heap) {
        if (!exclude.has(s.endpoint) && (best === undefined || earlier(s, best))) best = s;
      }
      if (best !== undefined) slot = best;
    }
    this.#advance(slot);
    return slot.endpoint;
  }

  #step(slot: Slot<Req, Res>): number {
    const ramp = this.#slowStart;
    const weight = ramp === undefined || slot.addedAt === -Infinity
      ? slot.weight
      : slot.weight * ramp.factor(slot.addedAt);
    return 1 / weight;
  }

  #advance(slot: Slot<Req, Res>): void {
    if (slot.deadline > this.#now) this.#now = slot.deadline;
    slot.deadline = this.#now + this.#step(slot);
    slot.order = this.#order++;
    siftDown(this.#heap, slot.pos);
  }

  #plan(entries: readonly EndpointEntry<Req, Res>[]): void {
    const weights = effectiveWeights(entries);
    const old = this.#slots;
    const slots = new Map<string, Slot<Req, Res>>();
    const heap: Slot<Req, Res>[] = [];
    const now = this.#now;
    const stamp = this.#seen && this.#slowStart !== undefined ? this.#slowStart.now() : -Infinity;
    entries.forEach((entry, i) => {
      const weight = weights[i]!;
      let slot = old.get(entry.instance);
      if (slot !== undefined) {
        if (slot.weight !== weight) {
          slot.deadline = now + Math.max(0, slot.deadline - now) * slot.weight / weight;
          slot.weight = weight;
        }
        slot.endpoint = entry.endpoint;
      } else {
        slot = { endpoint: entry.endpoint, weight, addedAt: stamp, deadline: 0, order: 0, pos: 0 };
        slot.deadline = now + this.#random() * this.#step(slot);
        slot.order = this.#order++;
      }
      slots.set(entry.instance, slot);
      slot.pos = heap.length;
      heap.push(slot);
    });
    for (let i = (heap.length >>> 1) - 1; i >= 0; i--) siftDown(heap, i);
    if (entries.length > 0) this.#seen = true;
    this.#slots = slots;
    this.#heap = heap;
    this.#planFor = entries;
  }
}

function earlier<Req, Res>(a: Slot<Req, Res>, b: Slot<Req, Res>): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.order < b.order);
}

function siftDown<Req, Res>(heap: Slot<Req, Res>[], i: number): void {
  const n = heap.length;
  const item = heap[i]!;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    let c = l;
    if (r < n && earlier(heap[r]!, heap[l]!)) c = r;
    const child = heap[c]!;
    if (!earlier(child, item)) break;
    heap[i] = child;
    child.pos = i;
    i = c;
  }
  heap[i] = item;
  item.pos = i;
}
