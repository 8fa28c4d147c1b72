/**
 * Power of two choices over a peak-sensitive latency estimate (Peak-EWMA).
 *
 * @module
 */
import { requireFunction, requireMethod, requireNumber } from "../_validate.ts";
import type { Endpoint } from "../types.ts";
import type { Balancer, CallHandle, CallOutcome } from "./balancer.ts";
import type { DetailedEndpointer } from "./rfc2782.ts";
import type { SlowStart, SlowStartOptions } from "./slow_start.ts";
import { type LoadModel, type LoadSlot, P2c } from "./_p2c.ts";
import { toSlowStart } from "./_weights.ts";

/** Options for {@linkcode PeakEwmaBalancer}. */
export interface PeakEwmaBalancerOptions {
  /**
   * Time constant of the moving average, in milliseconds: an observation's influence falls by a factor
   * of e every `decay` ms, and an idle instance's estimate decays toward 0 at that rate so that it is
   * tried again. Default: 10,000 (Finagle's default).
   */
  decay?: number;
  /** Latency estimate, in milliseconds, that a new instance starts with. Default: 30. */
  defaultRtt?: number;
  /**
   * A failed attempt (`"error"` or `"retryable"`) counts as a latency of at least this multiple of the
   * instance's estimate (itself at least `defaultRtt`), so that an instance that fails fast does not look
   * fast. Repeated failures compound. 1 disables the penalty. Default: 2.
   */
  failurePenalty?: number;
  /** Clock in milliseconds (fractions welcome). Default: `performance.now`. */
  now?: () => number;
  /** Random source in [0, 1) for the two candidates. Default: `Math.random`. */
  random?: () => number;
  /**
   * Ramp the weight of instances that join later (see {@linkcode SlowStart}): a `SlowStart`, its
   * options, or `true` for the defaults. Default: no ramp.
   */
  slowStart?: SlowStart | SlowStartOptions | boolean;
}

/**
 * Power of two choices with a Peak-EWMA cost (Finagle's and Linkerd's latency-aware balancer): each
 * pick draws two different instances at random and takes the cheaper, where
 * `cost = rtt x (inFlight + 1) / weight`.
 *
 * `rtt` is a moving average of the instance's latency that jumps straight to any observation above it
 * (the peak) and otherwise moves toward observations with weight `1 - exp(-elapsed / decay)`, `elapsed`
 * being the time since its last update; it also decays toward 0 with time while the instance gets no
 * calls, so a once-slow instance is tried again. A new instance starts at `defaultRtt` until its first
 * sample, which replaces it. A failure counts
 * as at least `failurePenalty` times the estimate; a cancelled attempt teaches nothing. `inFlight` comes
 * from {@linkcode Balancer.begin} (called by `retry` and `balancedFetch` around every attempt);
 * `weight` is the `weight` detail (missing: 1) times the slow-start factor. A pick allocates nothing;
 * an attempt allocates its handle. A retry takes the cheapest instance not yet tried.
 *
 * @example
 * ```ts
 * import { FixedInstancer, DefaultEndpointer } from "@edgekit/sd";
 * import { beginCall, PeakEwmaBalancer } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * using endpointer = new DefaultEndpointer(
 *   new FixedInstancer(["fast:80", "slow:80"]),
 *   (instance) => ({ endpoint: async () => instance }),
 * );
 * await endpointer.ready();
 * let now = 0;
 * const balancer = new PeakEwmaBalancer(endpointer, { now: () => now });
 * // Teach it: one call to each, "slow:80" takes 200 ms, "fast:80" 5 ms.
 * for (const [name, ms] of [["slow:80", 200], ["fast:80", 5]] as const) {
 *   const endpoint = endpointer.entries().find((e) => e.instance === name)!.endpoint;
 *   const call = beginCall(balancer, endpoint);
 *   now += ms;
 *   call.end("success");
 * }
 * assert((await balancer.endpoint()(undefined)) === "fast:80");
 * ```
 */
export class PeakEwmaBalancer<Req = unknown, Res = unknown> implements Balancer<Req, Res> {
  readonly #core: P2c<Req, Res>;
  readonly #model: PeakEwma<Req, Res>;

