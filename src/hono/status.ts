/**
 * A status route: what discovery knows about each service a gateway forwards to.
 *
 * @module
 */
import type { Env, MiddlewareHandler } from "hono";
import { describe, isSdError } from "../errors.ts";
import type { PullStatus } from "../pull_instancer.ts";
import type { InstanceDetails } from "../types.ts";
import type { CallFigures } from "../lb/observed.ts";

/** An endpointer entry as the status route reads it. */
export interface StatusEntry {
  /** The instance string. */
  readonly instance: string;
  /** Its details. */
  readonly details: InstanceDetails;
  /** Its endpoint, for the balancer's figures. */
  readonly endpoint?: unknown;
}

/**
 * What the status route reads from a balancer for per-instance figures; each part only if the
 * balancer has it, and then also from its `inner` balancer (an `ObservedBalancer` wrapping one of the
 * others). Nothing is read outside a request to the route. Its methods take the endpoints of the
 * service's endpointer (typed `never` here so that a balancer of any request type fits).
 */
export interface StatusBalancer {
  /** Calls, failures, in flight, last latency (`ObservedBalancer`). */
  figures?(endpoint: never): CallFigures;
  /** Calls in flight (`LeastRequestBalancer`). */
  inFlight?(endpoint: never): number;
  /** The latency estimate in milliseconds (`PeakEwmaBalancer`). */
  rtt?(endpoint: never): number | undefined;
  /** Whether the instance is ejected (`OutlierEjectionBalancer`). */
  isEjected?(instance: string): boolean;
  /** A wrapped balancer, read the same way. */
  readonly inner?: object;
}

/** The figures of one instance in the status body. */
export interface InstanceOutcomes {
  /** Attempts begun (`ObservedBalancer`). */
  readonly calls?: number;
  /** Attempts that failed (`ObservedBalancer`). */
  readonly failures?: number;
  /** Attempts in flight (`ObservedBalancer`, `LeastRequestBalancer`). */
  readonly inFlight?: number;
  /** Milliseconds the last attempt took (`ObservedBalancer`). */
  readonly lastLatency?: number | null;
  /** The Peak-EWMA latency estimate in milliseconds (`PeakEwmaBalancer`). */
  readonly rtt?: number;
  /** Whether outlier ejection has taken it out of rotation (`OutlierEjectionBalancer`). */
  readonly ejected?: boolean;
}

/** What the status route reads about one service (a `DefaultEndpointer`, and its `PullInstancer`). */
export interface StatusSource {
  /** The endpointer: its entries and its current discovery error. */
  readonly endpointer: {
    entries(): readonly StatusEntry[];
    readonly error: Error | undefined;
  };
  /** In pull mode, the instancer, for its refresh figures. */
  readonly pull?: { readonly status: PullStatus };
  /**
   * The balancer the service's requests go through, for per-instance outcome figures (see
   * {@linkcode StatusBalancer}): wrap it in an `ObservedBalancer` for calls, failures and latency.
   * Default: none, and no figures.
   */
  readonly balancer?: StatusBalancer;
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
  /**
   * The instances and their details, with `expose` only; with a `balancer`, each with its
   * `outcomes`.
   */
  readonly instances?: readonly (
    & { readonly instance: string; readonly outcomes?: InstanceOutcomes }
    & InstanceDetails
  )[];
  /** With a `balancer` that counts them: the instances' calls, failures and calls in flight summed. */
  readonly outcomes?: { readonly calls: number; readonly failures: number; readonly inFlight: number };
  /** The last discovery error (its code; with `expose`, also its message), or `null`. */
  readonly error: { readonly code: string; readonly message?: string } | null;
  /** `PullInstancer.status` in pull mode (the last error as above). */
  readonly pull?: Omit<PullStatus, "lastError"> & { readonly lastError: ServiceStatus["error"] };
}

/**
 * Returns a handler that answers `{"services": {name: ServiceStatus}}` for the given services: the
 * instance count, the last discovery error and, in pull mode, the refresh figures. Addresses, details
 * and error messages appear only with `expose: true`, because they describe the internal network;
 * mount it behind authentication, or on a port only operators reach. Given a service's `balancer`,
 * it adds outcome figures: per instance (with `expose`) what the balancer knows (calls, failures,
 * calls in flight and last latency from an `ObservedBalancer`, the latency estimate of a
 * `PeakEwmaBalancer`, in-flight counts of a `LeastRequestBalancer`, ejections of an
 * `OutlierEjectionBalancer`), and for the service the totals of calls, failures and calls in flight.
 * The figures are read when the route is asked, so the route costs the request path nothing.
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
  const balancer = source.balancer;
  const figures = balancer === undefined ? undefined : entries.map((e) => outcomesOf(balancer, e));
  if (expose) {
    status.instances = entries.map((e, i) => {
      const outcomes = figures?.[i];
      return outcomes === undefined
        ? { instance: e.instance, ...e.details }
        : { instance: e.instance, ...e.details, outcomes };
    });
  }
  if (figures !== undefined && figures.some((f) => f?.calls !== undefined || f?.inFlight !== undefined)) {
    const total = { calls: 0, failures: 0, inFlight: 0 };
    for (const f of figures) {
      total.calls += f?.calls ?? 0;
      total.failures += f?.failures ?? 0;
      total.inFlight += f?.inFlight ?? 0;
    }
    status.outcomes = total;
  }
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

const round = (ms: number) => Math.round(ms * 100) / 100;

function outcomesOf(balancer: StatusBalancer, entry: StatusEntry): InstanceOutcomes | undefined {
  const endpoint = entry.endpoint as never;
  const out: { -readonly [K in keyof InstanceOutcomes]: InstanceOutcomes[K] } = {};
  let found = false;
  for (
    let b: StatusBalancer | undefined = balancer;
    b !== undefined;
    b = b.inner as StatusBalancer | undefined
  ) {
    try {
      if (typeof b.figures === "function" && endpoint !== undefined) {
        const f = b.figures(endpoint);
        out.calls = f.calls;
        out.failures = f.failures;
        out.inFlight ??= f.inFlight;
        out.lastLatency = f.lastLatency === null ? null : round(f.lastLatency);
        found = true;
      }
      if (typeof b.inFlight === "function" && endpoint !== undefined) {
        out.inFlight ??= b.inFlight(endpoint);
        found = true;
      }
      if (typeof b.rtt === "function" && endpoint !== undefined) {
        const rtt = b.rtt(endpoint);
        if (rtt !== undefined) out.rtt = round(rtt);
        found = true;
      }
      if (typeof b.isEjected === "function") {
        out.ejected = b.isEjected(entry.instance);
        found = true;
      }
    } catch {
      // A balancer whose endpointer is invalidated throws: no figures from it.
    }
    if (b.inner === b) break;
  }
  return found ? out : undefined;
}
