/**
 * Registering a service with the local Consul agent and keeping its TTL checks passing.
 *
 * @module
 */
import { backoffDelay, type BackoffOptions, delay } from "../_async.ts";
import { requireFunction, requireMethod, requireNumber, requireSignal } from "../_validate.ts";
import { RegistrarErrorEvent, RegistrarEvent } from "../registrar.ts";
import type { Logger, Registrar, RegistrarCallOptions } from "../types.ts";
import type { ConsulClient } from "./client.ts";
import { joinHostPort } from "./health.ts";
import { type ConsulDefinition, type ConsulServiceRegistration, toDefinition } from "./registration.ts";
import { httpErrorOf } from "./errors.ts";

/** Options for {@linkcode ConsulRegistrar}. */
export interface ConsulRegistrarOptions {
  /**
   * Run the keep-alive: renew TTL checks, or (without one) confirm every `interval` that the agent
   * still has the service, registering again if it lost it. Default: `true`.
   */
  keepAlive?: boolean;
  /**
   * Milliseconds between keep-alive rounds, less up to 10% jitter. Default: a third of the shortest
   * TTL check; 30,000 without one.
   */
  interval?: number;
  /**
   * Pause after a failed round: capped exponential with jitter. Default:
   * `{ initial: 1000, max: <interval>, multiplier: 2 }`, so a TTL is retried within its third.
   */
  backoff?: Partial<BackoffOptions>;
  /** Random source in [0, 1) for the jitter. Default: `Math.random`. */
  random?: () => number;
  /** Receives keep-alive problems. Default: silent. */
  logger?: Logger;
}

/** The agent no longer has the service or check: it restarted, or an operator removed it. */
const LOST = /does not have associated TTL|unknown (check|service)|not found/i;

function isLost(error: unknown): boolean {
  const http = httpErrorOf(error);
  return http !== undefined && (http.status === 404 || LOST.test(http.body));
}

class LostError extends Error {}

interface KeepAlive {
  /** Stops scheduling renewals. */
  halt: AbortController;
  /** Also cancels a renewal in flight. */
  abort: AbortController;
  /** Settles when the loop has ended. */
  done: Promise<void>;
}

/**
 * Registers one service instance with the local Consul agent (`PUT /v1/agent/service/register`) with
 * the checks it needs, and keeps it there: TTL checks are renewed (`PUT /v1/agent/check/pass/<id>`) at
 * a third of their TTL, with jitter; when the agent answers that it lost the check (it restarted, or
 * the service was removed), the registrar registers again and dispatches `reregistered`. Without a
 * TTL check it asks the agent every 30 s whether it still has the service, to the same end. Failed
 * rounds are retried with capped, jittered backoff and dispatched as `error`.
 *
 * `register()` and `deregister()` run one at a time, in call order; both reject on failure and also
 * dispatch `error`. `stop()` halts the keep-alive and leaves the registration, so that TTL checks go
 * critical on their own, as they would for a crashed process too. `await using` deregisters at the end of the scope.
 *
 * Events: `registered`, `reregistered`, `deregistered` ({@linkcode RegistrarEvent}) and `error`
 * ({@linkcode RegistrarErrorEvent}).
 *
 * @example
 * ```ts
 * import { ConsulClient, ConsulRegistrar } from "./mod.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const calls: string[] = [];
 * const client = new ConsulClient({
 *   fetch: (input, init) => {
 *     calls.push(`${init?.method} ${new URL(String(input)).pathname}`);
 *     return Promise.resolve(new Response(null));
 *   },
 * });
 * const registrar = new ConsulRegistrar(client, {
 *   name: "api",
 *   address: "10.0.0.7",
 *   port: 8080,
 *   checks: [{ ttl: 15_000, deregisterCriticalServiceAfter: 60_000 }],
 * });
 * await registrar.register();
 * await registrar.deregister();
 * assertEquals(calls, [
 *   "PUT /v1/agent/service/register",
 *   "PUT /v1/agent/check/pass/service:api-10.0.0.7-8080",
 *   "PUT /v1/agent/service/deregister/api-10.0.0.7-8080",
 * ]);
 * ```
 */
