/**
 * The Balancer contract, and the call-outcome seam through which balancers learn how each attempt went.
 *
 * @module
 */
import type { Endpoint } from "../types.ts";

/**
 * How one attempt on one endpoint ended, as reported to {@linkcode CallHandle.end}:
 *
 * - `"success"`: the endpoint returned a result that counts as good.
 * - `"retryable"`: the endpoint returned a result marked as a failure to retry elsewhere (for
 *   `balancedFetch`, a response with one of its `retryStatuses`, 502, 503 and 504 by default).
 * - `"error"`: the endpoint threw or rejected, or its time ran out (an `attemptTimeout` or the call's
 *   overall deadline, with a `TimeoutError` DOMException).
 * - `"cancelled"`: the caller's signal aborted the attempt. Says nothing about the instance.
 */
export type CallOutcome = "success" | "retryable" | "error" | "cancelled";

/**
 * One attempt in flight, returned by {@linkcode Balancer.begin}. The caller calls `end` exactly once,
 * when the attempt settles or is abandoned, whichever comes first; a balancer should ignore later calls.
 * `value` is the result for `"success"` and `"retryable"` (for HTTP the `Response`, so a balancer may
 * look at its status), the error for `"error"`, and the abort reason for `"cancelled"`. For HTTP the
 * attempt ends when the response headers arrive; reading the body is not part of it.
 */
export interface CallHandle {
  /**
   * Reports the end of the attempt.
   *
   * @param outcome How it ended.
   * @param value The result, error or abort reason.
   */
  end(outcome: CallOutcome, value?: unknown): void;
}

/**
 * Picks one endpoint per call and, optionally, learns how each call went.
 *
 * `endpoint` is the whole contract of a plain balancer. A balancer that adapts to its instances
 * (least-request, Peak-EWMA, outlier ejection) also implements `begin`: whoever calls an endpoint it
 * picked (`retry`, `balancedFetch`, or direct code through {@linkcode beginCall}) calls
 * `begin(endpoint)` right before starting the attempt and `end(outcome, value)` on the handle when the
 * attempt is over. The balancer reads its own clock in both, so it alone decides how latency is
 * measured (and tests inject that clock). A balancer without `begin` costs its callers one property
 * read per attempt and nothing else.
 */
export interface Balancer<Req = unknown, Res = unknown> {
  /**
   * Picks an endpoint.
   *
   * @param exclude Endpoints to avoid if any other is available (retry passes those already tried).
   * @returns An endpoint.
   * @throws {NoEndpointsError} If there is none; the endpointer's error if discovery is invalidated.
   */
  endpoint(exclude?: ReadonlySet<Endpoint<Req, Res>>): Endpoint<Req, Res>;

  /**
   * Optional: an attempt on `endpoint` (one this balancer picked) starts now. Must not throw.
   *
   * @param endpoint The endpoint about to be called.
   * @returns The handle on which the caller reports the attempt's end.
   */
  begin?(endpoint: Endpoint<Req, Res>): CallHandle;
}

const IGNORED: CallHandle = Object.freeze({ end() {} });

/**
 * Starts reporting an attempt to `balancer`: its {@linkcode Balancer.begin} handle, or a shared handle
 * that does nothing when the balancer does not track calls. For code that calls a picked endpoint
 * itself instead of going through `retry` or `balancedFetch`.
 *
 * @param balancer The balancer that picked `endpoint`.
 * @param endpoint The endpoint about to be called.
 * @returns A handle whose `end` must be called once when the attempt is over.
 *
 * @example
 * ```ts
 * import { FixedEndpointer } from "@edgekit/sd";
 * import { type Balancer, beginCall, type CallOutcome, RoundRobinBalancer } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * // A balancer that counts calls in flight and records outcomes.
 * const inner = new RoundRobinBalancer(new FixedEndpointer([async (x: number) => x * 2]));
 * const seen = { inFlight: 0, outcomes: [] as CallOutcome[] };
 * const balancer: Balancer<number, number> = {
 *   endpoint: (exclude) => inner.endpoint(exclude),
 *   begin: () => {
 *     seen.inFlight++;
 *     return {
 *       end: (outcome) => {
 *         seen.inFlight--;
 *         seen.outcomes.push(outcome);
 *       },
 *     };
 *   },
 * };
 *
 * const endpoint = balancer.endpoint();
 * const call = beginCall(balancer, endpoint);
 * const during = seen.inFlight;
 * try {
 *   const result = await endpoint(21);
 *   call.end("success", result);
 *   assert(result === 42);
 * } catch (error) {
 *   call.end("error", error);
 *   throw error;
 * }
 * assert(during === 1 && seen.inFlight === 0 && seen.outcomes.join() === "success");
 * ```
 */
export function beginCall<Req, Res>(balancer: Balancer<Req, Res>, endpoint: Endpoint<Req, Res>): CallHandle {
  return balancer.begin === undefined ? IGNORED : balancer.begin(endpoint);
}
