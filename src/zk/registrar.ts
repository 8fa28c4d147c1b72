/**
 * Registration as a protected ephemeral sequential node that lives as long as the session.
 *
 * @module
 */
import { backoffDelay, type BackoffOptions, delay } from "../_async.ts";
import { requireFunction, requireMethod, requireSignal, requireString } from "../_validate.ts";
import { backoffOptions } from "../background_instancer.ts";
import { describe, StoppedError } from "../errors.ts";
import { RegistrarErrorEvent, RegistrarEvent } from "../registrar.ts";
import type { Logger, Registrar, RegistrarCallOptions } from "../types.ts";
import type { ZkAcl, ZkClient } from "./client.ts";
import { isZkError } from "./errors.ts";
import { validatePath } from "./_util.ts";

/** Options for {@linkcode ZkRegistrar}. */
export interface ZkRegistrarOptions {
  /** The service node the instance goes under, e.g. `/services/api`. Required. */
  path: string;
  /** The node's data: the instance string, e.g. `10.0.0.1:8080`. Required. */
  instance: string;
  /** Create the service node and its parents when missing. Default: true. */
  createParents?: boolean;
  /** ACL of the nodes created. Default: the client's. */
  acl?: readonly ZkAcl[];
  /** Pause between attempts to re-register after expiry. Default: `{ initial: 100, max: 5000, multiplier: 2 }`. */
  backoff?: Partial<BackoffOptions>;
  /** Random source in [0, 1) for jitter. Default: `Math.random`. */
  random?: () => number;
  /** Receives re-registrations and failures. Default: silent. */
  logger?: Logger;
}

type State = "idle" | "registering" | "registered" | "stopped";

/**
 * Registers one instance as a protected ephemeral sequential node `<path>/_c_<guid>-<seq>` whose data
 * is the instance string. The node lives as long as the client's session, so a crashed process
 * disappears once its session times out. `deregister()` deletes exactly that node (go-kit deleted the
 * service node instead, which fails while it has children, #628); after a session expiry the node is
 * created again and `reregistered` is dispatched.
 *
 * @example
 * ```ts ignore
 * import { ZkClient, ZkRegistrar } from "./mod.ts";
 *
 * await using client = new ZkClient("127.0.0.1:2181");
 * const registrar = new ZkRegistrar(client, { path: "/services/api", instance: "10.0.0.1:8080" });
 * await registrar.register();
 * // registrar.node is "/services/api/_c_<guid>-0000000000"
 * await registrar.deregister();
 * ```
 */
export class ZkRegistrar extends EventTarget implements Registrar {
  readonly #client: ZkClient;
  readonly #path: string;
  readonly #instance: string;
  readonly #options: ZkRegistrarOptions;
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;
  #state: State = "idle";
  #node: string | undefined;
  #attempt: AbortController | undefined;
  readonly #onExpired = () => void this.#recreate();

