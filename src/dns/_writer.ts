// Encoding side of ./wire.ts: a growable buffer, names, addresses, records and argument checks.
// Internal; every check throws a TypeError or RangeError that names the field and quotes the value.
import type { DnsRecord, DnsRecordData } from "./wire.ts";

const KIND_TYPE: Readonly<Record<string, number>> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
};

const UTF8 = new TextEncoder();

/** Writes a record, checking every field; `what` names it in errors ("message.answers[0]"). */
export function writeRecord(w: Writer, r: DnsRecord, what: string): void {
  object(r, what);
  writeName(w, r.name, `${what}.name`);
  const type = uint(r.type, `${what}.type`, 0xffff);
  w.u16(type);
  w.u16(uint(r.class, `${what}.class`, 0xffff));
  w.u32(uint(r.ttl, `${what}.ttl`, 0xffffffff));
  const lengthAt = w.length;
  w.u16(0);
  const data = object(r.data, `${what}.data`) as DnsRecordData;
  const kind: unknown = data.kind;
  if (kind !== "other") {
    if (typeof kind !== "string" || !Object.hasOwn(KIND_TYPE, kind)) {
      throw new TypeError(`${what}.data.kind must be a known kind or "other", got ${show(kind)}`);
    }
    if (KIND_TYPE[kind] !== type) {
      throw new TypeError(`${what}.data.kind ${show(kind)} does not match type ${type}`);
    }
  }
  const field = `${what}.data`;
  switch (data.kind) {
    case "A":
      writeIpv4(w, data.address, `${field}.address`);
      break;
    case "AAAA":
      writeIpv6(w, data.address, `${field}.address`);
      break;
    case "CNAME":
    case "NS":
    case "PTR":
      writeName(w, data.target, `${field}.target`);
      break;
    case "SRV":
      w.u16(uint(data.priority, `${field}.priority`, 0xffff));
      w.u16(uint(data.weight, `${field}.weight`, 0xffff));
      w.u16(uint(data.port, `${field}.port`, 0xffff));
      writeName(w, data.target, `${field}.target`);
      break;
    case "TXT":
      list(data.strings, `${field}.strings`).forEach((s, i) => {
        if (typeof s !== "string") {
          throw new TypeError(`${field}.strings[${i}] must be a string, got ${show(s)}`);
        }
        const bytes = UTF8.encode(s);
        if (bytes.length > 255) {
          throw new RangeError(
            `${field}.strings[${i}] is ${bytes.length} bytes in UTF-8, over 255: ${show(s)}`,
          );
        }
        w.u8(bytes.length);
        w.bytes(bytes);
      });
      break;
    case "SOA":
      writeName(w, data.mname, `${field}.mname`);
      writeName(w, data.rname, `${field}.rname`);
      for (const key of ["serial", "refresh", "retry", "expire", "minimum"] as const) {
        w.u32(uint(data[key], `${field}.${key}`, 0xffffffff));
      }
      break;
    default:
      if (!(data.bytes instanceof Uint8Array)) {
        throw new TypeError(`${field}.bytes must be a Uint8Array, got ${show(data.bytes)}`);
      }
      w.bytes(data.bytes);
  }
  const rdlength = w.length - lengthAt - 2;
  if (rdlength > 0xffff) throw new RangeError(`${field} encodes to ${rdlength} bytes, over 65535`);
  w.setU16(lengthAt, rdlength);
}

/**
 * Writes a presentation-form name as labels. A "." right after another, or at the start of a name
 * other than ".", is an empty label; a final "." is the optional trailing dot.
 */
export function writeName(w: Writer, name: unknown, what: string): void {
  if (typeof name !== "string") throw new TypeError(`${what} must be a string, got ${show(name)}`);
  if (name === "" || name === ".") {
    w.u8(0);
    return;
  }
  const start = w.length;
  let lengthAt = start;
  let length = 0;
  w.u8(0);
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c === 0x2e) {
      if (length === 0) throw new TypeError(`${what} ${show(name)} has an empty label at index ${i}`);
      w.set(lengthAt, length);
      lengthAt = w.length;
      length = 0;
      w.u8(0); // the next label's length, or the root label if the name ends here
      continue;
    }
    if (c === 0x5c) {
      const next = name.charCodeAt(i + 1);
      if (next >= 0x30 && next <= 0x39) {
        const digits = name.slice(i + 1, i + 4);
        if (!/^[0-9]{3}$/.test(digits) || Number(digits) > 255) {
          throw new TypeError(`${what} ${show(name)} has a bad \\DDD escape at index ${i}`);
        }
        c = Number(digits);
        i += 3;
      } else if (next >= 0x20 && next <= 0x7e) {
        c = next;
        i += 1;
      } else {
        throw new TypeError(`${what} ${show(name)} has a bad escape at index ${i}`);
      }
    } else if (c < 0x20 || c > 0x7e) {
      const problem = `has a character that is not printable ASCII at index ${i} (use an A-label or \\DDD)`;
      throw new TypeError(`${what} ${show(name)} ${problem}`);
    }
    if (++length > 63) throw new RangeError(`${what} ${show(name)} has a label over 63 bytes at index ${i}`);
    w.u8(c);
    if (w.length - start + 1 > 255) {
      throw new RangeError(`${what} ${show(name)} is over 255 octets in wire form`);
    }
  }
  if (length > 0) {
    w.set(lengthAt, length);
    w.u8(0);
  }
}

