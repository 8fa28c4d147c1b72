/**
 * The registrar of the in-process registry.
 *
 * @module
 */
import { requireFunction, requireNumber, requireString } from "../_validate.ts";
import { StoppedError } from "../errors.ts";
import { RegistrarErrorEvent, RegistrarEvent } from "../registrar.ts";
import type { InstanceDetails, Logger, Registrar, RegistrarCallOptions } from "../types.ts";
import type { MemoryRegistry } from "./registry.ts";

/** Options for {@linkcode MemoryRegistrar}. */
export interface MemoryRegistrarOptions {
  /** Details published with the instance. */
  details?: InstanceDetails;
  /** Milliseconds the registration lives without a renewal. Default: no expiry and no keep-alive. */
  ttl?: number;
  /** Milliseconds between renewals, jittered by up to -10%. Default: a third of `ttl`. */
  renewInterval?: number;
  /** Random source in [0, 1) for the jitter. Default: `Math.random`. */
  random?: () => number;
  /** Receives keep-alive problems. Default: silent. */
  logger?: Logger;
}

/**
 * Registers one instance in a {@linkcode MemoryRegistry}; with a `ttl`, renews it on a timer and
 * registers it again (dispatching `reregistered`) if it was lost, for instance because the process was
 * paused past the TTL. Dispatches `registered`, `deregistered`, `reregistered` and `error`.
 *
 * @example
 * ```ts
 * import { MemoryRegistry } from "@edgekit/sd/memory";
 * import { assert } from "@std/assert";
 *
 * using registry = new MemoryRegistry();
 * await using registrar = registry.registrar("api", "10.0.0.1:80", { ttl: 5000 });
 * await registrar.register();
 * assert(registry.instances("api").length === 1);
 * ```
 */
export class MemoryRegistrar extends EventTarget implements Registrar {
  readonly #registry: MemoryRegistry;
  readonly #service: string;
  readonly #instance: string;
  readonly #options: MemoryRegistrarOptions;
  readonly #interval: number | undefined;
  readonly #random: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #state: "idle" | "registered" = "idle";

  /**
   * Not usually called directly: see {@linkcode MemoryRegistry.registrar}.
   *
   * @param registry The registry.
   * @param service The service name.
   * @param instance The instance string.
   * @param options Details, TTL and keep-alive settings.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(
    registry: MemoryRegistry,
    service: string,
    instance: string,
    options: MemoryRegistrarOptions = {},
  ) {
    super();
    this.#registry = registry;
    this.#service = requireString(service, "service");
    this.#instance = requireString(instance, "instance");
    if (options.ttl !== undefined) requireNumber(options.ttl, "options.ttl", { min: 1 });
    if (options.renewInterval !== undefined) {
      requireNumber(options.renewInterval, "options.renewInterval", { min: 1 });
      if (options.ttl !== undefined && options.renewInterval >= options.ttl) {
        throw new RangeError(
          `options.renewInterval must be below options.ttl (${options.ttl}), got ${options.renewInterval}`,
        );
      }
    }
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    this.#options = options;
    this.#interval = options.ttl === undefined ? undefined : options.renewInterval ?? options.ttl / 3;
    this.#random = options.random ?? Math.random;
  }

  /** The instance this registrar manages. */
  get instance(): string {
    return this.#instance;
  }

  /** Whether the instance is registered and kept alive by this registrar. */
  get registered(): boolean {
    return this.#state === "registered";
  }

  /**
   * Registers the instance (again, if already registered) and starts the keep-alive.
   *
   * @param options A signal; an aborted one rejects without registering.
   * @throws {StoppedError} If the registry is closed (also dispatched as `error`).
   */
  register(options: RegistrarCallOptions = {}): Promise<void> {
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    try {
      this.#put();
    } catch (error) {
      this.dispatchEvent(new RegistrarErrorEvent(error, this.#instance));
      return Promise.reject(error);
    }
    this.#transition("registered");
    this.dispatchEvent(new RegistrarEvent("registered", this.#instance));
    return Promise.resolve();
  }

  /**
   * Stops the keep-alive and removes the instance. Harmless when not registered.
   *
   * @param options A signal; an aborted one rejects without deregistering.
   */
  deregister(options: RegistrarCallOptions = {}): Promise<void> {
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    const was = this.#state;
    this.#transition("idle");
    this.#registry.deregister(this.#service, this.#instance);
    if (was === "registered") this.dispatchEvent(new RegistrarEvent("deregistered", this.#instance));
    return Promise.resolve();
  }

  /**
   * Stops the keep-alive but leaves the registration in place, as a crashed process would: with a
   * `ttl`, the registry drops the instance when it expires. Idempotent.
   */
  stop(): void {
    this.#transition("idle");
  }

  /** Deregisters. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.deregister();
  }

  #put(): void {
    const options: { details?: InstanceDetails; ttl?: number } = {};
    if (this.#options.details !== undefined) options.details = this.#options.details;
    if (this.#options.ttl !== undefined) options.ttl = this.#options.ttl;
    this.#registry.register(this.#service, this.#instance, options);
  }

  // Every state change goes through here, so the keep-alive timer always matches the state.
  #transition(next: "idle" | "registered"): void {
    this.#state = next;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (next === "registered") this.#schedule();
  }

  #schedule(): void {
    if (this.#interval === undefined) return;
    const wait = this.#interval * (0.9 + 0.1 * this.#random());
    this.#timer = setTimeout(() => this.#renew(), wait);
  }

  #renew(): void {
    this.#timer = undefined;
    try {
      if (!this.#registry.renew(this.#service, this.#instance)) {
        this.#put();
        this.#options.logger?.warn("Registration was lost; registered again", { instance: this.#instance });
        this.dispatchEvent(new RegistrarEvent("reregistered", this.#instance));
      }
    } catch (error) {
      this.#options.logger?.error("Keep-alive failed", { instance: this.#instance, error });
      this.dispatchEvent(new RegistrarErrorEvent(error, this.#instance));
      if (error instanceof StoppedError) {
        this.#transition("idle");
        return;
      }
    }
    this.#schedule();
  }
}
