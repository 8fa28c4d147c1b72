/**
 * What a {@linkcode ConsulRegistrar} registers, and its translation to Consul's JSON.
 *
 * @module
 */
import { requireNumber, requireString } from "../_validate.ts";
// deno-lint-ignore no-unused-vars
import type { ConsulRegistrar } from "./registrar.ts";

/** Fields every kind of check shares. Durations are milliseconds. */
export interface ConsulCheckCommon {
  /** Check ID. Default: `service:<service id>`, with `:<n>` (1-based) when there are several checks. */
  id?: string;
  /** Display name. Default: Consul's (`Service '<name>' check`). */
  name?: string;
  /** Free text for operators. */
  notes?: string;
  /** Status before the first result. Default: Consul's (`critical`). */
  status?: "passing" | "warning" | "critical";
  /**
   * Consul removes the whole service once this check has been critical this long (Consul's minimum is
   * one minute). Default: never.
   */
  deregisterCriticalServiceAfter?: number;
  /** Consecutive passes before the status becomes passing. Default: Consul's (0). */
  successBeforePassing?: number;
  /** Consecutive failures before the status becomes critical. Default: Consul's (0). */
  failuresBeforeCritical?: number;
}

/** A check the registrar keeps passing itself: critical unless renewed within `ttl` ms. */
export interface ConsulTtlCheck extends ConsulCheckCommon {
  /** Milliseconds the check stays passing without a renewal. */
  ttl: number;
}

/** The agent sends an HTTP request every `interval` ms; 2xx passes, 429 warns, anything else fails. */
export interface ConsulHttpCheck extends ConsulCheckCommon {
  /** The URL the agent requests. */
  http: string;
  /** Milliseconds between requests. */
  interval: number;
  /** Milliseconds a request may take. Default: Consul's (10 s). */
  timeout?: number;
  /** HTTP method. Default: `GET`. */
  method?: string;
  /** Request headers. */
  header?: Record<string, string[]>;
  /** Skip TLS verification. Default: `false`. */
  tlsSkipVerify?: boolean;
}

/** The agent opens a TCP connection to `tcp` (`host:port`) every `interval` ms. */
export interface ConsulTcpCheck extends ConsulCheckCommon {
  /** `host:port` to connect to. */
  tcp: string;
  /** Milliseconds between attempts. */
  interval: number;
  /** Milliseconds a connection attempt may take. Default: Consul's (10 s). */
  timeout?: number;
}

/** One health check of a registration. */
export type ConsulCheck = ConsulTtlCheck | ConsulHttpCheck | ConsulTcpCheck;

/** A service instance to register with the local Consul agent. */
export interface ConsulServiceRegistration {
  /** Service name. */
  name: string;
  /** Unique ID on the agent. Default: `<name>-<address>-<port>` (parts that are set). */
  id?: string;
  /** Address others reach it at. Default: the node's address. */
  address?: string;
  /** Port others reach it at. */
  port?: number;
  /** Tags. */
  tags?: readonly string[];
  /** Metadata. */
  meta?: Readonly<Record<string, string>>;
  /** Weights Consul's DNS (and this library's instancer) use by status. Default: Consul's (1 and 1). */
  weights?: { passing: number; warning: number };
  /** Let anti-entropy keep tags changed elsewhere. Default: `false`. */
  enableTagOverride?: boolean;
  /** Health checks. Default: none (the instance is passing as long as its node is). */
  checks?: readonly ConsulCheck[];
  /** More fields in Consul's own JSON form (`TaggedAddresses`, `Connect`, ...), sent as they are. */
  extra?: Readonly<Record<string, unknown>>;
}

/** The registration in Consul's JSON form and the TTL checks that need renewing. */
export interface ConsulDefinition {
  id: string;
  body: Record<string, unknown>;
  ttlChecks: { id: string; ttl: number }[];
}

const duration = (ms: number) => `${Math.ceil(ms)}ms`;

/**
 * Validates a registration and translates it (durations become Go duration strings, check IDs are
 * made explicit). Throws TypeError/RangeError naming the bad field.
 */
