/**
 * Consistent hashing on a ring, for sticky keys.
 *
 * @module
 */
import type { EndpointEntry } from "../_endpoint_cache.ts";
import { requireFunction, requireMethod, requireNumber } from "../_validate.ts";
import { NoEndpointsError } from "../errors.ts";
import type { Endpoint } from "../types.ts";
import type { Balancer } from "./balancer.ts";
import type { DetailedEndpointer } from "./rfc2782.ts";
import { effectiveWeights } from "./_weights.ts";

/** Options for {@linkcode RingHashBalancer}. */
export interface RingHashBalancerOptions {
  /** Points on the ring per instance of average weight; more points, more even shares. Default: 160. */
  replicas?: number;
  /** Random source in [0, 1) for {@linkcode RingHashBalancer.endpoint} without a key. Default: `Math.random`. */
  random?: () => number;
}

/**
 * The hash {@linkcode RingHashBalancer} places keys and points with: 32-bit FNV-1a over the UTF-16 code
 * units of `text`, started from `seed`, with a final avalanche. Same input, same value, on every runtime.
 * Not for cryptography.
 *
 * @param text What to hash.
 * @param seed Varies the hash (the ring uses the point's number). Default: 0.
 * @returns An unsigned 32-bit integer.
 *
 * @example
 * ```ts
 * import { hash32 } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * assert(hash32("user-42") === hash32("user-42") && hash32("user-42") !== hash32("user-42", 1));
 * ```
 */
