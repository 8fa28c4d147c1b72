/**
 * A client for Eureka's REST API over `fetch`, with JSON.
 *
 * @module
 */
import { requireFunction, requireNumber, requireString } from "../_validate.ts";
import { describe, MalformedResponseError } from "../errors.ts";
import type { FetchFunction } from "../http/factory.ts";
import type { Logger } from "../types.ts";
import { basic, parseServer, Transport } from "./_transport.ts";
import { checkMetadata, decodeApplicationAnswer, decodeApplicationsAnswer, decodeInstance } from "./_wire.ts";

/** The statuses Eureka knows; it reports any other as `UNKNOWN`. */
export type EurekaInstanceStatus = "UP" | "DOWN" | "STARTING" | "OUT_OF_SERVICE" | "UNKNOWN";

/** What happened to an instance, in a delta. */
export type EurekaActionType = "ADDED" | "MODIFIED" | "DELETED";

/** One registered instance, decoded (quirks smoothed out; missing fields get the defaults shown). */
export interface EurekaInstance {
  /** Eureka's id for it: `instanceId`, else an Amazon instance's `instance-id`, else the host name. */
  readonly instanceId: string;
  /** The application's name, upper case as Eureka keeps it. */
  readonly app: string;
  /** The host name; `""` when missing. */
  readonly hostName: string;
  /** The IP address; `""` when missing. */
  readonly ipAddr: string;
  /** The status the server reports (its override, if one is set, already applied). */
  readonly status: EurekaInstanceStatus;
  /** The status override set through the status endpoint; `UNKNOWN` when there is none. */
  readonly overriddenStatus: EurekaInstanceStatus;
  /** The plain port, if a valid one was sent. */
  readonly port: number | undefined;
  /** Whether the plain port is enabled (`@enabled`); `true` when not said. */
  readonly portEnabled: boolean;
  /** The secure port, if a valid one was sent. */
  readonly securePort: number | undefined;
  /** Whether the secure port is enabled; `false` when not said. */
  readonly securePortEnabled: boolean;
  /** The VIP address (the logical name clients look up), if any. */
  readonly vipAddress: string | undefined;
  /** The secure VIP address, if any. */
  readonly secureVipAddress: string | undefined;
  /** The instance's metadata (string values only; the codec's `@class` marker removed). */
  readonly metadata: Readonly<Record<string, string>>;
  /** The data-center info: `name` (`MyOwn`, `Amazon`) and, for Amazon, its metadata. */
  readonly dataCenter: { readonly name: string; readonly metadata: Readonly<Record<string, string>> };
  /** In a delta: what happened to the instance. */
  readonly actionType: EurekaActionType | undefined;
  /** When the instance last changed on its own side, in ms since the epoch, if sent. */
  readonly lastDirtyTimestamp: number | undefined;
}

/** One application: a name and its instances, in the server's order. */
export interface EurekaApplication {
  /** The name, upper case. */
  readonly name: string;
  /** Its instances, of every status. */
  readonly instances: readonly EurekaInstance[];
}

/** The answer to a full or delta fetch. */
export interface EurekaApplications {
  /** `apps__hashcode`: the reconcile hash of the server's whole registry (`DOWN_1_UP_2_`). */
  readonly hashCode: string;
  /** `versions__delta`, as sent. */
  readonly versionsDelta: string;
  /** The applications (in a delta: only those with changes). */
  readonly applications: readonly EurekaApplication[];
}

/** Options for {@linkcode EurekaClient}. */
export interface EurekaClientOptions {
  /**
   * Server URLs including the base path: `http://host:8761/eureka` (Spring Cloud) or
   * `http://host:8080/eureka/v2` (Netflix). Tried in turn when one fails, starting with the last one
   * that worked. Credentials in a URL (`http://user:pass@host:8761/eureka`) become basic auth for
   * that server. Required.
   */
  urls: string | readonly string[];
  /** User name for basic auth on servers whose URL has none; with `password`. Default: no auth. */
  username?: string;
  /** Password for `username`. */
  password?: string;
  /** Milliseconds one call may take on one server, body included. Default: 5,000. */
  timeout?: number;
  /** Largest answer accepted, in bytes. Default: 32 MiB. */
  maxResponseBytes?: number;
  /** The fetch to use. Default: the global `fetch`, called unbound. */
  fetch?: FetchFunction;
  /** Receives failovers. Default: silent. */
  logger?: Logger;
}

