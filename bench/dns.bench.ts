// deno bench: the DoH resolver's answer cache and an RFC 2782 pick.
// - resolveSrv on a cache hit: the cost a request pays once discovery is warm (no fetch at all).
// - Rfc2782Balancer.endpoint() over 100 SRV records in 3 priority tiers with mixed weights.
import { DefaultEndpointer } from "../src/endpointer.ts";
import { DohResolver } from "../src/dns/resolver.ts";
import { InstanceCache } from "../src/instance_cache.ts";
import { seededRandom } from "../src/lb/random.ts";
import { Rfc2782Balancer } from "../src/lb/rfc2782.ts";
import type { Endpoint } from "../src/types.ts";
import { srvResponse } from "../tests/dns/_packet.ts";

// A stand-in DoH server: the same 20-record SRV answer (TTL long enough to stay cached) every time.
const answer = new Uint8Array(srvResponse(20));
let fetches = 0;
const resolver = new DohResolver({
  servers: ["https://doh.invalid/dns-query"],
  fetch: () => {
    fetches++;
    return Promise.resolve(new Response(answer, { headers: { "content-type": "application/dns-message" } }));
  },
});
await resolver.resolveSrv("_http._tcp.api.svc.test");
if (fetches !== 1) throw new Error("the warm-up should fetch once");

Deno.bench({
  name: "DohResolver.resolveSrv, cache hit (20 records)",
  group: "dns",
  async fn() {
    await resolver.resolveSrv("_http._tcp.api.svc.test");
  },
});

const cache = new InstanceCache();
cache.update({
  instances: Array.from({ length: 100 }, (_, i) => ({
    instance: `10.1.0.${i}:8080`,
    priority: i < 60 ? 10 : i < 90 ? 20 : 30,
    weight: i % 10 === 0 ? 0 : 1 + (i % 7),
  })),
});
const endpointer = new DefaultEndpointer(
  cache,
  (instance) => ({ endpoint: () => Promise.resolve(instance) }),
);
await endpointer.ready();
const balancer = new Rfc2782Balancer(endpointer, { random: seededRandom(7) });
export let last: Endpoint | undefined;
const tried = new Set(endpointer.endpoints().slice(0, 30));

Deno.bench({
  name: "Rfc2782Balancer.endpoint(), 100 records in 3 tiers",
  group: "rfc2782",
  baseline: true,
  fn() {
    last = balancer.endpoint();
  },
});
Deno.bench({
  name: "Rfc2782Balancer.endpoint(tried), 30 of 60 in the top tier excluded (retry path)",
  group: "rfc2782",
  fn() {
    last = balancer.endpoint(tried);
  },
});
globalThis.addEventListener("unload", () => {
  if (fetches !== 1) throw new Error(`cache hits should not fetch, but ${fetches} fetches happened`);
});
