// A fake DNS-over-HTTPS server as an injectable fetch: it decodes RFC 8484 GET/POST queries and
// JSON-API queries, answers from records the test sets (encoded with the library's encodeMessage),
// records every request, and can be told to fail in each way a real server does. Response bodies
// are tracked so tests can check that the client consumed or cancelled every one.
import {
  decodeMessage,
  type DnsMessage,
  type DnsQuestion,
  type DnsRecord,
  type DnsRecordData,
  encodeMessage,
  RCODE,
  RR_TYPE,
} from "../../src/dns/wire.ts";

/** What a server does instead of answering properly. */
export type DohFault =
  | "http500" // HTTP 500 with a text body
  | "http404" // HTTP 404 with a text body
  | "garbage" // HTTP 200, application/dns-message, bytes that are not a DNS message
  | "wrongType" // HTTP 200 with text/html
  | "hang" // never answers; rejects when the request's signal aborts, as fetch does
  | "stallBody" // headers, then a body that never ends (errors when the signal aborts)
  | "network" // fetch rejects, as for a refused connection
  | "oversize" // a 70,000-byte body streamed without content-length
  | "oversizeDeclared" // content-length 100,000 announced
  | "mismatch" // a well-formed answer to another question
  | "wrongId" // a well-formed answer with message ID 4660
  | "truncated" // TC set
  | "servfail" // rcode SERVFAIL, HTTP 200
  | "refused"; // rcode REFUSED, HTTP 200

/** An answer the fake gives for one name and type. */
export interface FakeReply {
  rcode?: number;
  answers?: DnsRecord[];
  authorities?: DnsRecord[];
  additionals?: DnsRecord[];
  /** Extra response headers, e.g. `{ age: "4" }`. */
  headers?: Record<string, string>;
}

/** One request the fake received. */
export interface RecordedRequest {
  /** The server part of the URL: origin and path, without the query. */
  server: string;
  url: URL;
  method: string;
  accept: string | null;
  contentType: string | null;
  /** The POST body, if any. */
  body: Uint8Array | undefined;
  /** `"message"` for RFC 8484, `"json"` for the JSON API. */
  format: "message" | "json";
  /** The decoded wire query (RFC 8484 only). */
  query: DnsMessage | undefined;
  /** The question asked, in either format. */
  question: { name: string; type: number };
}

const TYPE_BY_NAME: Record<string, number> = { ...RR_TYPE };

/** Seconds for the SOA of the default negative answer, and its minimum. */
export const DEFAULT_SOA = { ttl: 300, minimum: 60 } as const;

/** Builds an SRV record. */
export function srv(
  owner: string,
  priority: number,
  weight: number,
  port: number,
  target: string,
  ttl = 30,
): DnsRecord {
  return {
    name: owner,
    type: RR_TYPE.SRV,
    class: 1,
    ttl,
    data: { kind: "SRV", priority, weight, port, target },
  };
}
/** Builds an A record. */
export function a(owner: string, address: string, ttl = 30): DnsRecord {
  return { name: owner, type: RR_TYPE.A, class: 1, ttl, data: { kind: "A", address } };
}
/** Builds an AAAA record. */
export function aaaa(owner: string, address: string, ttl = 30): DnsRecord {
  return { name: owner, type: RR_TYPE.AAAA, class: 1, ttl, data: { kind: "AAAA", address } };
}
/** Builds a CNAME record. */
export function cname(owner: string, target: string, ttl = 30): DnsRecord {
  return { name: owner, type: RR_TYPE.CNAME, class: 1, ttl, data: { kind: "CNAME", target } };
}
/** Builds a TXT record. */
export function txt(owner: string, strings: string[], ttl = 30): DnsRecord {
  return { name: owner, type: RR_TYPE.TXT, class: 1, ttl, data: { kind: "TXT", strings } };
}
/** Builds an SOA record for negative answers. */
export function soa(owner: string, ttl: number, minimum: number): DnsRecord {
  return {
    name: owner,
    type: RR_TYPE.SOA,
    class: 1,
    ttl,
    data: {
      kind: "SOA",
      mname: `ns1.${owner}`,
      rname: `hostmaster.${owner}`,
      serial: 1,
      refresh: 60,
      retry: 60,
      expire: 3600,
      minimum,
    },
  };
}

