/**
 * DNS wire format (RFC 1035 section 4): build queries, decode responses, and encode whole messages
 * for tests and fakes. Web APIs only, no dependencies.
 *
 * Names are in presentation form without the trailing dot (`"api.svc.test"`; the root is `""`).
 * Label bytes that are printable ASCII other than `.` and `\` appear as they are, `.` and `\` are
 * escaped with a backslash, and any other byte (space included) is written `\DDD` in decimal.
 * Letter case is kept as sent.
 *
 * @module
 */
import { readMessage } from "./_reader.ts";
import { bool, list, object, show, uint, writeName, Writer, writeRecord } from "./_writer.ts";

/**
 * Resource record types this codec knows (RFC 1035, 2782, 3596, 6891).
 *
 * @example
 * ```ts
 * import { RR_TYPE } from "./wire.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(RR_TYPE.SRV, 33);
 * ```
 */
export const RR_TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
} as const;

/**
 * Response codes of the message header (RFC 1035 section 4.1.1).
 *
 * @example
 * ```ts
 * import { decodeMessage, encodeMessage, RCODE } from "./wire.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const reply = encodeMessage({
 *   id: 0,
 *   flags: { qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: true, rcode: RCODE.NXDOMAIN },
 *   questions: [],
 *   answers: [],
 *   authorities: [],
 *   additionals: [],
 * });
 * assertEquals(decodeMessage(reply).flags.rcode, RCODE.NXDOMAIN);
 * ```
 */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/**
 * One entry of the question section.
 *
 * @example
 * ```ts
 * import { decodeMessage, type DnsQuestion, encodeQuery, RR_TYPE } from "./wire.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const question: DnsQuestion | undefined = decodeMessage(encodeQuery("svc.test", RR_TYPE.SRV)).questions[0];
 * assertEquals(question, { name: "svc.test", type: 33, class: 1 });
 * ```
 */
export interface DnsQuestion {
  /** The name asked about, in presentation form without the trailing dot. */
  readonly name: string;
  /** The record type asked for (see {@linkcode RR_TYPE}). */
  readonly type: number;
  /** The class; 1 (IN) in practice. */
  readonly class: number;
}

/**
 * The data of a record, by kind. The kind follows the record type; types this codec does not parse,
 * and OPT, are kept as raw `other` bytes. TXT strings are decoded as UTF-8 (invalid bytes become
 * U+FFFD). AAAA addresses are in RFC 5952 section 4 text, with no dotted-quad tail.
 *
 * @example
 * ```ts
 * import type { DnsRecordData } from "./wire.ts";
 * import { assertEquals } from "@std/assert";
 *
 * function describe(data: DnsRecordData): string {
 *   return data.kind === "SRV" ? `${data.target}:${data.port}` : data.kind;
 * }
 * assertEquals(describe({ kind: "SRV", priority: 1, weight: 1, port: 8080, target: "a.svc.test" }), "a.svc.test:8080");
 * ```
 */
export type DnsRecordData =
  | { readonly kind: "A"; readonly address: string }
  | { readonly kind: "AAAA"; readonly address: string }
  | { readonly kind: "CNAME"; readonly target: string }
  | { readonly kind: "NS"; readonly target: string }
  | { readonly kind: "PTR"; readonly target: string }
  | {
    readonly kind: "SRV";
    readonly priority: number;
    readonly weight: number;
    readonly port: number;
    readonly target: string;
  }
  | { readonly kind: "TXT"; readonly strings: readonly string[] }
  | {
    readonly kind: "SOA";
    readonly mname: string;
    readonly rname: string;
    readonly serial: number;
    readonly refresh: number;
    readonly retry: number;
    readonly expire: number;
    readonly minimum: number;
  }
  | { readonly kind: "other"; readonly bytes: Uint8Array };

/**
 * A resource record.
 *
 * @example
 * ```ts
 * import type { DnsRecord } from "./wire.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const record: DnsRecord = { name: "a.svc.test", type: 1, class: 1, ttl: 30, data: { kind: "A", address: "10.0.0.1" } };
 * assertEquals(record.data.kind, "A");
 * ```
 */
export interface DnsRecord {
  /** The owner name, in presentation form without the trailing dot. */
  readonly name: string;
  /** The record type (see {@linkcode RR_TYPE}). */
  readonly type: number;
  /** The class; for OPT, the sender's UDP payload size. */
  readonly class: number;
  /**
   * Seconds the record may be cached. Decoding reads a value with the top bit set as 0 (RFC 2181
   * section 8), except for OPT, whose TTL field carries flags.
   */
  readonly ttl: number;
  /** The parsed data. */
  readonly data: DnsRecordData;
}

