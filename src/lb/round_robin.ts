/**
 * Round-robin balancing.
 *
 * @module
 */
import { requireMethod } from "../_validate.ts";
import { NoEndpointsError } from "../errors.ts";
import type { Endpoint, Endpointer } from "../types.ts";
import type { Balancer } from "./balancer.ts";

/**
 * Hands out endpoints in turn, starting with the first (go-kit `NewRoundRobin`). The position is not
 * reset when the set changes; it continues modulo the new length.
 *
 * @example
 * ```ts
 * import { FixedEndpointer } from "@edgekit/sd";
 * import { RoundRobinBalancer } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * const a = async () => "a";
 * const b = async () => "b";
 * const balancer = new RoundRobinBalancer(new FixedEndpointer([a, b]));
 * assert(balancer.endpoint() === a && balancer.endpoint() === b && balancer.endpoint() === a);
 * ```
 */
export class RoundRobinBalancer<Req = unknown, Res = unknown> implements Balancer<Req, Res> {
  readonly #endpointer: Endpointer<Req, Res>;
  #counter = 0;

  /**
   * Creates the balancer.
   *
   * @param endpointer Supplies the endpoints on every pick.
   * @throws {TypeError} If `endpointer` has no `endpoints()` method.
   */
  constructor(endpointer: Endpointer<Req, Res>) {
    requireMethod(endpointer, "endpoints", "endpointer");
    this.#endpointer = endpointer;
  }

  /**
   * Picks the next endpoint; with `exclude`, the next one not in it, if any.
   *
   * @param exclude Endpoints to skip if another is available.
   * @returns An endpoint.
   * @throws {NoEndpointsError} If there are no endpoints.
   */
  endpoint(exclude?: ReadonlySet<Endpoint<Req, Res>>): Endpoint<Req, Res> {
    const endpoints = this.#endpointer.endpoints();
    const n = endpoints.length;
    if (n === 0) throw new NoEndpointsError();
    const start = this.#counter % n;
    this.#counter = (this.#counter + 1) >>> 0;
    if (exclude !== undefined && exclude.size > 0) {
      for (let k = 0; k < n; k++) {
        const candidate = endpoints[(start + k) % n]!;
        if (!exclude.has(candidate)) return candidate;
      }
    }
    return endpoints[start]!;
  }
}