export class ConsulRegistrar extends EventTarget implements Registrar {
  readonly #client: ConsulClient;
  readonly #definition: ConsulDefinition;
  readonly #instance: string;
  readonly #options: ConsulRegistrarOptions;
  readonly #interval: number | undefined;
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;
  #state: "idle" | "registered" = "idle";
  #keepAlive: KeepAlive | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  /** Bumped by stop() and deregister(), so that a register() that started earlier starts no keep-alive. */
  #generation = 0;
  #holdsRegistration = false;

  /**
   * Creates the registrar. Nothing is sent until {@linkcode ConsulRegistrar.register}.
   *
   * @param client The Consul client (its address should be the local agent).
   * @param registration The service instance and its checks.
   * @param options Keep-alive interval, backoff, random source, logger.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(
    client: ConsulClient,
    registration: ConsulServiceRegistration,
    options: ConsulRegistrarOptions = {},
  ) {
    super();
    requireMethod(client, "registerService", "client");
    this.#client = client;
    this.#definition = toDefinition(registration);
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object, got ${String(options)}`);
    }
    const ttls = this.#definition.ttlChecks.map((c) => c.ttl);
    if (options.interval !== undefined) {
      requireNumber(options.interval, "options.interval", { min: 1 });
      if (ttls.length > 0 && options.interval >= Math.min(...ttls)) {
        throw new RangeError(
          `options.interval must be below the shortest TTL (${Math.min(...ttls)}), got ${options.interval}`,
        );
      }
    }
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    this.#interval = options.keepAlive === false
      ? undefined
      : options.interval ?? (ttls.length > 0 ? Math.min(...ttls) / 3 : 30_000);
    this.#backoff = {
      initial: 1000,
      max: Math.max(1, this.#interval ?? 30_000),
      multiplier: 2,
      ...options.backoff,
    };
    requireNumber(this.#backoff.initial, "options.backoff.initial", { min: 1 });
    requireNumber(this.#backoff.max, "options.backoff.max", { min: 1 });
    requireNumber(this.#backoff.multiplier, "options.backoff.multiplier", { min: 1 });
    this.#options = options;
    this.#random = options.random ?? Math.random;
    const { address, port } = registration;
    this.#instance = address !== undefined && port !== undefined
      ? joinHostPort(address, port)
      : this.#definition.id;
  }

  /** The service ID on the agent. */
  get serviceId(): string {
    return this.#definition.id;
  }

  /** `address:port` when both are set, else the service ID; the `instance` of every event. */
  get instance(): string {
    return this.#instance;
  }

  /** Whether the service is registered and kept alive by this registrar. */
  get registered(): boolean {
    return this.#state === "registered";
  }

