/**
 * RFC 2782 selection: lowest priority first, weighted random within a priority.
 *
 * @module
 */
import type { EndpointEntry } from "../_endpoint_cache.ts";
import { requireFunction, requireMethod, requireNumber } from "../_validate.ts";
import { NoEndpointsError } from "../errors.ts";
import type { Endpoint } from "../types.ts";
import type { Balancer } from "./balancer.ts";
import { pickIndex } from "./random.ts";

/** An endpointer that also exposes each endpoint's instance details, like `DefaultEndpointer`. */
export interface DetailedEndpointer<Req = unknown, Res = unknown> {
  /** The current entries; the array's identity changes only when they change. */
  entries(): readonly EndpointEntry<Req, Res>[];
}

/** Options for {@linkcode Rfc2782Balancer}. */
export interface Rfc2782BalancerOptions {
  /** Random source in [0, 1). Default: `Math.random`. */
  random?: () => number;
  /**
   * Weight given to records of weight 0 when others in their priority have weight: a very small
   * chance, as RFC 2782 asks. When all records of a priority have weight 0 they are picked evenly.
   * Default: 0.01 (a hundredth of a weight-1 record).
   */
  zeroWeight?: number;
}

interface Tier<Req, Res> {
  endpoints: Endpoint<Req, Res>[];
  weights: number[];
  /** Running sums of `weights`. */
  cumulative: Float64Array;
}

/**
 * Picks endpoints the way RFC 2782 orders SRV targets: only the lowest priority that has endpoints is
 * used, and within it an endpoint is drawn at random in proportion to its weight. Records of weight 0
 * get a very small but non-zero chance. When a retry excludes endpoints already tried, the draw is made
 * among the rest of the tier (selection without replacement), and an exhausted tier falls through to
 * the next priority. Works on any endpointer whose instances carry `priority` and `weight` details
 * (DNS SRV, or any registry that fills them); a missing priority counts as 0 and a missing weight as 1.
 *
 * @example
 * ```ts
 * import { DefaultEndpointer, FixedInstancer } from "@edgekit/sd";
 * import { Rfc2782Balancer, seededRandom } from "@edgekit/sd/lb";
 * import { assertEquals } from "@std/assert";
 *
 * const instancer = new FixedInstancer([
 *   { instance: "primary:80", priority: 10, weight: 1 },
 *   { instance: "backup:80", priority: 20, weight: 1 },
 * ]);
 * using endpointer = new DefaultEndpointer(instancer, (instance) => ({ endpoint: () => Promise.resolve(instance) }));
 * await endpointer.ready();
 * const balancer = new Rfc2782Balancer(endpointer, { random: seededRandom(1) });
 * assertEquals(await balancer.endpoint()(undefined), "primary:80");
 * const tried = new Set([balancer.endpoint()]);
 * assertEquals(await balancer.endpoint(tried)(undefined), "backup:80"); // the primary tier is used up
 * ```
 */
export class Rfc2782Balancer<Req = unknown, Res = unknown> implements Balancer<Req, Res> {
  readonly #endpointer: DetailedEndpointer<Req, Res>;
  readonly #random: () => number;
  readonly #zeroWeight: number;
  #planFor: readonly EndpointEntry<Req, Res>[] | undefined;
  #tiers: Tier<Req, Res>[] = [];

  /**
   * Creates the balancer.
   *
   * @param endpointer Supplies entries with details on every pick.
   * @param options Random source and weight-0 share.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(endpointer: DetailedEndpointer<Req, Res>, options: Rfc2782BalancerOptions = {}) {
    requireMethod(endpointer, "entries", "endpointer");
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    this.#zeroWeight = requireNumber(options.zeroWeight ?? 0.01, "options.zeroWeight");
    if (this.#zeroWeight <= 0) {
      throw new RangeError(`options.zeroWeight must be > 0, got ${this.#zeroWeight}`);
    }
    this.#endpointer = endpointer;
    this.#random = options.random ?? Math.random;
  }

  /**
   * Picks an endpoint.
   *
   * @param exclude Endpoints to avoid (already tried); the draw is made among the others.
   * @returns An endpoint from the lowest priority with any left.
   * @throws {NoEndpointsError} If there are no endpoints.
   */
  endpoint(exclude?: ReadonlySet<Endpoint<Req, Res>>): Endpoint<Req, Res> {
    const entries = this.#endpointer.entries();
    if (entries !== this.#planFor) this.#plan(entries);
    const tiers = this.#tiers;
    if (tiers.length === 0) throw new NoEndpointsError();
    if (exclude === undefined || exclude.size === 0) return this.#draw(tiers[0]!);
    for (const tier of tiers) {
      const endpoints: Endpoint<Req, Res>[] = [];
      const weights: number[] = [];
      tier.endpoints.forEach((e, i) => {
        if (!exclude.has(e)) {
          endpoints.push(e);
          weights.push(tier.weights[i]!);
        }
      });
      if (endpoints.length > 0) return this.#draw({ endpoints, weights, cumulative: running(weights) });
    }
    return this.#draw(tiers[0]!); // everything tried: start over from the best tier
  }

  #draw(tier: Tier<Req, Res>): Endpoint<Req, Res> {
    const { cumulative, endpoints } = tier;
    const total = cumulative[cumulative.length - 1]!;
    const target = this.#random() * total;
    // First running sum strictly above the draw (binary search).
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! > target) hi = mid;
      else lo = mid + 1;
    }
    return endpoints[lo] ?? endpoints[pickIndex(this.#random(), endpoints.length)]!;
  }

  #plan(entries: readonly EndpointEntry<Req, Res>[]): void {
    const byPriority = new Map<number, { endpoints: Endpoint<Req, Res>[]; raw: number[] }>();
    for (const entry of entries) {
      const priority = entry.details.priority ?? 0;
      let group = byPriority.get(priority);
      if (group === undefined) byPriority.set(priority, group = { endpoints: [], raw: [] });
      group.endpoints.push(entry.endpoint);
      group.raw.push(entry.details.weight ?? 1);
    }
    this.#tiers = [...byPriority.keys()].sort((a, b) => a - b).map((priority) => {
      const { endpoints, raw } = byPriority.get(priority)!;
      const anyWeight = raw.some((w) => w > 0);
      const weights = raw.map((w) => (w > 0 ? w : anyWeight ? this.#zeroWeight : 1));
      return { endpoints, weights, cumulative: running(weights) };
    });
    this.#planFor = entries;
  }
}

function running(weights: readonly number[]): Float64Array {
  const out = new Float64Array(weights.length);
  let sum = 0;
  weights.forEach((w, i) => out[i] = sum += w);
  return out;
}
