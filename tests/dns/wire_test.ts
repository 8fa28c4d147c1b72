import { assert } from "../_deps.ts";
import { MalformedResponseError } from "../../src/errors.ts";
import {
  decodeMessage,
  type DnsMessage,
  type DnsRecord,
  encodeMessage,
  encodeQuery,
  RCODE,
  RR_TYPE,
} from "../../src/dns/wire.ts";
import { ascii, header, labels, name, Packet, ptr, u16, u32 } from "./_packet.ts";

const FLAGS = { qr: true, opcode: 0, aa: false, tc: false, rd: true, ra: true, rcode: 0 } as const;
const rr = (name: string, data: DnsRecord["data"], ttl = 300): DnsRecord => ({
  name,
  type: data.kind === "other" ? 99 : RR_TYPE[data.kind],
  class: 1,
  ttl,
  data,
});
const answers = (...records: DnsRecord[]): DnsMessage => ({
  id: 0,
  flags: FLAGS,
  questions: [],
  answers: records,
  authorities: [],
  additionals: [],
});
const base64url = (b: Uint8Array): string =>
  btoa(String.fromCharCode(...b)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

Deno.test("encodeQuery builds the exact RFC 8484 query for an SRV name", () => {
  const query = encodeQuery("_http._tcp.api.svc.test", RR_TYPE.SRV);
  assert.equal(base64url(query), "AAABAAABAAAAAAAABV9odHRwBF90Y3ADYXBpA3N2YwR0ZXN0AAAhAAE");
  assert.deepEqual([...query], [
    ...header(1, 0, 0, 0, 0x0100),
    ...name("_http._tcp.api.svc.test"),
    0,
    33,
    0,
    1,
  ]);
});

Deno.test("encodeQuery takes an optional trailing dot, the ID and the RD bit", () => {
  assert.deepEqual(encodeQuery("api.svc.test.", RR_TYPE.A), encodeQuery("api.svc.test", RR_TYPE.A));
  const query = encodeQuery("svc.test", RR_TYPE.AAAA, { id: 0xbeef, recursionDesired: false });
  assert.deepEqual([...query.slice(0, 4)], [0xbe, 0xef, 0, 0]);
  assert.deepEqual(decodeMessage(query).flags, { ...FLAGS, qr: false, rd: false, ra: false });
});

Deno.test("encodeQuery adds an EDNS0 OPT record advertising the UDP payload size", () => {
  const query = encodeQuery("svc.test", RR_TYPE.SRV, { udpPayloadSize: 1232 });
  assert.deepEqual([...query.slice(10, 12)], [0, 1]); // ARCOUNT
  assert.deepEqual([...query.slice(-11)], [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(decodeMessage(query).additionals, [
    { name: "", type: 41, class: 1232, ttl: 0, data: { kind: "other", bytes: new Uint8Array() } },
  ]);
  assert.equal(encodeQuery("svc.test", RR_TYPE.SRV)[11], 0);
});

Deno.test("encodeQuery rejects bad names, types and options, quoting the value", () => {
  const label63 = "a".repeat(63);
  const max = [label63, label63, label63, "a".repeat(61)].join("."); // exactly 255 octets
  assert.equal(encodeQuery(max, 1).length, 12 + 255 + 4);
  const cases: [() => unknown, ErrorConstructor, string][] = [
    [() => encodeQuery("a..b", 1), TypeError, 'name "a..b" has an empty label at index 2'],
    [() => encodeQuery(".a", 1), TypeError, 'name ".a" has an empty label at index 0'],
    [() => encodeQuery("a.b..", 1), TypeError, 'name "a.b.." has an empty label at index 4'],
    [() => encodeQuery("a\\", 1), TypeError, 'name "a\\\\" has a bad escape at index 1'],
    [() => encodeQuery("a\\25", 1), TypeError, 'name "a\\\\25" has a bad \\DDD escape at index 1'],
    [() => encodeQuery("a\\256", 1), TypeError, 'name "a\\\\256" has a bad \\DDD escape at index 1'],
    [
      () => encodeQuery("bücher.test", 1),
      TypeError,
      'name "bücher.test" has a character that is not printable ASCII at index 1 (use an A-label or \\DDD)',
    ],
    [
      () => encodeQuery(`${"b".repeat(64)}.test`, 1),
      RangeError,
      `name "${"b".repeat(64)}.test" has a label over 63 bytes at index 63`,
    ],
    [() => encodeQuery(`${max}a`, 1), RangeError, `name "${max}a" is over 255 octets in wire form`],
    [() => encodeQuery(5 as unknown as string, 1), TypeError, "name must be a string, got 5"],
    [() => encodeQuery("a", 65536), RangeError, "type must be an integer from 0 to 65535, got 65536"],
    [() => encodeQuery("a", 1.5), RangeError, "type must be an integer from 0 to 65535, got 1.5"],
    [() => encodeQuery("a", "1" as unknown as number), TypeError, 'type must be a number, got "1"'],
    [
      () => encodeQuery("a", 1, { id: -1 }),
      RangeError,
      "options.id must be an integer from 0 to 65535, got -1",
    ],
    [
      () => encodeQuery("a", 1, { udpPayloadSize: 100 }),
      RangeError,
      "options.udpPayloadSize must be an integer from 512 to 65535, got 100",
    ],
    [
      () => encodeQuery("a", 1, { recursionDesired: "yes" as unknown as boolean }),
      TypeError,
      'options.recursionDesired must be a boolean, got "yes"',
    ],
  ];
  for (const [fn, type, message] of cases) assert.throws(fn, { name: type.name, message });
});

Deno.test("Escaped label bytes round-trip through presentation form", () => {
  const query = encodeQuery("a\\.b\\\\c\\000\\255 x.test", RR_TYPE.TXT);
  assert.deepEqual([...query.slice(12, 22)], [9, 0x61, 0x2e, 0x62, 0x5c, 0x63, 0, 255, 0x20, 0x78]);
  const text = decodeMessage(query).questions[0]!.name;
  assert.equal(text, "a\\.b\\\\c\\000\\255\\032x.test");
  assert.deepEqual(encodeQuery(text, RR_TYPE.TXT), query);
  // An escaped printable character is the character itself.
  assert.equal(decodeMessage(encodeQuery("\\065\\b.test", 1)).questions[0]!.name, "Ab.test");
});

Deno.test("The root name encodes as one zero byte and decodes as the empty string", () => {
  for (const root of ["", "."]) {
    const query = encodeQuery(root, RR_TYPE.NS);
    assert.deepEqual([...query.slice(12)], [0, 0, 2, 0, 1]);
    assert.equal(decodeMessage(query).questions[0]!.name, "");
  }
});

Deno.test("decodeMessage follows compression pointers in owner names and SRV targets", () => {
  const p = new Packet();
  p.put(header(1, 3, 0, 2, 0x8580));
  const q = p.put(name("_http._tcp.api.svc.test"), u16(33), u16(1));
  const api = q + 11; // past "_http" and "_tcp"
  const web1 = p.rr(ptr(q), 33, [u16(10), u16(60), u16(8080), labels("web-1"), ptr(api)], 30) + 6;
  const web2 = p.rr(ptr(q), 33, [u16(10), u16(40), u16(8081), labels("web-2"), ptr(api)], 30) + 6;
  p.rr(ptr(q), 33, [u16(20), u16(0), u16(8082), ptr(web1)], 30); // a pointer to a name ending in a pointer
  p.rr(ptr(web1), 1, [[10, 0, 0, 1]]);
  p.rr([...labels("v6"), ...ptr(web2)], 28, [u16(0xfd00), new Array(12).fill(0), u16(2)]);
  const srv = (priority: number, weight: number, port: number, target: string): DnsRecord =>
    rr("_http._tcp.api.svc.test", { kind: "SRV", priority, weight, port, target }, 30);
  const expected: DnsMessage = {
    id: 0,
    flags: { ...FLAGS, aa: true },
    questions: [{ name: "_http._tcp.api.svc.test", type: 33, class: 1 }],
    answers: [
      srv(10, 60, 8080, "web-1.api.svc.test"),
      srv(10, 40, 8081, "web-2.api.svc.test"),
      srv(20, 0, 8082, "web-1.api.svc.test"),
    ],
    authorities: [],
    additionals: [
      rr("web-1.api.svc.test", { kind: "A", address: "10.0.0.1" }),
      rr("v6.web-2.api.svc.test", { kind: "AAAA", address: "fd00::2" }),
    ],
  };
  assert.deepEqual(decodeMessage(p.done()), expected);
  // Re-encoded without compression, the same message comes back.
  assert.deepEqual(decodeMessage(encodeMessage(expected)), expected);
});

Deno.test("decodeMessage reads every header flag and ignores the Z, AD and CD bits", () => {
  const bytes = new Uint8Array([0x12, 0x34, 0x97, 0xf3, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(decodeMessage(bytes), {
    id: 0x1234,
    flags: { qr: true, opcode: 2, aa: true, tc: true, rd: true, ra: true, rcode: RCODE.NXDOMAIN },
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
  });
  assert.deepEqual(decodeMessage(new Uint8Array([0, 0, 0x78, 0x0f, 0, 0, 0, 0, 0, 0, 0, 0])).flags, {
    qr: false,
    opcode: 15,
    aa: false,
    tc: false,
    rd: false,
    ra: false,
    rcode: 15,
  });
});

Deno.test("decodeMessage reads TXT, SOA, CNAME, NS, PTR and unknown types from hand-built bytes", () => {
  const p = new Packet();
  p.put(header(0, 6, 1));
  const owner = p.put(name("svc.test"));
  p.rr([], 16, [3, ...ascii("abc"), 0, 2, 0xc3, 0xa9, 1, 0xff, 0], 60); // owner written just above
  p.rr(ptr(owner), 5, [labels("www"), ptr(owner)]);
  p.rr(ptr(owner), 2, [name("ns1.example")]);
  p.rr(ptr(owner), 12, [name("")]);
  p.rr(ptr(owner), 15, [u16(10), ptr(owner)]); // MX stays raw, pointer included
  p.rr(ptr(owner), 16, [3, 0xef, 0xbb, 0xbf]); // a leading BOM is data
  const counters = [2024, 3600, 600, 86400, 0xffffffff].map(u32);
  p.rr(ptr(owner), 6, [labels("ns1"), ptr(owner), name("hostmaster.svc.test"), ...counters]);
  const message = decodeMessage(p.done());
  assert.deepEqual([...message.answers, ...message.authorities], [
    rr("svc.test", { kind: "TXT", strings: ["abc", "", "é", "\ufffd", ""] }, 60),
    rr("svc.test", { kind: "CNAME", target: "www.svc.test" }),
    rr("svc.test", { kind: "NS", target: "ns1.example" }),
    rr("svc.test", { kind: "PTR", target: "" }),
    { ...rr("svc.test", { kind: "other", bytes: new Uint8Array([0, 10, 0xc0, owner]) }), type: 15 },
    rr("svc.test", { kind: "TXT", strings: ["\ufeff"] }),
    rr("svc.test", {
      kind: "SOA",
      mname: "ns1.svc.test",
      rname: "hostmaster.svc.test",
      serial: 2024,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: 0xffffffff,
    }),
  ]);
});

Deno.test("AAAA addresses decode to RFC 5952 canonical text", () => {
  const cases: [number[], string][] = [
    [[0, 0, 0, 0, 0, 0, 0, 1], "::1"],
    [[0, 0, 0, 0, 0, 0, 0, 0], "::"],
    [[0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], "2001:db8::1"],
    [[0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], "2001:db8::1:0:0:1"], // first of two equal runs
    [[1, 0, 0, 2, 0, 0, 0, 3], "1:0:0:2::3"], // the longest run, not the first
    [[0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], "2001:db8:0:1:1:1:1:1"], // one zero group is not compressed
    [[0xfe80, 0, 0, 0, 0, 0, 0, 0], "fe80::"],
    [
      [0x2001, 0x0db8, 0x85a3, 0x08d3, 0x1319, 0x8a2e, 0x0370, 0x7344],
      "2001:db8:85a3:8d3:1319:8a2e:370:7344",
    ],
    [[0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201], "::ffff:c000:201"],
  ];
  for (const [groups, text] of cases) {
    const bytes = new Packet();
    bytes.put(header(0, 1));
    bytes.rr(name("v6.test"), 28, groups.map(u16));
    assert.deepEqual(decodeMessage(bytes.done()).answers[0]!.data, { kind: "AAAA", address: text }, text);
  }
});

Deno.test("encodeMessage accepts any IPv6 text and rejects what is not an address", () => {
  const v6 = (address: string) =>
    decodeMessage(encodeMessage(answers(rr("a.test", { kind: "AAAA", address })))).answers[0]!.data;
  assert.deepEqual(v6("::ffff:192.0.2.1"), { kind: "AAAA", address: "::ffff:c000:201" });
  assert.deepEqual(v6("2001:0DB8:0:0::1"), { kind: "AAAA", address: "2001:db8::1" });
  assert.deepEqual(v6("1:2:3:4:5:6:1.2.3.4"), { kind: "AAAA", address: "1:2:3:4:5:6:102:304" });
  for (
    const bad of [
      "1:2:3",
      "1::2::3",
      "12345::",
      "::1.2.3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4::5:6:7:8",
      ":1::",
      "",
    ]
  ) {
    assert.throws(() => v6(bad), {
      name: "TypeError",
      message: `message.answers[0].data.address must be an IPv6 address, got ${JSON.stringify(bad)}`,
    });
  }
  for (const bad of ["10.0.0", "10.0.0.256", "10.0.0.01", "::1"]) {
    assert.throws(() => encodeMessage(answers(rr("a.test", { kind: "A", address: bad }))), {
      message: `message.answers[0].data.address must be a dotted-quad IPv4 address, got ${
        JSON.stringify(bad)
      }`,
    });
  }
});

Deno.test("encodeMessage and decodeMessage round-trip every record kind", () => {
  const message: DnsMessage = {
    id: 0xffff,
    flags: { qr: true, opcode: 4, aa: true, tc: true, rd: false, ra: true, rcode: RCODE.REFUSED },
    questions: [{ name: "svc.test", type: RR_TYPE.SRV, class: 1 }, { name: "", type: 255, class: 255 }],
    answers: [
      rr("svc.test", { kind: "A", address: "192.0.2.255" }, 0),
      rr("svc.test", { kind: "AAAA", address: "2001:db8::1:0:0:1" }, 0x7fffffff),
      rr("svc.test", { kind: "CNAME", target: "x\\.y\\\\z\\000.test" }),
      rr("svc.test", { kind: "NS", target: "" }),
      rr("svc.test", { kind: "PTR", target: "1.2.0.192.in-addr.arpa" }),
      rr("_h._tcp.svc.test", { kind: "SRV", priority: 65535, weight: 0, port: 1, target: "" }),
    ],
    authorities: [
      rr("svc.test", { kind: "TXT", strings: ["", "a".repeat(255), "héllo ✓", ""] }),
      rr("svc.test", { kind: "TXT", strings: [] }),
      rr("test", {
        kind: "SOA",
        mname: "ns.test",
        rname: "admin\\.x.test",
        serial: 0xffffffff,
        refresh: 1,
        retry: 2,
        expire: 3,
        minimum: 4,
      }),
    ],
    additionals: [
      rr("svc.test", { kind: "other", bytes: new Uint8Array([1, 2, 3]) }),
      { name: "", type: 41, class: 4096, ttl: 0x8000, data: { kind: "other", bytes: new Uint8Array() } },
    ],
  };
  assert.deepEqual(decodeMessage(encodeMessage(message)), message);
});

Deno.test("decodeMessage reads a TTL with the top bit set as 0, except in OPT", () => {
  const p = new Packet();
  p.put(header(0, 1, 0, 1));
  p.rr(name("a.test"), 1, [[1, 2, 3, 4]], 0x80000000);
  p.put(0, u16(41), u16(1232), u32(0x80008000), u16(0));
  const message = decodeMessage(p.done());
  assert.equal(message.answers[0]!.ttl, 0);
  assert.equal(message.additionals[0]!.ttl, 0x80008000);
});

Deno.test("decodeMessage reads a subarray at its offset and copies raw rdata", () => {
  const p = new Packet();
  p.put([9, 9, 9], header(0, 1));
  p.rr(name("a.test"), 99, [[7, 8]]);
  const backing = p.done();
  const message = decodeMessage(backing.subarray(3));
  const data = message.answers[0]!.data;
  assert.deepEqual(data, { kind: "other", bytes: new Uint8Array([7, 8]) });
  backing[backing.length - 1] = 0;
  assert.deepEqual(data, { kind: "other", bytes: new Uint8Array([7, 8]) });
});

Deno.test("encodeMessage rejects a kind that does not match the type, and oversize data", () => {
  const record = (data: DnsRecord["data"], type: number): DnsMessage =>
    answers({ ...rr("a.test", data), type });
  assert.throws(
    () => encodeMessage(record({ kind: "SRV", priority: 0, weight: 0, port: 0, target: "" }, 1)),
    {
      name: "TypeError",
      message: 'message.answers[0].data.kind "SRV" does not match type 1',
    },
  );
  assert.throws(() => encodeMessage(answers(rr("a.test", { kind: "TXT", strings: ["é".repeat(128)] }))), {
    name: "RangeError",
    message: `message.answers[0].data.strings[0] is 256 bytes in UTF-8, over 255: "${"é".repeat(128)}"`,
  });
  assert.throws(() => encodeMessage({ ...answers(), flags: { ...FLAGS, opcode: 16 } }), {
    name: "RangeError",
    message: "message.flags.opcode must be an integer from 0 to 15, got 16",
  });
  // "other" may carry any type, so a fake server can send a malformed A record on purpose.
  const malformed = encodeMessage(record({ kind: "other", bytes: new Uint8Array(5) }, 1));
  assert.throws(() => decodeMessage(malformed), MalformedResponseError);
});

Deno.test("Encoding stays correct after a failed encoding, for large messages, and when a getter re-enters", () => {
  const query = encodeQuery("svc.test", RR_TYPE.A);
  assert.throws(() => encodeQuery("a..b", RR_TYPE.A), TypeError);
  assert.deepEqual(encodeQuery("svc.test", RR_TYPE.A), query);
  const many = answers(
    ...Array.from({ length: 60 }, (_, i) => rr(`host-${i}.svc.test`, { kind: "A", address: `10.0.0.${i}` })),
  );
  const bytes = encodeMessage(many);
  assert.ok(bytes.length > 1024);
  assert.deepEqual(decodeMessage(bytes), many);
  // A getter that encodes while an encoding is under way must not corrupt either result.
  let inner: Uint8Array | undefined;
  const record = {
    ...rr("outer.test", { kind: "A", address: "192.0.2.1" }),
    get name(): string {
      inner = encodeQuery("inner.test", RR_TYPE.SRV);
      return "outer.test";
    },
  };
  const outer = decodeMessage(encodeMessage(answers(record)));
  assert.equal(outer.answers[0]!.name, "outer.test");
  assert.equal(decodeMessage(inner!).questions[0]!.name, "inner.test");
  assert.deepEqual(encodeQuery("svc.test", RR_TYPE.A), query);
});
