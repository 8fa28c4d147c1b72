// One DNS-over-HTTPS exchange with one server: RFC 8484 (GET or POST, application/dns-message) or the
// JSON API (application/dns-json). Turns every HTTP and format failure into a DnsError; internal.
import { deadline } from "../_async.ts";
import { BodyTooLargeError, fetchWithin, readBody } from "../_body.ts";
import { describe } from "../errors.ts";
import type { FetchFunction } from "../http/factory.ts";
import { DnsError } from "./errors.ts";
import {
  decodeMessage,
  type DnsMessage,
  type DnsRecord,
  type DnsRecordData,
  encodeQuery,
  RR_TYPE,
} from "./wire.ts";

export interface ExchangeOptions {
  method: "GET" | "POST";
  format: "message" | "json";
  fetch: FetchFunction;
  timeout: number;
  maxBytes: number;
  signal: AbortSignal | undefined;
}

/** A decoded answer and the HTTP `Age` it arrived with, in seconds. */
export interface Exchanged {
  message: DnsMessage;
  age: number;
}

const TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(RR_TYPE).map(([k, v]) => [v, k]),
);

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Sends one query to one server; throws DnsError (ETIMEOUT, ECONNREFUSED, ESERVFAIL, EBADRESP, ECANCELLED). */
export async function exchange(
  server: string,
  name: string,
  type: number,
  syscall: string,
  options: ExchangeOptions,
): Promise<Exchanged> {
  const fail = (code: ConstructorParameters<typeof DnsError>[0], detail: string, cause?: unknown) =>
    new DnsError(code, syscall, name, { server, cause }, `${detail} (${server})`);
  const limit = deadline(options.timeout, options.signal);
  try {
    let request: Request;
    if (options.format === "json") {
      const url = new URL(server);
      url.searchParams.set("name", name);
      url.searchParams.set("type", TYPE_NAMES[type] ?? String(type));
      request = new Request(url, { headers: { accept: "application/dns-json" } });
    } else {
      const query = encodeQuery(name, type);
      if (options.method === "GET") {
        const url = new URL(server);
        url.searchParams.set("dns", base64url(query));
        request = new Request(url, { headers: { accept: "application/dns-message" } });
      } else {
        request = new Request(server, {
          method: "POST",
          headers: { accept: "application/dns-message", "content-type": "application/dns-message" },
          body: new Uint8Array(query),
        });
      }
    }
    let response: Response;
    try {
      response = await fetchWithin(options.fetch, request, { signal: limit.signal });
    } catch (error) {
      throw abortOr(error, limit.signal, options.signal, fail, "request failed");
    }
    try {
      if (response.status !== 200) {
        throw fail(response.status >= 500 ? "ESERVFAIL" : "EBADRESP", `HTTP ${response.status}`);
      }
      const expected = options.format === "json" ? "application/dns-json" : "application/dns-message";
      const contentType = (response.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      const jsonLike = options.format === "json" && contentType === "application/json";
      if (contentType !== expected && !jsonLike) {
        throw fail("EBADRESP", `content type ${JSON.stringify(contentType)}, expected ${expected}`);
      }
      let bytes: Uint8Array;
      try {
        bytes = await readBody(response, options.maxBytes, limit.signal);
      } catch (error) {
        if (error instanceof BodyTooLargeError) throw fail("EBADRESP", error.message);
        throw error;
      }
      const ageHeader = Number(response.headers.get("age"));
      const age = Number.isFinite(ageHeader) && ageHeader > 0 ? Math.floor(ageHeader) : 0;
      let message: DnsMessage;
      try {
        message = options.format === "json"
          ? fromJson(new TextDecoder().decode(bytes))
          : decodeMessage(bytes);
      } catch (error) {
        throw fail("EBADRESP", `malformed answer: ${describe(error)}`, error);
      }
      checkAnswer(message, name, type, options.format === "message", fail);
      return { message, age };
    } catch (error) {
      response.body?.cancel().catch(() => {});
      if (error instanceof DnsError) throw error;
      throw abortOr(error, limit.signal, options.signal, fail, "reading the answer failed");
    }
  } finally {
    limit.clear();
  }
}

function abortOr(
  error: unknown,
  limit: AbortSignal,
  caller: AbortSignal | undefined,
  fail: (code: "ECANCELLED" | "ETIMEOUT" | "ECONNREFUSED", detail: string, cause?: unknown) => DnsError,
  what: string,
): DnsError {
  if (caller?.aborted) return fail("ECANCELLED", "cancelled", caller.reason);
  if (limit.aborted) return fail("ETIMEOUT", "no answer in time", limit.reason);
  return fail("ECONNREFUSED", `${what}: ${describe(error)}`, error);
}

function sameName(a: string, b: string): boolean {
  return a.replace(/\.$/, "").toLowerCase() === b.replace(/\.$/, "").toLowerCase();
}

function checkAnswer(
  message: DnsMessage,
  name: string,
  type: number,
  wire: boolean,
  fail: (code: "EBADRESP", detail: string) => DnsError,
): void {
  if (wire && (!message.flags.qr || message.id !== 0)) throw fail("EBADRESP", "not an answer to this query");
  if (message.flags.tc) throw fail("EBADRESP", "truncated answer");
  const q = message.questions[0];
  if (q !== undefined && (!sameName(q.name, name) || q.type !== type)) {
    throw fail("EBADRESP", `answer is for ${JSON.stringify(q.name)} type ${q.type}`);
  }
}

// --- JSON API (a Google/Cloudflare convention, not the RFC) ---

function fromJson(text: string): DnsMessage {
  const body: unknown = JSON.parse(text);
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new TypeError("not a JSON object");
  }
  const o = body as Record<string, unknown>;
  if (!Number.isInteger(o["Status"])) {
    throw new TypeError(`Status ${JSON.stringify(o["Status"])} is not an integer`);
  }
  const questions = list(o["Question"], "Question").map((q) => {
    const r = record(q, "Question");
    return {
      name: str(r["name"], "Question.name").replace(/\.$/, ""),
      type: int(r["type"], "Question.type"),
      class: 1,
    };
  });
  return {
    id: 0,
    flags: {
      qr: true,
      opcode: 0,
      aa: false,
      tc: o["TC"] === true,
      rd: o["RD"] !== false,
      ra: o["RA"] === true,
      rcode: o["Status"] as number,
    },
    questions,
    answers: list(o["Answer"], "Answer").map((a) => jsonRecord(a, "Answer")),
    authorities: list(o["Authority"], "Authority").map((a) => jsonRecord(a, "Authority")),
    additionals: list(o["Additional"], "Additional").map((a) => jsonRecord(a, "Additional")),
  };
}

