// A token bucket for a query loop: `burst` requests at once, then one per `interval`; internal.
// Credit is kept in milliseconds (one token = `interval` ms), so that waits are exact integers.
// A wait for a token is shortened at random by up to `jitter * interval`, so that loops woken by the
// same write do not stay in step; the spacing under churn is then between `interval * (1 - jitter)`
// and `interval`, which bounds both the rate and how long a change can wait for the next query.
import { delay } from "../_async.ts";

export class TokenBucket {
  readonly #interval: number;
  readonly #capacity: number;
  readonly #jitter: number;
  readonly #random: () => number;
  #credit: number;
  #at: number;

  constructor(burst: number, interval: number, jitter = 0, random: () => number = Math.random) {
    this.#interval = interval;
    this.#capacity = burst * interval;
    this.#jitter = jitter;
    this.#random = random;
    this.#credit = this.#capacity;
    this.#at = Date.now();
  }

  #refill(): void {
    const now = Date.now();
    // A clock that jumps back must not drain the bucket.
    this.#credit = Math.min(this.#capacity, this.#credit + Math.max(0, now - this.#at));
    this.#at = now;
  }

  /**
   * Takes a token, waiting for one if the bucket is empty; rejects when `signal` aborts. Resolves
   * with the milliseconds it waited (0 when a token was there).
   */
  async take(signal: AbortSignal): Promise<number> {
    this.#refill();
    let waited = 0;
    if (this.#credit < this.#interval) {
      const need = this.#interval - this.#credit;
      waited = Math.max(0, Math.round(need - this.#jitter * this.#interval * this.#random()));
      await delay(waited, signal);
      this.#refill();
    }
    this.#credit = Math.max(0, this.#credit - this.#interval);
    return waited;
  }
}
