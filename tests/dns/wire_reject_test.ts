import { assert } from "../_deps.ts";
import { MalformedResponseError } from "../../src/errors.ts";
import { decodeMessage } from "../../src/dns/wire.ts";
import { header, labels, name, Packet, ptr, u16, u32 } from "./_packet.ts";

/** Asserts that decoding throws a MalformedResponseError with exactly this message. */
function rejects(bytes: Uint8Array | number[], message: string): void {
  const input = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  assert.throws(() => decodeMessage(input), (e: unknown) => {
    assert.ok(e instanceof MalformedResponseError, `expected MalformedResponseError, got ${e}`);
    assert.equal(e.code, "ERR_MALFORMED_RESPONSE");
    assert.equal(e.message, message);
    return true;
  });
}

/** One answer record owned by "a" (so its rdlength field is at offset 23 and rdata at 25). */
function answer(type: number, rdata: number[], rdlength = rdata.length): number[] {
  return [...header(0, 1), ...name("a"), ...u16(type), ...u16(1), ...u32(60), ...u16(rdlength), ...rdata];
}

/** A name of `count` labels of `size` bytes each. */
const long = (count: number, size: number): string =>
  Array.from({ length: count }, () => "x".repeat(size)).join(".");

Deno.test("decodeMessage rejects messages too short, too long, or with impossible counts", () => {
  rejects([], "DNS message is 0 bytes, shorter than the 12-byte header");
  rejects(new Array(7).fill(0), "DNS message is 7 bytes, shorter than the 12-byte header");
  rejects(new Uint8Array(65_536), "DNS message is 65536 bytes, over the 65535-byte limit");
  assert.equal(decodeMessage(new Uint8Array(65_535)).questions.length, 0); // trailing bytes are ignored
  rejects(
    [...header(0, 2), ...new Array(11).fill(0)],
    "DNS message header counts 0 questions and 2 records, needing at least 22 bytes after the header, but only 11 follow",
  );
  rejects(
    [...header(65_535, 65_535, 65_535, 65_535), 0, 0, 1, 0, 1],
    "DNS message header counts 65535 questions and 196605 records, needing at least 2490330 bytes after the " +
      "header, but only 5 follow",
  );
  // The smallest question and record fit exactly.
  assert.equal(decodeMessage(new Uint8Array([...header(1, 0), 0, 0, 1, 0, 1])).questions[0]!.name, "");
  const smallest = decodeMessage(new Uint8Array([...header(0, 1), 0, 0, 99, 0, 1, 0, 0, 0, 0, 0, 0]));
  assert.deepEqual(smallest.answers, [
    { name: "", type: 99, class: 1, ttl: 0, data: { kind: "other", bytes: new Uint8Array() } },
  ]);
});

Deno.test("decodeMessage rejects a message truncated in a question or a record header", () => {
  rejects(
    [...header(1, 0), 5, 0x61, 0x62, 0x63, 0x64],
    "DNS message question 1 name: label of 5 bytes at offset 12 runs past the end of the message (17 bytes)",
  );
  rejects(
    [...header(1, 0), 2, 0x61, 0x62, 1, 0x63],
    "DNS message question 1 name: length byte at offset 17 runs past the end of the message (17 bytes)",
  );
  rejects(
    [...header(1, 0), 1, 0x61, 0, 0, 0, 0xc0],
    "DNS message question 1 type and class: truncated at offset 15 (needs 4 bytes, 3 remain)",
  );
  rejects(
    [...header(2, 0), ...name(""), 0, 1, 0, 1, 1, 0x61, 1, 0x62, 0xc0],
    "DNS message question 2 name: compression pointer at offset 21 runs past the end of the message (22 bytes)",
  );
  rejects(
    [...header(0, 1), ...name("abcdefgh"), 0, 1, 0],
    "DNS message answer 1 record header: truncated at offset 22 (needs 10 bytes, 3 remain)",
  );
});

