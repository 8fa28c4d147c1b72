/**
 * Locality: prefer instances in the caller's own zone.
 *
 * @module
 */
import type { EndpointEntry } from "../_endpoint_cache.ts";
import { requireMethod, requireNumber, requireString } from "../_validate.ts";
import type { Endpoint, Endpointer } from "../types.ts";
import type { DetailedEndpointer } from "./rfc2782.ts";

/** Options for {@linkcode LocalityEndpointer}. */
export interface LocalityEndpointerOptions {
  /** The caller's zone, compared with each instance's `zone` detail. Required. */
  zone: string;
  /**
   * Zones to fall back to, nearest first (for example the other zones of the same region), before
   * falling back to every instance. Default: none.
   */
  fallbackZones?: readonly string[];
  /** A zone is used only if it has at least this many healthy instances; an integer >= 1. Default: 1. */
  minHealthy?: number;
}

const NONE: readonly never[] = Object.freeze([]);

/**
 * A view of an endpointer that keeps only the instances in the caller's zone (the `zone` detail), when
 * enough of them are healthy; put any balancer on top of it. Tiers are tried in order: `zone`, then each
 * of `fallbackZones`, then every instance. A tier is used when it has at least `minHealthy` healthy
 * instances (health status not `"critical"`), and then only its healthy ones are offered. When no
 * instance at all is healthy, every instance is offered rather than none.
 *
 * The view recomputes its arrays only when the source's entries change, so a pick through it costs one
 * identity check. Put it on top of an {@linkcode OutlierEjectionBalancer}'s view to also fall back when
 * local instances are ejected: `new OutlierEjectionBalancer(endpointer, (inService) => new
 * RoundRobinBalancer(new LocalityEndpointer(inService, { zone })))`.
 *
 * @example
 * ```ts
 * import { DefaultEndpointer, FixedInstancer } from "@edgekit/sd";
 * import { LocalityEndpointer, RoundRobinBalancer } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * using endpointer = new DefaultEndpointer(
 *   new FixedInstancer([
 *     { instance: "10.0.1.1:80", zone: "eu-west-1a" },
 *     { instance: "10.0.2.1:80", zone: "eu-west-1b" },
 *     { instance: "10.0.3.1:80", zone: "eu-west-1a", status: "critical" },
 *   ]),
 *   (instance) => ({ endpoint: async () => instance }),
 * );
 * await endpointer.ready();
 * const local = new LocalityEndpointer(endpointer, { zone: "eu-west-1a" });
 * const balancer = new RoundRobinBalancer(local);
 * assert((await balancer.endpoint()(undefined)) === "10.0.1.1:80");
 * assert((await balancer.endpoint()(undefined)) === "10.0.1.1:80"); // the critical one is skipped
 * ```
 */
export class LocalityEndpointer<Req = unknown, Res = unknown>
  implements Endpointer<Req, Res>, DetailedEndpointer<Req, Res> {
  readonly #source: DetailedEndpointer<Req, Res>;
  readonly #zones: readonly string[];
  readonly #minHealthy: number;
  #planFor: readonly EndpointEntry<Req, Res>[] | undefined;
  #entries: readonly EndpointEntry<Req, Res>[] = NONE;
  #endpoints: readonly Endpoint<Req, Res>[] = NONE;
  #tier: string | undefined;

  /**
   * Creates the view.
   *
   * @param endpointer Supplies entries with details.
   * @param options The caller's zone, fallbacks and the healthy minimum.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(endpointer: DetailedEndpointer<Req, Res>, options: LocalityEndpointerOptions) {
    requireMethod(endpointer, "entries", "endpointer");
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object, got ${String(options)}`);
    }
    const zones = [requireString(options.zone, "options.zone")];
    for (const [i, zone] of (options.fallbackZones ?? []).entries()) {
      zones.push(requireString(zone, `options.fallbackZones[${i}]`));
    }
    this.#zones = zones;
    this.#minHealthy = requireNumber(options.minHealthy ?? 1, "options.minHealthy", {
      min: 1,
      integer: true,
    });
    this.#source = endpointer;
  }

  /**
   * The zone whose instances are offered now, or `undefined` when it fell back to every instance.
   */
  get zone(): string | undefined {
    this.entries();
    return this.#tier;
  }

  /**
   * The entries offered now; the same array until the source's entries change.
   *
   * @returns The healthy entries of the first tier with enough of them.
   * @throws The source's error, if it throws.
   */
  entries(): readonly EndpointEntry<Req, Res>[] {
    const entries = this.#source.entries();
    if (entries !== this.#planFor) this.#plan(entries);
    return this.#entries;
  }

  /**
   * The endpoints of {@linkcode LocalityEndpointer.entries}; the same array until they change.
   *
   * @returns The endpoints offered now.
   * @throws The source's error, if it throws.
   */
  endpoints(): readonly Endpoint<Req, Res>[] {
    this.entries();
    return this.#endpoints;
  }

  #plan(entries: readonly EndpointEntry<Req, Res>[]): void {
    let chosen: readonly EndpointEntry<Req, Res>[] | undefined;
    let tier: string | undefined;
    for (const zone of this.#zones) {
      const healthy = entries.filter((e) => e.details.zone === zone && e.details.status !== "critical");
      if (healthy.length >= this.#minHealthy) {
        chosen = healthy;
        tier = zone;
        break;
      }
    }
    if (chosen === undefined) {
      const healthy = entries.filter((e) => e.details.status !== "critical");
      chosen = healthy.length > 0 ? healthy : entries;
    }
    this.#entries = Object.freeze(chosen);
    this.#endpoints = Object.freeze(chosen.map((e) => e.endpoint));
    this.#tier = tier;
    this.#planFor = entries;
  }
}
