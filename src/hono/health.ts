/**
 * A health route for registry checks whose answer follows the service's lifecycle.
 *
 * @module
 */
import type { Env, MiddlewareHandler } from "hono";
import { describe } from "../errors.ts";

/**
 * Where a service is in its life, as its health route reports it:
 * - `"starting"`: not listening or not registered yet (503);
 * - `"serving"`: taking requests (200);
 * - `"draining"`: shutting down, deregistered or about to be, finishing in-flight requests (503);
 * - `"stopped"`: deregistered and closed (503).
 */
export type ServingState = "starting" | "serving" | "draining" | "stopped";

const STATES: readonly ServingState[] = ["starting", "serving", "draining", "stopped"];

/**
 * The state a health route reports. Whoever runs the service's lifecycle flips it (for example the
 * self-registering server on SIGTERM: `draining`, then `stopped`), so that a registry's check sees
 * the service leave before its connections close.
 *
 * @example
 * ```ts
 * import { HealthState } from "@edgekit/sd/hono";
 * import { assert } from "@std/assert";
 *
 * const health = new HealthState("starting");
 * health.set("serving");
 * assert(health.serving);
 * health.set("draining");
 * assert(health.draining && !health.serving);
 * ```
 */
export class HealthState {
  #state: ServingState;

  /**
   * Creates the state.
   *
   * @param initial The first state. Default: `"serving"`, for apps with no lifecycle of their own.
   * @throws {TypeError} If `initial` is not a {@linkcode ServingState}.
   */
  constructor(initial: ServingState = "serving") {
    this.#state = check(initial, "initial");
  }

  /** The current state. */
  get state(): ServingState {
    return this.#state;
  }

  /** Whether the state is `"serving"`: the health route answers 200. */
  get serving(): boolean {
    return this.#state === "serving";
  }

  /** Whether the state is `"draining"`. */
  get draining(): boolean {
    return this.#state === "draining";
  }

  /**
   * Moves to `state`.
   *
   * @param state The new state.
   * @throws {TypeError} If `state` is not a {@linkcode ServingState}.
   */
  set(state: ServingState): void {
    this.#state = check(state, "state");
  }
}

function check(state: unknown, name: string): ServingState {
  if (!STATES.includes(state as ServingState)) {
    throw new TypeError(`${name} must be one of ${STATES.join(", ")}, got ${describe(state)}`);
  }
  return state as ServingState;
}

/**
 * Returns a handler for a registry's health check (a Consul HTTP check, Eureka's `healthCheckUrl` and
 * `statusPageUrl`): `200 {"status":"UP","state":"serving"}` while `state` is serving, else 503 with
 * `"status":"DOWN"` (`"STARTING"` before serving). Consul counts 2xx as passing and any other status
 * as critical; Eureka's checks count 2xx as UP. Answers are never cached.
 *
 * @param state The state to report. Default: a state that is always serving.
 * @returns A handler for `app.get(path, ...)` (Hono also answers HEAD with it).
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { healthHandler, HealthState } from "@edgekit/sd/hono";
 * import { assertEquals } from "@std/assert";
 *
 * const health = new HealthState();
 * const app = new Hono();
 * app.get("/healthz", healthHandler(health));
 * assertEquals((await app.request("/healthz")).status, 200);
 * health.set("draining");
 * assertEquals((await app.request("/healthz")).status, 503);
 * ```
 */
export function healthHandler<E extends Env = Env>(
  state: HealthState = new HealthState(),
): MiddlewareHandler<E> {
  if (!(state instanceof HealthState)) {
    throw new TypeError(`state must be a HealthState, got ${describe(state)}`);
  }
  return (c) => {
    const current = state.state;
    const status = current === "serving" ? "UP" : current === "starting" ? "STARTING" : "DOWN";
    c.header("cache-control", "no-store");
    return Promise.resolve(c.json({ status, state: current }, current === "serving" ? 200 : 503));
  };
}