/**
 * A whole DNS message. Header bits other than those in `flags` (Z, AD, CD) are not kept.
 *
 * @example
 * ```ts
 * import { decodeMessage, type DnsMessage, encodeQuery, RR_TYPE } from "./wire.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const query: DnsMessage = decodeMessage(encodeQuery("svc.test", RR_TYPE.A, { id: 7 }));
 * assertEquals([query.id, query.flags.qr, query.flags.rd], [7, false, true]);
 * ```
 */
export interface DnsMessage {
  /** The 16-bit message ID. */
  readonly id: number;
  /** The header flags. */
  readonly flags: {
    /** Whether this is a response. */
    readonly qr: boolean;
    /** The operation code, 0 for a standard query. */
    readonly opcode: number;
    /** Authoritative answer. */
    readonly aa: boolean;
    /** Truncated. */
    readonly tc: boolean;
    /** Recursion desired. */
    readonly rd: boolean;
    /** Recursion available. */
    readonly ra: boolean;
    /** The 4-bit response code (see {@linkcode RCODE}). */
    readonly rcode: number;
  };
  /** The question section. */
  readonly questions: readonly DnsQuestion[];
  /** The answer section. */
  readonly answers: readonly DnsRecord[];
  /** The authority section. */
  readonly authorities: readonly DnsRecord[];
  /** The additional section (including any OPT record). */
  readonly additionals: readonly DnsRecord[];
}

/**
 * Options for {@linkcode encodeQuery}.
 *
 * @example
 * ```ts
 * import { encodeQuery, type EncodeQueryOptions, RR_TYPE } from "./wire.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const options: EncodeQueryOptions = { id: 1, recursionDesired: false };
 * assertEquals(encodeQuery("svc.test", RR_TYPE.A, options).slice(0, 4), new Uint8Array([0, 1, 0, 0]));
 * ```
 */
export interface EncodeQueryOptions {
  /** The message ID, 0..65535. Default: 0, which RFC 8484 section 4.1 asks DoH clients to use. */
  id?: number;
  /** Sets the RD bit. Default: `true`. */
  recursionDesired?: boolean;
  /** When set (512..65535), adds an EDNS0 OPT record advertising this UDP payload size. Default: none. */
  udpPayloadSize?: number;
}

/**
 * Builds a query with one question of class IN.
 *
 * @param name The name, in presentation form; a trailing dot is optional and `\.`, `\\` and `\DDD`
 *   escapes are accepted. Other characters must be printable ASCII (use A-labels for IDNs).
 * @param type The record type, 0..65535 (see {@linkcode RR_TYPE}).
 * @param options The ID, the RD bit and EDNS0.
 * @returns The query in wire format.
 * @throws {TypeError} If the name has an empty label, a bad escape or a character that is not
 *   printable ASCII, or an argument has the wrong type.
 * @throws {RangeError} If a label exceeds 63 bytes, the name 255 octets, or a number its range.
 *
 * @example A DoH GET parameter
 * ```ts
 * import { encodeQuery, RR_TYPE } from "./wire.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const query = encodeQuery("_http._tcp.api.svc.test", RR_TYPE.SRV);
 * const dns = btoa(String.fromCharCode(...query)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
 * assertEquals(dns, "AAABAAABAAAAAAAABV9odHRwBF90Y3ADYXBpA3N2YwR0ZXN0AAAhAAE");
 * ```
 */
