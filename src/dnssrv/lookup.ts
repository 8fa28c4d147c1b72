/**
 * One SRV lookup turned into instances: the step the DNS SRV instancer repeats, exposed on its own
 * for request-scoped hosts.
 *
 * @module
 */
import { joinHostPort } from "../_host.ts";
import type { InstanceInput } from "../_event.ts";
import { requireMethod, requireString } from "../_validate.ts";
import { describe } from "../errors.ts";
import { DnsError } from "../dns/errors.ts";
import type { Logger } from "../types.ts";

/**
 * What the instancer needs from a resolver: `resolveSrv`, plus `resolve4`/`resolve6` when targets are
 * resolved to addresses. {@linkcode DohResolver} fits, and so does `node:dns/promises`' `Resolver`
 * (which returns no TTLs, so the fallback interval applies).
 */
export interface SrvResolver {
  /** Looks up SRV records; may return `ttl` per record and may honour a signal. */
  resolveSrv(
    hostname: string,
    options?: { signal?: AbortSignal; ttl?: boolean },
  ): Promise<readonly { name: string; port: number; priority: number; weight: number; ttl?: number }[]>;
  /** Looks up IPv4 addresses (only for `resolveTargets`). */
  resolve4?(hostname: string, options: { ttl: true; signal?: AbortSignal }): Promise<
    readonly ({ address: string; ttl: number } | string)[]
  >;
  /** Looks up IPv6 addresses (only for `resolveTargets`). */
  resolve6?(hostname: string, options: { ttl: true; signal?: AbortSignal }): Promise<
    readonly ({ address: string; ttl: number } | string)[]
  >;
}

/** Options for {@linkcode lookupSrv}. */
export interface LookupSrvOptions {
  /** Aborts the lookup. */
  signal?: AbortSignal;
  /**
   * Replace each target host by its addresses (`"ipv4"`, `"ipv6"` or `"both"`), for runtimes whose
   * `fetch` cannot resolve the targets' names. Default: `false`, instances are `target:port`.
   */
  resolveTargets?: false | "ipv4" | "ipv6" | "both";
  /** Receives skipped records (port 0, unresolvable targets). Default: silent. */
  logger?: Logger;
}

