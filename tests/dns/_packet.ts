// Hand-built DNS wire bytes for the codec tests and bench, written independently of src/dns so that
// the decoder is checked against bytes laid out here, with compression pointers placed by hand.

/** A byte or a run of bytes. */
export type Part = number | readonly number[];

/** Big-endian 16 bits. */
export const u16 = (v: number): number[] => [v >>> 8, v & 0xff];
/** Big-endian 32 bits. */
export const u32 = (v: number): number[] => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
/** A compression pointer to `offset`. */
export const ptr = (offset: number): number[] => [0xc0 | (offset >>> 8), offset & 0xff];
/** The bytes of an ASCII string. */
export const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
/** The labels of a plain name without the root label, so that a pointer can follow. */
export const labels = (name: string): number[] => name.split(".").flatMap((l) => [l.length, ...ascii(l)]);
/** A whole uncompressed name; "" is the root. */
export const name = (n: string): number[] => (n === "" ? [0] : [...labels(n), 0]);

/** A 12-byte header with ID 0; flags default to a recursive NOERROR response (QR, RD, RA). */
export const header = (qd: number, an: number, ns = 0, ar = 0, flags = 0x8180): number[] => [
  ...u16(0),
  ...u16(flags),
  ...u16(qd),
  ...u16(an),
  ...u16(ns),
  ...u16(ar),
];

/** Appends parts and returns where they start, so that later names can point at earlier ones. */
export class Packet {
  /** The bytes so far. */
  readonly bytes: number[] = [];

  /** Appends parts; returns the offset of the first. */
  put(...parts: Part[]): number {
    const at = this.bytes.length;
    for (const p of parts) typeof p === "number" ? this.bytes.push(p) : this.bytes.push(...p);
    return at;
  }

  /** Appends a class IN record; returns the offset where its rdata starts. */
  rr(owner: Part, type: number, rdata: Part[], ttl = 300): number {
    const data = new Packet();
    data.put(...rdata);
    this.put(owner, u16(type), u16(1), u32(ttl), u16(data.bytes.length));
    return this.put(data.bytes);
  }

  /** The bytes as a Uint8Array. */
  done(): Uint8Array {
    return new Uint8Array(this.bytes);
  }
}

/**
 * A response to `_http._tcp.api.svc.test` SRV with `count` SRV answers whose targets point into the
 * question, and one additional A record per target whose owner points at that target.
 */
export function srvResponse(count: number): Uint8Array {
  const p = new Packet();
  p.put(header(1, count, 0, count, 0x8580));
  const q = p.put(name("_http._tcp.api.svc.test"), u16(33), u16(1));
  const api = q + 11; // past "_http" and "_tcp"
  const targets: number[] = [];
  for (let i = 0; i < count; i++) {
    const rdata = p.rr(ptr(q), 33, [
      u16(10 + (i % 3)),
      u16(10 * i),
      u16(8000 + i),
      labels(`web-${i}`),
      ptr(api),
    ], 30);
    targets.push(rdata + 6);
  }
  targets.forEach((target, i) => p.rr(ptr(target), 1, [[10, 0, i >> 8, i & 0xff]], 30));
  return p.done();
}
