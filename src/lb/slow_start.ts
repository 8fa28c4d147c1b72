/**
 * Slow start: a new instance's weight ramps up over a window instead of taking its full share at once.
 *
 * @module
 */
import { requireFunction, requireNumber } from "../_validate.ts";

/** Options for {@linkcode SlowStart}. */
export interface SlowStartOptions {
  /** How long, in milliseconds, a new instance takes to reach its full weight. Default: 30,000. */
  window?: number;
  /**
   * Shape of the ramp: the factor is `(age / window) ^ (1 / aggression)`. 1 is a straight line; above 1
   * the weight rises fast at first, below 1 it stays low for longer. Default: 1.
   */
  aggression?: number;
  /** The smallest factor, in (0, 1], so that a brand-new instance still gets some traffic. Default: 0.1. */
  minFactor?: number;
  /** Clock in milliseconds. Default: `Date.now`. */
  now?: () => number;
}

/**
 * The ramp that weighted and least-request balancers apply to instances that joined after the first set
 * they saw (the first set is not ramped: all of it is equally new). An instance of age `age` gets its
 * weight multiplied by `max(minFactor, (age / window) ^ (1 / aggression))` until `age >= window`, when the
 * factor is 1. Instances that come back after leaving ramp again. Pass one to a balancer's `slowStart`
 * option, or its options; the balancer records when each instance appeared.
 *
 * @example
 * ```ts
 * import { SlowStart } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * let now = 0;
 * const ramp = new SlowStart({ window: 10_000, now: () => now });
 * now = 5_000;
 * assert(ramp.factor(0) === 0.5); // half way through the window: half the weight
 * now = 10_000;
 * assert(ramp.factor(0) === 1);
 * ```
 */
export class SlowStart {
  readonly #window: number;
  readonly #exponent: number;
  readonly #minFactor: number;
  /** The clock the balancer uses to stamp new instances. */
  readonly now: () => number;

  /**
   * Creates the ramp.
   *
   * @param options Window, shape, floor and clock.
   * @throws {TypeError | RangeError} If an option is invalid.
   */
  constructor(options: SlowStartOptions = {}) {
    this.#window = requireNumber(options.window ?? 30_000, "options.window");
    const aggression = requireNumber(options.aggression ?? 1, "options.aggression");
    if (aggression === 0) throw new RangeError(`options.aggression must be > 0, got 0`);
    this.#exponent = 1 / aggression;
    this.#minFactor = requireNumber(options.minFactor ?? 0.1, "options.minFactor");
    if (this.#minFactor === 0 || this.#minFactor > 1) {
      throw new RangeError(`options.minFactor must be in (0, 1], got ${this.#minFactor}`);
    }
    if (options.now !== undefined) requireFunction(options.now, "options.now");
    this.now = options.now ?? Date.now;
  }

  /**
   * The weight multiplier now for an instance that appeared at `addedAt`.
   *
   * @param addedAt When the instance appeared, on this ramp's clock (`-Infinity` for never ramped).
   * @returns A factor in [minFactor, 1].
   */
  factor(addedAt: number): number {
    const age = this.now() - addedAt;
    if (!(age < this.#window)) return 1;
    const f = age <= 0 ? 0 : (age / this.#window) ** this.#exponent;
    return f > this.#minFactor ? f : this.#minFactor;
  }
}
