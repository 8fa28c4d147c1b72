/**
 * The contracts every layer speaks: instances and their details, discovery events, endpoints,
 * factories, instancers, endpointers, registrars and loggers.
 *
 * @module
 */

/** Health as reported by a registry, normalised across backends. */
export type HealthStatus = "passing" | "warning" | "critical" | "unknown";

/**
 * Optional facts about one instance that ride along with its string, for balancers and factories.
 * Objects delivered by the library are frozen and shared between subscribers.
 */
export interface InstanceDetails {
  /** Relative weight for weighted balancers; a non-negative finite number. */
  readonly weight?: number;
  /** Priority tier (lower is preferred), as in DNS SRV. */
  readonly priority?: number;
  /** Tags attached in the registry. */
  readonly tags?: readonly string[];
  /** Free-form metadata attached in the registry. */
  readonly meta?: Readonly<Record<string, string>>;
  /** Zone or datacenter the instance runs in. */
  readonly zone?: string;
  /** Health status reported by the registry. */
  readonly status?: HealthStatus;
  /** The registry's own identifier for this registration. */
  readonly id?: string;
}

/**
 * A complete, sorted set of instances. `instances` is the listener's own array; `details` maps an
 * instance string to its frozen details, and lacks entries for instances that have none. The details
 * map is shared by all listeners and read-only: `set`, `delete` and `clear` throw a TypeError.
 */
export interface InstancesEvent {
  /** Sorted, unique instance strings (normally `host:port`, IPv6 as `[addr]:port`). */
  readonly instances: string[];
  /** Details per instance string. */
  readonly details: ReadonlyMap<string, InstanceDetails>;
  /** Never set on an instances event. */
  readonly error?: undefined;
}

/** A discovery failure. Listeners keep their last good state; a later instances event follows recovery. */
export interface FailureEvent {
  /** What went wrong. */
  readonly error: Error;
  /** Never set on a failure event. */
  readonly instances?: undefined;
  /** Never set on a failure event. */
  readonly details?: undefined;
}

/** What an {@linkcode Instancer} delivers: a complete set of instances, or an error. Never a diff. */
export type DiscoveryEvent = InstancesEvent | FailureEvent;

/** Receives discovery events. A returned promise delays this listener's next event, no one else's. */
export type DiscoveryListener = (event: DiscoveryEvent) => void | Promise<void>;

/** Options for {@linkcode Instancer.subscribe}. */
export interface SubscribeOptions {
  /** Aborting it unsubscribes the listener. */
  signal?: AbortSignal;
}

/** A live subscription; unsubscribing twice is harmless. */
export interface Subscription extends Disposable {
  /** Stops delivery to this listener. */
  unsubscribe(): void;
}

/**
 * Publishes the instances of one service. `subscribe` delivers the current state first
 * (asynchronously), then every change; identical consecutive states are not re-sent.
 */
export interface Instancer extends AsyncIterable<DiscoveryEvent>, Disposable {
  /**
   * Adds a listener.
   *
   * @param listener Called with the current state, then with every change.
   * @param options An optional signal that unsubscribes when aborted.
   * @returns The subscription.
   */
  subscribe(listener: DiscoveryListener, options?: SubscribeOptions): Subscription;
  /** Stops the discovery loop. Idempotent. */
  stop(): void;
}

/** Per-call options of an {@linkcode Endpoint}. */
export interface EndpointOptions {
  /** Aborts the call. */
  signal?: AbortSignal;
}

/** One remote operation on one instance. */
export type Endpoint<Req = unknown, Res = unknown> = (
  request: Req,
  options?: EndpointOptions,
) => Promise<Res>;

/** What a {@linkcode Factory} returns for one instance. */
export interface FactoryResult<Req = unknown, Res = unknown> {
  /** The endpoint that talks to the instance. */
  endpoint: Endpoint<Req, Res>;
  /** Releases what the endpoint holds; runs when the instance disappears or the endpointer closes. */
  close?: () => void | Promise<void>;
}

/**
 * Turns one instance into an endpoint. Called once per new instance; a throw skips the instance until
 * the next update that still lists it.
 */
export type Factory<Req = unknown, Res = unknown> = (
  instance: string,
  details: InstanceDetails,
) => FactoryResult<Req, Res>;

/** Supplies the current endpoints of a service. */
export interface Endpointer<Req = unknown, Res = unknown> {
  /**
   * Returns the current endpoints, sorted by instance. Callers must not mutate the array.
   *
   * @throws The discovery error, once an invalidate-after timeout has passed.
   */
  endpoints(): readonly Endpoint<Req, Res>[];
}

/** Options for {@linkcode Registrar} calls. */
export interface RegistrarCallOptions {
  /** Aborts the call. */
  signal?: AbortSignal;
}

/**
 * Registers one instance in a registry and keeps it alive until deregistered or stopped. Failures
 * reject the returned promises and are also dispatched as `error` events.
 */
export interface Registrar extends EventTarget, AsyncDisposable {
  /** Registers the instance and starts the keep-alive. */
  register(options?: RegistrarCallOptions): Promise<void>;
  /** Stops the keep-alive and removes the instance. */
  deregister(options?: RegistrarCallOptions): Promise<void>;
  /**
   * Stops the keep-alive without removing the instance; the registry forgets it when its TTL, lease or
   * session runs out. Idempotent.
   */
  stop(): void;
}

/**
 * Receives the library's diagnostics. Silent unless one is given; `console` fits as it is.
 */
export interface Logger {
  /** Detailed progress. */
  debug(message: string, data?: Record<string, unknown>): void;
  /** Notable events. */
  info(message: string, data?: Record<string, unknown>): void;
  /** Recoverable problems. */
  warn(message: string, data?: Record<string, unknown>): void;
  /** Failures. */
  error(message: string, data?: Record<string, unknown>): void;
}
