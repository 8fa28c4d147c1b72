import { assert } from "../_deps.ts";
import { MalformedResponseError } from "../../src/errors.ts";
import { seededRandom } from "../../src/lb/random.ts";
import { decodeMessage, type DnsMessage, encodeMessage, encodeQuery, RR_TYPE } from "../../src/dns/wire.ts";
import { ascii, header, labels, name, Packet, ptr, srvResponse, u16, u32 } from "./_packet.ts";

const SEED = 20_240_607;
const RANDOM_CASES = 30_000;
const MUTATED_CASES = 90_000;

/** Valid responses to mutate: compressed and not, every record kind, EDNS0. */
function corpus(): Uint8Array[] {
  const p = new Packet();
  p.put(header(1, 4, 1, 2, 0x8180));
  const q = p.put(name("www.svc.test"), u16(RR_TYPE.A), u16(1));
  const cname = p.rr(ptr(q), RR_TYPE.CNAME, [labels("edge"), ptr(q + 4)]);
  p.rr(ptr(cname), RR_TYPE.A, [[192, 0, 2, 1]]);
  p.rr(ptr(cname), RR_TYPE.TXT, [[3, ...ascii("a=1"), 0, 2, 0xc3, 0xa9]]);
  p.rr(ptr(q), RR_TYPE.MX, [u16(10), ptr(cname)]);
  p.rr(ptr(q + 4), RR_TYPE.SOA, [
    labels("ns1"),
    ptr(q + 4),
    labels("admin"),
    ptr(q + 4),
    ...[1, 2, 3, 4, 5].map(u32),
  ]);
  p.rr(ptr(cname), RR_TYPE.AAAA, [u16(0x2001), u16(0xdb8), new Array(10).fill(0), u16(1)]);
  p.put(0, u16(RR_TYPE.OPT), u16(1232), u32(0), u16(0));
  const plain: DnsMessage = {
    id: 7,
    flags: { qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: true, rcode: 0 },
    questions: [{ name: "1.2.0.192.in-addr.arpa", type: RR_TYPE.PTR, class: 1 }],
    answers: [
      {
        name: "1.2.0.192.in-addr.arpa",
        type: 12,
        class: 1,
        ttl: 60,
        data: { kind: "PTR", target: "a\\.b.test" },
      },
      { name: "svc.test", type: 2, class: 1, ttl: 60, data: { kind: "NS", target: "ns.test" } },
    ],
    authorities: [],
    additionals: [{
      name: "x.test",
      type: 99,
      class: 1,
      ttl: 1,
      data: { kind: "other", bytes: new Uint8Array(3) },
    }],
  };
  return [
    srvResponse(3),
    srvResponse(20),
    p.done(),
    encodeMessage(plain),
    encodeQuery("_http._tcp.api.svc.test", RR_TYPE.SRV, { udpPayloadSize: 4096 }),
  ];
}

/** Applies one to four random mutations of the kinds a hostile or broken server could send. */
function mutate(source: Uint8Array, random: () => number): Uint8Array {
  const int = (n: number): number => Math.floor(random() * n);
  let bytes = source.slice();
  for (let m = 1 + int(4); m > 0 && bytes.length > 0; m--) {
    const at = int(bytes.length);
    switch (int(7)) {
      case 0: // a bit flip
        bytes[at] = bytes[at]! ^ (1 << int(8));
        break;
      case 1: // a byte set to a value with meaning: end of name, pointer, reserved type, long label
        bytes[at] = [0x00, 0xc0, 0xff, 0x40, 0x3f][int(5)]!;
        break;
      case 2: // truncation
        bytes = bytes.slice(0, int(bytes.length + 1));
        break;
      case 3: { // an inserted byte
        const longer = new Uint8Array(bytes.length + 1);
        longer.set(bytes.subarray(0, at));
        longer[at] = int(256);
        longer.set(bytes.subarray(at), at + 1);
        bytes = longer;
        break;
      }
      case 4: { // a count field changed, slightly or wildly
        if (bytes.length < 12) break;
        const field = 4 + 2 * int(4);
        const old = (bytes[field]! << 8) | bytes[field + 1]!;
        const value = random() < 0.7 ? Math.max(0, old + int(5) - 2) : int(65_536);
        bytes[field] = value >> 8;
        bytes[field + 1] = value & 0xff;
        break;
      }
      case 5: { // the next pointer after a random offset rewritten to a random target
        let where = at;
        while (where < bytes.length - 1 && (bytes[where]! & 0xc0) !== 0xc0) where++;
        if (where >= bytes.length - 1) where = at;
        const target = int(bytes.length + 8);
        bytes[where] = 0xc0 | (target >> 8);
        if (where + 1 < bytes.length) bytes[where + 1] = target & 0xff;
        break;
      }
      default: // a length or rdlength nudged by one
        bytes[at] = bytes[at]! + (random() < 0.5 ? 1 : 255);
    }
  }
  return bytes;
}

/** Random bytes; half of them behind a header with small counts, so decoding gets past the header. */
function noise(random: () => number): Uint8Array {
  const bytes = new Uint8Array(Math.floor(random() * 601));
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
  if (bytes.length >= 12 && random() < 0.5) {
    for (let i = 4; i < 12; i++) bytes[i] = i % 2 === 0 ? 0 : Math.floor(random() * 4);
  }
  return bytes;
}

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** Decodes; on success checks that re-encoding and decoding again gives an equal message. */
function check(bytes: Uint8Array, index: number): "ok" | "rejected" {
  const where = (): string => `seed ${SEED}, case ${index}, bytes ${hex(bytes)}`;
  let message: DnsMessage;
  try {
    message = decodeMessage(bytes);
  } catch (error) {
    if (error instanceof MalformedResponseError && error.code === "ERR_MALFORMED_RESPONSE") return "rejected";
    throw new Error(`decodeMessage threw something other than MalformedResponseError (${where()})`, {
      cause: error,
    });
  }
  let again: DnsMessage;
  try {
    again = decodeMessage(encodeMessage(message));
  } catch (error) {
    throw new Error(`the decoded message did not survive re-encoding (${where()})`, { cause: error });
  }
  try {
    assert.deepStrictEqual(again, message);
  } catch (error) {
    throw new Error(`re-encoding changed the message (${where()})`, { cause: error });
  }
  return "ok";
}

Deno.test("decodeMessage returns a message or throws MalformedResponseError for 120,000 fuzzed packets", () => {
  const random = seededRandom(SEED);
  const valid = corpus();
  for (const bytes of valid) assert.equal(check(bytes, -1), "ok");
  let index = 0;
  let noiseDecoded = 0;
  for (let i = 0; i < RANDOM_CASES; i++, index++) {
    if (check(noise(random), index) === "ok") noiseDecoded++;
  }
  const decoded = new Map<number, number>();
  for (let i = 0; i < MUTATED_CASES; i++, index++) {
    const source = i % valid.length;
    if (check(mutate(valid[source]!, random), index) === "ok") {
      decoded.set(source, (decoded.get(source) ?? 0) + 1);
    }
  }
  // Mutations must reach the decoder's depths, not stop at the header: a fair share still decodes,
  // for every source packet.
  const perSource = MUTATED_CASES / valid.length;
  for (let s = 0; s < valid.length; s++) {
    const share = (decoded.get(s) ?? 0) / perSource;
    assert.ok(share > 0.1 && share < 0.9, `source ${s}: ${(share * 100).toFixed(1)}% of mutations decoded`);
  }
  assert.ok(noiseDecoded > 0, "no random packet decoded at all");
});
