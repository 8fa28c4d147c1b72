/**
 * Load balancing over an Endpointer: round robin, random, RFC 2782 (priority and weight), and retry
 * across instances.
 *
 * ```ts
 * import { FixedEndpointer } from "@edgekit/sd";
 * import { retry, RoundRobinBalancer } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * const endpointer = new FixedEndpointer([async (x: number) => x + 1, async (x: number) => x + 2]);
 * const call = retry(new RoundRobinBalancer(endpointer), { attempts: 2, timeout: 1000 });
 * assert((await call(1)) === 2);
 * ```
 *
 * @module
 */
export { type Balancer, beginCall, type CallHandle, type CallOutcome } from "./balancer.ts";
export { RoundRobinBalancer } from "./round_robin.ts";
export { RandomBalancer, type RandomBalancerOptions, seededRandom } from "./random.ts";
export {
  type AttemptEvent,
  type BackoffOptions,
  retry,
  type RetryCallback,
  type RetryOptions,
} from "./retry.ts";
export { type DetailedEndpointer, Rfc2782Balancer, type Rfc2782BalancerOptions } from "./rfc2782.ts";
export { SlowStart, type SlowStartOptions } from "./slow_start.ts";
export { WeightedBalancer, type WeightedBalancerOptions } from "./weighted.ts";
export { LeastRequestBalancer, type LeastRequestBalancerOptions } from "./least_request.ts";
export { PeakEwmaBalancer, type PeakEwmaBalancerOptions } from "./peak_ewma.ts";
export {
  type InnerBalancerFactory,
  OutlierEjectionBalancer,
  type OutlierEjectionOptions,
} from "./outlier.ts";
export { RetryBudget, type RetryBudgetOptions } from "./retry_budget.ts";
export { hash32, RingHashBalancer, type RingHashBalancerOptions } from "./ring_hash.ts";
export { LocalityEndpointer, type LocalityEndpointerOptions } from "./locality.ts";
export { type CallFigures, ObservedBalancer, type ObservedBalancerOptions } from "./observed.ts";
