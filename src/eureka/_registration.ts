// The registration JSON that current Eureka servers (Spring Cloud Netflix, Netflix 1.x) accept, and
// the validation of the options it is built from; internal.
import { requireNumber, requireString } from "../_validate.ts";
import { describe } from "../errors.ts";
import { joinHostPort } from "./_select.ts";
import { checkMetadata } from "./_wire.ts";
import type { EurekaInstanceStatus } from "./client.ts";

/** The data-center info sent with a registration. */
export type EurekaDataCenterInfo =
  | { readonly name: "MyOwn" }
  | { readonly name: "Amazon"; readonly metadata: Readonly<Record<string, string>> };

/** The statuses a registrar can set. */
export type EurekaRegistrarStatus = "UP" | "DOWN" | "STARTING" | "OUT_OF_SERVICE";

/** What `EurekaRegistrar` registers: the instance's addresses, names, status, metadata and lease. */
export interface EurekaRegistrationOptions {
  /** The application's name (sent upper case, as Eureka keeps it). Required. */
  app: string;
  /** The IP address clients should use. Required. */
  ipAddr: string;
  /** The plain (HTTP) port; enabled when given. One of `port` and `securePort` is required. */
  port?: number;
  /** The secure (HTTPS) port; enabled when given. */
  securePort?: number;
  /** The host name. Default: `ipAddr`. */
  hostName?: string;
  /** The instance id, unique within the application. Default: `hostName:app:port` (lower-case app, as Spring Cloud does). */
  instanceId?: string;
  /** The VIP address clients look the service up by. Default: the application's name, lower case. */
  vipAddress?: string;
  /** The secure VIP address. Default: `vipAddress`. */
  secureVipAddress?: string;
  /** The status to register with; change it later with `setStatus()`. Default: `"UP"`. */
  status?: EurekaRegistrarStatus;
  /** Metadata entries; add more later with `setMetadata()`. Default: none. */
  metadata?: Readonly<Record<string, string>>;
  /** The home page. Default: `http(s)://hostName:port/`. */
  homePageUrl?: string;
  /** The status page (Eureka's dashboard links to it). Default: the home page + `info`. */
  statusPageUrl?: string;
  /** The health check. Default: the home page + `health`. */
  healthCheckUrl?: string;
  /** The data-center info. Default: `{ name: "MyOwn" }`. */
  dataCenterInfo?: EurekaDataCenterInfo;
  /** Seconds between heartbeats (each shortened by up to 10% at random). Default: 30. */
  renewalIntervalInSecs?: number;
  /** Seconds without a heartbeat after which the server may evict the instance. Default: 90. */
  durationInSecs?: number;
}

/** Validated registration facts. */
export interface Registration {
  app: string;
  instanceId: string;
  hostName: string;
  ipAddr: string;
  port: number | undefined;
  securePort: number | undefined;
  vipAddress: string;
  secureVipAddress: string;
  homePageUrl: string;
  statusPageUrl: string;
  healthCheckUrl: string;
  dataCenterInfo: EurekaDataCenterInfo;
  renewal: number;
  duration: number;
  /** The `host:port` string events carry. */
  instance: string;
}

const SETTABLE: ReadonlySet<string> = new Set(["UP", "DOWN", "STARTING", "OUT_OF_SERVICE"]);

/** Throws unless `status` is one a registrar can set. */
export function requireStatus(status: unknown, name: string): EurekaRegistrarStatus {
  if (typeof status !== "string" || !SETTABLE.has(status)) {
    throw new TypeError(`${name} must be one of ${[...SETTABLE].join(", ")}, got ${describe(status)}`);
  }
  return status as EurekaRegistrarStatus;
}

function optionalPort(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  requireNumber(value, name, { min: 1, integer: true });
  if ((value as number) > 65535) throw new RangeError(`${name} must be at most 65535, got ${value}`);
  return value as number;
}

function optionalString(value: unknown, name: string): string | undefined {
  return value === undefined ? undefined : requireString(value, name);
}