/** The outcome of {@linkcode lookupSrv}. */
export interface SrvLookup {
  /** Instances with `priority` and `weight` in their details; empty if the service is unavailable. */
  instances: InstanceInput[];
  /** The smallest TTL seen in seconds, if the resolver reported TTLs. */
  ttl: number | undefined;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export { joinHostPort };

/**
 * Looks up SRV records once and turns them into instances: `target:port` (trailing dot removed, IPv6
 * bracketed) with `priority` and `weight` details. A record with port 0 is skipped with a warning, and
 * is an error only if nothing valid remains. A lone `.` target means the service is decidedly not
 * available (RFC 2782): an empty set, not an error.
 *
 * @param resolver A {@linkcode SrvResolver}.
 * @param name The full SRV name, e.g. `_http._tcp.api.example.com`.
 * @param options Signal, target resolution, logger.
 * @returns The instances and the smallest TTL.
 * @throws {DnsError} From the resolver, or `ENODATA` when every record was unusable.
 *
 * @example
 * ```ts
 * import { lookupSrv } from "./lookup.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const resolver = {
 *   resolveSrv: () =>
 *     Promise.resolve([
 *       { name: "api-1.example.", port: 8080, priority: 10, weight: 60, ttl: 30 },
 *       { name: "api-2.example", port: 0, priority: 10, weight: 40, ttl: 30 },
 *     ]),
 * };
 * const { instances, ttl } = await lookupSrv(resolver, "_http._tcp.api.example");
 * assertEquals(instances, [{ instance: "api-1.example:8080", priority: 10, weight: 60 }]);
 * assertEquals(ttl, 30);
 * ```
 */
export async function lookupSrv(
  resolver: SrvResolver,
  name: string,
  options: LookupSrvOptions = {},
): Promise<SrvLookup> {
  requireMethod(resolver, "resolveSrv", "resolver");
  requireString(name, "name");
  const { signal, logger } = options;
  const mode = options.resolveTargets ?? false;
  const records = await resolver.resolveSrv(
    name,
    signal === undefined ? { ttl: true } : { ttl: true, signal },
  );
  if (!Array.isArray(records)) {
    throw new DnsError("EBADRESP", "querySrv", name, {}, `resolver returned ${describe(records)}`);
  }
  let ttl: number | undefined;
  const seeTtl = (value: unknown) => {
    if (typeof value === "number" && Number.isFinite(value) && value >= 0) {
      ttl = Math.min(ttl ?? value, value);
    }
  };
  const usable: { host: string; port: number; priority: number; weight: number }[] = [];
  for (const record of records) {
    seeTtl(record?.ttl);
    const host = typeof record?.name === "string" ? record.name.replace(/\.$/, "") : undefined;
    const { port, priority, weight } = record ?? {};
    if (host === undefined || !isUint16(port) || !isUint16(priority) || !isUint16(weight)) {
      logger?.warn("SRV record skipped: malformed", { name, record: describe(record) });
      continue;
    }
    if (host === "") {
      if (records.length === 1) return { instances: [], ttl }; // "." : decidedly not available
      logger?.warn("SRV record skipped: root target among others", { name });
      continue;
    }
    if (port === 0) {
      logger?.warn("SRV record skipped: port 0", { name, target: host });
      continue;
    }
    usable.push({ host, port, priority, weight });
  }
  if (usable.length === 0 && records.length > 0) {
    throw new DnsError("ENODATA", "querySrv", name, {}, "no usable SRV record (port 0 or malformed)");
  }
  if (mode === false) {
    return {
      instances: usable.map((r) => ({
        instance: joinHostPort(r.host, r.port),
        priority: r.priority,
        weight: r.weight,
      })),
      ttl,
    };
  }
  const instances: InstanceInput[] = [];
  let lastError: unknown;
  for (const r of usable) {
    let addresses: string[];
    try {
      addresses = await addressesOf(resolver, r.host, mode, signal, seeTtl);
    } catch (error) {
      if (signal?.aborted) throw error;
      lastError = error;
      logger?.warn("SRV target skipped: no address", { name, target: r.host, error: describe(error) });
      continue;
    }
    for (const address of addresses) {
      instances.push({ instance: joinHostPort(address, r.port), priority: r.priority, weight: r.weight });
    }
  }
  if (instances.length === 0 && usable.length > 0) {
    throw lastError ?? new DnsError("ENODATA", "querySrv", name, {}, "no target has an address");
  }
  return { instances, ttl };
}

async function addressesOf(
  resolver: SrvResolver,
  host: string,
  mode: "ipv4" | "ipv6" | "both",
  signal: AbortSignal | undefined,
  seeTtl: (ttl: unknown) => void,
): Promise<string[]> {
  if (IPV4.test(host) || host.includes(":")) return [host];
  const families: ("resolve4" | "resolve6")[] = mode === "ipv4"
    ? ["resolve4"]
    : mode === "ipv6"
    ? ["resolve6"]
    : ["resolve4", "resolve6"];
  const out: string[] = [];
  let lastError: unknown;
  for (const family of families) {
    const method = resolver[family];
    if (typeof method !== "function") {
      throw new TypeError(`resolveTargets needs resolver.${family}(), which this resolver lacks`);
    }
    try {
      const list = await method.call(
        resolver,
        host,
        signal === undefined ? { ttl: true } : { ttl: true, signal },
      );
      for (const item of list) {
        if (typeof item === "string") out.push(item);
        else {
          out.push(item.address);
          seeTtl(item.ttl);
        }
      }
    } catch (error) {
      lastError = error;
    }
  }
  if (out.length === 0) throw lastError ?? new DnsError("ENODATA", "queryA", host);
  return out;
}

function isUint16(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 65535;
}
