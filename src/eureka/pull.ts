/**
 * Pull mode over Eureka: the one-shot lookup a {@linkcode PullInstancer} repeats inside requests.
 *
 * @module
 */
import { requireMethod, requireString } from "../_validate.ts";
import { describe } from "../errors.ts";
import type { Lookup } from "../pull_instancer.ts";
import type { Logger } from "../types.ts";
import type { EurekaClient } from "./client.ts";
import { type EurekaSelectOptions, notFoundError, selection, toInstances } from "./_select.ts";

/** Options for {@linkcode eurekaLookup}: the selection of {@linkcode EurekaInstancer}, and what a 404 means. */
export interface EurekaLookupOptions extends EurekaSelectOptions {
  /**
   * What an application the server does not know (HTTP 404) means. `"error"`: a
   * {@linkcode RegistryRejectedError} (status 404), so that a {@linkcode PullInstancer} keeps serving
   * the last good set within its `staleIfError`, as right after a server restart, before the
   * instances have registered again (up to one heartbeat, 30 s by default). `"empty"`: an empty set,
   * so that endpoints go as soon as the last instance has deregistered. {@linkcode EurekaInstancer}
   * does the same in watch mode: a 404 for an application that had instances is an error for its
   * `notFoundGrace`, then an empty set. Default: `"error"`.
   */
  notFound?: "error" | "empty";
  /** Receives skipped instances (no usable address or port). Default: silent. */
  logger?: Logger;
}

/**
 * Builds the one-shot {@linkcode Lookup} of a {@linkcode PullInstancer} over Eureka: each call is one
 * `GET /apps/{APP}`, with the selection of {@linkcode EurekaInstancer} (only `UP` instances by
 * default, `ipAddr:port`, IPv6 bracketed) and the same details (`id`, `status`, `zone`, `meta`).
 * Eureka says nothing about freshness, so the instancer's `ttl` applies.
 *
 * A 404 for the application is an error by default, not an empty set (see
 * {@linkcode EurekaLookupOptions.notFound}): a restarted server knows nobody until the next
 * heartbeats, and an empty set would drop every endpoint at once.
 *
 * A lookup is one request to the server that worked last; the client adds one per further server it
 * fails over to (network failures, timeouts, 5xx), and checks the base path once per server with
 * `GET /apps/delta` the first time that server answers 404.
 *
 * @param client The Eureka client (may be shared with registrars and other lookups).
 * @param app The application's name (Eureka ignores its case).
 * @param options Statuses, address, secure port, the meaning of a 404, logger.
 * @returns The lookup.
 * @throws {TypeError} If an argument is invalid.
 *
 * @example
 * ```ts
 * import { PullInstancer } from "@edgekit/sd";
 * import { EurekaClient, eurekaLookup } from "@edgekit/sd/eureka";
 * import { assertEquals } from "@std/assert";
 *
 * // A stand-in server so the snippet runs offline; point `urls` at a real one instead.
 * const fakeEureka = () =>
 *   Promise.resolve(Response.json({
 *     application: {
 *       name: "USERS",
 *       instance: [
 *         { instanceId: "a", ipAddr: "10.0.0.1", status: "UP", port: { $: 8080, "@enabled": "true" } },
 *         { instanceId: "b", ipAddr: "10.0.0.2", status: "DOWN", port: 8080 },
 *       ],
 *     },
 *   }));
 * const client = new EurekaClient({ urls: "http://127.0.0.1:8761/eureka", fetch: fakeEureka });
 * using users = new PullInstancer(eurekaLookup(client, "users"), { ttl: 30_000 });
 * await users.refresh();
 * assertEquals(users.state()?.instances, ["10.0.0.1:8080"]);
 * ```
 */
export function eurekaLookup(client: EurekaClient, app: string, options: EurekaLookupOptions = {}): Lookup {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  requireMethod(client, "getApplication", "client");
  requireString(app, "app");
  const select = selection(options);
  const notFound = options.notFound ?? "error";
  if (notFound !== "error" && notFound !== "empty") {
    throw new TypeError(`options.notFound must be "error" or "empty", got ${describe(notFound)}`);
  }
  const logger = options.logger;
  return async ({ signal }) => {
    signal.throwIfAborted();
    const found = await client.getApplication(app, { signal });
    if (found === undefined) {
      if (notFound === "empty") return { instances: [], ttl: undefined };
      throw notFoundError(app);
    }
    return { instances: toInstances(found.instances, select, logger), ttl: undefined };
  };
}
