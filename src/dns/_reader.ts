// Decoding of DNS messages (RFC 1035 section 4), internal to ./wire.ts. Every read is bounds-checked
// first, so DataView never throws; every failure is a MalformedResponseError naming the part and the
// byte offset. Compression pointers must point strictly before the label sequence they occur in, so a
// chain of them strictly decreases and cannot loop; with the 255-octet name limit, work per name is
// bounded, and the early count check bounds the number of names.
import { MalformedResponseError } from "../errors.ts";
import type { DnsMessage, DnsQuestion, DnsRecord, DnsRecordData } from "./wire.ts";

const HEADER = 12;
const MAX_MESSAGE = 65_535;
const MAX_NAME = 255;
const MAX_LABELS = 127;
const MIN_QUESTION = 5; // root name, type, class
const MIN_RECORD = 11; // root name, type, class, ttl, rdlength

// Scratch for the char codes of the name being decoded, turned into a string in one call. Decoding
// is synchronous, so one array serves every Reader.
const CODES: number[] = [];

// "0" to "255", for A records.
const DECIMAL: readonly string[] = Array.from({ length: 256 }, (_, b) => String(b));

// ignoreBOM keeps a leading U+FEFF as data instead of stripping it from a TXT string.
const UTF8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

const SECTIONS = ["question", "answer", "authority", "additional"] as const;

/** Decodes a whole message; see `decodeMessage` in ./wire.ts for the contract. */
export function readMessage(bytes: Uint8Array): DnsMessage {
  return new Reader(bytes).message();
}

/** A decoded name suffix; `octets` counts its root label. */
interface Suffix {
  readonly text: string;
  readonly octets: number;
  readonly labels: number;
}