export function hash32(text: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // FNV alone mixes the last characters poorly; finish with a murmur-style avalanche.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Consistent hashing (Karger's ring, as Envoy's `RING_HASH` and Ketama): each instance is placed at
 * `replicas x weight / mean weight` pseudo-random points on a 32-bit ring (the `weight` detail; missing
 * counts as 1), and a key goes to the first point at or after its hash. The same key keeps going to the
 * same instance while that instance exists, and a membership change moves only the keys whose points
 * changed: adding one instance to n moves about 1/(n+1) of the keys, all to the newcomer; removing one
 * moves only the keys it had. A keyed pick is a binary search (O(log points)), with no allocation;
 * building the ring on a change costs O(points log points).
 *
 * Use {@linkcode RingHashBalancer.pick} for one key, or {@linkcode RingHashBalancer.forKey} to get a
 * balancer for `retry` that starts at the key's instance and, on retries, walks on along the ring to the
 * next instances not yet tried (so a retry is as sticky as it can be). `endpoint()` without a key picks
 * a random point, which spreads calls in proportion to weight.
 *
 * @example
 * ```ts
 * import { DefaultEndpointer, FixedInstancer } from "@edgekit/sd";
 * import { retry, RingHashBalancer } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * using endpointer = new DefaultEndpointer(
 *   new FixedInstancer(["a:80", "b:80", "c:80"]),
 *   (instance) => ({ endpoint: async (user: string) => `${user}@${instance}` }),
 * );
 * await endpointer.ready();
 * const ring = new RingHashBalancer(endpointer);
 * const first = await ring.pick("user-42")("user-42");
 * assert((await ring.pick("user-42")("user-42")) === first); // sticky
 * const call = retry(ring.forKey("user-42"), { attempts: 2, timeout: 1000 });
 * assert((await call("user-42")) === first);
 * ```
 */
export class RingHashBalancer<Req = unknown, Res = unknown> implements Balancer<Req, Res> {
  readonly #endpointer: DetailedEndpointer<Req, Res>;
  readonly #replicas: number;
  readonly #random: () => number;
  #planFor: readonly EndpointEntry<Req, Res>[] | undefined;
  /** Sorted point hashes. */
  #points = new Uint32Array(0);
  /** Entry index of each point. */
  #owners = new Uint32Array(0);
  #endpoints: Endpoint<Req, Res>[] = [];

  /**
   * Creates the balancer.
   *
   * @param endpointer Supplies entries with details on every pick.
   * @param options Points per instance and random source.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(endpointer: DetailedEndpointer<Req, Res>, options: RingHashBalancerOptions = {}) {
    requireMethod(endpointer, "entries", "endpointer");
    this.#replicas = requireNumber(options.replicas ?? 160, "options.replicas", { min: 1, integer: true });
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    this.#random = options.random ?? Math.random;
    this.#endpointer = endpointer;
  }

  /**
   * Picks the instance at a random point of the ring (in proportion to weight); with `exclude`, the
   * next one along the ring not in it.
   *
   * @param exclude Endpoints to avoid if another is available.
   * @returns An endpoint.
   * @throws {NoEndpointsError} If there are no endpoints.
   */
  endpoint(exclude?: ReadonlySet<Endpoint<Req, Res>>): Endpoint<Req, Res> {
    return this.#at((this.#random() * 4294967296) >>> 0, exclude);
  }

  /**
   * Picks the instance that owns `key`; with `exclude`, the next one along the ring not in it.
   *
   * @param key The sticky key (a user id, a session, a cache key).
   * @param exclude Endpoints to avoid if another is available.
   * @returns An endpoint.
   * @throws {NoEndpointsError} If there are no endpoints.
   */
  pick(key: string, exclude?: ReadonlySet<Endpoint<Req, Res>>): Endpoint<Req, Res> {
    return this.#at(hash32(key), exclude);
  }

  /**
   * A balancer bound to `key`, for `retry`: its first pick is the key's instance, each retry the next
   * instance along the ring not yet tried.
   *
   * @param key The sticky key.
   * @returns A balancer (one small object).
   */
  forKey(key: string): Balancer<Req, Res> {
    const h = hash32(key);
    return { endpoint: (exclude) => this.#at(h, exclude) };
  }

  #at(h: number, exclude: ReadonlySet<Endpoint<Req, Res>> | undefined): Endpoint<Req, Res> {
    const entries = this.#endpointer.entries();
    if (entries !== this.#planFor) this.#plan(entries);
    const points = this.#points;
    const n = points.length;
    if (n === 0) throw new NoEndpointsError();
    // First point >= h, wrapping to the start.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    if (lo === n) lo = 0;
    const endpoints = this.#endpoints;
    const found = endpoints[this.#owners[lo]!]!;
    if (exclude === undefined || exclude.size === 0 || !exclude.has(found)) return found;
    for (let k = 1; k < n; k++) {
      const candidate = endpoints[this.#owners[(lo + k) % n]!]!;
      if (!exclude.has(candidate)) return candidate;
    }
    return found;
  }

  #plan(entries: readonly EndpointEntry<Req, Res>[]): void {
    const weights = effectiveWeights(entries);
    const mean = weights.reduce((a, b) => a + b, 0) / (weights.length || 1);
    const counts = weights.map((w) => Math.max(1, Math.round(this.#replicas * w / mean)));
    const total = counts.reduce((a, b) => a + b, 0);
    // Sort (hash, owner) pairs packed in one float: hash x 2^20 + owner index (exact below 2^53).
    const packed = new Float64Array(total);
    let p = 0;
    entries.forEach((entry, owner) => {
      for (let r = 0; r < counts[owner]!; r++) packed[p++] = hash32(entry.instance, r) * 1048576 + owner;
    });
    if (entries.length > 1048576) {
      throw new RangeError(`Too many instances for a hash ring: ${entries.length}`);
    }
    packed.sort();
    const points = new Uint32Array(total);
    const owners = new Uint32Array(total);
    for (let i = 0; i < total; i++) {
      const v = packed[i]!;
      owners[i] = v % 1048576;
      points[i] = Math.floor(v / 1048576);
    }
    this.#points = points;
    this.#owners = owners;
    this.#endpoints = entries.map((e) => e.endpoint);
    this.#planFor = entries;
  }
}
