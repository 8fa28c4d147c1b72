/**
 * Uniform random balancing and a seeded random source.
 *
 * @module
 */
import { requireFunction, requireMethod, requireNumber } from "../_validate.ts";
import { NoEndpointsError } from "../errors.ts";
import type { Endpoint, Endpointer } from "../types.ts";
import type { Balancer } from "./balancer.ts";

/** Options for {@linkcode RandomBalancer}. */
export interface RandomBalancerOptions {
  /** Returns a number in [0, 1). Default: `Math.random`. Use {@linkcode seededRandom} for repeatable picks. */
  random?: () => number;
}

/**
 * Picks a uniformly random endpoint (go-kit `NewRandom`). Unlike go-kit's, it is safe under any
 * number of concurrent calls: JavaScript runs each pick to completion and the random source holds no
 * shared mutable state beyond its own.
 *
 * @example
 * ```ts
 * import { FixedEndpointer } from "@edgekit/sd";
 * import { RandomBalancer, seededRandom } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * const balancer = new RandomBalancer(new FixedEndpointer([async () => 1, async () => 2]), {
 *   random: seededRandom(42),
 * });
 * const endpoint = balancer.endpoint();
 * assert(typeof endpoint === "function");
 * ```
 */
export class RandomBalancer<Req = unknown, Res = unknown> implements Balancer<Req, Res> {
  readonly #endpointer: Endpointer<Req, Res>;
  readonly #random: () => number;

  /**
   * Creates the balancer.
   *
   * @param endpointer Supplies the endpoints on every pick.
   * @param options The random source.
   * @throws {TypeError} If an argument is invalid.
   */
  constructor(endpointer: Endpointer<Req, Res>, options: RandomBalancerOptions = {}) {
    requireMethod(endpointer, "endpoints", "endpointer");
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    this.#endpointer = endpointer;
    this.#random = options.random ?? Math.random;
  }

  /**
   * Picks a random endpoint; with `exclude`, a random one among those not excluded, if any.
   *
   * @param exclude Endpoints to avoid if another is available.
   * @returns An endpoint.
   * @throws {NoEndpointsError} If there are no endpoints.
   */
  endpoint(exclude?: ReadonlySet<Endpoint<Req, Res>>): Endpoint<Req, Res> {
    const endpoints = this.#endpointer.endpoints();
    const n = endpoints.length;
    if (n === 0) throw new NoEndpointsError();
    const picked = endpoints[pickIndex(this.#random(), n)]!;
    if (exclude === undefined || exclude.size === 0 || !exclude.has(picked)) return picked;
    const rest = endpoints.filter((e) => !exclude.has(e));
    return rest.length === 0 ? picked : rest[pickIndex(this.#random(), rest.length)]!;
  }
}

/** Maps r in [0, 1) to an index below n, tolerating a source that returns exactly 1. */
export function pickIndex(r: number, n: number): number {
  // Truncation equals floor for the non-negative values a valid source gives (n < 2^31 endpoints).
  const i = (r * n) | 0;
  return i < n ? (i < 0 ? 0 : i) : n - 1;
}

/**
 * A small, fast, seeded pseudo-random source (mulberry32) returning numbers in [0, 1). Same seed, same
 * sequence, on every runtime. Not for cryptography.
 *
 * @param seed Any integer.
 * @returns A function like `Math.random`.
 * @throws {TypeError | RangeError} If `seed` is not a finite integer.
 *
 * @example
 * ```ts
 * import { seededRandom } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * const a = seededRandom(7);
 * const b = seededRandom(7);
 * assert(a() === b() && a() === b());
 * ```
 */
export function seededRandom(seed: number): () => number {
  requireNumber(seed, "seed", { integer: true, min: Number.MIN_SAFE_INTEGER });
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
