/**
 * A status route: what discovery knows about each service a gateway forwards to.
 *
 * @module
 */
import type { Env, MiddlewareHandler } from "hono";
import { describe, isSdError } from "../errors.ts";
import type { PullStatus } from "../pull_instancer.ts";
import type { InstanceDetails } from "../types.ts";

/** What the status route reads about one service (a `DefaultEndpointer`, and its `PullInstancer`). */
export interface StatusSource {
  /** The endpointer: its entries and its current discovery error. */
  readonly endpointer: {
    entries(): readonly { readonly instance: string; readonly details: InstanceDetails }[];
    readonly error: Error | undefined;
  };
  /** In pull mode, the instancer, for its refresh figures. */
  readonly pull?: { readonly status: PullStatus };
}

/** Options for {@linkcode statusHandler}. */
export interface StatusHandlerOptions {
  /**
   * List the instances (addresses and details) and the error messages, which name internal hosts.
   * Default: `false`: only counts, error codes and refresh figures.
   */
  expose?: boolean;
}

/** One service in the status body. */
export interface ServiceStatus {
  /** How many instances the gateway can forward to. */
  readonly count: number;
  /** The instances and their details, with `expose` only. */
  readonly instances?: readonly ({ readonly instance: string } & InstanceDetails)[];
  /** The last discovery error (its code; with `expose`, also its message), or `null`. */
  readonly error: { readonly code: string; readonly message?: string } | null;
  /** `PullInstancer.status` in pull mode (the last error as above). */
  readonly pull?: Omit<PullStatus, "lastError"> & { readonly lastError: ServiceStatus["error"] };
}

/**
 * Returns a handler that answers `{"services": {name: ServiceStatus}}` for the given services: the
 * instance count, the last discovery error and, in pull mode, the refresh figures. Addresses, details
 * and error messages appear only with `expose: true`, because they describe the internal network;
 * mount it behind authentication, or on a port only operators reach.
 *
 * @param services The services by name.
 * @param options Whether to list instances and error messages.
 * @returns A handler for `app.get(path, ...)`.
 * @throws {TypeError} If a service has no endpointer.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { DefaultEndpointer, FixedInstancer } from "@edgekit/sd";
 * import { statusHandler } from "@edgekit/sd/hono";
 * import { assertEquals } from "@std/assert";
 *
 * const factory = () => ({ endpoint: async () => 0 });
 * using users = new DefaultEndpointer(new FixedInstancer(["10.0.0.1:80"]), factory);
 * await users.ready();
 * const app = new Hono();
 * app.get("/_sd/status", statusHandler({ users: { endpointer: users } }));
 * const body = await (await app.request("/_sd/status")).json();
 * assertEquals(body, { services: { users: { count: 1, error: null } } });
 * ```
 */
export function statusHandler<E extends Env = Env>(
  services: Readonly<Record<string, StatusSource>>,
  options: StatusHandlerOptions = {},
): MiddlewareHandler<E> {
  if (typeof services !== "object" || services === null) {
    throw new TypeError(`services must be an object, got ${describe(services)}`);
  }
  for (const [name, source] of Object.entries(services)) {
    if (typeof source?.endpointer?.entries !== "function") {
      throw new TypeError(`services[${JSON.stringify(name)}].endpointer must be an endpointer`);
    }
  }
  const expose = options.expose === true;
  return (c) => {
    const body: Record<string, ServiceStatus> = {};
    for (const [name, source] of Object.entries(services)) body[name] = serviceStatus(source, expose);
    c.header("cache-control", "no-store");
    return Promise.resolve(c.json({ services: body }));
  };
}

function serviceStatus(source: StatusSource, expose: boolean): ServiceStatus {
  let entries: readonly { readonly instance: string; readonly details: InstanceDetails }[] = [];
  let error: unknown = source.endpointer.error;
  try {
    entries = source.endpointer.entries();
  } catch (thrown) {
    // Invalidated: the endpointer throws its discovery error.
    error = thrown;
  }
  const status: { -readonly [K in keyof ServiceStatus]: ServiceStatus[K] } = {
    count: entries.length,
    error: errorInfo(error, expose),
  };
  if (expose) status.instances = entries.map((e) => ({ instance: e.instance, ...e.details }));
  if (source.pull !== undefined) {
    const pull = source.pull.status;
    status.pull = { ...pull, lastError: errorInfo(pull.lastError, expose) };
  }
  return status;
}

function errorInfo(error: unknown, expose: boolean): ServiceStatus["error"] {
  if (error === undefined || error === null) return null;
  const code = isSdError(error) ? error.code : error instanceof Error ? error.name : "Error";
  return expose ? { code, message: describe(error) } : { code };
}
