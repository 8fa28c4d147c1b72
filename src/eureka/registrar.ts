/**
 * Registration in Eureka, kept alive by heartbeats.
 *
 * @module
 */
import type { BackoffOptions } from "../_async.ts";
import { KeepAlive } from "../_keep_alive.ts";
import { requireFunction, requireMethod, requireSignal } from "../_validate.ts";
import { backoffOptions } from "../background_instancer.ts";
import { describe, StoppedError } from "../errors.ts";
import { RegistrarErrorEvent, RegistrarEvent } from "../registrar.ts";
import type { Logger, Registrar, RegistrarCallOptions } from "../types.ts";
import {
  type EurekaRegistrarStatus,
  type EurekaRegistrationOptions,
  type Registration,
  registration,
  registrationBody,
  requireStatus,
} from "./_registration.ts";
import { checkMetadata } from "./_wire.ts";
import type { EurekaClient } from "./client.ts";

/** Options for {@linkcode EurekaRegistrar}: what to register, and how to keep it alive. */
export interface EurekaRegistrarOptions extends EurekaRegistrationOptions {
  /** Pause before retrying a failed heartbeat. Default: `{ initial: 1000, max: renewal interval, multiplier: 2 }`. */
  backoff?: Partial<BackoffOptions>;
  /** Random source in [0, 1) for jitter. Default: `Math.random`. */
  random?: () => number;
  /** Receives heartbeat problems and re-registrations. Default: silent. */
  logger?: Logger;
}

type State = "idle" | "registering" | "registered" | "stopped";

/**
 * Registers one instance in Eureka and sends heartbeats (`PUT /apps/{APP}/{id}`) every
 * `renewalIntervalInSecs`, each a little early at random so that fleets do not beat in step. When a
 * heartbeat gets a 404 (the server restarted, or evicted the instance during a partition) it
 * registers again and dispatches `reregistered`. {@linkcode EurekaRegistrar.setStatus} takes the
 * instance out of rotation (`OUT_OF_SERVICE`, a status override that heartbeats keep) and back
 * (`UP`); {@linkcode EurekaRegistrar.setMetadata} adds metadata. `deregister()` removes the instance;
 * `stop()` only stops the heartbeats, so the server evicts it after `durationInSecs`, as it would a
 * crashed one. Failures reject the call and are dispatched as `error` events; heartbeats retry with
 * capped, jittered backoff.
 *
 * The registration JSON is the one current servers accept: `@class` on the data-center info,
 * `@enabled` on both ports, lease info, home, status and health-check URLs, instanceId and VIP
 * addresses.
 *
 * @example
 * ```ts
 * import { EurekaClient } from "./client.ts";
 * import { EurekaRegistrar } from "./registrar.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const calls: string[] = [];
 * const fakeEureka = (input: Request | URL | string, init?: RequestInit) => {
 *   const request = new Request(input, init);
 *   calls.push(`${request.method} ${new URL(request.url).pathname}`);
 *   return Promise.resolve(new Response(null, { status: request.method === "POST" ? 204 : 200 }));
 * };
 * const client = new EurekaClient({ urls: "http://127.0.0.1:8761/eureka", fetch: fakeEureka });
 * const registrar = new EurekaRegistrar(client, { app: "users", ipAddr: "10.0.0.1", port: 8080 });
 * await registrar.register();
 * await registrar.setStatus("OUT_OF_SERVICE");
 * await registrar.deregister();
 * assertEquals(calls, [
 *   "POST /eureka/apps/USERS",
 *   "PUT /eureka/apps/USERS/10.0.0.1:users:8080/status",
 *   "DELETE /eureka/apps/USERS/10.0.0.1:users:8080",
 * ]);
 * ```
 */
export class EurekaRegistrar extends EventTarget implements Registrar {
  readonly #client: EurekaClient;
  readonly #r: Registration;
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;
  readonly #logger: Logger | undefined;
  #state: State = "idle";
  #status: EurekaRegistrarStatus;
  /** The status override asked of the server, if any. */
  #override: EurekaRegistrarStatus | undefined;
  #metadata: Record<string, string>;
  /** When the instance's own facts last changed (Eureka's lastDirtyTimestamp). */
  #dirty = Date.now();
  /** Aborts the register() attempt in flight when something overtakes it. */
  #attempt: AbortController | undefined;
  readonly #heartbeats: KeepAlive;
  /** Status and metadata calls in flight; a state change aborts them. */
  readonly #calls = new Set<AbortController>();

