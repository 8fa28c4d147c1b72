/**
 * An in-process service registry.
 *
 * @module
 */
import type { InstanceInput } from "../_event.ts";
import { normalizeInstances } from "../_event.ts";
import { requireNumber, requireString } from "../_validate.ts";
import { StoppedError } from "../errors.ts";
import type { InstanceCacheOptions } from "../instance_cache.ts";
import type { InstanceDetails } from "../types.ts";
import { MemoryInstancer } from "./instancer.ts";
import { MemoryRegistrar, type MemoryRegistrarOptions } from "./registrar.ts";

/** Options for {@linkcode MemoryRegistry.register}. */
export interface MemoryRegisterOptions {
  /** Details published with the instance. */
  details?: InstanceDetails;
  /** Milliseconds after which the registration expires unless renewed. Default: never. */
  ttl?: number;
}

interface Entry {
  details: InstanceDetails | undefined;
  ttl: number | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Holds services and their instances in memory, with optional TTL expiry, and hands out instancers and
 * registrars for them. The embedded default for demos, tests and single-process apps; everything it
 * does happens on its own timers, which {@linkcode MemoryRegistry.close} clears.
 *
 * @example
 * ```ts
 * import { MemoryRegistry } from "@edgekit/sd/memory";
 * import { assert } from "@std/assert";
 *
 * using registry = new MemoryRegistry();
 * registry.register("search", "10.0.0.1:80", { details: { zone: "eu-1" } });
 * assert(registry.instances("search").join() === "10.0.0.1:80");
 * ```
 */
export class MemoryRegistry implements Disposable {
  #services = new Map<string, Map<string, Entry>>();
  #instancers = new Map<string, Set<MemoryInstancer>>();
  #closed = false;

  /** Whether {@linkcode MemoryRegistry.close} has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Adds or replaces an instance of a service and notifies its instancers.
   *
   * @param service The service name.
   * @param instance The instance string, e.g. `host:port`.
   * @param options Details and TTL.
   * @throws {TypeError | RangeError} If an argument is invalid.
   * @throws {StoppedError} If the registry is closed.
   */
  register(service: string, instance: string, options: MemoryRegisterOptions = {}): void {
    requireString(service, "service");
    requireString(instance, "instance");
    const ttl = options.ttl === undefined ? undefined : requireNumber(options.ttl, "options.ttl", { min: 1 });
    // Validates the details the way every instancer will.
    normalizeInstances([{ instance, ...options.details }], "details");
    if (this.#closed) throw new StoppedError("MemoryRegistry");
    let entries = this.#services.get(service);
    if (entries === undefined) this.#services.set(service, entries = new Map());
    clearTimeout(entries.get(instance)?.timer);
    const entry: Entry = { details: options.details, ttl, timer: undefined };
    entries.set(instance, entry);
    this.#arm(service, instance, entry);
    this.#publish(service);
  }

  /**
   * Extends a registration's TTL.
   *
   * @param service The service name.
   * @param instance The instance string.
   * @returns `false` if the instance is not registered (it expired or was removed).
   * @throws {StoppedError} If the registry is closed.
   */
  renew(service: string, instance: string): boolean {
    if (this.#closed) throw new StoppedError("MemoryRegistry");
    const entry = this.#services.get(service)?.get(instance);
    if (entry === undefined) return false;
    clearTimeout(entry.timer);
    this.#arm(service, instance, entry);
    return true;
  }

  /**
   * Removes an instance and notifies the service's instancers.
   *
   * @param service The service name.
   * @param instance The instance string.
   * @returns Whether it was registered.
   */
  deregister(service: string, instance: string): boolean {
    const entries = this.#services.get(service);
    const entry = entries?.get(instance);
    if (entries === undefined || entry === undefined) return false;
    clearTimeout(entry.timer);
    entries.delete(instance);
    if (entries.size === 0) this.#services.delete(service);
    this.#publish(service);
    return true;
  }

  /**
   * Lists a service's instances, sorted.
   *
   * @param service The service name.
   * @returns The instance strings.
   */
  instances(service: string): string[] {
    return [...(this.#services.get(service)?.keys() ?? [])].sort();
  }

  /**
   * Reads a service's instances once, with their details: the one-shot lookup behind
   * `memoryLookup` (pull mode).
   *
   * @param service The service name.
   * @returns The instances, unsorted, each a bare string or a string with details.
   * @throws {StoppedError} If the registry is closed.
   */
  lookup(service: string): InstanceInput[] {
    requireString(service, "service");
    if (this.#closed) throw new StoppedError("MemoryRegistry");
    return this.#list(service);
  }

  /**
   * Lists the services that have at least one instance, sorted.
   *
   * @returns The service names.
   */
  services(): string[] {
    return [...this.#services.keys()].sort();
  }

  /**
   * Creates an instancer that follows one service. Stop it when done; closing the registry stops it too.
   *
   * @param service The service name.
   * @param options A logger for listener failures.
   * @returns The instancer, already holding the current instances (possibly none).
   * @throws {StoppedError} If the registry is closed.
   */
  instancer(service: string, options?: InstanceCacheOptions): MemoryInstancer {
    requireString(service, "service");
    if (this.#closed) throw new StoppedError("MemoryRegistry");
    let set = this.#instancers.get(service);
    if (set === undefined) this.#instancers.set(service, set = new Set());
    const instancer = new MemoryInstancer(options, () => {
      set.delete(instancer);
      if (set.size === 0 && this.#instancers.get(service) === set) this.#instancers.delete(service);
    });
    set.add(instancer);
    instancer.update({ instances: this.#list(service) });
    return instancer;
  }

  /**
   * Creates a registrar for one instance of a service.
   *
   * @param service The service name.
   * @param instance The instance string.
   * @param options Details, TTL and keep-alive settings.
   * @returns The registrar; call `register()` on it.
   */
  registrar(service: string, instance: string, options?: MemoryRegistrarOptions): MemoryRegistrar {
    return new MemoryRegistrar(this, service, instance, options);
  }

  /** Clears every TTL timer and stops every instancer. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const entries of this.#services.values()) {
      for (const entry of entries.values()) clearTimeout(entry.timer);
    }
    for (const set of [...this.#instancers.values()]) for (const instancer of [...set]) instancer.stop();
    this.#instancers.clear();
  }

  /** Same as {@linkcode MemoryRegistry.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #arm(service: string, instance: string, entry: Entry): void {
    if (entry.ttl === undefined) return;
    entry.timer = setTimeout(() => {
      if (this.#services.get(service)?.get(instance) === entry) this.deregister(service, instance);
    }, entry.ttl);
  }

  #list(service: string): InstanceInput[] {
    const entries = this.#services.get(service);
    if (entries === undefined) return [];
    return [...entries].map(([instance, e]) =>
      e.details === undefined ? instance : { instance, ...e.details }
    );
  }

  #publish(service: string): void {
    const set = this.#instancers.get(service);
    if (set === undefined) return;
    const instances = this.#list(service);
    for (const instancer of set) instancer.update({ instances });
  }
}