class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  // Suffixes decoded so far, by the offset a pointer jumped to. Pointers usually target the same few
  // names, so most jumps end here instead of in a byte loop.
  readonly #suffixes = new Map<number, Suffix>();
  // Scratch for #name: [target, chars, octets, labels] before each jump whose target was unknown.
  readonly #starts: number[] = [];
  #pos = HEADER;
  #section: (typeof SECTIONS)[number] = "question";
  #index = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  message(): DnsMessage {
    const bytes = this.#bytes;
    const size = bytes.length;
    if (size < HEADER) {
      throw new MalformedResponseError(`DNS message is ${size} bytes, shorter than the 12-byte header`);
    }
    if (size > MAX_MESSAGE) {
      throw new MalformedResponseError(`DNS message is ${size} bytes, over the 65535-byte limit`);
    }
    const view = this.#view;
    const qd = view.getUint16(4), an = view.getUint16(6), ns = view.getUint16(8), ar = view.getUint16(10);
    const need = qd * MIN_QUESTION + (an + ns + ar) * MIN_RECORD;
    if (need > size - HEADER) {
      const counts = `${plural(qd, "question")} and ${plural(an + ns + ar, "record")}`;
      throw new MalformedResponseError(
        `DNS message header counts ${counts}, needing at least ${need} bytes after the header, ` +
          `but only ${size - HEADER} follow`,
      );
    }
    const b2 = bytes[2]!, b3 = bytes[3]!;
    const questions: DnsQuestion[] = [];
    for (this.#index = 0; this.#index < qd; this.#index++) questions.push(this.#question());
    return {
      id: view.getUint16(0),
      flags: {
        qr: (b2 & 0x80) !== 0,
        opcode: (b2 >> 3) & 0x0f,
        aa: (b2 & 0x04) !== 0,
        tc: (b2 & 0x02) !== 0,
        rd: (b2 & 0x01) !== 0,
        ra: (b3 & 0x80) !== 0,
        rcode: b3 & 0x0f,
      },
      questions,
      answers: this.#records(1, an),
      authorities: this.#records(2, ns),
      additionals: this.#records(3, ar),
    };
  }

  #records(section: 1 | 2 | 3, count: number): DnsRecord[] {
    this.#section = SECTIONS[section];
    const out: DnsRecord[] = [];
    for (this.#index = 0; this.#index < count; this.#index++) out.push(this.#record());
    return out;
  }

  #question(): DnsQuestion {
    const name = this.#name("name");
    this.#need(4, "type and class");
    const view = this.#view, at = this.#pos;
    this.#pos = at + 4;
    return { name, type: view.getUint16(at), class: view.getUint16(at + 2) };
  }

  #record(): DnsRecord {
    const size = this.#bytes.length;
    const name = this.#name("name");
    this.#need(10, "record header");
    const view = this.#view, at = this.#pos;
    const type = view.getUint16(at);
    const rrClass = view.getUint16(at + 2);
    const rawTtl = view.getUint32(at + 4);
    const rdlength = view.getUint16(at + 8);
    const start = at + 10, end = start + rdlength;
    if (end > size) {
      this.#fail(
        "rdata",
        `rdlength ${rdlength} at offset ${at + 8} runs past the end of the message (${size} bytes)`,
      );
    }
    this.#pos = start;
    const data = this.#rdata(type, end, rdlength);
    if (this.#pos !== end) {
      const unused = plural(end - this.#pos, "unused byte");
      this.#fail(
        `rdata (${data.kind})`,
        `rdlength ${rdlength} at offset ${at + 8} leaves ${unused} at offset ${this.#pos}`,
      );
    }
    // RFC 2181 section 8: a TTL with the top bit set means zero. OPT's TTL field holds flags instead.
    const ttl = type !== 41 && rawTtl > 0x7fffffff ? 0 : rawTtl;
    return { name, type, class: rrClass, ttl, data };
  }

  #rdata(type: number, end: number, rdlength: number): DnsRecordData {
    const bytes = this.#bytes, view = this.#view, at = this.#pos;
    switch (type) {
      case 1:
        this.#fixed("A", rdlength, 4);
        this.#pos = end;
        return {
          kind: "A",
          address: DECIMAL[bytes[at]!] + "." + DECIMAL[bytes[at + 1]!] + "." + DECIMAL[bytes[at + 2]!] + "." +
            DECIMAL[bytes[at + 3]!],
        };
      case 28:
        this.#fixed("AAAA", rdlength, 16);
        this.#pos = end;
        return { kind: "AAAA", address: formatIpv6(view, at) };
      case 2:
        return { kind: "NS", target: this.#name("rdata (NS) target", end) };
      case 5:
        return { kind: "CNAME", target: this.#name("rdata (CNAME) target", end) };
      case 12:
        return { kind: "PTR", target: this.#name("rdata (PTR) target", end) };
      case 33: {
        if (rdlength < 7) {
          this.#fail("rdata (SRV)", `rdlength ${rdlength} at offset ${at - 2} is below the minimum 7`);
        }
        this.#pos = at + 6;
        const target = this.#name("rdata (SRV) target", end);
        return {
          kind: "SRV",
          priority: view.getUint16(at),
          weight: view.getUint16(at + 2),
          port: view.getUint16(at + 4),
          target,
        };
      }
      case 16: {
        const strings: string[] = [];
        let p = at;
        while (p < end) {
          const length = bytes[p]!;
          if (p + 1 + length > end) {
            this.#fail(
              "rdata (TXT)",
              `character-string of ${length} bytes at offset ${p} runs past the rdata end at offset ${end}`,
            );
          }
          strings.push(UTF8.decode(bytes.subarray(p + 1, p + 1 + length)));
          p += 1 + length;
        }
        this.#pos = p;
        return { kind: "TXT", strings };
      }
      case 6: {
        const mname = this.#name("rdata (SOA) mname", end);
        const rname = this.#name("rdata (SOA) rname", end);
        const p = this.#pos;
        if (end - p < 20) {
          this.#fail(
            "rdata (SOA)",
            `needs 20 bytes of counters at offset ${p}, but the rdata ends at offset ${end}`,
          );
        }
        this.#pos = p + 20;
        return {
          kind: "SOA",
          mname,
          rname,
          serial: view.getUint32(p),
          refresh: view.getUint32(p + 4),
          retry: view.getUint32(p + 8),
          expire: view.getUint32(p + 12),
          minimum: view.getUint32(p + 16),
        };
      }
      default:
        this.#pos = end;
        return { kind: "other", bytes: bytes.slice(at, end) };
    }
  }

  #fixed(kind: string, rdlength: number, expected: number): void {
    if (rdlength !== expected) {
      this.#fail(`rdata (${kind})`, `rdlength ${rdlength} at offset ${this.#pos - 2}, expected ${expected}`);
    }
  }

  #need(count: number, part: string): void {
    const left = this.#bytes.length - this.#pos;
    if (left < count) {
      this.#fail(part, `truncated at offset ${this.#pos} (needs ${count} bytes, ${left} remain)`);
    }
  }

  /**
   * Reads a possibly compressed name starting at the cursor. For a name inside rdata, the labels
   * read in place must end before the rdata `end`. The cursor moves past the in-place part only.
   */
  #name(part: string, end?: number): string {
    const bytes = this.#bytes;
    let p = this.#pos;
    let bound = end ?? bytes.length;
    let inRdata = end !== undefined;
    let limit = p; // every pointer must target strictly below this
    let jumped = false;
    let octets = 1; // the terminating root label
    let labels = 0;
    let chars = 0; // text so far, as char codes in CODES
    let jumps = 0; // entries in #starts
    const starts = this.#starts;
    for (;;) {
      if (p >= bound) this.#overrun(part, `length byte at offset ${p}`, inRdata && bound);
      const length = bytes[p]!;
      if (length === 0) {
        if (!jumped) this.#pos = p + 1;
        return this.#finish(chars, "", octets, labels, jumps);
      }
      const type = length & 0xc0;
      if (type === 0xc0) {
        if (p + 1 >= bound) this.#overrun(part, `compression pointer at offset ${p}`, inRdata && bound);
        const target = ((length & 0x3f) << 8) | bytes[p + 1]!;
        if (target < HEADER) {
          this.#fail(part, `compression pointer at offset ${p} points into the header (${target})`);
        }
        if (target >= limit) {
          const problem = `points to ${target}, not strictly before ${limit} (a forward pointer or a loop)`;
          this.#fail(part, `compression pointer at offset ${p} ${problem}`);
        }
        if (!jumped) this.#pos = p + 2;
        jumped = true;
        const known = this.#suffixes.get(target);
        // Past a limit, decode on so that the error names the exact label.
        if (
          known !== undefined && labels + known.labels <= MAX_LABELS && octets + known.octets <= MAX_NAME + 1
        ) {
          return this.#finish(chars, known.text, octets + known.octets - 1, labels + known.labels, jumps);
        }
        const at = 4 * jumps++;
        starts[at] = target;
        starts[at + 1] = chars;
        starts[at + 2] = octets;
        starts[at + 3] = labels;
        limit = p = target;
        bound = bytes.length;
        inRdata = false;
        continue;
      }
      if (type !== 0) {
        this.#fail(part, `reserved label type 0x${type.toString(16)} at offset ${p}`);
      }
      if (++labels > MAX_LABELS) this.#fail(part, `more than ${MAX_LABELS} labels at offset ${p}`);
      octets += 1 + length;
      if (octets > MAX_NAME) this.#fail(part, `longer than ${MAX_NAME} octets at offset ${p}`);
      const stop = p + 1 + length;
      if (stop > bound) this.#overrun(part, `label of ${length} bytes at offset ${p}`, inRdata && bound);
      if (labels > 1) CODES[chars++] = 0x2e;
      for (let i = p + 1; i < stop; i++) {
        const b = bytes[i]!;
        if (b > 0x20 && b < 0x7f && b !== 0x2e && b !== 0x5c) {
          CODES[chars++] = b;
        } else if (b === 0x2e || b === 0x5c) {
          CODES[chars++] = 0x5c;
          CODES[chars++] = b;
        } else {
          CODES[chars++] = 0x5c;
          CODES[chars++] = 0x30 + ((b / 100) | 0);
          CODES[chars++] = 0x30 + (((b / 10) | 0) % 10);
          CODES[chars++] = 0x30 + (b % 10);
        }
      }
      p = stop;
    }
  }

  /**
   * Joins the text decoded in place (`chars` codes in CODES) and a known suffix, and remembers the
   * suffix from each jump target in #starts (the first `jumps` entries) for later pointers to it.
   */
  #finish(chars: number, suffix: string, octets: number, labels: number, jumps: number): string {
    CODES.length = chars;
    const head = chars === 0 ? "" : String.fromCharCode.apply(null, CODES);
    const text = suffix === "" ? head : head === "" ? suffix : head + "." + suffix;
    const starts = this.#starts;
    for (let i = 0; i < 4 * jumps; i += 4) {
      const before = starts[i + 3]!;
      this.#suffixes.set(starts[i]!, {
        text: before === labels ? "" : before === 0 ? text : text.slice(starts[i + 1]! + 1),
        octets: octets - starts[i + 2]! + 1,
        labels: labels - before,
      });
    }
    return text;
  }

  /** Fails for a name running past `rdataEnd`, or past the message when that is false. */
  #overrun(part: string, problem: string, rdataEnd: number | false): never {
    const end = rdataEnd === false
      ? `end of the message (${this.#bytes.length} bytes)`
      : `rdata end at offset ${rdataEnd}`;
    this.#fail(part, `${problem} runs past the ${end}`);
  }

  #fail(part: string, problem: string): never {
    throw new MalformedResponseError(`DNS message ${this.#section} ${this.#index + 1} ${part}: ${problem}`);
  }
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** RFC 5952 section 4 text: lowercase, no leading zeros, "::" for the first longest run of 2+ zero groups. */
function formatIpv6(view: DataView, at: number): string {
  let bestStart = -1, bestLength = 1, runStart = -1;
  for (let i = 0; i < 8; i++) {
    if (view.getUint16(at + 2 * i) !== 0) {
      runStart = -1;
      continue;
    }
    if (runStart < 0) runStart = i;
    if (i - runStart + 1 > bestLength) {
      bestStart = runStart;
      bestLength = i - runStart + 1;
    }
  }
  let text = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += "::";
      i += bestLength - 1;
      continue;
    }
    if (text !== "" && !text.endsWith(":")) text += ":";
    text += view.getUint16(at + 2 * i).toString(16);
  }
  return text;
}