function list(value: unknown, what: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new TypeError(`${what} is not an array`);
  return value;
}
function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null) throw new TypeError(`${what} entry is not an object`);
  return value as Record<string, unknown>;
}
function str(value: unknown, what: string): string {
  if (typeof value !== "string") throw new TypeError(`${what} ${JSON.stringify(value)} is not a string`);
  return value;
}
function int(value: unknown, what: string): number {
  if (!Number.isInteger(value) || (value as number) < 0) {
    throw new TypeError(`${what} ${JSON.stringify(value)} is not a non-negative integer`);
  }
  return value as number;
}

function jsonRecord(value: unknown, what: string): DnsRecord {
  const r = record(value, what);
  const type = int(r["type"], `${what}.type`);
  const data = str(r["data"], `${what}.data`);
  return {
    name: str(r["name"], `${what}.name`).replace(/\.$/, ""),
    type,
    class: 1,
    ttl: int(r["TTL"], `${what}.TTL`),
    data: jsonData(type, data.trim(), what),
  };
}

function jsonData(type: number, data: string, what: string): DnsRecordData {
  const bad = () => new TypeError(`${what}.data ${JSON.stringify(data)} is not valid for type ${type}`);
  const host = (s: string) => s.replace(/\.$/, "");
  switch (type) {
    case RR_TYPE.A:
      if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(data)) throw bad();
      return { kind: "A", address: data };
    case RR_TYPE.AAAA:
      if (!/^[0-9a-fA-F:.]+$/.test(data) || !data.includes(":")) throw bad();
      return { kind: "AAAA", address: data.toLowerCase() };
    case RR_TYPE.CNAME:
      return { kind: "CNAME", target: host(data) };
    case RR_TYPE.SRV: {
      const m = /^(\d+)\s+(\d+)\s+(\d+)\s+(\S+)$/.exec(data);
      if (m === null) throw bad();
      const [priority, weight, port] = [Number(m[1]), Number(m[2]), Number(m[3])];
      if (priority > 65535 || weight > 65535 || port > 65535) throw bad();
      return { kind: "SRV", priority, weight, port, target: m[4] === "." ? "" : host(m[4]!) };
    }
    case RR_TYPE.TXT: {
      const strings = [...data.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\(.)/g, "$1"));
      return { kind: "TXT", strings: strings.length > 0 ? strings : [data] };
    }
    case RR_TYPE.SOA: {
      const parts = data.split(/\s+/);
      if (parts.length !== 7 || parts.slice(2).some((p) => !/^\d+$/.test(p))) throw bad();
      const [serial, refresh, retry, expire, minimum] = parts.slice(2).map(Number) as [
        number,
        number,
        number,
        number,
        number,
      ];
      return {
        kind: "SOA",
        mname: host(parts[0]!),
        rname: host(parts[1]!),
        serial,
        refresh,
        retry,
        expire,
        minimum,
      };
    }
    default:
      return { kind: "other", bytes: new TextEncoder().encode(data) };
  }
}
