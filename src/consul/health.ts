/**
 * Turning Consul health entries into instances, and the one-shot lookup that the instancer repeats,
 * exposed on its own for request-scoped hosts (pull mode).
 *
 * @module
 */
import { joinHostPort } from "../_host.ts";
import type { InstanceInput } from "../_event.ts";
import { requireMethod, requireSignal, requireString } from "../_validate.ts";
import type { HealthStatus, Logger } from "../types.ts";
import { checkHealthOptions } from "./_query.ts";
import type {
  ConsulClient,
  ConsulConsistency,
  ConsulHealthOptions,
  ConsulHealthResponse,
  ConsulServiceEntry,
} from "./client.ts";

/** Which instances of a service to select, shared by {@linkcode lookupHealthService} and the instancer. */
export interface ConsulServiceQuery {
  /** Only instances whose checks all pass. Default: `true`. */
  passingOnly?: boolean;
  /** Tags every instance must carry, matched by Consul. Default: none. */
  tags?: readonly string[];
  /**
   * `"filter"` sends the tags as a filter expression (Consul 1.7+); `"param"` as repeated `tag=`
   * parameters, for older servers. Default: `"filter"`.
   */
  tagMode?: "filter" | "param";
  /** A Consul filter expression, e.g. `Service.Meta.version == "2"`, and-ed with the tags. */
  filter?: string;
  /** `"stale"` or `"consistent"` reads. Default: `"default"`. */
  consistency?: ConsulConsistency;
}

/** Options for {@linkcode lookupHealthService}. */
export interface LookupHealthServiceOptions extends ConsulServiceQuery {
  /** Read through the agent's cache (see {@linkcode ConsulHealthOptions.cached}). Default: `false`. */
  cached?: ConsulHealthOptions["cached"];
  /** Aborts the lookup. */
  signal?: AbortSignal;
  /** Receives skipped entries (port 0). Default: silent. */
  logger?: Logger;
}

/** The outcome of {@linkcode lookupHealthService}. */
export interface ConsulLookup {
  /** Instances with id, tags, meta, zone, status and weight in their details. */
  instances: InstanceInput[];
  /** `X-Consul-Index` of the answer. */
  index: number;
  /** The answer's headers (`Cache-Control`, `Age`, `X-Cache`: how fresh it is). */
  headers: Headers;
}

export { joinHostPort };

/** critical if any check is critical, else warning if any warns, else passing. */
export function aggregateStatus(checks: readonly { readonly Status: string }[]): HealthStatus {
  let status: HealthStatus = "passing";
  for (const check of checks) {
    if (check.Status === "critical") return "critical";
    if (check.Status === "warning") status = "warning";
  }
  return status;
}

/**
 * One health entry as an instance: `Service.Address` (or `Node.Address` when empty), IPv6 bracketed,
 * `:Service.Port`; details carry the service ID, tags, meta, the node's datacenter as zone, the
 * aggregated status and the weight Consul's DNS would use: `Weights.Passing` when passing, else
 * `Weights.Warning` (1 when absent). Returns `undefined` for an entry without a port.
 *
 * @param entry A checked entry, as {@linkcode ConsulClient.healthService} returns them.
 * @returns The instance with its details, or `undefined`.
 *
 * @example
 * ```ts
 * import { entryToInstance } from "./health.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const instance = entryToInstance({
 *   Node: { Address: "10.0.0.1", Datacenter: "dc1" },
 *   Service: { ID: "api-1", Service: "api", Address: "", Port: 8080, Tags: ["v2"], Meta: null, Weights: { Passing: 5, Warning: 1 } },
 *   Checks: [{ Status: "passing" }, { Status: "warning" }],
 * });
 * assertEquals(instance, {
 *   instance: "10.0.0.1:8080",
 *   id: "api-1",
 *   tags: ["v2"],
 *   zone: "dc1",
 *   status: "warning",
 *   weight: 1,
 * });
 * ```
 */
