/**
 * Instancer and endpointer over a fixed list, for static configurations and tests.
 *
 * @module
 */
import type { InstanceInput } from "./_event.ts";
import { InstanceCache, type InstanceCacheOptions } from "./instance_cache.ts";
import type { Endpoint, Endpointer } from "./types.ts";

/**
 * An Instancer whose instances never change (go-kit `FixedInstancer`). Subscribers get the list,
 * sorted and de-duplicated, and nothing after it. The caller's array is never modified.
 *
 * @example
 * ```ts
 * import { FixedInstancer } from "@edgekit/sd";
 * import { assert } from "@std/assert";
 *
 * const instancer = new FixedInstancer(["b:80", "a:80"]);
 * instancer.subscribe((event) => assert(event.instances?.join() === "a:80,b:80"));
 * ```
 */
export class FixedInstancer extends InstanceCache {
  /**
   * Creates the instancer.
   *
   * @param instances The instances, as strings or with details.
   * @param options A logger for listener failures.
   * @throws {TypeError | RangeError} If an instance or its details are invalid.
   */
  constructor(instances: Iterable<InstanceInput>, options?: InstanceCacheOptions) {
    super(options);
    this.update({ instances });
  }
}

/**
 * An Endpointer over a fixed array of endpoints (go-kit `FixedEndpointer`). The array is copied and
 * frozen; `endpoints()` returns that same frozen array every time.
 *
 * @example
 * ```ts
 * import { FixedEndpointer } from "@edgekit/sd";
 * import { assert } from "@std/assert";
 *
 * const endpointer = new FixedEndpointer([async (n: number) => n * 2]);
 * assert(endpointer.endpoints().length === 1);
 * ```
 */
export class FixedEndpointer<Req = unknown, Res = unknown> implements Endpointer<Req, Res> {
  readonly #endpoints: readonly Endpoint<Req, Res>[];

  /**
   * Creates the endpointer.
   *
   * @param endpoints The endpoints.
   * @throws {TypeError} If an element is not a function.
   */
  constructor(endpoints: Iterable<Endpoint<Req, Res>>) {
    const list = [...endpoints];
    list.forEach((e, i) => {
      if (typeof e !== "function") throw new TypeError(`endpoints[${i}] must be a function, got ${typeof e}`);
    });
    this.#endpoints = Object.freeze(list);
  }

  /**
   * Returns the endpoints.
   *
   * @returns The frozen array given at construction.
   */
  endpoints(): readonly Endpoint<Req, Res>[] {
    return this.#endpoints;
  }
}