export function toDefinition(registration: ConsulServiceRegistration): ConsulDefinition {
  if (typeof registration !== "object" || registration === null) {
    throw new TypeError(`registration must be an object, got ${String(registration)}`);
  }
  const r = registration;
  const name = requireString(r.name, "registration.name");
  if (r.address !== undefined) requireString(r.address, "registration.address");
  if (r.port !== undefined) {
    requireNumber(r.port, "registration.port", { integer: true });
    if (r.port > 65535) throw new RangeError(`registration.port must be at most 65535, got ${r.port}`);
  }
  const id = r.id === undefined
    ? [name, r.address, r.port].filter((p) => p !== undefined).join("-")
    : requireString(r.id, "registration.id");
  const body: Record<string, unknown> = { ...r.extra, ID: id, Name: name };
  if (r.address !== undefined) body["Address"] = r.address;
  if (r.port !== undefined) body["Port"] = r.port;
  if (r.tags !== undefined) {
    if (!Array.isArray(r.tags) || r.tags.some((t) => typeof t !== "string")) {
      throw new TypeError(`registration.tags must be an array of strings, got ${JSON.stringify(r.tags)}`);
    }
    body["Tags"] = [...r.tags];
  }
  if (r.meta !== undefined) {
    if (
      typeof r.meta !== "object" || r.meta === null ||
      Object.values(r.meta).some((v) => typeof v !== "string")
    ) {
      throw new TypeError(`registration.meta must be an object of strings, got ${JSON.stringify(r.meta)}`);
    }
    body["Meta"] = { ...r.meta };
  }
  if (r.weights !== undefined) {
    body["Weights"] = {
      Passing: requireNumber(r.weights?.passing, "registration.weights.passing", { min: 1, integer: true }),
      Warning: requireNumber(r.weights?.warning, "registration.weights.warning", { integer: true }),
    };
  }
  if (r.enableTagOverride !== undefined) body["EnableTagOverride"] = r.enableTagOverride === true;
  const checks = r.checks ?? [];
  if (!Array.isArray(checks)) {
    throw new TypeError(`registration.checks must be an array, got ${JSON.stringify(checks)}`);
  }
  const ttlChecks: { id: string; ttl: number }[] = [];
  const out = checks.map((check, i) => {
    const where = `registration.checks[${i}]`;
    const checkId = check?.id ?? (checks.length === 1 ? `service:${id}` : `service:${id}:${i + 1}`);
    const json = toCheck(check, where, checkId);
    if ("ttl" in check) ttlChecks.push({ id: checkId, ttl: check.ttl });
    return json;
  });
  if (out.length > 0) body["Checks"] = out;
  return { id, body, ttlChecks };
}

function toCheck(check: ConsulCheck, where: string, checkId: string): Record<string, unknown> {
  if (typeof check !== "object" || check === null) {
    throw new TypeError(`${where} must be an object, got ${String(check)}`);
  }
  const kinds = (["ttl", "http", "tcp"] as const).filter((k) => k in check);
  if (kinds.length !== 1) {
    throw new TypeError(`${where} must have exactly one of ttl, http or tcp, got ${JSON.stringify(kinds)}`);
  }
  if (check.id !== undefined) requireString(check.id, `${where}.id`);
  const json: Record<string, unknown> = { CheckID: checkId };
  if (check.name !== undefined) json["Name"] = requireString(check.name, `${where}.name`);
  if (check.notes !== undefined) json["Notes"] = String(check.notes);
  if (check.status !== undefined) {
    if (!["passing", "warning", "critical"].includes(check.status)) {
      throw new TypeError(
        `${where}.status must be passing, warning or critical, got ${JSON.stringify(check.status)}`,
      );
    }
    json["Status"] = check.status;
  }
  if (check.deregisterCriticalServiceAfter !== undefined) {
    json["DeregisterCriticalServiceAfter"] = duration(
      requireNumber(check.deregisterCriticalServiceAfter, `${where}.deregisterCriticalServiceAfter`, {
        min: 1,
      }),
    );
  }
  if (check.successBeforePassing !== undefined) {
    json["SuccessBeforePassing"] = requireNumber(
      check.successBeforePassing,
      `${where}.successBeforePassing`,
      {
        integer: true,
      },
    );
  }
  if (check.failuresBeforeCritical !== undefined) {
    json["FailuresBeforeCritical"] = requireNumber(
      check.failuresBeforeCritical,
      `${where}.failuresBeforeCritical`,
      {
        integer: true,
      },
    );
  }
  if ("ttl" in check) {
    json["TTL"] = duration(requireNumber(check.ttl, `${where}.ttl`, { min: 1 }));
    return json;
  }
  json["Interval"] = duration(requireNumber(check.interval, `${where}.interval`, { min: 1 }));
  if (check.timeout !== undefined) {
    json["Timeout"] = duration(requireNumber(check.timeout, `${where}.timeout`, { min: 1 }));
  }
  if ("tcp" in check) {
    json["TCP"] = requireString(check.tcp, `${where}.tcp`);
    return json;
  }
  json["HTTP"] = requireString(check.http, `${where}.http`);
  if (check.method !== undefined) json["Method"] = requireString(check.method, `${where}.method`);
  if (check.header !== undefined) json["Header"] = check.header;
  if (check.tlsSkipVerify !== undefined) json["TLSSkipVerify"] = check.tlsSkipVerify === true;
  return json;
}
