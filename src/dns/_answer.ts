// Turns a DNS answer into cache entries: the records of the asked type after following CNAMEs, fresh
// for the smallest TTL on the path (RFC 8484 section 5.1) or, for NXDOMAIN and NODATA, for the SOA's
// TTL capped by its minimum (RFC 2308 section 5); plus the SRV targets' addresses that came in the
// additional section. Internal.
import { type CachedAnswer, cacheKey } from "./_cache.ts";
import { type DnsMessage, type DnsRecord, RCODE, RR_TYPE } from "./wire.ts";

/** The entry for the question, then any extra entries worth keeping, each with its cache key. */
export function entriesOf(
  name: string,
  type: number,
  message: DnsMessage,
  age: number,
  now: number,
  maxTtl: number,
): [CachedAnswer, ...(readonly [string, CachedAnswer])[]] {
  const records = followChain(name, type, message.answers);
  let ttl: number;
  if (records.length > 0) {
    ttl = Math.min(...message.answers.map((r) => r.ttl));
  } else {
    const soa = message.authorities.find((r) => r.data.kind === "SOA");
    ttl = soa === undefined ? 0 : Math.min(soa.ttl, (soa.data as { minimum: number }).minimum);
  }
  const entry = stored(message.flags.rcode, records, Math.min(maxTtl, ttl), age, now);
  return type === RR_TYPE.SRV ? [entry, ...targets(records, message, age, now, maxTtl)] : [entry];
}

function stored(
  rcode: number,
  records: readonly DnsRecord[],
  ttl: number,
  age: number,
  now: number,
): CachedAnswer {
  return { rcode, records, storedAt: now, age, expires: now + Math.max(0, ttl - age) * 1000 };
}

// The addresses of SRV targets that came in the additional section save a lookup each. Only names
// that are targets of this very answer are taken, so a server cannot plant unrelated records.
function targets(
  records: readonly DnsRecord[],
  message: DnsMessage,
  age: number,
  now: number,
  maxTtl: number,
): [string, CachedAnswer][] {
  const wanted = new Set(records.map((r) => (r.data as { target: string }).target.toLowerCase()));
  const out: [string, CachedAnswer][] = [];
  for (const type of [RR_TYPE.A, RR_TYPE.AAAA]) {
    const byName = new Map<string, DnsRecord[]>();
    for (const r of message.additionals) {
      const owner = r.name.toLowerCase();
      if (r.type !== type || !wanted.has(owner)) continue;
      byName.set(owner, [...(byName.get(owner) ?? []), r]);
    }
    for (const [owner, list] of byName) {
      const ttl = Math.min(maxTtl, ...list.map((r) => r.ttl));
      out.push([cacheKey(type, owner), stored(RCODE.NOERROR, list, ttl, age, now)]);
    }
  }
  return out;
}

/** Records of `type` owned by `name` or by a name it is a CNAME for (chains followed, loops cut). */
function followChain(name: string, type: number, answers: readonly DnsRecord[]): DnsRecord[] {
  if (type === RR_TYPE.CNAME) {
    return answers.filter((r) => r.type === type && r.name.toLowerCase() === name.toLowerCase());
  }
  const names = new Set([name.toLowerCase()]);
  for (let grew = true; grew;) {
    grew = false;
    for (const r of answers) {
      if (
        r.data.kind === "CNAME" && names.has(r.name.toLowerCase()) && !names.has(r.data.target.toLowerCase())
      ) {
        names.add(r.data.target.toLowerCase());
        grew = true;
      }
    }
  }
  return answers.filter((r) => r.type === type && names.has(r.name.toLowerCase()));
}
