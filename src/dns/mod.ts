/**
 * DNS for runtimes without a DNS API: a DNS-over-HTTPS resolver with the shape of
 * `node:dns/promises`' `Resolver`, and the RFC 1035 wire codec under it.
 *
 * ```ts
 * import { DnsError, DohResolver } from "@edgekit/sd/dns";
 *
 * const resolver = new DohResolver({
 *   servers: ["https://cloudflare-dns.com/dns-query"],
 *   // A stand-in server so this example runs offline: every name is unknown.
 *   fetch: () =>
 *     Promise.resolve(
 *       new Response(
 *         new Uint8Array([0, 0, 0x81, 0x83, 0, 0, 0, 0, 0, 0, 0, 0]),
 *         { headers: { "content-type": "application/dns-message" } },
 *       ),
 *     ),
 * });
 * try {
 *   await resolver.resolveSrv("_http._tcp.api.example.com");
 * } catch (error) {
 *   if (!(error instanceof DnsError) || error.code !== "ENOTFOUND") throw error;
 * }
 * ```
 *
 * @module
 */
export { DnsError, type DnsErrorCode, type DnsErrorOptions } from "./errors.ts";
export {
  type DnsStaleAnswer,
  DohResolver,
  type DohResolverOptions,
  type RecordWithTtl,
  type ResolveOptions,
  type ResolveRrType,
  type ResolveWithTtlOptions,
  type SrvRecord,
  type SrvRecordWithTtl,
} from "./resolver.ts";
export {
  decodeMessage,
  type DnsMessage,
  type DnsQuestion,
  type DnsRecord,
  type DnsRecordData,
  encodeMessage,
  encodeQuery,
  type EncodeQueryOptions,
  RCODE,
  RR_TYPE,
} from "./wire.ts";
export type { FetchFunction } from "../http/factory.ts";
export type { Logger } from "../types.ts";
