// A token bucket for a query loop: `burst` requests at once, then one per `interval`; internal.
// Credit is kept in milliseconds (one token = `interval` ms), so that waits are exact integers.
import { delay } from "../_async.ts";

export class TokenBucket {
  readonly #interval: number;
  readonly #capacity: number;
  #credit: number;
  #at: number;

  constructor(burst: number, interval: number) {
    this.#interval = interval;
    this.#capacity = burst * interval;
    this.#credit = this.#capacity;
    this.#at = Date.now();
  }

  #refill(): void {
    const now = Date.now();
    // A clock that jumps back must not drain the bucket.
    this.#credit = Math.min(this.#capacity, this.#credit + Math.max(0, now - this.#at));
    this.#at = now;
  }

  /** Takes a token, waiting for one if the bucket is empty; rejects when `signal` aborts. */
  async take(signal: AbortSignal): Promise<void> {
    this.#refill();
    if (this.#credit < this.#interval) {
      await delay(this.#interval - this.#credit, signal);
      this.#refill();
    }
    this.#credit = Math.max(0, this.#credit - this.#interval);
  }
}
