// The keep-alive loop registrars share: a beat every interval (jittered by up to -10%), capped and
// jittered backoff after a failed beat, and a stop that clears the timer and aborts the beat in flight;
// internal.
import { backoffDelay, type BackoffOptions } from "./_async.ts";

/** What a {@linkcode KeepAlive} runs. */
export interface KeepAliveOptions {
  /** Milliseconds between beats, before the jitter. */
  interval: number;
  /** Pause after failed beats. */
  backoff: BackoffOptions;
  /** Random source in [0, 1) for both jitters. */
  random: () => number;
  /**
   * One beat (a lease renewal, a heartbeat, re-registering when the registry lost us). Its signal aborts
   * when the loop is stopped or restarted: a beat that sees `signal.aborted` after an await was overtaken
   * and must not act on the registrar any more.
   */
  beat: (signal: AbortSignal) => Promise<void>;
  /** Told of each failed beat (not of beats overtaken by a stop). */
  onFailure: (error: unknown) => void;
}

export class KeepAlive {
  readonly #options: KeepAliveOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inflight: AbortController | undefined;
  #failures = 0;

  constructor(options: KeepAliveOptions) {
    this.#options = options;
  }

  /** (Re)starts the loop: the first beat comes one jittered interval from now. */
  start(): void {
    this.stop(new DOMException("keep-alive restarted", "AbortError"));
    this.#failures = 0;
    this.#schedule(this.#next());
  }

  /** Clears the timer and aborts the beat in flight with `reason`. Idempotent. */
  stop(reason: unknown): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#inflight?.abort(reason);
    this.#inflight = undefined;
  }

  #next(): number {
    return this.#options.interval * (0.9 + 0.1 * this.#options.random());
  }

  #schedule(wait: number): void {
    this.#timer = setTimeout(() => void this.#run(), wait);
  }

  async #run(): Promise<void> {
    this.#timer = undefined;
    const controller = new AbortController();
    this.#inflight = controller;
    try {
      await this.#options.beat(controller.signal);
      if (controller.signal.aborted) return;
      this.#failures = 0;
      this.#schedule(this.#next());
    } catch (error) {
      if (controller.signal.aborted) return; // stopped or restarted meanwhile
      this.#failures++;
      this.#options.onFailure(error);
      this.#schedule(backoffDelay(this.#failures, this.#options.backoff, this.#options.random));
    } finally {
      if (this.#inflight === controller) this.#inflight = undefined;
    }
  }
}
