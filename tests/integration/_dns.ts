// Helpers for the DNS / DoH real-server tests: hand-built RFC 1035 queries and header parsing (kept
// independent of src/ so the tests check the library against bytes written here), and RFC 2136
// updates through BIND's `nsupdate`. The servers come from `scripts/servers/dns.sh start`; its `env`
// command prints the variables read here: SD_DNS_ADDR, SD_DNS_TSIG_KEY and SD_DNS_ZONE.

/** Query types used by the tests. */
export const QTYPE = { A: 1, NS: 2, SOA: 6, TXT: 16, AAAA: 28, SRV: 33 } as const;

/** Response codes used by the tests. */
export const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

/** Builds a query with ID 0 (RFC 8484 section 4.1), RD set, one question of class IN. */
export function dnsQuery(name: string, qtype: number): Uint8Array<ArrayBuffer> {
  const labels = name.replace(/\.$/, "").split(".").map((l) => new TextEncoder().encode(l));
  const size = 12 + labels.reduce((n, l) => n + 1 + l.length, 0) + 1 + 4;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint16(2, 0x0100); // flags: RD
  view.setUint16(4, 1); // QDCOUNT
  let at = 12;
  for (const label of labels) {
    if (label.length < 1 || label.length > 63) throw new RangeError(`Bad label in "${name}"`);
    out[at++] = label.length;
    out.set(label, at);
    at += label.length;
  }
  out[at++] = 0;
  view.setUint16(at, qtype);
  view.setUint16(at + 2, 1); // class IN
  return out;
}

/** Base64url without padding, as the RFC 8484 `dns` parameter wants it. */
export function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The fixed 12-byte header of a DNS message. */
export interface DnsHeader {
  id: number;
  qr: boolean;
  rcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

/** Reads the header of a DNS message; throws if it is shorter than 12 bytes. */
export function parseHeader(bytes: Uint8Array): DnsHeader {
  if (bytes.length < 12) throw new RangeError(`DNS message too short: ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    id: view.getUint16(0),
    qr: (view.getUint8(2) & 0x80) !== 0,
    rcode: view.getUint8(3) & 0x0f,
    qdcount: view.getUint16(4),
    ancount: view.getUint16(6),
    nscount: view.getUint16(8),
    arcount: view.getUint16(10),
  };
}

/** What a DoH exchange returned; the body has been read in full. */
export interface DohAnswer {
  status: number;
  headers: Headers;
  bytes: Uint8Array;
}

/** Sends `name`/`qtype` to a DoH endpoint as a GET with `?dns=` and reads the whole body. */
export async function dohGet(url: string, name: string, qtype: number): Promise<DohAnswer> {
  const target = new URL(url);
  target.searchParams.set("dns", base64url(dnsQuery(name, qtype)));
  const res = await fetch(target, { headers: { accept: "application/dns-message" } });
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
}

/** Sends `name`/`qtype` to a DoH endpoint as a POST of `application/dns-message`. */
export async function dohPost(url: string, name: string, qtype: number): Promise<DohAnswer> {
  const res = await fetch(url, {
    method: "POST",
    headers: { accept: "application/dns-message", "content-type": "application/dns-message" },
    body: dnsQuery(name, qtype),
  });
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
}

function requireEnv(name: string): string {
  const value = Deno.env.get(name)?.trim();
  if (!value) {
    throw new Error(`${name} is not set: run eval "$(bash scripts/servers/dns.sh env)" first`);
  }
  return value;
}

/** The zone the update helpers work on (SD_DNS_ZONE, default `svc.test`), without a final dot. */
export function zoneName(): string {
  return (Deno.env.get("SD_DNS_ZONE")?.trim() || "svc.test").replace(/\.$/, "");
}

/**
 * Runs `nsupdate -k $SD_DNS_TSIG_KEY` against the BIND at SD_DNS_ADDR: `server`, `zone`, then
 * `commands` (for example `update add x.svc.test. 5 IN A 127.0.0.1`), then `send`.
 *
 * @throws Error with nsupdate's output when it exits non-zero (a refused or failed update).
 */
export async function nsupdate(commands: string[]): Promise<void> {
  const key = requireEnv("SD_DNS_TSIG_KEY");
  const addr = requireEnv("SD_DNS_ADDR");
  const colon = addr.lastIndexOf(":");
  const host = colon > 0 ? addr.slice(0, colon) : addr;
  const port = colon > 0 ? addr.slice(colon + 1) : "53";
  const script = [`server ${host} ${port}`, `zone ${zoneName()}.`, ...commands, "send", ""].join("\n");
  // -t/-u bound the exchange so a dead server fails the test instead of hanging it.
  const child = new Deno.Command("nsupdate", {
    args: ["-k", key, "-t", "5", "-u", "1"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  if (code !== 0) {
    const text = new TextDecoder();
    const out = `${text.decode(stderr)}${text.decode(stdout)}`.trim();
    throw new Error(`nsupdate exited with ${code}: ${out}\n--- input ---\n${script}`);
  }
}

/** One record of the fixture zone, with its owner as a fully qualified name. */
export interface ZoneRecord {
  name: string;
  ttl: number;
  type: string;
  rdata: string;
}

const FIXTURE = new URL("./fixtures/svc.test.zone", import.meta.url);

function stripComment(line: string): string {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '"') quoted = !quoted;
    else if (line[i] === ";" && !quoted) return line.slice(0, i);
  }
  return line;
}

/** Reads the fixture zone's records other than SOA and NS (one `<name> IN <type> <rdata>` a line). */
export async function fixtureRecords(): Promise<ZoneRecord[]> {
  const zone = zoneName();
  let ttl = 5;
  const records: ZoneRecord[] = [];
  for (const raw of (await Deno.readTextFile(FIXTURE)).split("\n")) {
    const line = stripComment(raw).trim();
    if (!line) continue;
    const fields = line.split(/\s+/);
    if (fields[0] === "$TTL") ttl = Number(fields[1]);
    if (line.startsWith("$")) continue;
    const [owner = "", klass, type = "", ...rest] = fields;
    if (klass !== "IN") throw new Error(`Unsupported fixture line "${raw}"`);
    if (type === "SOA" || type === "NS") continue;
    const name = owner === "@" ? `${zone}.` : owner.endsWith(".") ? owner : `${owner}.${zone}.`;
    records.push({ name, ttl, type, rdata: rest.join(" ") });
  }
  return records;
}

/**
 * Puts the fixture's SRV/A/AAAA/CNAME/TXT records back in one update: each fixture RRset is deleted,
 * then its records are added again, so tests can run in any order. Every record under the names
 * in `alsoDelete` (fully qualified, for example `api-3.svc.test.`) is removed as well.
 */
export async function resetZone(alsoDelete: string[] = []): Promise<void> {
  const records = await fixtureRecords();
  const rrsets = [...new Set(records.map((r) => `${r.name} ${r.type}`))];
  await nsupdate([
    ...alsoDelete.map((name) => `update delete ${name}`),
    ...rrsets.map((rrset) => `update delete ${rrset}`),
    ...records.map((r) => `update add ${r.name} ${r.ttl} IN ${r.type} ${r.rdata}`),
  ]);
}
