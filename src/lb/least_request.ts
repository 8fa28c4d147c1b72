/**
 * Power of two choices over calls in flight.
 *
 * @module
 */
import { requireFunction, requireMethod } from "../_validate.ts";
import type { Endpoint } from "../types.ts";
import type { Balancer, CallHandle } from "./balancer.ts";
import type { DetailedEndpointer } from "./rfc2782.ts";
import type { SlowStart, SlowStartOptions } from "./slow_start.ts";
import { type LoadModel, P2c } from "./_p2c.ts";
import { toSlowStart } from "./_weights.ts";

/** Options for {@linkcode LeastRequestBalancer}. */
export interface LeastRequestBalancerOptions {
  /** Random source in [0, 1) for the two candidates. Default: `Math.random`. */
  random?: () => number;
  /**
   * Ramp the weight of instances that join later (see {@linkcode SlowStart}): a `SlowStart`, its
   * options, or `true` for the defaults. Default: no ramp.
   */
  slowStart?: SlowStart | SlowStartOptions | boolean;
}

const LEAST_REQUEST: LoadModel<unknown, unknown> = {
  now: () => 0,
  init() {},
  cost: (slot) => slot.inFlight + 1,
  learn() {},
};

/**
 * Power of two choices, least request (Envoy `LEAST_REQUEST`, Finagle `P2C` with least loaded): each
 * pick draws two different instances at random and takes the one with fewer calls in flight, divided
 * by its `weight` detail (missing counts as 1; with `slowStart`, times its ramp factor). Two random
 * choices avoid the herd that "always the least loaded" causes when many clients share stale counts,
 * and cost O(1) per pick with no allocation. A retry (`exclude` not empty) takes the least loaded
 * instance not yet tried.
 *
 * It counts calls through {@linkcode Balancer.begin}: `retry` and `balancedFetch` report every attempt;
 * code that calls a picked endpoint itself reports through `beginCall`. Without reports it behaves as
 * a random balancer.
 *
 * @example
 * ```ts
 * import { FixedInstancer, DefaultEndpointer } from "@edgekit/sd";
 * import { beginCall, LeastRequestBalancer } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * using endpointer = new DefaultEndpointer(
 *   new FixedInstancer(["a:80", "b:80"]),
 *   (instance) => ({ endpoint: async () => instance }),
 * );
 * await endpointer.ready();
 * const balancer = new LeastRequestBalancer(endpointer);
 * const busy = balancer.endpoint();
 * const call = beginCall(balancer, busy); // one call in flight on `busy`
 * assert(balancer.endpoint() !== busy); // so the other one is picked
 * call.end("success");
 * ```
 */
export class LeastRequestBalancer<Req = unknown, Res = unknown> implements Balancer<Req, Res> {
  readonly #core: P2c<Req, Res>;

  /**
   * Creates the balancer.
   *
   * @param endpointer Supplies entries with details on every pick.
   * @param options Random source and slow start.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(endpointer: DetailedEndpointer<Req, Res>, options: LeastRequestBalancerOptions = {}) {
    requireMethod(endpointer, "entries", "endpointer");
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    this.#core = new P2c(
      endpointer,
      LEAST_REQUEST as LoadModel<Req, Res>,
      options.random ?? Math.random,
      toSlowStart(options.slowStart),
    );
  }

  /**
   * Picks the less loaded of two random instances; with `exclude`, the least loaded one not in it.
   *
   * @param exclude Endpoints to avoid if another is available.
   * @returns An endpoint.
   * @throws {NoEndpointsError} If there are no endpoints.
   */
  endpoint(exclude?: ReadonlySet<Endpoint<Req, Res>>): Endpoint<Req, Res> {
    return this.#core.endpoint(exclude);
  }

  /**
   * Counts one more call in flight on `endpoint` until the handle's `end`.
   *
   * @param endpoint An endpoint this balancer picked.
   * @returns The handle to end the call on.
   */
  begin(endpoint: Endpoint<Req, Res>): CallHandle {
    return this.#core.begin(endpoint);
  }

  /**
   * Calls in flight on `endpoint`, as far as this balancer was told.
   *
   * @param endpoint One of the current endpoints.
   * @returns The count, or 0 for an endpoint it does not know.
   */
  inFlight(endpoint: Endpoint<Req, Res>): number {
    return this.#core.slotOf(endpoint)?.inFlight ?? 0;
  }
}