export function encodeQuery(name: string, type: number, options: EncodeQueryOptions = {}): Uint8Array {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${show(options)}`);
  }
  uint(type, "type", 0xffff);
  const id = options.id === undefined ? 0 : uint(options.id, "options.id", 0xffff);
  const rd = options.recursionDesired === undefined
    ? true
    : bool(options.recursionDesired, "options.recursionDesired");
  const payload = options.udpPayloadSize;
  if (payload !== undefined) uint(payload, "options.udpPayloadSize", 0xffff, 512);
  const w = new Writer();
  try {
    w.u16(id);
    w.u16(rd ? 0x0100 : 0);
    w.u16(1);
    w.u16(0);
    w.u16(0);
    w.u16(payload === undefined ? 0 : 1);
    writeName(w, name, "name");
    w.u16(type);
    w.u16(1);
    if (payload !== undefined) {
      w.u8(0); // root owner name
      w.u16(RR_TYPE.OPT);
      w.u16(payload);
      w.u32(0); // extended RCODE 0, version 0, no flags
      w.u16(0); // no options
    }
    return w.finish();
  } finally {
    w.release();
  }
}

/**
 * Decodes a DNS message, following compression pointers.
 *
 * Strict about structure: each record's data must fill its rdlength exactly, and a compression
 * pointer must point strictly before the name it occurs in. Bytes after the last record are ignored.
 *
 * @param bytes The message, at most 65,535 bytes.
 * @returns The decoded message; `other` record bytes are copies, not views of `bytes`.
 * @throws {MalformedResponseError} If the message is malformed in any way, naming the part and its
 *   byte offset. Nothing else is thrown for any input bytes.
 * @throws {TypeError} If `bytes` is not a Uint8Array.
 *
 * @example
 * ```ts
 * import { decodeMessage, encodeQuery, RR_TYPE } from "./wire.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const message = decodeMessage(encodeQuery("api.svc.test.", RR_TYPE.AAAA));
 * assertEquals(message.questions, [{ name: "api.svc.test", type: 28, class: 1 }]);
 * ```
 */
export function decodeMessage(bytes: Uint8Array): DnsMessage {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`bytes must be a Uint8Array, got ${show(bytes)}`);
  return readMessage(bytes);
}

/**
 * Encodes a whole message without name compression, for tests, fakes and servers. Whatever
 * {@linkcode decodeMessage} returns encodes back to a message that decodes equal, unless
 * decompression or UTF-8 replacement makes it too large. An `other` record may carry any type,
 * which lets tests build deliberately malformed data.
 *
 * @param message The message.
 * @returns The message in wire format.
 * @throws {TypeError} If a field has the wrong type, a name is invalid, or a record's `data.kind`
 *   does not match its type.
 * @throws {RangeError} If a number is out of range, or a name, TXT string, rdata or the message is
 *   too long.
 *
 * @example
 * ```ts
 * import { decodeMessage, type DnsMessage, encodeMessage } from "./wire.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const message: DnsMessage = {
 *   id: 0,
 *   flags: { qr: true, opcode: 0, aa: false, tc: false, rd: true, ra: true, rcode: 0 },
 *   questions: [{ name: "svc.test", type: 16, class: 1 }],
 *   answers: [{ name: "svc.test", type: 16, class: 1, ttl: 60, data: { kind: "TXT", strings: ["v=1", ""] } }],
 *   authorities: [],
 *   additionals: [],
 * };
 * assertEquals(decodeMessage(encodeMessage(message)), message);
 * ```
 */
export function encodeMessage(message: DnsMessage): Uint8Array {
  object(message, "message");
  const flags = object(message.flags, "message.flags");
  const sections = [
    list(message.questions, "message.questions"),
    list(message.answers, "message.answers"),
    list(message.authorities, "message.authorities"),
    list(message.additionals, "message.additionals"),
  ] as const;
  const w = new Writer();
  try {
    w.u16(uint(message.id, "message.id", 0xffff));
    w.u8(
      (bool(flags.qr, "message.flags.qr") ? 0x80 : 0) |
        (uint(flags.opcode, "message.flags.opcode", 15) << 3) |
        (bool(flags.aa, "message.flags.aa") ? 0x04 : 0) | (bool(flags.tc, "message.flags.tc") ? 0x02 : 0) |
        (bool(flags.rd, "message.flags.rd") ? 0x01 : 0),
    );
    w.u8((bool(flags.ra, "message.flags.ra") ? 0x80 : 0) | uint(flags.rcode, "message.flags.rcode", 15));
    for (const section of sections) w.u16(section.length);
    sections[0].forEach((q, i) => {
      const what = `message.questions[${i}]`;
      object(q, what);
      writeName(w, q.name, `${what}.name`);
      w.u16(uint(q.type, `${what}.type`, 0xffff));
      w.u16(uint(q.class, `${what}.class`, 0xffff));
    });
    const names = ["answers", "authorities", "additionals"] as const;
    for (let s = 0; s < 3; s++) {
      sections[s + 1]!.forEach((r, i) => writeRecord(w, r as DnsRecord, `message.${names[s]}[${i}]`));
    }
    if (w.length > 0xffff) {
      throw new RangeError(`message encodes to ${w.length} bytes, over the 65535-byte limit`);
    }
    return w.finish();
  } finally {
    w.release();
  }
}
