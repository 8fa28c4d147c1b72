/**
 * Pull mode over the in-memory registry.
 *
 * @module
 */
import { requireMethod, requireString } from "../_validate.ts";
import type { Lookup } from "../pull_instancer.ts";
import type { MemoryRegistry } from "./registry.ts";

/**
 * Builds the one-shot {@linkcode Lookup} of a {@linkcode PullInstancer} over a
 * {@linkcode MemoryRegistry}: each call reads the service's instances with their details. The registry
 * gives no TTL, so the instancer's `ttl` option applies.
 *
 * @param registry The registry.
 * @param service The service name.
 * @returns The lookup.
 * @throws {TypeError} If an argument is invalid.
 *
 * @example
 * ```ts
 * import { PullInstancer } from "@edgekit/sd";
 * import { MemoryRegistry, memoryLookup } from "@edgekit/sd/memory";
 * import { assertEquals } from "@std/assert";
 *
 * using registry = new MemoryRegistry();
 * registry.register("users", "10.0.0.1:8080", { details: { weight: 2 } });
 * using users = new PullInstancer(memoryLookup(registry, "users"));
 * await users.refresh();
 * assertEquals(users.state()?.instances, ["10.0.0.1:8080"]);
 * ```
 */
export function memoryLookup(registry: MemoryRegistry, service: string): Lookup {
  requireMethod(registry, "lookup", "registry");
  requireString(service, "service");
  return ({ signal }) => {
    signal.throwIfAborted();
    return Promise.resolve({ instances: registry.lookup(service) });
  };
}
