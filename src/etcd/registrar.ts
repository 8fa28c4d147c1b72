/**
 * Registration in etcd under a lease that is kept alive.
 *
 * @module
 */
import type { BackoffOptions } from "../_async.ts";
import { KeepAlive } from "../_keep_alive.ts";
import { requireFunction, requireMethod, requireNumber, requireSignal, requireString } from "../_validate.ts";
import { describe, StoppedError } from "../errors.ts";
import { RegistrarErrorEvent, RegistrarEvent } from "../registrar.ts";
import type { Logger, Registrar, RegistrarCallOptions } from "../types.ts";
import type { EtcdClient } from "./client.ts";

/** Options for {@linkcode EtcdRegistrar}. */
export interface EtcdRegistrarOptions {
  /** The key to write, e.g. `/services/api/10.0.0.1:8080`. Required. */
  key: string;
  /** The value to write: the instance string, e.g. `10.0.0.1:8080`. Required. */
  value: string;
  /** The lease's time to live in whole seconds. Default: 10. */
  ttl?: number;
  /** Milliseconds between keep-alives, jittered by up to -10%. Default: a third of the TTL. */
  keepAliveInterval?: number;
  /** Pause before retrying a failed keep-alive or re-registration. Default: `{ initial: 500, max: ttl/3, multiplier: 2 }`. */
  backoff?: Partial<BackoffOptions>;
  /** Random source in [0, 1) for jitter. Default: `Math.random`. */
  random?: () => number;
  /** Receives keep-alive problems. Default: silent. */
  logger?: Logger;
}

type State = "idle" | "registering" | "registered" | "stopped";

/**
 * Writes one key under a lease and keeps the lease alive (go-kit `etcdv3` Registrar, fixed): a
 * keep-alive runs well inside the TTL; when the lease is gone (it expired during an outage longer than
 * the TTL, or was revoked) the registrar grants a new one and writes the key again, dispatching
 * `reregistered` (go-kit stopped there, #1043). `deregister()` deletes the key and revokes the lease;
 * `stop()` only stops the keep-alive, so the key vanishes when the lease expires, as it would for a
 * crashed process too. Failures reject the call and are dispatched as `error` events; the keep-alive retries with
 * capped, jittered backoff.
 *
 * @example
 * ```ts
 * import { EtcdClient } from "./client.ts";
 * import { EtcdRegistrar } from "./registrar.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const calls: string[] = [];
 * const fakeEtcd = (input: Request | URL | string) => {
 *   const path = new URL(new Request(input).url).pathname;
 *   calls.push(path);
 *   const body = path === "/v3/lease/grant" ? { header: {}, ID: "7587869127315596296", TTL: "10" } : { header: {} };
 *   return Promise.resolve(Response.json(body));
 * };
 * const client = new EtcdClient({ endpoints: ["http://127.0.0.1:2379"], fetch: fakeEtcd });
 * const registrar = new EtcdRegistrar(client, { key: "/services/api/a", value: "10.0.0.1:8080" });
 * await registrar.register();
 * await registrar.deregister();
 * assertEquals(calls, ["/v3/lease/grant", "/v3/kv/put", "/v3/kv/deleterange", "/v3/lease/revoke"]);
 * ```
 */
export class EtcdRegistrar extends EventTarget implements Registrar {
  readonly #client: EtcdClient;
  readonly #key: string;
  readonly #value: string;
  readonly #ttl: number;
  readonly #interval: number;
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;
  readonly #logger: Logger | undefined;
  #state: State = "idle";
  #lease: string | undefined;
  /** Aborts the register() attempt in flight when something overtakes it. */
  #attempt: AbortController | undefined;
  readonly #keepAlive: KeepAlive;