  /**
   * Creates the registrar; nothing is sent until {@linkcode EurekaRegistrar.register}.
   *
   * @param client The Eureka client (may be shared with instancers).
   * @param options The instance, its lease, backoff and logger.
   * @throws {TypeError | RangeError} If an option is invalid.
   */
  constructor(client: EurekaClient, options: EurekaRegistrarOptions) {
    super();
    requireMethod(client, "renew", "client");
    this.#client = client;
    this.#r = registration(options);
    this.#status = requireStatus(options.status ?? "UP", "options.status");
    this.#metadata = { ...checkMetadata(options.metadata ?? {}, "options.metadata") };
    this.#backoff = backoffOptions(options.backoff, {
      initial: 1000,
      max: this.#r.renewal * 1000,
      multiplier: 2,
    });
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger;
    this.#heartbeats = new KeepAlive({
      interval: this.#r.renewal * 1000,
      backoff: this.#backoff,
      random: this.#random,
      beat: (signal) => this.#heartbeat(signal),
      onFailure: (error) => {
        const { app, instanceId } = this.#r;
        this.#logger?.warn("Eureka heartbeat failed; retrying", { app, instanceId, error: describe(error) });
        this.dispatchEvent(new RegistrarErrorEvent(error, this.#r.instance));
      },
    });
  }

  /** The application's name, upper case. */
  get app(): string {
    return this.#r.app;
  }

  /** The instance id. */
  get instanceId(): string {
    return this.#r.instanceId;
  }

  /** The `ipAddr:port` string, as instancers publish it. */
  get instance(): string {
    return this.#r.instance;
  }

  /** The status this registrar asks for (an override counts). */
  get status(): EurekaRegistrarStatus {
    return this.#override ?? this.#status;
  }

  /** Whether the instance is registered and kept alive by this registrar. */
  get registered(): boolean {
    return this.#state === "registered";
  }

  /**
   * Registers the instance and starts the heartbeats. Calling it while registered registers again
   * (with the current status and metadata).
   *
   * @param options A signal.
   * @throws {RegistryUnavailableError | RegistryRejectedError} Also dispatched as an `error` event; the
   *   registrar is then idle.
   * @throws {StoppedError} If `stop()`, `deregister()` or another `register()` ran before it finished.
   */
  async register(options: RegistrarCallOptions = {}): Promise<void> {
    requireSignal(options.signal, "options.signal");
    if (options.signal?.aborted) throw options.signal.reason;
    this.#transition("registering");
    // stop(), deregister() and another register() abort this attempt (#transition aborts #attempt).
    const attempt = new AbortController();
    this.#attempt = attempt;
    const signal = options.signal === undefined
      ? attempt.signal
      : AbortSignal.any([options.signal, attempt.signal]);
    try {
      await this.#client.register(this.#r.app, this.#body(), { signal });
    } catch (error) {
      if (this.#attempt !== attempt) throw new StoppedError("EurekaRegistrar registration");
      this.#attempt = undefined;
      this.#transition("idle");
      if (options.signal?.aborted) throw options.signal.reason;
      this.dispatchEvent(new RegistrarErrorEvent(error, this.#r.instance));
      throw error;
    }
    if (this.#attempt !== attempt) throw new StoppedError("EurekaRegistrar registration");
    this.#attempt = undefined;
    this.#transition("registered");
    this.dispatchEvent(new RegistrarEvent("registered", this.#r.instance));
  }

  /**
   * Stops the heartbeats and removes the instance. An instance the server does not know is not an
   * error.
   *
   * @param options A signal.
   * @throws {RegistryUnavailableError | RegistryRejectedError} Also dispatched as an `error` event.
   */
  async deregister(options: RegistrarCallOptions = {}): Promise<void> {
    requireSignal(options.signal, "options.signal");
    if (options.signal?.aborted) throw options.signal.reason;
    const was = this.#state;
    this.#transition("idle");
    try {
      await this.#client.deregister(this.#r.app, this.#r.instanceId, options);
    } catch (error) {
      if (!options.signal?.aborted) this.dispatchEvent(new RegistrarErrorEvent(error, this.#r.instance));
      throw error;
    }
    if (was === "registered") this.dispatchEvent(new RegistrarEvent("deregistered", this.#r.instance));
  }

  /**
   * Changes the instance's status. `OUT_OF_SERVICE` sets a status override on the server, which
   * heartbeats keep; any other status removes such an override (`DELETE .../status`) or, without
   * one, registers again with the new status (what Eureka's own client does). While not registered
   * it only changes the status the next registration sends.
   *
   * @param status `UP`, `DOWN`, `STARTING` or `OUT_OF_SERVICE`.
   * @param options A signal.
   * @throws {TypeError} If `status` is not one of those.
   * @throws {RegistryUnavailableError | RegistryRejectedError} Also dispatched as an `error` event.
   * @throws {StoppedError} If the registrar stopped or deregistered meanwhile.
   */
  async setStatus(status: EurekaRegistrarStatus, options: RegistrarCallOptions = {}): Promise<void> {
    requireStatus(status, "status");
    requireSignal(options.signal, "options.signal");
    if (options.signal?.aborted) throw options.signal.reason;
    const override = this.#override;
    this.#dirty = Date.now();
    if (status === "OUT_OF_SERVICE") {
      this.#override = status;
    } else {
      this.#override = undefined;
      this.#status = status;
    }
    if (this.#state !== "registered") return;
    const { app, instanceId } = this.#r;
    await this.#call(options, (signal) => {
      if (status === "OUT_OF_SERVICE") return this.#client.setStatus(app, instanceId, status, { signal });
      if (override !== undefined) {
        return this.#client.removeStatusOverride(app, instanceId, status, { signal });
      }
      return this.#client.register(app, this.#body(), { signal });
    });
  }

  /**
   * Adds or replaces metadata entries, on the server (`PUT .../metadata`) when registered, and in
   * every later registration.
   *
   * @param metadata The entries.
   * @param options A signal.
   * @throws {TypeError} If `metadata` is not an object of strings.
   * @throws {RegistryUnavailableError | RegistryRejectedError} Also dispatched as an `error` event.
   * @throws {StoppedError} If the registrar stopped or deregistered meanwhile.
   */
  async setMetadata(
    metadata: Readonly<Record<string, string>>,
    options: RegistrarCallOptions = {},
  ): Promise<void> {
    const entries = { ...checkMetadata(metadata, "metadata") };
    requireSignal(options.signal, "options.signal");
    if (options.signal?.aborted) throw options.signal.reason;
    // A spread, not Object.assign: a `__proto__` key stays an entry (see setOwn).
    this.#metadata = { ...this.#metadata, ...entries };
    this.#dirty = Date.now();
    if (this.#state !== "registered") return;
    const { app, instanceId } = this.#r;
    await this.#call(options, (signal) => this.#client.updateMetadata(app, instanceId, entries, { signal }));
  }

  /** Stops the heartbeats and leaves the registration; the server evicts it in time. Idempotent. */
  stop(): void {
    this.#transition("stopped");
  }

  /** Deregisters. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.deregister();
  }

  #body(): Record<string, unknown> {
    return registrationBody(this.#r, {
      status: this.#status,
      override: this.#override,
      metadata: this.#metadata,
      dirty: this.#dirty,
    });
  }

  /** Runs a status or metadata call that a state change aborts. */
  async #call(options: RegistrarCallOptions, fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const controller = new AbortController();
    this.#calls.add(controller);
    const signal = options.signal === undefined
      ? controller.signal
      : AbortSignal.any([options.signal, controller.signal]);
    try {
      await fn(signal);
    } catch (error) {
      if (controller.signal.aborted) throw new StoppedError("EurekaRegistrar");
      if (options.signal?.aborted) throw options.signal.reason;
      this.dispatchEvent(new RegistrarErrorEvent(error, this.#r.instance));
      throw error;
    } finally {
      this.#calls.delete(controller);
    }
  }

  // Every state change goes through here, so the heartbeats always match the state.
  #transition(next: State): void {
    this.#state = next;
    const stopped = new StoppedError("EurekaRegistrar heartbeat");
    this.#attempt?.abort(stopped);
    this.#attempt = undefined;
    this.#heartbeats.stop(stopped);
    if (next !== "registered") {
      for (const call of this.#calls) call.abort(new StoppedError("EurekaRegistrar"));
      this.#calls.clear();
    } else {
      this.#heartbeats.start();
    }
  }

  /** One heartbeat; when the server does not know the instance, register it again. */
  async #heartbeat(signal: AbortSignal): Promise<void> {
    const { app, instanceId, instance } = this.#r;
    if (await this.#client.renew(app, instanceId, { signal })) return;
    // The server restarted or evicted us (a partition longer than the lease): register again.
    this.#logger?.warn("Eureka does not know the instance; registering again", { app, instanceId });
    await this.#client.register(app, this.#body(), { signal });
    if (signal.aborted) return;
    this.dispatchEvent(new RegistrarEvent("reregistered", instance));
  }
}