Deno.test("decodeMessage rejects rdata that overruns the message or does not fill its rdlength", () => {
  rejects(
    answer(1, [1, 2], 4),
    "DNS message answer 1 rdata: rdlength 4 at offset 23 runs past the end of the message (27 bytes)",
  );
  rejects(answer(1, [1, 2, 3, 4, 5]), "DNS message answer 1 rdata (A): rdlength 5 at offset 23, expected 4");
  rejects(
    answer(28, [1, 2, 3, 4]),
    "DNS message answer 1 rdata (AAAA): rdlength 4 at offset 23, expected 16",
  );
  rejects(
    answer(33, [0, 1, 0, 1, 0, 80]),
    "DNS message answer 1 rdata (SRV): rdlength 6 at offset 23 is below the minimum 7",
  );
  const srv = [...u16(1), ...u16(1), ...u16(80), ...name("web")];
  rejects(
    answer(33, srv, 9),
    "DNS message answer 1 rdata (SRV) target: label of 3 bytes at offset 31 runs past the rdata end at offset 34",
  );
  rejects(
    answer(33, srv, 10),
    "DNS message answer 1 rdata (SRV) target: length byte at offset 35 runs past the rdata end at offset 35",
  );
  rejects(
    answer(33, [...srv, 7]),
    "DNS message answer 1 rdata (SRV): rdlength 12 at offset 23 leaves 1 unused byte at offset 36",
  );
  rejects(
    answer(5, [...name("b"), 7, 7]),
    "DNS message answer 1 rdata (CNAME): rdlength 5 at offset 23 leaves 2 unused bytes at offset 28",
  );
  rejects(
    answer(5, [0xc0]),
    "DNS message answer 1 rdata (CNAME) target: compression pointer at offset 25 runs past the rdata end at offset 26",
  );
  rejects(
    answer(16, [2, 0x61, 0x62, 3, 0x61, 0x62]),
    "DNS message answer 1 rdata (TXT): character-string of 3 bytes at offset 28 runs past the rdata end at offset 31",
  );
  rejects(
    answer(6, [0, 0, ...new Array(19).fill(0)]),
    "DNS message answer 1 rdata (SOA): needs 20 bytes of counters at offset 27, but the rdata ends at offset 46",
  );
  rejects(
    answer(6, [0, 0, ...new Array(21).fill(0)]),
    "DNS message answer 1 rdata (SOA): rdlength 23 at offset 23 leaves 1 unused byte at offset 47",
  );
});

Deno.test("decodeMessage rejects forward, looping and header compression pointers", () => {
  rejects(
    [...header(1, 0), 1, 0x61, ...ptr(12), 0, 1, 0, 1],
    "DNS message question 1 name: compression pointer at offset 14 points to 12, not strictly before 12 " +
      "(a forward pointer or a loop)",
  );
  rejects(
    [...header(1, 0), ...ptr(18), 0, 1, 0, 1, ...name("a")],
    "DNS message question 1 name: compression pointer at offset 12 points to 18, not strictly before 12 " +
      "(a forward pointer or a loop)",
  );
  // A loop through two pointers: answer 2's owner points into answer 1's opaque rdata, which points back.
  const p = new Packet();
  p.put(header(0, 2));
  const back = p.rr(name("b"), 99, [ptr(27)]);
  assert.equal(p.put(ptr(back), u16(1), u16(1), u32(1), u16(4), [1, 2, 3, 4]), 27);
  rejects(
    p.done(),
    "DNS message answer 2 name: compression pointer at offset 25 points to 27, not strictly before 25 " +
      "(a forward pointer or a loop)",
  );
  rejects(
    [...header(1, 0), ...ptr(5), 0, 1, 0, 1],
    "DNS message question 1 name: compression pointer at offset 12 points into the header (5)",
  );
  rejects(
    [...header(1, 0), 0x3f, 0xff, 0, 1, 0, 1],
    "DNS message question 1 name: label of 63 bytes at offset 12 runs past the end of the message (18 bytes)",
  );
});

Deno.test("decodeMessage rejects reserved label types", () => {
  rejects(
    [...header(1, 0), 0x40, 0, 0, 0, 0],
    "DNS message question 1 name: reserved label type 0x40 at offset 12",
  );
  rejects(
    [...header(1, 0), 0xbf, 0, 0, 0, 0],
    "DNS message question 1 name: reserved label type 0x80 at offset 12",
  );
});

Deno.test("decodeMessage limits names to 255 octets and 127 labels, also after decompression", () => {
  const max = long(3, 63) + "." + "x".repeat(61); // 255 octets
  const ok = new Packet();
  ok.put(header(1, 0), name(max), u16(1), u16(1));
  assert.equal(decodeMessage(ok.done()).questions[0]!.name, max);
  rejects(
    [...header(1, 0), ...name(long(4, 63)), 0, 1, 0, 1],
    "DNS message question 1 name: longer than 255 octets at offset 204",
  );
  const p = new Packet();
  p.put(header(1, 1), name(max), u16(1), u16(1));
  p.rr([...labels("x"), ...ptr(12)], 1, [[1, 2, 3, 4]]);
  rejects(p.done(), "DNS message answer 1 name: longer than 255 octets at offset 204");
  const most = long(127, 1); // 127 labels, 255 octets
  assert.equal(
    decodeMessage(new Uint8Array([...header(1, 0), ...name(most), 0, 1, 0, 1])).questions[0]!.name,
    most,
  );
  rejects(
    [...header(1, 0), ...name(long(128, 1)), 0, 1, 0, 1],
    "DNS message question 1 name: more than 127 labels at offset 266",
  );
});

Deno.test("decodeMessage throws a TypeError only for an argument that is not a Uint8Array", () => {
  assert.throws(() => decodeMessage([0, 0] as unknown as Uint8Array), {
    name: "TypeError",
    message: "bytes must be a Uint8Array, got an array",
  });
});
