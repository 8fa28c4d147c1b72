// Deadlines of one length on one timer, for the request path. Internal.
import type { Deadline } from "./_async.ts";

/**
 * Hands out {@linkcode Deadline}s that all last `ms`, as `deadline(ms, parent)` does (each signal
 * aborts with a `TimeoutError` `ms` after it was handed out, or with the parent's reason when the
 * parent aborts first; `clear()` releases it), without a timer per deadline: setting and clearing a
 * timer costs more than the rest of a call on the request path. Deadlines of one length come due in
 * the order they were handed out, so they wait in a queue and one timer is armed for the oldest one
 * still pending. The timer is cleared as soon as none is pending, so nothing outlives the calls.
 * Time is read from `performance.now()` (monotonic); the timer only wakes the queue up.
 */
export class DeadlineQueue {
  readonly #ms: number;
  /** Deadlines in the order handed out, from `#head` on; released ones are skipped. */
  #queue: QueuedDeadline[] = [];
  #head = 0;
  #pending = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** @param ms The length of every deadline, finite. */
  constructor(ms: number) {
    this.#ms = ms;
  }

  /** A deadline `ms` from now that also follows `parent`. */
  start(parent?: AbortSignal): Deadline {
    const deadline = new QueuedDeadline(this, performance.now() + this.#ms, parent);
    if (deadline.released) return deadline;
    this.#queue.push(deadline);
    this.#pending++;
    this.#timer ??= setTimeout(this.#fire, this.#ms);
    return deadline;
  }

  /** How many deadlines the queue holds, released ones not yet dropped included (for tests). */
  get size(): number {
    return this.#queue.length - this.#head;
  }

  /** Told once per deadline when it stops waiting (cleared, parent aborted, or come due). */
  released(): void {
    this.#pending--;
    if (this.#pending === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#queue.length = 0;
      this.#head = 0;
      return;
    }
    const queue = this.#queue;
    while (queue[this.#head]!.released) this.#head++;
    // Released deadlines behind a pending one (calls that ended out of order) are dropped once they
    // outnumber the pending ones, so the queue stays within about twice what is in flight.
    if (queue.length - this.#head > 2 * this.#pending + 64) {
      this.#queue = queue.filter((deadline, i) => i >= this.#head && !deadline.released);
      this.#head = 0;
    }
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const due: QueuedDeadline[] = [];
    const queue = this.#queue;
    for (let i = this.#head; i < queue.length && queue[i]!.due <= now; i++) {
      if (!queue[i]!.released) due.push(queue[i]!);
    }
    // Released first and aborted after, so that what the abort listeners do (start or clear other
    // deadlines) finds the queue in order and the timer armed for what remains.
    const controllers = due.map((deadline) => deadline.expire());
    if (this.#pending > 0) {
      this.#timer ??= setTimeout(this.#fire, Math.max(0, this.#queue[this.#head]!.due - now));
    }
    const reason = new DOMException(`Timed out after ${this.#ms} ms`, "TimeoutError");
    for (const controller of controllers) controller.abort(reason);
  };
}

/** One deadline of a {@linkcode DeadlineQueue}. */
class QueuedDeadline implements Deadline {
  /** When it comes due, on `performance.now()`'s clock. */
  readonly due: number;
  readonly signal: AbortSignal;
  /** Set while it waits. */
  #queue: DeadlineQueue | undefined;
  #controller: AbortController | undefined;
  readonly #parent: AbortSignal | undefined;
  readonly #onParentAbort: (() => void) | undefined;

  constructor(queue: DeadlineQueue, due: number, parent: AbortSignal | undefined) {
    this.due = due;
    const controller = new AbortController();
    this.signal = controller.signal;
    if (parent?.aborted) {
      controller.abort(parent.reason);
      return;
    }
    this.#queue = queue;
    this.#controller = controller;
    if (parent !== undefined) {
      this.#parent = parent;
      this.#onParentAbort = () => {
        const controller = this.#controller;
        this.#release();
        controller?.abort(parent.reason);
      };
      parent.addEventListener("abort", this.#onParentAbort, { once: true });
    }
  }

  /** Whether it no longer waits: cleared, aborted by its parent, or come due. */
  get released(): boolean {
    return this.#queue === undefined;
  }

  clear(): void {
    this.#release();
  }

  /** Releases it as come due; returns the controller for the queue to abort. */
  expire(): AbortController {
    const controller = this.#controller!;
    this.#release();
    return controller;
  }

  #release(): void {
    const queue = this.#queue;
    if (queue === undefined) return;
    this.#queue = undefined;
    this.#controller = undefined;
    if (this.#onParentAbort !== undefined) this.#parent!.removeEventListener("abort", this.#onParentAbort);
    queue.released();
  }
}
