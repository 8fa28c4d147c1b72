/**
 * The base of every Instancer that runs its own discovery loop.
 *
 * @module
 */
import type { BackoffOptions } from "./_async.ts";
import { requireNumber, requireSignal } from "./_validate.ts";
import { describe, DiscoveryLoopError } from "./errors.ts";
import { InstanceCache } from "./instance_cache.ts";
import type { Logger } from "./types.ts";

/** Options every {@linkcode BackgroundInstancer} takes. */
export interface BackgroundInstancerOptions {
  /** Stops the instancer when aborted. */
  signal?: AbortSignal;
  /** Receives the loop's problems and listener failures. Default: silent. */
  logger?: Logger;
}

/**
 * An {@linkcode InstanceCache} that owns a discovery loop (a poll, a blocking query, a watch): it gives
 * the loop a signal that aborts on `stop()`, stops when the `signal` option aborts, and removes its
 * listener from that signal on stop. Subclasses call {@linkcode BackgroundInstancer.start} at the end of
 * their constructor; the loop pushes results with `update()` and must end when `stopSignal` aborts.
 * An instancer driven by its callers instead (`PullInstancer`) never calls `start` and uses only the
 * stop wiring.
 *
 * @example
 * ```ts
 * import { BackgroundInstancer } from "@edgekit/sd";
 * import { assertEquals } from "@std/assert";
 *
 * class StaticPoller extends BackgroundInstancer {
 *   constructor() {
 *     super({});
 *     this.start(async () => {
 *       this.update({ instances: ["10.0.0.1:80"] });
 *     });
 *   }
 * }
 * using instancer = new StaticPoller();
 * for await (const event of instancer) {
 *   assertEquals(event.instances, ["10.0.0.1:80"]);
 *   break;
 * }
 * ```
 */
export class BackgroundInstancer extends InstanceCache {
  readonly #controller = new AbortController();
  readonly #detach: () => void;
  readonly #logger: Logger | undefined;

  /**
   * Wires the `signal` option; the subclass starts its loop with {@linkcode BackgroundInstancer.start}.
   *
   * @param options Signal and logger.
   * @throws {TypeError} If `signal` is not an AbortSignal.
   */
  constructor(options: BackgroundInstancerOptions) {
    super(options.logger === undefined ? {} : { logger: options.logger });
    requireSignal(options.signal, "options.signal");
    this.#logger = options.logger;
    const signal = options.signal;
    if (signal?.aborted) {
      // Born stopped: start() will not run the loop. (No subclass override runs from here.)
      this.#detach = () => {};
      this.#controller.abort(signal.reason);
      super.stop();
      return;
    }
    const onAbort = () => this.stop();
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#detach = () => signal?.removeEventListener("abort", onAbort);
  }

  /** Aborts when {@linkcode BackgroundInstancer.stop} runs; give it to every call the loop makes. */
  protected get stopSignal(): AbortSignal {
    return this.#controller.signal;
  }

  /**
   * Runs the loop, unless the instancer is already stopped (its `signal` was aborted). A loop that
   * throws (synchronously or by rejecting) has ended for good: that is reported to the logger and to
   * subscribers as an error event carrying a {@linkcode DiscoveryLoopError}, which says whether the
   * runtime refused timers or I/O outside a request (Cloudflare Workers at module scope). A loop
   * should turn its ordinary failures into `update({ error })` and go on.
   *
   * @param loop The discovery loop.
   */
  protected start(loop: () => Promise<void>): void {
    if (this.#controller.signal.aborted) return;
    const ended = (error: unknown) => {
      if (this.#controller.signal.aborted) return;
      const wrapped = new DiscoveryLoopError(this.constructor.name, error);
      this.#logger?.error("Discovery loop ended with an error", { error: describe(wrapped) });
      this.update({ error: wrapped });
    };
    let running: Promise<void>;
    try {
      // workerd throws from setTimeout, fetch and crypto at module scope, so a plain (non-async) loop
      // function can throw before it returns a promise.
      running = loop();
    } catch (error) {
      ended(error);
      return;
    }
    Promise.resolve(running).then(undefined, ended);
  }

  /** Stops the loop (aborting its calls in flight) and delivery. Idempotent. */
  override stop(): void {
    if (this.stopped) return;
    this.#controller.abort(new DOMException(`${this.constructor.name} stopped`, "AbortError"));
    this.#detach();
    super.stop();
  }
}

/**
 * Merges a partial backoff over defaults and validates it; `name` prefixes the messages.
 *
 * @param partial What the caller gave.
 * @param defaults The backend's defaults.
 * @param name The option's name, for messages.
 * @returns The complete options.
 */
export function backoffOptions(
  partial: Partial<BackoffOptions> | undefined,
  defaults: BackoffOptions,
  name = "options.backoff",
): BackoffOptions {
  if (partial !== undefined && (typeof partial !== "object" || partial === null)) {
    throw new TypeError(`${name} must be an object, got ${describe(partial)}`);
  }
  const merged = { ...defaults, ...partial };
  requireNumber(merged.initial, `${name}.initial`, { min: 1 });
  requireNumber(merged.max, `${name}.max`, { min: 1 });
  requireNumber(merged.multiplier, `${name}.multiplier`, { min: 1 });
  return merged;
}
