/**
 * Pull mode over ZooKeeper: the one-shot lookup a {@linkcode PullInstancer} repeats inside requests.
 *
 * @module
 */
import { describe } from "../errors.ts";
import type { Lookup } from "../pull_instancer.ts";
import { ZkClient, type ZkClientOptions } from "./client.ts";
import { readInstances, validatePath } from "./_util.ts";

/** Options for {@linkcode zkLookup}: where to read, and the options of the client each lookup opens. */
export interface ZkLookupOptions extends ZkClientOptions {
  /**
   * `host:port` entries, comma-separated or as an array (port 2181 when missing; IPv6 as
   * `[addr]:port`). Required.
   */
  servers: string | readonly string[];
  /** The service node whose children are the instances, e.g. `/services/api`. Required. */
  path: string;
}

/**
 * Builds the one-shot {@linkcode Lookup} of a {@linkcode PullInstancer} over ZooKeeper. Each call
 * opens a session of its own (a {@linkcode ZkClient}, over the runtime's socket adapter: Deno, Bun,
 * or `cloudflare:sockets` in Workers, or the `connect` option), reads the children of `path` and
 * their data without watches, decoded as {@linkcode ZkInstancer} does (each child's data is an
 * instance string, its name the `id` detail), and closes the session, always: on success, on error
 * and on abort. Nothing outlives the call, so it suits hosts where no socket may cross requests.
 * ZooKeeper says nothing about freshness, so the instancer's `ttl` applies.
 *
 * A lookup costs one TCP connection (one more per server it fails over to), the session handshake,
 * one `getChildren`, one `getData` per child (in parallel) and the `closeSession`. A missing `path`
 * is a `NONODE` {@linkcode ZkError}.
 *
 * @param options Servers, path, and client options (`connect`, timeouts, `auth` ...).
 * @returns The lookup.
 * @throws {TypeError | RangeError} If an option is invalid (checked now, without connecting).
 *
 * @example
 * ```ts
 * import { PullInstancer, RegistryUnavailableError } from "@edgekit/sd";
 * import { type ZkConnect, zkLookup } from "@edgekit/sd/zk";
 * import { assertEquals, assertRejects } from "@std/assert";
 *
 * // No server in this snippet: a connect that refuses. Leave `connect` out to use the runtime's sockets.
 * const connect: ZkConnect = () => Promise.reject(new Error("connection refused"));
 * const lookup = zkLookup({ servers: "127.0.0.1:2181", path: "/services/api", connect, connectTimeout: 50 });
 * using api = new PullInstancer(lookup, { ttl: 10_000, timeout: 200 });
 * await assertRejects(() => api.refresh(), RegistryUnavailableError);
 * assertEquals(api.status.failures, 1);
 * ```
 */
export function zkLookup(options: ZkLookupOptions): Lookup {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object with servers and path, got ${describe(options)}`);
  }
  const { servers, path, ...clientOptions } = options;
  validatePath(path, false);
  // The client's constructor checks every option and opens nothing.
  new ZkClient(servers, clientOptions);
  return async ({ signal }) => {
    signal.throwIfAborted();
    const client = new ZkClient(servers, clientOptions);
    try {
      const call = clientOptions.timeout === undefined
        ? { signal }
        : { signal, timeout: clientOptions.timeout };
      const instances = await readInstances(client, path, { call, logger: clientOptions.logger });
      return { instances, ttl: undefined };
    } finally {
      await client.close();
    }
  };
}