export function entryToInstance(entry: ConsulServiceEntry): (InstanceInput & object) | undefined {
  const service = entry.Service;
  if (service.Port === 0) return undefined;
  const host = service.Address !== "" ? service.Address : entry.Node.Address;
  const status = aggregateStatus(entry.Checks);
  const weight = (status === "passing" ? service.Weights?.Passing : service.Weights?.Warning) ?? 1;
  const meta = service.Meta !== null && Object.keys(service.Meta).length > 0 ? { meta: service.Meta } : {};
  const zone = entry.Node.Datacenter ? { zone: entry.Node.Datacenter } : {};
  return {
    instance: joinHostPort(host, service.Port),
    id: service.ID,
    tags: service.Tags ?? [],
    ...meta,
    ...zone,
    status,
    weight,
  };
}

/** The client options of one query, validated. */
export function queryOptions(query: ConsulServiceQuery): ConsulHealthOptions {
  if (query.passingOnly !== undefined && typeof query.passingOnly !== "boolean") {
    throw new TypeError(`options.passingOnly must be a boolean, got ${JSON.stringify(query.passingOnly)}`);
  }
  const out: ConsulHealthOptions = { passing: query.passingOnly ?? true };
  if (query.tags !== undefined) out.tags = query.tags;
  if (query.tagMode !== undefined) out.tagMode = query.tagMode;
  if (query.filter !== undefined) out.filter = query.filter;
  if (query.consistency !== undefined) out.consistency = query.consistency;
  checkHealthOptions(out);
  return out;
}

/** Entries to instances, skipping (and reporting) entries without a port. */
export function toInstances(
  entries: readonly ConsulServiceEntry[],
  service: string,
  logger: Logger | undefined,
): InstanceInput[] {
  const instances: InstanceInput[] = [];
  for (const entry of entries) {
    const instance = entryToInstance(entry);
    if (instance === undefined) {
      logger?.warn("Consul entry skipped: no port", { service, id: entry.Service.ID });
    } else {
      instances.push(instance);
    }
  }
  return instances;
}

/**
 * Asks Consul once (no blocking) for the instances of a service, as the instancer would, without
 * starting a loop: for Workers and other hosts that refresh inside a request.
 *
 * @param client The client.
 * @param service The service name.
 * @param options Passing-only (default `true`), tags, filter, consistency, signal.
 * @returns The instances and the answer's index.
 * @throws {RegistryUnavailableError | ConsulHttpError | MalformedResponseError} As the client.
 *
 * @example
 * ```ts
 * import { ConsulClient, lookupHealthService } from "./mod.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const client = new ConsulClient({
 *   fetch: () =>
 *     Promise.resolve(Response.json([{
 *       Node: { Address: "10.0.0.1", Datacenter: "dc1" },
 *       Service: { ID: "api-1", Service: "api", Address: "2001:db8::1", Port: 8080, Tags: [], Meta: null },
 *       Checks: [{ Status: "passing" }],
 *     }], { headers: { "x-consul-index": "42" } })),
 * });
 * const { instances, index } = await lookupHealthService(client, "api");
 * assertEquals(index, 42);
 * assertEquals(instances, [{
 *   instance: "[2001:db8::1]:8080",
 *   id: "api-1",
 *   tags: [],
 *   zone: "dc1",
 *   status: "passing",
 *   weight: 1,
 * }]);
 * ```
 */
export async function lookupHealthService(
  client: ConsulClient,
  service: string,
  options: LookupHealthServiceOptions = {},
): Promise<ConsulLookup> {
  requireMethod(client, "healthService", "client");
  requireString(service, "service");
  requireSignal(options.signal, "options.signal");
  const query = queryOptions(options);
  if (options.cached !== undefined) query.cached = options.cached;
  if (options.signal !== undefined) query.signal = options.signal;
  const { entries, index, headers }: ConsulHealthResponse = await client.healthService(service, query);
  return { instances: toInstances(entries, service, options.logger), index, headers };
}