  /**
   * Creates the registrar; nothing is written until {@linkcode ZkRegistrar.register}.
   *
   * @param client The client whose session carries the node.
   * @param options Path, instance, parents, ACL.
   * @throws {TypeError} If an option is invalid.
   */
  constructor(client: ZkClient, options: ZkRegistrarOptions) {
    super();
    requireMethod(client, "create", "client");
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object with path and instance, got ${describe(options)}`);
    }
    validatePath(options.path, false);
    this.#client = client;
    this.#path = options.path;
    this.#instance = requireString(options.instance, "options.instance");
    this.#options = options;
    this.#backoff = backoffOptions(options.backoff, { initial: 100, max: 5_000, multiplier: 2 });
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    this.#random = options.random ?? Math.random;
  }

  /** The node this registrar created, while registered. */
  get node(): string | undefined {
    return this.#node;
  }

  /** Whether the node exists (as far as this registrar knows). */
  get registered(): boolean {
    return this.#state === "registered";
  }

  /**
   * Creates the node (and the service path if allowed) and starts following session expiry. Calling it
   * while registered deletes the old node after creating the new one.
   *
   * @param options A signal.
   * @throws {ZkError} Also dispatched as an `error` event.
   * @throws {StoppedError} If `stop()` or `deregister()` ran before it finished.
   */
  async register(options: RegistrarCallOptions = {}): Promise<void> {
    requireSignal(options.signal, "options.signal");
    options.signal?.throwIfAborted();
    if (this.#state === "stopped") throw new StoppedError("ZkRegistrar");
    const previous = this.#node;
    this.#attempt?.abort(new StoppedError("ZkRegistrar registration"));
    const attempt = new AbortController();
    this.#attempt = attempt;
    this.#state = "registering";
    const signal = options.signal ? AbortSignal.any([options.signal, attempt.signal]) : attempt.signal;
    let node: string;
    try {
      node = await this.#create(signal);
    } catch (error) {
      if (this.#attempt !== attempt) throw new StoppedError("ZkRegistrar registration");
      this.#attempt = undefined;
      this.#state = previous === undefined ? "idle" : "registered";
      this.dispatchEvent(new RegistrarErrorEvent(error, this.#instance));
      throw error;
    }
    if (this.#attempt !== attempt) {
      await this.#client.delete(node).catch(() => {});
      throw new StoppedError("ZkRegistrar registration");
    }
    this.#attempt = undefined;
    this.#node = node;
    this.#state = "registered";
    this.#client.addEventListener("expired", this.#onExpired);
    if (previous !== undefined && previous !== node) await this.#client.delete(previous).catch(() => {});
    this.dispatchEvent(new RegistrarEvent("registered", this.#instance));
  }

  /**
   * Deletes the node this registrar created. A node already gone counts as deleted.
   *
   * @param options A signal.
   * @throws {ZkError} Also dispatched as an `error` event.
   */
  async deregister(options: RegistrarCallOptions = {}): Promise<void> {
    requireSignal(options.signal, "options.signal");
    options.signal?.throwIfAborted();
    const node = this.#node;
    const was = this.#state;
    this.#halt(was === "stopped" ? "stopped" : "idle");
    if (node === undefined) return;
    try {
      await this.#client.delete(node, options.signal ? { signal: options.signal } : {});
    } catch (error) {
      if (!isZkError(error, "NONODE")) {
        this.#node = node; // still there: a later deregister() may try again
        this.dispatchEvent(new RegistrarErrorEvent(error, this.#instance));
        throw error;
      }
    }
    if (was === "registered") this.dispatchEvent(new RegistrarEvent("deregistered", this.#instance));
  }

  /** Stops following the session; the node stays until the session ends. Idempotent. */
  stop(): void {
    this.#halt("stopped");
    this.#node = undefined;
  }

  /** Deregisters. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.deregister();
  }

  #halt(next: State): void {
    this.#state = next;
    this.#attempt?.abort(new StoppedError("ZkRegistrar"));
    this.#attempt = undefined;
    this.#node = undefined;
    this.#client.removeEventListener("expired", this.#onExpired);
  }

  async #create(signal: AbortSignal): Promise<string> {
    if (this.#options.createParents ?? true) {
      await this.#client.ensurePath(
        this.#path,
        this.#options.acl ? { signal, acl: this.#options.acl } : { signal },
      );
    }
    return await this.#client.create(`${this.#path}/`, this.#instance, {
      mode: "ephemeral-sequential",
      protected: true,
      signal,
      ...(this.#options.acl ? { acl: this.#options.acl } : {}),
    });
  }

  /** The session expired and took the node along: create it again on the new session, until it works. */
  async #recreate(): Promise<void> {
    if (this.#state !== "registered") return;
    const attempt = new AbortController();
    this.#attempt = attempt;
    this.#node = undefined;
    for (let failures = 0; this.#attempt === attempt; failures++) {
      try {
        const node = await this.#create(attempt.signal);
        if (this.#attempt !== attempt) return void this.#client.delete(node).catch(() => {});
        this.#attempt = undefined;
        this.#node = node;
        this.#options.logger?.info("ZooKeeper session expired; registered again", { node });
        this.dispatchEvent(new RegistrarEvent("reregistered", this.#instance));
        return;
      } catch (error) {
        if (this.#attempt !== attempt) return;
        this.dispatchEvent(new RegistrarErrorEvent(error, this.#instance));
        await delay(backoffDelay(failures + 1, this.#backoff, this.#random), attempt.signal).catch(() => {});
      }
    }
  }
}
