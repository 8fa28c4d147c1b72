/**
 * Pull mode over etcd: the one-shot lookup a {@linkcode PullInstancer} repeats inside requests.
 *
 * @module
 */
import { requireMethod, requireString } from "../_validate.ts";
import type { Lookup } from "../pull_instancer.ts";
import type { Logger } from "../types.ts";
import type { EtcdClient } from "./client.ts";
import { kvsToInstances } from "./_wire.ts";

/** Options for {@linkcode etcdLookup}. */
export interface EtcdLookupOptions {
  /** Receives skipped keys (empty values, values that are not UTF-8 text). Default: silent. */
  logger?: Logger;
}

/**
 * Builds the one-shot {@linkcode Lookup} of a {@linkcode PullInstancer} over etcd: each call is one
 * range read of every key under `prefix` (no watch), decoded as {@linkcode EtcdInstancer} does: each
 * value is an instance string, its key the `id` detail; empty values and values that are not UTF-8
 * text are skipped. etcd says nothing about freshness, so the instancer's `ttl` applies.
 *
 * A lookup is one `POST /v3/kv/range` on the member that worked last; the client adds one request per
 * further member it fails over to, and, with a user name, an `authenticate` when it holds no token
 * (or the member rejected it: then the range is sent again, once).
 *
 * The prefix is matched byte for byte: `/services/api` also matches `/services/api2/x`, so end it
 * with `/`.
 *
 * @param client The etcd client (may be shared with registrars and other lookups).
 * @param prefix The key prefix, e.g. `/services/api/`.
 * @param options A logger.
 * @returns The lookup.
 * @throws {TypeError} If an argument is invalid.
 *
 * @example
 * ```ts
 * import { PullInstancer } from "@edgekit/sd";
 * import { EtcdClient, etcdLookup } from "@edgekit/sd/etcd";
 * import { assertEquals } from "@std/assert";
 *
 * // A stand-in gateway so the snippet runs offline; point `endpoints` at real members instead.
 * const fakeEtcd = () =>
 *   Promise.resolve(Response.json({
 *     header: { revision: "9" },
 *     kvs: [
 *       { key: btoa("/services/api/a"), value: btoa("10.0.0.1:8080") },
 *       { key: btoa("/services/api/b"), value: btoa("10.0.0.2:8080") },
 *     ],
 *   }));
 * const client = new EtcdClient({ endpoints: ["http://127.0.0.1:2379"], fetch: fakeEtcd });
 * using api = new PullInstancer(etcdLookup(client, "/services/api/"), { ttl: 10_000 });
 * await api.refresh();
 * assertEquals(api.state()?.instances, ["10.0.0.1:8080", "10.0.0.2:8080"]);
 * assertEquals(api.state()?.details?.get("10.0.0.2:8080")?.id, "/services/api/b");
 * ```
 */
export function etcdLookup(client: EtcdClient, prefix: string, options: EtcdLookupOptions = {}): Lookup {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${String(options)}`);
  }
  requireMethod(client, "range", "client");
  requireString(prefix, "prefix");
  const logger = options.logger;
  return async ({ signal }) => {
    signal.throwIfAborted();
    const { kvs } = await client.range(prefix, { prefix: true, signal });
    return { instances: kvsToInstances(kvs.map((kv) => [kv.key, kv.value]), logger), ttl: undefined };
  };
}
