// Checking the JSON Consul sends before anything trusts its shape; internal.
import { MalformedResponseError } from "../errors.ts";
import { redact } from "../_redact.ts";

/** The part of one `/v1/health/service` entry this library reads. Other fields are kept as sent. */
export interface ConsulServiceEntry {
  /** The node the service runs on. */
  readonly Node: {
    readonly Node?: string;
    readonly Address: string;
    readonly Datacenter?: string;
    readonly [key: string]: unknown;
  };
  /** The service registration. */
  readonly Service: {
    readonly ID: string;
    readonly Service: string;
    readonly Address: string;
    readonly Port: number;
    readonly Tags: readonly string[] | null;
    readonly Meta: Readonly<Record<string, string>> | null;
    readonly Weights?: { readonly Passing: number; readonly Warning: number };
    readonly [key: string]: unknown;
  };
  /** The node's and the service's health checks. */
  readonly Checks: readonly {
    readonly CheckID?: string;
    readonly Status: string;
    readonly [key: string]: unknown;
  }[];
}

function bad(where: string, what: string, value: unknown): MalformedResponseError {
  let shown: string;
  try {
    shown = redact(JSON.stringify(value) ?? String(value)).slice(0, 80);
  } catch {
    shown = redact(String(value));
  }
  return new MalformedResponseError(`Consul sent ${where} = ${shown}, expected ${what}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (!isObject(value)) throw bad(where, "an object", value);
  return value;
}

function string(value: unknown, where: string, optional = false): void {
  if (optional && value === undefined) return;
  if (typeof value !== "string") throw bad(where, "a string", value);
}

function uint(value: unknown, where: string, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    throw bad(where, `an integer from 0 to ${max}`, value);
  }
}

/** Parses and checks a `/v1/health/service` body; throws MalformedResponseError naming the bad field. */
export function parseServiceEntries(text: string): ConsulServiceEntry[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new MalformedResponseError(
      `Consul sent a health answer that is not JSON: ${JSON.stringify(redact(text).slice(0, 80))}`,
      {
        cause: error,
      },
    );
  }
  if (!Array.isArray(body)) throw bad("the health answer", "an array", body);
  body.forEach((entry, i) => checkEntry(entry, `[${i}]`));
  return body as ConsulServiceEntry[];
}

function checkEntry(entry: unknown, at: string): void {
  const e = object(entry, at);
  const node = object(e["Node"], `${at}.Node`);
  string(node["Address"], `${at}.Node.Address`);
  string(node["Datacenter"], `${at}.Node.Datacenter`, true);
  const service = object(e["Service"], `${at}.Service`);
  string(service["ID"], `${at}.Service.ID`);
  string(service["Service"], `${at}.Service.Service`);
  if (service["Address"] === undefined) (service as Record<string, unknown>)["Address"] = "";
  string(service["Address"], `${at}.Service.Address`);
  uint(service["Port"], `${at}.Service.Port`, 65535);
  const tags = service["Tags"] ?? null;
  if (tags !== null && (!Array.isArray(tags) || tags.some((t) => typeof t !== "string"))) {
    throw bad(`${at}.Service.Tags`, "an array of strings", tags);
  }
  service["Tags"] = tags;
  const meta = service["Meta"] ?? null;
  if (meta !== null && (!isObject(meta) || Object.values(meta).some((v) => typeof v !== "string"))) {
    throw bad(`${at}.Service.Meta`, "an object of strings", meta);
  }
  service["Meta"] = meta;
  if (service["Weights"] !== undefined && service["Weights"] !== null) {
    const weights = object(service["Weights"], `${at}.Service.Weights`);
    uint(weights["Passing"], `${at}.Service.Weights.Passing`);
    uint(weights["Warning"], `${at}.Service.Weights.Warning`);
  } else {
    delete service["Weights"];
  }
  const checks = e["Checks"] ?? [];
  if (!Array.isArray(checks)) throw bad(`${at}.Checks`, "an array", checks);
  checks.forEach((c, i) => string(object(c, `${at}.Checks[${i}]`)["Status"], `${at}.Checks[${i}].Status`));
  e["Checks"] = checks;
}

/** Parses the `X-Consul-Index` header: a non-negative integer, or MalformedResponseError. */
export function parseIndex(header: string | null): number {
  const index = header !== null && /^\d{1,16}$/.test(header.trim()) ? Number(header.trim()) : NaN;
  if (!Number.isSafeInteger(index)) {
    throw new MalformedResponseError(
      `Consul sent X-Consul-Index ${
        header === null ? "(missing)" : JSON.stringify(header)
      }, expected an integer`,
    );
  }
  return index;
}
