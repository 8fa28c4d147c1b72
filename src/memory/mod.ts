/**
 * An in-process registry: register, deregister, optional TTL expiry, an Instancer and a Registrar.
 * The embedded default for demos, tests and single-process apps.
 *
 * ```ts
 * import { DefaultEndpointer } from "@edgekit/sd";
 * import { MemoryRegistry } from "@edgekit/sd/memory";
 * import { assert } from "@std/assert";
 *
 * using registry = new MemoryRegistry();
 * await using registrar = registry.registrar("echo", "127.0.0.1:9000", { ttl: 10_000 });
 * await registrar.register();
 * using endpointer = new DefaultEndpointer(registry.instancer("echo"), (instance) => ({
 *   endpoint: async (message: string) => `${instance} says ${message}`,
 * }));
 * const [endpoint] = await endpointer.ready();
 * assert((await endpoint!("hi")) === "127.0.0.1:9000 says hi");
 * ```
 *
 * @module
 */
export { type MemoryRegisterOptions, MemoryRegistry } from "./registry.ts";
export { MemoryInstancer } from "./instancer.ts";
export { MemoryRegistrar, type MemoryRegistrarOptions } from "./registrar.ts";
export { memoryLookup } from "./pull.ts";
export type { Lookup, LookupOptions, LookupResult } from "../pull_instancer.ts";