  /**
   * Creates the balancer.
   *
   * @param endpointer Supplies entries with details on every pick.
   * @param options Decay, default latency, failure penalty, clock, random source and slow start.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(endpointer: DetailedEndpointer<Req, Res>, options: PeakEwmaBalancerOptions = {}) {
    requireMethod(endpointer, "entries", "endpointer");
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    if (options.now !== undefined) requireFunction(options.now, "options.now");
    const decay = requireNumber(options.decay ?? 10_000, "options.decay");
    if (decay === 0) throw new RangeError("options.decay must be > 0, got 0");
    this.#model = new PeakEwma(
      options.now ?? (() => performance.now()),
      decay,
      requireNumber(options.defaultRtt ?? 30, "options.defaultRtt"),
      requireNumber(options.failurePenalty ?? 2, "options.failurePenalty", { min: 1 }),
    );
    this.#core = new P2c(
      endpointer,
      this.#model,
      options.random ?? Math.random,
      toSlowStart(options.slowStart),
    );
  }

  /**
   * Picks the cheaper of two random instances; with `exclude`, the cheapest one not in it.
   *
   * @param exclude Endpoints to avoid if another is available.
   * @returns An endpoint.
   * @throws {NoEndpointsError} If there are no endpoints.
   */
  endpoint(exclude?: ReadonlySet<Endpoint<Req, Res>>): Endpoint<Req, Res> {
    return this.#core.endpoint(exclude);
  }

  /**
   * Starts timing a call on `endpoint` and counts it in flight until the handle's `end`.
   *
   * @param endpoint An endpoint this balancer picked.
   * @returns The handle to end the call on.
   */
  begin(endpoint: Endpoint<Req, Res>): CallHandle {
    return this.#core.begin(endpoint);
  }

  /**
   * The latency estimate of `endpoint` now, in milliseconds (decayed to the current time).
   *
   * @param endpoint One of the current endpoints.
   * @returns The estimate, or `undefined` for an endpoint it does not know.
   */
  rtt(endpoint: Endpoint<Req, Res>): number | undefined {
    const slot = this.#core.slotOf(endpoint);
    return slot === undefined ? undefined : this.#model.decayed(slot, this.#model.now());
  }
}

class PeakEwma<Req, Res> implements LoadModel<Req, Res> {
  readonly now: () => number;
  readonly #decay: number;
  readonly #defaultRtt: number;
  readonly #penalty: number;

  constructor(now: () => number, decay: number, defaultRtt: number, penalty: number) {
    this.now = now;
    this.#decay = decay;
    this.#defaultRtt = defaultRtt;
    this.#penalty = penalty;
  }

  init(slot: LoadSlot<Req, Res>, now: number): void {
    slot.rtt = this.#defaultRtt;
    slot.stamp = now;
  }

  decayed(slot: LoadSlot<Req, Res>, now: number): number {
    const elapsed = now - slot.stamp;
    return elapsed > 0 ? slot.rtt * Math.exp(-elapsed / this.#decay) : slot.rtt;
  }

  cost(slot: LoadSlot<Req, Res>, now: number): number {
    return this.decayed(slot, now) * (slot.inFlight + 1);
  }

  learn(slot: LoadSlot<Req, Res>, started: number, now: number, outcome: CallOutcome): void {
    if (outcome === "cancelled") return;
    let sample = now - started;
    if (sample < 0) sample = 0;
    if (outcome !== "success") {
      const base = slot.rtt > this.#defaultRtt ? slot.rtt : this.#defaultRtt;
      const floor = base * this.#penalty;
      if (sample < floor) sample = floor;
    }
    if (!slot.seen) {
      // The default RTT is a guess: the first real sample replaces it, or a fast new host would keep
      // looking slow for about one decay time (and an idle slow one cheaper than it).
      slot.seen = true;
      slot.rtt = sample;
    } else if (sample > slot.rtt) {
      slot.rtt = sample; // the peak: react at once to anything slower
    } else {
      const elapsed = now - slot.stamp;
      const w = elapsed > 0 ? Math.exp(-elapsed / this.#decay) : 1;
      slot.rtt = slot.rtt * w + sample * (1 - w);
    }
    slot.stamp = now;
  }
}