  /**
   * Creates the registrar; nothing is written until {@linkcode EtcdRegistrar.register}.
   *
   * @param client The etcd client (may be shared with instancers).
   * @param options Key, value, TTL, keep-alive and backoff.
   * @throws {TypeError | RangeError} If an option is invalid.
   */
  constructor(client: EtcdClient, options: EtcdRegistrarOptions) {
    super();
    requireMethod(client, "grant", "client");
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object with key and value, got ${describe(options)}`);
    }
    this.#client = client;
    this.#key = requireString(options.key, "options.key");
    this.#value = requireString(options.value, "options.value");
    this.#ttl = requireNumber(options.ttl ?? 10, "options.ttl", { min: 1, integer: true });
    this.#interval = requireNumber(
      options.keepAliveInterval ?? (this.#ttl * 1000) / 3,
      "options.keepAliveInterval",
      {
        min: 1,
      },
    );
    if (this.#interval >= this.#ttl * 1000) {
      throw new RangeError(
        `options.keepAliveInterval must be below the TTL (${this.#ttl * 1000} ms), got ${this.#interval}`,
      );
    }
    this.#backoff = {
      initial: 500,
      max: Math.max(500, (this.#ttl * 1000) / 3),
      multiplier: 2,
      ...options.backoff,
    };
    requireNumber(this.#backoff.initial, "options.backoff.initial", { min: 1 });
    requireNumber(this.#backoff.max, "options.backoff.max", { min: 1 });
    requireNumber(this.#backoff.multiplier, "options.backoff.multiplier", { min: 1 });
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger;
    this.#keepAlive = new KeepAlive({
      interval: this.#interval,
      backoff: this.#backoff,
      random: this.#random,
      beat: (signal) => this.#beat(signal),
      onFailure: (error) => {
        this.#logger?.warn("etcd keep-alive failed; retrying", { key: this.#key, error: describe(error) });
        this.dispatchEvent(new RegistrarErrorEvent(error, this.#value));
      },
    });
  }

  /** The key this registrar writes. */
  get key(): string {
    return this.#key;
  }

  /** The current lease ID, while registered. */
  get lease(): string | undefined {
    return this.#lease;
  }

  /** Whether the key is written and kept alive by this registrar. */
  get registered(): boolean {
    return this.#state === "registered";
  }

  /**
   * Grants a lease, writes the key under it and starts the keep-alive. Calling it while registered
   * writes the key again under a fresh lease.
   *
   * @param options A signal.
   * @throws {RegistryUnavailableError | RegistryRejectedError | MalformedResponseError} Also dispatched
   *   as an `error` event; the registrar is then idle.
   * @throws {StoppedError} If `stop()`, `deregister()` or another `register()` ran before it finished.
   */
  async register(options: RegistrarCallOptions = {}): Promise<void> {
    requireSignal(options.signal, "options.signal");
    if (options.signal?.aborted) throw options.signal.reason;
    const previous = this.#lease;
    this.#transition("registering");
    // stop(), deregister() and another register() abort this attempt (#transition aborts #attempt).
    const attempt = new AbortController();
    this.#attempt = attempt;
    const signal = options.signal === undefined
      ? attempt.signal
      : AbortSignal.any([options.signal, attempt.signal]);
    let id: string;
    try {
      id = await this.#put(signal);
    } catch (error) {
      if (this.#attempt !== attempt) throw new StoppedError("EtcdRegistrar registration");
      this.#attempt = undefined;
      this.#transition("idle");
      this.dispatchEvent(new RegistrarErrorEvent(error, this.#value));
      throw error;
    }
    if (this.#attempt !== attempt) {
      await this.#superseded(id);
      throw new StoppedError("EtcdRegistrar registration");
    }
    this.#attempt = undefined;
    this.#lease = id;
    if (previous !== undefined && previous !== this.#lease) {
      this.#client.revoke(previous).catch(() => {}); // the old lease would expire anyway
    }
    this.#transition("registered");
    this.dispatchEvent(new RegistrarEvent("registered", this.#value));
  }

  /**
   * Stops the keep-alive, deletes the key and revokes the lease.
   *
   * @param options A signal.
   * @throws {RegistryUnavailableError | RegistryRejectedError} Also dispatched as an `error` event.
   */
  async deregister(options: RegistrarCallOptions = {}): Promise<void> {
    requireSignal(options.signal, "options.signal");
    if (options.signal?.aborted) throw options.signal.reason;
    const lease = this.#lease;
    const was = this.#state;
    this.#transition("idle");
    this.#lease = undefined;
    try {
      const signal = options.signal;
      await this.#client.delete(this.#key, signal === undefined ? {} : { signal });
      if (lease !== undefined) await this.#client.revoke(lease, signal === undefined ? {} : { signal });
    } catch (error) {
      this.dispatchEvent(new RegistrarErrorEvent(error, this.#value));
      throw error;
    }
    if (was === "registered") this.dispatchEvent(new RegistrarEvent("deregistered", this.#value));
  }

  /**
   * Stops the keep-alive and leaves the key; it disappears when the lease expires. Idempotent.
   */
  stop(): void {
    this.#transition("stopped");
  }

  /** Deregisters. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.deregister();
  }

  /**
   * Grants a lease and writes the key under it; returns the lease ID. The caller records it only once
   * the key is written, so a failed put leaves the old (lost) lease on record and the next keep-alive
   * tries again, instead of keeping alive a lease with no key.
   */
  async #put(signal: AbortSignal): Promise<string> {
    const { id } = await this.#client.grant(this.#ttl, { signal });
    try {
      await this.#client.put(this.#key, this.#value, { signal, lease: id });
    } catch (error) {
      if (signal.aborted) await this.#superseded(id); // the put may have landed all the same
      throw error;
    }
    return id;
  }

  /**
   * Cleans up after a write that stop(), deregister() or register() overtook: the lease goes (and the
   * key with it) unless the registrar was stopped, which leaves the key to expire with its lease.
   */
  async #superseded(id: string): Promise<void> {
    if (this.#state !== "stopped") await this.#client.revoke(id).catch(() => {});
  }

  // Every state change goes through here, so the keep-alive always matches the state.
  #transition(next: State): void {
    this.#state = next;
    const stopped = new StoppedError("EtcdRegistrar keep-alive");
    this.#attempt?.abort(stopped);
    this.#attempt = undefined;
    this.#keepAlive.stop(stopped);
    if (next === "registered") this.#keepAlive.start();
  }

  /** One keep-alive: renew the lease; if it is gone, grant a new one and write the key again. */
  async #beat(signal: AbortSignal): Promise<void> {
    const ttl = await this.#client.keepAlive(this.#lease!, { signal });
    if (ttl > 0) return;
    // The lease is gone: it expired while we could not reach etcd, or was revoked.
    this.#logger?.warn("etcd lease lost; registering again", { key: this.#key, lease: this.#lease });
    const id = await this.#put(signal);
    if (signal.aborted) return await this.#superseded(id);
    this.#lease = id;
    this.dispatchEvent(new RegistrarEvent("reregistered", this.#value));
  }
}
