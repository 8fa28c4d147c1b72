// What the library knows about how soon one of its own signals will abort, so that a layer below
// (httpFactory's header timeout) can skip a timer that a layer above (retry's deadline) makes
// redundant. Internal; weak, so nothing outlives the signal.

const BOUNDS = new WeakMap<AbortSignal, number>();

/** Records that `signal` aborts at most `ms` milliseconds after now (or after any later moment). */
export function markBound(signal: AbortSignal, ms: number): void {
  if (ms !== Infinity) BOUNDS.set(signal, ms);
}

/** The recorded bound of `signal` in milliseconds; `Infinity` when none is known. */
export function boundOf(signal: AbortSignal | undefined): number {
  return signal === undefined ? Infinity : BOUNDS.get(signal) ?? Infinity;
}
