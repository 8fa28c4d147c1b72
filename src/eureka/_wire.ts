// Decoding Eureka's JSON, which was born as XML: a list of one arrives as an object and a longer one
// as an array, numbers and booleans arrive as strings or as {"$": value, "@enabled": ...} objects,
// and any field may be missing. Internal.
import { setOwn } from "../_record.ts";
import { describe, MalformedResponseError } from "../errors.ts";
import type {
  EurekaActionType,
  EurekaApplication,
  EurekaApplications,
  EurekaInstance,
  EurekaInstanceStatus,
} from "./client.ts";

const STATUSES: ReadonlySet<string> = new Set(["UP", "DOWN", "STARTING", "OUT_OF_SERVICE", "UNKNOWN"]);
const ACTIONS: ReadonlySet<string> = new Set(["ADDED", "MODIFIED", "DELETED"]);
const NO_STRINGS: Readonly<Record<string, string>> = Object.freeze({});

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A list from a field that holds nothing, one item as an object, or several as an array. */
export function list(value: unknown): unknown[] {
  if (value === undefined || value === null || value === "") return [];
  return Array.isArray(value) ? value : [value];
}

/** A string from a string or a number (XML text); `undefined` for anything else. */
export function text(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

/** A boolean from `true`/`false` or `"true"`/`"false"`; `fallback` for anything else. */
export function flag(value: unknown, fallback: boolean): boolean {
  if (typeof value === "boolean") return value;
  if (value === "true") return true;
  if (value === "false") return false;
  return fallback;
}

/** A TCP port (1-65535) from a number, a numeric string or `{"$": ...}`; `undefined` otherwise. */
export function portNumber(value: unknown): number | undefined {
  const raw = isObject(value) ? value["$"] : value;
  const n = typeof raw === "string" && /^\d{1,5}$/.test(raw.trim()) ? Number(raw) : raw;
  return typeof n === "number" && Number.isInteger(n) && n > 0 && n < 65536 ? n : undefined;
}

/** The `@enabled` attribute of a port object; a bare port has none. */
function portEnabled(value: unknown, fallback: boolean): boolean {
  return isObject(value) ? flag(value["@enabled"], fallback) : fallback;
}

/** A string map from an object, dropping the codec's `@class` marker and non-scalar values. */
function strings(value: unknown): Readonly<Record<string, string>> {
  if (!isObject(value)) return NO_STRINGS;
  let out: Record<string, string> | undefined;
  for (const key in value) {
    if (key === "@class") continue;
    const v = text(value[key]) ?? (typeof value[key] === "boolean" ? String(value[key]) : undefined);
    if (v === undefined) continue;
    setOwn(out ??= {}, key, v);
  }
  return out === undefined ? NO_STRINGS : out;
}

function status(value: unknown): EurekaInstanceStatus {
  // Eureka maps every status it does not know to UNKNOWN; so does its reconcile hash.
  return typeof value === "string" && STATUSES.has(value) ? value as EurekaInstanceStatus : "UNKNOWN";
}

function timestamp(value: unknown): number | undefined {
  const n = typeof value === "string" ? Number(value) : value;
  return typeof n === "number" && Number.isFinite(n) ? n : undefined;
}

/** Decodes one `instance` object. `app` is the enclosing application's name. */
export function decodeInstance(value: unknown, app: string, where: string): EurekaInstance {
  if (!isObject(value)) {
    throw new MalformedResponseError(`Eureka sent ${where} as ${describe(value)}, expected an object`);
  }
  const hostName = text(value["hostName"]) ?? "";
  const dc = isObject(value["dataCenterInfo"]) ? value["dataCenterInfo"] : undefined;
  const dataCenter = { name: text(dc?.["name"]) ?? "", metadata: strings(dc?.["metadata"]) };
  // Eureka's InstanceInfo.getId(): the instanceId, else an Amazon instance's id, else the host name.
  const instanceId = text(value["instanceId"]) ||
    (dataCenter.name === "Amazon" ? dataCenter.metadata["instance-id"] : undefined) || hostName;
  const action = value["actionType"];
  const overridden = value["overriddenStatus"] ?? value["overriddenstatus"];
  return {
    instanceId,
    app: (text(value["app"]) || app).toUpperCase(),
    hostName,
    ipAddr: text(value["ipAddr"]) ?? "",
    status: status(value["status"]),
    overriddenStatus: status(overridden),
    port: portNumber(value["port"]),
    portEnabled: portEnabled(value["port"], true),
    securePort: portNumber(value["securePort"]),
    securePortEnabled: portEnabled(value["securePort"], false),
    vipAddress: text(value["vipAddress"]),
    secureVipAddress: text(value["secureVipAddress"]),
    metadata: strings(value["metadata"]),
    dataCenter,
    actionType: typeof action === "string" && ACTIONS.has(action) ? action as EurekaActionType : undefined,
    lastDirtyTimestamp: timestamp(value["lastDirtyTimestamp"]),
  };
}

/** Decodes one `application` object. */
export function decodeApplication(value: unknown, where: string): EurekaApplication {
  if (!isObject(value)) {
    throw new MalformedResponseError(`Eureka sent ${where} as ${describe(value)}, expected an object`);
  }
  const name = text(value["name"]);
  if (name === undefined || name === "") {
    throw new MalformedResponseError(`Eureka sent ${where} without a name: ${describe(value["name"])}`);
  }
  const upper = name.toUpperCase();
  const instances = list(value["instance"]).map((i, n) =>
    decodeInstance(i, upper, `${where}.instance[${n}]`)
  );
  return { name: upper, instances };
}

/** Decodes the answer to `GET /apps/{APP}`: `{"application": {...}}`. */
export function decodeApplicationAnswer(value: unknown): EurekaApplication {
  if (!isObject(value) || !isObject(value["application"])) {
    throw new MalformedResponseError(
      `Eureka answered with ${describe(clip(value))}, expected {"application": {...}}`,
    );
  }
  return decodeApplication(value["application"], "application");
}

/** Decodes the answer to `GET /apps` or `GET /apps/delta`: `{"applications": {...}}`. */
export function decodeApplicationsAnswer(value: unknown): EurekaApplications {
  const root = isObject(value) ? value["applications"] : undefined;
  if (!isObject(root)) {
    throw new MalformedResponseError(
      `Eureka answered with ${describe(clip(value))}, expected {"applications": {...}}`,
    );
  }
  return {
    hashCode: text(root["apps__hashcode"]) ?? "",
    versionsDelta: text(root["versions__delta"]) ?? "",
    applications: list(root["application"]).map((a, n) => decodeApplication(a, `application[${n}]`)),
  };
}

function clip(value: unknown): unknown {
  if (!isObject(value) && !Array.isArray(value)) return value;
  const json = JSON.stringify(value);
  return json.length > 80 ? `${json.slice(0, 80)}...` : json;
}

/**
 * The reconcile hash code Eureka computes over a registry: for every status in code-unit order, the
 * status, `_`, the number of instances with it, `_` (`DOWN_1_UP_2_`); empty for an empty registry.
 */
export function reconcileHashCode(instances: Iterable<{ readonly status: string }>): string {
  const counts = new Map<string, number>();
  for (const { status } of instances) counts.set(status, (counts.get(status) ?? 0) + 1);
  let out = "";
  for (const key of [...counts.keys()].sort()) out += `${key}_${counts.get(key)}_`;
  return out;
}

/** Throws unless `metadata` is an object of strings; returns it. */
export function checkMetadata(metadata: unknown, name: string): Record<string, string> {
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
    const got = Array.isArray(metadata) ? "an array" : describe(metadata);
    throw new TypeError(`${name} must be an object of strings, got ${got}`);
  }
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== "string") {
      throw new TypeError(`${name}[${JSON.stringify(key)}] must be a string, got ${describe(value)}`);
    }
  }
  return metadata as Record<string, string>;
}