/** Per-call options. */
export interface EurekaCallOptions {
  /** Aborts the call. */
  signal?: AbortSignal;
}

/**
 * Speaks Eureka's REST API with `fetch` and JSON (`Accept: application/json`): reads of one
 * application, the whole registry and its delta, and the registration calls (register, renew,
 * deregister, status override, metadata). It smooths out the JSON quirks Eureka inherited from XML
 * (one item as an object, several as an array; `port` as a number or `{"$": ...}`; `@enabled` as a
 * string or a boolean; missing fields), fails over between servers, and bounds every call with a
 * timeout (body included) and a size cap. A 404 is an answer for the calls that can be about
 * something absent (an application without instances, an unknown instance); elsewhere it is a
 * {@linkcode RegistryRejectedError}.
 *
 * @example
 * ```ts
 * import { EurekaClient } from "./client.ts";
 * import { assertEquals } from "@std/assert";
 *
 * // A stand-in server so the example runs offline: one instance, sent the XML-born way.
 * const fakeEureka = (input: Request | URL | string) => {
 *   assertEquals(new URL(new Request(input).url).pathname, "/eureka/apps/USERS");
 *   return Promise.resolve(Response.json({
 *     application: {
 *       name: "USERS",
 *       instance: { instanceId: "a", app: "USERS", ipAddr: "10.0.0.1", status: "UP", port: { $: 8080, "@enabled": "true" } },
 *     },
 *   }));
 * };
 * const client = new EurekaClient({ urls: "http://127.0.0.1:8761/eureka", fetch: fakeEureka });
 * const app = await client.getApplication("USERS");
 * assertEquals(app?.instances[0]?.port, 8080);
 * ```
 */
export class EurekaClient {
  readonly #transport: Transport;