/** A DNS response message for `question`. */
export function responseTo(question: DnsQuestion, reply: FakeReply, id = 0): DnsMessage {
  return {
    id,
    flags: {
      qr: true,
      opcode: 0,
      aa: true,
      tc: false,
      rd: true,
      ra: true,
      rcode: reply.rcode ?? RCODE.NOERROR,
    },
    questions: [question],
    answers: reply.answers ?? [],
    authorities: reply.authorities ?? [],
    additionals: reply.additionals ?? [],
  };
}

function presentation(data: DnsRecordData): string {
  const fqdn = (name: string) => `${name}.`;
  switch (data.kind) {
    case "A":
    case "AAAA":
      return data.address;
    case "CNAME":
    case "NS":
    case "PTR":
      return fqdn(data.target);
    case "SRV":
      return `${data.priority} ${data.weight} ${data.port} ${fqdn(data.target)}`;
    case "TXT":
      return data.strings.map((s) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(" ");
    case "SOA":
      return `${fqdn(data.mname)} ${
        fqdn(data.rname)
      } ${data.serial} ${data.refresh} ${data.retry} ${data.expire} ${data.minimum}`;
    case "other":
      return "";
  }
}

/** The JSON API form of a response, as Google and Cloudflare send it. */
export function jsonResponse(message: DnsMessage): Record<string, unknown> {
  const rr = (r: DnsRecord) => ({ name: `${r.name}.`, type: r.type, TTL: r.ttl, data: presentation(r.data) });
  const out: Record<string, unknown> = {
    Status: message.flags.rcode,
    TC: message.flags.tc,
    RD: true,
    RA: true,
    AD: false,
    CD: false,
    Question: message.questions.map((q) => ({ name: `${q.name}.`, type: q.type })),
  };
  if (message.answers.length > 0) out["Answer"] = message.answers.map(rr);
  if (message.authorities.length > 0) out["Authority"] = message.authorities.map(rr);
  if (message.additionals.length > 0) out["Additional"] = message.additionals.map(rr);
  return out;
}

function decodeBase64url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function key(name: string, type: number): string {
  return `${type}:${name.replace(/\.$/, "").toLowerCase()}`;
}

/** The fake server. Use {@linkcode FakeDoh.fetch} as the resolver's `fetch`. */
export class FakeDoh {
  /** Every request, in arrival order. */
  readonly requests: RecordedRequest[] = [];
  readonly #replies = new Map<string, FakeReply>();
  readonly #faults = new Map<string, DohFault>();
  #open = 0;
  #bodies = 0;
  /** The zone whose SOA comes with the default NXDOMAIN answer. */
  zone = "example";
  /** Bytes per chunk of a response body. */
  chunkSize = 4096;

  /** Sets the answer for `name` and `type` (a number or a name such as `"SRV"`). */
  set(name: string, type: number | keyof typeof RR_TYPE, reply: FakeReply): this {
    this.#replies.set(key(name, typeof type === "number" ? type : RR_TYPE[type]), reply);
    return this;
  }

  /** Makes `server` (a URL as given to the resolver) fail with `fault` until {@linkcode FakeDoh.heal}. */
  fail(server: string, fault: DohFault): this {
    this.#faults.set(new URL(server).href, fault);
    return this;
  }

  /** Makes `server` answer normally again. */
  heal(server: string): this {
    this.#faults.delete(new URL(server).href);
    return this;
  }

  /** The servers asked, in order. */
  servers(): string[] {
    return this.requests.map((r) => r.server);
  }

  /** Response bodies handed out and not yet read to the end or cancelled. */
  get openBodies(): number {
    return this.#open;
  }

  /** Response bodies handed out in total. */
  get bodies(): number {
    return this.#bodies;
  }

  /** The reply for a question: what was set, or NXDOMAIN with the zone's SOA. */
  replyFor(name: string, type: number): FakeReply {
    return this.#replies.get(key(name, type)) ?? {
      rcode: RCODE.NXDOMAIN,
      authorities: [soa(this.zone, DEFAULT_SOA.ttl, DEFAULT_SOA.minimum)],
    };
  }

  /** A fetch function; bind-free, so it can be passed as is. */
  readonly fetch = async (input: Request | URL | string, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    const signal = init?.signal ?? request.signal;
    const url = new URL(request.url);
    const server = `${url.origin}${url.pathname}`;
    const body = request.method === "POST" ? new Uint8Array(await request.arrayBuffer()) : undefined;
    const dnsParam = url.searchParams.get("dns");
    let query: DnsMessage | undefined;
    let question: { name: string; type: number };
    let format: "message" | "json";
    if (body !== undefined || dnsParam !== null) {
      format = "message";
      query = decodeMessage(body ?? decodeBase64url(dnsParam!));
      const q = query.questions[0]!;
      question = { name: q.name, type: q.type };
    } else {
      format = "json";
      const typeParam = url.searchParams.get("type") ?? "A";
      question = {
        name: url.searchParams.get("name") ?? "",
        type: TYPE_BY_NAME[typeParam] ?? Number(typeParam),
      };
    }
    this.requests.push({
      server,
      url,
      method: request.method,
      accept: request.headers.get("accept"),
      contentType: request.headers.get("content-type"),
      body,
      format,
      query,
      question,
    });
    if (signal?.aborted) throw signal.reason;
    const fault = this.#faults.get(new URL(server).href) ?? this.#faults.get(url.href);
    const q: DnsQuestion = { name: question.name.replace(/\.$/, ""), type: question.type, class: 1 };
    const contentType = format === "json" ? "application/dns-json" : "application/dns-message";
    switch (fault) {
      case "network":
        throw new TypeError(`error sending request for url (${url.href}): Connection refused`);
      case "hang":
        return await new Promise<Response>((_, reject) => {
          signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
        });
      case "http500":
        return this.#respond(new TextEncoder().encode("internal error"), 500, {
          "content-type": "text/plain",
        });
      case "http404":
        return this.#respond(new TextEncoder().encode("not found"), 404, { "content-type": "text/plain" });
      case "garbage":
        return this.#respond(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]), 200, {
          "content-type": contentType,
        });
      case "wrongType":
        return this.#respond(new TextEncoder().encode("<html>hello</html>"), 200, {
          "content-type": "text/html",
        });
      case "oversize":
        return this.#respond(new Uint8Array(70_000), 200, { "content-type": contentType });
      case "oversizeDeclared":
        return this.#respond(new Uint8Array(100), 200, {
          "content-type": contentType,
          "content-length": "100000",
        });
      case "stallBody":
        return this.#stalled(signal, contentType);
      default:
        break;
    }
    let message = responseTo(q, this.replyFor(q.name, q.type));
    if (fault === "mismatch") message = responseTo({ ...q, name: `other.${q.name}` }, {});
    if (fault === "wrongId") message = { ...message, id: 4660 };
    if (fault === "truncated") message = { ...message, flags: { ...message.flags, tc: true } };
    if (fault === "servfail") message = responseTo(q, { rcode: RCODE.SERVFAIL });
    if (fault === "refused") message = responseTo(q, { rcode: RCODE.REFUSED });
    const headers = { "content-type": contentType, ...this.replyFor(q.name, q.type).headers };
    const bytes = format === "json"
      ? new TextEncoder().encode(JSON.stringify(jsonResponse(message)))
      : encodeMessage(message);
    return this.#respond(bytes, 200, headers);
  };

  #respond(bytes: Uint8Array, status: number, headers: Record<string, string>): Response {
    const chunkSize = this.chunkSize;
    let offset = 0;
    let settled = false;
    const settle = () => {
      if (!settled) this.#open--;
      settled = true;
    };
    this.#open++;
    this.#bodies++;
    const stream = new ReadableStream<Uint8Array<ArrayBuffer>>({
      pull(controller) {
        if (offset >= bytes.length) {
          controller.close();
          settle();
          return;
        }
        controller.enqueue(bytes.slice(offset, offset += chunkSize));
      },
      cancel() {
        settle();
      },
    });
    return new Response(stream, { status, headers });
  }

  #stalled(signal: AbortSignal | null | undefined, contentType: string): Response {
    let settled = false;
    const settle = () => {
      if (!settled) this.#open--;
      settled = true;
    };
    this.#open++;
    this.#bodies++;
    const stream = new ReadableStream<Uint8Array<ArrayBuffer>>({
      start(controller) {
        signal?.addEventListener("abort", () => {
          controller.error(signal.reason);
          settle();
        }, { once: true });
      },
      cancel() {
        settle();
      },
    });
    return new Response(stream, { status: 200, headers: { "content-type": contentType } });
  }
}
