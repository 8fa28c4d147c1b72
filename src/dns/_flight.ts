// Merging of identical lookups in flight ("singleflight"): callers that ask for the same key while a
// query runs wait for that query instead of sending their own. A caller whose signal aborts leaves with
// its own rejection; the query itself is aborted only when its last waiter has left. Internal.
//
// A Flights map must never be shared across Cloudflare Workers requests: a request that awaits a
// promise another request created is cancelled as hung. DohResolver.scope() gives each request its own.

interface Flight<T> {
  /** Its key in the map. */
  readonly id: unknown;
  readonly controller: AbortController;
  readonly promise: Promise<T>;
  /** Callers still waiting; only counts callers with a signal (the others never leave early). */
  waiters: number;
  /** Set once a caller without a signal joined: the query then runs to its end. */
  pinned: boolean;
}

/** The queries one resolver (or one scope of it) has in flight. */
export class Flights<T> {
  // Merged queries are keyed by their lookup key; unmerged ones by their own controller.
  readonly #map = new Map<unknown, Flight<T>>();

  /**
   * Waits for the query under `key`, starting it with `start` if none runs. `key` undefined always
   * starts a query of its own. `cancelled` builds the rejection of a caller whose signal aborts.
   */
  join(
    key: string | undefined,
    start: (signal: AbortSignal) => Promise<T>,
    signal: AbortSignal | undefined,
    cancelled: (reason: unknown) => Error,
  ): Promise<T> {
    let flight = key === undefined ? undefined : this.#map.get(key);
    if (flight === undefined) flight = this.#start(key, start);
    if (signal === undefined) {
      flight.pinned = true;
      return flight.promise;
    }
    const joined = flight;
    joined.waiters++;
    return new Promise<T>((resolve, reject) => {
      let left = false;
      const leave = (): boolean => {
        if (left) return false;
        left = true;
        joined.waiters--;
        signal.removeEventListener("abort", onAbort);
        return true;
      };
      const onAbort = () => {
        if (!leave()) return;
        reject(cancelled(signal.reason));
        if (joined.waiters === 0 && !joined.pinned) this.#abandon(joined, signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      joined.promise.then(
        (value) => leave() && resolve(value),
        (error) => leave() && reject(error),
      );
    });
  }

  /** Aborts every query in flight with `reason`; their waiters get the query's rejection. */
  abortAll(reason: unknown): void {
    for (const flight of this.#map.values()) flight.controller.abort(reason);
  }

  /** Queries in flight (merged and unmerged). */
  get size(): number {
    return this.#map.size;
  }

  #start(key: string | undefined, start: (signal: AbortSignal) => Promise<T>): Flight<T> {
    const controller = new AbortController();
    const id: unknown = key ?? controller;
    const flight: Flight<T> = {
      id,
      controller,
      promise: start(controller.signal).finally(() => {
        if (this.#map.get(id) === flight) this.#map.delete(id);
      }),
      waiters: 0,
      pinned: false,
    };
    // Every waiter may have left before it settles; its rejection is then nobody's to handle.
    flight.promise.catch(() => {});
    this.#map.set(id, flight);
    return flight;
  }

  #abandon(flight: Flight<T>, reason: unknown): void {
    // Forget it first, so that a caller arriving now starts afresh instead of joining an aborted query.
    if (this.#map.get(flight.id) === flight) this.#map.delete(flight.id);
    flight.controller.abort(reason);
  }
}