  /**
   * Creates a client. No request is made until the first call.
   *
   * @param options Servers, credentials, limits and injectables.
   * @throws {TypeError | RangeError} If an option is invalid.
   */
  constructor(options: EurekaClientOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object with urls, got ${describe(options)}`);
    }
    const urls = typeof options.urls === "string" ? [options.urls] : options.urls;
    if (!Array.isArray(urls) || urls.length === 0) {
      throw new TypeError(`options.urls must be a URL or a non-empty array of URLs, got ${describe(urls)}`);
    }
    if ((options.username === undefined) !== (options.password === undefined)) {
      throw new TypeError("options.username and options.password go together");
    }
    if (options.username !== undefined) requireString(options.username, "options.username");
    if (options.password !== undefined && typeof options.password !== "string") {
      throw new TypeError(`options.password must be a string, got a ${typeof options.password}`);
    }
    const fallback = options.username === undefined ? undefined : basic(options.username, options.password!);
    const servers = urls.map((u: unknown, i: number) => parseServer(u, `options.urls[${i}]`, fallback));
    const timeout = requireNumber(options.timeout ?? 5000, "options.timeout", { min: 1 });
    const maxBytes = requireNumber(options.maxResponseBytes ?? 32 << 20, "options.maxResponseBytes", {
      min: 64,
      integer: true,
    });
    if (options.fetch !== undefined) requireFunction(options.fetch, "options.fetch");
    // Unbound on purpose: workerd throws "Illegal invocation" for a stored fetch called as a method.
    const fetchImpl: FetchFunction = options.fetch ?? ((input, init) => fetch(input, init));
    this.#transport = new Transport(servers, timeout, maxBytes, fetchImpl, options.logger);
  }

  /** The server base URLs, in the order given, without credentials. */
  get urls(): readonly string[] {
    return this.#transport.urls;
  }

  /**
   * Reads one application (`GET /apps/{APP}`).
   *
   * @param app The application's name (Eureka ignores its case).
   * @param options A signal.
   * @returns The application, or `undefined` when the server knows no instance of it (a 404). A
   *   wrong base path also gets a 404 from Spring's server, so the first 404 from a server that has
   *   not answered anything else yet is checked with `GET /apps/delta`: a 404 there too is a
   *   {@linkcode RegistryRejectedError}.
   * @throws {RegistryUnavailableError | RegistryRejectedError | MalformedResponseError}
   */
  async getApplication(app: string, options: EurekaCallOptions = {}): Promise<EurekaApplication | undefined> {
    const answer = await this.#transport.call("GET", `/apps/${segment(app, "app")}`, options, [404]);
    if (answer.status !== 404) return decodeApplicationAnswer(parse(answer.text, "/apps/{app}"));
    await this.#transport.verify(answer.server, options);
    return undefined;
  }

  /**
   * Reads the whole registry (`GET /apps`).
   *
   * @param options A signal.
   * @returns Every application with its instances, and the registry's hash code.
   * @throws {RegistryUnavailableError | RegistryRejectedError | MalformedResponseError}
   */
  async getApplications(options: EurekaCallOptions = {}): Promise<EurekaApplications> {
    const answer = await this.#transport.call("GET", "/apps", options);
    return decodeApplicationsAnswer(parse(answer.text, "/apps"));
  }

  /**
   * Reads the recent changes (`GET /apps/delta`): the instances added, modified or deleted in the
   * last few minutes (about 3 by default, server side), each with its `actionType`, and the hash code
   * of the server's whole registry to check the result against.
   *
   * @param options A signal.
   * @returns The changed instances, grouped by application, and the registry's hash code.
   * @throws {RegistryUnavailableError | RegistryRejectedError | MalformedResponseError}
   */
  async getDelta(options: EurekaCallOptions = {}): Promise<EurekaApplications> {
    const answer = await this.#transport.call("GET", "/apps/delta", options);
    return decodeApplicationsAnswer(parse(answer.text, "/apps/delta"));
  }

  /**
   * Reads one instance (`GET /apps/{APP}/{ID}`).
   *
   * @param app The application's name.
   * @param id The instance id.
   * @param options A signal.
   * @returns The instance, or `undefined` when it is not registered (a 404).
   * @throws {RegistryUnavailableError | RegistryRejectedError | MalformedResponseError}
   */
  async getInstance(
    app: string,
    id: string,
    options: EurekaCallOptions = {},
  ): Promise<EurekaInstance | undefined> {
    const answer = await this.#transport.call("GET", instancePath(app, id), options, [404]);
    if (answer.status === 404) {
      await this.#transport.verify(answer.server, options);
      return undefined;
    }
    const body = parse(answer.text, "/apps/{app}/{id}");
    const instance = typeof body === "object" && body !== null
      ? (body as Record<string, unknown>)["instance"]
      : undefined;
    return decodeInstance(instance, app.toUpperCase(), "instance");
  }

  /**
   * Registers an instance (`POST /apps/{APP}` with `{"instance": ...}`; Eureka answers 204).
   * {@linkcode EurekaRegistrar} builds the body and keeps the registration alive.
   *
   * @param app The application's name.
   * @param instance The `instance` object of the registration JSON.
   * @param options A signal.
   * @throws {RegistryUnavailableError | RegistryRejectedError}
   */
  async register(
    app: string,
    instance: Readonly<Record<string, unknown>>,
    options: EurekaCallOptions = {},
  ): Promise<void> {
    if (typeof instance !== "object" || instance === null) {
      throw new TypeError(`instance must be an object, got ${describe(instance)}`);
    }
    await this.#transport.call(
      "POST",
      `/apps/${segment(app, "app")}`,
      options,
      [],
      JSON.stringify({ instance }),
    );
  }

  /**
   * Renews an instance's lease: the heartbeat (`PUT /apps/{APP}/{ID}`).
   *
   * @param app The application's name.
   * @param id The instance id.
   * @param options A signal.
   * @returns `false` when the server does not know the instance (a 404: register it again).
   * @throws {RegistryUnavailableError | RegistryRejectedError}
   */
  async renew(app: string, id: string, options: EurekaCallOptions = {}): Promise<boolean> {
    return (await this.#transport.call("PUT", instancePath(app, id), options, [404])).status !== 404;
  }

  /**
   * Removes an instance (`DELETE /apps/{APP}/{ID}`).
   *
   * @param app The application's name.
   * @param id The instance id.
   * @param options A signal.
   * @returns `false` when the server did not know the instance (a 404).
   * @throws {RegistryUnavailableError | RegistryRejectedError}
   */
  async deregister(app: string, id: string, options: EurekaCallOptions = {}): Promise<boolean> {
    return (await this.#transport.call("DELETE", instancePath(app, id), options, [404])).status !== 404;
  }

  /**
   * Sets a status override (`PUT /apps/{APP}/{ID}/status?value=...`), for example `OUT_OF_SERVICE`
   * to take an instance out of rotation. It survives heartbeats until removed.
   *
   * @param app The application's name.
   * @param id The instance id.
   * @param status The status to force.
   * @param options A signal.
   * @throws {RegistryUnavailableError | RegistryRejectedError} A 404 when the instance is unknown.
   */
  async setStatus(
    app: string,
    id: string,
    status: EurekaInstanceStatus,
    options: EurekaCallOptions = {},
  ): Promise<void> {
    await this.#transport.call(
      "PUT",
      `${instancePath(app, id)}/status?value=${statusValue(status)}`,
      options,
    );
  }

  /**
   * Removes the status override (`DELETE /apps/{APP}/{ID}/status?value=...`) and sets the status to
   * `status` (Eureka changes it only if an override was set).
   *
   * @param app The application's name.
   * @param id The instance id.
   * @param status The status to return to. Default: `UP`.
   * @param options A signal.
   * @throws {RegistryUnavailableError | RegistryRejectedError} A 404 when the instance is unknown.
   */
  async removeStatusOverride(
    app: string,
    id: string,
    status: EurekaInstanceStatus = "UP",
    options: EurekaCallOptions = {},
  ): Promise<void> {
    await this.#transport.call(
      "DELETE",
      `${instancePath(app, id)}/status?value=${statusValue(status)}`,
      options,
    );
  }

  /**
   * Adds or replaces metadata entries (`PUT /apps/{APP}/{ID}/metadata?key=value...`); other entries
   * stay.
   *
   * @param app The application's name.
   * @param id The instance id.
   * @param metadata The entries to set.
   * @param options A signal.
   * @throws {RegistryUnavailableError | RegistryRejectedError} A 404 when the instance is unknown.
   */
  async updateMetadata(
    app: string,
    id: string,
    metadata: Readonly<Record<string, string>>,
    options: EurekaCallOptions = {},
  ): Promise<void> {
    const query = new URLSearchParams(checkMetadata(metadata, "metadata")).toString();
    if (query === "") return;
    await this.#transport.call("PUT", `${instancePath(app, id)}/metadata?${query}`, options);
  }
}

/** A path segment: percent-encoded, except `:` and `@`, which Eureka's ids use and paths allow. */
function segment(value: unknown, name: string): string {
  return encodeURIComponent(requireString(value, name)).replace(/%3A/gi, ":").replace(/%40/g, "@");
}

function instancePath(app: string, id: string): string {
  return `/apps/${segment(app, "app")}/${segment(id, "id")}`;
}

const STATUS_VALUES: ReadonlySet<string> = new Set(["UP", "DOWN", "STARTING", "OUT_OF_SERVICE", "UNKNOWN"]);

function statusValue(status: unknown): string {
  if (typeof status !== "string" || !STATUS_VALUES.has(status)) {
    throw new TypeError(
      `status must be one of ${[...STATUS_VALUES].join(", ")}, got ${describe(status)}`,
    );
  }
  return status;
}

function parse(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new MalformedResponseError(
      `Eureka answered ${path} with invalid JSON: ${describe(text.slice(0, 80))}`,
    );
  }
}
