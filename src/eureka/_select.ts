// Turning Eureka instances into instance strings with details, for both instancers; internal.
import { joinHostPort } from "../_host.ts";
import type { InstanceInput } from "../_event.ts";
import { describe, RegistryRejectedError } from "../errors.ts";
import type { HealthStatus, Logger } from "../types.ts";
import type { EurekaInstance, EurekaInstanceStatus } from "./client.ts";

/** Which instances an instancer publishes, and how it names them. */
export interface EurekaSelectOptions {
  /** The statuses to publish. Default: `["UP"]`. */
  statuses?: readonly EurekaInstanceStatus[];
  /**
   * The address in the instance string: `"ipAddr"` or `"hostName"`; an instance without it uses the
   * other. IPv6 addresses are bracketed (`[fd00::1]:8080`). Default: `"ipAddr"`.
   */
  address?: "ipAddr" | "hostName";
  /**
   * Use the secure port: instances whose secure port is missing or disabled are left out. Otherwise
   * the plain port, leaving out instances whose plain port is disabled. Default: `false`.
   */
  secure?: boolean;
}

/** The `meta` keys of {@linkcode EUREKA_META_KEYS}. */
export interface EurekaMetaKeys {
  /** The raw Eureka status, e.g. `OUT_OF_SERVICE` (`status` holds it mapped to a HealthStatus). */
  readonly status: "eureka.status";
  /** The application name, upper case. */
  readonly app: "eureka.app";
  /** The host name, when the server sent one. */
  readonly hostName: "eureka.hostName";
  /** The VIP address, when set. */
  readonly vipAddress: "eureka.vipAddress";
  /** The secure VIP address, when set. */
  readonly secureVipAddress: "eureka.secureVipAddress";
}

/**
 * The keys under which the Eureka instancers add Eureka's own facts to each instance's `meta`,
 * beside the instance's metadata (they win over metadata entries of the same name).
 *
 * @example
 * ```ts
 * import { EUREKA_META_KEYS } from "./mod.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const meta: Record<string, string> = { "eureka.status": "UP", "eureka.vipAddress": "users" };
 * assertEquals(meta[EUREKA_META_KEYS.vipAddress], "users");
 * ```
 */
export const EUREKA_META_KEYS: EurekaMetaKeys = Object.freeze({
  status: "eureka.status",
  app: "eureka.app",
  hostName: "eureka.hostName",
  vipAddress: "eureka.vipAddress",
  secureVipAddress: "eureka.secureVipAddress",
});

const HEALTH: Readonly<Record<EurekaInstanceStatus, HealthStatus>> = {
  UP: "passing",
  DOWN: "critical",
  STARTING: "warning",
  OUT_OF_SERVICE: "critical",
  UNKNOWN: "unknown",
};

const ALL: ReadonlySet<string> = new Set(Object.keys(HEALTH));

/** Validated selection options. */
export interface Selection {
  readonly statuses: ReadonlySet<string>;
  readonly address: "ipAddr" | "hostName";
  readonly secure: boolean;
}

/** Validates selection options. */
export function selection(options: EurekaSelectOptions): Selection {
  const statuses = options.statuses ?? ["UP"];
  const bad = Array.isArray(statuses) ? statuses.find((s) => !ALL.has(s)) : statuses;
  if (!Array.isArray(statuses) || bad !== undefined) {
    throw new TypeError(
      `options.statuses must be an array of ${[...ALL].join(", ")}, got ${
        JSON.stringify(bad) ?? "undefined"
      }`,
    );
  }
  const address = options.address ?? "ipAddr";
  if (address !== "ipAddr" && address !== "hostName") {
    throw new TypeError(`options.address must be "ipAddr" or "hostName", got ${describe(address)}`);
  }
  const secure = options.secure ?? false;
  if (typeof secure !== "boolean") {
    throw new TypeError(`options.secure must be a boolean, got ${describe(secure)}`);
  }
  return { statuses: new Set(statuses), address, secure };
}

export { joinHostPort };

/**
 * The instances to publish: those with a selected status and a usable address and port, as
 * `host:port` with details (id, status, meta, zone). Unusable ones are skipped with a warning.
 */
export function toInstances(
  instances: Iterable<EurekaInstance>,
  select: Selection,
  logger?: Logger,
): InstanceInput[] {
  const out: InstanceInput[] = [];
  for (const i of instances) {
    if (!select.statuses.has(i.status)) continue;
    const port = select.secure
      ? (i.securePortEnabled ? i.securePort : undefined)
      : (i.portEnabled ? i.port : undefined);
    const host = select.address === "hostName" ? i.hostName || i.ipAddr : i.ipAddr || i.hostName;
    if (port === undefined || host === "") {
      logger?.warn("Eureka instance without a usable address and port skipped", {
        app: i.app,
        instanceId: i.instanceId,
        secure: select.secure,
      });
      continue;
    }
    const meta: Record<string, string> = { ...i.metadata, [EUREKA_META_KEYS.status]: i.status };
    meta[EUREKA_META_KEYS.app] = i.app;
    if (i.hostName !== "") meta[EUREKA_META_KEYS.hostName] = i.hostName;
    if (i.vipAddress) meta[EUREKA_META_KEYS.vipAddress] = i.vipAddress;
    if (i.secureVipAddress) meta[EUREKA_META_KEYS.secureVipAddress] = i.secureVipAddress;
    const zone = i.metadata["zone"] ?? i.dataCenter.metadata["availability-zone"];
    const entry: {
      instance: string;
      id: string;
      status: HealthStatus;
      meta: Record<string, string>;
      zone?: string;
    } = { instance: joinHostPort(host, port), id: i.instanceId, status: HEALTH[i.status], meta };
    if (zone !== undefined && zone !== "") entry.zone = zone;
    out.push(entry);
  }
  return out;
}

/** What a 404 for an application is when it counts as an error (pull mode, and the instancer's grace). */
export function notFoundError(app: string): RegistryRejectedError {
  return new RegistryRejectedError(
    `Eureka knows no instance of application ${
      JSON.stringify(app)
    } (HTTP 404): none registered, or the server restarted and they have not registered again yet`,
    404,
  );
}