/** Validates the options into registration facts. */
export function registration(options: EurekaRegistrationOptions): Registration {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object with app, ipAddr and a port, got ${describe(options)}`);
  }
  const app = requireString(options.app, "options.app");
  const ipAddr = requireString(options.ipAddr, "options.ipAddr");
  const port = optionalPort(options.port, "options.port");
  const securePort = optionalPort(options.securePort, "options.securePort");
  if (port === undefined && securePort === undefined) {
    throw new TypeError("options.port or options.securePort is required");
  }
  const hostName = optionalString(options.hostName, "options.hostName") ?? ipAddr;
  const vipAddress = optionalString(options.vipAddress, "options.vipAddress") ?? app.toLowerCase();
  const home = optionalString(options.homePageUrl, "options.homePageUrl") ??
    (port !== undefined
      ? `http://${joinHostPort(hostName, port)}/`
      : `https://${joinHostPort(hostName, securePort!)}/`);
  const renewal = requireNumber(options.renewalIntervalInSecs ?? 30, "options.renewalIntervalInSecs", {
    min: 1,
    integer: true,
  });
  const duration = requireNumber(options.durationInSecs ?? 90, "options.durationInSecs", {
    min: 1,
    integer: true,
  });
  if (duration <= renewal) {
    throw new RangeError(
      `options.durationInSecs must be above renewalIntervalInSecs (${renewal}), got ${duration}`,
    );
  }
  const dc = options.dataCenterInfo ?? { name: "MyOwn" };
  if (typeof dc !== "object" || dc === null || (dc.name !== "MyOwn" && dc.name !== "Amazon")) {
    throw new TypeError(
      `options.dataCenterInfo must be { name: "MyOwn" } or { name: "Amazon", metadata }, got ${describe(dc)}`,
    );
  }
  if (dc.name === "Amazon") checkMetadata(dc.metadata, "options.dataCenterInfo.metadata");
  return {
    app: app.toUpperCase(),
    instanceId: optionalString(options.instanceId, "options.instanceId") ??
      `${hostName}:${app.toLowerCase()}:${port ?? securePort}`,
    hostName,
    ipAddr,
    port,
    securePort,
    vipAddress,
    secureVipAddress: optionalString(options.secureVipAddress, "options.secureVipAddress") ?? vipAddress,
    homePageUrl: home,
    statusPageUrl: optionalString(options.statusPageUrl, "options.statusPageUrl") ?? `${home}info`,
    healthCheckUrl: optionalString(options.healthCheckUrl, "options.healthCheckUrl") ?? `${home}health`,
    dataCenterInfo: dc,
    renewal,
    duration,
    instance: joinHostPort(ipAddr, (port ?? securePort)!),
  };
}

/** The `instance` object of a registration. */
export function registrationBody(
  r: Registration,
  state: {
    status: EurekaRegistrarStatus;
    override: EurekaInstanceStatus | undefined;
    metadata: Readonly<Record<string, string>>;
    dirty: number;
  },
): Record<string, unknown> {
  const dataCenterInfo = r.dataCenterInfo.name === "Amazon"
    ? { "@class": "com.netflix.appinfo.AmazonInfo", name: "Amazon", metadata: r.dataCenterInfo.metadata }
    : { "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", name: "MyOwn" };
  const body: Record<string, unknown> = {
    instanceId: r.instanceId,
    hostName: r.hostName,
    app: r.app,
    ipAddr: r.ipAddr,
    // An override set earlier is sent again, so that a server that lost the instance restores it.
    status: state.override ?? state.status,
    overriddenStatus: state.override ?? "UNKNOWN",
    // Eureka's codec wants `@enabled` as a string; the disabled port gets Spring's default number.
    port: { $: r.port ?? 80, "@enabled": String(r.port !== undefined) },
    securePort: { $: r.securePort ?? 443, "@enabled": String(r.securePort !== undefined) },
    countryId: 1,
    dataCenterInfo,
    leaseInfo: { renewalIntervalInSecs: r.renewal, durationInSecs: r.duration },
    metadata: { ...state.metadata },
    homePageUrl: r.homePageUrl,
    statusPageUrl: r.statusPageUrl,
    healthCheckUrl: r.healthCheckUrl,
    vipAddress: r.vipAddress,
    secureVipAddress: r.secureVipAddress,
    isCoordinatingDiscoveryServer: "false",
    lastUpdatedTimestamp: String(Date.now()),
    lastDirtyTimestamp: String(state.dirty),
  };
  if (r.securePort !== undefined) {
    body["secureHealthCheckUrl"] = `https://${joinHostPort(r.hostName, r.securePort)}/health`;
  }
  return body;
}
