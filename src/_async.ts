// Small async helpers that @std/async would provide; internal.

/** Resolves after `ms`, or rejects with the signal's reason once it aborts (clearing the timer). */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Settles as `promise` does, or rejects with `signal`'s reason as soon as it aborts, whether or not
 * the work behind `promise` honours the signal (a fetch or a stream read that ignores it would
 * otherwise hang the caller for good). A value that arrives after the abort goes to `late`, to be
 * released; a late rejection is ignored.
 */
export function raceSignal<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  late?: (value: T) => void,
): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const onAbort = () => {
      done = true;
      reject(signal.reason);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        if (done) late?.(value);
        else resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        if (!done) reject(error);
      },
    );
  });
}

/**
 * A signal that aborts with a `TimeoutError` DOMException after `ms`, or when `parent` aborts (with the
 * parent's reason). Built on setTimeout (not AbortSignal.timeout) so fake clocks drive it; `clear()`
 * releases the timer and the parent listener.
 */
export interface Deadline {
  readonly signal: AbortSignal;
  clear(): void;
}

/** Creates a {@linkcode Deadline}. `ms` of `Infinity` means no timer. */
export function deadline(ms: number, parent?: AbortSignal): Deadline {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onAbort = () => {
    clearTimeout(timer);
    controller.abort(parent?.reason);
  };
  if (parent?.aborted) {
    controller.abort(parent.reason);
  } else {
    parent?.addEventListener("abort", onAbort, { once: true });
    if (Number.isFinite(ms)) {
      timer = setTimeout(() => {
        parent?.removeEventListener("abort", onAbort);
        controller.abort(new DOMException(`Timed out after ${ms} ms`, "TimeoutError"));
      }, ms);
    }
  }
  return {
    signal: controller.signal,
    clear() {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onAbort);
    },
  };
}

/** Options of a capped exponential backoff with jitter. */
export interface BackoffOptions {
  /** First delay in milliseconds. */
  initial: number;
  /** Largest delay in milliseconds. */
  max: number;
  /** Growth factor per attempt. */
  multiplier: number;
}

/**
 * The delay before retry number `n` (1-based): capped exponential growth with "equal jitter", i.e.
 * uniformly between half and all of the capped value, so it is never zero and never synchronised.
 */
export function backoffDelay(n: number, options: BackoffOptions, random: () => number): number {
  const capped = Math.min(options.max, options.initial * options.multiplier ** Math.max(0, n - 1));
  return capped / 2 + random() * (capped / 2);
}
