// deno bench: the DNS wire codec on the DoH hot path.
// Target on the reference machine: a 20-record SRV response (names compressed, 20 additional A
// records) decodes in a few microseconds; a query encodes in well under one.
//
// The uncompressed variant is the same message re-encoded by encodeMessage, to show what the
// decoder's cache of pointer targets saves.
import { decodeMessage, type DnsMessage, encodeMessage, encodeQuery, RR_TYPE } from "../src/dns/wire.ts";
import { srvResponse } from "../tests/dns/_packet.ts";

const compressed = srvResponse(20);
const uncompressed = encodeMessage(decodeMessage(compressed));

// Module-level sinks, so the work cannot be optimised away.
export let message: DnsMessage | undefined;
export let query: Uint8Array | undefined;

Deno.bench({
  name: `decodeMessage, 20 SRV + 20 A, compressed (${compressed.length} bytes)`,
  group: "decode a 20-record SRV response",
  baseline: true,
  fn() {
    message = decodeMessage(compressed);
  },
});

Deno.bench({
  name: `decodeMessage, 20 SRV + 20 A, uncompressed (${uncompressed.length} bytes)`,
  group: "decode a 20-record SRV response",
  fn() {
    message = decodeMessage(uncompressed);
  },
});

Deno.bench({
  name: "encodeQuery, SRV, ID 0, RD",
  group: "encode a query",
  baseline: true,
  fn() {
    query = encodeQuery("_http._tcp.api.svc.test", RR_TYPE.SRV);
  },
});

Deno.bench({
  name: "encodeQuery, SRV, with EDNS0 OPT",
  group: "encode a query",
  fn() {
    query = encodeQuery("_http._tcp.api.svc.test", RR_TYPE.SRV, { udpPayloadSize: 1232 });
  },
});