function writeIpv4(w: Writer, address: unknown, what: string): void {
  const parts = typeof address === "string" ? address.split(".") : [];
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) {
    throw new TypeError(`${what} must be a dotted-quad IPv4 address, got ${show(address)}`);
  }
  for (const p of parts) w.u8(Number(p));
}

function writeIpv6(w: Writer, address: unknown, what: string): void {
  const groups = typeof address === "string" ? parseIpv6(address) : undefined;
  if (groups === undefined) throw new TypeError(`${what} must be an IPv6 address, got ${show(address)}`);
  for (const g of groups) w.u16(g);
}

/** Parses RFC 4291 section 2.2 text (with an optional dotted-quad tail) to 8 groups. */
function parseIpv6(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (half: string, last: boolean): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (last && i === parts.length - 1 && part.includes(".")) {
        const quad = part.split(".");
        if (quad.length !== 4 || !quad.every((q) => /^(0|[1-9][0-9]{0,2})$/.test(q) && Number(q) <= 255)) {
          return undefined;
        }
        const [a, b, c, d] = quad.map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
        out.push(parseInt(part, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = parse(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? parse(halves[1]!, true) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  return [...head, ...new Array<number>(halves.length === 1 ? 0 : missing).fill(0), ...tail];
}

// One scratch buffer serves every encoding, so that a query costs a single allocation (its result).
// A getter that encodes while another encoding reads it (re-entrancy) gets a fresh buffer instead.
let scratch: Uint8Array | undefined = new Uint8Array(512);

/** A growable byte buffer; call finish() exactly once, in a finally if the encoding can throw. */
export class Writer {
  #buf: Uint8Array;
  #length = 0;
  #shared: boolean;

  constructor() {
    this.#shared = scratch !== undefined;
    this.#buf = scratch ?? new Uint8Array(512);
    scratch = undefined;
  }

  get length(): number {
    return this.#length;
  }

  #reserve(n: number): number {
    const at = this.#length;
    if (at + n > this.#buf.length) {
      const grown = new Uint8Array(Math.max(this.#buf.length * 2, at + n));
      grown.set(this.#buf);
      this.#buf = grown;
    }
    this.#length = at + n;
    return at;
  }

  u8(v: number): void {
    const at = this.#reserve(1); // before reading #buf, which reserving may replace
    this.#buf[at] = v;
  }

  u16(v: number): void {
    const at = this.#reserve(2);
    this.#buf[at] = v >>> 8;
    this.#buf[at + 1] = v;
  }

  u32(v: number): void {
    this.u16(v >>> 16);
    this.u16(v & 0xffff);
  }

  bytes(b: Uint8Array): void {
    const at = this.#reserve(b.length);
    this.#buf.set(b, at);
  }

  set(at: number, v: number): void {
    this.#buf[at] = v;
  }

  setU16(at: number, v: number): void {
    this.#buf[at] = v >>> 8;
    this.#buf[at + 1] = v;
  }

  /** Returns a copy of the bytes written and hands the buffer back for reuse. */
  finish(): Uint8Array {
    const out = this.#buf.slice(0, this.#length);
    this.release();
    return out;
  }

  /** Hands the buffer back for reuse without copying, after a failed encoding. */
  release(): void {
    if (this.#shared && this.#buf.length <= 1 << 17) scratch = this.#buf;
    this.#shared = false;
  }
}

/** A short rendering of a bad value for messages: strings quoted, objects named by kind. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  if (typeof value === "object" && value !== null) return Array.isArray(value) ? "an array" : "an object";
  return String(value);
}

/** Throws unless `value` is an integer from `min` to `max`. */
export function uint(value: unknown, name: string, max: number, min = 0): number {
  if (typeof value !== "number") throw new TypeError(`${name} must be a number, got ${show(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${show(value)}`);
  }
  return value;
}

/** Throws unless `value` is a boolean. */
export function bool(value: unknown, name: string): boolean {
  if (typeof value !== "boolean") throw new TypeError(`${name} must be a boolean, got ${show(value)}`);
  return value;
}

/** Throws unless `value` is a non-null object. */
export function object<T>(value: T, name: string): T {
  if (typeof value !== "object" || value === null) {
    throw new TypeError(`${name} must be an object, got ${show(value)}`);
  }
  return value;
}

/** Throws unless `value` is an array. */
export function list<T>(value: readonly T[], name: string): readonly T[] {
  if (!Array.isArray(value)) throw new TypeError(`${name} must be an array, got ${show(value)}`);
  return value;
}
