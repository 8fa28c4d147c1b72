// Checks the real DNS servers (scripts/servers/dns.sh: dnsdist DoH in front of BIND) that the DNS
// SRV / DoH backend's integration tests run against. Start them, then:
//   eval "$(bash scripts/servers/dns.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/dns_server_test.ts
// The tests change the zone through nsupdate and put the fixture back with resetZone().
import { assert } from "../_deps.ts";
import { serverTest } from "./_server.ts";
import { dohGet, dohPost, nsupdate, parseHeader, QTYPE, RCODE, resetZone, zoneName } from "./_dns.ts";

const VARIABLE = "SD_DOH_URL";
const srvName = () => `_http._tcp.api.${zoneName()}`;

serverTest("The DoH endpoint answers the fixture SRV name with its three records", VARIABLE, async (url) => {
  await resetZone();
  const res = await dohGet(url, srvName(), QTYPE.SRV);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/dns-message");
  // RFC 8484 section 5.1: freshness comes from the smallest answer TTL, 5 s in the fixture.
  assert.match(res.headers.get("cache-control") ?? "", /max-age=5\b/);
  const header = parseHeader(res.bytes);
  assert.equal(header.id, 0);
  assert.equal(header.qr, true);
  assert.equal(header.rcode, RCODE.NOERROR);
  assert.equal(header.qdcount, 1);
  assert.equal(header.ancount, 3);
});

serverTest("The DoH endpoint answers a POST the same way as a GET", VARIABLE, async (url) => {
  await resetZone();
  const res = await dohPost(url, srvName(), QTYPE.SRV);
  assert.equal(res.status, 200);
  const header = parseHeader(res.bytes);
  assert.equal(header.rcode, RCODE.NOERROR);
  assert.equal(header.ancount, 3);
});

serverTest("An SRV record added with nsupdate is served on the next DoH query", VARIABLE, async (url) => {
  const zone = zoneName();
  await resetZone();
  try {
    await nsupdate([`update add ${srvName()}. 5 IN SRV 10 20 8083 api-3.${zone}.`]);
    const added = await dohGet(url, srvName(), QTYPE.SRV);
    assert.equal(added.status, 200);
    assert.equal(parseHeader(added.bytes).rcode, RCODE.NOERROR);
    assert.equal(parseHeader(added.bytes).ancount, 4);

    await resetZone();
    const reset = await dohGet(url, srvName(), QTYPE.SRV);
    assert.equal(parseHeader(reset.bytes).ancount, 3);
  } finally {
    await resetZone();
  }
});

serverTest(
  "A DoH query for a name that does not exist gets NXDOMAIN with HTTP 200",
  VARIABLE,
  async (url) => {
    const res = await dohGet(url, `_http._tcp.nope.${zoneName()}`, QTYPE.SRV);
    assert.equal(res.status, 200);
    const header = parseHeader(res.bytes);
    assert.equal(header.qr, true);
    assert.equal(header.rcode, RCODE.NXDOMAIN);
    assert.equal(header.ancount, 0);
  },
);

serverTest("nsupdate reports a failed update prerequisite as an error", VARIABLE, async () => {
  await resetZone();
  // The SRV RRset exists, so "must not exist" fails and BIND answers YXRRSET.
  await assert.rejects(
    nsupdate([`prereq nxrrset ${srvName()}. SRV`, `update add x.${zoneName()}. 5 IN A 127.0.0.99`]),
    /YXRRSET/,
  );
});