  /**
   * Registers the service (again, if already registered: the agent replaces it), marks its TTL checks
   * passing, and starts the keep-alive. Dispatches `registered`.
   *
   * @param options A signal; an aborted one rejects without registering.
   * @throws {RegistryUnavailableError | ConsulHttpError} If the agent refuses or cannot be reached (also
   * dispatched as `error`); the keep-alive state is then unchanged.
   */
  register(options: RegistrarCallOptions = {}): Promise<void> {
    requireSignal(options.signal, "options.signal");
    const generation = this.#generation;
    return this.#serial(options.signal, async () => {
      await this.#put(options.signal);
      this.#holdsRegistration = true;
      if (generation === this.#generation) void this.#transition("registered");
      this.dispatchEvent(new RegistrarEvent("registered", this.#instance));
    });
  }

  /**
   * Stops the keep-alive and removes the service from the agent. Dispatches `deregistered`; an agent
   * that did not have the service counts as success.
   *
   * @param options A signal; an aborted one rejects without deregistering.
   * @throws {RegistryUnavailableError | ConsulHttpError} If the agent refuses or cannot be reached (also
   * dispatched as `error`).
   */
  deregister(options: RegistrarCallOptions = {}): Promise<void> {
    requireSignal(options.signal, "options.signal");
    this.#generation++;
    // A renewal in flight is let finish (within the client's timeout) rather than aborted: if it is a
    // re-registration the agent already received, it must not land after the deregistration.
    const draining = this.#transition("idle", true);
    return this.#serial(options.signal, async () => {
      await draining;
      void this.#transition("idle");
      await this.#client.deregisterService(this.#definition.id, this.#signal(options.signal));
      this.#holdsRegistration = false;
      this.dispatchEvent(new RegistrarEvent("deregistered", this.#instance));
    });
  }

  /**
   * Halts the keep-alive, aborting a renewal in flight, and leaves the registration in place; TTL
   * checks then go critical on their own. Idempotent; `register()` may be called again later.
   */
  stop(): void {
    this.#generation++;
    void this.#transition("idle");
  }

  /** Deregisters if this registrar registered the service, else only stops. */
  [Symbol.asyncDispose](): Promise<void> {
    this.stop();
    return this.#holdsRegistration ? this.deregister() : Promise.resolve();
  }

  /** Runs `task` after every earlier register/deregister call; failures reject and are dispatched. */
  #serial(signal: AbortSignal | undefined, task: () => Promise<void>): Promise<void> {
    const run = async () => {
      if (signal?.aborted) throw signal.reason;
      try {
        await task();
      } catch (error) {
        if (!signal?.aborted) this.dispatchEvent(new RegistrarErrorEvent(error, this.#instance));
        throw error;
      }
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => {});
    return result;
  }

  #signal(signal: AbortSignal | undefined): { signal?: AbortSignal } {
    return signal === undefined ? {} : { signal };
  }

  /** Registers and marks every TTL check passing, so the instance is healthy when this resolves. */
  async #put(signal: AbortSignal | undefined): Promise<void> {
    await this.#client.registerService(this.#definition.body, this.#signal(signal));
    for (const check of this.#definition.ttlChecks) {
      await this.#client.passCheck(check.id, this.#signal(signal));
    }
  }

  /**
   * Every state change goes through here, so that the keep-alive runs exactly while registered.
   * Leaving the registered state halts the keep-alive; unless `drain` is set, a renewal in flight is
   * aborted too. Returns when the old keep-alive has finished.
   */
  #transition(next: "idle" | "registered", drain = false): Promise<void> {
    this.#state = next;
    const old = this.#keepAlive;
    this.#keepAlive = undefined;
    if (old !== undefined) {
      old.halt.abort(new DOMException("Keep-alive stopped", "AbortError"));
      if (!drain) old.abort.abort(new DOMException("Keep-alive stopped", "AbortError"));
    }
    if (next === "registered" && this.#interval !== undefined) {
      const halt = new AbortController();
      const abort = new AbortController();
      const done = this.#runKeepAlive(this.#interval, halt.signal, abort.signal);
      this.#keepAlive = { halt, abort, done };
    }
    return old?.done ?? Promise.resolve();
  }

  /** Renews until `halt` aborts; `abort` also cancels a renewal in flight. */
  async #runKeepAlive(interval: number, halt: AbortSignal, abort: AbortSignal): Promise<void> {
    const logger = this.#options.logger;
    let failures = 0;
    for (;;) {
      const wait = failures === 0
        ? interval * (0.9 + 0.1 * this.#random())
        : backoffDelay(failures, this.#backoff, this.#random);
      try {
        await delay(wait, halt);
      } catch {
        return;
      }
      try {
        try {
          await this.#renew(abort);
        } catch (error) {
          if (halt.aborted || !(error instanceof LostError || isLost(error))) throw error;
          logger?.warn("Consul lost the registration; registering again", { serviceId: this.#definition.id });
          await this.#put(abort);
          if (halt.aborted) return;
          this.dispatchEvent(new RegistrarEvent("reregistered", this.#instance));
        }
        failures = 0;
      } catch (error) {
        if (halt.aborted) return;
        failures++;
        logger?.warn("Consul keep-alive failed", { serviceId: this.#definition.id, failures, error });
        this.dispatchEvent(new RegistrarErrorEvent(error, this.#instance));
      }
    }
  }

  async #renew(signal: AbortSignal): Promise<void> {
    const checks = this.#definition.ttlChecks;
    if (checks.length === 0) {
      const service = await this.#client.agentService(this.#definition.id, { signal });
      if (service === undefined) throw new LostError(`Service ${this.#definition.id} is not on the agent`);
      return;
    }
    for (const check of checks) await this.#client.passCheck(check.id, { signal });
  }
}
